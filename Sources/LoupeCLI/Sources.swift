import ArgumentParser
import Foundation
import Loupe

struct Sources: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find where a composite came from: its host photo, its donors, and the pasted parts.",
        discussion: """
        The index is an object index (`loupe index --objects`, or with --student). For each query \
        the composite's regions are searched; the best of the top three images that shows the same \
        frame is the host, and the composite is compared with it pixel by pixel: the areas that \
        differ are the pasted parts. Each part is searched again without the host. When the index \
        keeps local features (`loupe index --objects --local-features`), the parts' features (and \
        their mirror image's) are matched against the whole collection and checked with RANSAC for \
        one similarity: the photos whose agreement is unlikely to be chance (an a-contrario score \
        below 0: fewer than one false alarm expected over the collection) come first, most inliers \
        first, as donors (6 inliers or more); and a host whose frame differs (resized, cropped or turned) is found by the \
        features of the whole composite and warped onto it before the comparison. Results are \
        printed in rank order with their role (host, donor, other), score (cosine of the best \
        region pair), inliers, the decimal log of the verification's expected false alarms \
        (JSON: logFalseAlarms) and the boxes that matched; `region` is the largest pasted part. \
        Without a host, the plain object search is the answer and no region is located.

        Examples:
          loupe index photos/ -o photos.objects --objects --max-size 512 --local-features
          loupe sources photos.objects composite.jpg -k 5 --montage sources.png
          loupe sources photos.objects queries/*.jpg --json > sources.json
        """)

    @Argument(help: "Object index made by `loupe index --objects`.")
    var index: String

    @Argument(help: "Composite images.")
    var queries: [String]

    @Option(name: .short, help: "Results per composite.")
    var k: Int = 10

    @Flag(inversion: .prefixedNo, help: "Compare with the host and search the parts that differ (--no-host-guided: the plain object search).")
    var hostGuided = true

    @Option(help: "Also search the squares of an R-MAC grid of this many levels over each composite (class-free regions, beside the detector's boxes); 0: none.")
    var queryGrid: Int = 0

    @Option(help: "With an index that keeps local features: pasted parts no image explains are looked at again with their crop enlarged by each of these factors in turn (2 to 4, rising, comma-separated; 1: not at all).")
    var partUpsampling: String = "2,3"

    @Option(help: "With an index that keeps local features: verifications ranked ahead of the parts' embedding search are those whose decimal log of expected false alarms (a-contrario) is below this (inf: every verification).")
    var falseAlarms: Double = SourceSearchSettings().maximumLogFalseAlarms

    @OptionGroup(title: "Index files") var files: IndexFileOptions

    @Option(help: "Write a PNG: each composite with its located parts, then its results with rank, role, score and file name.")
    var montage: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var force: ForceOption
    @OptionGroup var compute: ComputeOptions

    struct Output: Codable {
        var query: String
        var results: [SourceHit]
        var region: [Float]?
        var regions: [[Float]]
    }

    func run() async throws {
        try compute.apply()
        guard k >= 1 else { throw ValidationError("-k must be at least 1") }
        guard (0...6).contains(queryGrid) else { throw ValidationError("--query-grid takes 0 to 6 levels, got \(queryGrid)") }
        let factors = try parseUpsampling(partUpsampling)
        guard !falseAlarms.isNaN else { throw ValidationError("--false-alarms takes a number or inf") }
        try OutputCheck.checkQueries(queries, montage: montage, force: force.force)
        let url = URL(fileURLWithPath: index)
        guard ObjectIndex.isObjectIndex(url) || !FileManager.default.fileExists(atPath: url.path) else {
            throw CLIError.usage("\(index) is a global index; sources needs an object index (loupe index --objects)")
        }
        let objectIndex = try ObjectIndex(contentsOf: url, root: try files.rootURL())
        let embedder = try objectIndex.makeEmbedder(weights: files.store(for: objectIndex.recipe))
        var finder = SourceFinder(index: objectIndex, embedder: embedder, hostGuided: hostGuided)
        finder.gridLevels = queryGrid
        finder.partUpsampling = factors
        finder.maximumLogFalseAlarms = falseAlarms
        let (outputs, failure) = forEachInput(queries) { _, path in
            var clock = StageClock()
            let answer = try finder.sources(of: Image(contentsOf: URL(fileURLWithPath: path)), k: k, clock: &clock)
            func corners(_ b: BoundingBox) -> [Float] { [b.x0, b.y0, b.x1, b.y1].map { ($0 * 10).rounded() / 10 } }
            return Output(query: path, results: answer.results, region: answer.region.map(corners), regions: answer.regions.map(corners))
        }
        if json {
            try printJSON(outputs)
        } else {
            for o in outputs {
                print(o.query + (o.region.map { " (pasted part at [\($0.map { String(format: "%.0f", $0) }.joined(separator: ", "))])" } ?? " (no pasted part located)"))
                for (rank, hit) in o.results.enumerated() {
                    print(String(format: "  %2d  %-5@  %.4f  %@", rank + 1, hit.role.rawValue, hit.score, hit.path)
                          + (hit.inliers.map { n in "  (\(n) inliers" + (hit.logFalseAlarms.map { String(format: ", false alarms 10^%.1f", $0) } ?? "") + ")" } ?? ""))
                }
            }
        }
        if let montage, !outputs.isEmpty { try writeMontage(outputs, root: objectIndex.root, to: montage) }
        if let failure { throw failure }
    }

    func writeMontage(_ outputs: [Output], root: URL?, to path: String) throws {
        var montage = Montage()
        for o in outputs {
            let parts = o.regions.map { (box: BoundingBox(x0: $0[0], y0: $0[1], x1: $0[2], y1: $0[3]), color: Montage.palette[0], label: String?("pasted")) }
            var row = [Montage.query(try Image(contentsOf: URL(fileURLWithPath: o.query)), path: o.query, boxes: parts)]
            for (rank, hit) in o.results.enumerated() {
                let color = hit.role == .host ? Montage.palette[2] : hit.role == .donor ? Montage.palette[0] : Montage.palette[7]
                let boxes = hit.role == .host || hit.databaseRegion.kind == .image ? [] : [(box: hit.databaseRegion.box, color: color, label: hit.databaseRegion.label)]
                row.append(Montage.result(try Search.resultImage(hit.path, root: root), rank: rank + 1, score: hit.score, path: hit.path,
                                          extra: hit.role.rawValue.uppercased() + (hit.inliers.map { " \($0) INL" } ?? ""), boxes: boxes))
            }
            montage.rows.append(row)
        }
        try montage.write(to: path)
    }
}

/// `--part-upsampling`: rising factors in 2...4, comma-separated, or `1` for none.
func parseUpsampling(_ text: String) throws -> [Int] {
    if text == "1" { return [] }
    let factors = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !factors.isEmpty, factors.allSatisfy({ $0.map { (2...4).contains($0) } ?? false }),
          zip(factors, factors.dropFirst()).allSatisfy({ $0! < $1! }) else {
        throw ValidationError("--part-upsampling takes rising factors from 2 to 4 separated by commas (e.g. 2,3), or 1 for none; got '\(text)'")
    }
    return factors.map { $0! }
}

import ArgumentParser
import Foundation
import Loupe

struct Search: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the images of an index that look most like the query images.",
        discussion: """
        Queries are embedded by the embedder the index was made with, rebuilt from the recipe it \
        records (model, weights checksum, stage, pooling, scales, max size, whitening, and for an \
        object index its region proposal or student head); the weights are found by name where \
        `loupe models` says and checked by checksum (--weights gives the file). Indexes from \
        before the typed recipe are converted on load; pass --whitening if such an index was whitened.

        An object index (`loupe index --objects`) is searched region by region: the query's \
        regions (its detector boxes with the index's settings, --box regions, or both) against \
        every image's regions; each result names the pair of boxes that matched, and the montage \
        draws them.

        The index file is memory-mapped and opened without reading its vectors: every other \
        section's checksum is verified at once, and each vector row is checked (its own \
        CRC-32C, finiteness) the first time the search reads it, so a large quantized index \
        answers at once and a damaged row is still refused (exit status 65).

        Examples:
          loupe search dvd.index photo.jpg -k 5 --montage result.png
          loupe search photos.objects spliced.jpg --box 40,60,220,300 --montage pairs.png
        """)

    @Argument(help: "Index made by `loupe index`: a file, or a segment folder (--layout segments).")
    var index: String

    @Argument(help: "Query images.")
    var queries: [String]

    @Option(name: .short, help: "Results per query.")
    var k: Int = 10

    @Option(help: "Query expansion: average the query with its top N results and search again (0: off).")
    var qe: Int = 0

    @Option(help: "α for α-weighted query expansion (0: plain average).")
    var qeAlpha: Float = 0

    @Option(help: "Whitening file, for an index written before indexes carried their whitening (format 1).")
    var whitening: String?

    @Option(help: "Write a PNG with each query and its top results (rank, score and file name on each tile; object indexes also draw the matched boxes).")
    var montage: String?

    @OptionGroup(title: "Index files") var files: IndexFileOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(name: .customLong("box"), help: "Object index: a query region x0,y0,x1,y1 in pixels (repeatable).")
    var boxes: [String] = []

    @Flag(inversion: .prefixedNo, help: "Object index: propose query regions with the detector (besides any --box).")
    var detect = true

    @OptionGroup(title: "Object scoring") var scoring: ObjectScoringOptions
    @OptionGroup(title: "Approximate index") var quantized: QuantizedSearchOptions

    @OptionGroup var force: ForceOption
    @OptionGroup var compute: ComputeOptions

    struct Output: Codable {
        var query: String
        var results: [SearchHit]
    }

    func run() async throws {
        try compute.apply()
        guard k >= 1 else { throw ValidationError("-k must be at least 1") }
        guard qe >= 0 else { throw ValidationError("--qe must be at least 0") }
        guard qeAlpha == 0 || qe > 0 else { throw ValidationError("--qe-alpha weights query expansion: give --qe N too") }
        try OutputCheck.checkQueries(queries, montage: montage, force: force.force)
        if ObjectIndex.isObjectIndex(URL(fileURLWithPath: index)) { return try searchObjects() }
        guard boxes.isEmpty else { throw ValidationError("--box needs an object index (loupe index --objects)") }
        let objectOnly = scoring.given + (detect ? [] : ["--no-detect"]) + (files.detectorWeights == nil ? [] : ["--detector-weights"])
            + (files.student == nil ? [] : ["--student"])
        guard objectOnly.isEmpty else {
            throw ValidationError("\(objectOnly.joined(separator: ", ")) \(objectOnly.count == 1 ? "applies" : "apply") only to object indexes; \(index) is a global index")
        }
        let flat = try FlatIndex(contentsOf: URL(fileURLWithPath: index), root: try files.rootURL(), verification: .onAccess)
        guard qe < flat.count else {
            throw ValidationError("--qe \(qe) averages the query with more results than the index's \(flat.count) images; give at most \(flat.count - 1)")
        }
        let quantizedSearch = try quantized.settings(for: flat.quantized)
        let embedder = try flat.makeEmbedder(weights: files.store(for: flat.recipe), whitening: oldIndexWhitening())
        let expansion: QueryExpansion = qe == 0 ? .none : (qeAlpha == 0 ? .average(n: qe) : .alpha(n: qe, alpha: qeAlpha))
        let (outputs, failure) = forEachInput(queries) { _, path in
            let vector = try embedder.embedding(of: Image(contentsOf: URL(fileURLWithPath: path)))
            return Output(query: path, results: try flat.search(vector, k: k, expansion: expansion, recipe: embedder.recipe, quantizedSearch: quantizedSearch)[0])
        }
        if json {
            try printJSON(outputs)
        } else {
            for o in outputs {
                print(o.query)
                for (rank, hit) in o.results.enumerated() { print(String(format: "  %2d  %.4f  %@", rank + 1, hit.score, hit.path)) }
            }
        }
        if let montage, !outputs.isEmpty { try writeMontage(outputs, root: flat.root, to: montage) }
        if let failure { throw failure }
    }

    /// A result's image, with what to do when it is not where the index says.
    static func resultImage(_ path: String, root: URL?) throws -> Image {
        do { return try Image(contentsOf: URL(fileURLWithPath: path)) } catch {
            guard !FileManager.default.fileExists(atPath: path) else { throw error }
            let hint = root.map { "the index's images are under \($0.path); if that folder moved, pass --root NEW_FOLDER" }
                ?? "the index stores absolute paths; re-index the folder where it is now"
            throw CLIError.io("result image \(path) is not there (\(hint))")
        }
    }

    /// `--whitening`, for an index written before indexes carried their whitening.
    func oldIndexWhitening() throws -> Whitening? {
        try whitening.map { try Whitening(contentsOf: URL(fileURLWithPath: $0)) }
    }

    /// One row per query: the query, then its results in rank order with rank, score and name.
    func writeMontage(_ outputs: [Output], root: URL?, to path: String) throws {
        var montage = Montage()
        for o in outputs {
            var row = [Montage.query(try Image(contentsOf: URL(fileURLWithPath: o.query)), path: o.query)]
            for (rank, hit) in o.results.prefix(k).enumerated() {
                row.append(Montage.result(try Self.resultImage(hit.path, root: root), rank: rank + 1, score: hit.score, path: hit.path))
            }
            montage.rows.append(row)
        }
        try montage.write(to: path)
    }
}

import ArgumentParser
import Foundation
import Loupe

struct Index: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed every PNG/JPEG under a folder into a searchable index file.",
        discussion: """
        The index records the embedding recipe (model, weights checksum, stage, pooling, scales, \\
        max size, whitening, dimension); `loupe search` refuses queries of another recipe. The file \\
        is written to a temporary name and renamed into place.

        With --objects, each image is kept as its whole-image vector plus one vector per object \\
        region (YOLOX boxes, class-agnostic, at most --max-objects), pooled on the same backbone map \\
        (--object-method roialign) or embedded crop by crop (--object-method teacher).

        Examples:
          loupe index ../shared/data/smvs-dvd/reference -o dvd.index --max-size 512
          loupe index photos/ -o photos.objects --objects --max-size 512
        """)

    @Argument(help: "Folder of images (searched recursively).")
    var folder: String

    @Option(name: .shortAndLong, help: "Index file to write.")
    var output: String

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup(title: "Object mode") var objects: ObjectOptions
    @OptionGroup var compute: ComputeOptions

    @Flag(help: "No progress output.")
    var quiet = false

    func run() async throws {
        try compute.apply()
        let files = imageFiles(under: URL(fileURLWithPath: folder))
        guard !files.isEmpty else { throw ValidationError("no PNG or JPEG images under \(folder)") }
        let embedder = try pipeline.embedder()
        let progress = ProgressBar(quiet: quiet)
        if objects.objects || objects.student != nil {
            return try indexObjects(files, embedder: objects.regionEmbedder({ embedder }), progress: progress)
        }
        var index = FlatIndex(for: embedder)
        var timing = StageClock()
        var vectors: [Tensor] = [], paths: [String] = [], failures: [String] = []
        for (i, url) in files.enumerated() {
            do {
                let image = try timing.measure("decode") { () throws(ImageError) -> Image in try Image(contentsOf: url) }
                vectors.append(try embedder.embedding(of: image, clock: &timing))
                paths.append(url.path)
            } catch {
                failures.append("\(url.path): \(error)")
            }
            progress.update(done: i + 1, total: files.count, label: "indexing")
        }
        for f in failures { printError("skipped \(f)") }
        guard !vectors.isEmpty else { throw ValidationError("no image could be embedded") }
        let all = Tensor.concatenated(vectors, along: 0)
        try timing.measure("add + write") { () throws(IndexError) in
            try index.add(all, paths: paths)
            try index.write(to: URL(fileURLWithPath: output))
        }
        printError("\(index.count) images → \(output) (\(index.recipe))")
        printError(timing.report(items: index.count))
    }
}

extension Index {
    /// Object mode: each image as its whole-image vector plus one per region, with boxes.
    func indexObjects(_ files: [URL], embedder: any RegionEmbedder, progress: ProgressBar) throws {
        var index = ObjectIndex(for: embedder)
        if let student = objects.student { index.studentHeadLocation = URL(fileURLWithPath: student).path }
        var timing = StageClock()
        var batch: [(vectors: Tensor, regions: [ObjectRegion], path: String)] = [], failures: [String] = []
        for (i, url) in files.enumerated() {
            do {
                let image = try timing.measure("decode") { () throws(ImageError) -> Image in try Image(contentsOf: url) }
                let objects = try embedder.objects(in: image, given: [], detect: true, clock: &timing)
                batch.append((objects.vectors, objects.regions, url.path))
            } catch {
                failures.append("\(url.path): \(error)")
            }
            progress.update(done: i + 1, total: files.count, label: "indexing objects")
        }
        for f in failures { printError("skipped \(f)") }
        guard !batch.isEmpty else { throw ValidationError("no image could be embedded") }
        try timing.measure("add + write") { () throws(IndexError) in
            try index.add(batch)
            try index.write(to: URL(fileURLWithPath: output))
        }
        printError("\(index.count) images, \(index.regionCount) regions → \(output) (\(index.recipe))")
        printError(timing.report(items: index.count))
    }
}

/// PNG and JPEG files under a folder (or the file itself), sorted.
func imageFiles(under url: URL) -> [URL] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return [] }
    if !isDirectory.boolValue { return [url] }
    let walker = FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil)
    return (walker?.compactMap { $0 as? URL } ?? [])
        .filter { ["jpg", "jpeg", "png"].contains($0.pathExtension.lowercased()) }
        .sorted { $0.path < $1.path }
}

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

        Example: loupe index ../shared/data/smvs-dvd/reference -o dvd.index --max-size 512
        """)

    @Argument(help: "Folder of images (searched recursively).")
    var folder: String

    @Option(name: .shortAndLong, help: "Index file to write.")
    var output: String

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var compute: ComputeOptions

    @Flag(help: "No progress output.")
    var quiet = false

    func run() async throws {
        try compute.apply()
        let files = imageFiles(under: URL(fileURLWithPath: folder))
        guard !files.isEmpty else { throw ValidationError("no PNG or JPEG images under \(folder)") }
        let embedder = try pipeline.embedder()
        let progress = ProgressBar(quiet: quiet)
        var index = FlatIndex(recipe: embedder.recipe)
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

import ArgumentParser
import Foundation
import Loupe

/// `loupe index`: build (the default: `loupe index FOLDER -o FILE`), `info`, `export`.
struct Index: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an index of a folder (the default), describe, export, remove from or compact one.",
        subcommands: [IndexBuild.self, IndexInfo.self, IndexExport.self, IndexRemove.self, IndexCompact.self], defaultSubcommand: IndexBuild.self)
}

struct IndexBuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Embed every PNG/JPEG under a folder into a searchable index file (`loupe index FOLDER -o FILE`).",
        discussion: """
        Image paths are stored relative to FOLDER (recorded in the file): move the folder and the \
        index together and search still finds the images; move the folder alone and pass \
        `loupe search --root NEW_FOLDER`. Symbolic links to files and folders are followed, each \
        folder once (link loops end).

        The index records the embedding recipe (model, weights checksum, stage, pooling, scales, \
        max size, whitening, dimension); `loupe search` refuses queries of another recipe. The file \
        is written to a temporary name and renamed into place.

        With --objects, each image is kept as its whole-image vector plus one vector per object \
        region (YOLOX boxes, class-agnostic, at most --max-objects), pooled on the same backbone map \
        (--object-method roialign) or embedded crop by crop (--object-method teacher).

        With --index-type ivfflat, pq or ivfpq, an approximate index (inverted file and/or product \
        quantization, trained on the collection's own vectors) is built beside the vectors and \
        searched through: --probe lists per query vector, --refine candidates re-scored exactly.

        With --update, an existing index is brought up to date with FOLDER: only new files and \
        files whose content changed (size, modification time, then a hash of their bytes) are \
        embedded, images whose file is gone are dropped, the rest is kept as it is; the result \
        equals a fresh build (a quantized index keeps its trained quantizer). The index's own \
        recipe is used: a recipe option given with --update (--model, --pooling, --objects, …) is \
        refused. Without an index at -o, --update builds one.

        With --layout segments, -o is a folder: a manifest and segment files. An update (or \
        `index remove`) then writes one small segment with the new images and the removals, and \
        replaces the manifest atomically, instead of rewriting every vector; `index compact` \
        merges the segments into one. A writer killed at any point leaves the previous index \
        readable.

        Examples:
          loupe index ../shared/data/smvs-dvd/reference -o dvd.index --max-size 512
          loupe index photos/ -o photos.objects --objects --max-size 512
          loupe index photos/ -o photos.objects --objects --index-type ivfpq --lists 256 --pq 80
          loupe index photos/ -o photos.objects --update
          loupe index photos/ -o photos.index --layout segments
        """)

    @Argument(help: "Folder of images (searched recursively).")
    var folder: String

    @Option(name: .shortAndLong, help: "Index to write: a file, or a folder with --layout segments.")
    var output: String

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup(title: "Object mode") var objects: ObjectOptions
    @OptionGroup(title: "Local features") var local: LocalFeatureCLIOptions
    @OptionGroup(title: "Approximate index") var quantization: QuantizedIndexOptions

    @OptionGroup var badFiles: BadFileOptions
    @OptionGroup var force: ForceOption
    @OptionGroup var compute: ComputeOptions

    @Option(help: "How the index is kept: file (one file, rewritten whole by every change) or segments (a folder: --update and `index remove` write only what changed, as a new segment). Default: file, or what is at -o.")
    var layout: IndexLayout?

    @Flag(help: "Update the index at -o from FOLDER: embed only new and changed files, drop deleted ones, keep the rest (with the index's recipe).")
    var update = false

    @Flag(help: "No progress output.")
    var quiet = false

    func run() async throws {
        try compute.apply()
        let collection = try ImageCollection(URL(fileURLWithPath: folder))
        let files = collection.files
        // paths are stored relative to the folder, so that it can move with (or without) the index
        let root = OutputCheck.isFolder(collection.root) ? collection.root : nil
        try OutputCheck.check(output, option: "-o", replacing: .index, inputs: files, force: force.force)
        if update && FileManager.default.fileExists(atPath: output) { return try runUpdate(files, root: root) }
        // refused before embedding, not when the index is written
        if let layout, let existing = IndexLayout(at: URL(fileURLWithPath: output)), existing != layout {
            throw ValidationError("-o \(output) is an index \(existing == .segments ? "folder" : "file"); --layout \(layout) cannot replace it (remove it first)")
        }
        let localSettings = try local.settings()
        if localSettings != nil && !(objects.objects || objects.student != nil) {
            throw ValidationError("--local-features applies to an object index (--objects or --student)")
        }
        try quantization.validate()  // before embedding; the dimension-bound checks come after
        let embedder = try pipeline.embedder()
        let progress = ProgressBar(quiet: quiet)
        var report: IndexingReport
        let write: () throws -> String
        if objects.objects || objects.student != nil {
            let regionEmbedder = try objects.regionEmbedder({ embedder })
            var index = ObjectIndex(for: regionEmbedder)
            if let student = objects.student { index.studentHeadLocation = URL(fileURLWithPath: student).path }
            index.root = root
            if let localSettings { try index.keepLocalFeatures(localSettings) }
            report = try index.add(files, with: regionEmbedder, onBadFile: badFiles.policy, progress: progress)
            if let kind = try quantization.kind(vectors: index.regionCount, dimension: index.dimension), index.count > 0 {
                var clock = report.clock
                try clock.measure("quantizer") { try index.quantize(kind, reducingTo: quantization.pca, defaultSearch: quantization.search) }
                report.clock = clock
            }
            write = { try index.write(to: URL(fileURLWithPath: output), layout: layout); return "\(index.count) images, \(index.regionCount) regions" + (index.localFeatures.map { ", \($0.featureCount) local features" } ?? "") + " → \(output) (\(index.recipe))" + (index.quantized.map { ", \($0)" } ?? "") }
        } else {
            var index = FlatIndex(for: embedder)
            index.root = root
            report = try index.add(files, with: embedder, onBadFile: badFiles.policy, progress: progress)
            if let kind = try quantization.kind(vectors: index.count, dimension: index.dimension), index.count > 0 {
                var clock = report.clock
                try clock.measure("quantizer") { try index.quantize(kind, reducingTo: quantization.pca, defaultSearch: quantization.search) }
                report.clock = clock
            }
            write = { try index.write(to: URL(fileURLWithPath: output), layout: layout); return "\(index.count) images → \(output) (\(index.recipe))" + (index.quantized.map { ", \($0)" } ?? "") }
        }
        try badFiles.report(report.skipped)
        guard report.indexed > 0 else { throw CLIError.data("none of the \(files.count) images could be embedded (each is named above); nothing written") }
        var clock = report.clock
        let summary = try clock.measure("write") { try write() }
        printError(summary + BadFileOptions.summary(report.skipped))
        printError("weights: \(embedder.loaded.file.path)")
        printError(clock.report(items: report.indexed))
    }
}

extension IndexBuild {
    /// `--update` of an existing index: the changes embedded with the index's own recipe.
    func runUpdate(_ files: [URL], root: URL?) throws {
        // the index's recipe is the one used: a recipe option given with it is refused, not ignored
        let changesLayout: Bool = layout != nil && layout != IndexLayout(at: URL(fileURLWithPath: output))
        let options: [(String, Bool)] = [("--model", pipeline.model != "mobilenet_v2"), ("--layer", pipeline.layer != nil), ("--pooling", pipeline.pooling != "gem"),
                     ("--scales", pipeline.scales != "1"), ("--max-size", pipeline.maxSize != 1024), ("--whitening", pipeline.whitening != nil),
                     ("--objects", objects.objects), ("--student", objects.student != nil), ("--object-method", objects.objectMethod != "roialign"),
                     ("--max-objects", objects.maxObjects != nil), ("--object-threshold", objects.objectThreshold != nil),
                     ("--object-nms", objects.objectNms != nil), ("--detector-size", objects.detectorSize != nil),
                     ("--local-features", local.localFeatures), ("--index-type", quantization.type != .flat), ("--lists", quantization.lists != nil),
                     ("--pq", quantization.pq != nil), ("--pca", quantization.pca != nil), ("--probe", quantization.probe != nil), ("--refine", quantization.refine != nil),
                     ("--layout", changesLayout)]
        let given = options.filter(\.1).map(\.0)
        if !given.isEmpty {
            throw ValidationError("--update uses the recipe the index \(output) records; \(given.joined(separator: ", ")) cannot change it (build a new index instead)")
        }
        let url = URL(fileURLWithPath: output)
        let progress = ProgressBar(quiet: quiet)
        var store = WeightStore.cli()
        let updated: (report: UpdateReport, summary: String, write: () throws -> Void)
        if ObjectIndex.isObjectIndex(url) {
            var index = try ObjectIndex(contentsOf: url)
            if let weights = pipeline.weights { store.paths[index.recipe.model.name] = URL(fileURLWithPath: weights) }
            let embedder = try index.makeEmbedder(weights: store)
            let report = try index.update(to: files, with: embedder, onBadFile: badFiles.policy, progress: progress)
            index.root = root
            updated = (report, "\(index.count - index.removed.count) images" + (index.removed.isEmpty ? "" : " (\(index.removed.count) removed ones kept until `loupe index compact`)") + ", \(index.regionCount) regions", { try index.write(to: url) })
        } else {
            var index = try FlatIndex(contentsOf: url)
            if let weights = pipeline.weights { store.paths[index.recipe.model.name] = URL(fileURLWithPath: weights) }
            let embedder = try index.makeEmbedder(weights: store)
            let report = try index.update(to: files, with: embedder, onBadFile: badFiles.policy, progress: progress)
            index.root = root
            updated = (report, "\(index.count - index.removed.count) images" + (index.removed.isEmpty ? "" : " (\(index.removed.count) removed ones kept until `loupe index compact`)"), { try index.write(to: url) })
        }
        let (report, summary, write) = updated
        try badFiles.report(report.indexing.skipped)
        let c = report.changes
        let counts = "\(c.added.count) added, \(c.changed.count) changed, \(c.removed.count) removed, \(c.unchanged.count) unchanged"
        guard !c.isEmpty else { return printError("\(output) is up to date (\(counts)); nothing written") }
        var clock = report.indexing.clock
        try clock.measure("write") { try write() }
        printError("\(counts) → \(output) (\(summary))" + BadFileOptions.summary(report.indexing.skipped))
        if report.indexing.indexed > 0 { printError(clock.report(items: report.indexing.indexed)) }
    }
}

/// The PNG and JPEG files under a folder (or the file itself), sorted: the library's listing.
func imageFiles(under url: URL) throws -> [URL] { try ImageCollection(url).files }

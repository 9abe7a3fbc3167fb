import ArgumentParser
import Foundation
import Loupe

/// `loupe index info FILE`: what an index holds, checked as search would open it.
struct IndexInfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe an index file: its type, counts, bytes per vector and recipe (the file is fully checked).",
        discussion: """
        Examples:
          loupe index info photos.objects
          loupe index info photos.objects --json
        """)

    @Argument(help: "Index made by `loupe index`: a file, or a segment folder (--layout segments).")
    var index: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    struct Output: Codable {
        var file: String
        var format: String
        var version: String
        var bytes: Int
        /// Images searched (removed ones not counted).
        var images: Int
        /// Vectors stored (removed images' included, until compaction).
        var vectors: Int
        var dimension: Int
        var recipe: String
        var quantized: String?
        var probe: Int?
        var refine: Int?
        var lists: [Int]?
        var bytesPerVector: Int
        var localFeatures: Int?
        var checksums: Bool
        var layout: String
        /// Images taken out (tombstones) and not compacted away yet.
        var removed: Int
        var segments: [IndexSegment]?
    }

    func run() async throws {
        let url = URL(fileURLWithPath: index)
        // the index is opened first: its errors name the file (a raw safetensors error would not)
        let objectIndex = ObjectIndex.isObjectIndex(url) ? try ObjectIndex(contentsOf: url) : nil
        let flatIndex = objectIndex == nil ? try FlatIndex(contentsOf: url) : nil
        // a segment folder: the first segment holds the format and version, the bytes are all segments'
        let segments = IndexLayout(at: url) == .segments ? try IndexLayout.segments(of: url) : nil
        let first = segments.map { url.appendingPathComponent($0[0].file) } ?? url
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: first) } catch { throw IndexError.unreadable(first, error) }
        let output: Output
        func make(images: Int, vectors: Int, recipe: EmbeddingRecipe, quantized: QuantizedIndex?, local: Int?, removed: Int) -> Output {
            Output(file: url.path, format: file.metadata["format"] ?? "?", version: file.metadata["version"] ?? "?",
                   bytes: segments.map { $0.reduce(0) { $0 + $1.bytes } } ?? file.byteCount,
                   images: images, vectors: vectors, dimension: recipe.dimension, recipe: recipe.description,
                   quantized: quantized?.description, probe: quantized?.defaultSearch.probe, refine: quantized?.defaultSearch.refine,
                   lists: quantized.map(\.listSizes), bytesPerVector: quantized?.bytesPerVector ?? recipe.dimension * 4,
                   localFeatures: local, checksums: file.hasChecksums, layout: (segments == nil ? IndexLayout.file : .segments).rawValue,
                   removed: removed, segments: segments)
        }
        if let i = objectIndex {
            output = make(images: i.count - i.removed.count, vectors: i.regionCount, recipe: i.recipe, quantized: i.quantized, local: i.localFeatures?.featureCount, removed: i.removed.count)
        } else if let i = flatIndex {
            output = make(images: i.count - i.removed.count, vectors: i.count, recipe: i.recipe, quantized: i.quantized, local: nil, removed: i.removed.count)
        } else { return }
        if json { try printJSON(output); return }
        print("\(output.file): \(output.format) version \(output.version), \(output.bytes) bytes\(output.checksums ? ", every section checksummed and checked" : "")")
        if let segments {
            print("  segments: \(segments.count) (\(segments.map { "\($0.file): \($0.images) images" + ($0.removes > 0 ? ", removes \($0.removes)" : "") }.joined(separator: "; ")))")
        }
        if output.removed > 0 { print("  removed: \(output.removed) images (their vectors stay until `loupe index compact`)") }
        print("  \(output.images) images, \(output.vectors) vectors of \(output.dimension) dimensions")
        print("  recipe: \(output.recipe)")
        if let q = output.quantized, let lists = output.lists {
            let sorted = lists.sorted()
            print("  quantized: \(q), \(output.bytesPerVector) bytes per vector in memory (the vectors are kept too, for re-scoring); "
                  + "default probe \(output.probe ?? 0), refine \(output.refine ?? 0)")
            if lists.count > 1 { print("  list sizes: smallest \(sorted.first!), median \(sorted[sorted.count / 2]), largest \(sorted.last!)") }
        } else {
            print("  exact: \(output.bytesPerVector) bytes per vector")
        }
        if let local = output.localFeatures { print("  local features: \(local)") }
    }
}

/// `loupe index export FILE -o OUT.npy|OUT.fvecs`: the vectors for other tools, with their ids.
struct IndexExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write an index's vectors as .npy or .fvecs, with a JSON file of each row's id, image path and region.",
        discussion: """
        The format follows the output's extension: .npy (float32, [N, D], NumPy's format) or .fvecs \
        (each row its dimension as int32, then its floats: the format of the classic ANN \
        benchmarks and faiss's loaders). Beside it, OUTPUT.json lists each row: id (the row), image, imageID (kept through compactions), path, \
        and for an object index the region's kind, box, score and label. Both are written to \
        temporary names and renamed into place.

        Examples:
          loupe index export photos.objects -o photos.npy
          python -c "import numpy; print(numpy.load('photos.npy').shape)"
        """)

    @Argument(help: "Index made by `loupe index`: a file, or a segment folder (--layout segments).")
    var index: String

    @Option(name: .shortAndLong, help: "Output file: .npy or .fvecs (OUTPUT.json is written beside it).")
    var output: String

    @OptionGroup var force: ForceOption

    struct Row: Codable {
        /// The row.
        var id: Int
        /// The image's position and its id (kept through compactions).
        var image: Int
        var imageID: Int
        var path: String
        var region: ObjectRegion?
    }

    func run() async throws {
        let out = URL(fileURLWithPath: output)
        guard ["npy", "fvecs"].contains(out.pathExtension) else { throw ValidationError("-o must end in .npy or .fvecs, got '\(output)'") }
        let side = out.appendingPathExtension("json")
        for target in [out, side] where FileManager.default.fileExists(atPath: target.path) && !force.force {
            throw ValidationError("\(target.path) exists; pass --force to replace it")
        }
        let url = URL(fileURLWithPath: index)
        let vectors: Tensor, rows: [Row]
        if ObjectIndex.isObjectIndex(url) {
            let i = try ObjectIndex(contentsOf: url)
            vectors = i.vectors
            rows = i.regions.enumerated().map { r, region in
                let image = Int(i.imageOfRow[r])
                return Row(id: r, image: image, imageID: i.ids[image], path: i.paths[image], region: region)
            }
        } else {
            let i = try FlatIndex(contentsOf: url)
            vectors = i.vectors
            rows = i.paths.enumerated().map { Row(id: $0, image: $0, imageID: i.ids[$0], path: $1, region: nil) }
        }
        let (n, d) = (vectors.shape[0], vectors.shape[1])
        var data = Data()
        if out.pathExtension == "npy" {
            // NumPy format 1.0: magic, header length, a Python dict literal padded so that the data starts 64-byte aligned
            var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(n), \(d)), }"
            while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
            header += "\n"
            data.append(contentsOf: [0x93] + Array("NUMPY".utf8) + [1, 0])
            withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
            data.append(contentsOf: Array(header.utf8))
            vectors.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        } else {
            let x = vectors.scalars
            data.reserveCapacity(n * (d + 1) * 4)
            for r in 0..<n {
                withUnsafeBytes(of: Int32(d).littleEndian) { data.append(contentsOf: $0) }
                x[(r * d)..<((r + 1) * d)].withUnsafeBufferPointer { data.append($0) }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            try encoder.encode(rows).write(to: side, options: .atomic)
            try data.write(to: out, options: .atomic)
        } catch { throw CLIError.io("cannot write \(out.path): \(error.localizedDescription)") }
        printError("\(n) vectors of \(d) dimensions → \(out.path); ids, paths and regions → \(side.path)")
    }
}

/// `loupe index remove FILE IMAGE… [--compact]`: images taken out of an index in place.
struct IndexRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Take images out of an index (by path, as stored or as a file on disk); --compact also drops them from the file.",
        discussion: """
        Without --compact the images become tombstones: no search returns them, the file keeps \
        their vectors (and every other image keeps its number). `loupe index compact` drops them \
        later. The index is rewritten through a temporary file renamed into place.

        Examples:
          loupe index remove photos.objects photos/old/IMG_0001.jpg photos/old/IMG_0002.jpg
          loupe index compact photos.objects
        """)

    @Argument(help: "Index made by `loupe index`: a file, or a segment folder (--layout segments).")
    var index: String

    @Argument(help: "Images to remove: their paths as stored in the index, or files that resolve to them.")
    var images: [String]

    @Flag(help: "Drop the removed images from the file now (renumbers the images left).")
    var compact = false

    func run() async throws {
        let url = URL(fileURLWithPath: index)
        func positions(in paths: [String]) throws -> [Int] {
            let byPath = Dictionary(paths.enumerated().map { (URL(fileURLWithPath: $1).standardizedFileURL.path, $0) }, uniquingKeysWith: { a, _ in a })
            return try images.map { given in
                let full = URL(fileURLWithPath: given).standardizedFileURL.path
                guard let i = byPath[full] ?? paths.firstIndex(of: given) else { throw ValidationError("\(given) is not in \(index)") }
                return i
            }
        }
        if ObjectIndex.isObjectIndex(url) {
            var i = try ObjectIndex(contentsOf: url)
            try i.remove(images: positions(in: i.paths))
            if compact { try i.compact() }
            try i.write(to: url)
            printError("\(images.count) removed; \(i.count - i.removed.count) images left in \(index)" + (compact ? " (compacted)" : ""))
        } else {
            var i = try FlatIndex(contentsOf: url)
            try i.remove(images: positions(in: i.paths))
            if compact { try i.compact() }
            try i.write(to: url)
            printError("\(images.count) removed; \(i.count - i.removed.count) images left in \(index)" + (compact ? " (compacted)" : ""))
        }
    }
}

/// `loupe index compact FILE`: drops removed images for good.
struct IndexCompact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Drop the images `loupe index remove` took out, renumbering the rest (rewritten atomically).")

    @Argument(help: "Index made by `loupe index`: a file, or a segment folder (--layout segments).")
    var index: String

    func run() async throws {
        let url = URL(fileURLWithPath: index)
        if ObjectIndex.isObjectIndex(url) {
            var i = try ObjectIndex(contentsOf: url)
            let dropped = i.removed.count
            try i.compact()
            try i.write(to: url)
            printError("\(dropped) removed images dropped; \(i.count) left in \(index)")
        } else {
            var i = try FlatIndex(contentsOf: url)
            let dropped = i.removed.count
            try i.compact()
            try i.write(to: url)
            printError("\(dropped) removed images dropped; \(i.count) left in \(index)")
        }
    }
}

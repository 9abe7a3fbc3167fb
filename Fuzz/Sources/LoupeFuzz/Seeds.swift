import Foundation
import Loupe

/// Seed inputs written by Loupe's own writers, small enough to mutate fast: indexes of every kind
/// (flat, object with local features, IVF-PQ), a whitening file and a student-head file, and
/// recipes. Real photos for the image target come from Scripts/make_fuzz_corpus.py.
enum Seeds {
    static func write(to folder: URL) throws {
        func put(_ target: FuzzTarget, _ name: String, _ make: (URL) throws -> Void) throws {
            let dir = folder.appendingPathComponent(target.rawValue)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try make(dir.appendingPathComponent(name))
        }
        let d = 8
        func unit(_ seed: UInt64, rows: Int) -> Tensor { Tensor(randomUniform: [rows, d], in: -1...1, seed: seed).l2NormalizedRows() }
        let global = EmbeddingRecipe(model: .classifier(.mobileNetV2), weightsChecksum: "0123abcd", stage: "features", pooling: .gem(p: 3),
                                     scales: [1], maxSize: 512, dimension: d)
        let objects = EmbeddingRecipe(model: .classifier(.mobileNetV2), weightsChecksum: "0123abcd", stage: "features", pooling: .gem(p: 3),
                                      scales: [1], maxSize: 512, dimension: d,
                                      mode: .objects(.hardAttention(.roiAlign(bins: 7)), proposal: RegionProposal(maximumObjects: 3)))
        try put(.index, "flat.idx") { url in
            var index = try FlatIndex(recipe: global)
            try index.add(unit(1, rows: 6), paths: (0..<6).map { "photo-\($0).jpg" })
            try index.remove(images: [2])
            try index.write(to: url)
        }
        try put(.index, "flat-compacted.idx") { url in
            // stable ids that are not the positions: the ids section and next-id
            var index = try FlatIndex(recipe: global)
            try index.add(unit(3, rows: 6), paths: (0..<6).map { "photo-\($0).jpg" })
            try index.remove(images: [1, 4])
            try index.compact()
            try index.write(to: url)
        }
        try put(.index, "segment-2.idx") { url in
            // a segment folder's second segment (its record, its ids), read as an index of its own
            let folder = url.deletingLastPathComponent().appendingPathComponent("segments.tmp")
            try? FileManager.default.removeItem(at: folder)
            defer { try? FileManager.default.removeItem(at: folder) }
            var index = try FlatIndex(recipe: global)
            try index.add(unit(4, rows: 4), paths: (0..<4).map { "photo-\($0).jpg" })
            try index.write(to: folder, layout: .segments)
            index = try FlatIndex(contentsOf: folder)
            try index.add(unit(5, rows: 2), paths: ["photo-4.jpg", "photo-5.jpg"])
            try index.remove(images: [0])
            try index.write(to: folder)
            try? FileManager.default.removeItem(at: url)  // the seeds are written again by every run
            try FileManager.default.copyItem(at: folder.appendingPathComponent("segment-2.safetensors"), to: url)
        }
        try put(.index, "flat-ivfpq.idx") { url in
            var index = try FlatIndex(recipe: global)
            try index.add(unit(2, rows: 300), paths: (0..<300).map { "p\($0).jpg" })
            try index.quantize(.ivfPQ(lists: 4, subquantizers: 2), seed: 1)
            try index.write(to: url)
        }
        try put(.index, "objects.idx") { url in
            var index = try ObjectIndex(recipe: objects)
            for i in 0..<4 {
                let regions = [ObjectRegion(kind: .image, box: BoundingBox(x0: 0, y0: 0, x1: 64, y1: 48)),
                               ObjectRegion(kind: .detected, box: BoundingBox(x0: 4, y0: 4, x1: 30, y1: 40), score: 0.8, label: "dog")]
                try index.add(unit(UInt64(10 + i), rows: 2), regions: regions, path: "photo-\(i).jpg")
            }
            try index.write(to: url)
        }
        try put(.whitening, "pca.whitening") { url in
            let mean = Tensor(randomUniform: [d], in: -1...1, seed: 3)
            try Whitening(method: .pca, mean: mean, projection: Tensor(randomUniform: [4, d], in: -1...1, seed: 4), recipe: "seed").write(to: url)
        }
        try put(.head, "tiny.head") { url in
            let head = StudentHead(configuration: .init(inputChannels: 4, bins: 2, hidden: 4, fullyConnectedHidden: 8, dimension: d), seed: 1)
            try head.write(to: url, metadata: ["seed": "1"])
        }
        try put(.recipe, "global.json") { url in try Data(global.json.utf8).write(to: url) }
        try put(.recipe, "objects.json") { url in try Data(objects.json.utf8).write(to: url) }
    }
}

/// libFuzzer's start-up hook: with `LOUPE_FUZZ_SEEDS=DIR`, writes the seeds under DIR and exits.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    if let dir = ProcessInfo.processInfo.environment["LOUPE_FUZZ_SEEDS"] {
        do { try Seeds.write(to: URL(fileURLWithPath: dir)); exit(0) } catch {
            FileHandle.standardError.write(Data("seeds: \(error)\n".utf8)); exit(1)
        }
    }
    _ = selected
    return 0
}

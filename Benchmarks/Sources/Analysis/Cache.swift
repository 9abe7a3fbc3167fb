import Foundation
import Loupe

/// The embedding modes of the grid.
enum Mode: String, CaseIterable, Comparable {
    /// One vector per image.
    case global
    /// Whole image + detector boxes pooled on the same map (hard attention, RoIAlign 7×7).
    case objects
    /// Whole image + each box cropped and embedded by its own pass.
    case teacher
    /// Whole image + boxes, embedded by a distilled head on the detector's features.
    case student

    static func < (a: Mode, b: Mode) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// Vectors of a run of items: per cell (`stage|pooling`, or `student`) `[rows, C]`; per item its
/// row count (1 for global); per row the region's box and kind.
struct RegionVectors {
    var cells: [String: Tensor] = [:]
    var counts: [Int] = []
    var boxes: [BoundingBox] = []
    var kinds: [ObjectRegion.Kind] = []

    var rowStarts: [Int] {
        var s = [0]
        for c in counts { s.append(s.last! + c) }
        return s
    }

    static func concatenated(_ parts: [RegionVectors], cells: [String]) -> RegionVectors {
        var out = RegionVectors()
        for p in parts { out.counts += p.counts; out.boxes += p.boxes; out.kinds += p.kinds }
        for c in cells { out.cells[c] = Tensor.concatenated(parts.map { $0.cells[c]! }, along: 0) }
        return out
    }
}

/// One file per (dataset, recipe, shard of items): written atomically once its shard is done, so
/// an interrupted run resumes at the first missing shard; a later run that asks for more cells
/// (a new pooling, a new stage) recomputes the shard once and keeps the cells it had.
struct ShardStore {
    static let format = "loupe-analysis-shard"
    static let version = "1"
    let folder: URL
    let shardSize: Int

    init(root: URL, dataset: GridDataset, recipe: String, shardSize: Int) {
        folder = root.appendingPathComponent(dataset.cacheKey).appendingPathComponent(recipe)
        self.shardSize = shardSize
    }

    func url(_ shard: Int) -> URL { folder.appendingPathComponent(String(format: "shard-%04d.safetensors", shard)) }

    /// The shard's vectors if its file exists, belongs to these items and is intact.
    func load(_ shard: Int, items: [Item]) -> RegionVectors? {
        guard let file = try? SafetensorsFile(contentsOf: url(shard)),
              file.metadata["format"] == Self.format, file.metadata["version"] == Self.version,
              file.metadata["items"] == fnv1a(items.map(\.key).joined(separator: "\n")),
              let counts = try? file.tensor(named: "_counts").scalars.map({ Int($0) }), counts.count == items.count,
              let boxes = try? file.tensor(named: "_boxes"), let kinds = try? file.tensor(named: "_kinds")
        else { return nil }
        let rows = counts.reduce(0, +)
        guard boxes.shape == [rows, 4], kinds.shape == [rows] else { return nil }
        var out = RegionVectors(counts: counts)
        let b = boxes.scalars
        out.boxes = (0..<rows).map { BoundingBox(x0: b[4 * $0], y0: b[4 * $0 + 1], x1: b[4 * $0 + 2], y1: b[4 * $0 + 3]) }
        out.kinds = kinds.scalars.map { $0 == 0 ? .image : .detected }
        for name in file.names where !name.hasPrefix("_") {
            guard let t = try? file.tensor(named: name), t.rank == 2, t.shape[0] == rows,
                  t.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { return nil }
            out.cells[name] = t
        }
        return out
    }

    func write(_ v: RegionVectors, shard: Int, items: [Item]) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var tensors = v.cells
        tensors["_counts"] = Tensor(shape: [v.counts.count], scalars: v.counts.map(Float.init))
        tensors["_boxes"] = Tensor(shape: [v.boxes.count, 4], scalars: v.boxes.flatMap { [$0.x0, $0.y0, $0.x1, $0.y1] })
        tensors["_kinds"] = Tensor(shape: [v.kinds.count], scalars: v.kinds.map { $0 == .image ? 0 : 1 })
        try SafetensorsFile.write(tensors, metadata: ["format": Self.format, "version": Self.version,
                                                      "items": fnv1a(items.map(\.key).joined(separator: "\n"))], to: url(shard))
    }
}

/// Builds the per-item region rows of a shard from per-item tensors `[rows_i, C]` per cell.
func regionVectors(perItem: [[String: Tensor]], regions: [[ObjectRegion]]) -> RegionVectors {
    var out = RegionVectors()
    out.counts = regions.map(\.count)
    out.boxes = regions.flatMap { $0.map(\.box) }
    out.kinds = regions.flatMap { $0.map(\.kind) }
    for name in perItem.first?.keys.sorted() ?? [] {
        out.cells[name] = Tensor.concatenated(perItem.map { $0[name]! }, along: 0)
    }
    return out
}

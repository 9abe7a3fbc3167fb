import Foundation
import Loupe

/// One evaluated cell of the grid.
struct ResultRow: Codable {
    var dataset: String
    var backbone: String
    var family: String
    var stage: String
    var stride: Int
    var channels: Int
    var pooling: String
    var mode: String
    /// `none`, a dimension, or `full`.
    var whitening: String
    var dimension: Int
    var meanAP: Double
    var meanTrapezoidAP: Double
    var recallAt1: Double
    /// mAP per query group (smvs: canon, droid), empty when there is one group.
    var groups: [String: Double]
    var queries: Int
}

/// Whitening dimensions of the grid: `none`, numbers, `full`.
enum WhiteningChoice: Hashable, CustomStringConvertible {
    case none, dimension(Int), full
    init?(_ text: String) {
        switch text {
        case "none": self = .none
        case "full": self = .full
        default:
            guard let d = Int(text), d >= 1 else { return nil }
            self = .dimension(d)
        }
    }
    var description: String {
        switch self {
        case .none: "none"
        case let .dimension(d): String(d)
        case .full: "full"
        }
    }
}

/// The whitening of `choice` cut from a full-dimension PCA whitening (its rows are ordered by
/// decreasing variance, so the first `d` rows are the `d`-dimensional PCA whitening); `nil` for
/// `none` or for a dimension not below the full one.
func truncated(_ full: Whitening, to choice: WhiteningChoice) -> Whitening? {
    switch choice {
    case .none: return nil
    case .full: return full
    case let .dimension(d):
        guard d < full.outputDimension else { return nil }
        return Whitening(method: full.method, mean: full.mean, projection: full.projection.sliced(along: 0, 0..<d), recipe: full.recipe)
    }
}

/// Scores one set of vectors on a dataset's ground truth.
///
/// `vectors` holds every item's rows (one for global modes, regions for object modes); `objects`
/// says whether to search per region (query objects against all database regions, best pair —
/// Loupe's default) or per image.
///
/// `verify` also ranks the first 20 queries through `ObjectIndex.search` and throws if the two
/// paths' average precisions disagree.
func score(_ grid: GridDataset, vectors v: RegionVectors, cell: String, whitening: Whitening?, objects: Bool,
           verify: Bool = false) throws -> (summary: Evaluation.Summary, groups: [String: Double]) {
    let dataset = grid.dataset!
    var rows = v.cells[cell]!
    if let whitening { rows = try whitening.apply(rows) }
    let starts = v.rowStarts
    let n = grid.databaseCount
    var rankings: [[Int]] = []
    if objects {
        rankings = objectRankings(grid, rows: rows, starts: starts, kinds: v.kinds)
        if verify {
            let check = try objectIndexRankings(grid, rows: rows, starts: starts, v: v, queries: 20)
            let q = Array(dataset.queries.prefix(check.count))
            let a = Evaluation.evaluate(rankings: Array(rankings.prefix(check.count)), positives: q.map(\.positives), junk: q.map(\.junk))
            let b = Evaluation.evaluate(rankings: check, positives: q.map(\.positives), junk: q.map(\.junk))
            guard abs(a.meanAP - b.meanAP) < 1e-3 else {
                throw GridError.cache("batched object scoring disagrees with ObjectIndex.search on \(grid.name) \(cell): mAP \(a.meanAP) vs \(b.meanAP)")
            }
        }
        } else {
        let database = rows.sliced(along: 0, 0..<n)
        let queries = Tensor.concatenated(grid.queryItems.map { rows.sliced(along: 0, starts[$0]..<(starts[$0] + 1)) }, along: 0)
        let top = nearestNeighbors(of: queries, in: database, k: n)
        for (qi, q) in dataset.queries.enumerated() {
            var ranking = top.results(forQuery: qi).map(\.index)
            if let own = q.databaseIndex { ranking.removeAll { $0 == own } }
            rankings.append(ranking)
        }
    }
    let (summary, perGroup) = Evaluation.evaluate(rankings: rankings, positives: dataset.queries.map(\.positives),
                                                  junk: dataset.queries.map(\.junk), groups: dataset.queries.map(\.group))
    let groups = perGroup.mapValues(\.meanAP)
    return (summary, groups)
}

/// Object-mode rankings for every query at once: the query's objects (its whole image when it has
/// none) against every database region, image score = best pair, ties by image index — what
/// `ObjectIndex.search` with default options ranks, computed as one blocked GEMM over all query
/// rows instead of one small product per query (the grid scores thousands of cells).
func objectRankings(_ grid: GridDataset, rows: Tensor, starts: [Int], kinds: [ObjectRegion.Kind]) -> [[Int]] {
    let dataset = grid.dataset!
    let n = grid.databaseCount, databaseRows = starts[n]
    let database = rows.sliced(along: 0, 0..<databaseRows)
    var imageOfRow = [Int](repeating: 0, count: databaseRows)
    for i in 0..<n { for r in starts[i]..<starts[i + 1] { imageOfRow[r] = i } }
    // the query rows used: each query item's objects, else its whole image
    var used: [[Int]] = []
    for item in grid.queryItems {
        let all = Array(starts[item]..<starts[item + 1])
        let objects = all.filter { kinds[$0] != .image }
        used.append(objects.isEmpty ? all : objects)
    }
    var rankings: [[Int]] = []
    let block = 256  // queries per GEMM
    var q0 = 0
    while q0 < used.count {
        let q1 = min(used.count, q0 + block)
        let flat = used[q0..<q1].flatMap { $0 }
        let queryRows = Tensor.concatenated(flat.map { rows.sliced(along: 0, $0..<($0 + 1)) }, along: 0)
        let sims = matmul(queryRows, database, transposingB: true)  // [flat, databaseRows]
        sims.withUnsafeBufferPointer { s in
            var offset = 0
            for qi in q0..<q1 {
                var best = [Float](repeating: -.infinity, count: n)
                for local in 0..<used[qi].count {
                    let row = s.baseAddress! + (offset + local) * databaseRows
                    for r in 0..<databaseRows where row[r] > best[imageOfRow[r]] { best[imageOfRow[r]] = row[r] }
                }
                offset += used[qi].count
                let own = dataset.queries[qi].databaseIndex
                var order = (0..<n).filter { $0 != own }
                order.sort { best[$0] != best[$1] ? best[$0] > best[$1] : $0 < $1 }
                rankings.append(order)
            }
        }
        q0 = q1
    }
    return rankings
}

/// The same rankings through `ObjectIndex.search` (the library's path), for a self-check.
func objectIndexRankings(_ grid: GridDataset, rows: Tensor, starts: [Int], v: RegionVectors, queries: Int) throws -> [[Int]] {
    let dataset = grid.dataset!, n = grid.databaseCount
    // a stand-in recipe: the grid's vectors are scored here, never rebuilt
    var index = try ObjectIndex(recipe: EmbeddingRecipe(model: .classifier(.mobileNetV2), weightsChecksum: "grid", stage: "grid", pooling: .mac,
                                                        maxSize: 32, dimension: rows.shape[1],
                                                        mode: .objects(.hardAttention(.cells), proposal: RegionProposal())))
    let regions = zip(v.boxes, v.kinds).map { ObjectRegion(kind: $1, box: $0) }
    try index.add((0..<n).map { i in
        (rows.sliced(along: 0, starts[i]..<starts[i + 1]), Array(regions[starts[i]..<starts[i + 1]]), grid.items[i].key)
    })
    return try zip(dataset.queries, grid.queryItems).prefix(queries).map { q, item in
        let r = starts[item]..<starts[item + 1]
        return try index.search(rows.sliced(along: 0, r), regions: Array(regions[r]), k: n, excluding: q.databaseIndex).map(\.image)
    }
}

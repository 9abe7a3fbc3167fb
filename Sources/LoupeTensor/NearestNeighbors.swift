internal import LoupeKernels

/// The `k` best matches of each query: `scores` `[Q, k]` in descending order and `indices`
/// (row-major `Q × k`) into the database, `-1` where the database has fewer than `k` rows —
/// faiss's `search` contract.
public struct TopK: Sendable, Equatable {
    public var scores: Tensor
    public var indices: [Int]
    public var k: Int { scores.shape[1] }

    /// `scores` `[Q, k]` (descending per row) and `indices` (`Q × k`, `-1` for padding).
    public init(scores: Tensor, indices: [Int]) {
        check(scores.rank == 2 && indices.count == scores.scalarCount, "TopK: scores \(scores.shape) and \(indices.count) indices")
        (self.scores, self.indices) = (scores, indices)
    }

    /// The (index, score) pairs of query `q`, padding dropped.
    public func results(forQuery q: Int) -> [(index: Int, score: Float)] {
        (0..<k).compactMap { j in
            let i = indices[q * k + j]
            return i < 0 ? nil : (i, scores[q, j])
        }
    }
}

/// Exact maximum-inner-product search: for each row of `queries` `[Q, D]`, the `k` rows of
/// `database` `[N, D]` with the largest dot product (cosine similarity for L2-normalised rows).
///
/// Blocked like faiss's `IndexFlatIP`: 1024 queries × 4096 database rows per GEMM
/// (`cblas_sgemm`, split over ``ComputeThreads``), each score block merged into running top-k lists
/// by an AVX2 filter against the current k-th score. Ties keep the lower database index, so
/// results are deterministic.
public func nearestNeighbors(of queries: Tensor, in database: Tensor, k: Int) -> TopK {
    check(queries.rank == 2 && database.rank == 2 && queries.shape[1] == database.shape[1],
          "nearestNeighbors: queries \(queries.shape) and database \(database.shape) must be [Q, D] and [N, D]")
    check(k >= 1, "nearestNeighbors: k must be at least 1, got \(k)")
    let (q, d, n) = (queries.shape[0], queries.shape[1], database.shape[0])
    var best = Tensor(repeating: -.infinity, shape: [q, k])
    var ids = [Int64](repeating: -1, count: q * k)
    let queryBlock = 1024, databaseBlock = 4096
    let buffer = ScratchBuffer(floats: queryBlock * databaseBlock)
    let scratch = buffer.pointer
    queries.withUnsafeBufferPointer { qp in
        database.withUnsafeBufferPointer { dp in
            best.withUnsafeMutableBufferPointer { bp in
                ids.withUnsafeMutableBufferPointer { ip in
                    let bestp = SendablePointer(bp.baseAddress!), scores = SendablePointer(scratch)
                    let idp = SendableInt64Pointer(ip.baseAddress!)
                    for q0 in stride(from: 0, to: q, by: queryBlock) {
                        let qn = min(queryBlock, q - q0)
                        for n0 in stride(from: 0, to: n, by: databaseBlock) {
                            let nn = min(databaseBlock, n - n0)
                            parallelGEMM(m: qn, n: nn, k: d, a: qp.baseAddress! + q0 * d, lda: d,
                                         b: dp.baseAddress! + n0 * d, ldb: d, transposingB: true, c: scratch, ldc: nn)
                            ComputeThreads.forEachChunk(of: qn, minimumChunk: 8) { r in
                                lk_topk_update(scores.pointer, nn, nn, Int32(k), Int64(n0), r.lowerBound, r.upperBound,
                                               bestp.pointer + q0 * k, idp.pointer + q0 * k)
                            }
                        }
                    }
                }
            }
        }
    }
    _ = n
    return TopK(scores: best, indices: ids.map { Int($0) })
}

struct SendableInt64Pointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int64>
    init(_ pointer: UnsafeMutablePointer<Int64>) { self.pointer = pointer }
}

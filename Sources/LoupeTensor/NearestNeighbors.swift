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

/// For each column `i` of `scores` `[k, b]`: the row `r` with the largest `scores[r, i] − bias[r]`
/// (the first on ties) and that value — the nearest of `k` centres to each of `b` vectors, when
/// `scores` holds their inner products and `bias` half the centres' squared norms.
public func columnArgmax(_ scores: Tensor, minus bias: [Float]) -> (values: [Float], rows: [Int32]) {
    check(scores.rank == 2 && bias.count == scores.shape[0], "columnArgmax: scores \(scores.shape), \(bias.count) biases")
    let (k, b) = (scores.shape[0], scores.shape[1])
    var values = [Float](repeating: -.infinity, count: b), rows = [Int32](repeating: 0, count: b)
    scores.withUnsafeBufferPointer { s in
        bias.withUnsafeBufferPointer { c in
            values.withUnsafeMutableBufferPointer { v in
                rows.withUnsafeMutableBufferPointer { r in
                    lk_column_argmax(s.baseAddress!, Int32(k), Int32(b), c.baseAddress!, v.baseAddress!, r.baseAddress!)
                }
            }
        }
    }
    return (values, rows)
}

/// For each row `i` of `rows` `[n, d]`: the centre `c` of `centres` `[k, d]` with the largest
/// `x_i·c − bias[c]` (the first on ties) and that value, without a `[n, k]` product in memory —
/// for few dimensions (a product quantizer's sub-vectors), where that product would cost more
/// to write than to compute. Rows are split over ``ComputeThreads``.
public func nearestCentres(of rows: Tensor, in centres: Tensor, minus bias: [Float]) -> (values: [Float], rows: [Int32]) {
    check(rows.rank == 2 && centres.rank == 2 && rows.shape[1] == centres.shape[1] && bias.count == centres.shape[0],
          "nearestCentres: rows \(rows.shape), centres \(centres.shape), \(bias.count) biases")
    let (n, d, k) = (rows.shape[0], rows.shape[1], centres.shape[0])
    let c = centres.scalars
    var transposed = [Float](repeating: 0, count: d * k)
    for a in 0..<k { for j in 0..<d { transposed[j * k + a] = c[a * d + j] } }
    var values = [Float](repeating: -.infinity, count: n), indices = [Int32](repeating: 0, count: n)
    rows.withUnsafeBufferPointer { x in
        transposed.withUnsafeBufferPointer { ct in
            bias.withUnsafeBufferPointer { h in
                values.withUnsafeMutableBufferPointer { v in
                    indices.withUnsafeMutableBufferPointer { r in
                        let (xp, ctp, hp) = (SendableConstPointer(x.baseAddress!), SendableConstPointer(ct.baseAddress!), SendableConstPointer(h.baseAddress!))
                        let (vp, rp) = (SendablePointer(v.baseAddress!), SendableInt32Pointer(r.baseAddress!))
                        ComputeThreads.forEachChunk(of: n, minimumChunk: 1024) { range in
                            lk_nearest_small(xp.pointer + range.lowerBound * d, Int32(range.count), Int32(d), ctp.pointer, hp.pointer, Int32(k),
                                             vp.pointer + range.lowerBound, rp.pointer + range.lowerBound)
                        }
                    }
                }
            }
        }
    }
    return (values, indices)
}

struct SendableInt32Pointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>
    init(_ pointer: UnsafeMutablePointer<Int32>) { self.pointer = pointer }
}

/// The product quantizer's look-up tables of `queries` `[Q, M·dsub]` against `centroids`
/// `[M, 256, dsub]`: `[Q, M, 256]`, entry `[q, j, c]` the inner product of query `q`'s sub-vector
/// `j` with centre `c` of sub-space `j`. One GEMM per sub-space reading the queries in place and
/// writing its slice of the tables in place (no copies), on the calling thread.
public func innerProductTables(_ queries: Tensor, centroids: Tensor) -> Tensor {
    check(queries.rank == 2 && centroids.rank == 3 && queries.shape[1] == centroids.shape[0] * centroids.shape[2],
          "innerProductTables: queries \(queries.shape) for centres \(centroids.shape)")
    let (nq, m, ksub, ds) = (queries.shape[0], centroids.shape[0], centroids.shape[1], centroids.shape[2])
    return Tensor(uninitializedShape: [nq, m, ksub]) { out in
        guard nq > 0 else { return }
        queries.withUnsafeBufferPointer { q in
            centroids.withUnsafeBufferPointer { c in
                for j in 0..<m {
                    singleThreadedGEMM(m: nq, n: ksub, k: ds, a: q.baseAddress! + j * ds, lda: m * ds,
                                       b: c.baseAddress! + j * ksub * ds, ldb: ds, transposingB: true,
                                       c: out.baseAddress! + j * ksub, ldc: m * ksub)
                }
            }
        }
    }
}

internal import LoupeKernels

/// The best `k` scores seen so far for each of several queries, with the id each came with:
/// the running lists that inverted-list and code scans merge into.
///
/// A score enters a query's list only when it beats the list's current k-th strictly, so ties
/// keep the id that was scanned first, and NaN never enters. Lists that saw fewer than `k`
/// scores are padded with `-inf` and id `-1` (faiss's contract, as in ``TopK``).
public struct RunningTopK: Sendable {
    public let k: Int
    public let queries: Int
    /// `[queries * k]`, each query's scores descending.
    public private(set) var scores: [Float]
    /// `[queries * k]`.
    public private(set) var ids: [Int64]

    public init(queries: Int, k: Int) {
        check(queries >= 0 && k >= 1, "RunningTopK needs k >= 1, got \(k)")
        (self.queries, self.k) = (queries, k)
        scores = Array(repeating: -.infinity, count: queries * k)
        ids = Array(repeating: -1, count: queries * k)
    }

    /// The current k-th score of `query` (`-inf` while its list is not full).
    public func threshold(ofQuery query: Int) -> Float { scores[query * k + k - 1] }

    /// Merges row `row` of `scores` `[rows, n]` into the list of `query`; column `j` has id
    /// `ids[j]`, or `base + j` when `ids` is `nil`.
    public mutating func merge(row: Int, of block: Tensor, intoQuery query: Int, ids columnIDs: [Int64]? = nil, base: Int = 0) {
        check(block.rank == 2 && row >= 0 && row < block.shape[0] && query >= 0 && query < queries, "RunningTopK.merge: row \(row) of \(block.shape), query \(query) of \(queries)")
        let n = block.shape[1]
        check(columnIDs.map { $0.count == n } ?? true, "RunningTopK.merge: \(columnIDs?.count ?? 0) ids for \(n) columns")
        let k = self.k
        block.withUnsafeBufferPointer { s in
            scores.withUnsafeMutableBufferPointer { best in
                ids.withUnsafeMutableBufferPointer { bestIDs in
                    withOptionalPointer(columnIDs) { idp in
                        lk_topk_scan_ids(s.baseAddress! + row * n, n, idp, Int64(base), Int32(k),
                                         best.baseAddress! + query * k, bestIDs.baseAddress! + query * k)
                    }
                }
            }
        }
    }

    /// Scores `count` product-quantization codes, `codes[offset ..< offset + count * m]` (one
    /// byte per sub-quantizer), against the look-up table `tables[tableRow]` `[m, 256]` of a
    /// `[Q, m, 256]` tensor, each score `bias + Σ_j table[j][code_j]`, and merges them into the
    /// list of `query`. Code `i` has id `ids[i]`, or `base + i` when `ids` is `nil`.
    public mutating func mergeCodes(_ codes: [UInt8], offset: Int = 0, count: Int, subquantizers m: Int, ids codeIDs: [Int64]? = nil,
                                    base: Int = 0, tables: Tensor, tableRow: Int, bias: Float = 0, intoQuery query: Int) {
        check(tables.rank == 3 && tables.shape[1] == m && tables.shape[2] == 256 && tableRow >= 0 && tableRow < tables.shape[0],
              "RunningTopK.mergeCodes: tables \(tables.shape) for \(m) sub-quantizers, row \(tableRow)")
        check(offset >= 0 && count >= 0 && offset + count * m <= codes.count && query >= 0 && query < queries,
              "RunningTopK.mergeCodes: \(count) codes of \(m) bytes at \(offset) in \(codes.count), query \(query) of \(queries)")
        check(codeIDs.map { $0.count == count } ?? true, "RunningTopK.mergeCodes: \(codeIDs?.count ?? 0) ids for \(count) codes")
        guard count > 0 else { return }
        let k = self.k
        tables.withUnsafeBufferPointer { t in
            codes.withUnsafeBufferPointer { c in
                scores.withUnsafeMutableBufferPointer { best in
                    ids.withUnsafeMutableBufferPointer { bestIDs in
                        withOptionalPointer(codeIDs) { idp in
                            lk_pq_scan_topk(t.baseAddress! + tableRow * m * 256, Int32(m), c.baseAddress! + offset, count, idp,
                                            Int64(base), bias, Int32(k), best.baseAddress! + query * k, bestIDs.baseAddress! + query * k)
                        }
                    }
                }
            }
        }
    }

    /// The `k` scores and ids of `query`'s list, for a C scan to merge into.
    mutating func withBestLists<R>(query: Int, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Int64>) -> R) -> R {
        let k = self.k
        return scores.withUnsafeMutableBufferPointer { best in
            ids.withUnsafeMutableBufferPointer { bestIDs in body(best.baseAddress! + query * k, bestIDs.baseAddress! + query * k) }
        }
    }

    /// Merges another set of lists over the same queries and `k` (e.g. one per thread).
    public mutating func merge(_ other: RunningTopK) {
        check(other.queries == queries && other.k == k, "RunningTopK.merge: \(other.queries) × \(other.k) into \(queries) × \(k)")
        for q in 0..<queries {
            for j in 0..<k where other.ids[q * k + j] >= 0 {
                insert(other.scores[q * k + j], id: other.ids[q * k + j], query: q)
            }
        }
    }

    /// Offers one score to the list of `query`.
    public mutating func insert(_ score: Float, id: Int64, query: Int) {
        let base = query * k
        guard score > scores[base + k - 1] else { return }
        var p = k - 1
        while p > 0 && scores[base + p - 1] < score {
            scores[base + p] = scores[base + p - 1]
            ids[base + p] = ids[base + p - 1]
            p -= 1
        }
        scores[base + p] = score
        ids[base + p] = id
    }

    /// The lists as a ``TopK`` `[queries, k]`.
    public var result: TopK {
        TopK(scores: Tensor(shape: [queries, k], scalars: scores), indices: ids.map { Int($0) })
    }
}

func withOptionalPointer<R>(_ array: [Int64]?, _ body: (UnsafePointer<Int64>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

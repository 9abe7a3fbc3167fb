internal import LoupeKernels

/// Product-quantization codes (`m` bytes each) kept in blocks of 64: each block holds byte `j` of
/// its 64 codes side by side, so that a scan reads one sub-quantizer's bytes of 64 codes with one
/// load and looks them up together (``RunningTopK/mergeCodes(_:ids:base:table:bias:intoQuery:)``).
/// The last block is padded with zeros.
public struct BlockedCodes: Sendable, Equatable {
    /// Bytes per code.
    public let subquantizers: Int
    /// Codes held.
    public private(set) var count = 0
    var storage: [UInt8] = []

    /// No codes of `subquantizers` bytes.
    public init(subquantizers: Int) {
        check(subquantizers >= 1, "BlockedCodes needs at least 1 byte per code, got \(subquantizers)")
        self.subquantizers = subquantizers
    }

    /// The codes `rows` (`[n][m]`, one after the other).
    public init(subquantizers: Int, rows: UnsafeRawBufferPointer) {
        self.init(subquantizers: subquantizers)
        append(rows: rows)
    }

    /// Appends codes `rows` (`[n][m]`: a multiple of `m` bytes).
    public mutating func append(rows: UnsafeRawBufferPointer) {
        let m = subquantizers, n = rows.count / m
        check(rows.count % m == 0, "BlockedCodes.append: \(rows.count) bytes are not whole codes of \(m)")
        guard n > 0 else { return }
        let size = lk_pq_blocked_bytes(count + n, Int32(m))
        if size > storage.count { storage.append(contentsOf: repeatElement(0, count: size - storage.count)) }
        let at = count
        storage.withUnsafeMutableBufferPointer { b in
            lk_pq_put_codes(b.baseAddress!, at, rows.bindMemory(to: UInt8.self).baseAddress!, n, Int32(m))
        }
        count += n
    }

    /// Appends codes `rows` (`[n][m]`).
    public mutating func append(rows: [UInt8]) { rows.withUnsafeBytes { append(rows: $0) } }

    /// Codes `range` as rows `[range.count][m]`.
    public func rows(_ range: Range<Int>) -> [UInt8] {
        check(range.lowerBound >= 0 && range.upperBound <= count, "BlockedCodes.rows: \(range) of \(count) codes")
        var out = [UInt8](repeating: 0, count: range.count * subquantizers)
        guard !range.isEmpty else { return out }
        storage.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { o in
                lk_pq_get_codes(b.baseAddress!, range.lowerBound, range.count, Int32(subquantizers), o.baseAddress!)
            }
        }
        return out
    }

    /// Every code, as rows `[count][m]`.
    public var allRows: [UInt8] { rows(0..<count) }

    /// The codes at `indices`, in that order.
    public func selecting(_ indices: [Int]) -> BlockedCodes {
        let all = allRows, m = subquantizers
        var rows = [UInt8]()
        rows.reserveCapacity(indices.count * m)
        for i in indices {
            check(i >= 0 && i < count, "BlockedCodes.selecting: code \(i) of \(count)")
            rows += all[(i * m)..<((i + 1) * m)]
        }
        var out = BlockedCodes(subquantizers: subquantizers)
        out.append(rows: rows)
        return out
    }
}

/// A query's product-quantization look-up table `[m, 256]` made ready for scans of
/// ``BlockedCodes``: the float entries and a byte copy of them (each entry less its
/// sub-table's minimum, in one step for all; made only where the CPU has AVX-512 VBMI), which the
/// scan looks up in registers.
public struct CodeTable: Sendable {
    let floats: [Float]
    let bytes: [UInt8]
    let subquantizers: Int
    let step: Float, offset: Float, magnitude: Float

    /// Row `row` of `tables` `[Q, m, 256]` (``innerProductTables(_:centroids:)``).
    ///
    /// - Parameter byteLookups: make the byte copy (default: where the CPU can use it); `false`
    ///   makes scans use the float table alone, as on a CPU without VBMI.
    public init(_ tables: Tensor, row: Int, byteLookups: Bool = CodeTable.usesByteLookups) {
        check(tables.rank == 3 && tables.shape[2] == 256 && row >= 0 && row < tables.shape[0], "CodeTable: row \(row) of tables \(tables.shape)")
        let m = tables.shape[1]
        let floats = tables.withUnsafeBufferPointer { Array($0[(row * m * 256)..<((row + 1) * m * 256)]) }
        // the byte copy only where a scan can use it
        var bytes = [UInt8](repeating: 0, count: byteLookups ? m * 256 : 0)
        var t = lk_pq_table()
        if !bytes.isEmpty {
            floats.withUnsafeBufferPointer { f in
                bytes.withUnsafeMutableBufferPointer { b in lk_pq_quantize_table(f.baseAddress!, Int32(m), b.baseAddress!, &t) }
            }
        }
        (self.floats, self.bytes, subquantizers, step, offset, magnitude) = (floats, bytes, m, t.step, t.offset, t.magnitude)
    }

    /// Whether scans use the byte copy on this CPU (AVX-512 VBMI at the dispatch level).
    public static var usesByteLookups: Bool { lk_pq_has_byte_lookups() != 0 }
}

extension RunningTopK {
    /// Scores every code of `codes` against `table`, each score `bias + Σ_j table[j][code_j]`,
    /// and merges them into the list of `query`: the same scores, ids and order as
    /// ``mergeCodes(_:offset:count:subquantizers:ids:base:tables:tableRow:bias:intoQuery:)`` on
    /// the same codes as rows. Code `i` has id `ids[i]`, or `base + i` when `ids` is `nil`.
    public mutating func mergeCodes(_ codes: BlockedCodes, ids codeIDs: [Int64]? = nil, base: Int = 0, table: CodeTable, bias: Float = 0,
                                    intoQuery query: Int) {
        check(table.subquantizers == codes.subquantizers && query >= 0 && query < queries,
              "RunningTopK.mergeCodes: a table of \(table.subquantizers) sub-quantizers for codes of \(codes.subquantizers), query \(query) of \(queries)")
        check(codeIDs.map { $0.count == codes.count } ?? true, "RunningTopK.mergeCodes: \(codeIDs?.count ?? 0) ids for \(codes.count) codes")
        guard codes.count > 0 else { return }
        let k = self.k
        table.floats.withUnsafeBufferPointer { f in
            table.bytes.withUnsafeBufferPointer { b in
                var t = lk_pq_table(table: f.baseAddress!, bytes: table.bytes.isEmpty ? nil : b.baseAddress, m: Int32(table.subquantizers), step: table.step,
                                    offset: table.offset, magnitude: table.magnitude)
                codes.storage.withUnsafeBufferPointer { c in
                    withBestLists(query: query) { best, bestIDs in
                        withOptionalPointer(codeIDs) { idp in
                            lk_pq_scan_blocked_topk(&t, c.baseAddress!, codes.count, idp, Int64(base), bias, Int32(k), best, bestIDs)
                        }
                    }
                }
            }
        }
    }
}

internal import Foundation
internal import LoupeTensor

/// The vectors of an index, `[count, dimension]`, kept so that appending costs the same whatever
/// the store holds: rows are copied into an open chunk tensor allocated once at its full size
/// (`chunkScalars` floats); a full chunk is sealed as it is — no copy — and a new one opened.
/// Searches walk the chunks in order; nothing ever re-concatenates the store on an add (which
/// made indexing a folder image by image quadratic).
struct RowStore: Sendable {
    /// 16 MiB of floats per chunk (3,276 rows of 1280-d): few enough blocks that a search of a
    /// grown index merges little, and opening one costs only an allocation (no zeroing: a
    /// freshly mapped chunk's pages are touched only as rows arrive).
    static let chunkScalars = 1 << 22

    let dimension: Int
    /// Rows per chunk.
    let chunkRows: Int
    private(set) var chunks: [Tensor] = []
    /// `[chunkRows, dimension]`, its first `openRows` rows written.
    private var open: Tensor?
    private var openRows = 0
    private(set) var count = 0
    /// First row of each sealed chunk.
    private var starts: [Int] = []
    /// Checks rows read from a file opened without checking them all (``RowVerifier``); `nil`:
    /// every row is known good.
    var verifier: RowVerifier?

    /// - Parameter chunkRows: rows per chunk (default: ``chunkScalars`` floats' worth); many
    ///   small stores, such as inverted lists, use smaller chunks.
    init(dimension: Int, chunkRows: Int? = nil) {
        self.dimension = dimension
        self.chunkRows = chunkRows ?? max(1, Self.chunkScalars / max(1, dimension))
    }

    /// A store holding `rows` `[n, dimension]` as one chunk.
    init(_ rows: Tensor) {
        self.init(dimension: rows.shape[1])
        count = rows.shape[0]
        if count > 0 { (chunks, starts) = ([rows], [0]) }
    }

    /// Appends `rows` `[n, dimension]` (the caller checked the shape).
    mutating func append(_ rows: Tensor) {
        let n = rows.shape[0], d = dimension
        var copied = 0
        rows.withUnsafeBufferPointer { source in
            while copied < n {
                if open == nil {
                    // every row is written before it is read: the chunk needs no zeroing
                    open = Tensor(uninitializedShape: [chunkRows, d]) { _ in }
                    openRows = 0
                }
                let take = min(n - copied, chunkRows - openRows)
                open!.withUnsafeMutableBufferPointer { target in
                    (target.baseAddress! + openRows * d).update(from: source.baseAddress! + copied * d, count: take * d)
                }
                (openRows, copied) = (openRows + take, copied + take)
                if openRows == chunkRows {
                    starts.append(chunks.isEmpty ? 0 : starts.last! + chunks.last!.shape[0])
                    chunks.append(open!)
                    open = nil
                }
            }
        }
        count += n
    }

    /// Every block of rows with the index of its first row, in order (sealed chunks, then the
    /// open chunk's written rows).
    func forEachBlock(_ body: (_ firstRow: Int, _ rows: Tensor) -> Void) {
        var start = 0
        for chunk in chunks {
            body(start, chunk)
            start += chunk.shape[0]
        }
        if let open, openRows > 0 { body(start, open.sliced(along: 0, 0..<openRows)) }
    }

    /// The blocks of ``forEachBlock(_:)`` (one empty tensor for an empty store): what a file
    /// writer streams without copying the store into one tensor.
    var blocks: [Tensor] {
        var out: [Tensor] = []
        forEachBlock { _, rows in out.append(rows) }
        return out.isEmpty ? [Tensor(zeros: [0, dimension])] : out
    }

    /// All rows as one tensor `[count, dimension]` (a copy unless the store is one sealed chunk).
    var all: Tensor {
        if openRows == 0 || open == nil, chunks.count == 1 { return chunks[0] }
        var blocks: [Tensor] = []
        forEachBlock { _, rows in blocks.append(rows) }
        return blocks.isEmpty ? Tensor(zeros: [0, dimension]) : Tensor.concatenated(blocks, along: 0)
    }

    /// Rows `range` as `[range.count, dimension]`.
    func rows(_ range: Range<Int>) -> Tensor {
        var parts: [Tensor] = []
        var start = 0
        func take(_ block: Tensor, rows: Int) {
            let lo = max(range.lowerBound, start), hi = min(range.upperBound, start + rows)
            if lo < hi { parts.append(block.sliced(along: 0, (lo - start)..<(hi - start))) }
            start += rows
        }
        for chunk in chunks { take(chunk, rows: chunk.shape[0]) }
        if let open { take(open, rows: openRows) }
        return parts.isEmpty ? Tensor(zeros: [0, dimension]) : (parts.count == 1 ? parts[0] : Tensor.concatenated(parts, along: 0))
    }

    /// The block holding `row` and the row's place in it.
    private func locate(_ row: Int) -> (block: Tensor, offset: Int) {
        let sealed = chunks.isEmpty ? 0 : starts.last! + chunks.last!.shape[0]
        if row >= sealed { return (open!, row - sealed) }
        var lo = 0, hi = starts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= row { lo = mid } else { hi = mid - 1 }
        }
        return (chunks[lo], row - starts[lo])
    }

    /// Rows `ids` (in that order) as `[ids.count, dimension]`, each checked by the verifier the
    /// first time it is read.
    func gather(_ ids: [Int]) throws(IndexError) -> Tensor {
        let d = dimension
        if let verifier { try verifier.check(ids) { locate($0) } }
        return Tensor(uninitializedShape: [ids.count, d]) { out in
            for (i, id) in ids.enumerated() {
                let (block, offset) = locate(id)
                block.withUnsafeBufferPointer { (out.baseAddress! + i * d).update(from: $0.baseAddress! + offset * d, count: d) }
            }
        }
    }

    /// Checks every row not checked yet (a no-op when the store has no verifier or all are).
    func verifyAll() throws(IndexError) {
        guard let verifier, !verifier.complete else { return }
        try verifier.check(Array(0..<min(count, verifier.rows))) { locate($0) }
    }
}

/// The per-row checks of vectors mapped from a file opened with
/// ``IndexVerification/onAccess``: each row's CRC-32C (a section of its own, itself checked when
/// the file is opened), finiteness and, where the file records unit vectors, length, checked the
/// first time a search reads the row — so that a
/// large index opens without reading its vectors, and a damaged row is still never searched.
final class RowVerifier: Sendable {
    let url: URL
    let rows: Int
    let unitLength: Bool
    private let checksums: [UInt32]
    private let verified: Locked<(bits: [UInt64], left: Int)>

    init(url: URL, checksums: [UInt32], unitLength: Bool) {
        (self.url, self.checksums, rows, self.unitLength) = (url, checksums, checksums.count, unitLength)
        verified = Locked((Array(repeating: 0, count: (checksums.count + 63) / 64), checksums.count))
    }

    /// Whether every row was checked.
    var complete: Bool { verified.withLock { $0.left == 0 } }

    /// Checks the rows of `ids` not checked before (`locate` gives a row's block and place).
    /// Rows past the file's (added since) need no check.
    func check(_ ids: [Int], locate: (Int) -> (block: Tensor, offset: Int)) throws(IndexError) {
        let pending = verified.withLock { state in ids.filter { $0 < rows && state.bits[$0 >> 6] & (1 << UInt64($0 & 63)) == 0 } }
        guard !pending.isEmpty else { return }
        for id in pending {
            let (block, offset) = locate(id)
            let good = block.withUnsafeBufferPointer { all in
                let d = all.count / max(1, block.shape[0])
                let row = UnsafeBufferPointer(rebasing: all[(offset * d)..<((offset + 1) * d)])
                return row.allSatisfy(\.isFinite) && SafetensorsFile.crc32c(of: UnsafeRawBufferPointer(row)) == checksums[id]
                    && (!unitLength || IndexFile.hasUnitLength(row))
            }
            guard good else { throw .damaged(url, section: "vectors (row \(id))") }
        }
        verified.withLock { state in
            for id in pending where state.bits[id >> 6] & (1 << UInt64(id & 63)) == 0 {
                state.bits[id >> 6] |= 1 << UInt64(id & 63)
                state.left -= 1
            }
        }
    }
}

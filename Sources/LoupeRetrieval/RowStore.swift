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
        if count > 0 { chunks = [rows] }
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
}

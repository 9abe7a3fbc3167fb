public import LoupeTensor

/// The vectors of an index, `[count, dimension]`, kept so that appending is amortised O(1) per
/// row: new rows go to a pending buffer (a Swift array, grown by doubling) that becomes a sealed
/// chunk tensor once it holds ``chunkScalars`` floats. Searches walk the chunks in order; nothing
/// ever re-concatenates the whole store on an add (which made indexing a folder image by image
/// quadratic).
struct RowStore: Sendable {
    /// About 4 MiB of floats per sealed chunk: large enough for an efficient GEMM block, small
    /// enough that sealing one costs little.
    static let chunkScalars = 1 << 20

    let dimension: Int
    private(set) var chunks: [Tensor] = []
    private var pending: [Float] = []
    private(set) var count = 0

    init(dimension: Int) { self.dimension = dimension }

    /// A store holding `rows` `[n, dimension]` as one chunk.
    init(_ rows: Tensor) {
        dimension = rows.shape[1]
        count = rows.shape[0]
        if count > 0 { chunks = [rows] }
    }

    /// Appends `rows` `[n, dimension]` (the caller checked the shape).
    mutating func append(_ rows: Tensor) {
        guard rows.shape[0] > 0 else { return }
        rows.withUnsafeBufferPointer { pending.append(contentsOf: $0) }
        count += rows.shape[0]
        if pending.count >= Self.chunkScalars {
            chunks.append(Tensor(shape: [pending.count / dimension, dimension], scalars: pending))
            pending.removeAll(keepingCapacity: true)
        }
    }

    /// Every block of rows with the index of its first row, in order (sealed chunks, then the pending rows).
    func forEachBlock(_ body: (_ firstRow: Int, _ rows: Tensor) -> Void) {
        var start = 0
        for chunk in chunks {
            body(start, chunk)
            start += chunk.shape[0]
        }
        if !pending.isEmpty { body(start, Tensor(shape: [pending.count / dimension, dimension], scalars: pending)) }
    }

    /// All rows as one tensor `[count, dimension]` (a copy when there is more than one block).
    var all: Tensor {
        if pending.isEmpty, chunks.count == 1 { return chunks[0] }
        var blocks: [Tensor] = []
        forEachBlock { _, rows in blocks.append(rows) }
        return blocks.isEmpty ? Tensor(zeros: [0, dimension]) : Tensor.concatenated(blocks, along: 0)
    }

    /// Rows `range` as `[range.count, dimension]`.
    func rows(_ range: Range<Int>) -> Tensor {
        var parts: [Tensor] = []
        forEachBlock { first, block in
            let lo = max(range.lowerBound, first), hi = min(range.upperBound, first + block.shape[0])
            if lo < hi { parts.append(block.sliced(along: 0, (lo - first)..<(hi - first))) }
        }
        return parts.isEmpty ? Tensor(zeros: [0, dimension]) : (parts.count == 1 ? parts[0] : Tensor.concatenated(parts, along: 0))
    }
}

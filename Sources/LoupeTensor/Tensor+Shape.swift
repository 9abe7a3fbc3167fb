internal import LoupeKernels
extension Tensor {
    /// The same elements viewed with another shape; storage is shared until either is mutated.
    ///
    /// One extent may be `-1`, inferred from the element count.
    /// - Precondition: the element counts agree.
    public func reshaped(to newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let hole = newShape.firstIndex(of: -1) {
            check(newShape.filter { $0 == -1 }.count == 1, "reshape \(shape) -> \(newShape): more than one -1")
            var rest = newShape
            rest.remove(at: hole)
            let known = Tensor.elementCount(of: rest)
            check(known > 0 && scalarCount % known == 0,
                         "cannot reshape \(shape) (\(scalarCount) elements) to \(newShape)")
            resolved[hole] = scalarCount / known
        }
        check(Tensor.elementCount(of: resolved) == scalarCount,
                     "cannot reshape \(shape) (\(scalarCount) elements) to \(newShape)")
        return Tensor(shape: resolved, storage: storage)
    }

    /// The elements whose index along `axis` lies in `range`, as a new contiguous tensor.
    ///
    /// `t.sliced(along: 0, 2..<4)` takes images 2 and 3 of an `[N, C, H, W]` batch;
    /// `t.sliced(along: 1, 0..<64)` its first 64 channels.
    public func sliced(along axis: Int, _ range: Range<Int>) -> Tensor {
        check(axis >= 0 && axis < rank, "axis \(axis) is out of range for shape \(shape)")
        check(range.lowerBound >= 0 && range.upperBound <= shape[axis],
                     "slice \(range) is out of bounds for axis \(axis) of shape \(shape)")
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        var newShape = shape
        newShape[axis] = range.count
        return Tensor(uninitializedShape: newShape) { out in
            withUnsafeBufferPointer { src in
                let block = range.count * inner
                for o in 0..<outer {
                    let from = (o * shape[axis] + range.lowerBound) * inner
                    out.baseAddress!.advanced(by: o * block)
                        .initialize(from: src.baseAddress!.advanced(by: from), count: block)
                }
            }
        }
    }

    /// Joins tensors along `axis`; all other extents must agree.
    ///
    /// - Precondition: `tensors` is not empty and the shapes agree off `axis`.
    public static func concatenated(_ tensors: [Tensor], along axis: Int) -> Tensor {
        check(!tensors.isEmpty, "concatenated(_:along:) needs at least one tensor")
        let first = tensors[0].shape
        check(axis >= 0 && axis < first.count, "axis \(axis) is out of range for shape \(first)")
        var total = 0
        for t in tensors {
            var a = t.shape, b = first
            check(a.count == b.count, "cannot concatenate shapes \(tensors.map(\.shape)) along \(axis)")
            a[axis] = 0
            b[axis] = 0
            check(a == b, "cannot concatenate shapes \(tensors.map(\.shape)) along \(axis)")
            total += t.shape[axis]
        }
        var newShape = first
        newShape[axis] = total
        let outer = first[..<axis].reduce(1, *)
        let inner = first[(axis + 1)...].reduce(1, *)
        return Tensor(uninitializedShape: newShape) { out in
            guard !out.isEmpty else { return }
            withBaseAddresses(tensors[...]) { sources in
                // the copies as (source, count) runs in output order
                var runs: [(UnsafePointer<Float>, Int)] = []
                runs.reserveCapacity(outer * tensors.count)
                for o in 0..<outer {
                    for (t, src) in zip(tensors, sources) where t.shape[axis] * inner > 0 {
                        let block = t.shape[axis] * inner
                        runs.append((src + o * block, block))
                    }
                }
                let y = SendablePointer(out.baseAddress!)
                // large joins (YOLOX's CSP and PAFPN concatenations) are copied by every thread,
                // each taking an equal share of the output
                ComputeThreads.forEachChunk(of: out.count, minimumChunk: 1 << 15) { range in
                    var start = 0
                    for (src, count) in runs {
                        let lo = Swift.max(start, range.lowerBound), hi = Swift.min(start + count, range.upperBound)
                        if lo < hi { (y.pointer + lo).update(from: src + (lo - start), count: hi - lo) }
                        start += count
                        if start >= range.upperBound { break }
                    }
                }
            }
        }
    }

    /// The base addresses of every tensor's elements, valid inside `body`.
    private static func withBaseAddresses<R>(_ tensors: ArraySlice<Tensor>, _ found: [UnsafePointer<Float>] = [],
                                             _ body: ([UnsafePointer<Float>]) -> R) -> R {
        guard let first = tensors.first else { return body(found) }
        return first.withUnsafeBufferPointer { buffer in
            // an empty tensor contributes no elements; any non-nil address stands in for it
            let base = buffer.baseAddress ?? UnsafePointer(bitPattern: MemoryLayout<Float>.alignment)!
            return withBaseAddresses(tensors.dropFirst(), found + [base], body)
        }
    }

    /// The axes reordered: output axis `i` is input axis `axes[i]`.
    ///
    /// `hwc.permuted([2, 0, 1])` turns an `[H, W, C]` image into `[C, H, W]`.
    public func permuted(_ axes: [Int]) -> Tensor {
        check(axes.sorted() == Array(0..<rank), "\(axes) is not a permutation of the axes of \(shape)")
        let newShape = axes.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let strides = axes.map { inStrides[$0] }
        if rank >= 2 && axes == Array(0..<(rank - 2)) + [rank - 1, rank - 2] {
            return transposedLastTwo(newShape)
        }
        return Tensor(uninitializedShape: newShape) { out in
            withUnsafeBufferPointer { src in
                guard !out.isEmpty else { return }
                var index = [Int](repeating: 0, count: rank)
                var from = 0
                for i in 0..<out.count {
                    out.initializeElement(at: i, to: src[from])
                    var axis = rank - 1
                    while axis >= 0 {
                        index[axis] += 1
                        from += strides[axis]
                        if index[axis] < newShape[axis] { break }
                        from -= strides[axis] * newShape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
    }

    /// The last two axes swapped by an 8×8-block kernel (the generic loop above steps an index per
    /// element: YOLOX's `[85, HW] → [HW, 85]` took 3 % of a detection).
    private func transposedLastTwo(_ newShape: [Int]) -> Tensor {
        let rows = shape[rank - 2], cols = shape[rank - 1], batch = scalarCount / Swift.max(1, rows * cols)
        return Tensor(uninitializedShape: newShape) { out in
            guard !out.isEmpty else { return }
            withUnsafeBufferPointer { src in
                for b in 0..<batch {
                    lk_transpose(src.baseAddress! + b * rows * cols, Int32(rows), Int32(cols), out.baseAddress! + b * rows * cols)
                }
            }
        }
    }

    /// `[N, C, H, W]` extents of a rank-4 tensor.
    ///
    /// - Precondition: `rank == 4`.
    public var nchw: (n: Int, c: Int, h: Int, w: Int) {
        check(rank == 4, "expected an [N, C, H, W] tensor, got shape \(shape)")
        return (shape[0], shape[1], shape[2], shape[3])
    }
}

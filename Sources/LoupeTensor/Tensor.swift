/// A dense, contiguous, row-major tensor of `Float` values.
///
/// `Tensor` is a value type with copy-on-write storage: copies are cheap and share memory until one
/// of them is mutated. Layout conventions used throughout Loupe:
/// - images and feature maps are `[N, C, H, W]` (NCHW);
/// - descriptors are `[N, D]`, one row per vector;
/// - convolution weights are `[OC, IC / groups, KH, KW]`, linear weights `[out, in]` (PyTorch's).
///
/// Storage is 64-byte aligned (large buffers page-aligned, from the buffer pool) so that the SIMD kernels never straddle cache lines at row starts.
public struct Tensor: Sendable {
    /// The extent of each axis, outermost first.
    public private(set) var shape: [Int]
    @usableFromInline var storage: TensorStorage

    /// A tensor of the given shape filled with zeros.
    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    /// A tensor of the given shape with every element equal to `value`.
    public init(repeating value: Float, shape: [Int]) {
        let count = Tensor.elementCount(of: shape)
        storage = TensorStorage(count: count)
        storage.base.initialize(repeating: value, count: count)
        self.shape = shape
    }

    /// A tensor of the given shape holding `scalars` in row-major order.
    ///
    /// - Precondition: `scalars.count` equals the product of `shape`.
    public init(shape: [Int], scalars: [Float]) {
        let count = Tensor.elementCount(of: shape)
        check(
            scalars.count == count,
            "Tensor(shape: \(shape)) needs \(count) scalars, got \(scalars.count)")
        let storage = TensorStorage(count: count)
        scalars.withUnsafeBufferPointer { storage.base.initialize(from: $0.baseAddress!, count: count) }
        self.storage = storage
        self.shape = shape
    }

    /// A tensor of the given shape whose storage is left for `body` to fill completely.
    ///
    /// Used by kernels that write every output element: it saves the zero fill.
    public init(
        uninitializedShape shape: [Int],
        initializingWith body: (UnsafeMutableBufferPointer<Float>) throws -> Void
    ) rethrows {
        let count = Tensor.elementCount(of: shape)
        storage = TensorStorage(count: count)
        self.shape = shape
        try body(UnsafeMutableBufferPointer(start: storage.base, count: count))
    }

    init(shape: [Int], storage: TensorStorage) {
        self.shape = shape
        self.storage = storage
    }

    /// The number of axes.
    public var rank: Int { shape.count }

    /// The number of elements: the product of `shape` (1 for a scalar of shape `[]`).
    public var scalarCount: Int { storage.count }

    /// All elements in row-major order.
    public var scalars: [Float] {
        withUnsafeBufferPointer { Array($0) }
    }

    /// Calls `body` with the elements in row-major order.
    @inlinable
    public func withUnsafeBufferPointer<R>(
        _ body: (UnsafeBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try withExtendedLifetime(storage) {
            try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
        }
    }

    /// Calls `body` with mutable access to the elements, copying the storage first if it is shared
    /// (or borrowed from a file mapping).
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) || storage.owner != nil { storage = storage.copy() }
        return try withExtendedLifetime(storage) {
            try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
        }
    }

    /// The element at a full multi-index, e.g. `t[0, 2, 5, 7]` for `[N, C, H, W]`.
    public subscript(_ index: Int...) -> Float {
        get { withUnsafeBufferPointer { $0[flatIndex(index)] } }
        set {
            let i = flatIndex(index)
            withUnsafeMutableBufferPointer { $0[i] = newValue }
        }
    }

    func flatIndex(_ index: [Int]) -> Int {
        check(index.count == shape.count, "index \(index) does not fit shape \(shape)")
        var flat = 0
        for (i, n) in zip(index, shape) {
            check(i >= 0 && i < n, "index \(index) is out of bounds for shape \(shape)")
            flat = flat * n + i
        }
        return flat
    }

    /// The product of the extents, trapping on negative extents or overflow.
    static func elementCount(of shape: [Int]) -> Int {
        var count = 1
        for n in shape {
            check(n >= 0, "negative extent in shape \(shape)")
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            check(!overflow, "shape \(shape) has more elements than Int can count")
            count = product
        }
        return count
    }
}

extension Tensor: Equatable {
    /// Equal shapes and bit-for-bit equal elements (so `NaN != NaN`, as for `Float`).
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.shape == rhs.shape else { return false }
        if lhs.storage === rhs.storage { return !lhs.scalars.contains { $0.isNaN } }
        return lhs.withUnsafeBufferPointer { a in
            rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) }
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = withUnsafeBufferPointer { $0.prefix(8).map { String($0) } }
        let more = scalarCount > 8 ? ", …" : ""
        return "Tensor(shape: \(shape), [\(preview.joined(separator: ", "))\(more)])"
    }
}

/// Reference-counted, 64-byte aligned element buffer behind ``Tensor``.
///
/// `@unchecked Sendable`: a storage is only written while uniquely referenced (copy-on-write in
/// `Tensor`) or by kernels that own the tensor they are filling, so sharing it is safe.
@usableFromInline
final class TensorStorage: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<Float>
    @usableFromInline let count: Int
    /// What keeps borrowed memory alive (a file mapping), or `nil` when the buffer is this
    /// storage's own. Borrowed memory is never written in place: several storages may borrow the
    /// same bytes (each `tensor(named:)` of a file makes one), so a write copies first.
    @usableFromInline let owner: AnyObject?

    init(count: Int) {
        self.count = count
        owner = nil
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = bytes >= BufferPool.threshold
            ? BufferPool.allocate(bytes: bytes) : UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Elements that live in memory `owner` keeps (a private, writable file mapping: a write
    /// changes this process's pages only, never the file).
    init(borrowing base: UnsafeMutablePointer<Float>, count: Int, owner: AnyObject) {
        (self.base, self.count, self.owner) = (base, count, owner)
    }

    @usableFromInline func copy() -> TensorStorage {
        let new = TensorStorage(count: count)
        new.base.initialize(from: base, count: count)
        return new
    }

    deinit {
        guard owner == nil else { return }
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if bytes >= BufferPool.threshold { BufferPool.release(UnsafeMutableRawPointer(base), bytes: bytes) }
        else { UnsafeMutableRawPointer(base).deallocate() }
    }
}

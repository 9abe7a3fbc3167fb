#if canImport(Glibc)
internal import Glibc
#endif

/// Where large tensor buffers come from: page-aligned `mmap` blocks, recycled by size.
///
/// Networks allocate and free the same few activation sizes on every forward pass. Through
/// `malloc`, blocks above glibc's dynamic mmap threshold land in the heap, and small long-lived
/// allocations between them (the embeddings an indexer keeps) stop the heap from ever shrinking
/// or reusing them: measured here, indexing grew by 24 MB per image until the kernel killed it.
/// Straight `mmap`/`munmap` fixes that but pays a page fault per 4 KiB on every layer. This pool
/// keeps freed blocks, keyed by their rounded size, up to ``cacheLimit`` bytes, and hands them
/// back to the next request of that size: no fragmentation, no repeated faults.
///
/// It is the one piece of process-wide state besides ``ComputeThreads``, and it is invisible:
/// it changes where memory comes from, never a result.
enum BufferPool {
    /// Requests of at least this many bytes use the pool; smaller ones use `malloc`.
    static let threshold = 64 * 1024
    /// Bytes of freed blocks kept for reuse (beyond it they are unmapped).
    static let cacheLimit = 512 * 1024 * 1024

    private struct Cache: ~Copyable {
        var free: [Int: [UInt]] = [:]  // addresses: raw pointers are not Sendable
        var bytes = 0
    }

    private static let cache = Locked(Cache())

    /// Rounds up to a size class: 64 KiB steps up to 1 MiB, then 1/8 of the next power of two,
    /// so that nearby sizes share blocks while wasting at most 12.5 %.
    static func sizeClass(_ bytes: Int) -> Int {
        if bytes <= 1 << 20 { return (bytes + threshold - 1) / threshold * threshold }
        let power = 1 << (Int.bitWidth - (bytes - 1).leadingZeroBitCount)
        let step = power / 8
        return (bytes + step - 1) / step * step
    }

    /// A block of at least `bytes` bytes, 4096-aligned, for sizes at or above ``threshold``.
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = sizeClass(bytes)
        let cached = cache.withLock { c -> UInt? in
            guard var list = c.free[size], let block = list.popLast() else { return nil }
            c.free[size] = list
            c.bytes -= size
            return block
        }
        if let cached, let block = UnsafeMutableRawPointer(bitPattern: cached) { return block }
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            fatalError("out of memory: mmap of \(size) bytes failed")
        }
        return p
    }

    /// Returns a block from ``allocate(bytes:)`` (with the same `bytes`).
    static func release(_ block: UnsafeMutableRawPointer, bytes: Int) {
        let size = sizeClass(bytes)
        let address = UInt(bitPattern: block)
        let kept = cache.withLock { c -> Bool in
            guard c.bytes + size <= cacheLimit else { return false }
            c.free[size, default: []].append(address)
            c.bytes += size
            return true
        }
        if !kept { munmap(block, size) }
    }
}

/// Scratch memory for kernels (im2col tiles, padded channels), from the pool when large.
struct ScratchBuffer: ~Copyable {
    let pointer: UnsafeMutablePointer<Float>
    private let bytes: Int

    init(floats: Int) {
        bytes = max(floats, 1) * MemoryLayout<Float>.stride
        if bytes >= BufferPool.threshold {
            pointer = BufferPool.allocate(bytes: bytes).bindMemory(to: Float.self, capacity: max(floats, 1))
        } else {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64).bindMemory(to: Float.self, capacity: max(floats, 1))
        }
    }

    deinit {
        if bytes >= BufferPool.threshold { BufferPool.release(UnsafeMutableRawPointer(pointer), bytes: bytes) }
        else { UnsafeMutableRawPointer(pointer).deallocate() }
    }
}

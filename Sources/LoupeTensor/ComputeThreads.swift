internal import CLoupeOpenBLAS
internal import Dispatch
import Synchronization
internal import Foundation

/// The one thread setting of Loupe: it drives every parallel loop, GEMMs included.
///
/// Every parallel loop runs on one persistent pool of `count − 1` workers plus the caller; the
/// workers poll for the next region briefly before sleeping, because a forward pass is a hundred
/// or more short regions. Convolutions run Loupe's own GEMM kernel inside each chunk; the other
/// GEMMs call a single-threaded `cblas_sgemm` per block, and OpenBLAS's own pool is kept at one
/// thread: two pools taking turns would oversubscribe the cores (OpenBLAS's idle workers spin
/// after each call, stealing a core from the loop that runs next).
///
/// The default is the number of active processors, or the `LOUPE_THREADS` environment variable
/// when it holds a positive integer.
public enum ComputeThreads {
    private static let storage = Atomic<Int>(0)

    /// The number of threads used by every parallel kernel, at least 1.
    public static var count: Int {
        get {
            let n = storage.load(ordering: .relaxed)
            if n > 0 { return n }
            let initial = defaultCount()
            apply(initial)
            return initial
        }
        set {
            check(newValue >= 1, "ComputeThreads.count must be at least 1, got \(newValue)")
            apply(newValue)
        }
    }

    private static func defaultCount() -> Int {
        if let text = ProcessInfo.processInfo.environment["LOUPE_THREADS"], let n = Int(text), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    private static func apply(_ n: Int) {
        storage.store(n, ordering: .relaxed)
        openblas_set_num_threads(1)
    }

    /// Splits `0..<total` into at most `count` contiguous chunks of at least `minimumChunk` items
    /// and runs `body` on each, in parallel when there is more than one chunk.
    ///
    /// `body` must only write to memory that belongs to its own chunk.
    public static func forEachChunk(
        of total: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void
    ) {
        guard total > 0 else { return }
        let chunks = min(count, max(1, total / max(1, minimumChunk)))
        if chunks == 1 { body(0..<total); return }
        WorkerPool.shared.run(chunks: chunks) { i in body((total * i / chunks)..<(total * (i + 1) / chunks)) }
    }

    /// Runs `body` once on each of up to `count` threads; `body` calls `next()` for the next
    /// unclaimed index of `0..<total` (`nil` when none is left). Dynamic scheduling: a thread that
    /// starts late or runs slower (another process on its core) claims fewer items, and set-up
    /// inside `body` (scratch buffers) happens once per thread, not per item.
    ///
    /// `body` must only write to memory that belongs to the items it claimed.
    public static func forEachParticipant(claiming total: Int, _ body: (_ next: () -> Int?) -> Void) {
        guard total > 0 else { return }
        let participants = min(count, total)
        let counter = ClaimCounter()
        let next = { () -> Int? in
            let i = counter.value.add(1, ordering: .relaxed).oldValue
            return i < total ? i : nil
        }
        if participants == 1 { body(next); return }
        WorkerPool.shared.run(chunks: participants) { _ in body(next) }
    }
}

private final class ClaimCounter: Sendable {
    let value = Atomic<Int>(0)
}

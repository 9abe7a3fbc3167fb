internal import Dispatch
internal import Foundation
internal import LoupeKernels
import Synchronization

/// Persistent worker threads for ``ComputeThreads/forEachChunk(of:minimumChunk:_:)``.
///
/// A network forward pass is a hundred or more short parallel regions (MobileNetV2 at 224×224:
/// many layers take 20–100 µs). Waking sleeping threads for each region — what
/// `DispatchQueue.concurrentPerform` does on Linux — costs tens of microseconds per region and
/// cancelled most of the second core's gain. These workers instead poll for the next region for a
/// short while (with the CPU's spin-wait hint) before they go to sleep on a semaphore, so that
/// back-to-back regions start within a microsecond or so.
///
/// One region runs at a time: a call made while the pool is busy (a nested call, or another
/// thread's) runs its chunks serially on the calling thread, which is always correct.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// How long an idle worker polls before it sleeps.
    static let spinNanoseconds: UInt64 = 200_000

    private final class Worker: @unchecked Sendable {
        let index: Int
        let semaphore = DispatchSemaphore(value: 0)
        let sleeping = Atomic<Bool>(false)
        init(index: Int) { self.index = index }
    }

    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    /// Only the thread that holds `busy` changes these.
    private var workers: [Worker] = []
    private var job: ((Int) -> Void)?
    private var jobChunks = 0

    /// Runs `body(i)` for `i` in `0..<chunks`, chunk 0 on the calling thread, the others on
    /// workers; returns when all are done.
    func run(chunks: Int, _ body: (Int) -> Void) {
        guard chunks > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for i in 0..<chunks { body(i) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        while workers.count < chunks - 1 { startWorker() }
        withoutActuallyEscaping(body) { body in
            job = body
            jobChunks = chunks
            // every worker acknowledges every region, so none can lag behind into the next one
            pending.store(workers.count, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            for w in workers where w.sleeping.exchange(false, ordering: .sequentiallyConsistent) { w.semaphore.signal() }
            body(0)
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins & 1023 == 0 { sched_yield() } else { lk_cpu_relax() }
            }
            job = nil
        }
    }

    private func startWorker() {
        let worker = Worker(index: workers.count + 1)
        workers.append(worker)
        let seen = generation.load(ordering: .acquiring)
        let thread = Thread { [self] in self.loop(worker, seen: seen) }
        thread.name = "loupe-worker-\(worker.index)"
        thread.start()
    }

    private func loop(_ worker: Worker, seen start: Int) {
        var seen = start
        while true {
            seen = waitForRegion(worker, after: seen)
            runChunk(worker.index)
            pending.subtract(1, ordering: .releasing)
        }
    }

    private func runChunk(_ index: Int) {
        guard index < jobChunks, let job else { return }
        job(index)
    }

    /// Polls for a generation other than `seen`, then sleeps until woken.
    private func waitForRegion(_ worker: Worker, after seen: Int) -> Int {
        var deadline: UInt64 = 0
        var spins = 0
        while true {
            let g = generation.load(ordering: .acquiring)
            if g != seen { return g }
            spins += 1
            if spins & 255 != 0 { lk_cpu_relax(); continue }
            let now = DispatchTime.now().uptimeNanoseconds
            if deadline == 0 { deadline = now + Self.spinNanoseconds; continue }
            if now < deadline { continue }
            // sleep: whoever flips `sleeping` back owns the wake-up
            worker.sleeping.store(true, ordering: .sequentiallyConsistent)
            let again = generation.load(ordering: .sequentiallyConsistent)
            if again != seen {
                if worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) { return again }
                worker.semaphore.wait()  // the poster saw the flag first and signals
                return again
            }
            worker.semaphore.wait()
            (deadline, spins) = (0, 0)
        }
    }
}

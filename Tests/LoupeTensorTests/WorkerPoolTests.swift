import Foundation
import LoupeTensor
import Synchronization
import Testing

/// `ComputeThreads.forEachChunk` runs on a persistent spinning pool: every index must be visited
/// exactly once whatever the chunking, under nesting, under concurrent callers and across changes
/// of the thread count (each in a child process, since the count is process-wide).
@Suite struct WorkerPoolTests {
    @Test func everyIndexExactlyOnceNestedConcurrentAndAcrossCounts() async {
        await #expect(processExitsWith: .success) {
            @Sendable func visits(_ total: Int, minimumChunk: Int = 1, nested: Bool = false) -> [Int] {
                let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: total)
                counts.initialize(repeating: 0)
                defer { counts.deallocate() }
                let base = Int(bitPattern: counts.baseAddress!)
                ComputeThreads.forEachChunk(of: total, minimumChunk: minimumChunk) { range in
                    let p = UnsafeMutablePointer<Int>(bitPattern: base)!
                    for i in range {
                        if nested {  // a parallel loop inside a chunk runs serially, never deadlocks
                            ComputeThreads.forEachChunk(of: 3) { inner in for _ in inner { p[i] += 1 } }
                            p[i] -= 2
                        } else {
                            p[i] += 1
                        }
                    }
                }
                return Array(counts)
            }
            // dynamic claiming: each index handed to exactly one participant
            @Sendable func claims(_ total: Int) -> [Int] {
                let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: total)
                counts.initialize(repeating: 0)
                defer { counts.deallocate() }
                let base = Int(bitPattern: counts.baseAddress!)
                ComputeThreads.forEachParticipant(claiming: total) { next in
                    let p = UnsafeMutablePointer<Int>(bitPattern: base)!
                    while let i = next() { p[i] += 1 }
                }
                return Array(counts)
            }
            for n in [1, 3, 2, 4, 2] {
                ComputeThreads.count = n
                for total in [1, 2, 5, 64, 1000] {
                    precondition(visits(total) == Array(repeating: 1, count: total), "count \(n), total \(total)")
                    precondition(visits(total, minimumChunk: 7) == Array(repeating: 1, count: total), "minimum chunk")
                    precondition(visits(total, nested: true) == Array(repeating: 1, count: total), "nested")
                    precondition(claims(total) == Array(repeating: 1, count: total), "claimed dynamically")
                }
            }
            // concurrent callers: one gets the pool, the others run their chunks on their own thread
            ComputeThreads.count = 2
            let failures = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                for _ in 0..<200 where visits(97) != Array(repeating: 1, count: 97) || claims(41) != Array(repeating: 1, count: 41) {
                    failures.add(1, ordering: .relaxed)
                }
            }
            precondition(failures.load(ordering: .relaxed) == 0, "a concurrent caller lost or repeated indices")
        }
    }
}

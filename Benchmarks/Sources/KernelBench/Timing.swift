import Foundation

/// Median wall time in seconds of each closure, run alternately (A B A B …) after a warm-up, so
/// that both sides see the same machine noise.
func medianTimes(_ bodies: [() -> Void], repetitions: Int, warmup: Int = 2) -> [Double] {
    for _ in 0..<warmup { for b in bodies { b() } }
    var samples = [[Double]](repeating: [], count: bodies.count)
    for _ in 0..<repetitions {
        for (i, b) in bodies.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            b()
            samples[i].append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
    }
    return samples.map { s in let t = s.sorted(); return t[t.count / 2] }
}

/// Enough repetitions for about `budget` seconds per closure, between 5 and 200.
func repetitions(forEstimate seconds: Double, budget: Double = 0.25) -> Int {
    max(5, min(200, Int(budget / max(seconds, 1e-6))))
}

func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
    s.count >= n ? s : (left ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
}

func fmt(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }

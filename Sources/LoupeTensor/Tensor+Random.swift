extension Tensor {
    /// A tensor of independent uniform values in `range`, reproducible from `seed`.
    ///
    /// Uses SplitMix64, so the same seed gives the same tensor on every platform — for tests,
    /// benchmarks and randomly initialised weights.
    public init(randomUniform shape: [Int], in range: ClosedRange<Float> = -1...1, seed: UInt64) {
        var generator = SplitMix(seed: seed)
        let width = range.upperBound - range.lowerBound
        self.init(uninitializedShape: shape) { out in
            for i in 0..<out.count {
                let z = generator.next()
                let unit = Float(z >> 40) / Float(1 << 24)  // [0, 1)
                out.initializeElement(at: i, to: range.lowerBound + width * unit)
            }
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a small seeded generator that gives the same sequence
/// on every platform — for seeded sampling, shuffles and tests.
public struct SplitMix: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

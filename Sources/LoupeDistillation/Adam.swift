internal import Foundation
public import LoupeTensor

/// Adam (Kingma & Ba, 2015) with bias correction, over named parameters.
///
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − lr · m̂ / (√v̂ + ε)` with
/// `m̂ = m / (1−β₁ᵗ)`, `v̂ = v / (1−β₂ᵗ)`; optional decoupled weight decay (AdamW) on weights.
public struct Adam: Sendable {
    public var learningRate: Float
    public var beta1: Float, beta2: Float, epsilon: Float
    /// Decoupled weight decay applied to parameters whose name ends in `.weight`.
    public var weightDecay: Float
    public private(set) var step = 0
    private var first: [String: [Float]] = [:], second: [String: [Float]] = [:]

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        (self.learningRate, self.beta1, self.beta2, self.epsilon, self.weightDecay) = (learningRate, beta1, beta2, epsilon, weightDecay)
    }

    /// One update of every parameter that has a gradient.
    public mutating func update(_ parameters: inout [String: Tensor], gradients: [String: Tensor]) {
        step += 1
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        for (name, g) in gradients {
            guard var theta = parameters[name] else { preconditionFailure("Adam: gradient for unknown parameter \(name)") }
            precondition(theta.shape == g.shape, "Adam: \(name) is \(theta.shape), its gradient \(g.shape)")
            var m = first[name] ?? [Float](repeating: 0, count: g.scalarCount)
            var v = second[name] ?? [Float](repeating: 0, count: g.scalarCount)
            let decay = name.hasSuffix(".weight") ? weightDecay : 0
            let (b1, b2, lr, eps) = (beta1, beta2, learningRate, epsilon)
            g.withUnsafeBufferPointer { gp in
                theta.withUnsafeMutableBufferPointer { t in
                    for i in 0..<t.count {
                        m[i] = b1 * m[i] + (1 - b1) * gp[i]
                        v[i] = b2 * v[i] + (1 - b2) * gp[i] * gp[i]
                        t[i] -= lr * ((m[i] / c1) / ((v[i] / c2).squareRoot() + eps) + decay * t[i])
                    }
                }
            }
            first[name] = m
            second[name] = v
            parameters[name] = theta
        }
    }
}

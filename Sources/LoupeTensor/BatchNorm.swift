/// A convolution's weight and bias with an inference-mode BatchNorm folded in.
///
/// BatchNorm after a convolution computes `γ · (conv(x) + b − μ) / √(σ² + ε) + β`, which is again a
/// convolution: each output channel's filter scaled by `s = γ / √(σ² + ε)` and bias
/// `s · (b − μ) + β`. Folding at load time removes a full pass over every feature map.
///
/// - Parameters:
///   - weight: `[OC, …]` (any trailing shape: convolutions and linear layers alike).
///   - bias: `[OC]`, or `nil` for a convolution without bias.
///   - gamma: `[OC]`, PyTorch's BatchNorm `weight`.
///   - beta: `[OC]`, PyTorch's BatchNorm `bias`.
///   - mean: `[OC]`, `running_mean`.
///   - variance: `[OC]`, `running_var`.
///   - epsilon: the BatchNorm's ε (PyTorch 1e-5, TensorFlow-trained EfficientNet-Lite 1e-3).
public func foldBatchNorm(
    weight: Tensor, bias: Tensor?, gamma: Tensor, beta: Tensor, mean: Tensor, variance: Tensor,
    epsilon: Float
) -> (weight: Tensor, bias: Tensor) {
    let oc = weight.shape.first ?? 0
    for (name, t) in [("gamma", gamma), ("beta", beta), ("mean", mean), ("variance", variance)] + (bias.map { [("bias", $0)] } ?? []) {
        check(t.shape == [oc], "foldBatchNorm: \(name) \(t.shape) does not fit weight \(weight.shape)")
    }
    let g = gamma.scalars, be = beta.scalars, mu = mean.scalars, v = variance.scalars
    let b = bias?.scalars ?? [Float](repeating: 0, count: oc)
    var scale = [Float](repeating: 0, count: oc), shift = [Float](repeating: 0, count: oc)
    for i in 0..<oc {
        scale[i] = g[i] / (v[i] + epsilon).squareRoot()
        shift[i] = scale[i] * (b[i] - mu[i]) + be[i]
    }
    let per = oc == 0 ? 0 : weight.scalarCount / oc
    var w = weight
    w.withUnsafeMutableBufferPointer { p in
        for i in 0..<oc { for j in 0..<per { p[i * per + j] *= scale[i] } }
    }
    return (w, Tensor(shape: [oc], scalars: shift))
}

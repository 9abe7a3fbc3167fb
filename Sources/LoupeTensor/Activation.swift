internal import LoupeKernels

/// An elementwise nonlinearity that convolution and linear kernels can fuse into their output pass.
public enum Activation: String, Sendable, Hashable, CaseIterable {
    /// `x`.
    case identity
    /// `max(x, 0)`.
    case relu
    /// `min(max(x, 0), 6)`: MobileNetV2 and EfficientNet-Lite.
    case relu6
    /// `x · σ(x)` (a.k.a. swish): YOLOX.
    case silu
    /// `σ(x) = 1 / (1 + e^(−x))`.
    case sigmoid

    var kernel: lk_activation {
        switch self {
        case .identity: LK_ACT_IDENTITY
        case .relu: LK_ACT_RELU
        case .relu6: LK_ACT_RELU6
        case .silu: LK_ACT_SILU
        case .sigmoid: LK_ACT_SIGMOID
        }
    }
}

extension Tensor {
    /// `activation` applied to every element (vectorised; SiLU and sigmoid use a polynomial `exp`
    /// accurate to a few ulp). `consuming`: applied to a temporary (`(a + b).activated(.relu)`),
    /// it works in place instead of copying.
    public consuming func activated(_ activation: Activation) -> Tensor {
        guard activation != .identity else { return self }
        let n = scalarCount
        var out = self
        let plane = 4096
        out.withUnsafeMutableBufferPointer { y in
            let base = SendablePointer(y.baseAddress!)
            let rows = (n + plane - 1) / plane
            ComputeThreads.forEachChunk(of: rows, minimumChunk: 16) { r in
                for row in r {
                    let len = min(plane, n - row * plane)
                    lk_bias_activation(base.pointer + row * plane, len, nil, len, 0, 1, activation.kernel)
                }
            }
        }
        return out
    }
}

/// A raw pointer handed to parallel chunks that write disjoint ranges of it.
struct SendablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

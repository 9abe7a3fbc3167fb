public import LoupeTensor

/// A network layer: a struct holding its weights, applied with `layer(x)`.
public protocol Layer: Sendable {
    /// `[N, C, H, W]` (or `[N, D]` for linear layers) in, the layer's output out.
    func callAsFunction(_ input: Tensor) -> Tensor
}

/// A convolution with its BatchNorm folded in and its activation fused.
public struct Conv2D: Layer {
    /// `[OC, C / groups, KH, KW]`.
    public var weight: Tensor { didSet { packed = Self.pack(weight, groups: groups, stride: stride) } }
    /// `[OC]`.
    public var bias: Tensor?
    public var stride: Int { didSet { packed = Self.pack(weight, groups: groups, stride: stride) } }
    public var padding: Padding
    public var groups: Int { didSet { packed = Self.pack(weight, groups: groups, stride: stride) } }
    public var activation: Activation
    /// The weights in the GEMM kernel's layout, packed when they are set (not for depthwise
    /// convolutions, which do not use the GEMM); 3×3 stride-1 layers are also transformed for
    /// the Winograd path.
    private var packed: PackedConvolutionWeights?

    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Padding = .valid, groups: Int = 1,
                activation: Activation = .identity) {
        (self.weight, self.bias, self.stride, self.padding, self.groups, self.activation) = (weight, bias, stride, padding, groups, activation)
        packed = Self.pack(weight, groups: groups, stride: stride)
    }

    private static func pack(_ weight: Tensor, groups: Int, stride: Int) -> PackedConvolutionWeights? {
        let depthwise = weight.rank == 4 && weight.shape[1] == 1 && groups == weight.shape[0]
        guard weight.rank == 4, groups >= 1, weight.shape[0] % groups == 0, !depthwise else { return nil }
        return PackedConvolutionWeights(weight, groups: groups, winograd: stride == 1)
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        convolution2D(input, weight: weight, bias: bias, stride: stride, padding: padding, groups: groups, activation: activation,
                      packedWeight: packed)
    }

    /// Reads `"\(conv).weight"` (and `"\(conv).bias"` when the checkpoint has one) and, when
    /// `batchNorm` is given, `"\(batchNorm).{weight,bias,running_mean,running_var}"`, folding the
    /// BatchNorm into the convolution.
    ///
    /// - Parameters:
    ///   - reader: where the weights come from; problems are recorded there.
    ///   - conv: the convolution's key prefix.
    ///   - batchNorm: the BatchNorm's key prefix, or `nil` when the checkpoint has none.
    ///   - inChannels: input channels; with `outChannels`, `kernel` and `groups` the expected weight
    ///     shape is `[outChannels, inChannels / groups, kernel, kernel]`.
    ///   - outChannels: output channels.
    ///   - kernel: kernel side.
    ///   - stride: the convolution's stride.
    ///   - padding: the convolution's padding.
    ///   - groups: convolution groups (`inChannels` for depthwise).
    ///   - activation: fused into the output pass.
    ///   - epsilon: the BatchNorm's ε (1e-5 for torchvision, 1e-3 for TF-trained EfficientNet-Lite).
    public static func load(
        _ reader: inout WeightReader, conv: String, batchNorm: String?, inChannels: Int, outChannels: Int,
        kernel: Int, stride: Int = 1, padding: Padding, groups: Int = 1, activation: Activation, epsilon: Float = 1e-5
    ) -> Conv2D {
        var weight = reader.take("\(conv).weight", shape: [outChannels, inChannels / groups, kernel, kernel])
        var bias = reader.contains("\(conv).bias") ? reader.take("\(conv).bias", shape: [outChannels]) : nil
        if let bn = batchNorm {
            let folded = foldBatchNorm(
                weight: weight, bias: bias,
                gamma: reader.take("\(bn).weight", shape: [outChannels]),
                beta: reader.take("\(bn).bias", shape: [outChannels]),
                mean: reader.take("\(bn).running_mean", shape: [outChannels]),
                variance: reader.take("\(bn).running_var", shape: [outChannels]),
                epsilon: epsilon)
            (weight, bias) = (folded.weight, folded.bias)
        }
        return Conv2D(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups, activation: activation)
    }
}

/// A fully connected layer: `[N, in]` → `[N, out]`.
public struct Linear: Layer {
    /// `[out, in]`.
    public var weight: Tensor
    /// `[out]`.
    public var bias: Tensor?

    public init(weight: Tensor, bias: Tensor?) { (self.weight, self.bias) = (weight, bias) }

    public func callAsFunction(_ input: Tensor) -> Tensor { linear(input, weight: weight, bias: bias) }

    /// Reads `"\(prefix).weight"` `[out, in]` and `"\(prefix).bias"` `[out]`.
    public static func load(_ reader: inout WeightReader, _ prefix: String, inFeatures: Int, outFeatures: Int) -> Linear {
        Linear(weight: reader.take("\(prefix).weight", shape: [outFeatures, inFeatures]),
               bias: reader.take("\(prefix).bias", shape: [outFeatures]))
    }
}

/// Convolutions applied in order, with the input added back when `residual` (an inverted
/// residual block of MobileNetV2 / EfficientNet, or a plain stage when not residual).
public struct ConvolutionSequence: Layer {
    public var convs: [Conv2D]
    public var residual: Bool

    public init(_ convs: [Conv2D], residual: Bool) { (self.convs, self.residual) = (convs, residual) }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let y = convs.reduce(input) { $1($0) }
        return residual ? y + input : y
    }
}

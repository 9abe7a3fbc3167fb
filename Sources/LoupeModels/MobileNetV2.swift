public import LoupeImage
public import LoupeTensor

/// MobileNetV2 (Sandler et al., 2018) with torchvision's layout and key names, width 1.0.
///
/// `features.0` is a 3×3 stride-2 convolution to 32 channels; `features.1…17` are inverted
/// residual blocks (1×1 expansion, 3×3 depthwise, 1×1 linear projection, residual when the stride
/// is 1 and the channels match); `features.18` is a 1×1 convolution to 1280 channels — the stride-32
/// map Loupe pools. Activations ReLU6, BatchNorm ε = 1e-5 folded at load time, symmetric padding.
/// Input: RGB, ImageNet mean/std.
public struct MobileNetV2: ClassificationBackbone {
    /// `features.0` … `features.18`.
    let stages: [ConvolutionSequence]
    let classifier: Linear
    public let kind = BackboneKind.mobileNetV2
    public let normalization = Normalization.imageNet
    public var stageNames: [String] { (0..<stages.count).map { "features.\($0)" } }
    public var defaultStage: String { "features.18" }

    /// (expansion t, output channels c, repeats n, first stride s) of torchvision's table.
    static let settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    public init(_ state: StateDict) throws(WeightLoadingError) {
        var r = WeightReader(state)
        var stages: [ConvolutionSequence] = []
        stages.append(ConvolutionSequence([Conv2D.load(&r, conv: "features.0.0", batchNorm: "features.0.1", inChannels: 3, outChannels: 32,
                                                kernel: 3, stride: 2, padding: .symmetric(1), activation: .relu6)], residual: false))
        var inC = 32
        for (t, c, n, s) in Self.settings {
            for i in 0..<n {
                let p = "features.\(stages.count).conv"
                let stride = i == 0 ? s : 1
                let hidden = inC * t
                var convs: [Conv2D] = []
                var index = 0
                if t != 1 {
                    convs.append(Conv2D.load(&r, conv: "\(p).0.0", batchNorm: "\(p).0.1", inChannels: inC, outChannels: hidden,
                                             kernel: 1, padding: .valid, activation: .relu6))
                    index = 1
                }
                convs.append(Conv2D.load(&r, conv: "\(p).\(index).0", batchNorm: "\(p).\(index).1", inChannels: hidden, outChannels: hidden,
                                         kernel: 3, stride: stride, padding: .symmetric(1), groups: hidden, activation: .relu6))
                convs.append(Conv2D.load(&r, conv: "\(p).\(index + 1)", batchNorm: "\(p).\(index + 2)", inChannels: hidden, outChannels: c,
                                         kernel: 1, padding: .valid, activation: .identity))
                stages.append(ConvolutionSequence(convs, residual: stride == 1 && inC == c))
                inC = c
            }
        }
        stages.append(ConvolutionSequence([Conv2D.load(&r, conv: "features.18.0", batchNorm: "features.18.1", inChannels: 320, outChannels: 1280,
                                                kernel: 1, padding: .valid, activation: .relu6)], residual: false))
        classifier = Linear.load(&r, "classifier.1", inFeatures: 1280, outFeatures: 1000)
        try r.finish()
        self.stages = stages
    }

    public func features(_ input: Tensor, at names: Set<String>) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        var x = input
        for (i, stage) in stages.enumerated() {
            if out.count == names.count { break }
            x = stage(x)
            if names.contains("features.\(i)") { out["features.\(i)"] = x }
        }
        return out
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let map = stages.reduce(input) { $1($0) }
        return classifier(globalAveragePool(map))
    }
}

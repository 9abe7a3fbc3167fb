public import LoupeImage
public import LoupeTensor

/// ResNet-18/34/50/101/152 with torchvision's v1.5 layout and key names (the stride of a
/// bottleneck sits on its 3×3 convolution), the paper's backbone.
///
/// `conv1` 7×7/2 + `bn1` + ReLU + 3×3/2 max pool, then `layer1…4` (= conv2_x…conv5_x, strides
/// 4, 8, 16, 32), global average pool, `fc`. BatchNorm ε = 1e-5 folded at load time. Input: RGB,
/// ImageNet mean/std. The official checkpoints cannot be had on this project's machines; users who
/// hold them convert them with `Scripts/loupe_weights.py torch`.
public struct ResNet: ClassificationBackbone {
    /// Depth and block type; `blockCounts` per layer.
    public enum Depth: Sendable {
        case resnet18, resnet34, resnet50, resnet101, resnet152
        var blockCounts: [Int] {
            switch self {
            case .resnet18: [2, 2, 2, 2]
            case .resnet34, .resnet50: [3, 4, 6, 3]
            case .resnet101: [3, 4, 23, 3]
            case .resnet152: [3, 8, 36, 3]
            }
        }
        var bottleneck: Bool { self != .resnet18 && self != .resnet34 }
        var kind: BackboneKind {
            switch self {
            case .resnet18: .resnet18
            case .resnet34: .resnet34
            case .resnet50: .resnet50
            case .resnet101: .resnet101
            case .resnet152: .resnet152
            }
        }
    }

    struct Block: Sendable {
        var convs: [Conv2D]       // the last one has no activation: ReLU comes after the sum
        var downsample: Conv2D?
        func callAsFunction(_ x: Tensor) -> Tensor {
            let y = convs.reduce(x) { $1($0) }
            let shortcut = downsample.map { $0(x) } ?? x
            return (y + shortcut).activated(.relu)
        }
    }

    let stem: Conv2D
    let layers: [[Block]]
    let classifier: Linear
    public let kind: BackboneKind
    public let normalization = Normalization.imageNet
    public var stageNames: [String] { ["stem", "layer1", "layer2", "layer3", "layer4"] }
    public var defaultStage: String { "layer4" }
    public var stageAliases: [String: String] {
        ["last": "layer4", "conv2_x": "layer1", "conv3_x": "layer2", "conv4_x": "layer3", "conv5_x": "layer4"]
    }

    public init(_ state: StateDict, depth: Depth) throws(WeightLoadingError) {
        kind = depth.kind
        var r = WeightReader(state)
        stem = Conv2D.load(&r, conv: "conv1", batchNorm: "bn1", inChannels: 3, outChannels: 64, kernel: 7, stride: 2,
                           padding: .symmetric(3), activation: .relu)
        let expansion = depth.bottleneck ? 4 : 1
        var inC = 64
        var layers: [[Block]] = []
        for (l, count) in depth.blockCounts.enumerated() {
            let width = 64 << l
            var blocks: [Block] = []
            for b in 0..<count {
                let p = "layer\(l + 1).\(b)"
                let stride = b == 0 && l > 0 ? 2 : 1
                var convs: [Conv2D] = []
                if depth.bottleneck {
                    convs.append(Conv2D.load(&r, conv: "\(p).conv1", batchNorm: "\(p).bn1", inChannels: inC, outChannels: width, kernel: 1, padding: .valid, activation: .relu))
                    convs.append(Conv2D.load(&r, conv: "\(p).conv2", batchNorm: "\(p).bn2", inChannels: width, outChannels: width, kernel: 3, stride: stride, padding: .symmetric(1), activation: .relu))
                    convs.append(Conv2D.load(&r, conv: "\(p).conv3", batchNorm: "\(p).bn3", inChannels: width, outChannels: width * 4, kernel: 1, padding: .valid, activation: .identity))
                } else {
                    convs.append(Conv2D.load(&r, conv: "\(p).conv1", batchNorm: "\(p).bn1", inChannels: inC, outChannels: width, kernel: 3, stride: stride, padding: .symmetric(1), activation: .relu))
                    convs.append(Conv2D.load(&r, conv: "\(p).conv2", batchNorm: "\(p).bn2", inChannels: width, outChannels: width, kernel: 3, padding: .symmetric(1), activation: .identity))
                }
                var downsample: Conv2D?
                if stride != 1 || inC != width * expansion {
                    downsample = Conv2D.load(&r, conv: "\(p).downsample.0", batchNorm: "\(p).downsample.1", inChannels: inC,
                                             outChannels: width * expansion, kernel: 1, stride: stride, padding: .valid, activation: .identity)
                }
                blocks.append(Block(convs: convs, downsample: downsample))
                inC = width * expansion
            }
            layers.append(blocks)
        }
        classifier = Linear.load(&r, "fc", inFeatures: inC, outFeatures: 1000)
        try r.finish()
        self.layers = layers
    }

    func runStem(_ x: Tensor) -> Tensor { maxPool2D(stem(x), kernelSize: 3, stride: 2, padding: .symmetric(1)) }

    public func features(_ input: Tensor, at names: Set<String>) -> [String: Tensor] {
        let wanted = Set(names.compactMap { resolve(stage: $0) })
        var out: [String: Tensor] = [:]
        var x = runStem(input)
        if wanted.contains("stem") { out["stem"] = x }
        for (l, blocks) in layers.enumerated() where out.count < wanted.count {
            x = blocks.reduce(x) { $1($0) }
            if wanted.contains("layer\(l + 1)") { out["layer\(l + 1)"] = x }
        }
        // answer under the names asked for (aliases included)
        var answer: [String: Tensor] = [:]
        for name in names { if let stage = resolve(stage: name), let map = out[stage] { answer[name] = map } }
        return answer
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let map = layers.joined().reduce(runStem(input)) { $1($0) }
        return classifier(globalAveragePool(map))
    }
}

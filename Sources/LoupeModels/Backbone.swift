public import Foundation
public import LoupeImage
public import LoupeTensor

/// A network whose named intermediate feature maps can be taken out: a classifier, or a detector
/// used as a "detection backbone" (the paper's finding 1 compares the two).
public protocol FeatureBackbone: Sendable {
    /// The model's name in recipes and on the command line (`mobilenet_v2`, `yolox_nano`).
    var name: String { get }
    /// Stage names in forward order; each can be tapped.
    var stageNames: [String] { get }
    /// The stage whose map the retrieval pipeline pools by default (the last convolutional one).
    var defaultStage: String { get }
    /// The input convention of the checkpoint.
    var normalization: Normalization { get }
    /// Runs the network on `input` `[N, 3, H, W]` up to the last stage named in `stages` and
    /// returns those stages' maps `[N, C, H / s, W / s]` by name.
    func features(_ input: Tensor, at stages: Set<String>) -> [String: Tensor]
    /// Alternative names for stages (ResNet's `conv4_x` for `layer3`; `last` for the default).
    var stageAliases: [String: String] { get }
    /// Input height and width must be multiples of this (1 for classifiers; 32 for YOLOX, whose
    /// PAFPN concatenates upsampled stride-32 maps with stride-16 ones). The embedder pads.
    var inputMultiple: Int { get }
    /// The value padding takes, in 0...255 pixel units (YOLOX's letterbox grey 114).
    var paddingValue: Float { get }
}

/// An ImageNet classification network whose intermediate feature maps can be taken out.
///
/// The paper's object is the feature map of such a network: ``FeatureBackbone/features(_:at:)``
/// returns any named stage (`features.18` of MobileNetV2, `layer3`/`conv4_x` of ResNet, …) for the
/// layer sweep, and ``callAsFunction(_:)`` the 1000 ImageNet logits.
public protocol ClassificationBackbone: FeatureBackbone {
    /// Which network this is.
    var kind: BackboneKind { get }
    /// ImageNet logits `[N, 1000]`.
    func callAsFunction(_ input: Tensor) -> Tensor
}

extension ClassificationBackbone {
    public var name: String { kind.rawValue }
}

extension FeatureBackbone {
    public var inputMultiple: Int { 1 }
    public var paddingValue: Float { 0 }

    /// The map of one stage (`defaultStage` when `nil`).
    public func featureMap(_ input: Tensor, at stage: String? = nil) -> Tensor {
        let name = stage ?? defaultStage
        guard let map = features(input, at: [name])[name] else {
            preconditionFailure("\(self.name) has no stage '\(name)'; stages: \(stageNames.joined(separator: ", "))")
        }
        return map
    }

    /// Checks stage names up front, for user-facing errors.
    public func validate(stage: String) throws(BackboneError) {
        guard stageNames.contains(stage) || stageAliases[stage] != nil else {
            throw .unknownStage(stage, model: name, known: stageNames)
        }
    }

    public var stageAliases: [String: String] { ["last": defaultStage] }

    /// The stage a name or alias refers to.
    public func resolve(stage: String) -> String? {
        stageNames.contains(stage) ? stage : stageAliases[stage]
    }
}

/// The classification backbones Loupe implements, by their checkpoint file stems.
public enum BackboneKind: String, Sendable, Hashable, Codable, CaseIterable {
    case mobileNetV2 = "mobilenet_v2"
    case efficientNetLite0 = "efficientnet_lite0", efficientNetLite1 = "efficientnet_lite1"
    case efficientNetLite2 = "efficientnet_lite2", efficientNetLite3 = "efficientnet_lite3"
    case efficientNetLite4 = "efficientnet_lite4"
    case resnet18, resnet34, resnet50, resnet101, resnet152

    /// Loads the network from a safetensors file with the checkpoint's own key names.
    public func load(from url: URL) throws -> any ClassificationBackbone {
        let state = try StateDict(contentsOf: url)
        return try load(state)
    }

    /// Builds the network from a state dict, verifying every key and shape.
    public func load(_ state: StateDict) throws(WeightLoadingError) -> any ClassificationBackbone {
        switch self {
        case .mobileNetV2: try MobileNetV2(state)
        case .efficientNetLite0, .efficientNetLite1, .efficientNetLite2, .efficientNetLite3, .efficientNetLite4:
            try EfficientNetLite(state, kind: self)
        case .resnet18: try ResNet(state, depth: .resnet18)
        case .resnet34: try ResNet(state, depth: .resnet34)
        case .resnet50: try ResNet(state, depth: .resnet50)
        case .resnet101: try ResNet(state, depth: .resnet101)
        case .resnet152: try ResNet(state, depth: .resnet152)
        }
    }
}

/// Errors a user can cause when choosing models and stages.
public enum BackboneError: Error, Equatable, CustomStringConvertible {
    case unknownModel(String)
    case unknownStage(String, model: String, known: [String])
    case missingWeights(model: String, path: String)

    public var description: String {
        switch self {
        case let .unknownModel(name):
            "unknown model '\(name)'; known: \(BackboneKind.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .unknownStage(stage, model, known): "\(model) has no stage '\(stage)'; stages: \(known.joined(separator: ", "))"
        case let .missingWeights(model, path): "no weights for \(model) at \(path)"
        }
    }
}

/// One ImageNet prediction.
public struct Prediction: Sendable, Equatable, Codable {
    /// Class index 0...999 (torchvision's order: WordNet ids sorted).
    public var classIndex: Int
    public var label: String
    public var probability: Float
}

extension ClassificationBackbone {
    /// The `k` most probable classes of each image (softmax over the logits).
    public func classify(_ input: Tensor, top k: Int = 5, labels: ImageNetLabels? = nil) -> [[Prediction]] {
        let logits = self(input)
        let (n, classes) = (logits.shape[0], logits.shape[1])
        let values = logits.scalars
        return (0..<n).map { i in
            let row = values[(i * classes)..<((i + 1) * classes)]
            let maxLogit = row.max() ?? 0
            let exps = row.map { Double(exp($0 - maxLogit)) }
            let total = exps.reduce(0, +)
            return exps.enumerated().sorted { ($0.element, -$0.offset) > ($1.element, -$1.offset) }.prefix(k).map {
                Prediction(classIndex: $0.offset, label: labels?.name(of: $0.offset) ?? "class \($0.offset)",
                           probability: Float($0.element / total))
            }
        }
    }
}

extension ClassificationBackbone {
    /// The standard ImageNet evaluation input: shorter side scaled to `size · 256 / 224` (antialiased
    /// bilinear), centre crop `size × size`, the backbone's normalisation. `[1, 3, size, size]`.
    public func classificationInput(_ image: Image, size: Int = 224) -> Tensor {
        let shorter = Int((Double(size) * 256 / 224).rounded())
        let scale = Double(shorter) / Double(min(image.width, image.height))
        let w = max(size, Int((Double(image.width) * scale).rounded())), h = max(size, Int((Double(image.height) * scale).rounded()))
        return image.resized(width: w, height: h).centerCropped(width: size, height: size).tensor(normalization)
    }
}

public import LoupeImage
public import LoupeModels
public import LoupeTensor

/// YOLOX as a feature backbone, for the paper's "detection embeddings": its backbone maps
/// (`dark3`, `dark4`, `dark5`) or PAFPN maps (`pan3`, `pan4`, `pan5`) pooled like any
/// classifier's (`--model yolox_nano:dark5`). Input BGR 0–255, sides padded to multiples of 32
/// with YOLOX's grey 114.
public struct YOLOXBackbone: FeatureBackbone {
    public let model: YOLOX
    public var name: String { "yolox_\(model.size.rawValue)" }
    public var stageNames: [String] { YOLOX.stageNames }
    /// The PAFPN's stride-32 output, the map YOLOX's own head reads at the coarsest level.
    public var defaultStage: String { "pan5" }
    public var normalization: Normalization { .bgr255 }
    public var inputMultiple: Int { 32 }
    public var paddingValue: Float { 114 }

    public init(_ model: YOLOX) { self.model = model }

    public func features(_ input: Tensor, at stages: Set<String>) -> [String: Tensor] {
        let wanted = Set(stages.compactMap { resolve(stage: $0) })
        return model.features(input).filter { wanted.contains($0.key) }
    }
}

/// The variants of YOLOX (Ge et al., 2021) by their released names; `YOLOX.Size` in LoupeDetection.
public enum YOLOXVariant: String, Sendable, Hashable, Codable, CaseIterable {
    case nano, tiny, s, m, l, x
}

/// Which network makes a feature map: an ImageNet classifier, or YOLOX used as a feature backbone
/// (the paper's detection embeddings). Recipes, weight stores and the command line name models by
/// ``name``, which is also the stem of the weights file (`mobilenet_v2.safetensors`).
///
/// Encoded as its name (`"mobilenet_v2"`, `"yolox_nano"`), so a recipe reads as it is written on
/// the command line and an unknown name fails to decode instead of turning into something else.
public enum ModelIdentifier: Sendable, Hashable, Codable, CustomStringConvertible {
    case classifier(BackboneKind)
    case yolox(YOLOXVariant)

    /// Every model Loupe implements: the classifiers, then the YOLOX variants.
    public static var allCases: [ModelIdentifier] {
        BackboneKind.allCases.map(ModelIdentifier.classifier) + YOLOXVariant.allCases.map(ModelIdentifier.yolox)
    }

    /// `mobilenet_v2`, `resnet50`, `yolox_nano`, …
    public var name: String {
        switch self {
        case let .classifier(kind): kind.rawValue
        case let .yolox(variant): "yolox_\(variant.rawValue)"
        }
    }

    public var description: String { name }

    /// The model a name stands for, or `nil` for a name Loupe does not know.
    public init?(name: String) {
        if let kind = BackboneKind(rawValue: name) { self = .classifier(kind); return }
        guard name.hasPrefix("yolox_"), let variant = YOLOXVariant(rawValue: String(name.dropFirst("yolox_".count))) else { return nil }
        self = .yolox(variant)
    }

    /// The weights file names a store looks for, in order: `NAME.safetensors`, and for YOLOX also
    /// the COCO checkpoint's `NAME_coco.safetensors` (the name it ships under in ../shared/models).
    public var fileNames: [String] {
        switch self {
        case .classifier: ["\(name).safetensors"]
        case .yolox: ["\(name).safetensors", "\(name)_coco.safetensors"]
        }
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let model = ModelIdentifier(name: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown model '\(name)'"))
        }
        self = model
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

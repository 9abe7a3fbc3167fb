internal import Foundation
public import LoupeModels
public import LoupeWhitening
internal import LoupeTensor

/// Everything that determines what an embedding means, as typed values: the model and its
/// weights, the stage, the pooling, the sizes, the whitening and the mode (global, objects, or a
/// distilled student). Two vectors are comparable only if their recipes are
/// ``isCompatible(with:)``; an index records its recipe, refuses queries of another one, and can
/// rebuild the embedder that made its vectors from it (LoupeEmbedding's `makeGlobalEmbedder` /
/// `makeRegionEmbedder`).
///
/// Stored as versioned JSON (``json``, ``init(json:settings:)``); recipes written by Loupe before the
/// typed recipe (version 1: strings such as `"objects:attention:roialign7"` and a settings
/// dictionary beside them) are converted on load by ``init(legacyJSON:settings:)``.
public struct EmbeddingRecipe: Sendable, Hashable, CustomStringConvertible {
    /// Version of the JSON form written by ``json``.
    public static let formatVersion = 2

    /// The network whose map is pooled.
    public var model: ModelIdentifier
    /// Identity of the weights file: the checkpoint's SHA-256 when the converter recorded one,
    /// else `fnv1a64:` and the FNV-1a hash of the file. Set by the weight store that loaded the
    /// network, never by hand.
    public var weightsChecksum: String
    /// Stage of the backbone whose map is pooled (`features.18`, `layer4`, `dark5`, …).
    public var stage: String
    /// The pooling of a map into one vector.
    public var pooling: GlobalPooling
    /// Input scales, combined by a power mean (`[1]` for single scale).
    public var scales: [Float]
    /// Images are resized so that their longer side is this many pixels (before scaling).
    public var maxSize: Int
    /// The whitening applied to every vector, if any.
    public var whitening: WhiteningIdentity?
    /// Output dimension.
    public var dimension: Int
    /// One vector per image, or one per region (and how regions are found and embedded).
    public var mode: EmbeddingMode

    public init(model: ModelIdentifier, weightsChecksum: String, stage: String, pooling: GlobalPooling, scales: [Float] = [1],
                maxSize: Int, whitening: WhiteningIdentity? = nil, dimension: Int, mode: EmbeddingMode = .global) {
        (self.model, self.weightsChecksum, self.stage, self.pooling) = (model, weightsChecksum, stage, pooling)
        (self.scales, self.maxSize, self.whitening, self.dimension, self.mode) = (scales, maxSize, whitening, dimension, mode)
    }

    public var description: String {
        "\(model)/\(stage) \(pooling) scales \(scales.map { String($0) }.joined(separator: ",")) max \(maxSize) "
            + "whitening \(whitening.map(\.description) ?? "none") d=\(dimension) \(mode)"
    }

    /// The fields in which two recipes make different vectors, by name (empty: comparable).
    ///
    /// The region proposal is not among them: it decides which regions an image is cut into,
    /// not what a region's vector means, so a query may propose more or fewer boxes than the
    /// index did. Nor is a student head's file name: only its checksum.
    public func differences(from other: EmbeddingRecipe) -> [String] {
        var out: [String] = []
        if model != other.model { out.append("model \(model) ≠ \(other.model)") }
        if weightsChecksum != other.weightsChecksum { out.append("weights \(weightsChecksum) ≠ \(other.weightsChecksum)") }
        if stage != other.stage { out.append("stage \(stage) ≠ \(other.stage)") }
        if pooling != other.pooling { out.append("pooling \(pooling) ≠ \(other.pooling)") }
        if scales != other.scales { out.append("scales \(scales) ≠ \(other.scales)") }
        if maxSize != other.maxSize { out.append("max size \(maxSize) ≠ \(other.maxSize)") }
        if whitening != other.whitening {
            out.append("whitening \(whitening.map(\.description) ?? "none") ≠ \(other.whitening.map(\.description) ?? "none")")
        }
        if dimension != other.dimension { out.append("dimension \(dimension) ≠ \(other.dimension)") }
        if !mode.makesSameVectors(as: other.mode) { out.append("mode \(mode) ≠ \(other.mode)") }
        return out
    }

    /// Whether vectors of `other` can be compared with vectors of this recipe.
    public func isCompatible(with other: EmbeddingRecipe) -> Bool { differences(from: other).isEmpty }

    /// This recipe without its whitening and in global mode: what a whitening is learned on.
    public var unwhitenedGlobal: EmbeddingRecipe {
        var r = self
        r.whitening = nil
        r.mode = .global
        return r
    }
}

/// How vectors relate to images.
public enum EmbeddingMode: Sendable, Hashable, Codable, CustomStringConvertible {
    /// One vector per image.
    case global
    /// The whole image and each region as its own vector, embedded on the classifier
    /// (`ObjectMethod`), the regions proposed by `proposal`.
    case objects(ObjectMethod, proposal: RegionProposal)
    /// The whole image and each region embedded by a student head inside the detector.
    case student(StudentHeadIdentity, proposal: RegionProposal)

    /// The region proposal of an object or student mode.
    public var proposal: RegionProposal? {
        switch self {
        case .global: nil
        case let .objects(_, proposal), let .student(_, proposal): proposal
        }
    }

    /// Whether the two modes embed a given region the same way (proposals and head file names aside).
    public func makesSameVectors(as other: EmbeddingMode) -> Bool {
        switch (self, other) {
        case (.global, .global): true
        case let (.objects(a, _), .objects(b, _)): a == b
        case let (.student(a, _), .student(b, _)): a.checksum == b.checksum
        default: false
        }
    }

    public var description: String {
        switch self {
        case .global: "global"
        case let .objects(method, _): "objects:\(method)"
        case let .student(head, _): "objects:student:\(head.checksum)"
        }
    }
}

/// How an object region is embedded on the classifier.
public enum ObjectMethod: Sendable, Hashable, Codable, CustomStringConvertible {
    /// One backbone pass; each box is pooled on the classifier's map (the paper's hard attention).
    case hardAttention(RegionSampling)
    /// Each box cropped and embedded on its own at longer side `maxSize`: the crop teacher.
    case cropTeacher(maxSize: Int)

    public var description: String {
        switch self {
        case let .hardAttention(sampling): "attention:\(sampling)"
        case let .cropTeacher(maxSize): "teacher:\(maxSize)"
        }
    }
}

/// A distilled student head, as a recipe names it: the head's file name (where a weight store
/// looks for it) and the checksum `loupe distill` recorded in it (what the vectors depend on).
public struct StudentHeadIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file name, e.g. `head.safetensors`.
    public var fileName: String
    /// The checksum recorded in the head file.
    public var checksum: String

    public init(fileName: String, checksum: String) { (self.fileName, self.checksum) = (fileName, checksum) }

    public var description: String { "\(fileName) (\(checksum))" }
}

/// A whitening as a recipe names it: its method, output dimension and a checksum of its projection.
public struct WhiteningIdentity: Sendable, Hashable, Codable, CustomStringConvertible {
    public var method: Whitening.Method
    public var outputDimension: Int
    /// FNV-1a over the projection's float bits.
    public var checksum: String

    public init(method: Whitening.Method, outputDimension: Int, checksum: String) {
        (self.method, self.outputDimension, self.checksum) = (method, outputDimension, checksum)
    }

    /// The identity of `whitening`.
    public init(of whitening: Whitening) {
        var h = FNV1a()
        whitening.projection.withUnsafeBufferPointer { for v in $0 { h.combine(UInt64(v.bitPattern)) } }
        self.init(method: whitening.method, outputDimension: whitening.outputDimension, checksum: h.hex)
    }

    public var description: String { "\(method.rawValue):\(outputDimension):\(checksum)" }
}

/// Which regions of an image become objects: the detector's boxes, kept class-agnostically.
/// Part of an object recipe, so that queries propose regions the way the index did.
public struct RegionProposal: Sendable, Hashable, Codable {
    /// The detector that proposes the boxes (YOLOX-Nano: the one whose COCO weights are here).
    public var detector: YOLOXVariant
    /// Keep at most this many boxes, best first. 5 is the prototype's `top5` setting, the best
    /// of those it measured on SMVS.
    public var maximumObjects: Int
    /// Minimum objectness × class probability. Low by default: YOLOX-Nano scores DVD covers,
    /// paintings and other non-COCO objects low, yet their boxes are good regions; `maximumObjects`
    /// bounds the count.
    public var scoreThreshold: Float
    /// IoU above which the lower-scoring box is suppressed, across classes.
    public var nmsThreshold: Float
    /// Boxes whose shorter side is below this many pixels of the original image are dropped.
    public var minimumSide: Float
    /// The detector's letterbox size (416: YOLOX-Nano's training size).
    public var inputSize: Int

    public init(detector: YOLOXVariant = .nano, maximumObjects: Int = 5, scoreThreshold: Float = 0.01, nmsThreshold: Float = 0.45,
                minimumSide: Float = 8, inputSize: Int = 416) {
        (self.detector, self.maximumObjects, self.scoreThreshold, self.nmsThreshold) = (detector, maximumObjects, scoreThreshold, nmsThreshold)
        (self.minimumSide, self.inputSize) = (minimumSide, inputSize)
    }

    /// The problems of this proposal, if any: a negative count, thresholds outside 0...1, a
    /// negative or non-finite minimum side, a detector size that is not a positive multiple of 32.
    public var problems: [String] {
        var out: [String] = []
        if maximumObjects < 0 { out.append("the number of objects must be at least 0, got \(maximumObjects)") }
        if !(0...1).contains(scoreThreshold) { out.append("the object score threshold must lie in 0...1, got \(scoreThreshold)") }
        if !(0...1).contains(nmsThreshold) { out.append("the object NMS threshold must lie in 0...1, got \(nmsThreshold)") }
        if !(minimumSide >= 0 && minimumSide.isFinite) { out.append("the minimum object side must be a finite number ≥ 0, got \(minimumSide)") }
        if inputSize < 32 || inputSize % 32 != 0 { out.append("the detector size must be a positive multiple of 32, got \(inputSize)") }
        return out
    }

    enum CodingKeys: String, CodingKey { case detector, maximumObjects, scoreThreshold, nmsThreshold, minimumSide, inputSize }

    /// Decodes every field, the detector defaulting to YOLOX-Nano (the only one before it was recorded).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(detector: try c.decodeIfPresent(YOLOXVariant.self, forKey: .detector) ?? .nano,
                  maximumObjects: try c.decode(Int.self, forKey: .maximumObjects),
                  scoreThreshold: try c.decode(Float.self, forKey: .scoreThreshold),
                  nmsThreshold: try c.decode(Float.self, forKey: .nmsThreshold),
                  minimumSide: try c.decode(Float.self, forKey: .minimumSide),
                  inputSize: try c.decode(Int.self, forKey: .inputSize))
    }
}

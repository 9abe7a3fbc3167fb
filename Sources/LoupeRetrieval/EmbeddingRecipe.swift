internal import Foundation

/// Everything that determines what an embedding means. Two vectors are comparable only if they
/// were made by the same recipe; an index records its recipe and refuses queries of another one.
public struct EmbeddingRecipe: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Backbone name (`mobilenet_v2`, …).
    public var model: String
    /// Checksum of the weights file (the checkpoint's SHA-256 when the converter recorded one).
    public var weightsChecksum: String
    /// Stage of the backbone whose map is pooled (`features.18`, `layer4`, …).
    public var stage: String
    /// Pooling, e.g. `gem`, `gem(p=4)`, `rmac`.
    public var pooling: String
    /// Input scales, combined by a power mean (`[1]` for single scale).
    public var scales: [Float]
    /// Images are resized so that their longer side is this many pixels (before scaling).
    public var maxSize: Int
    /// Whitening applied, if any (its method and checksum), else `none`.
    public var whitening: String
    /// Output dimension.
    public var dimension: Int
    /// `global` (one vector per image) or `objects` (one per region).
    public var mode: String

    public init(model: String, weightsChecksum: String, stage: String, pooling: String, scales: [Float], maxSize: Int,
                whitening: String, dimension: Int, mode: String = "global") {
        (self.model, self.weightsChecksum, self.stage, self.pooling) = (model, weightsChecksum, stage, pooling)
        (self.scales, self.maxSize, self.whitening, self.dimension, self.mode) = (scales, maxSize, whitening, dimension, mode)
    }

    public var description: String {
        "\(model)/\(stage) \(pooling) scales \(scales.map { String($0) }.joined(separator: ",")) max \(maxSize) whitening \(whitening) d=\(dimension) \(mode)"
    }

    /// Canonical JSON (sorted keys), as stored in index and whitening files.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public init?(json: String) {
        guard let value = try? JSONDecoder().decode(EmbeddingRecipe.self, from: Data(json.utf8)) else { return nil }
        self = value
    }

    /// The fields in which two recipes differ, by name.
    public func differences(from other: EmbeddingRecipe) -> [String] {
        var out: [String] = []
        if model != other.model { out.append("model \(model) ≠ \(other.model)") }
        if weightsChecksum != other.weightsChecksum { out.append("weights") }
        if stage != other.stage { out.append("stage \(stage) ≠ \(other.stage)") }
        if pooling != other.pooling { out.append("pooling \(pooling) ≠ \(other.pooling)") }
        if scales != other.scales { out.append("scales \(scales) ≠ \(other.scales)") }
        if maxSize != other.maxSize { out.append("max size \(maxSize) ≠ \(other.maxSize)") }
        if whitening != other.whitening { out.append("whitening \(whitening) ≠ \(other.whitening)") }
        if dimension != other.dimension { out.append("dimension \(dimension) ≠ \(other.dimension)") }
        if mode != other.mode { out.append("mode \(mode) ≠ \(other.mode)") }
        return out
    }
}

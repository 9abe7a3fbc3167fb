internal import Foundation
internal import LoupeModels
internal import LoupeWhitening

/// Why a stored recipe could not be read.
public enum RecipeError: Error, Equatable, CustomStringConvertible {
    /// Not a recipe: the JSON or a field is missing or malformed (the decoder's words).
    case malformed(String)
    /// Written by a newer Loupe.
    case unsupportedVersion(Int)
    /// A version-1 recipe with a value this Loupe cannot convert (the field and its value).
    case unconvertible(field: String, value: String)

    public var description: String {
        switch self {
        case let .malformed(why): "malformed embedding recipe: \(why)"
        case let .unsupportedVersion(v):
            "embedding recipe version \(v) is newer than this Loupe reads (\(EmbeddingRecipe.formatVersion)); update Loupe"
        case let .unconvertible(field, value):
            "cannot convert the old recipe's \(field) '\(value)'; rebuild the file with this Loupe"
        }
    }
}

extension EmbeddingRecipe: Codable {
    enum CodingKeys: String, CodingKey { case version, model, weightsChecksum, stage, pooling, scales, maxSize, whitening, dimension, mode }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .version)
        guard version <= Self.formatVersion else {
            throw DecodingError.dataCorruptedError(forKey: .version, in: c, debugDescription: "version \(version) is newer than \(Self.formatVersion)")
        }
        self.init(model: try c.decode(ModelIdentifier.self, forKey: .model),
                  weightsChecksum: try c.decode(String.self, forKey: .weightsChecksum),
                  stage: try c.decode(String.self, forKey: .stage), pooling: try c.decode(GlobalPooling.self, forKey: .pooling),
                  scales: try c.decode([Float].self, forKey: .scales), maxSize: try c.decode(Int.self, forKey: .maxSize),
                  whitening: try c.decodeIfPresent(WhiteningIdentity.self, forKey: .whitening),
                  dimension: try c.decode(Int.self, forKey: .dimension), mode: try c.decode(EmbeddingMode.self, forKey: .mode))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.formatVersion, forKey: .version)
        try c.encode(model, forKey: .model)
        try c.encode(weightsChecksum, forKey: .weightsChecksum)
        try c.encode(stage, forKey: .stage)
        try c.encode(pooling, forKey: .pooling)
        try c.encode(scales, forKey: .scales)
        try c.encode(maxSize, forKey: .maxSize)
        try c.encodeIfPresent(whitening, forKey: .whitening)
        try c.encode(dimension, forKey: .dimension)
        try c.encode(mode, forKey: .mode)
    }

    /// Canonical JSON (sorted keys, with `"version"`), as stored in index, whitening and head files.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // every part encodes (finite floats are checked where recipes are made)
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// Reads ``json``; a version-1 recipe (no `"version"` key) is converted with `settings`
    /// (the region-proposal settings stored beside it by that version).
    public init(json: String, settings: [String: String] = [:]) throws(RecipeError) {
        let data = Data(json.utf8)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .malformed("not a JSON object")
        }
        if object["version"] == nil {
            try self.init(legacyJSON: json, settings: settings)
            return
        }
        if let v = object["version"] as? Int, v > Self.formatVersion { throw .unsupportedVersion(v) }
        do { self = try JSONDecoder().decode(EmbeddingRecipe.self, from: data) } catch { throw .malformed("\(error)") }
    }

    /// Converts a version-1 recipe: string fields (`"pooling": "gem"`, `"whitening": "pca:512:…"`,
    /// `"mode": "objects:attention:roialign7"`) and the proposal settings kept beside it
    /// (`objects`, `object-threshold`, `object-nms`, `object-min-side`, `detector-size`,
    /// `student-head`), each missing setting taking ``RegionProposal``'s default, as version 1 did.
    public init(legacyJSON json: String, settings: [String: String] = [:]) throws(RecipeError) {
        struct V1: Decodable {
            var model, weightsChecksum, stage, pooling, whitening, mode: String
            var scales: [Float]
            var maxSize, dimension: Int
        }
        let old: V1
        do { old = try JSONDecoder().decode(V1.self, from: Data(json.utf8)) } catch { throw .malformed("\(error)") }
        guard let model = ModelIdentifier(name: old.model) else { throw .unconvertible(field: "model", value: old.model) }
        guard let pooling = GlobalPooling(old.pooling) else { throw .unconvertible(field: "pooling", value: old.pooling) }
        var whitening: WhiteningIdentity?
        if old.whitening != "none" {
            let parts = old.whitening.split(separator: ":").map(String.init)
            guard parts.count == 3, let method = Whitening.Method(rawValue: parts[0]), let d = Int(parts[1]) else {
                throw .unconvertible(field: "whitening", value: old.whitening)
            }
            whitening = WhiteningIdentity(method: method, outputDimension: d, checksum: parts[2])
        }
        let mode = try Self.legacyMode(old.mode, settings: settings)
        self.init(model: model, weightsChecksum: old.weightsChecksum, stage: old.stage, pooling: pooling, scales: old.scales,
                  maxSize: old.maxSize, whitening: whitening, dimension: old.dimension, mode: mode)
    }

    private static func legacyMode(_ text: String, settings: [String: String]) throws(RecipeError) -> EmbeddingMode {
        if text == "global" { return .global }
        let proposal = try RegionProposal(legacySettings: settings)
        let rest = text.hasPrefix("objects:") ? String(text.dropFirst("objects:".count)) : ""
        if rest.hasPrefix("attention:"), let sampling = RegionSampling(String(rest.dropFirst("attention:".count))) {
            return .objects(.hardAttention(sampling), proposal: proposal)
        }
        if rest.hasPrefix("teacher:"), let size = Int(rest.dropFirst("teacher:".count)), size >= 32 {
            return .objects(.cropTeacher(maxSize: size), proposal: proposal)
        }
        if rest.hasPrefix("student:") {
            let checksum = String(rest.dropFirst("student:".count))
            let file = settings["student-head"].map { URL(fileURLWithPath: $0).lastPathComponent } ?? "student-head.safetensors"
            return .student(StudentHeadIdentity(fileName: file, checksum: checksum), proposal: proposal)
        }
        throw .unconvertible(field: "mode", value: text)
    }
}

extension RegionProposal {
    /// Reads the proposal settings that version 1 stored beside a recipe (`objects`,
    /// `object-threshold`, `object-nms`, `object-min-side`, `detector-size`); missing keys keep
    /// the defaults, as they did then; a malformed value throws.
    public init(legacySettings settings: [String: String]) throws(RecipeError) {
        self.init()
        func read<T>(_ key: String, _ parse: (String) -> T?, into keyPath: WritableKeyPath<RegionProposal, T>) throws(RecipeError) {
            guard let value = settings[key] else { return }
            guard let parsed = parse(value) else { throw .unconvertible(field: key, value: value) }
            self[keyPath: keyPath] = parsed
        }
        try read("objects", { Int($0) }, into: \.maximumObjects)
        try read("object-threshold", { Float($0) }, into: \.scoreThreshold)
        try read("object-nms", { Float($0) }, into: \.nmsThreshold)
        try read("object-min-side", { Float($0) }, into: \.minimumSide)
        try read("detector-size", { Int($0) }, into: \.inputSize)
    }
}

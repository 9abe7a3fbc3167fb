public import Foundation

/// Why an embedder could not be built.
public enum EmbedderError: Error, CustomStringConvertible {
    case invalidOption(String)
    case whitening(WhiteningError)

    public var description: String {
        switch self {
        case let .invalidOption(why): why
        case let .whitening(error): error.description
        }
    }
}

/// Global image embeddings from a classification backbone: the paper's classification-embedding
/// pipeline.
///
/// image → resize so the longer side is `maxSize · scale` (antialiased) → backbone up to `stage`
/// → `GlobalPooling` → L2-normalise; several scales are combined by a power mean (exponent p
/// of GeM, else 1) and L2-normalised again; then optional `Whitening` (+ L2-normalise).
public struct GlobalEmbedder: Sendable {
    public let backbone: any FeatureBackbone
    public let stage: String
    public let pooling: GlobalPooling
    public let scales: [Float]
    public let maxSize: Int
    public let whitening: Whitening?
    public let weightsChecksum: String
    /// Channels of the pooled stage, found once at init with a tiny forward pass.
    public let unwhitenedDimension: Int
    /// The recipe of the vectors this embedder makes (computed once: it checksums the whitening).
    public let recipe: EmbeddingRecipe

    public init(backbone: any FeatureBackbone, weightsChecksum: String, stage: String? = nil,
                pooling: GlobalPooling = .gem(p: 3), scales: [Float] = [1], maxSize: Int = 1024,
                whitening: Whitening? = nil) throws(EmbedderError) {
        let requested = stage ?? backbone.defaultStage
        guard let resolved = backbone.resolve(stage: requested) else {
            throw .invalidOption(BackboneError.unknownStage(requested, model: backbone.name, known: backbone.stageNames).description)
        }
        guard !scales.isEmpty, scales.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw .invalidOption("scales must be positive numbers") }
        guard maxSize >= 32 else { throw .invalidOption("max size must be at least 32 pixels, got \(maxSize)") }
        (self.backbone, self.weightsChecksum, self.stage, self.pooling) = (backbone, weightsChecksum, resolved, pooling)
        (self.scales, self.maxSize, self.whitening) = (scales, maxSize, whitening)
        unwhitenedDimension = backbone.featureMap(Tensor(zeros: [1, 3, 64, 64]), at: resolved).shape[1]
        recipe = EmbeddingRecipe(model: backbone.name, weightsChecksum: weightsChecksum, stage: resolved,
                                 pooling: pooling.description, scales: scales, maxSize: maxSize,
                                 whitening: whitening.map { "\($0.method.rawValue):\($0.outputDimension):\(Self.checksum(of: $0.projection))" } ?? "none",
                                 dimension: whitening?.outputDimension ?? unwhitenedDimension)
        if let whitening {
            guard whitening.inputDimension == unwhitenedDimension else {
                throw .whitening(.dimensionMismatch(expected: whitening.inputDimension, got: unwhitenedDimension))
            }
            // a whitening is only valid for the descriptors it was learned on
            if let learnedFor = EmbeddingRecipe(json: whitening.recipe) {
                var mine = recipe
                mine.whitening = "none"
                mine.dimension = unwhitenedDimension
                let differences = learnedFor.differences(from: mine)
                guard differences.isEmpty else {
                    throw .invalidOption("the whitening was learned for other descriptors: \(differences.joined(separator: "; "))")
                }
            }
        }
    }

    /// The embedding before whitening: `[1, C]`, L2-normalised.
    public func unwhitenedEmbedding(of image: Image) -> Tensor {
        var clock = StageClock()
        return unwhitenedEmbedding(of: image, clock: &clock)
    }

    /// As ``unwhitenedEmbedding(of:)``, adding each stage's wall time to `clock`.
    public func unwhitenedEmbedding(of image: Image, clock: inout StageClock) -> Tensor {
        func single(_ s: Float) -> Tensor {
            let side = max(32, Int((Float(maxSize) * s).rounded()))
            let input = clock.measure("resize + normalise") {
                image.resized(longerSide: side).padded(toMultipleOf: backbone.inputMultiple, value: backbone.paddingValue)
                    .tensor(backbone.normalization)
            }
            let map = clock.measure("network") { backbone.featureMap(input, at: stage) }
            return clock.measure("pooling") { pooling(map).l2NormalizedRows() }
        }
        guard scales.count > 1 else { return single(scales[0]) }
        // power mean over scales: p of GeM, else the plain mean
        let p: Float = if case let .gem(p) = pooling { p } else { 1 }
        var sum = Tensor(zeros: [1, 0])
        for (i, s) in scales.enumerated() {
            let v = single(s)
            let powered = p == 1 ? v : v.map { pow(max($0, 0), p) }
            sum = i == 0 ? powered : sum + powered
        }
        let mean = sum * (1 / Float(scales.count))
        return (p == 1 ? mean : mean.map { pow($0, 1 / p) }).l2NormalizedRows()
    }

    /// The embedding `[1, D]`: unwhitened, then whitened if the embedder has a whitening.
    public func embedding(of image: Image) throws(EmbedderError) -> Tensor {
        var clock = StageClock()
        return try embedding(of: image, clock: &clock)
    }

    /// As ``embedding(of:)``, adding each stage's wall time to `clock`.
    public func embedding(of image: Image, clock: inout StageClock) throws(EmbedderError) -> Tensor {
        let v = unwhitenedEmbedding(of: image, clock: &clock)
        guard let whitening else { return v }
        do { return try clock.measure("whitening") { () throws(WhiteningError) -> Tensor in try whitening.apply(v) } } catch { throw .whitening(error) }
    }

    /// FNV-1a over the float bits: a cheap identity for a whitening matrix in the recipe.
    static func checksum(of t: Tensor) -> String {
        var h = FNV1a()
        t.withUnsafeBufferPointer { for v in $0 { h.combine(UInt64(v.bitPattern)) } }
        return h.hex
    }
}

/// Loads a backbone by name, finding its weights, and tells the checksum recorded for them.
public enum BackboneLoader {
    /// - Parameters:
    ///   - model: a `BackboneKind` raw value.
    ///   - weights: the safetensors file.
    public static func load(model: String, weights: URL) throws -> (backbone: any FeatureBackbone, checksum: String) {
        let yolo = model.hasPrefix("yolox_") ? YOLOX.Size(rawValue: String(model.dropFirst(6))) : nil
        guard BackboneKind(rawValue: model) != nil || yolo != nil else { throw BackboneError.unknownModel(model) }
        guard FileManager.default.fileExists(atPath: weights.path) else {
            throw BackboneError.missingWeights(model: model, path: weights.path)
        }
        let file = try SafetensorsFile(contentsOf: weights)
        var state: [String: Tensor] = [:]
        for name in file.names { state[name] = try file.tensor(named: name) }
        // the checkpoint's SHA-256 recorded by Scripts/loupe_weights.py, else FNV-1a of the file
        let checksum = file.metadata["sha256"] ?? {
            var h = FNV1a()
            if let data = try? Data(contentsOf: weights, options: .alwaysMapped) { h.combine(bytes: data) }
            return "fnv1a64:" + h.hex
        }()
        if let yolo { return (YOLOXBackbone(try YOLOX(StateDict(state), size: yolo)), checksum) }
        return (try BackboneKind(rawValue: model)!.load(StateDict(state)), checksum)
    }
}

/// Wall time per named stage, accumulated over calls (for "where the time goes" reports).
public struct StageClock: Sendable {
    public private(set) var seconds: [(name: String, seconds: Double)] = []

    public init() {}

    public mutating func measure<T, E: Error>(_ name: String, _ body: () throws(E) -> T) throws(E) -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let t = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            if let i = seconds.firstIndex(where: { $0.name == name }) { seconds[i].seconds += t } else { seconds.append((name, t)) }
        }
        return try body()
    }

    /// A table: total, items per second, and each stage's share.
    public func report(items: Int) -> String {
        let total = seconds.reduce(0) { $0 + $1.seconds }
        var lines = [String(format: "%.2f s, %.1f images/s", total, Double(items) / max(total, 1e-9))]
        for (name, t) in seconds {
            lines.append("  " + name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "%8.2f s  %5.1f %%", t, 100 * t / max(total, 1e-9)))
        }
        return lines.joined(separator: "\n")
    }
}

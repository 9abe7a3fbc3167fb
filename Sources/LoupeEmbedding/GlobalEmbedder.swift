public import Foundation

/// Why an embedder could not be built.
public enum EmbedderError: Error, CustomStringConvertible {
    /// A value the embedder cannot work with (what and why).
    case invalidOption(String)
    /// The whitening does not fit.
    case whitening(WhiteningError)
    /// The weights a recipe names could not be found or loaded.
    case weights(WeightStoreError)
    /// A stored recipe could not be read.
    case recipe(RecipeError)
    /// The recipe is of another mode than the embedder asked for (e.g. a global recipe given to
    /// make a region embedder).
    case wrongMode(expected: String, got: EmbeddingMode)
    /// The recipe names a whitening, and none with that identity was given.
    case whiteningMissing(WhiteningIdentity)
    /// An image could not be read (its file and the decoder's error).
    case image(file: URL, ImageError)

    public var description: String {
        switch self {
        case let .invalidOption(why): why
        case let .whitening(error): error.description
        case let .weights(error): error.description
        case let .recipe(error): error.description
        case let .wrongMode(expected, got): "the recipe is \(got), expected \(expected)"
        case let .whiteningMissing(identity): "the recipe's vectors are whitened (\(identity)); give that whitening"
        case let .image(file, error): error.path == nil ? "\(file.path): \(error)" : "\(error)"
        }
    }

    /// Any error met while reading or embedding `file`, as an `EmbedderError` (an image error
    /// gains the file).
    init(_ error: any Error, file: URL) {
        switch error {
        case let error as EmbedderError: self = error
        case let error as ImageError: self = .image(file: file, error)
        default: self = .invalidOption("\(file.path): \(error)")
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
    /// The network, as the weight store loaded it (model, checksum, file).
    public let loaded: LoadedBackbone
    public var backbone: any FeatureBackbone { loaded.network }
    public var weightsChecksum: String { loaded.checksum }
    public let stage: String
    public let pooling: GlobalPooling
    public let scales: [Float]
    public let maxSize: Int
    public let whitening: Whitening?
    /// Channels of the pooled stage, found once at init with a tiny forward pass.
    public let unwhitenedDimension: Int
    /// Input pixels per cell of the pooled stage's map, found by the same probe pass.
    public let stride: Int
    /// The recipe of the vectors this embedder makes (computed once: it checksums the whitening).
    public let recipe: EmbeddingRecipe

    /// - Parameters:
    ///   - backbone: a network from a ``WeightStore`` (which records its checksum in the recipe).
    ///   - stage: the stage to pool, or an alias (`last`); `nil`: the backbone's default.
    ///   - pooling: GeM with p = 3 by default, cirtorch's and the paper's choice.
    ///   - scales: several scales are combined by a power mean.
    ///   - maxSize: the longer side images are resized to. 1024 is cirtorch's test size.
    ///   - whitening: applied to every vector; it must have been learned on this recipe's
    ///     unwhitened vectors.
    public init(backbone: LoadedBackbone, stage: String? = nil, pooling: GlobalPooling = .gem(p: 3), scales: [Float] = [1],
                maxSize: Int = 1024, whitening: Whitening? = nil) throws(EmbedderError) {
        let network = backbone.network
        let requested = stage ?? network.defaultStage
        guard let resolved = network.resolve(stage: requested) else {
            throw .invalidOption(BackboneError.unknownStage(requested, model: network.name, known: network.stageNames).description)
        }
        guard !scales.isEmpty, scales.allSatisfy({ $0 > 0 && $0.isFinite }) else { throw .invalidOption("scales must be positive numbers") }
        guard maxSize >= 32 else { throw .invalidOption("max size must be at least 32 pixels, got \(maxSize)") }
        if case let .gem(p) = pooling, !(p > 0 && p.isFinite) { throw .invalidOption("the GeM exponent must be a positive number, got \(p)") }
        (self.loaded, self.stage, self.pooling) = (backbone, resolved, pooling)
        (self.scales, self.maxSize, self.whitening) = (scales, maxSize, whitening)
        (unwhitenedDimension, stride) = probe(network, stages: [resolved])[resolved]!
        recipe = EmbeddingRecipe(model: backbone.model, weightsChecksum: backbone.checksum, stage: resolved, pooling: pooling,
                                 scales: scales, maxSize: maxSize, whitening: whitening.map(WhiteningIdentity.init(of:)),
                                 dimension: whitening?.outputDimension ?? unwhitenedDimension)
        if let whitening {
            guard whitening.inputDimension == unwhitenedDimension else {
                throw .whitening(.dimensionMismatch(expected: whitening.inputDimension, got: unwhitenedDimension))
            }
            // a whitening is only valid for the descriptors it was learned on
            if !whitening.recipe.isEmpty {
                let learnedFor: EmbeddingRecipe
                do { learnedFor = try EmbeddingRecipe(json: whitening.recipe) } catch { throw .recipe(error) }
                var mine = recipe.unwhitenedGlobal
                mine.dimension = unwhitenedDimension
                let differences = learnedFor.unwhitenedGlobal.differences(from: mine)
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
            let input = clock.measure("resize + normalise") { BackboneInput(image, longerSide: side, for: backbone) }.tensor
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

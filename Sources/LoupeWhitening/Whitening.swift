public import Foundation
public import LoupeTensor

/// Why whitening could not be learned, applied or loaded.
public enum WhiteningError: Error, Equatable, CustomStringConvertible {
    /// Fewer than two descriptors (or pairs): no covariance to estimate.
    case tooFewSamples(Int)
    /// The covariance has fewer usable directions than the output dimension asked for.
    case rankDeficient(requested: Int, rank: Int)
    /// The output dimension is not in 1...D.
    case invalidDimension(Int, inputDimension: Int)
    /// Descriptors of another dimension than the whitening was learned for.
    case dimensionMismatch(expected: Int, got: Int)
    /// A pair index outside the descriptors.
    case pairOutOfRange(Int, count: Int)
    /// The descriptors hold NaN or infinity.
    case notFinite
    /// LAPACK failed (e.g. the pair-difference covariance is not positive definite).
    case numerical(String)
    /// The whitening file is missing, unreadable or not a Loupe whitening.
    case file(String)
    /// The file's section (`mean`, `projection`, or `__metadata__` for the method and recipe)
    /// does not match its recorded checksum, or holds NaN or infinity.
    case damaged(path: String, section: String)

    public var description: String {
        switch self {
        case let .tooFewSamples(n): "whitening needs at least 2 samples, got \(n)"
        case let .rankDeficient(requested, rank):
            "covariance has rank \(rank), too low for \(requested) output dimensions (use more images or fewer output dimensions)"
        case let .invalidDimension(d, input): "output dimension \(d) is not in 1...\(input)"
        case let .dimensionMismatch(expected, got): "whitening expects \(expected)-d descriptors, got \(got)-d"
        case let .pairOutOfRange(i, n): "pair index \(i) is outside the \(n) descriptors"
        case .notFinite: "descriptors hold NaN or infinity"
        case let .numerical(why): "whitening failed numerically: \(why)"
        case let .file(why): why
        case let .damaged(path, section): "\(path): the whitening file is damaged (section '\(section)')"
        }
    }
}

/// A linear map `x ↦ P (x − m)` followed by L2 normalisation, learned from descriptors.
///
/// Rows are descriptors throughout (`[N, D]`), unlike cirtorch's `D × N` columns.
/// `projection` is `[d, D]`; `mean` is `[D]`.
public struct Whitening: Sendable, Equatable {
    /// How it was learned.
    public enum Method: String, Sendable, Codable { case pca, learned }

    public var method: Method
    /// `[D]`.
    public var mean: Tensor
    /// `[d, D]`, rows sorted by decreasing variance.
    public var projection: Tensor
    /// Free-form description of the descriptors it was learned for (the embedding recipe, as JSON).
    public var recipe: String

    public var inputDimension: Int { projection.shape[1] }
    public var outputDimension: Int { projection.shape[0] }

    public init(method: Method, mean: Tensor, projection: Tensor, recipe: String = "") {
        (self.method, self.mean, self.projection, self.recipe) = (method, mean, projection, recipe)
    }

    /// Relative floor on eigenvalues: directions whose variance is below `1e-6 × λ_max` are noise
    /// (Float32 round-off of a covariance); they count as rank deficiency and, where kept, their
    /// eigenvalue is raised to the floor so that `λ^−½` stays bounded.
    public static let eigenvalueFloor: Float = 1e-6

    /// PCA whitening (Jégou & Chum 2012; cirtorch's `pcawhitenlearn`): `P = diag(λ)^power · Vᵀ`
    /// over the top `dimension` eigenvectors of the descriptors' covariance.
    ///
    /// - Parameters:
    ///   - descriptors: `[N, D]`, usually L2-normalised.
    ///   - dimension: output dimension `d` (default `D`).
    ///   - power: eigenvalue exponent; −0.5 is full whitening, 0 plain PCA rotation.
    ///   - recipe: what the descriptors are (an embedding recipe as JSON), stored with the whitening.
    public static func pca(fitting descriptors: Tensor, dimension: Int? = nil, power: Float = -0.5,
                           recipe: String = "") throws(WhiteningError) -> Whitening {
        guard descriptors.rank == 2 else { throw .dimensionMismatch(expected: 2, got: descriptors.rank) }
        let (n, d) = (descriptors.shape[0], descriptors.shape[1])
        guard n >= 2 else { throw .tooFewSamples(n) }
        let out = dimension ?? d
        guard out >= 1 && out <= d else { throw .invalidDimension(out, inputDimension: d) }
        guard descriptors.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        let mean = columnMean(descriptors)
        let centered = subtractRow(descriptors, mean)
        let covariance = matmul(centered.permuted([1, 0]), centered) * (1 / Float(n))  // [D, D]
        let (values, vectors) = try eigen(covariance)
        return try Whitening(method: .pca, mean: mean,
                             projection: scaledRows(vectors, values, out, power), recipe: recipe)
    }

    /// Learned whitening "Lw" (Radenović, Tolias, Chum 2016; cirtorch's `whitenlearn`): whiten the
    /// differences of matching pairs (`P₁ = chol(Σ_pairs)⁻¹`), then rotate by PCA of the whitened
    /// descriptors. Supervised: `pairs` are indices of descriptors that show the same thing.
    public static func learned(fitting descriptors: Tensor, pairs: [(Int, Int)], dimension: Int? = nil,
                               recipe: String = "") throws(WhiteningError) -> Whitening {
        guard descriptors.rank == 2 else { throw .dimensionMismatch(expected: 2, got: descriptors.rank) }
        let (n, d) = (descriptors.shape[0], descriptors.shape[1])
        guard pairs.count >= 2 else { throw .tooFewSamples(pairs.count) }
        for (a, b) in pairs { for i in [a, b] where i < 0 || i >= n { throw .pairOutOfRange(i, count: n) } }
        let out = dimension ?? d
        guard out >= 1 && out <= d else { throw .invalidDimension(out, inputDimension: d) }
        guard descriptors.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        let x = descriptors.scalars
        var queries = [Float](), differences = [Float]()
        for (a, b) in pairs {
            queries += x[(a * d)..<((a + 1) * d)]
            differences += zip(x[(a * d)..<((a + 1) * d)], x[(b * d)..<((b + 1) * d)]).map { $0 - $1 }
        }
        let mean = columnMean(Tensor(shape: [pairs.count, d], scalars: queries))
        let df = Tensor(shape: [pairs.count, d], scalars: differences)
        let sigma = matmul(df.permuted([1, 0]), df) * (1 / Float(pairs.count))
        let p1: Tensor
        do { p1 = try sigma.inverseCholeskyFactor() } catch {
            throw .numerical("the pair-difference covariance is not positive definite (\(error)); use more pairs or PCA whitening")
        }
        let whitened = matmul(subtractRow(descriptors, mean), p1, transposingB: true)  // [N, D]
        let (values, vectors) = try eigen(matmul(whitened.permuted([1, 0]), whitened))
        let rotation = try scaledRows(vectors, values, out, 0)  // [out, D]
        return Whitening(method: .learned, mean: mean, projection: matmul(rotation, p1), recipe: recipe)
    }

    /// `P (x − m)`, each row L2-normalised: `[N, D]` → `[N, d]`.
    public func apply(_ descriptors: Tensor) throws(WhiteningError) -> Tensor {
        guard descriptors.rank == 2, descriptors.shape[1] == inputDimension else {
            throw .dimensionMismatch(expected: inputDimension, got: descriptors.rank == 2 ? descriptors.shape[1] : -1)
        }
        return matmul(Whitening.subtractRow(descriptors, mean), projection, transposingB: true).l2NormalizedRows()
    }

    // MARK: helpers

    static func columnMean(_ x: Tensor) -> Tensor {
        let (n, d) = (x.shape[0], x.shape[1])
        var sums = [Double](repeating: 0, count: d)
        x.withUnsafeBufferPointer { p in for i in 0..<n { for j in 0..<d { sums[j] += Double(p[i * d + j]) } } }
        return Tensor(shape: [d], scalars: sums.map { Float($0 / Double(n)) })
    }

    static func subtractRow(_ x: Tensor, _ row: Tensor) -> Tensor {
        let d = x.shape[1]
        let r = row.scalars
        var out = x
        out.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] -= r[i % d] } }
        return out
    }

    static func eigen(_ matrix: Tensor) throws(WhiteningError) -> (Tensor, Tensor) {
        do { return try matrix.symmetricEigendecomposition() } catch { throw .numerical(error.description) }
    }

    /// The top `count` eigenvector rows scaled by `λ^power`; throws if they span noise.
    static func scaledRows(_ vectors: Tensor, _ values: Tensor, _ count: Int, _ power: Float) throws(WhiteningError) -> Tensor {
        let d = vectors.shape[1]
        let lambda = values.scalars
        let top = max(lambda.first ?? 0, 0)
        let floor = top * eigenvalueFloor
        let rank = lambda.filter { $0 > floor }.count
        guard count <= rank else { throw .rankDeficient(requested: count, rank: rank) }
        let v = vectors.scalars
        var rows = [Float](repeating: 0, count: count * d)
        for i in 0..<count {
            let scale = power == 0 ? 1 : pow(max(lambda[i], floor), power)
            for k in 0..<d { rows[i * d + k] = v[i * d + k] * scale }
        }
        return Tensor(shape: [count, d], scalars: rows)
    }
}

extension Whitening {
    /// File format version. Version 3 records a CRC-32C of every section (and must); version 2
    /// stores a typed (versioned) embedding recipe; versions 1 and 2 are read too, their recipe
    /// converted by whoever reads it (LoupeEmbedding).
    public static let formatVersion = "3"

    /// Saves as safetensors (`mean`, `projection`) with the method and recipe in the metadata,
    /// atomically.
    public func write(to url: URL) throws(WhiteningError) {
        do {
            try SafetensorsFile.write(["mean": mean, "projection": projection],
                                      metadata: ["format": "loupe-whitening", "version": Self.formatVersion, "method": method.rawValue, "recipe": recipe],
                                      checksums: true, to: url)
        } catch { throw .file("cannot write whitening to \(url.path): \(error)") }
    }

    /// Loads a whitening written by ``write(to:)``.
    public init(contentsOf url: URL) throws(WhiteningError) {
        do {
            let file = try SafetensorsFile(contentsOf: url)
            // a damaged field is a damaged file, not a file of another kind or version
            let intact = (try? file.verifyChecksums()) != nil
            guard file.metadata["format"] == "loupe-whitening", let method = file.metadata["method"].flatMap(Method.init(rawValue:)) else {
                if file.hasChecksums && !intact { throw WhiteningError.damaged(path: url.path, section: "__metadata__") }
                throw WhiteningError.file("\(url.path) is not a Loupe whitening file")
            }
            guard let version = file.metadata["version"], ["1", "2", Self.formatVersion].contains(version) else {
                if file.hasChecksums && !intact { throw WhiteningError.damaged(path: url.path, section: "__metadata__") }
                throw WhiteningError.file("\(url.path) has whitening format version \(file.metadata["version"] ?? "?"); this Loupe reads 1 to 3: fit the whitening again")
            }
            if version == Self.formatVersion {
                guard file.hasChecksums else { throw WhiteningError.damaged(path: url.path, section: SafetensorsFile.checksumKey) }
                do { try file.verifyChecksums() } catch {
                    if case let .checksumMismatch(section) = error { throw WhiteningError.damaged(path: url.path, section: section) }
                    throw error
                }
            }
            let mean = try file.tensor(named: "mean"), projection = try file.tensor(named: "projection")
            guard projection.rank == 2, mean.shape == [projection.shape[1]] else {
                throw WhiteningError.file("\(url.path): mean \(mean.shape) does not fit projection \(projection.shape)")
            }
            for (name, t) in [("mean", mean), ("projection", projection)] where !t.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) {
                throw WhiteningError.damaged(path: url.path, section: name)
            }
            self.init(method: method, mean: mean, projection: projection, recipe: file.metadata["recipe"] ?? "")
        } catch let error as WhiteningError { throw error } catch { throw .file("cannot read whitening \(url.path): \(error)") }
    }
}

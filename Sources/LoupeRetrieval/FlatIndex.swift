public import Foundation
public import LoupeTensor

/// Why an index operation failed.
public enum IndexError: Error, Equatable, CustomStringConvertible {
    case dimensionMismatch(expected: Int, got: Int)
    case countMismatch(vectors: Int, paths: Int)
    case recipeMismatch([String])
    case notFinite
    case invalidK(Int)
    case file(String)

    public var description: String {
        switch self {
        case let .dimensionMismatch(e, g): "index holds \(e)-d vectors, got \(g)-d"
        case let .countMismatch(v, p): "\(v) vectors but \(p) paths"
        case let .recipeMismatch(d): "the query was embedded with another recipe than the index: \(d.joined(separator: "; "))"
        case .notFinite: "vectors hold NaN or infinity"
        case let .invalidK(k): "k must be at least 1, got \(k)"
        case let .file(why): why
        }
    }
}

/// One search result.
public struct SearchHit: Sendable, Equatable, Codable {
    /// Row in the index.
    public var id: Int
    /// Inner product (cosine similarity for normalised vectors).
    public var score: Float
    /// The indexed image.
    public var path: String
}

/// Query expansion: re-query with the query averaged with its top results.
public enum QueryExpansion: Sendable, Hashable {
    /// Plain search.
    case none
    /// Average QE (Chum et al. 2007): the query plus its top `n` results, averaged, normalised.
    case average(n: Int)
    /// α-weighted QE (Radenović et al. 2018): the top `n` results weighted by `similarity^α`.
    case alpha(n: Int, alpha: Float)
}

/// Exact inner-product index over L2-normalised vectors, with the image path of each row and the
/// recipe that made them (faiss's `IndexFlatIP` contract: `dimension`, `count`, `add`, `search`).
public struct FlatIndex: Sendable {
    /// `[N, D]`.
    public private(set) var vectors: Tensor
    /// One per row.
    public private(set) var paths: [String]
    /// How the vectors were made.
    public let recipe: EmbeddingRecipe

    public var dimension: Int { vectors.shape[1] }
    public var count: Int { vectors.shape[0] }

    /// An empty index for vectors of `recipe`.
    public init(recipe: EmbeddingRecipe) {
        self.recipe = recipe
        vectors = Tensor(zeros: [0, recipe.dimension])
        paths = []
    }

    /// Appends `vectors` `[n, D]` with their paths.
    public mutating func add(_ new: Tensor, paths newPaths: [String]) throws(IndexError) {
        guard new.rank == 2, new.shape[1] == dimension else { throw .dimensionMismatch(expected: dimension, got: new.rank == 2 ? new.shape[1] : -1) }
        guard new.shape[0] == newPaths.count else { throw .countMismatch(vectors: new.shape[0], paths: newPaths.count) }
        guard new.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        vectors = count == 0 ? new : Tensor.concatenated([vectors, new], along: 0)
        paths += newPaths
    }

    /// The `k` nearest rows of each query `[Q, D]`, optionally with query expansion. The queries
    /// must come from the same recipe (pass it to have it checked).
    public func search(_ queries: Tensor, k: Int, expansion: QueryExpansion = .none,
                       recipe queryRecipe: EmbeddingRecipe? = nil) throws(IndexError) -> [[SearchHit]] {
        if let queryRecipe, queryRecipe != recipe { throw .recipeMismatch(queryRecipe.differences(from: recipe)) }
        guard k >= 1 else { throw .invalidK(k) }
        guard queries.rank == 2, queries.shape[1] == dimension else {
            throw .dimensionMismatch(expected: dimension, got: queries.rank == 2 ? queries.shape[1] : -1)
        }
        guard queries.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        guard count > 0 else { return Array(repeating: [], count: queries.shape[0]) }
        var q = queries
        switch expansion {
        case .none: break
        case let .average(n): q = expand(queries, n: n, alpha: 0)
        case let .alpha(n, alpha): q = expand(queries, n: n, alpha: alpha)
        }
        let top = nearestNeighbors(of: q, in: vectors, k: min(k, count))
        return (0..<queries.shape[0]).map { i in
            top.results(forQuery: i).map { SearchHit(id: $0.index, score: $0.score, path: paths[$0.index]) }
        }
    }

    /// `q + Σ_{i ≤ n} max(s_i, 0)^α · x_i`, L2-normalised (α = 0: plain average of the top `n`
    /// and the query).
    func expand(_ queries: Tensor, n: Int, alpha: Float) -> Tensor {
        guard n >= 1 else { return queries }
        let top = nearestNeighbors(of: queries, in: vectors, k: min(n, count))
        let d = dimension
        var out = queries
        let db = vectors.scalars
        out.withUnsafeMutableBufferPointer { p in
            for qi in 0..<queries.shape[0] {
                for (index, score) in top.results(forQuery: qi) {
                    let w = alpha == 0 ? 1 : pow(max(score, 0), alpha)
                    for j in 0..<d { p[qi * d + j] += w * db[index * d + j] }
                }
            }
        }
        return out.l2NormalizedRows()
    }
}

extension FlatIndex {
    /// File format version; bumped on incompatible changes.
    public static let formatVersion = "1"

    /// Saves as safetensors (`vectors`) with the recipe and paths in the metadata, atomically
    /// (a temporary file renamed into place: an interrupted save leaves the old index intact).
    public func write(to url: URL) throws(IndexError) {
        let pathsJSON = String(decoding: (try? JSONEncoder().encode(paths)) ?? Data("[]".utf8), as: UTF8.self)
        do {
            try SafetensorsFile.write(["vectors": vectors], metadata: [
                "format": "loupe-flat-index", "version": Self.formatVersion, "recipe": recipe.json, "paths": pathsJSON,
            ], to: url)
        } catch { throw .file("cannot write index \(url.path): \(error)") }
    }

    /// Loads an index written by ``write(to:)``, checking its format, version and consistency.
    public init(contentsOf url: URL) throws(IndexError) {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch { throw .file("cannot read index \(url.path): \(error)") }
        guard file.metadata["format"] == "loupe-flat-index" else { throw .file("\(url.path) is not a Loupe index") }
        guard file.metadata["version"] == Self.formatVersion else {
            throw .file("\(url.path) has index format version \(file.metadata["version"] ?? "?"), this Loupe reads \(Self.formatVersion)")
        }
        guard let recipe = file.metadata["recipe"].flatMap(EmbeddingRecipe.init(json:)) else { throw .file("\(url.path): missing recipe") }
        guard let data = file.metadata["paths"]?.data(using: .utf8), let paths = try? JSONDecoder().decode([String].self, from: data) else {
            throw .file("\(url.path): missing paths")
        }
        let vectors: Tensor
        do { vectors = try file.tensor(named: "vectors") } catch { throw .file("\(url.path): \(error)") }
        guard vectors.rank == 2, vectors.shape[1] == recipe.dimension else {
            throw .file("\(url.path): vectors \(vectors.shape) do not fit the recipe's dimension \(recipe.dimension)")
        }
        guard vectors.shape[0] == paths.count else { throw .countMismatch(vectors: vectors.shape[0], paths: paths.count) }
        self.recipe = recipe
        self.vectors = vectors
        self.paths = paths
    }
}

public import LoupeTensor

/// Jégou, Douze and Schmid's product quantizer: a `D`-dimensional vector is cut into `M`
/// sub-vectors of `D / M` dimensions, and each sub-vector is replaced by the nearest of 256
/// centres learned for its sub-space, so that a vector is stored as `M` bytes.
///
/// The layout is faiss's `(M, ksub, dsub)`: ``centroids`` is `[M, 256, D / M]`, and a code is
/// `M` bytes, byte `j` naming the centre of sub-vector `j`. Inner products with a query are
/// computed without decoding (asymmetric distance computation): the query's sub-vectors are
/// multiplied once with every centre of their sub-space (``innerProductTables(_:)``), and a
/// code's score is the sum of `M` entries of that table.
public struct ProductQuantizer: Sendable, Equatable {
    /// Centres per sub-quantizer: one byte per sub-vector.
    public static let centresPerSubquantizer = 256

    /// `[M, 256, D / M]`.
    public let centroids: Tensor
    public var dimension: Int { subquantizers * subdimension }
    /// `M`.
    public var subquantizers: Int { centroids.shape[0] }
    /// `D / M`.
    public var subdimension: Int { centroids.shape[2] }

    /// At most this many training rows are clustered (a seeded sample of them when there are
    /// more): 256 rows per centre, as faiss caps it, is plenty for 256 centres in a few dimensions.
    public static let maximumTrainingRows = 65_536

    /// Learns the centres of each sub-space by k-means (k-means++ seeding, `seed` + the
    /// sub-space's number) over the rows of `training` `[N, D]` (at most
    /// ``maximumTrainingRows`` of them).
    ///
    /// - Parameters:
    ///   - subquantizers: `M`, which must divide `D`.
    ///   - iterations: Lloyd iterations per sub-space (faiss's default is 25).
    /// - Throws: ``IndexError/invalidTraining(_:)`` when `M` does not divide `D`, or there are
    ///   fewer than 256 rows, or a row is not finite.
    public init(training: Tensor, subquantizers m: Int, iterations: Int = 25, seed: UInt64 = 1) throws(IndexError) {
        guard training.rank == 2 else { throw .invalidTraining("training vectors must be [N, D], got \(training.shape)") }
        let (n, d) = (training.shape[0], training.shape[1])
        guard m >= 1, d % m == 0 else { throw .invalidTraining("\(m) sub-quantizers do not divide dimension \(d)") }
        guard n >= Self.centresPerSubquantizer else {
            throw .invalidTraining("a product quantizer needs at least \(Self.centresPerSubquantizer) training vectors, got \(n)")
        }
        guard training.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        let ds = d / m
        let training = Self.sample(training, rows: Self.maximumTrainingRows, seed: seed)
        var all: [Float] = []
        all.reserveCapacity(m * 256 * ds)
        for j in 0..<m {
            let sub = training.sliced(along: 1, (j * ds)..<((j + 1) * ds))
            all += KMeans(sub, k: Self.centresPerSubquantizer, iterations: iterations, seeding: .plusPlus, seed: seed &+ UInt64(j)).centroids.scalars
        }
        centroids = Tensor(shape: [m, Self.centresPerSubquantizer, ds], scalars: all)
    }

    /// `rows` rows of `x` drawn without replacement by a seeded shuffle, in their order (all of
    /// `x` when it has no more).
    static func sample(_ x: Tensor, rows: Int, seed: UInt64) -> Tensor {
        let n = x.shape[0]
        guard n > rows else { return x }
        var random = SplitMix(seed: seed), order = Array(0..<n)
        for i in 0..<rows { order.swapAt(i, i + Int(random.next() % UInt64(n - i))) }
        let d = x.shape[1], all = x.scalars
        return Tensor(shape: [rows, d], scalars: order.prefix(rows).sorted().flatMap { all[($0 * d)..<(($0 + 1) * d)] })
    }

    /// A quantizer from centres learned before (as stored in a file), `[M, 256, dsub]`.
    public init(centroids: Tensor) throws(IndexError) {
        guard centroids.rank == 3, centroids.shape[0] >= 1, centroids.shape[1] == Self.centresPerSubquantizer, centroids.shape[2] >= 1 else {
            throw .invalidTraining("product-quantizer centres must be [M, 256, dsub], got \(centroids.shape)")
        }
        guard centroids.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        self.centroids = centroids
    }

    /// The centres of sub-space `j`, `[256, dsub]`.
    public func centres(ofSubspace j: Int) -> Tensor {
        centroids.sliced(along: 0, j..<(j + 1)).reshaped(to: [Self.centresPerSubquantizer, subdimension])
    }

    /// The codes of `rows` `[N, D]`: `N × M` bytes, row after row (each sub-vector's nearest centre).
    public func encode(_ rows: Tensor) -> [UInt8] {
        check(rows.rank == 2 && rows.shape[1] == dimension, "ProductQuantizer.encode: rows \(rows.shape) for dimension \(dimension)")
        let (n, m, ds) = (rows.shape[0], subquantizers, subdimension)
        var codes = [UInt8](repeating: 0, count: n * m)
        // blocks of rows keep the sub-space copies small
        for start in stride(from: 0, to: n, by: 16_384) {
            let block = rows.sliced(along: 0, start..<min(n, start + 16_384))
            for j in 0..<m {
                let assignment = KMeans(centroids: centres(ofSubspace: j)).assign(block.sliced(along: 1, (j * ds)..<((j + 1) * ds)))
                for (i, a) in assignment.enumerated() { codes[(start + i) * m + j] = UInt8(a) }
            }
        }
        return codes
    }

    /// The vectors `codes` stand for, `[N, D]` (each sub-vector replaced by its centre).
    public func decode(_ codes: [UInt8]) -> Tensor {
        let (m, ds) = (subquantizers, subdimension)
        check(codes.count % m == 0, "ProductQuantizer.decode: \(codes.count) bytes are not whole codes of \(m)")
        let n = codes.count / m, c = centroids.scalars
        var out = [Float](repeating: 0, count: n * m * ds)
        for i in 0..<n {
            for j in 0..<m {
                let from = (j * 256 + Int(codes[i * m + j])) * ds
                for t in 0..<ds { out[(i * m + j) * ds + t] = c[from + t] }
            }
        }
        return Tensor(shape: [n, m * ds], scalars: out)
    }

    /// `[Q, M, 256]`: entry `[q, j, c]` is the inner product of query `q`'s sub-vector `j` with
    /// centre `c` of sub-space `j`, so that the inner product of the query with a code's vector
    /// is `Σ_j table[q, j, code_j]`.
    public func innerProductTables(_ queries: Tensor) -> Tensor {
        check(queries.rank == 2 && queries.shape[1] == dimension, "ProductQuantizer.innerProductTables: queries \(queries.shape) for dimension \(dimension)")
        return LoupeTensor.innerProductTables(queries, centroids: centroids)
    }
}

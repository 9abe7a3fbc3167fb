internal import Foundation
public import LoupeTensor

/// An approximate inner-product index over `D`-dimensional vectors: an inverted file (IVF: the
/// vectors split into `lists` cells by a k-means coarse quantizer, a query scanning only the
/// `probe` cells nearest to it), a product quantizer (PQ: each vector stored as `M` bytes), or
/// both (IVF-PQ: the residual of each vector from its cell's centre is product-quantized).
///
/// Scores are inner products, as in ``FlatIndex``: `q·x` for IVF-Flat, `q·x̂` for PQ and
/// `q·c + q·r̂` for IVF-PQ (the cell's centre plus the quantized residual; the product
/// quantizer's table of `q` serves every cell, because the residuals share one codebook). Cells
/// are probed by Euclidean distance to their centre, the rule they were made by.
///
/// Optionally the vectors are first projected to fewer dimensions (``projection``: the leading
/// principal directions of the training vectors), so that the coarse quantizer and the codes work
/// on `N < D` numbers per vector (faiss's `PCA256,IVF1024,PQ32`); scores are then inner products
/// of the projections, and re-scoring with the stored vectors (``QuantizedSearch/refine``)
/// restores exact ones.
///
/// Ids are the order of ``add(_:)``: `0 ..< count`. Trained parts come *out of* training as
/// values: an index is made from training vectors, then filled.
public struct QuantizedIndex: Sendable, CustomStringConvertible {
    /// What the index stores and how it is searched; written as faiss's factory strings
    /// (`IVF1024,Flat`, `PQ64`, `IVF1024,PQ64`).
    public enum Kind: Sendable, Hashable, Codable, CustomStringConvertible {
        case ivfFlat(lists: Int)
        case pq(subquantizers: Int)
        case ivfPQ(lists: Int, subquantizers: Int)

        /// Cells of the inverted file (1 for plain PQ: one list holds everything).
        public var lists: Int {
            switch self {
            case let .ivfFlat(lists), let .ivfPQ(lists, _): lists
            case .pq: 1
            }
        }

        /// `M`, or `nil` when the vectors are stored whole (IVF-Flat).
        public var subquantizers: Int? {
            switch self {
            case .ivfFlat: nil
            case let .pq(m), let .ivfPQ(_, m): m
            }
        }

        public var description: String {
            switch self {
            case let .ivfFlat(lists): "IVF\(lists),Flat"
            case let .pq(m): "PQ\(m)"
            case let .ivfPQ(lists, m): "IVF\(lists),PQ\(m)"
            }
        }

        /// Parses ``description``'s spelling.
        public init?(_ text: String) {
            let parts = text.split(separator: ",").map(String.init)
            func number(_ s: String, after prefix: String) -> Int? { s.hasPrefix(prefix) ? Int(s.dropFirst(prefix.count)) : nil }
            switch parts.count {
            case 1: guard let m = number(parts[0], after: "PQ") else { return nil }; self = .pq(subquantizers: m)
            case 2:
                guard let lists = number(parts[0], after: "IVF") else { return nil }
                if parts[1] == "Flat" { self = .ivfFlat(lists: lists) } else if let m = number(parts[1], after: "PQ") {
                    self = .ivfPQ(lists: lists, subquantizers: m)
                } else { return nil }
            default: return nil
            }
        }

        /// What makes this kind unusable for `dimension`-d vectors and `training` training rows.
        public func problems(dimension: Int, training: Int) -> [String] {
            var out: [String] = []
            if lists < 1 { out.append("an inverted file needs at least 1 list, got \(lists)") }
            if lists > training { out.append("\(lists) lists need at least as many training vectors, got \(training)") }
            if let m = subquantizers {
                if m < 1 || dimension % max(m, 1) != 0 { out.append("\(m) sub-quantizers do not divide dimension \(dimension)") }
                if training < ProductQuantizer.centresPerSubquantizer {
                    out.append("a product quantizer needs at least \(ProductQuantizer.centresPerSubquantizer) training vectors, got \(training)")
                }
            }
            return out
        }
    }

    /// One cell: the ids of its vectors and their codes (PQ, in blocks of 64 for the scan) or rows (Flat).
    struct List: Sendable {
        var ids: [Int64] = []
        var codes: BlockedCodes
        var rows: RowStore
    }

    public let kind: Kind
    /// `D`, the dimension of the vectors added and searched.
    public let dimension: Int
    /// `[N, D]` with orthonormal rows: what each vector `x` is quantized as, `projection · x`
    /// (`nil`: the vectors themselves). The rows are the leading eigenvectors of the training
    /// vectors' second moments `E[x xᵀ]` (not centred: scores are inner products, and the
    /// uncentred subspace is the one that keeps `q · x` best).
    public let projection: Tensor?
    /// The cells' centres `[lists, N]` (`nil` for plain PQ).
    public let coarse: KMeans?
    /// The product quantizer of the vectors (PQ) or of their residuals (IVF-PQ).
    public let productQuantizer: ProductQuantizer?
    var lists: [List]
    /// Vectors added (removed ones included: ids are never reused).
    public private(set) var count: Int = 0
    /// How searches that do not say otherwise use it (kept in the file; `loupe index --probe
    /// --refine` sets it).
    public var defaultSearch = QuantizedSearch()

    /// Trains an index of `kind` on `training` `[N, D]` (k-means++ seeding with `seed`), empty.
    ///
    /// - Parameters:
    ///   - coarseIterations: Lloyd iterations of the coarse quantizer (faiss's default, 10:
    ///     cells need not be optimal, only balanced enough, and each iteration is a pass of
    ///     `N × lists × D` multiply-adds).
    ///   - iterations: Lloyd iterations of each sub-quantizer (faiss's 25).
    ///   - reducedDimension: `N`: project the vectors onto the `N` leading principal directions of
    ///     `training` before quantizing (``projection``); `nil` keeps all `D`.
    public init(kind: Kind, training original: Tensor, reducedDimension: Int? = nil, coarseIterations: Int = 10, iterations: Int = 25,
                seed: UInt64 = 1) throws(IndexError) {
        guard original.rank == 2, original.shape[1] >= 1 else { throw .invalidTraining("training vectors must be [N, D], got \(original.shape)") }
        if let n = reducedDimension, n < 1 || n >= original.shape[1] {
            throw .invalidTraining("a projection to \(n) dimensions must keep fewer than the vectors' \(original.shape[1]) and at least 1")
        }
        let problems = kind.problems(dimension: reducedDimension ?? original.shape[1], training: original.shape[0])
        guard problems.isEmpty else { throw .invalidTraining(problems.joined(separator: "; ")) }
        guard original.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        let projection = try reducedDimension.map { n throws(IndexError) in try Self.principalDirections(original, count: n) }
        let training = projection.map { matmul(original, $0, transposingB: true) } ?? original
        var coarse: KMeans?
        var residuals = training
        if kind.lists > 1 || kind.subquantizers == nil {
            let c = KMeans(training, k: kind.lists, iterations: coarseIterations, seeding: .plusPlus, seed: seed)
            coarse = c
            if kind.subquantizers != nil { residuals = Self.residuals(training, centroids: c.centroids, assignment: c.assign(training)) }
        }
        let pq = try kind.subquantizers.map { m throws(IndexError) in
            try ProductQuantizer(training: residuals, subquantizers: m, iterations: iterations, seed: seed &+ 1000)
        }
        try self.init(kind: kind, coarse: coarse, productQuantizer: pq, projection: projection)
    }

    /// An empty index from parts trained before (as stored in a file).
    public init(kind: Kind, coarse: KMeans?, productQuantizer: ProductQuantizer?, projection: Tensor? = nil) throws(IndexError) {
        let d = coarse?.centroids.shape[1] ?? productQuantizer?.dimension ?? 0
        guard d >= 1 else { throw .invalidTraining("an index needs a coarse quantizer or a product quantizer") }
        guard (coarse == nil) == (kind.lists == 1 && kind.subquantizers != nil), coarse.map({ $0.centroids.shape[0] == kind.lists }) ?? true,
              productQuantizer?.subquantizers == kind.subquantizers, productQuantizer.map({ $0.dimension == d }) ?? true
        else { throw .invalidTraining("the trained parts do not make a \(kind) index") }
        if let projection {
            guard projection.rank == 2, projection.shape[0] == d, projection.shape[1] > d,
                  projection.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) })
            else { throw .invalidTraining("a projection \(projection.shape) does not feed \(d)-d quantizers") }
        }
        (self.kind, dimension, self.coarse, self.productQuantizer, self.projection) = (kind, projection?.shape[1] ?? d, coarse, productQuantizer, projection)
        lists = (0..<kind.lists).map { _ in
            List(codes: BlockedCodes(subquantizers: kind.subquantizers ?? 1), rows: RowStore(dimension: kind.subquantizers == nil ? d : 1, chunkRows: 256))
        }
    }

    /// What the quantizers work on: `N` with a ``projection``, else `D`.
    public var codedDimension: Int { projection?.shape[0] ?? dimension }

    /// faiss's factory spelling of the whole index: `PCA256,IVF1024,PQ32`, or ``kind`` alone.
    public var description: String { (projection.map { "PCA\($0.shape[0])," } ?? "") + kind.description }

    /// The rows of `vectors` `[n, D]` as the quantizers see them (`[n, N]` with a projection).
    func coded(_ vectors: Tensor) -> Tensor { projection.map { matmul(vectors, $0, transposingB: true) } ?? vectors }

    /// The `count` leading eigenvectors `[count, D]` of `x`'s second moments `xᵀx / n`, from at
    /// most 65,536 rows.
    static func principalDirections(_ x: Tensor, count: Int) throws(IndexError) -> Tensor {
        let rows = ProductQuantizer.sample(x, rows: 65_536, seed: 7)
        let moments = matmul(rows.permuted([1, 0]), rows) * (1 / Float(rows.shape[0]))  // [D, D]
        do {
            let (_, vectors) = try moments.symmetricEigendecomposition()
            return vectors.sliced(along: 0, 0..<count)
        } catch { throw .invalidTraining("the principal directions of the training vectors: \(error)") }
    }

    static func residuals(_ rows: Tensor, centroids: Tensor, assignment: [Int]) -> Tensor {
        let d = rows.shape[1], c = centroids.scalars
        var r = rows.scalars
        for (i, a) in assignment.enumerated() { for j in 0..<d { r[i * d + j] -= c[a * d + j] } }
        return Tensor(shape: rows.shape, scalars: r)
    }

    /// Bytes each vector takes in memory: its code (or row) and its id.
    public var bytesPerVector: Int { (kind.subquantizers ?? codedDimension * 4) + 8 }

    /// Vectors in each list.
    public var listSizes: [Int] { lists.map(\.ids.count) }

    /// Each id's list and code (`M` bytes per id, empty for IVF-Flat), in id order: what a file
    /// keeps, so that loading needs no encoding (``restore(_:lists:codes:)``).
    public var assignment: (lists: [Int], codes: [UInt8]) {
        var listOf = [Int](repeating: 0, count: count)
        let m = kind.subquantizers ?? 0
        var codes = [UInt8](repeating: 0, count: count * m)
        for (l, list) in lists.enumerated() {
            let rows = m > 0 ? list.codes.allRows : []
            for (i, id) in list.ids.enumerated() {
                listOf[Int(id)] = l
                for j in 0..<m { codes[Int(id) * m + j] = rows[i * m + j] }
            }
        }
        return (listOf, codes)
    }

    /// Appends `vectors` `[n, D]` as ids `count ..< count + n` with the lists and codes
    /// ``assignment`` gave for them (read back from a file), without encoding them again.
    public mutating func restore(_ vectors: Tensor, lists listOf: [Int], codes: [UInt8]) throws(IndexError) {
        let n = vectors.rank == 2 ? vectors.shape[0] : -1, m = kind.subquantizers ?? 0
        guard vectors.rank == 2, vectors.shape[1] == dimension else { throw .dimensionMismatch(expected: dimension, got: vectors.rank == 2 ? vectors.shape[1] : -1) }
        guard listOf.count == n, codes.count == n * m, listOf.allSatisfy({ $0 >= 0 && $0 < lists.count }) else {
            throw .invalidTraining("\(listOf.count) list numbers and \(codes.count) code bytes do not fit \(n) vectors of a \(kind) index")
        }
        place(m > 0 ? vectors : coded(vectors), lists: listOf, codes: codes)
    }

    /// Puts the rows of `vectors` into their lists (codes, `M` bytes each, or the rows themselves
    /// for IVF-Flat, already ``coded(_:)``) as ids `count ..< count + n`.
    private mutating func place(_ vectors: Tensor, lists listOf: [Int], codes: [UInt8]) {
        let first = Int64(count), m = kind.subquantizers ?? 0
        if m > 0 {
            // grouped by list first, so that each list grows once
            var members = Array(repeating: [Int32](), count: lists.count)
            for (i, l) in listOf.enumerated() { members[l].append(Int32(i)) }
            for (l, rows) in members.enumerated() where !rows.isEmpty {
                var gathered = [UInt8]()
                gathered.reserveCapacity(rows.count * m)
                for i in rows.lazy.map(Int.init) { gathered += codes[(i * m)..<((i + 1) * m)] }
                lists[l].ids += rows.map { first + Int64($0) }
                lists[l].codes.append(rows: gathered)
            }
        } else {
            append(vectors, lists: listOf, first: first)
        }
        count += vectors.shape[0]
    }

    /// IVF-Flat: the rows of `vectors` into their lists, as ids `first + i`.
    private mutating func append(_ vectors: Tensor, lists listOf: [Int], first: Int64) {
        var members = Array(repeating: [Int](), count: lists.count)
        for (i, a) in listOf.enumerated() { members[a].append(i) }
        let x = vectors.scalars, d = codedDimension
        for (a, rows) in members.enumerated() where !rows.isEmpty {
            lists[a].ids += rows.map { first + Int64($0) }
            lists[a].rows.append(Tensor(shape: [rows.count, d], scalars: rows.flatMap { x[($0 * d)..<(($0 + 1) * d)] }))
        }
    }

    /// Vectors still searchable (``count`` less the removed ones).
    public var liveCount: Int { lists.reduce(0) { $0 + $1.ids.count } }

    /// Takes the vectors `ids` out of their lists: no search finds them again, and every other id
    /// stays what it was (ids are never reused). Unknown or already removed ids are ignored.
    public mutating func remove(ids: Set<Int>) {
        guard !ids.isEmpty else { return }
        // a bitmap of the ids: each list is scanned with a bit test, and a list that holds none of
        // them is left as it is (opening a million-vector index with tombstones spent 30 ms hashing)
        var gone = [UInt64](repeating: 0, count: (count + 63) / 64)
        for id in ids where id >= 0 && id < count { gone[id >> 6] |= 1 << UInt64(id & 63) }
        for l in lists.indices {
            let held = lists[l].ids
            guard held.contains(where: { gone[Int($0 >> 6)] & (1 << UInt64($0 & 63)) != 0 }) else { continue }
            let kept = held.indices.filter { gone[Int(held[$0] >> 6)] & (1 << UInt64(held[$0] & 63)) == 0 }
            keep(kept, ids: kept.map { held[$0] }, inList: l)
        }
    }

    /// Gives every vector the id `newID(old)` (`nil`: drop it), keeping each list's order; the
    /// mapping must keep the order of the ids it keeps. ``count`` becomes `newCount` when given.
    mutating func renumber(count newCount: Int? = nil, _ newID: (Int64) -> Int64?) {
        for l in lists.indices {
            let kept = lists[l].ids.indices.compactMap { i in newID(lists[l].ids[i]).map { (i, $0) } }
            guard kept.count != lists[l].ids.count || kept.contains(where: { lists[l].ids[$0.0] != $0.1 }) else { continue }
            keep(kept.map(\.0), ids: kept.map(\.1), inList: l)
        }
        if let newCount { count = newCount }
    }

    /// Keeps the entries at `positions` (ascending) of list `l`, as `ids`.
    private mutating func keep(_ positions: [Int], ids: [Int64], inList l: Int) {
        if kind.subquantizers != nil {
            lists[l].codes = lists[l].codes.selecting(positions)
        } else if positions.count != lists[l].ids.count {
            var rows = RowStore(dimension: codedDimension, chunkRows: 256)
            if !positions.isEmpty { rows.append(Tensor.concatenated(positions.map { lists[l].rows.rows($0..<($0 + 1)) }, along: 0)) }
            lists[l].rows = rows
        }
        lists[l].ids = ids
    }

    /// Appends `vectors` `[n, D]` as ids `count ..< count + n`.
    public mutating func add(_ vectors: Tensor) throws(IndexError) {
        guard vectors.rank == 2, vectors.shape[1] == dimension else {
            throw .dimensionMismatch(expected: dimension, got: vectors.rank == 2 ? vectors.shape[1] : -1)
        }
        guard vectors.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        let n = vectors.shape[0]
        guard n > 0 else { return }
        let x = coded(vectors)
        let assignment = coarse?.assign(x) ?? Array(repeating: 0, count: n)
        let codes = productQuantizer.map { pq in
            pq.encode(coarse == nil ? x : Self.residuals(x, centroids: coarse!.centroids, assignment: assignment))
        } ?? []
        place(x, lists: assignment, codes: codes)
    }

    /// The `k` best ids of each query `[Q, D]` by (approximate) inner product, scanning the
    /// `probe` nearest lists (every list when `probe` ≥ their number), best first, padded with
    /// `-1` as ``TopK`` is. Queries are spread over ``ComputeThreads``.
    public func search(_ queries: Tensor, k: Int, probe: Int = 1) throws(IndexError) -> TopK {
        guard k >= 1 else { throw .invalidK(k) }
        guard probe >= 1 else { throw .invalidProbe(probe) }
        guard queries.rank == 2, queries.shape[1] == dimension else {
            throw .dimensionMismatch(expected: dimension, got: queries.rank == 2 ? queries.shape[1] : -1)
        }
        guard queries.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        let nq = queries.shape[0], probe = min(probe, lists.count)
        guard nq > 0 else { return RunningTopK(queries: 0, k: k).result }
        let queries = coded(queries)
        // per query: the lists to scan and, for IVF-PQ, q·c of each
        var probed = Array(repeating: 0, count: nq * probe), bias = Array(repeating: Float(0), count: nq * probe)
        if let coarse {
            // the lists and, for IVF-PQ, q·c of each, from one product
            (probed, bias) = coarse.probe(queries, count: probe)
        }
        let results = Locked([(Range<Int>, RunningTopK)]())
        if let pq = productQuantizer {
            ComputeThreads.forEachChunk(of: nq) { range in
                var top = RunningTopK(queries: range.count, k: k)
                // tables for a few queries at a time (32 × 64 KiB for M = 64), so that they stay in cache
                for b0 in stride(from: range.lowerBound, to: range.upperBound, by: 32) {
                    let b1 = min(range.upperBound, b0 + 32)
                    let tables = pq.innerProductTables(queries.sliced(along: 0, b0..<b1))
                    for q in b0..<b1 {
                        let table = CodeTable(tables, row: q - b0)
                        for p in 0..<probe {
                            let l = probed[q * probe + p]
                            top.mergeCodes(lists[l].codes, ids: lists[l].ids, table: table, bias: bias[q * probe + p], intoQuery: q - range.lowerBound)
                        }
                    }
                }
                results.withLock { $0.append((range, top)) }
            }
        } else {
            // IVF-Flat: each list is read once per chunk of queries, for all its queries in one product
            ComputeThreads.forEachChunk(of: nq) { range in
                var top = RunningTopK(queries: range.count, k: k)
                var askers = Array(repeating: [Int](), count: lists.count)
                for q in range { for p in 0..<probe { askers[probed[q * probe + p]].append(q) } }
                for (l, qs) in askers.enumerated() where !qs.isEmpty && !lists[l].ids.isEmpty {
                    let block = Tensor.concatenated(qs.map { queries.sliced(along: 0, $0..<($0 + 1)) }, along: 0)
                    lists[l].rows.forEachBlock { first, rows in
                        let sims = matmul(block, rows, transposingB: true)
                        let ids = Array(lists[l].ids[first..<(first + rows.shape[0])])
                        for (r, q) in qs.enumerated() { top.merge(row: r, of: sims, intoQuery: q - range.lowerBound, ids: ids) }
                    }
                }
                results.withLock { $0.append((range, top)) }
            }
        }
        var scores = [Float](repeating: -.infinity, count: nq * k), ids = [Int](repeating: -1, count: nq * k)
        for (range, top) in results.withLock({ $0 }) {
            for (i, q) in range.enumerated() {
                for j in 0..<k { (scores[q * k + j], ids[q * k + j]) = (top.scores[i * k + j], Int(top.ids[i * k + j])) }
            }
        }
        return TopK(scores: Tensor(shape: [nq, k], scalars: scores), indices: ids)
    }
}

/// How an index with a quantized part is searched (ignored by one without).
public struct QuantizedSearch: Sendable, Hashable, Codable {
    /// Lists of the inverted file scanned per query vector (faiss's `nprobe`).
    public var probe: Int
    /// Candidates taken from the quantized part per query vector and re-scored exactly with the
    /// stored vectors (faiss's refinement); `0`: the quantized scores are final.
    public var refine: Int

    /// Sixteen lists and 1,000 candidates. Evaluation ranks every image, so a positive that no
    /// candidate reaches counts as missed: on flowers17-dev in object mode (IVF64,PQ80) 100
    /// candidates kept R@1 but lost a quarter of the mAP (0.459 against 0.613 exact), 1,000 kept
    /// it (0.614). Re-scoring 1,000 rows costs about one exact scan of 1,000 vectors.
    public init(probe: Int = 16, refine: Int = 1000) { (self.probe, self.refine) = (probe, refine) }

    func validate() throws(IndexError) {
        guard probe >= 1 else { throw .invalidProbe(probe) }
        guard refine >= 0 else { throw .invalidRefine(refine) }
    }
}

extension QuantizedIndex {
    /// At most this many of an index's own vectors train its quantizer: 256 per list (faiss's
    /// cap), and no fewer than 65,536 when there are that many, for the product quantizer.
    static func trainingRows(for kind: Kind) -> Int { max(256 * kind.lists, 65_536) }

    /// Trains `kind` (after a projection to `reducedDimension`, when given) on (a seeded sample
    /// of) `vectors` and adds them all.
    static func built(_ kind: Kind, reducedDimension: Int?, from vectors: Tensor, seed: UInt64) throws(IndexError) -> QuantizedIndex {
        var index = try QuantizedIndex(kind: kind, training: ProductQuantizer.sample(vectors, rows: trainingRows(for: kind), seed: seed),
                                       reducedDimension: reducedDimension, seed: seed)
        for start in stride(from: 0, to: vectors.shape[0], by: 65_536) {
            try index.add(vectors.sliced(along: 0, start..<min(vectors.shape[0], start + 65_536)))
        }
        return index
    }

    /// Its trained parts and each vector's list and code, as file entries `quantized.*`.
    func write(to tensors: inout [String: Tensor], bytes: inout [String: SafetensorsFile.ByteTensor], metadata: inout [String: String]) {
        metadata["quantized"] = kind.description
        metadata["quantized-probe"] = String(defaultSearch.probe)
        metadata["quantized-refine"] = String(defaultSearch.refine)
        if let coarse { tensors["quantized.coarse"] = coarse.centroids }
        if let projection { tensors["quantized.projection"] = projection }
        if let productQuantizer { tensors["quantized.pq"] = productQuantizer.centroids }
        if let m = kind.subquantizers {
            // codes (and their ids) list after list, as they lie in memory: reading them back is
            // one copy per list
            var ids: [UInt8] = [], codes: [UInt8] = []
            ids.reserveCapacity(8 * liveCount)
            codes.reserveCapacity(m * liveCount)
            for list in lists {
                for id in list.ids { withUnsafeBytes(of: id.littleEndian) { ids += $0 } }
                codes += list.codes.allRows
            }
            tensors["quantized.list-sizes"] = Tensor(shape: [lists.count], scalars: lists.map { Float($0.ids.count) })
            bytes["quantized.ids"] = SafetensorsFile.ByteTensor(shape: [liveCount, 8], values: ids)
            bytes["quantized.codes"] = SafetensorsFile.ByteTensor(shape: [liveCount, m], values: codes)
        } else {
            tensors["quantized.lists"] = Tensor(shape: [count], scalars: assignment.lists.map(Float.init))
        }
    }

    /// Lists as ``write(to:bytes:metadata:)`` stores them for PQ codes: each list's size, then
    /// every list's ids and codes in turn. `count` is the number of vectors the index numbers
    /// (removed ones included).
    mutating func restoreLists(count total: Int, sizes: [Int], ids: UnsafeRawBufferPointer, codes: UnsafeRawBufferPointer) throws(IndexError) {
        let m = kind.subquantizers ?? 0, live = sizes.reduce(0, +)
        guard m > 0, sizes.count == lists.count, sizes.allSatisfy({ $0 >= 0 }), ids.count == 8 * live, codes.count == m * live, live <= total else {
            throw .invalidTraining("list sizes, ids and codes do not fit a \(kind) index of \(total) vectors")
        }
        // each list's ids read and codes put in blocks on the compute threads; ids checked after
        var starts = [Int](repeating: 0, count: sizes.count)
        for l in sizes.indices.dropFirst() { starts[l] = starts[l - 1] + sizes[l - 1] }
        let built = Locked([(list: Int, ids: [Int64], codes: BlockedCodes)]())
        ComputeThreads.forEachChunk(of: sizes.count) { range in
            var made: [(list: Int, ids: [Int64], codes: BlockedCodes)] = []
            for l in range where sizes[l] > 0 {
                let (start, size) = (starts[l], sizes[l])
                let listIDs = (start..<(start + size)).map { Int64(littleEndian: ids.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
                made.append((l, listIDs, BlockedCodes(subquantizers: m, rows: UnsafeRawBufferPointer(rebasing: codes[(start * m)..<((start + size) * m)]))))
            }
            built.withLock { $0 += made }
        }
        var seen = [Bool](repeating: false, count: total)
        for (l, listIDs, listCodes) in built.withLock({ $0 }).sorted(by: { $0.list < $1.list }) {
            for id in listIDs {
                guard id >= 0 && id < Int64(total) && !seen[Int(id)] else { throw .invalidTraining("list \(l) holds id \(id): out of range or held twice") }
                seen[Int(id)] = true
            }
            guard lists[l].ids.isEmpty else { throw .invalidTraining("list \(l) is restored into an index that holds vectors") }
            lists[l].ids = listIDs
            lists[l].codes = listCodes
        }
        count = total
    }

    /// The probe and refine recorded at index time, when the file has them.
    mutating func readSearchDefaults(_ file: SafetensorsFile) throws(IndexError) {
        if let probe = file.metadata["quantized-probe"].flatMap({ Int($0) }), let refine = file.metadata["quantized-refine"].flatMap({ Int($0) }) {
            defaultSearch = QuantizedSearch(probe: probe, refine: refine)
            try defaultSearch.validate()
        }
    }

    /// The quantized part of `file` (`nil` when it has none) over its `vectors`, checked.
    static func read(_ file: SafetensorsFile, _ url: URL, vectors: Tensor) throws(IndexError) -> QuantizedIndex? {
        guard let name = file.metadata["quantized"] else { return nil }
        guard let kind = Kind(name) else { throw .malformed(url, "unknown quantized index \(name)") }
        do {
            let coarse = try file.entries["quantized.coarse"].map { _ in KMeans(centroids: try file.tensor(named: "quantized.coarse")) }
            let pq = try file.entries["quantized.pq"].map { _ in try ProductQuantizer(centroids: try file.tensor(named: "quantized.pq")) }
            let projection = try file.entries["quantized.projection"].map { _ in try file.tensor(named: "quantized.projection") }
            guard projection.map({ $0.rank == 2 && $0.shape[1] == vectors.shape[1] }) ?? true else {
                throw IndexError.malformed(url, "the quantized index's projection \(projection!.shape) does not fit vectors of dimension \(vectors.shape[1])")
            }
            let coded = projection?.shape[0] ?? vectors.shape[1]
            guard coarse.map({ $0.centroids.shape[1] == coded && $0.centroids.scalars.allSatisfy(\.isFinite) }) ?? true else {
                throw IndexError.malformed(url, "the quantized index's coarse centres do not fit vectors of dimension \(coded)")
            }
            if kind.subquantizers != nil, file.entries["quantized.ids"] != nil {
                var index = try QuantizedIndex(kind: kind, coarse: coarse, productQuantizer: pq, projection: projection)
                let sizes = try file.tensor(named: "quantized.list-sizes").scalars
                guard sizes.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 <= Float(vectors.shape[0]) }) else {
                    throw IndexError.malformed(url, "the quantized index's list sizes do not fit \(vectors.shape[0]) vectors")
                }
                try file.withBytes(named: "quantized.ids") { ids in
                    try file.withBytes(named: "quantized.codes") { codes in
                        try index.restoreLists(count: vectors.shape[0], sizes: sizes.map { Int($0) }, ids: ids, codes: codes)
                    }
                }
                try index.readSearchDefaults(file)
                return index
            }
            let lists = try file.tensor(named: "quantized.lists")
            let codes = try kind.subquantizers.map { _ in try file.byteTensor(named: "quantized.codes") }
            guard lists.shape == [vectors.shape[0]], codes.map({ $0.shape == [vectors.shape[0], kind.subquantizers!] }) ?? true,
                  lists.scalars.allSatisfy({ $0 >= 0 && $0 < Float(kind.lists) && $0 == $0.rounded() })
            else { throw IndexError.malformed(url, "the quantized index's lists \(lists.shape) and codes \(codes?.shape ?? []) do not fit \(vectors.shape[0]) vectors") }
            var index = try QuantizedIndex(kind: kind, coarse: coarse, productQuantizer: pq, projection: projection)
            try index.restore(vectors, lists: lists.scalars.map { Int($0) }, codes: codes?.values ?? [])
            try index.readSearchDefaults(file)
            return index
        } catch let error as IndexError {
            if case .malformed = error { throw error }
            throw .malformed(url, "quantized index: \(error)")
        } catch let error as SafetensorsError { throw .unreadable(url, error) } catch { throw .malformed(url, "quantized index: \(error)") }
    }
}

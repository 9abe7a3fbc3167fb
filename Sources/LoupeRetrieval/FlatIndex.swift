public import Foundation
public import LoupeTensor
public import LoupeWhitening

/// Why an index operation failed. File cases name the file and carry the underlying error.
public enum IndexError: Error, Equatable, CustomStringConvertible {
    case dimensionMismatch(expected: Int, got: Int)
    case countMismatch(vectors: Int, paths: Int)
    case recipeMismatch([String])
    case notFinite
    case invalidK(Int)
    /// Lists to probe must be at least 1.
    case invalidProbe(Int)
    /// Candidates to re-score must be 0 or more.
    case invalidRefine(Int)
    /// An image number outside the index.
    case unknownImage(Int, count: Int)
    /// An id that no image of the index has (``FlatIndex/ids``).
    case unknownID(Int)
    /// A quantizer cannot be trained as asked (why).
    case invalidTraining(String)
    /// The recipe, or the whitening given with it, cannot make an index of this kind.
    case invalidRecipe(String)
    /// The file could not be read as safetensors.
    case unreadable(URL, SafetensorsError)
    /// The index could not be written (nothing replaced the old file).
    case unwritable(URL, SafetensorsError)
    /// The file is not an index of the kind asked for; `format` is what it says it is.
    case wrongFormat(URL, format: String?)
    /// Written by a Loupe whose index format this one does not read.
    case unsupportedVersion(URL, version: String?)
    /// The stored recipe could not be read.
    case recipe(URL, RecipeError)
    /// A part of the file is missing, malformed or inconsistent (which, and how).
    case malformed(URL, String)
    /// A section of the file (a tensor such as `vectors`, or `__metadata__`: the recipe, paths and
    /// regions) does not match the checksum written with it.
    case damaged(URL, section: String)
    /// The index keeps local features and an image came without them (or the reverse).
    case localFeaturesMismatch(String)
    /// Another process is writing this segmented index folder (its `.lock` is held).
    case busy(URL)

    public var description: String {
        switch self {
        case let .dimensionMismatch(e, g): "index holds \(e)-d vectors, got \(g)-d"
        case let .countMismatch(v, p): "\(v) vectors but \(p) paths"
        case let .recipeMismatch(d): "the query was embedded with another recipe than the index: \(d.joined(separator: "; "))"
        case .notFinite: "vectors hold NaN or infinity"
        case let .invalidK(k): "k must be at least 1, got \(k)"
        case let .invalidProbe(p): "lists to probe must be at least 1, got \(p)"
        case let .invalidRefine(r): "candidates to re-score must be 0 or more, got \(r)"
        case let .unknownImage(i, count): "image \(i) is not in the index (it holds \(count))"
        case let .unknownID(id): "no image of the index has id \(id)"
        case let .invalidTraining(why): why
        case let .invalidRecipe(why): why
        case let .unreadable(url, error): "cannot read index \(url.path): \(error)"
        case let .unwritable(url, error): "cannot write index \(url.path): \(error)"
        case let .wrongFormat(url, format):
            switch format {
            case "loupe-flat-index": "\(url.path) is a global index, not an object index"
            case "loupe-object-index": "\(url.path) is an object index, not a global index"
            case let format? where format.hasPrefix("a "): "\(url.path) is \(format), not a Loupe index"
            default: "\(url.path) is not a Loupe index"
            }
        case let .unsupportedVersion(url, version):
            "\(url.path) has index format version \(version ?? "?"); this Loupe reads 1 to 3: rebuild the index"
        case let .recipe(url, error): "\(url.path): \(error)"
        case let .malformed(url, why): "\(url.path): \(why)"
        case let .localFeaturesMismatch(why): why
        case let .busy(url): "another process is writing the index \(url.path); try again when it is done"
        case let .damaged(url, section): "\(url.path) is damaged: its section '\(section)' does not match the checksum written with it; rebuild the index"
        }
    }
}

/// One search result.
public struct SearchHit: Sendable, Equatable, Codable {
    /// The image's position in the index (its row); named as in ``ObjectHit/image``. Compaction
    /// renumbers positions.
    public var image: Int
    /// Inner product (cosine similarity for normalised vectors).
    public var score: Float
    /// The indexed image.
    public var path: String
    /// The image's id (``FlatIndex/ids``): given when it was added and kept through removals,
    /// compactions and updates, so that it can be stored elsewhere.
    public var id: Int

    public init(image: Int, score: Float, path: String, id: Int? = nil) {
        (self.image, self.score, self.path, self.id) = (image, score, path, id ?? image)
    }
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
///
/// How much of an index file is checked when it is opened.
public enum IndexVerification: Sendable, Hashable {
    /// Every section's checksum and every vector's finiteness, before the index is returned:
    /// the whole file is read.
    case full
    /// Every section but the vectors at once; each vector row is checked (its own CRC-32C,
    /// finiteness) the first time a search reads it, and all of them before anything reads
    /// them all (an exact scan, a write, a compaction). The file is memory-mapped, so a large
    /// quantized index opens without reading its vectors and pages in only the rows its searches
    /// re-score. A damaged row is reported by the search that reads it
    /// (``IndexError/damaged(_:section:)``). ``FlatIndex/vectors`` and the other direct
    /// accessors return rows as stored: call ``FlatIndex/verify()`` first. Files written before
    /// per-row checksums existed are checked in full.
    case onAccess
}

/// `add` is amortised O(1) per row (see the vectors' chunked store), so an index can be grown
/// image by image. The whitening the vectors went through, when the recipe has one, travels
/// with the index, so that the embedder can be rebuilt from the file alone.
public struct FlatIndex: Sendable {
    var store: RowStore
    /// One per row.
    public internal(set) var paths: [String]
    /// One per row: the image's id, given when it was added (``nextID``, counting up) and kept
    /// through ``remove(images:)``, ``compact()`` and updates (a changed file is a new image, with
    /// a new id). Hits carry it (``SearchHit/id``).
    public internal(set) var ids: [Int] = []
    /// The id the next image added gets: one more than any id ever given, so that an id is never
    /// given twice.
    public internal(set) var nextID = 0
    /// One per row: what its image file was when it was embedded (`nil` for vectors added
    /// without one); ``changes(comparedWith:)`` compares them with a folder.
    public internal(set) var stamps: [FileStamp?]
    /// The folder the images' paths are stored relative to (`loupe index` sets the folder it
    /// indexed): the file keeps the paths under it relative, so that the images can move with
    /// it, and ``init(contentsOf:root:)`` can re-point them. `nil`: paths are stored as given.
    public var root: URL?
    /// How the vectors were made.
    public let recipe: EmbeddingRecipe
    /// The whitening named by `recipe.whitening`, when it is known.
    public let whitening: Whitening?
    /// The approximate index over the same vectors, when ``quantize(_:reducingTo:seed:defaultSearch:)`` made one: searches
    /// then scan it and re-score its candidates exactly (``QuantizedSearch``).
    public internal(set) var quantized: QuantizedIndex?
    /// What of the index a segment folder holds, when it was read from one (``IndexLayout/segments``).
    var origin: SegmentOrigin?

    public var dimension: Int { recipe.dimension }
    public var count: Int { store.count }
    /// `[N, D]`: every row (a copy once the index has grown past one block).
    public var vectors: Tensor { store.all }
    /// Rows `range` `[range.count, D]`, without materialising the whole store.
    public func vectors(_ range: Range<Int>) -> Tensor { store.rows(range) }

    /// An empty index for vectors of `recipe`, with the whitening they go through (checked
    /// against `recipe.whitening`).
    public init(recipe: EmbeddingRecipe, whitening: Whitening? = nil) throws(IndexError) {
        try Self.check(whitening, against: recipe)
        self.recipe = recipe
        self.whitening = whitening
        store = RowStore(dimension: recipe.dimension)
        paths = []
        stamps = []
    }

    static func check(_ whitening: Whitening?, against recipe: EmbeddingRecipe) throws(IndexError) {
        guard let whitening else { return }
        guard recipe.whitening == WhiteningIdentity(of: whitening) else {
            throw .invalidRecipe("the whitening \(WhiteningIdentity(of: whitening)) is not the recipe's (\(recipe.whitening.map(\.description) ?? "none"))")
        }
    }

    /// Appends `vectors` `[n, D]` with their paths (and, optionally, their files' stamps):
    /// amortised O(n), whatever the index holds.
    public mutating func add(_ new: Tensor, paths newPaths: [String], stamps newStamps: [FileStamp?]? = nil) throws(IndexError) {
        guard new.rank == 2, new.shape[1] == dimension else { throw .dimensionMismatch(expected: dimension, got: new.rank == 2 ? new.shape[1] : -1) }
        guard new.shape[0] == newPaths.count else { throw .countMismatch(vectors: new.shape[0], paths: newPaths.count) }
        if let newStamps, newStamps.count != newPaths.count { throw .countMismatch(vectors: new.shape[0], paths: newStamps.count) }
        guard new.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        try quantized?.add(new)
        store.append(new)
        paths += newPaths
        stamps += newStamps ?? Array(repeating: nil, count: newPaths.count)
        ids += nextID..<(nextID + newPaths.count)
        nextID += newPaths.count
    }

    /// Images taken out by ``remove(images:)``: no search returns them; ``compact()`` drops them.
    public private(set) var removed: Set<Int> = []

    /// Takes images out of every search (tombstones; their rows stay until ``compact()``).
    public mutating func remove(images: some Sequence<Int>) throws(IndexError) {
        let gone = Set(images)
        if let bad = gone.first(where: { $0 < 0 || $0 >= count }) { throw .unknownImage(bad, count: count) }
        removed.formUnion(gone)
        quantized?.remove(ids: gone)
    }

    /// Drops the removed images for good: the others keep their order and their ``ids`` and are
    /// numbered `0 ..< count` again (the quantized part keeps its training and codes, renumbered).
    public mutating func compact() throws(IndexError) {
        guard !removed.isEmpty else { return }
        try store.verifyAll()
        let kept = (0..<count).filter { !removed.contains($0) }
        var newID = [Int64?](repeating: nil, count: count)
        for (i, old) in kept.enumerated() { newID[old] = Int64(i) }
        quantized?.renumber(count: kept.count) { newID[Int($0)] }
        var rows = RowStore(dimension: dimension)
        if !kept.isEmpty { rows.append(Tensor.concatenated(kept.map { store.rows($0..<($0 + 1)) }, along: 0)) }
        store = rows
        paths = kept.map { paths[$0] }
        stamps = kept.map { stamps[$0] }
        ids = kept.map { ids[$0] }
        removed = []
        origin = nil
    }

    /// Trains an approximate index of `kind` on (a seeded sample of) the vectors held now and
    /// adds them all; vectors added later go into it too.
    ///
    /// - Parameter reducedDimension: project the vectors onto their `N` leading principal
    ///   directions first (``QuantizedIndex/projection``), e.g. 256 of 1280.
    public mutating func quantize(_ kind: QuantizedIndex.Kind, reducingTo reducedDimension: Int? = nil, seed: UInt64 = 1,
                                  defaultSearch: QuantizedSearch = .init()) throws(IndexError) {
        try defaultSearch.validate()
        quantized = try QuantizedIndex.built(kind, reducedDimension: reducedDimension, from: vectors, seed: seed)
        quantized!.defaultSearch = defaultSearch
        origin = nil
    }

    /// Drops the approximate index: searches are exact again.
    public mutating func removeQuantization() {
        quantized = nil
        origin = nil
    }

    /// The `k` nearest rows of each query `[Q, D]`, optionally with query expansion. The queries
    /// must come from a compatible recipe (pass it to have it checked). With a quantized part,
    /// `quantizedSearch` says how many lists it scans and how many candidates are re-scored.
    public func search(_ queries: Tensor, k: Int, expansion: QueryExpansion = .none,
                       recipe queryRecipe: EmbeddingRecipe? = nil, quantizedSearch: QuantizedSearch = .init()) throws(IndexError) -> [[SearchHit]] {
        if let queryRecipe, !queryRecipe.isCompatible(with: recipe) { throw .recipeMismatch(queryRecipe.differences(from: recipe)) }
        guard k >= 1 else { throw .invalidK(k) }
        guard queries.rank == 2, queries.shape[1] == dimension else {
            throw .dimensionMismatch(expected: dimension, got: queries.rank == 2 ? queries.shape[1] : -1)
        }
        guard queries.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        try quantizedSearch.validate()
        guard count > 0 else { return Array(repeating: [], count: queries.shape[0]) }
        var q = queries
        switch expansion {
        case .none: break
        case let .average(n): q = try expand(queries, n: n, alpha: 0, quantizedSearch: quantizedSearch)
        case let .alpha(n, alpha): q = try expand(queries, n: n, alpha: alpha, quantizedSearch: quantizedSearch)
        }
        return try nearest(q, k: min(k, count), quantizedSearch: quantizedSearch).map { $0.map { SearchHit(image: $0.index, score: $0.score, path: paths[$0.index], id: ids[$0.index]) } }
    }

    /// The `k` best rows of each query: exact, or from the quantized part's candidates.
    func nearest(_ queries: Tensor, k: Int, quantizedSearch: QuantizedSearch) throws(IndexError) -> [[(index: Int, score: Float)]] {
        guard let quantized else {
            try store.verifyAll()
            guard !removed.isEmpty else { return nearest(queries, k: k) }
            return nearest(queries, k: min(count, k + removed.count)).map { Array($0.filter { !removed.contains($0.index) }.prefix(k)) }
        }
        let top = try quantized.search(queries, k: max(k, quantizedSearch.refine), probe: quantizedSearch.probe)
        return try (0..<queries.shape[0]).map { qi throws(IndexError) in
            let found = top.results(forQuery: qi)
            guard quantizedSearch.refine > 0, !found.isEmpty else { return Array(found.prefix(k)) }
            // exact scores of the candidates, from the stored vectors
            let ids = found.map(\.index)
            let rows = try store.gather(ids)
            let exact = matmul(queries.sliced(along: 0, qi..<(qi + 1)), rows, transposingB: true).scalars
            let ranked = zip(ids, exact).sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
            return ranked.prefix(k).map { (index: $0.0, score: $0.1) }
        }
    }

    /// The `k` best rows of each query over every block, best first (ties: the lower row first).
    func nearest(_ queries: Tensor, k: Int) -> [[(index: Int, score: Float)]] {
        var merged = Array(repeating: [(index: Int, score: Float)](), count: queries.shape[0])
        store.forEachBlock { first, rows in
            let top = nearestNeighbors(of: queries, in: rows, k: min(k, rows.shape[0]))
            for qi in merged.indices { merged[qi] += top.results(forQuery: qi).map { (first + $0.index, $0.score) } }
        }
        return merged.map { hits in
            Array(hits.sorted { $0.score != $1.score ? $0.score > $1.score : $0.index < $1.index }.prefix(k))
        }
    }

    /// `q + Σ_{i ≤ n} max(s_i, 0)^α · x_i`, L2-normalised (α = 0: plain average of the top `n`
    /// and the query).
    func expand(_ queries: Tensor, n: Int, alpha: Float, quantizedSearch: QuantizedSearch = .init()) throws(IndexError) -> Tensor {
        guard n >= 1 else { return queries }
        let top = try nearest(queries, k: min(n, count), quantizedSearch: quantizedSearch)
        let d = dimension
        let neighbours = try top.map { hits throws(IndexError) in try store.gather(hits.map(\.index)).scalars }
        var out = queries
        out.withUnsafeMutableBufferPointer { p in
            for qi in 0..<queries.shape[0] {
                for (i, (_, score)) in top[qi].enumerated() {
                    let w = alpha == 0 ? 1 : pow(max(score, 0), alpha)
                    for j in 0..<d { p[qi * d + j] += w * neighbours[qi][i * d + j] }
                }
            }
        }
        return out.l2NormalizedRows()
    }
}

extension FlatIndex {

    /// File format version; bumped on incompatible changes. Version 4 keeps the paths and the
    /// files' stamps as binary sections and the vectors' per-row checksums; version 3 records a
    /// checksum of every section (and must: a file of version 3 on without them is damaged);
    /// version 2 holds the typed recipe and the whitening; versions 1 to 3 are still read.
    public static let formatVersion = "4"

    /// Saves the index, atomically: an interrupted save leaves the old index intact.
    ///
    /// As a file (``IndexLayout/file``), it is safetensors: `vectors`, and `whitening.mean` /
    /// `whitening.projection` when there is one, with the recipe and paths in the metadata. It is
    /// written to a temporary file and renamed into place. In a segment folder
    /// (``IndexLayout/segments``), only what changed since the index was read from that folder is
    /// written, as a new segment.
    ///
    /// - Parameter layout: `nil` (the default) keeps what is at `url`: a segment folder stays one,
    ///   and anything else is written as a file.
    public func write(to url: URL, layout: IndexLayout? = nil) throws(IndexError) {
        switch try IndexFile.layout(layout, at: url) {
        case .file: try writeFile(to: url, adding: [:])
        case .segments: try SegmentFolder.write(self, to: url)
        }
    }

    func writeFile(to url: URL, adding extra: [String: String]) throws(IndexError) {
        try store.verifyAll()
        var tensors = [String: Tensor]()
        var metadata = ["format": "loupe-flat-index", "version": Self.formatVersion, "recipe": recipe.json]
        var bytes: [String: SafetensorsFile.ByteTensor] = [:]
        IndexFile.add(paths: paths, root: root, file: url, to: &metadata, bytes: &bytes)
        IndexFile.add(stamps: stamps, to: &bytes)
        IndexFile.add(ids: ids, next: nextID, to: &bytes, metadata: &metadata)
        IndexFile.add(whitening, to: &tensors, metadata: &metadata)
        quantized?.write(to: &tensors, bytes: &bytes, metadata: &metadata)
        IndexFile.add(removed: removed, to: &metadata)
        bytes[IndexFile.rowChecksums] = IndexFile.rowChecksums(of: store)
        IndexFile.add(unitLengthOf: store, to: &metadata)
        metadata.merge(extra) { _, new in new }
        // the vectors streamed block by block: a grown store is not copied into one tensor first
        var blocks = tensors.mapValues { [$0] }
        blocks["vectors"] = store.blocks
        do { try SafetensorsFile.write(blocks: blocks, bytes: bytes, metadata: metadata, checksums: true, to: url) } catch { throw .unwritable(url, error) }
    }

    /// Checks every vector not checked yet (an index opened with ``IndexVerification/onAccess``;
    /// otherwise there is nothing left to check).
    public func verify() throws(IndexError) { try store.verifyAll() }

    /// Loads an index written by ``write(to:)`` (or by version 1, converting its recipe),
    /// checking its format, version and consistency.
    ///
    /// - Parameters:
    ///   - root: where the images are now, when they moved since indexing (the paths stored
    ///     relative to the index's root are resolved against it).
    ///   - verification: check the whole file now (the default), or the vectors as they are
    ///     read (``IndexVerification/onAccess``: a large quantized index opens at once).
    public init(contentsOf url: URL, root: URL? = nil, verification: IndexVerification = .full) throws(IndexError) {
        if SegmentFolder.holdsIndex(url) {
            self = try SegmentFolder.open(url, root: root, verification: verification)
        } else {
            try self.init(file: url, root: root, verification: verification)
        }
    }

    init(file url: URL, root: URL?, verification: IndexVerification) throws(IndexError) {
        let (file, rowChecksums) = try IndexFile.open(url, format: "loupe-flat-index", verification: verification)
        let recipe = try IndexFile.recipe(file, url)
        guard case .global = recipe.mode else { throw .malformed(url, "a flat index holds a global recipe, this one is \(recipe.mode)") }
        let (paths, root) = try IndexFile.paths(file, url, root: root)
        self.root = root
        let vectors: Tensor
        do { vectors = try file.tensor(named: "vectors") } catch { throw .unreadable(url, error) }
        guard vectors.rank == 2, vectors.shape[1] == recipe.dimension else {
            throw .malformed(url, "vectors \(vectors.shape) do not fit the recipe's dimension \(recipe.dimension)")
        }
        guard vectors.shape[0] == paths.count else { throw .countMismatch(vectors: vectors.shape[0], paths: paths.count) }
        self.recipe = recipe
        whitening = try IndexFile.whitening(file, url, recipe: recipe)
        if rowChecksums == nil { try IndexFile.checkRows(vectors, file, url) }
        quantized = try QuantizedIndex.read(file, url, vectors: vectors)
        removed = try IndexFile.removed(file, url, images: paths.count)
        quantized?.remove(ids: removed)
        store = RowStore(vectors)
        store.verifier = try rowChecksums.map { checksums throws(IndexError) in
            guard checksums.count == vectors.shape[0] else { throw .damaged(url, section: IndexFile.rowChecksums) }
            return RowVerifier(url: url, checksums: checksums, unitLength: file.metadata[IndexFile.unitLength] == "1")
        }
        self.paths = paths
        stamps = try IndexFile.stamps(file, url, images: paths.count)
        (ids, nextID) = try IndexFile.ids(file, url, images: paths.count)
    }
}

extension FlatIndex: SegmentedIndex {
    static var fileFormat: String { "loupe-flat-index" }

    func slice(_ images: Range<Int>) throws(IndexError) -> FlatIndex {
        var part = try FlatIndex(recipe: recipe, whitening: whitening)
        part.root = root
        // the rows are checked as they are read, not the whole store (a delta of a large mapped index)
        part.store.append(try store.gather(Array(images)))
        part.paths = Array(paths[images])
        part.stamps = Array(stamps[images])
        (part.ids, part.nextID) = (Array(ids[images]), nextID)
        return part
    }

    mutating func append(segment: FlatIndex) throws(IndexError) {
        try add(segment.vectors, paths: segment.paths, stamps: segment.stamps)
        try IndexFile.take(ids: segment.ids, next: segment.nextID, into: &ids, next: &nextID)
    }

    /// The image of each id (`nil` where no image has it); removed images still have theirs
    /// until compaction.
    public func images(withIDs wanted: some Sequence<Int>) -> [Int?] { IndexFile.images(withIDs: wanted, ids: ids) }

    /// Takes the images of `ids` out of every search, as ``remove(images:)`` does.
    public mutating func remove(ids gone: some Sequence<Int>) throws(IndexError) {
        try remove(images: IndexFile.images(ofIDs: gone, ids: ids))
    }
}

/// What the two index formats share on disk: the format check, the recipe, the whitening.
enum IndexFile {
    /// The ids as the section `ids` `[N, 8]` (little-endian 64-bit) with `next-id` in the
    /// metadata, when they are not `0 ..< N` with `N` next (an index never compacted or updated
    /// stores none, and reads as such).
    static func add(ids: [Int], next: Int, to bytes: inout [String: SafetensorsFile.ByteTensor], metadata: inout [String: String]) {
        guard next != ids.count || ids.enumerated().contains(where: { $0.offset != $0.element }) else { return }
        var out = [UInt8](repeating: 0, count: 8 * ids.count)
        out.withUnsafeMutableBytes { raw in
            for (i, id) in ids.enumerated() { raw.storeBytes(of: UInt64(id).littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
        }
        bytes["ids"] = SafetensorsFile.ByteTensor(shape: [ids.count, 8], values: out)
        metadata["next-id"] = String(next)
    }

    /// The ids a file records (`0 ..< images` when it records none), each below `next-id` and
    /// none twice.
    static func ids(_ file: SafetensorsFile, _ url: URL, images: Int) throws(IndexError) -> (ids: [Int], next: Int) {
        guard file.entries["ids"] != nil else { return (Array(0..<images), images) }
        guard let text = file.metadata["next-id"], let next = Int(text), next >= images, next < 1 << 40 else {
            throw .malformed(url, "the ids section comes without a valid next-id")
        }
        let bytes: SafetensorsFile.ByteTensor
        do { bytes = try file.byteTensor(named: "ids") } catch { throw .unreadable(url, error) }
        guard bytes.shape == [images, 8] else { throw .malformed(url, "ids \(bytes.shape) do not fit \(images) images") }
        // a bitmap of next-id bits when that is not much more than the ids themselves; a set when a
        // file claims a next-id far beyond its images (which must not make it allocate that much)
        let dense = next <= 64 * images + 65_536
        var seen = [UInt64](repeating: 0, count: dense ? next / 64 + 1 : 0)
        var seenSet = Set<UInt64>()
        var ids = [Int](repeating: 0, count: images)
        let good = bytes.values.withUnsafeBytes { raw in
            for i in 0..<images {
                let id = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                guard id < UInt64(next) else { return false }
                if dense {
                    guard seen[Int(id >> 6)] & (1 << (id & 63)) == 0 else { return false }
                    seen[Int(id >> 6)] |= 1 << (id & 63)
                } else {
                    guard seenSet.insert(id).inserted else { return false }
                }
                ids[i] = Int(id)
            }
            return true
        }
        guard good else { throw .malformed(url, "an id is given twice or is not below next-id \(next)") }
        return (ids, next)
    }

    /// Replaces the last `taken.count` ids with a segment's own (read back, they keep the ids
    /// they were written with).
    static func take(ids taken: [Int], next: Int, into ids: inout [Int], next nextID: inout Int) throws(IndexError) {
        ids.replaceSubrange((ids.count - taken.count)..., with: taken)
        nextID = max(nextID, next)
    }

    static func images(withIDs wanted: some Sequence<Int>, ids: [Int]) -> [Int?] {
        var position: [Int: Int] = [:]
        position.reserveCapacity(ids.count)
        for (image, id) in ids.enumerated() { position[id] = image }
        return wanted.map { position[$0] }
    }

    static func images(ofIDs gone: some Sequence<Int>, ids: [Int]) throws(IndexError) -> [Int] {
        let asked = Array(gone)
        return try zip(asked, images(withIDs: asked, ids: ids)).map { pair throws(IndexError) in
            guard let image = pair.1 else { throw .unknownID(pair.0) }
            return image
        }
    }

    /// The layout a write to `url` uses: `asked`, else a segment folder when one is at `url`,
    /// else a file. A file is not replaced by a folder, nor a folder by a file.
    static func layout(_ asked: IndexLayout?, at url: URL) throws(IndexError) -> IndexLayout {
        let folder = SegmentFolder.isFolder(url)
        switch asked {
        case nil: return folder ? .segments : .file
        case .file?:
            if folder { throw .unwritable(url, .io(path: url.path, reason: "a folder is there; a file index cannot replace it")) }
            return .file
        case .segments?:
            if FileManager.default.fileExists(atPath: url.path) && !folder {
                throw .unwritable(url, .io(path: url.path, reason: "a file is there; a segmented index is a folder"))
            }
            if folder, !SegmentFolder.holdsIndex(url), let entries = try? FileManager.default.contentsOfDirectory(atPath: url.path),
               entries.contains(where: { $0 != ".lock" }) {
                throw .unwritable(url, .io(path: url.path, reason: "the folder holds other files and no index manifest"))
            }
            return .segments
        }
    }

    /// The section of per-row CRC-32Cs of the vectors (4 bytes each, little-endian).
    static let rowChecksums = "vectors.crc32c"
    /// Metadata saying that every vector has unit length, as embedders write them (`"1"`);
    /// reading such a file checks each row's length too, so that an edited row whose checksums
    /// were made again to match is still refused. Files of other vectors do not say it.
    static let unitLength = "unit-length"

    /// Whether `row` has length 1 (its squared length within 2·10⁻³ of 1).
    static func hasUnitLength(_ row: UnsafeBufferPointer<Float>) -> Bool {
        var s: Float = 0
        for x in row { s += x * x }
        return abs(s - 1) <= 2e-3
    }

    /// Records ``unitLength`` when every row of `store` has unit length.
    static func add(unitLengthOf store: RowStore, to metadata: inout [String: String]) {
        var all = store.count > 0
        store.forEachBlock { _, rows in
            guard all else { return }
            let d = store.dimension
            all = rows.withUnsafeBufferPointer { b in (0..<rows.shape[0]).allSatisfy { hasUnitLength(UnsafeBufferPointer(rebasing: b[($0 * d)..<(($0 + 1) * d)])) } }
        }
        if all { metadata[unitLength] = "1" }
    }

    /// Checks that `vectors` are finite and, where the file says so, of unit length: one pass of
    /// squared lengths (a NaN or infinity makes its row's sum one).
    static func checkRows(_ vectors: Tensor, _ file: SafetensorsFile, _ url: URL) throws(IndexError) {
        let unit = file.metadata[unitLength] == "1", d = vectors.shape[1]
        let problem: String? = vectors.withUnsafeBufferPointer { b in
            for r in 0..<vectors.shape[0] {
                let row = UnsafeBufferPointer(rebasing: b[(r * d)..<((r + 1) * d)])
                var s = SIMD8<Float>()
                var j = 0
                while j + 8 <= d {
                    let x = SIMD8<Float>(row[j..<(j + 8)])
                    s += x * x
                    j += 8
                }
                var sum = s.sum()
                while j < d { sum += row[j] * row[j]; j += 1 }
                if !sum.isFinite && !row.allSatisfy(\.isFinite) { return "vectors hold NaN or infinity" }
                if unit && abs(sum - 1) > 2e-3 { return "vector row \(r) does not have unit length, which the file records for every row" }
            }
            return nil
        }
        if let problem { throw .malformed(url, problem) }
    }

    static func rowChecksums(of store: RowStore) -> SafetensorsFile.ByteTensor {
        var bytes = [UInt8](repeating: 0, count: 4 * store.count)
        store.forEachBlock { first, rows in
            let d = store.dimension
            rows.withUnsafeBufferPointer { all in
                for r in 0..<rows.shape[0] {
                    let crc = SafetensorsFile.crc32c(of: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: all[(r * d)..<((r + 1) * d)])))
                    for b in 0..<4 { bytes[4 * (first + r) + b] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(b))) }
                }
            }
        }
        return SafetensorsFile.ByteTensor(shape: [store.count, 4], values: bytes)
    }

    /// Opens, checks format and version, and verifies the checksums: of every section, or
    /// (``IndexVerification/onAccess``, a file with per-row checksums) of every section but the
    /// vectors, whose per-row checksums are returned for checking rows as they are read.
    static func open(_ url: URL, format: String, verification: IndexVerification) throws(IndexError) -> (SafetensorsFile, rowChecksums: [UInt32]?) {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch {
            // an image given where an index belongs: say so, not what its bytes mean as a header
            let head = (try? FileHandle(forReadingFrom: url))?.readData(ofLength: 4) ?? Data()
            if head.starts(with: [0xFF, 0xD8, 0xFF]) { throw .wrongFormat(url, format: "a JPEG image") }
            if head.starts(with: [0x89, 0x50, 0x4E, 0x47]) { throw .wrongFormat(url, format: "a PNG image") }
            throw .unreadable(url, error)
        }
        guard file.metadata["format"] == format else {
            // a damaged format field is a damaged file, not a file of another kind
            if (try? file.verifyChecksums()) == nil { throw .damaged(url, section: "__metadata__") }
            throw .wrongFormat(url, format: file.metadata["format"])
        }
        guard ["1", "2", "3", "4"].contains(file.metadata["version"] ?? "") else {
            if (try? file.verifyChecksums()) == nil { throw .damaged(url, section: "__metadata__") }
            throw .unsupportedVersion(url, version: file.metadata["version"])
        }
        // from version 3 on the checksums are part of the format: a file without them lost them
        if ["3", "4"].contains(file.metadata["version"] ?? "") && !file.hasChecksums { throw .damaged(url, section: SafetensorsFile.checksumKey) }
        let lazy = verification == .onAccess && file.entries[rowChecksums] != nil
        do { try file.verifyChecksums(skipping: lazy ? ["vectors"] : []) } catch {
            if case let .checksumMismatch(section) = error { throw .damaged(url, section: section) }
            throw .unreadable(url, error)
        }
        guard lazy else { return (file, nil) }
        let bytes: SafetensorsFile.ByteTensor
        do { bytes = try file.byteTensor(named: rowChecksums) } catch { throw .unreadable(url, error) }
        guard bytes.shape.count == 2, bytes.shape[1] == 4 else { throw .damaged(url, section: rowChecksums) }
        let crcs = (0..<bytes.shape[0]).map { i in
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes.values[4 * i + $1]) << (8 * UInt32($1)) }
        }
        return (file, crcs)
    }

    static func recipe(_ file: SafetensorsFile, _ url: URL) throws(IndexError) -> EmbeddingRecipe {
        guard let json = file.metadata["recipe"] else { throw .malformed(url, "missing recipe") }
        var settings: [String: String] = [:]
        if file.metadata["version"] == "1", let data = file.metadata["settings"]?.data(using: .utf8) {
            settings = (try? JSONDecoder().decode([String: String].self, from: data)) ?? [:]
        }
        do { return try EmbeddingRecipe(json: json, settings: settings) } catch { throw .recipe(url, error) }
    }

    /// Writes `paths` into `metadata`: relative to `root` (recorded beside them, absolute and
    /// relative to the index file's folder) for those under it, as given otherwise.
    /// The paths, relative to `root` where they are under it, as the section `paths`: UTF-8,
    /// each ended by a NUL byte (binary, so that a million paths cost no JSON to read).
    static func add(paths: [String], root: URL?, file url: URL, to metadata: inout [String: String],
                    bytes: inout [String: SafetensorsFile.ByteTensor]) {
        var stored = paths
        if let root {
            let base = root.standardizedFileURL.path
            let prefix = base.hasSuffix("/") ? base : base + "/"
            stored = paths.map { path in
                let full = URL(fileURLWithPath: path).standardizedFileURL.path
                return full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : full
            }
            metadata["root"] = base
            metadata["root-from-index"] = relativePath(from: url.deletingLastPathComponent().standardizedFileURL.path, to: base)
        }
        var joined: [UInt8] = []
        joined.reserveCapacity(stored.reduce(0) { $0 + $1.utf8.count + 1 })
        for path in stored {
            joined += path.utf8
            joined.append(0)
        }
        bytes["paths"] = SafetensorsFile.ByteTensor(shape: [joined.count], values: joined)
    }

    /// The paths of `file` as stored (the `paths` section, or the JSON list older files keep in
    /// their metadata).
    static func storedPaths(_ file: SafetensorsFile, _ url: URL) throws(IndexError) -> [String] {
        if let json = file.metadata["paths"] {
            guard let data = json.data(using: .utf8), let stored = try? JSONDecoder().decode([String].self, from: data) else {
                throw .malformed(url, "malformed paths")
            }
            return stored
        }
        guard let entry = file.entries["paths"] else { throw .malformed(url, "missing paths") }
        guard entry.shape.count == 1 else { throw .malformed(url, "the paths section is not one run of bytes") }
        let decoded: [String]?
        do {
            // read in place, each path's end found by memchr (a byte loop here cost more than the strings)
            decoded = try file.withBytes(named: "paths") { raw -> [String]? in
                let b = raw.bindMemory(to: UInt8.self)
                guard b.last ?? 0 == 0, let base = b.baseAddress else { return b.isEmpty ? [] : nil }
                var made: [String] = [], start = 0
                while start < b.count {
                    let end = UnsafePointer(memchr(base + start, 0, b.count - start)!.assumingMemoryBound(to: UInt8.self)) - base
                    made.append(String(decoding: UnsafeBufferPointer(start: base + start, count: end - start), as: UTF8.self))
                    start = end + 1
                }
                return made
            }
        } catch { throw .unreadable(url, error as? SafetensorsError ?? .malformedEntry(name: "paths", reason: "\(error)")) }
        guard let decoded else { throw .malformed(url, "the paths section does not end a path") }
        return decoded
    }

    /// The paths of `file`, made absolute against its root: `root` when given, else the recorded
    /// root when it exists, else the recorded root's place relative to the index file (the index
    /// and its images moved together), else the recorded root as it was. Also returns that root.
    static func paths(_ file: SafetensorsFile, _ url: URL, root given: URL?) throws(IndexError) -> (paths: [String], root: URL?) {
        let stored = try storedPaths(file, url)
        var root = given
        if root == nil, let recorded = file.metadata["root"] {
            root = URL(fileURLWithPath: recorded)
            if !FileManager.default.fileExists(atPath: recorded), let relative = file.metadata["root-from-index"] {
                let beside = url.deletingLastPathComponent().appendingPathComponent(relative).standardizedFileURL
                if FileManager.default.fileExists(atPath: beside.path) { root = beside }
            }
        }
        guard let root else { return (stored, nil) }
        let base = root.path.hasSuffix("/") ? root.path : root.path + "/"
        return (stored.map { $0.hasPrefix("/") ? $0 : base + $0 }, root)
    }

    /// The files' stamps as the section `stamps` `[N, 24]` (size, modification time, hash:
    /// little-endian 64-bit each; a size of -1 for an image without one), absent when no image
    /// has one.
    static func add(stamps: [FileStamp?], to bytes: inout [String: SafetensorsFile.ByteTensor]) {
        guard stamps.contains(where: { $0 != nil }) else { return }
        var out = [UInt8](repeating: 0, count: 24 * stamps.count)
        for (i, stamp) in stamps.enumerated() {
            let words = [UInt64(bitPattern: stamp?.size ?? -1), UInt64(bitPattern: stamp?.modified ?? 0), stamp?.hash ?? 0]
            for (w, word) in words.enumerated() { for b in 0..<8 { out[24 * i + 8 * w + b] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(b))) } }
        }
        bytes["stamps"] = SafetensorsFile.ByteTensor(shape: [stamps.count, 24], values: out)
    }

    /// The stamps a file records (all `nil` when it records none), one per image.
    static func stamps(_ file: SafetensorsFile, _ url: URL, images: Int) throws(IndexError) -> [FileStamp?] {
        guard file.entries["stamps"] != nil else { return Array(repeating: nil, count: images) }
        let bytes: SafetensorsFile.ByteTensor
        do { bytes = try file.byteTensor(named: "stamps") } catch { throw .unreadable(url, error) }
        guard bytes.shape == [images, 24] else { throw .malformed(url, "file stamps \(bytes.shape) do not fit \(images) images") }
        return bytes.values.withUnsafeBytes { raw in
            (0..<images).map { i -> FileStamp? in
                let word = { (w: Int) in UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 24 * i + 8 * w, as: UInt64.self)) }
                let size = Int64(bitPattern: word(0))
                return size < 0 ? nil : FileStamp(size: size, modified: Int64(bitPattern: word(1)), hash: word(2))
            }
        }
    }

    static func add(removed: Set<Int>, to metadata: inout [String: String]) {
        guard !removed.isEmpty else { return }
        metadata["removed"] = "[" + removed.sorted().map(String.init).joined(separator: ",") + "]"
    }

    /// The removed images a file records (none when it records none), checked against `images`.
    static func removed(_ file: SafetensorsFile, _ url: URL, images: Int) throws(IndexError) -> Set<Int> {
        guard let text = file.metadata["removed"] else { return [] }
        guard let data = text.data(using: .utf8), let list = try? JSONDecoder().decode([Int].self, from: data),
              list.allSatisfy({ $0 >= 0 && $0 < images }) else { throw .malformed(url, "malformed list of removed images") }
        return Set(list)
    }

    /// `to` relative to the folder `from` (both absolute, standardised), e.g. `../photos`.
    static func relativePath(from: String, to: String) -> String {
        let a = from.split(separator: "/"), b = to.split(separator: "/")
        var common = 0
        while common < min(a.count, b.count) && a[common] == b[common] { common += 1 }
        let parts = Array(repeating: "..", count: a.count - common) + b[common...].map(String.init)
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    static func add(_ whitening: Whitening?, to tensors: inout [String: Tensor], metadata: inout [String: String]) {
        guard let whitening else { return }
        tensors["whitening.mean"] = whitening.mean
        tensors["whitening.projection"] = whitening.projection
        metadata["whitening-method"] = whitening.method.rawValue
        metadata["whitening-recipe"] = whitening.recipe
    }

    static func whitening(_ file: SafetensorsFile, _ url: URL, recipe: EmbeddingRecipe) throws(IndexError) -> Whitening? {
        guard file.names.contains("whitening.projection") else { return nil }
        do {
            let w = Whitening(method: file.metadata["whitening-method"].flatMap(Whitening.Method.init(rawValue:)) ?? .pca,
                              mean: try file.tensor(named: "whitening.mean"), projection: try file.tensor(named: "whitening.projection"),
                              recipe: file.metadata["whitening-recipe"] ?? "")
            guard w.projection.rank == 2, w.mean.shape == [w.projection.shape[1]], recipe.whitening == WhiteningIdentity(of: w) else {
                throw IndexError.malformed(url, "the stored whitening does not match the recipe's")
            }
            return w
        } catch let error as IndexError { throw error } catch let error as SafetensorsError { throw .unreadable(url, error) } catch { throw .malformed(url, "\(error)") }
    }
}

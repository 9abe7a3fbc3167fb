public import Foundation
public import LoupeTensor
public import LoupeWhitening
public import LoupeImage

/// One region of an image that has its own vector in an ``ObjectIndex``.
public struct ObjectRegion: Sendable, Hashable, Codable {
    /// Where the region came from.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The whole image (its global embedding).
        case image
        /// A box the detector found.
        case detected
        /// A box the user gave.
        case given
        /// Around the local features that matched a query (source search's verified donors).
        case matched
        /// A square of a fixed multi-scale grid over the image (a class-free region).
        case grid
    }

    public var kind: Kind
    /// In the image's pixel coordinates (the whole image for `.image`).
    public var box: BoundingBox
    /// Detector score (objectness × class probability); `nil` for the whole image and given boxes.
    public var score: Float?
    /// Detector class name, when the detector had labels.
    public var label: String?

    public init(kind: Kind, box: BoundingBox, score: Float? = nil, label: String? = nil) {
        (self.kind, self.box, self.score, self.label) = (kind, box, score, label)
    }
}

/// Which of an image's regions take part in a comparison.
public enum RegionSelection: String, Sendable, Hashable, Codable, CaseIterable {
    /// The whole image and every object.
    case all
    /// The objects only (falls back to the whole image when an image has none).
    case objects
    /// The whole image only: plain global retrieval.
    case image

    func admits(_ kind: ObjectRegion.Kind) -> Bool {
        switch self {
        case .all: true
        case .objects: kind != .image
        case .image: kind == .image
        }
    }

    /// Indices of `regions` this selection keeps, or all of them if it keeps none.
    func select(_ regions: [ObjectRegion]) -> [Int] {
        let kept = regions.indices.filter { admits(regions[$0].kind) }
        return kept.isEmpty ? Array(regions.indices) : kept
    }
}

/// How an image-to-image score is made from region-to-region cosines.
public enum ObjectScoring: String, Sendable, Hashable, Codable, CaseIterable {
    /// The best-matching pair: `max_q max_d cos(q, d)` (the paper's rule). Finds a pasted object
    /// even when everything else differs.
    case max
    /// Sum-of-max over the query's regions, divided by their number (so scores stay cosines):
    /// `mean_q max_d cos(q, d)`. Rewards database images that contain *all* query objects.
    case meanOfMax = "mean-of-max"
}

/// How an ``ObjectIndex`` compares a query image with its images.
public struct ObjectSearchOptions: Sendable, Hashable {
    public var scoring: ObjectScoring
    /// The query's regions that are compared.
    public var queryRegions: RegionSelection
    /// The database regions that are compared.
    public var databaseRegions: RegionSelection
    /// How the index's quantized part, when it has one, is searched: each query region's
    /// `refine` best rows name the candidate images, whose regions are then scored exactly
    /// (`refine` 0: the quantized scores of the rows found are final).
    public var quantized: QuantizedSearch

    /// The defaults follow the measurements in the README: the query's objects against every
    /// database region by the best pair. The query's whole-image vector is left out because
    /// object-to-object cosines and image-to-image cosines sit on different scales, and the
    /// image-to-image pair would otherwise win for the wrong reason (the scene, not the object).
    public init(scoring: ObjectScoring = .max, queryRegions: RegionSelection = .objects,
                databaseRegions: RegionSelection = .all, quantized: QuantizedSearch = .init()) {
        (self.scoring, self.queryRegions, self.databaseRegions, self.quantized) = (scoring, queryRegions, databaseRegions, quantized)
    }
}

/// One result of an object search: a database image, its score and the pair of regions that made it.
public struct ObjectHit: Sendable, Equatable, Codable {
    /// The image's position in the index (compaction renumbers it).
    public var image: Int
    /// The image's id (``ObjectIndex/ids``), kept through compactions and updates.
    public var id: Int
    public var path: String
    public var score: Float
    /// The query region of the best pair (index into the query's regions) and its box.
    public var queryRegion: Int
    public var queryBox: BoundingBox
    /// The database region of the best pair and its box, in that image's pixels.
    public var databaseRegion: ObjectRegion

    public init(image: Int, path: String, score: Float, queryRegion: Int, queryBox: BoundingBox, databaseRegion: ObjectRegion, id: Int? = nil) {
        (self.image, self.path, self.score, self.queryRegion, self.queryBox, self.databaseRegion) = (image, path, score, queryRegion, queryBox, databaseRegion)
        self.id = id ?? image
    }
}

/// A multi-vector index: each image is kept as the set of its region vectors (whole image + objects)
/// with their boxes. Search scores an image by its best-matching region pair (or mean-of-max) and
/// tells which pair matched. Exact: one blocked matrix product over all region vectors.
public struct ObjectIndex: Sendable {
    var store: RowStore
    /// `[R, D]`: every region of every image, image after image (a copy once the index has grown
    /// past one block; ``vectors(ofImage:)`` reads one image's rows).
    public var vectors: Tensor { store.all }
    /// One per row of `vectors`.
    public internal(set) var regions: [ObjectRegion]
    /// The image each row belongs to.
    public internal(set) var imageOfRow: [Int32]
    /// One per image.
    public internal(set) var paths: [String]
    /// One per image: what its file was when it was embedded (`nil` for images added without
    /// one); ``changes(comparedWith:)`` compares them with a folder.
    public internal(set) var stamps: [FileStamp?] = []
    /// One per image: its id, given when it was added and kept through removals, compactions and
    /// updates (see ``FlatIndex/ids``).
    public internal(set) var ids: [Int] = []
    /// The id the next image added gets (see ``FlatIndex/nextID``).
    public internal(set) var nextID = 0
    /// The folder the images' paths are stored relative to (see ``FlatIndex/root``).
    public var root: URL?
    /// Rows of each image.
    public internal(set) var rowRanges: [Range<Int>]
    /// How the vectors were made: an object or student recipe, whose region proposal queries reuse.
    public let recipe: EmbeddingRecipe
    /// The whitening named by `recipe.whitening`, when it is known.
    public let whitening: Whitening?
    /// The approximate index over the region vectors, when ``quantize(_:reducingTo:seed:defaultSearch:)`` made one.
    public internal(set) var quantized: QuantizedIndex?
    /// Where the student head was when the index was made (a hint for finding it again; the
    /// recipe's checksum decides whether a file is the head).
    public var studentHeadLocation: String?
    /// The images' local features, when the index keeps them (``keepLocalFeatures(_:)``): what
    /// source search verifies donors with.
    public internal(set) var localFeatures: LocalFeatureStore?
    /// What of the index a segment folder holds, when it was read from one (``IndexLayout/segments``).
    var origin: SegmentOrigin?

    public var dimension: Int { recipe.dimension }
    /// Images.
    public var count: Int { paths.count }
    /// Region vectors.
    public var regionCount: Int { store.count }

    /// An empty index for region vectors of `recipe` (an object or student mode), with the
    /// whitening they go through (checked against `recipe.whitening`).
    public init(recipe: EmbeddingRecipe, whitening: Whitening? = nil) throws(IndexError) {
        guard recipe.mode.proposal != nil else { throw .invalidRecipe("an object index needs an object or student recipe, got \(recipe.mode)") }
        try FlatIndex.check(whitening, against: recipe)
        self.recipe = recipe
        self.whitening = whitening
        store = RowStore(dimension: recipe.dimension)
        (regions, imageOfRow, paths, rowRanges) = ([], [], [], [])
    }

    /// Makes the index keep each image's local features from now on (only while it is empty).
    public mutating func keepLocalFeatures(_ options: LocalFeatureOptions) throws(IndexError) {
        guard options.problems.isEmpty else { throw .localFeaturesMismatch(options.problems.joined(separator: "; ")) }
        guard count == 0 else { throw .localFeaturesMismatch("local features can only be kept from the first image on; rebuild the index") }
        localFeatures = LocalFeatureStore(options: options)
    }

    /// Clusters the kept local features into coarse lists (``LocalFeatureStore/buildLists(count:seed:)``)
    /// when they have none yet, so that matching compares each descriptor with a few lists only.
    public mutating func buildLocalFeatureLists() {
        if localFeatures?.lists == nil && (localFeatures?.featureCount ?? 0) > 0 { localFeatures!.buildLists() }
    }

    /// Adds one image with its local features (an index that keeps them needs them with every
    /// image; `side` is the longer side of the image the keypoints are in).
    public mutating func add(_ new: Tensor, regions newRegions: [ObjectRegion], path: String, localFeatures features: LocalFeatures,
                             side: Float, stamp: FileStamp? = nil) throws(IndexError) {
        guard localFeatures != nil else { throw .localFeaturesMismatch("this index keeps no local features") }
        try add([(new, newRegions, path)], stamps: [stamp], checkingLocal: false)
        localFeatures!.append(features, side: side)
    }

    /// Images taken out by ``remove(images:)``: no search returns them; ``compact()`` drops them.
    public private(set) var removed: Set<Int> = []

    /// Takes images out of every search (tombstones; their regions stay until ``compact()``).
    public mutating func remove(images: some Sequence<Int>) throws(IndexError) {
        let gone = Set(images)
        if let bad = gone.first(where: { $0 < 0 || $0 >= count }) { throw .unknownImage(bad, count: count) }
        removed.formUnion(gone)
        quantized?.remove(ids: Set(gone.flatMap { Array(rowRanges[$0]) }))
    }

    /// Checks every region vector not checked yet (an index opened with
    /// ``IndexVerification/onAccess``; otherwise there is nothing left to check).
    public func verify() throws(IndexError) { try store.verifyAll() }

    /// Drops the removed images for good: the others keep their order, regions, boxes, stamps
    /// and local features and are numbered `0 ..< count` again — the index equals one built from
    /// them alone, except that the quantized part keeps its training (its codes are kept too).
    /// The local features' lists are made again, as a fresh build makes them.
    public mutating func compact() throws(IndexError) {
        guard !removed.isEmpty else { return }
        let kept = (0..<count).filter { !removed.contains($0) }
        self = try assembled(kept.map { IndexPick(fromNew: false, image: $0, path: paths[$0], stamp: stamps[$0]) }, new: emptyCopy())
    }

    /// Trains an approximate index of `kind` on (a seeded sample of) the region vectors held now
    /// and adds them all; regions added later go into it too.
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

    /// The region vectors of image `image` `[r, D]`.
    public func vectors(ofImage image: Int) -> Tensor { store.rows(rowRanges[image]) }

    /// Adds one image: its region vectors `[r, D]` (r ≥ 1, L2-normalised) and their regions
    /// (and, optionally, its file's stamp).
    public mutating func add(_ new: Tensor, regions newRegions: [ObjectRegion], path: String, stamp: FileStamp? = nil) throws(IndexError) {
        try add([(new, newRegions, path)], stamps: [stamp], checkingLocal: true)
    }

    /// Adds several images at once: amortised O(rows added), whatever the index holds.
    public mutating func add(_ images: [(vectors: Tensor, regions: [ObjectRegion], path: String)]) throws(IndexError) {
        try add(images, stamps: Array(repeating: nil, count: images.count), checkingLocal: true)
    }

    mutating func add(_ images: [(vectors: Tensor, regions: [ObjectRegion], path: String)], stamps newStamps: [FileStamp?],
                              checkingLocal: Bool) throws(IndexError) {
        if checkingLocal && localFeatures != nil && !images.isEmpty {
            throw .localFeaturesMismatch("this index keeps local features: add each image with its features")
        }
        for (v, r, _) in images {
            guard v.rank == 2, v.shape[1] == dimension else { throw .dimensionMismatch(expected: dimension, got: v.rank == 2 ? v.shape[1] : -1) }
            guard v.shape[0] == r.count, !r.isEmpty else { throw .countMismatch(vectors: v.shape[0], paths: r.count) }
            guard v.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        }
        guard !images.isEmpty else { return }
        for (i, (v, r, path)) in images.enumerated() {
            try quantized?.add(v)
            store.append(v)
            let start = regions.count
            rowRanges.append(start..<(start + v.shape[0]))
            imageOfRow += Array(repeating: Int32(paths.count), count: r.count)
            regions += r
            paths.append(path)
            stamps.append(newStamps[i])
            ids.append(nextID)
            nextID += 1
        }
    }

    /// The `k` best images for one query image given as its region vectors `[r, D]` and regions.
    ///
    /// - Parameters:
    ///   - query: `[r, D]`, L2-normalised, from the index's recipe.
    ///   - queryRegions: one per row of `query`.
    ///   - k: images to return (fewer when the index holds fewer).
    ///   - options: which regions take part on each side, and the image score.
    ///   - excluding: an image left out of the ranking (leave-one-out evaluation).
    ///   - queryRecipe: checked against the index's recipe when given.
    public func search(_ query: Tensor, regions queryRegions: [ObjectRegion], k: Int,
                       options: ObjectSearchOptions = .init(), excluding: Int? = nil,
                       recipe queryRecipe: EmbeddingRecipe? = nil) throws(IndexError) -> [ObjectHit] {
        if let queryRecipe, !queryRecipe.isCompatible(with: recipe) { throw .recipeMismatch(queryRecipe.differences(from: recipe)) }
        guard k >= 1 else { throw .invalidK(k) }
        guard query.rank == 2, query.shape[1] == dimension else {
            throw .dimensionMismatch(expected: dimension, got: query.rank == 2 ? query.shape[1] : -1)
        }
        guard query.shape[0] == queryRegions.count, !queryRegions.isEmpty else {
            throw .countMismatch(vectors: query.shape[0], paths: queryRegions.count)
        }
        guard query.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        try options.quantized.validate()
        guard count > 0 else { return [] }
        let used = options.queryRegions.select(queryRegions)
        let q = Tensor.concatenated(used.map { query.sliced(along: 0, $0..<($0 + 1)) }, along: 0)
        let scored: [(score: Float, queryRow: Int, databaseRow: Int)]
        var order: [Int]
        if let quantized {
            (scored, order) = try quantizedScores(q, quantized: quantized, options: options)
            order.removeAll { $0 == excluding || removed.contains($0) }
        } else {
            try store.verifyAll()
            scored = imageScores(q, options: options)
            order = (0..<count).filter { $0 != excluding && !removed.contains($0) }
        }
        order.sort { scored[$0].score != scored[$1].score ? scored[$0].score > scored[$1].score : $0 < $1 }
        return order.prefix(k).map { i in
            let s = scored[i]
            let queryRow = used[s.queryRow]
            return ObjectHit(image: i, path: paths[i], score: s.score, queryRegion: queryRow,
                             queryBox: queryRegions[queryRow].box, databaseRegion: regions[s.databaseRow], id: ids[i])
        }
    }

    /// Rows taken per query vector from the quantized part when nothing is re-scored (`refine` 0).
    static let unrefinedRows = 64

    /// Scores from the quantized part: the images of each query row's best `refine` rows, scored
    /// exactly over their admitted regions, or (`refine` 0) the quantized scores of each query
    /// row's best ``unrefinedRows`` rows. Images no query row reached are left out.
    func quantizedScores(_ q: Tensor, quantized: QuantizedIndex, options: ObjectSearchOptions) throws(IndexError)
        -> (scores: [(score: Float, queryRow: Int, databaseRow: Int)], images: [Int]) {
        let nq = q.shape[0], refine = options.quantized.refine
        let top = try quantized.search(q, k: refine > 0 ? refine : Self.unrefinedRows, probe: options.quantized.probe)
        var scored = Array(repeating: (score: -Float.infinity, queryRow: 0, databaseRow: 0), count: count)
        var reached = Set<Int>()
        let allowed = { (row: Int) in options.databaseRegions.admits(self.regions[row].kind) }
        if refine > 0 {
            for qi in 0..<nq { for (row, _) in top.results(forQuery: qi) { reached.insert(Int(imageOfRow[row])) } }
            for image in reached {
                let range = rowRanges[image]
                let admitted = range.filter(allowed)
                let rows = admitted.isEmpty ? Array(range) : admitted
                let sims = matmul(q, try store.gather(rows), transposingB: true).scalars
                var sum: Float = 0
                for qi in 0..<nq {
                    var best = (score: -Float.infinity, row: rows[0])
                    for (j, row) in rows.enumerated() where sims[qi * rows.count + j] > best.score { best = (sims[qi * rows.count + j], row) }
                    sum += best.score
                    if best.score > scored[image].score { scored[image] = (best.score, qi, best.row) }
                }
                if options.scoring == .meanOfMax { scored[image].score = sum / Float(nq) }
            }
        } else {
            var perQuery = Array(repeating: [Int: Float](), count: nq)
            for qi in 0..<nq {
                for (row, score) in top.results(forQuery: qi) where allowed(row) {
                    let image = Int(imageOfRow[row])
                    reached.insert(image)
                    if score > perQuery[qi][image] ?? -.infinity { perQuery[qi][image] = score }
                    if score > scored[image].score { scored[image] = (score, qi, row) }
                }
            }
            if options.scoring == .meanOfMax {
                // a query row that did not reach an image adds nothing (a cosine of 0)
                for image in reached { scored[image].score = (0..<nq).reduce(Float(0)) { $0 + max(0, perQuery[$1][image] ?? 0) } / Float(nq) }
            }
        }
        let images = reached.sorted { scored[$0].score != scored[$1].score ? scored[$0].score > scored[$1].score : $0 < $1 }
        return (scored, images)
    }

    /// Per image: its score and the best (query row, database row) pair.
    func imageScores(_ q: Tensor, options: ObjectSearchOptions) -> [(score: Float, queryRow: Int, databaseRow: Int)] {
        let nq = q.shape[0]
        // best[qi * count + image] = (cosine, database row)
        var best = Array(repeating: (score: -Float.infinity, row: -1), count: nq * count)
        let allowed = regions.map { options.databaseRegions.admits($0.kind) }
        // an image none of whose regions the selection admits falls back to all of them
        var imageAdmits = Array(repeating: false, count: count)
        for (row, image) in imageOfRow.enumerated() where allowed[row] { imageAdmits[Int(image)] = true }
        store.forEachBlock { start, rows in
            let end = start + rows.shape[0]
            let sims = matmul(q, rows, transposingB: true)  // [nq, rows]
            sims.withUnsafeBufferPointer { s in
                for row in start..<end {
                    let image = Int(imageOfRow[row])
                    guard allowed[row] || !imageAdmits[image] else { continue }
                    for qi in 0..<nq {
                        let v = s[qi * (end - start) + row - start]
                        if v > best[qi * count + image].score { best[qi * count + image] = (v, row) }
                    }
                }
            }
        }
        return (0..<count).map { image in
            var top = (score: -Float.infinity, queryRow: 0, databaseRow: rowRanges[image].lowerBound)
            var sum: Float = 0
            for qi in 0..<nq {
                let b = best[qi * count + image]
                sum += b.score
                if b.score > top.score { top = (b.score, qi, b.row) }
            }
            if options.scoring == .meanOfMax { top.score = sum / Float(nq) }
            return top
        }
    }
}

extension ObjectIndex {
    /// File format version; bumped on incompatible changes. Version 4 keeps paths, stamps and
    /// the regions' kinds, scores and labels as binary sections and the vectors' per-row
    /// checksums; version 3 records a checksum of every section; version 2 holds the typed recipe
    /// (with its region proposal) and the whitening; version 1 files (recipe strings and a
    /// settings dictionary) are read and converted.
    public static let formatVersion = "4"

    /// Saves the index, atomically, as ``FlatIndex/write(to:layout:)`` does: as a file, or as a
    /// new segment of what changed in a segment folder.
    ///
    /// The file is safetensors: `vectors` `[R, D]`, `boxes` `[R, 4]`, `images` `[R]`, and the
    /// whitening's tensors, with the recipe, the regions' kinds, scores and labels, and the paths
    /// in the metadata.
    public func write(to url: URL, layout: IndexLayout? = nil) throws(IndexError) {
        switch try IndexFile.layout(layout, at: url) {
        case .file: try writeFile(to: url, adding: [:])
        case .segments: try SegmentFolder.write(self, to: url)
        }
    }

    func writeFile(to url: URL, adding extra: [String: String]) throws(IndexError) {
        try store.verifyAll()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func json<T: Encodable>(_ value: T) -> String { String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self) }
        let boxes = Tensor(shape: [regionCount, 4], scalars: regions.flatMap { [$0.box.x0, $0.box.y0, $0.box.x1, $0.box.y1] })
        let images = Tensor(shape: [regionCount], scalars: imageOfRow.map(Float.init))
        var tensors = ["boxes": boxes, "images": images]
        var metadata = ["format": "loupe-object-index", "version": Self.formatVersion, "recipe": recipe.json]
        var bytes: [String: SafetensorsFile.ByteTensor] = [:]
        Self.add(regions, to: &tensors, bytes: &bytes, metadata: &metadata)
        IndexFile.add(paths: paths, root: root, file: url, to: &metadata, bytes: &bytes)
        IndexFile.add(stamps: stamps, to: &bytes)
        IndexFile.add(ids: ids, next: nextID, to: &bytes, metadata: &metadata)
        if let studentHeadLocation { metadata["student-head"] = studentHeadLocation }
        IndexFile.add(whitening, to: &tensors, metadata: &metadata)
        if let local = localFeatures {
            metadata["local-features"] = json(local.options)
            tensors["local.keypoints"] = Tensor(shape: [local.featureCount, 5], scalars: local.keypoints.flatMap { [$0.x, $0.y, $0.size, $0.angle, $0.response] })
            tensors["local.counts"] = Tensor(shape: [local.imageCount], scalars: local.ranges.map { Float($0.count) })
            tensors["local.sides"] = Tensor(shape: [local.imageCount], scalars: local.sides)
            bytes["local.descriptors"] = SafetensorsFile.ByteTensor(shape: [local.featureCount, LocalFeatures.dimension], values: local.descriptors)
            if let lists = local.lists {
                tensors["local.centroids"] = lists.quantizer.centroids
                tensors["local.lists"] = Tensor(shape: [local.featureCount], scalars: lists.assignment.map(Float.init))
            }
        }
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

    /// Whether a file (or segment folder) is an object index (as opposed to a ``FlatIndex``),
    /// from its header (or manifest) alone.
    public static func isObjectIndex(_ url: URL) -> Bool {
        if SegmentFolder.holdsIndex(url) { return (try? SegmentFolder.manifest(url))?.index == fileFormat }
        return (try? SafetensorsFile(contentsOf: url))?.metadata["format"] == fileFormat
    }

    /// Loads an index written by ``write(to:)`` (or by version 1, converting its recipe and
    /// settings), checking format, version and consistency.
    ///
    /// - Parameters:
    ///   - root: where the images are now, when they moved since indexing.
    ///   - verification: check the whole file now (the default), or the region vectors as
    ///     they are read (``IndexVerification/onAccess``).
    public init(contentsOf url: URL, root: URL? = nil, verification: IndexVerification = .full) throws(IndexError) {
        if SegmentFolder.holdsIndex(url) {
            self = try SegmentFolder.open(url, root: root, verification: verification)
        } else {
            try self.init(file: url, root: root, verification: verification)
        }
    }

    init(file url: URL, root: URL?, verification: IndexVerification) throws(IndexError) {
        let (file, rowChecksums) = try IndexFile.open(url, format: "loupe-object-index", verification: verification)
        let meta = file.metadata
        func decode<T: Decodable>(_ key: String, as: T.Type) throws(IndexError) -> T {
            guard let data = meta[key]?.data(using: .utf8), let value = try? JSONDecoder().decode(T.self, from: data) else {
                throw .malformed(url, "missing or malformed \(key)")
            }
            return value
        }
        let recipe = try IndexFile.recipe(file, url)
        guard recipe.mode.proposal != nil else { throw .malformed(url, "an object index holds an object recipe, this one is \(recipe.mode)") }
        let (paths, root) = try IndexFile.paths(file, url, root: root)
        self.root = root
        let details = try meta["regions"] != nil ? decode("regions", as: [RegionDetails].self) : Self.regionDetails(file, url)
        let vectors: Tensor, boxes: Tensor, images: Tensor
        do {
            vectors = try file.tensor(named: "vectors")
            boxes = try file.tensor(named: "boxes")
            images = try file.tensor(named: "images")
        } catch { throw .unreadable(url, error) }
        let r = details.count
        guard vectors.rank == 2, vectors.shape == [r, recipe.dimension], boxes.shape == [r, 4], images.shape == [r] else {
            throw .malformed(url, "vectors \(vectors.shape), boxes \(boxes.shape), images \(images.shape) do not fit \(r) regions of dimension \(recipe.dimension)")
        }
        if rowChecksums == nil { try IndexFile.checkRows(vectors, file, url) }
        // rows must be grouped by image, images numbered 0..<paths.count in order, each with a region
        let ids = images.scalars
        var ranges: [Range<Int>] = []
        var start = 0
        for row in 0...r where r > 0 {
            if row == r || (row > start && ids[row] != ids[start]) {
                guard row > start, ids[start] == Float(ranges.count) else { throw .malformed(url, "region rows are not grouped by image") }
                ranges.append(start..<row)
                start = row
            }
        }
        guard ranges.count == paths.count else { throw .countMismatch(vectors: ranges.count, paths: paths.count) }
        let b = boxes.scalars
        self.recipe = recipe
        whitening = try IndexFile.whitening(file, url, recipe: recipe)
        studentHeadLocation = meta["student-head"]
            ?? (meta["version"] == "1" ? (try? decode("settings", as: [String: String].self))?["student-head"] : nil)
        quantized = try QuantizedIndex.read(file, url, vectors: vectors)
        removed = try IndexFile.removed(file, url, images: paths.count)
        store = RowStore(vectors)
        store.verifier = try rowChecksums.map { checksums throws(IndexError) in
            guard checksums.count == r else { throw .damaged(url, section: IndexFile.rowChecksums) }
            return RowVerifier(url: url, checksums: checksums, unitLength: file.metadata[IndexFile.unitLength] == "1")
        }
        self.paths = paths
        stamps = try IndexFile.stamps(file, url, images: paths.count)
        (self.ids, nextID) = try IndexFile.ids(file, url, images: paths.count)
        rowRanges = ranges
        imageOfRow = ids.map { Int32($0) }
        // removed images' rows are written with the rest (the file keeps ids stable); take them out again
        if !removed.isEmpty { quantized?.remove(ids: Set(removed.flatMap { Array(ranges[$0]) })) }
        regions = details.enumerated().map { i, d in
            ObjectRegion(kind: d.kind, box: BoundingBox(x0: b[4 * i], y0: b[4 * i + 1], x1: b[4 * i + 2], y1: b[4 * i + 3]),
                         score: d.score, label: d.label)
        }
        if meta["local-features"] != nil {
            let options = try decode("local-features", as: LocalFeatureOptions.self)
            guard options.problems.isEmpty else { throw .malformed(url, "local features: \(options.problems.joined(separator: "; "))") }
            let points: Tensor, counts: Tensor, sides: Tensor, descriptors: SafetensorsFile.ByteTensor
            do {
                points = try file.tensor(named: "local.keypoints")
                counts = try file.tensor(named: "local.counts")
                sides = try file.tensor(named: "local.sides")
                descriptors = try file.byteTensor(named: "local.descriptors")
            } catch { throw .unreadable(url, error) }
            let featureRows = points.rank == 2 ? points.shape[0] : -1
            var lists: (centroids: Tensor, assignment: [Int])?
            if file.entries["local.centroids"] != nil {
                let centroids: Tensor, assignment: Tensor
                do {
                    centroids = try file.tensor(named: "local.centroids")
                    assignment = try file.tensor(named: "local.lists")
                } catch { throw .unreadable(url, error) }
                let a = assignment.scalars
                guard centroids.rank == 2, centroids.shape[0] >= 1, centroids.shape[1] == LocalFeatures.dimension,
                      centroids.scalars.allSatisfy(\.isFinite), assignment.shape == [featureRows],
                      a.allSatisfy({ $0 >= 0 && $0 < Float(centroids.shape[0]) && $0 == $0.rounded() })
                else { throw .malformed(url, "local feature lists: centroids \(centroids.shape), lists \(assignment.shape) do not fit \(featureRows) features") }
                lists = (centroids, a.map { Int($0) })
            }
            let p = points.scalars
            guard points.rank == 2, points.shape[1] == 5, p.allSatisfy(\.isFinite), sides.scalars.allSatisfy({ $0.isFinite && $0 > 0 }),
                  counts.shape == [paths.count], sides.shape == [paths.count],
                  counts.scalars.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= Float(points.shape[0]) && $0 == $0.rounded() }),
                  let store = LocalFeatureStore(options: options,
                                                keypoints: (0..<points.shape[0]).map { Keypoint(x: p[5 * $0], y: p[5 * $0 + 1], size: p[5 * $0 + 2], angle: p[5 * $0 + 3], response: p[5 * $0 + 4]) },
                                                descriptors: descriptors.values, counts: counts.scalars.map { Int($0) }, sides: sides.scalars, lists: lists)
            else { throw .malformed(url, "local features: keypoints \(points.shape), descriptors \(descriptors.shape), counts \(counts.shape) do not fit \(paths.count) images") }
            localFeatures = store
        }
    }

    private struct RegionDetails: Codable {
        var kind: ObjectRegion.Kind
        var score: Float?
        var label: String?
    }

    /// Region kinds in the order of their codes in `regions.kind`.
    private static let kinds: [ObjectRegion.Kind] = [.image, .detected, .given, .matched, .grid]

    /// The regions' kinds (`regions.kind`, U8 codes), scores (`regions.score`, NaN for none) and
    /// labels (`regions.label`, an index into the metadata's `region-labels`, -1 for none).
    private static func add(_ regions: [ObjectRegion], to tensors: inout [String: Tensor], bytes: inout [String: SafetensorsFile.ByteTensor],
                            metadata: inout [String: String]) {
        var labels: [String] = [], number: [String: Int] = [:]
        for label in regions.compactMap(\.label) where number[label] == nil {
            number[label] = labels.count
            labels.append(label)
        }
        bytes["regions.kind"] = SafetensorsFile.ByteTensor(shape: [regions.count], values: regions.map { UInt8(kinds.firstIndex(of: $0.kind)!) })
        tensors["regions.score"] = Tensor(shape: [regions.count], scalars: regions.map { $0.score ?? .nan })
        tensors["regions.label"] = Tensor(shape: [regions.count], scalars: regions.map { $0.label.map { Float(number[$0]!) } ?? -1 })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        metadata["region-labels"] = String(decoding: (try? encoder.encode(labels)) ?? Data("[]".utf8), as: UTF8.self)
    }

    private static func regionDetails(_ file: SafetensorsFile, _ url: URL) throws(IndexError) -> [RegionDetails] {
        guard let text = file.metadata["region-labels"], let data = text.data(using: .utf8), let labels = try? JSONDecoder().decode([String].self, from: data) else {
            throw .malformed(url, "missing or malformed region-labels")
        }
        let kind: SafetensorsFile.ByteTensor, score: Tensor, label: Tensor
        do {
            kind = try file.byteTensor(named: "regions.kind")
            score = try file.tensor(named: "regions.score")
            label = try file.tensor(named: "regions.label")
        } catch { throw .unreadable(url, error) }
        let r = kind.values.count
        guard kind.shape == [r], score.shape == [r], label.shape == [r] else {
            throw .malformed(url, "regions: kinds \(kind.shape), scores \(score.shape), labels \(label.shape) differ")
        }
        let scores = score.scalars, numbers = label.scalars
        var details: [RegionDetails] = []
        details.reserveCapacity(r)
        for i in 0..<r {
            guard Int(kind.values[i]) < kinds.count, !scores[i].isInfinite, numbers[i] == numbers[i].rounded(), numbers[i] >= -1, numbers[i] < Float(labels.count) else {
                throw .malformed(url, "region \(i): kind \(kind.values[i]), score \(scores[i]), label \(numbers[i]) out of range")
            }
            details.append(RegionDetails(kind: kinds[Int(kind.values[i])], score: scores[i].isNaN ? nil : scores[i], label: numbers[i] < 0 ? nil : labels[Int(numbers[i])]))
        }
        return details
    }
}

extension ObjectIndex: SegmentedIndex {
    static var fileFormat: String { "loupe-object-index" }

    func slice(_ images: Range<Int>) throws(IndexError) -> ObjectIndex {
        var part = try ObjectIndex(recipe: recipe, whitening: whitening)
        part.root = root
        part.studentHeadLocation = studentHeadLocation
        if let localFeatures { part.localFeatures = LocalFeatureStore(options: localFeatures.options) }
        for image in images {
            // the rows are checked as they are read, not the whole store
            let rows = rowRanges[image]
            try part.add([(try store.gather(Array(rows)), Array(regions[rows]), paths[image])], stamps: [stamps[image]], checkingLocal: false)
            if let local = localFeatures {
                let (features, side) = local.features(ofImage: image)
                part.localFeatures!.append(features, side: side)
            }
        }
        (part.ids, part.nextID) = (Array(ids[images]), nextID)
        return part
    }

    mutating func append(segment: ObjectIndex) throws(IndexError) {
        guard (segment.localFeatures == nil) == (localFeatures == nil) else {
            throw .localFeaturesMismatch("a segment keeps local features and another does not")
        }
        for image in 0..<segment.count {
            let rows = segment.rowRanges[image]
            try add([(segment.store.rows(rows), Array(segment.regions[rows]), segment.paths[image])], stamps: [segment.stamps[image]], checkingLocal: false)
            if let local = segment.localFeatures {
                let (features, side) = local.features(ofImage: image)
                localFeatures!.append(features, side: side)
            }
        }
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

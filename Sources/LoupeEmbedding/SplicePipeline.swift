public import Foundation

/// The scores of a spliced-image evaluation: per group of composites (`dev`, `report`, …), and
/// within each group per pasted-area bin and for the composites with two donors or more.
public struct SpliceReport: Sendable, Codable {
    public var dataset: String
    public var recipe: EmbeddingRecipe
    /// Keyed `GROUP`, `GROUP area<3%`, `GROUP area3-10%`, `GROUP area>10%`, `GROUP two donors`.
    public var scores: [String: SpliceScores]
    public var databaseImages: Int
    /// Mean milliseconds per composite, by stage (decode, network, detector, pooling, search, …).
    public var queryMilliseconds: [String: Double]
    public var seconds: Double
    /// Files left out because they could not be read or embedded.
    public var skipped: [SkippedFile] = []
    /// Each composite's outcome, in the benchmark's order (for finding the failures).
    public var outcomes: [SpliceOutcome] = []

    /// The pasted-area bin of a composite's truth (the area of all its pasted parts).
    public static func areaBin(_ fraction: Double) -> String {
        fraction < 0.03 ? "area<3%" : fraction <= 0.10 ? "area3-10%" : "area>10%"
    }
}

/// How one composite was answered: where its sources ranked and how well its pasted part was located.
public struct SpliceOutcome: Sendable, Codable, Equatable {
    /// The composite as `gt/roles.csv` names it (e.g. `dev/0001.jpg`), and its group.
    public var query: String
    public var group: String
    /// The host's rank and each donor's (1 = first; nil when not ranked at all).
    public var hostRank: Int?
    public var donorRanks: [Int?]
    /// Each donor's verified inliers (nil when it was not verified).
    public var donorInliers: [Int?]
    /// The share of the frame pasted, and the IoU of the located region with it (nil without a mask).
    public var area: Double?
    public var regionIoU: Double?
}

/// One composite's answer: the collection ranked, and where the pasted part is thought to be.
struct SpliceAnswer {
    var ranking: [Int]
    var region: BoundingBox?
    /// The located pasted pixels, when known (scored instead of the region's box).
    var pasted: DifferenceRegions? = nil
    /// Verified inliers per collection index, for the images that were verified.
    var inliers: [Int: Int] = [:]
}

/// Evaluates source retrieval on a spliced-image benchmark with a global embedder: one vector per
/// photo and per composite, ranked by cosine; no region is located.
public func evaluateSplices(_ benchmark: SpliceBenchmark, with embedder: GlobalEmbedder, onBadFile policy: BadFilePolicy = .skip,
                            progress: (any ProgressObserver)? = nil) throws -> SpliceReport {
    let start = Date()
    let database = embed(benchmark.reference, with: embedder, onBadFile: policy, progress: progress, label: "collection")
    if !database.complete, let first = database.skipped.last { throw first }
    let kept = keptPositions(benchmark.reference, skipping: database.skipped)
    var clock = StageClock()
    return try scoreSplices(benchmark, recipe: embedder.recipe, databaseImages: kept.count, skipped: database.skipped, policy: policy,
                            locates: false, progress: progress, start: start, clock: &clock) { image, clock in
        let vector = try embedder.embedding(of: image, clock: &clock)
        let top = clock.measure("search") { nearestNeighbors(of: vector, in: database.vectors, k: kept.count) }
        return SpliceAnswer(ranking: top.results(forQuery: 0).map { kept[$0.index] }, region: nil)
    }
}

/// Evaluates source retrieval with a region embedder (hard attention, crop teacher, student): the
/// collection is an object index and each composite is answered by a ``SourceFinder``
/// (``SourceSearchSettings/hostGuided``: the host compared pixel by pixel, the parts that differ searched for donors;
/// otherwise the plain object search, whose located region is the query region of the best match
/// outside the top-ranked image). With `localFeatures` the collection's local features are kept and
/// the host-guided search verifies donors with them. `index`: the collection indexed before (its
/// images must be `reference/` photos of the benchmark, in path order — photos left out of it, as
/// unreadable ones are, are never retrieved; the index decides whether local features are used,
/// so `localFeatures` must then be nil). `settings`: the ``SourceFinder``'s steps.
public func evaluateSplices(_ benchmark: SpliceBenchmark, with embedder: any RegionEmbedder, options: ObjectSearchOptions = .init(),
                            settings: SourceSearchSettings = .init(), localFeatures: LocalFeatureOptions? = nil, index prebuilt: ObjectIndex? = nil,
                            onBadFile policy: BadFilePolicy = .skip, progress: (any ProgressObserver)? = nil) throws -> SpliceReport {
    let start = Date()
    var index: ObjectIndex
    let kept: [Int]
    var skippedImages: [SkippedFile] = []
    if let prebuilt {
        guard localFeatures == nil else {
            throw EmbedderError.invalidOption("a prebuilt index keeps local features or not already; pass no local-feature options with it")
        }
        // an index of reference/ made before (e.g. by `loupe index`): its images, in the benchmark's order
        guard prebuilt.recipe.isCompatible(with: embedder.recipe) else { throw IndexError.recipeMismatch(prebuilt.recipe.differences(from: embedder.recipe)) }
        let wanted = benchmark.reference.map { $0.standardizedFileURL.resolvingSymlinksInPath().path }
        let position = Dictionary(wanted.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let held = prebuilt.paths.map { position[URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path] }
        guard held.allSatisfy({ $0 != nil }), held == held.sorted(by: { $0! < $1! }) else {
            throw EmbedderError.invalidOption("the index holds images that are not the benchmark's reference/ photos in path order: index reference/ itself")
        }
        index = prebuilt
        kept = held.map { $0! }
    } else {
        index = ObjectIndex(for: embedder)
        if let localFeatures { try index.keepLocalFeatures(localFeatures) }
        let built = try index.add(benchmark.reference, with: embedder, onBadFile: policy, progress: progress)
        if !built.complete, let first = built.skipped.last { throw first }
        kept = keptPositions(benchmark.reference, skipping: built.skipped)
        skippedImages = built.skipped
    }
    let finder = SourceFinder(index: index, embedder: embedder, options: options, settings: settings)
    var clock = StageClock()
    return try scoreSplices(benchmark, recipe: embedder.recipe, databaseImages: index.count, skipped: skippedImages, policy: policy,
                            locates: true, progress: progress, start: start, clock: &clock) { image, clock in
        let answer = try finder.sources(of: image, k: index.count, clock: &clock)
        // the plain search's guess at the pasted part: the region of the best match outside the host
        let guess = answer.region ?? answer.results.dropFirst().first { $0.queryBox != BoundingBox(x0: 0, y0: 0, x1: Float(image.width), y1: Float(image.height)) }?.queryBox
        let inliers = Dictionary(answer.results.compactMap { r in r.inliers.map { (kept[r.image], $0) } }, uniquingKeysWith: max)
        return SpliceAnswer(ranking: answer.results.map { kept[$0.image] }, region: guess, pasted: answer.pasted, inliers: inliers)
    }
}

/// Runs `answer` on every composite and scores the answers per group, area bin and donor count
/// (the region IoU only when the method `locates` regions).
func scoreSplices(_ benchmark: SpliceBenchmark, recipe: EmbeddingRecipe, databaseImages: Int, skipped: [SkippedFile],
                  policy: BadFilePolicy, locates: Bool, progress: (any ProgressObserver)?, start: Date, clock: inout StageClock,
                  answer: (Image, inout StageClock) throws -> SpliceAnswer) throws -> SpliceReport {
    var skipped = skipped
    var answered: [(query: SpliceBenchmark.Query, answer: SpliceAnswer, area: Double?, iou: Double?)] = []
    for (i, query) in benchmark.queries.enumerated() {
        defer { progress?.update(done: i + 1, total: benchmark.queries.count, label: "composites") }
        do {
            let image = try clock.measure("decode") { () throws(ImageError) in try Image(contentsOf: query.path) }
            let result = try answer(image, &clock)
            var area: Double?, iou: Double?
            if let url = query.mask {
                let mask = try SpliceMask(contentsOf: url)
                area = mask.areaFraction()
                // the region in the mask's pixels (masks are the composite's size; scaled if not)
                let scaled = result.region.map { $0.scaled(x: Float(mask.width) / Float(image.width), y: Float(mask.height) / Float(image.height), dx: 0, dy: 0) }
                if locates {
                    // the located pixels against all pasted pixels; a box alone against the donor it covers best
                    if let pasted = result.pasted {
                        iou = mask.intersectionOverUnion(pasted.mask(width: mask.width, height: mask.height))
                    } else {
                        iou = scaled.map { box in (1...max(1, query.donors.count)).map { mask.intersectionOverUnion(box, donor: $0) }.max()! } ?? 0
                    }
                }
            }
            answered.append((query, result, area, iou))
        } catch {
            let skip = SkippedFile(file: query.path, error: EmbedderError(error, file: query.path))
            if policy == .stop { throw skip }
            skipped.append(skip)
        }
    }
    var scores: [String: SpliceScores] = [:]
    func add(_ key: String, _ rows: [(query: SpliceBenchmark.Query, answer: SpliceAnswer, area: Double?, iou: Double?)]) {
        guard !rows.isEmpty else { return }
        scores[key] = SpliceScores.score(rankings: rows.map(\.answer.ranking), queries: rows.map(\.query), regionIoU: rows.map(\.iou))
    }
    for group in Set(answered.map(\.query.group)).sorted() {
        let rows = answered.filter { $0.query.group == group }
        add(group, rows)
        for bin in ["area<3%", "area3-10%", "area>10%"] {
            add("\(group) \(bin)", rows.filter { $0.area.map(SpliceReport.areaBin) == bin })
        }
        add("\(group) two donors", rows.filter { $0.query.donors.count >= 2 })
    }
    let per = Double(max(answered.count, 1))
    let outcomes = answered.map { row in
        let rank = Dictionary(row.answer.ranking.enumerated().map { ($1, $0 + 1) }, uniquingKeysWith: { a, _ in a })
        return SpliceOutcome(query: row.query.name, group: row.query.group, hostRank: rank[row.query.host], donorRanks: row.query.donors.map { rank[$0] },
                             donorInliers: row.query.donors.map { row.answer.inliers[$0] }, area: row.area, regionIoU: row.iou)
    }
    return SpliceReport(dataset: benchmark.name, recipe: recipe, scores: scores, databaseImages: databaseImages,
                        queryMilliseconds: Dictionary(clock.seconds.map { ($0.name, 1000 * $0.seconds / per) }, uniquingKeysWith: +),
                        seconds: Date().timeIntervalSince(start), skipped: skipped, outcomes: outcomes)
}

extension SpliceMask {
    /// Reads a truth mask PNG (grey values: 0 elsewhere, k for donor k).
    public init(contentsOf url: URL) throws(ImageError) {
        let image = try Image(contentsOf: url)
        let labels = image.pixels.scalars.prefix(image.width * image.height).map { UInt8(max(0, min(255, $0.rounded()))) }
        self.init(width: image.width, height: image.height, labels: labels)
    }
}

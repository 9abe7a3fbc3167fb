public import Foundation

/// Reports progress of long loops: a bar on a terminal, a line every 10 % otherwise.
public protocol ProgressObserver: Sendable {
    func update(done: Int, total: Int, label: String)
}

/// The scores of a dataset evaluation, overall and per query group (camera, …).
public struct EvaluationReport: Sendable, Codable {
    public var dataset: String
    public var recipe: EmbeddingRecipe
    public var overall: Evaluation.Summary
    public var groups: [String: Evaluation.Summary]
    public var databaseImages: Int
    public var seconds: Double
    /// Files left out because they could not be read or embedded (see ``BadFilePolicy``).
    public var skipped: [SkippedFile] = []
}

/// Embeds a `RetrievalDataset` with an embedder, ranks the database for every query by cosine
/// similarity and scores the rankings (leave-one-out queries never see themselves).
///
/// A file that cannot be read or embedded is, with `policy` `.skip`, left out and listed in the
/// report's `skipped`: a database image left out is never retrieved (a query it was relevant to
/// counts it as missed), a query left out is not scored. With `.stop` the first one throws its
/// ``SkippedFile``.
public func evaluate(_ dataset: RetrievalDataset, with embedder: GlobalEmbedder, onBadFile policy: BadFilePolicy = .skip,
                     progress: (any ProgressObserver)? = nil) throws -> EvaluationReport {
    let start = Date()
    let database = embed(dataset.database, with: embedder, onBadFile: policy, progress: progress, label: "database")
    if !database.complete, let first = database.skipped.last { throw first }
    var skipped = database.skipped
    let kept = keptPositions(dataset.database, skipping: skipped)
    let row = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
    var queries: [Tensor] = [], scored: [RetrievalDataset.Query] = []
    var externalDone = 0
    let external = dataset.queries.count { $0.databaseIndex == nil }
    for q in dataset.queries {
        if let own = q.databaseIndex {
            guard let r = row[own] else { continue }  // its image was left out (and reported)
            queries.append(database.vectors.sliced(along: 0, r..<(r + 1)))
        } else {
            defer { externalDone += 1; progress?.update(done: externalDone, total: external, label: "queries") }
            do {
                var image = try Image(contentsOf: q.path)
                if let box = q.box { image = image.cropped(toBox: box) }  // the query is the boxed region (Revisited Oxford/Paris)
                queries.append(try embedder.embedding(of: image))
            } catch {
                let skip = SkippedFile(file: q.path, error: EmbedderError(error, file: q.path))
                if policy == .stop { throw skip }
                skipped.append(skip)
                continue
            }
        }
        scored.append(q)
    }
    var rankings: [[Int]] = []
    if !queries.isEmpty && !kept.isEmpty {
        let top = nearestNeighbors(of: Tensor.concatenated(queries, along: 0), in: database.vectors, k: kept.count)
        for (qi, q) in scored.enumerated() {
            rankings.append(top.results(forQuery: qi).map { kept[$0.index] }.filter { $0 != q.databaseIndex })
        }
    }
    var report = summarize(dataset: dataset.name, recipe: embedder.recipe, rankings: rankings, queries: scored,
                           databaseImages: kept.count, start: start)
    report.skipped = skipped
    return report
}

/// The embeddings of the files a batch could read, in order, and the files it left out.
public struct EmbeddedFiles: Sendable {
    /// `[files.count, D]`.
    public var vectors: Tensor
    /// The files embedded, in the order given.
    public var files: [URL]
    /// The files left out, with why.
    public var skipped: [SkippedFile]
    /// `false` when ``BadFilePolicy/stop`` stopped at a bad file (the last of ``skipped``).
    public var complete: Bool
}

/// Embeds image files in order (decoding one ahead of the network). A file that cannot be read
/// or embedded is left out and listed; with `policy` `.stop`, nothing after it is tried.
public func embed(_ paths: [URL], with embedder: GlobalEmbedder, onBadFile policy: BadFilePolicy = .skip,
                  progress: (any ProgressObserver)? = nil, label: String = "images") -> EmbeddedFiles {
    var rows: [Tensor] = [], files: [URL] = [], skipped: [SkippedFile] = []
    rows.reserveCapacity(paths.count)
    forEachDecoded(paths) { i, url, decoded, _ in
        guard policy == .skip || skipped.isEmpty else { return }
        defer { progress?.update(done: i + 1, total: paths.count, label: label) }
        do {
            rows.append(try embedder.embedding(of: decoded.get()))
            files.append(url)
        } catch { skipped.append(SkippedFile(file: url, error: EmbedderError(error, file: url))) }
    }
    let vectors = rows.isEmpty ? Tensor(zeros: [0, embedder.recipe.dimension]) : Tensor.concatenated(rows, along: 0)
    return EmbeddedFiles(vectors: vectors, files: files, skipped: skipped, complete: policy == .skip || skipped.isEmpty)
}

/// The positions in `files` of those not in `skipping` (a batch keeps its order).
func keptPositions(_ files: [URL], skipping skipped: [SkippedFile]) -> [Int] {
    let left = Set(skipped.map(\.file))
    return files.indices.filter { !left.contains(files[$0]) }
}

/// Evaluates object retrieval: every database image is embedded as its regions into an
/// `ObjectIndex`; each query's regions are searched with `options` (leave-one-out queries reuse
/// their own regions and never see their own image). Files that cannot be read or embedded are
/// handled by `policy` as in ``evaluate(_:with:onBadFile:progress:)``. With `quantization`, the
/// index gets an approximate part of that kind once it is built (after a projection to
/// `reducedDimension` principal directions, when given), and is searched through it
/// (`options.quantized`): what that costs in mAP.
public func evaluate(_ dataset: RetrievalDataset, with embedder: any RegionEmbedder, options: ObjectSearchOptions = .init(),
                     quantization: QuantizedIndex.Kind? = nil, reducingTo reducedDimension: Int? = nil,
                     onBadFile policy: BadFilePolicy = .skip, progress: (any ProgressObserver)? = nil) throws -> EvaluationReport {
    let start = Date()
    var index = ObjectIndex(for: embedder)
    let built = try index.add(dataset.database, with: embedder, onBadFile: policy, progress: progress)
    if !built.complete, let first = built.skipped.last { throw first }
    if let quantization { try index.quantize(quantization, reducingTo: reducedDimension, defaultSearch: options.quantized) }
    var skipped = built.skipped
    let kept = keptPositions(dataset.database, skipping: skipped)
    let local = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
    var rankings: [[Int]] = [], scored: [RetrievalDataset.Query] = []
    let external = dataset.queries.count { $0.databaseIndex == nil }
    var done = 0
    for q in dataset.queries {
        let query: ImageObjects
        if let own = q.databaseIndex {
            guard let image = local[own] else { continue }
            query = ImageObjects(regions: Array(index.regions[index.rowRanges[image]]), vectors: index.vectors(ofImage: image))
        } else {
            defer { done += 1; progress?.update(done: done, total: external, label: "queries") }
            do {
                var image = try Image(contentsOf: q.path)
                if let box = q.box { image = image.cropped(toBox: box) }
                query = try embedder.objects(in: image)
            } catch {
                let skip = SkippedFile(file: q.path, error: EmbedderError(error, file: q.path))
                if policy == .stop { throw skip }
                skipped.append(skip)
                continue
            }
        }
        let hits = try index.search(query.vectors, regions: query.regions, k: index.count, options: options,
                                    excluding: q.databaseIndex.flatMap { local[$0] })
        rankings.append(hits.map { kept[$0.image] })
        scored.append(q)
    }
    var report = summarize(dataset: dataset.name, recipe: embedder.recipe, rankings: rankings, queries: scored,
                           databaseImages: index.count, start: start)
    report.skipped = skipped
    return report
}

/// Embeds image files as their regions into a new `ObjectIndex`. Evaluation needs every
/// database image: the first file that cannot be read or embedded throws its ``SkippedFile``.
public func buildObjectIndex(_ paths: [URL], with embedder: any RegionEmbedder, progress: (any ProgressObserver)? = nil,
                             label: String = "images") throws -> ObjectIndex {
    var index = ObjectIndex(for: embedder)
    let report = try index.add(paths, with: embedder, onBadFile: .stop, progress: progress)
    if let first = report.skipped.first { throw first }
    return index
}

extension Image {
    /// The pixels inside `box` `[x0, y0, x1, y1]` (rounded outwards, clamped, at least one pixel):
    /// how a Revisited Oxford/Paris query is cut from its image.
    public func cropped(toBox box: [Double]) -> Image {
        let x0 = max(0, min(width - 1, Int(box[0]))), y0 = max(0, min(height - 1, Int(box[1])))
        let x1 = max(x0 + 1, min(width, Int(box[2].rounded(.up)))), y1 = max(y0 + 1, min(height, Int(box[3].rounded(.up))))
        return cropped(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }
}

/// Scores rankings overall and per query group.
func summarize(dataset: String, recipe: EmbeddingRecipe, rankings: [[Int]], queries: [RetrievalDataset.Query],
               databaseImages: Int, start: Date) -> EvaluationReport {
    let (overall, perGroup) = Evaluation.evaluate(rankings: rankings, positives: queries.map(\.positives), junk: queries.map(\.junk),
                                                  groups: queries.map(\.group))
    return EvaluationReport(dataset: dataset, recipe: recipe, overall: overall, groups: perGroup,
                            databaseImages: databaseImages, seconds: Date().timeIntervalSince(start))
}

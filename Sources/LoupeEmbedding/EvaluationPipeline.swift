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
}

/// Embeds a `RetrievalDataset` with an embedder, ranks the database for every query by cosine
/// similarity and scores the rankings (leave-one-out queries never see themselves).
public func evaluate(_ dataset: RetrievalDataset, with embedder: GlobalEmbedder,
                     progress: (any ProgressObserver)? = nil) throws -> EvaluationReport {
    let start = Date()
    let database = try embed(dataset.database, with: embedder, progress: progress, label: "database")
    let external = dataset.queries.filter { $0.databaseIndex == nil }
    var queryRows: [Tensor] = []
    for (i, q) in external.enumerated() {
        var image = try Image(contentsOf: q.path)
        if let box = q.box { image = image.cropped(toBox: box) }  // the query is the boxed region (Revisited Oxford/Paris)
        queryRows.append(try embedder.embedding(of: image))
        progress?.update(done: i + 1, total: external.count, label: "queries")
    }
    let queryVectors = queryRows.isEmpty ? nil : Tensor.concatenated(queryRows, along: 0)
    var rankings: [[Int]] = [], positives: [Set<Int>] = [], junk: [Set<Int>] = [], groups: [String] = []
    let n = dataset.database.count
    var externalRow = 0
    var queries: [Tensor] = []
    for q in dataset.queries {
        if let i = q.databaseIndex { queries.append(database.sliced(along: 0, i..<(i + 1))) }
        else { queries.append(queryVectors!.sliced(along: 0, externalRow..<(externalRow + 1))); externalRow += 1 }
    }
    let top = nearestNeighbors(of: Tensor.concatenated(queries, along: 0), in: database, k: n)
    for (qi, q) in dataset.queries.enumerated() {
        var ranking = top.results(forQuery: qi).map(\.index)
        if let own = q.databaseIndex { ranking.removeAll { $0 == own } }
        rankings.append(ranking)
        positives.append(q.positives)
        junk.append(q.junk)
        groups.append(q.group)
    }
    return summarize(dataset: dataset.name, recipe: embedder.recipe, rankings: rankings, positives: positives, junk: junk,
                     groups: groups, databaseImages: n, start: start)
}

/// Embeddings `[N, D]` of image files, in order.
public func embed(_ paths: [URL], with embedder: GlobalEmbedder, progress: (any ProgressObserver)? = nil,
                  label: String = "images") throws -> Tensor {
    var rows: [Tensor] = []
    rows.reserveCapacity(paths.count)
    for (i, path) in paths.enumerated() {
        let image: Image
        do { image = try Image(contentsOf: path) } catch { throw EmbedderError.image(file: path, error) }
        rows.append(try embedder.embedding(of: image))
        progress?.update(done: i + 1, total: paths.count, label: label)
    }
    guard !rows.isEmpty else { return Tensor(zeros: [0, embedder.recipe.dimension]) }
    return Tensor.concatenated(rows, along: 0)
}

/// Evaluates object retrieval: every database image is embedded as its regions into an
/// `ObjectIndex`; each query's regions are searched with `options` (leave-one-out queries reuse
/// their own regions and never see their own image).
public func evaluate(_ dataset: RetrievalDataset, with embedder: any RegionEmbedder, options: ObjectSearchOptions = .init(),
                     progress: (any ProgressObserver)? = nil) throws -> EvaluationReport {
    let start = Date()
    let index = try buildObjectIndex(dataset.database, with: embedder, progress: progress, label: "database")
    var rankings: [[Int]] = [], positives: [Set<Int>] = [], junk: [Set<Int>] = [], groups: [String] = []
    let external = dataset.queries.filter { $0.databaseIndex == nil }.count
    var done = 0
    for q in dataset.queries {
        let query: ImageObjects
        if let own = q.databaseIndex {
            let rows = index.rowRanges[own]
            query = ImageObjects(regions: Array(index.regions[rows]), vectors: index.vectors(ofImage: own))
        } else {
            var image = try Image(contentsOf: q.path)
            if let box = q.box { image = image.cropped(toBox: box) }
            query = try embedder.objects(in: image)
            done += 1
            progress?.update(done: done, total: external, label: "queries")
        }
        let hits = try index.search(query.vectors, regions: query.regions, k: index.count, options: options,
                                    excluding: q.databaseIndex)
        rankings.append(hits.map(\.image))
        positives.append(q.positives)
        junk.append(q.junk)
        groups.append(q.group)
    }
    return summarize(dataset: dataset.name, recipe: embedder.recipe, rankings: rankings, positives: positives, junk: junk,
                     groups: groups, databaseImages: index.count, start: start)
}

/// Embeds image files as their regions into a new `ObjectIndex`. Evaluation needs every
/// database image: the first file that cannot be read or embedded throws, naming it.
public func buildObjectIndex(_ paths: [URL], with embedder: any RegionEmbedder, progress: (any ProgressObserver)? = nil,
                             label: String = "images") throws -> ObjectIndex {
    var index = ObjectIndex(for: embedder)
    let report = try index.add(paths, with: embedder, progress: progress)
    if let (file, error) = report.skipped.first { throw EmbedderError.invalidOption("\(file.path): \(error)") }
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
func summarize(dataset: String, recipe: EmbeddingRecipe, rankings: [[Int]], positives: [Set<Int>], junk: [Set<Int>],
               groups: [String], databaseImages: Int, start: Date) -> EvaluationReport {
    let (overall, perGroup) = Evaluation.evaluate(rankings: rankings, positives: positives, junk: junk, groups: groups)
    return EvaluationReport(dataset: dataset, recipe: recipe, overall: overall, groups: perGroup,
                            databaseImages: databaseImages, seconds: Date().timeIntervalSince(start))
}

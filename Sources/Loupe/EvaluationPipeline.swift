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
        if let box = q.box {  // the query is the boxed region (Revisited Oxford/Paris)
            let x0 = max(0, min(image.width - 1, Int(box[0]))), y0 = max(0, min(image.height - 1, Int(box[1])))
            let x1 = max(x0 + 1, min(image.width, Int(box[2].rounded(.up)))), y1 = max(y0 + 1, min(image.height, Int(box[3].rounded(.up))))
            image = image.cropped(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
        }
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
    let overall = Evaluation.evaluate(rankings: rankings, positives: positives, junk: junk)
    var perGroup: [String: Evaluation.Summary] = [:]
    let names = Set(groups)
    if names.count > 1 {
        for g in names {
            let idx = groups.indices.filter { groups[$0] == g }
            perGroup[g] = Evaluation.evaluate(rankings: idx.map { rankings[$0] }, positives: idx.map { positives[$0] },
                                              junk: idx.map { junk[$0] })
        }
    }
    return EvaluationReport(dataset: dataset.name, recipe: embedder.recipe, overall: overall, groups: perGroup,
                            databaseImages: n, seconds: Date().timeIntervalSince(start))
}

/// Embeddings `[N, D]` of image files, in order.
public func embed(_ paths: [URL], with embedder: GlobalEmbedder, progress: (any ProgressObserver)? = nil,
                  label: String = "images") throws -> Tensor {
    var rows: [Tensor] = []
    rows.reserveCapacity(paths.count)
    for (i, path) in paths.enumerated() {
        rows.append(try embedder.embedding(of: Image(contentsOf: path)))
        progress?.update(done: i + 1, total: paths.count, label: label)
    }
    guard !rows.isEmpty else { return Tensor(zeros: [0, embedder.recipe.dimension]) }
    return Tensor.concatenated(rows, along: 0)
}

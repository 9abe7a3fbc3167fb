internal import Foundation

/// What an image of the collection is to a composite.
public enum SourceRole: String, Sendable, Codable {
    /// The photo the parts were pasted into.
    case host
    /// A photo a pasted part came from.
    case donor
    /// Neither, as far as the search can tell.
    case other
}

/// One image of the collection in a source search.
public struct SourceHit: Sendable, Codable {
    /// Its position in the index, its path and its score (cosine of the best region pair).
    public var image: Int
    public var path: String
    public var score: Float
    public var role: SourceRole
    /// The composite's region that matched (in the composite's pixels) and the image's region.
    public var queryBox: BoundingBox
    public var databaseRegion: ObjectRegion
}

/// The sources of one composite: the collection ranked (host first when one was found), and
/// where the pasted parts are.
public struct SourceAnswer: Sendable, Codable {
    public var results: [SourceHit]
    /// The located pasted parts, largest first (in the composite's pixels); empty when no host
    /// was confirmed.
    public var regions: [BoundingBox]
    /// The largest located part (the answer's "region").
    public var region: BoundingBox? { regions.first }
}

/// Finds the host and the donors of a composite in an object index (the follow-up paper's
/// spliced-image retrieval, guided by the host):
///
/// 1. the composite's regions (detector boxes) are searched; the best of the top `hostCandidates`
///    images that shows the same frame with the fewest changes is the host;
/// 2. the composite is compared with the host pixel by pixel (``Image/differenceRegions(from:gridSide:threshold:minimumFraction:maximumFraction:maximumRegions:)``):
///    the areas that differ are the pasted parts;
/// 3. each part is embedded as a region of the composite and searched with the host left out;
///    the parts' rankings are merged turn by turn, so that every donor comes early.
///
/// Without a confirmed host (no candidate shows the same frame) the ranking of step 1 is the answer.
public struct SourceFinder: Sendable {
    public var index: ObjectIndex
    public var embedder: any RegionEmbedder
    /// How the first search compares regions.
    public var options: ObjectSearchOptions
    /// Steps 2 and 3 (`false`: the plain object search, the host guessed at rank 1).
    public var hostGuided: Bool
    /// Images of the first search tried as the host.
    public var hostCandidates: Int

    public init(index: ObjectIndex, embedder: any RegionEmbedder, options: ObjectSearchOptions = .init(),
                hostGuided: Bool = true, hostCandidates: Int = 3) {
        (self.index, self.embedder, self.options, self.hostGuided, self.hostCandidates) = (index, embedder, options, hostGuided, hostCandidates)
    }

    /// The sources of `image`, at most `k` results.
    public func sources(of image: Image, k: Int, clock: inout StageClock) throws -> SourceAnswer {
        // hard attention keeps the composite's map for the parts' search: one backbone pass
        let oneMap = (embedder as? ObjectEmbedder).flatMap { e -> ObjectEmbedder? in
            if case .hardAttention = e.method, e.embedder.scales.count == 1 { return e } else { return nil }
        }
        var cache: ObjectEmbedder.MapCache?
        let objects = try oneMap.map { try $0.objects(in: image, given: [], detect: true, cache: &cache, clock: &clock) }
            ?? embedder.objects(in: image, given: [], detect: true, clock: &clock)
        let first = try clock.measure("search") { () throws(IndexError) in
            try index.search(objects.vectors, regions: objects.regions, k: index.count, options: options, recipe: embedder.recipe)
        }
        func hit(_ h: ObjectHit, _ role: SourceRole, _ regions: [ObjectRegion]) -> SourceHit {
            SourceHit(image: h.image, path: h.path, score: h.score, role: role, queryBox: regions[h.queryRegion].box, databaseRegion: h.databaseRegion)
        }
        let plain = SourceAnswer(results: first.prefix(k).enumerated().map { i, h in hit(h, i == 0 ? .host : i == 1 ? .donor : .other, objects.regions) },
                                 regions: [])
        guard hostGuided, !first.isEmpty else { return plain }
        // the host: the candidate showing the same frame with the fewest changed pixels
        var host: (hit: ObjectHit, difference: DifferenceRegions)?
        for candidate in first.prefix(hostCandidates) {
            guard let photo = try? clock.measure("host decode", { () throws(ImageError) in try Image(contentsOf: URL(fileURLWithPath: candidate.path)) }) else { continue }
            let difference = clock.measure("difference") { image.differenceRegions(from: photo) }
            guard difference.aligned, !difference.boxes.isEmpty else { continue }
            if host == nil || difference.changedFraction < host!.difference.changedFraction { host = (candidate, difference) }
        }
        guard let host else { return plain }
        // the pasted parts as query regions, searched without the host
        let parts = try oneMap.map { try $0.objects(in: image, given: host.difference.boxes, detect: false, cache: &cache, clock: &clock) }
            ?? embedder.objects(in: image, given: host.difference.boxes, detect: false, clock: &clock)
        var perPart: [[ObjectHit]] = []
        for part in 1..<parts.regions.count {
            let rows = parts.vectors.sliced(along: 0, part..<(part + 1))
            let found = try clock.measure("donor search") { () throws(IndexError) in
                try index.search(rows, regions: [parts.regions[part]], k: index.count, options: ObjectSearchOptions(queryRegions: .all),
                                 excluding: host.hit.image)
            }
            perPart.append(found.map { h in
                var shifted = h
                shifted.queryRegion = part
                return shifted
            })
        }
        // merge turn by turn: each part's best not yet taken, then each part's next, …
        var results = [hit(host.hit, .host, objects.regions)]
        var taken: Set<Int> = [host.hit.image]
        var cursor = [Int](repeating: 0, count: perPart.count)
        var round = 0
        while results.count < min(k, index.count) {
            var progressed = false
            for p in perPart.indices {
                while cursor[p] < perPart[p].count && taken.contains(perPart[p][cursor[p]].image) { cursor[p] += 1 }
                guard cursor[p] < perPart[p].count, results.count < min(k, index.count) else { continue }
                let h = perPart[p][cursor[p]]
                taken.insert(h.image)
                results.append(hit(h, round == 0 ? .donor : .other, parts.regions))
                progressed = true
            }
            round += 1
            if !progressed { break }
        }
        return SourceAnswer(results: results, regions: host.difference.boxes)
    }
}

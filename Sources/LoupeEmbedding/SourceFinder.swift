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
    /// Its id in the index (``ObjectIndex/ids``), kept through compactions and updates.
    public var id: Int
    public var path: String
    public var score: Float
    public var role: SourceRole
    /// The composite's region that matched (in the composite's pixels) and the image's region.
    public var queryBox: BoundingBox
    public var databaseRegion: ObjectRegion
    /// Local features of the composite's pasted part that this image's features match under one
    /// similarity transform (nil when it was not verified).
    public var inliers: Int?
    /// The verification's ``LocalVerification/logFalseAlarms`` (nil when it was not verified):
    /// below 0, its agreement is unlikely to be chance.
    public var logFalseAlarms: Double?
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
    /// The located pasted pixels, when a host was confirmed (``DifferenceRegions/cells``: part
    /// `k` of ``regions`` is label `k`); ``DifferenceRegions/mask(width:height:)`` draws it at
    /// the composite's size. Not part of the JSON form.
    public var pasted: DifferenceRegions?

    public init(results: [SourceHit], regions: [BoundingBox], pasted: DifferenceRegions? = nil) {
        (self.results, self.regions, self.pasted) = (results, regions, pasted)
    }

    private enum CodingKeys: String, CodingKey { case results, regions }
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
/// 4. when the index keeps local features (``ObjectIndex/keepLocalFeatures(_:)``), the parts'
///    local features (and those of the parts mirrored) are matched against the whole collection
///    and verified with a similarity transform (``LocalFeatureStore/verify(_:excluding:ratio:minimumInliers:tolerance:shortlist:neighbours:withinRatio:)``):
///    the images whose agreement is unlikely to be chance (``SourceSearchSettings/maximumLogFalseAlarms``) come first,
///    most inliers first, and the matched features locate each
///    donor's part. A part that no image verifies is looked at again on its crop enlarged
///    (``SourceSearchSettings/partUpsampling``), for parts pasted smaller than they were in their donor.
///
/// Without a confirmed host (no candidate shows the same frame) the ranking of step 1 is the answer.
/// The settings of a ``SourceFinder``'s steps (the defaults are those measured best on the dev
/// half of the splice benchmark).
public struct SourceSearchSettings: Sendable, Equatable {
    /// Steps 2 and 3 (`false`: the plain object search, the host guessed at rank 1).
    public var hostGuided: Bool = true
    /// Images of the first search tried as the host.
    public var hostCandidates: Int = 3
    /// Class-free query regions for step 1: the squares of an R-MAC grid of this many levels
    /// (``gridRegions(width:height:levels:)``) searched with the detector's boxes; 0: none
    /// (measured on the splice benchmark's dev half: 3 levels move the plain search's host@1 from
    /// 0.975 to 0.985 and its donor@10 from 0.128 to 0.103; host-guided with verification, nothing).
    public var gridLevels: Int = 0
    /// Step 3 pools each pasted part over its located pixels only (``ObjectEmbedder/objects(in:shaped:inside:cache:clock:)``),
    /// not the whole box around it. Measured on the splice benchmark's dev half with
    /// verification: the median rank of the donors still missed went from 278 to 260, and no
    /// donor reached the top 10, so it is off by default.
    public var shapedParts: Bool = false
    /// Step 4 looks again at the parts that no image explains with ``donorInliers``, their crop
    /// enlarged by each of these factors in turn while some part stays unexplained (each capped at
    /// twice the store's feature side; one the cap brings down to the last is skipped; empty: not
    /// at all), so that a part pasted smaller than it was in its donor keeps the fine features the
    /// donor's copy has. Measured on the splice benchmark's dev half (donor@10 / all sources in the
    /// top 2 / ms of features and matching per composite): none 0.893 / 0.855 / 697; `[2]` 0.934 /
    /// 0.91 / 797; `[3]` 0.942 / 0.915 / ≈ 1,040; `[2, 3]` 0.947 / 0.915 / 1,141.
    public var partUpsampling: [Int] = SourceSearchSettings.defaultPartUpsampling
    /// The default of ``partUpsampling`` (the CLI's too).
    public static let defaultPartUpsampling = [2, 3]
    /// Step 4, when the index keeps local features.
    public var verifies: Bool = true
    /// Inliers from which a verified image counts as a donor (fewer: ranked early, role `other`).
    public var donorInliers: Int = 6
    /// Verifications ranked ahead of the parts' embedding search: those whose
    /// ``LocalVerification/logFalseAlarms`` is below this (0: fewer than one chance agreement as
    /// good expected over the collection, the a-contrario threshold). Four or five inliers among
    /// hundreds of tentative matches are chance; on the splice benchmark's dev half, of 719
    /// verified photos with a score of 0 or more, none was a donor, and dropping them from the
    /// front took donor@10 from 0.947 to 0.951 (`.infinity`: every verification first).
    public var maximumLogFalseAlarms: Double = 0
    /// Inliers from which a photo whose frame differs from the composite's (resized, cropped,
    /// turned) is taken as the host, when no candidate of the first search shows the same frame.
    public var hostInliers: Int = 25
    /// Lowe's ratio for the parts' features (0.9 measured best on the dev half of the splice
    /// benchmark, against 0.8 and 0.85).
    public var matchRatio: Float = 0.9
    /// The default of ``shortlist`` (the CLI's too).
    public static let defaultShortlist = 30
    /// Images also matched within each image (the ones the parts' features point at most, each
    /// feature voting for the images of its 10 nearest features; 0: only the collection-wide ratio
    /// test's matches), with Lowe's ratio `withinImageRatio` against the image's own second
    /// nearest. Measured on the splice benchmark's dev half: 30 images at 0.85 took donor@10 from
    /// 0.774 to 0.802 (0.9: 0.790, 0.8: 0.794).
    public var shortlist: Int = SourceSearchSettings.defaultShortlist
    /// Lowe's ratio within a shortlisted image (against that image's own second nearest feature).
    public var withinImageRatio: Float = 0.85

    /// The measured defaults.
    public init() {}

}

@dynamicMemberLookup
public struct SourceFinder: Sendable {
    public var index: ObjectIndex
    public var embedder: any RegionEmbedder
    /// How the first search compares regions.
    public var options: ObjectSearchOptions
    /// Every step's settings; each can also be set on the finder itself (`finder.gridLevels = 3`).
    public var settings: SourceSearchSettings
    /// The default of ``SourceSearchSettings/partUpsampling`` (the CLI's too).
    public static let defaultPartUpsampling = SourceSearchSettings.defaultPartUpsampling
    /// The default of ``SourceSearchSettings/shortlist`` (the CLI's too).
    public static let defaultShortlist = SourceSearchSettings.defaultShortlist

    public init(index: ObjectIndex, embedder: any RegionEmbedder, options: ObjectSearchOptions = .init(), settings: SourceSearchSettings = .init()) {
        (self.index, self.embedder, self.options, self.settings) = (index, embedder, options, settings)
    }

    public init(index: ObjectIndex, embedder: any RegionEmbedder, options: ObjectSearchOptions = .init(), hostGuided: Bool, hostCandidates: Int = 3) {
        var settings = SourceSearchSettings()
        (settings.hostGuided, settings.hostCandidates) = (hostGuided, hostCandidates)
        self.init(index: index, embedder: embedder, options: options, settings: settings)
    }

    /// One of ``settings``, read or set on the finder.
    public subscript<Value>(dynamicMember path: WritableKeyPath<SourceSearchSettings, Value>) -> Value {
        get { settings[keyPath: path] }
        set { settings[keyPath: path] = newValue }
    }

    /// The sources of `image`, at most `k` results.
    public func sources(of image: Image, k: Int, clock: inout StageClock) throws -> SourceAnswer {
        // hard attention keeps the composite's map for the parts' search: one backbone pass
        let oneMap = (embedder as? ObjectEmbedder).flatMap { e -> ObjectEmbedder? in
            if case .hardAttention = e.method, e.embedder.scales.count == 1 { return e } else { return nil }
        }
        var cache: ObjectEmbedder.MapCache?
        let grid = settings.gridLevels > 0 ? gridRegions(width: image.width, height: image.height, levels: settings.gridLevels) : []
        var objects = try oneMap.map { try $0.objects(in: image, given: grid, detect: true, cache: &cache, clock: &clock) }
            ?? embedder.objects(in: image, given: grid, detect: true, clock: &clock)
        for r in objects.regions.indices.dropFirst().prefix(grid.count) { objects.regions[r].kind = .grid }
        let first = try clock.measure("search") { () throws(IndexError) in
            try index.search(objects.vectors, regions: objects.regions, k: index.count, options: options, recipe: embedder.recipe)
        }
        func hit(_ h: ObjectHit, _ role: SourceRole, _ regions: [ObjectRegion]) -> SourceHit {
            SourceHit(image: h.image, id: h.id, path: h.path, score: h.score, role: role, queryBox: regions[h.queryRegion].box, databaseRegion: h.databaseRegion)
        }
        let plain = SourceAnswer(results: first.prefix(k).enumerated().map { i, h in hit(h, i == 0 ? .host : i == 1 ? .donor : .other, objects.regions) },
                                 regions: [])
        guard settings.hostGuided, !first.isEmpty else { return plain }
        // the host: the candidate showing the same frame with the fewest changed pixels
        var host: (hit: ObjectHit, difference: DifferenceRegions)?
        for candidate in first.prefix(settings.hostCandidates) {
            guard let photo = try? clock.measure("host decode", { () throws(ImageError) in try Image(contentsOf: URL(fileURLWithPath: candidate.path)) }) else { continue }
            let difference = clock.measure("difference") { image.differenceRegions(from: photo) }
            guard difference.aligned, !difference.boxes.isEmpty else { continue }
            if host == nil || difference.changedFraction < host!.difference.changedFraction { host = (candidate, difference) }
        }
        // no candidate shows the same frame: the photo whose local features agree most with the
        // whole composite (it may be resized, cropped or turned), brought into the composite's frame
        if host == nil, settings.verifies, let store = index.localFeatures {
            host = clock.measure("host verification") { alignedHost(of: image, store: store, hits: first) }
        }
        guard let host else { return plain }
        // the pasted parts as query regions, searched without the host
        let difference = host.difference
        func inside(_ part: Int, _ x: Float, _ y: Float) -> Bool {
            difference.gridWidth == 0 || difference.marks(x: x, y: y, width: image.width, height: image.height) { Int($0) == part + 1 }
        }
        let parts = try oneMap.map { e throws(EmbedderError) in
            settings.shapedParts ? try e.objects(in: image, shaped: difference.boxes, inside: inside, cache: &cache, clock: &clock)
                        : try e.objects(in: image, given: difference.boxes, detect: false, cache: &cache, clock: &clock)
        } ?? embedder.objects(in: image, given: difference.boxes, detect: false, clock: &clock)
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
        // verified donors first (those unlikely to be chance), most inliers first
        var verified: [(verification: LocalVerification, box: BoundingBox)] = []
        if settings.verifies, let store = index.localFeatures {
            verified = verifiedDonors(in: image, parts: host.difference, store: store, excluding: host.hit.image, clock: &clock)
        }
        var results = [hit(host.hit, .host, objects.regions)]
        var taken: Set<Int> = [host.hit.image]
        for (v, box) in verified where v.logFalseAlarms < settings.maximumLogFalseAlarms && results.count < min(k, index.count)
                                        && taken.insert(v.image).inserted {
            // the score of its best region pair from the parts' search, when it had one; the region
            // around its matched features
            let pair = perPart.compactMap { $0.first { $0.image == v.image } }.max { $0.score < $1.score }
            let points = v.matches.compactMap { m in index.localFeatures.map { $0.keypoints[$0.ranges[v.image].lowerBound + m.database] } }
            let matched = ObjectRegion(kind: .matched, box: BoundingBox(x0: points.map(\.x).min() ?? 0, y0: points.map(\.y).min() ?? 0,
                                                                        x1: points.map(\.x).max() ?? 0, y1: points.map(\.y).max() ?? 0))
            results.append(SourceHit(image: v.image, id: index.ids[v.image], path: index.paths[v.image], score: pair?.score ?? 0,
                                     role: v.inliers >= settings.donorInliers ? .donor : .other, queryBox: box,
                                     databaseRegion: matched, inliers: v.inliers,
                                     logFalseAlarms: (v.logFalseAlarms * 100).rounded() / 100))
        }
        let anyVerified = results.contains { $0.role == .donor }
        // then the parts' rankings merged turn by turn: each part's best not yet taken, then each part's next, …
        var cursor = [Int](repeating: 0, count: perPart.count)
        var round = 0
        while results.count < min(k, index.count) {
            var progressed = false
            for p in perPart.indices {
                while cursor[p] < perPart[p].count && taken.contains(perPart[p][cursor[p]].image) { cursor[p] += 1 }
                guard cursor[p] < perPart[p].count, results.count < min(k, index.count) else { continue }
                let h = perPart[p][cursor[p]]
                taken.insert(h.image)
                results.append(hit(h, round == 0 && !anyVerified ? .donor : .other, parts.regions))
                progressed = true
            }
            round += 1
            if !progressed { break }
        }
        return SourceAnswer(results: results, regions: host.difference.boxes, pasted: host.difference)
    }

    /// The collection's photo that most of the composite's local features map onto under one
    /// similarity (at least ``SourceSearchSettings/hostInliers``), warped into the composite's frame and compared with it
    /// pixel by pixel; nil when none agrees or the comparison finds no part.
    func alignedHost(of image: Image, store: LocalFeatureStore, hits: [ObjectHit]) -> (hit: ObjectHit, difference: DifferenceRegions)? {
        // the strong features only: a whole frame has plenty, and they are placed most precisely
        var options = store.options
        options.contrast = max(options.contrast, 0.04 / 3)
        let features = image.localFeatures(options)
        guard let best = store.verify(features, minimumInliers: settings.hostInliers).first,
              let photo = try? Image(contentsOf: URL(fileURLWithPath: index.paths[best.image])) else { return nil }
        // the transform maps the composite's pixels to the photo's: its inverse places the photo's corners
        let t = best.transform
        let n = t.a * t.a + t.b * t.b
        guard n > 0 else { return nil }
        func back(_ x: Float, _ y: Float) -> (x: Double, y: Double) {
            let (u, v) = (x - t.tx, y - t.ty)
            return (Double((t.a * u + t.b * v) / n), Double((-t.b * u + t.a * v) / n))
        }
        let (w, h) = (Float(photo.width), Float(photo.height))
        // pixel centres map to pixel centres; corners are edges, half a pixel out
        var frame = image
        guard frame.pasteWarped(photo, corners: [back(-0.5, -0.5), back(w - 0.5, -0.5), back(w - 0.5, h - 0.5), back(-0.5, h - 0.5)].map { ($0.x + 0.5, $0.y + 0.5) }) != nil
        else { return nil }
        let difference = image.differenceRegions(from: frame)
        guard difference.aligned, !difference.boxes.isEmpty else { return nil }
        let whole = ObjectRegion(kind: .image, box: BoundingBox(x0: 0, y0: 0, x1: w, y1: h))
        let hit = hits.first { $0.image == best.image }
            ?? ObjectHit(image: best.image, path: index.paths[best.image], score: 0, queryRegion: 0,
                         queryBox: BoundingBox(x0: 0, y0: 0, x1: Float(image.width), y1: Float(image.height)), databaseRegion: whole,
                         id: index.ids[best.image])
        return (hit, difference)
    }

    /// The images whose local features agree with the composite's pasted parts (or with the parts
    /// mirrored), most inliers first, each with the box of its matched features in the composite.
    /// Parts that no image explains with ``SourceSearchSettings/donorInliers`` are looked at again enlarged by each
    /// factor of ``SourceSearchSettings/partUpsampling`` in turn, and the best verification of each image is kept.
    func verifiedDonors(in image: Image, parts difference: DifferenceRegions, store: LocalFeatureStore,
                        excluding host: Int, clock: inout StageClock) -> [(verification: LocalVerification, box: BoundingBox)] {
        let parts = difference.boxes
        guard !parts.isEmpty else { return [] }
        var best: [Int: (verification: LocalVerification, box: BoundingBox)] = [:]
        func merge(_ found: [(verification: LocalVerification, box: BoundingBox)]) {
            for f in found where f.verification.inliers > (best[f.verification.image]?.verification.inliers ?? 0) { best[f.verification.image] = f }
        }
        merge(verified(in: image, parts: Array(parts.indices), of: difference, enlarged: 1, store: store, excluding: host, clock: &clock))
        var previous = 1
        for factor in settings.partUpsampling where factor > previous {
            // a part is explained when the centre of a donor's matched features lies in it
            let explained = best.values.filter { $0.verification.inliers >= settings.donorInliers }.map(\.box)
            let unexplained = parts.indices.filter { k in
                !explained.contains { m in
                    let (cx, cy) = ((m.x0 + m.x1) / 2, (m.y0 + m.y1) / 2)
                    return cx >= parts[k].x0 && cx <= parts[k].x1 && cy >= parts[k].y0 && cy <= parts[k].y1
                }
            }
            if unexplained.isEmpty { break }
            merge(verified(in: image, parts: unexplained, of: difference, enlarged: factor, beyond: previous, store: store, excluding: host, clock: &clock))
            previous = factor
        }
        return best.values.sorted { ($0.verification.inliers, -$0.verification.image) > ($1.verification.inliers, -$1.verification.image) }
    }

    /// One verification of the parts `chosen` (indices into `difference.boxes`): their features
    /// found on a crop around them enlarged `enlarged` times (none when the cap leaves no more than
    /// `previous`), as it is and mirrored (on two threads when there are), kept where the parts'
    /// cells are, matched in one pass.
    private func verified(in image: Image, parts chosen: [Int], of difference: DifferenceRegions, enlarged: Int, beyond previous: Int = 0,
                          store: LocalFeatureStore, excluding host: Int, clock: inout StageClock) -> [(verification: LocalVerification, box: BoundingBox)] {
        let boxes = chosen.map { difference.boxes[$0] }
        guard let first = boxes.first else { return [] }
        let labels = Set(chosen.map { UInt8(truncatingIfNeeded: $0 + 1) })
        // a feature belongs to a part when its cell, or a neighbouring one, is the part's
        func pasted(_ x: Float, _ y: Float) -> Bool {
            guard difference.gridWidth > 0 else { return boxes.contains { x >= $0.x0 && x <= $0.x1 && y >= $0.y0 && y <= $0.y1 } }
            return difference.marks(x: x, y: y, width: image.width, height: image.height, radius: 1) { labels.contains($0) }
        }
        let union = boxes.dropFirst().reduce(first) { BoundingBox(x0: min($0.x0, $1.x0), y0: min($0.y0, $1.y0), x1: max($0.x1, $1.x1), y1: max($0.y1, $1.y1)) }
        // a wide margin: the coarse octaves need room around a small part
        let margin = 0.1 * Float(max(image.width, image.height))
        let x0 = max(0, Int(union.x0 - margin)), y0 = max(0, Int(union.y0 - margin))
        let x1 = min(image.width, Int((union.x1 + margin).rounded(.up))), y1 = min(image.height, Int((union.y1 + margin).rounded(.up)))
        guard x1 - x0 >= 16, y1 - y0 >= 16 else { return [] }
        let crop = image.cropped(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
        var options = store.options
        options.maximumCount = 2 * options.maximumCount
        // enlarged (at most to twice the store's side), keypoints brought back to the crop's pixels
        let up = max(1, min(enlarged, 2 * options.maximumSide / max(crop.width, crop.height)))
        // capped to what an earlier look used: nothing new to see
        guard up > previous else { return [] }
        options.maximumSide = max(options.maximumSide, up * max(crop.width, crop.height))
        func place(_ k: Keypoint, _ mirrored: Bool) -> (x: Float, y: Float) {
            ((mirrored ? Float(crop.width - 1) - k.x : k.x) + Float(x0), k.y + Float(y0))
        }
        let sets = clock.measure("part features") { () -> [LocalFeatures] in
            let slots = Locked<[LocalFeatures?]>([nil, nil])
            ComputeThreads.forEachChunk(of: 2) { range in
                for side in range {
                    let mirrored = side == 1
                    let kept = crop.localFeatures(options, mirrored: mirrored, enlarged: up).filter { k in
                        let (x, y) = place(k, mirrored)
                        return pasted(x, y)
                    }
                    slots.withLock { $0[side] = kept }
                }
            }
            return slots.withLock { $0.map { $0! } }
        }
        let found = clock.measure("verification") {
            store.verify(sets, excluding: host, ratio: settings.matchRatio, shortlist: settings.shortlist, withinRatio: settings.withinImageRatio)
        }
        return found.enumerated().flatMap { s, verifications in
            verifications.map { v in
                let points = v.matches.map { place(sets[s].keypoints[$0.query], s == 1) }
                return (v, BoundingBox(x0: points.map(\.x).min()!, y0: points.map(\.y).min()!, x1: points.map(\.x).max()!, y1: points.map(\.y).max()!))
            }
        }
    }
}

/// The squares of an R-MAC grid over a `width × height` image (Tolias et al.: level `l` has
/// squares of side 2·min(W, H)/(l + 1), about 40 % overlap), a square covering the whole image
/// left out: class-free regions for a query whose object the detector may not know.
public func gridRegions(width: Int, height: Int, levels: Int) -> [BoundingBox] {
    rmacRegions(height: height, width: width, levels: levels).map {
        BoundingBox(x0: Float($0.left), y0: Float($0.top), x1: Float($0.left + $0.size), y1: Float($0.top + $0.size))
    }.filter { !($0.x0 <= 0 && $0.y0 <= 0 && $0.x1 >= Float(width) && $0.y1 >= Float(height)) }
}

internal import Foundation
internal import LoupeKernels
public import LoupeImage
public import LoupeTensor

/// A similarity transform of the plane (scale, rotation, translation):
/// `x' = a·x − b·y + tx`, `y' = b·x + a·y + ty`.
public struct SimilarityTransform: Sendable, Hashable, Codable {
    public var a: Float, b: Float, tx: Float, ty: Float
    public init(a: Float, b: Float, tx: Float, ty: Float) { (self.a, self.b, self.tx, self.ty) = (a, b, tx, ty) }

    public var scale: Float { (a * a + b * b).squareRoot() }
    /// Rotation in radians.
    public var rotation: Float { atan2f(b, a) }

    public func apply(_ x: Float, _ y: Float) -> (x: Float, y: Float) { (a * x - b * y + tx, b * x + a * y + ty) }

    /// The transform taking `p1 → q1` and `p2 → q2` (nil when the two points coincide).
    public init?(from p1: (Float, Float), _ p2: (Float, Float), to q1: (Float, Float), _ q2: (Float, Float)) {
        let (ux, uy) = (p2.0 - p1.0, p2.1 - p1.1), (vx, vy) = (q2.0 - q1.0, q2.1 - q1.1)
        let n = ux * ux + uy * uy
        guard n > 1e-6 else { return nil }
        // (a + ib) = v / u as complex numbers
        let a = (vx * ux + vy * uy) / n, b = (vy * ux - vx * uy) / n
        self.init(a: a, b: b, tx: q1.0 - (a * p1.0 - b * p1.1), ty: q1.1 - (b * p1.0 + a * p1.1))
    }
}

extension SimilarityTransform {
    /// The least-squares similarity taking `from[i]` to `to[i]` (nil for fewer than two distinct points).
    public init?(fitting from: [(Float, Float)], to: [(Float, Float)]) {
        let n = Float(from.count)
        guard from.count == to.count, from.count >= 2 else { return nil }
        let (px, py) = (from.reduce(0) { $0 + $1.0 } / n, from.reduce(0) { $0 + $1.1 } / n)
        let (qx, qy) = (to.reduce(0) { $0 + $1.0 } / n, to.reduce(0) { $0 + $1.1 } / n)
        var (sa, sb, norm) = (Float(0), Float(0), Float(0))
        for (u, v) in zip(from, to) {
            let (x, y, x2, y2) = (u.0 - px, u.1 - py, v.0 - qx, v.1 - qy)
            sa += x * x2 + y * y2
            sb += x * y2 - y * x2
            norm += x * x + y * y
        }
        guard norm > 1e-6 else { return nil }
        let (a, b) = (sa / norm, sb / norm)
        self.init(a: a, b: b, tx: qx - (a * px - b * py), ty: qy - (b * px + a * py))
    }
}

/// A database image's agreement with a query's local features.
public struct LocalVerification: Sendable, Hashable {
    public var image: Int
    /// Distinct database features that the best transform maps a query feature onto.
    public var inliers: Int
    /// Query features to database features (both in their images' pixels).
    public var transform: SimilarityTransform
    /// The inlier pairs: (query feature, database feature within the image).
    public var matches: [Pair]
    /// Tentative matches (pairs that passed the ratio test) that RANSAC chose the inliers from.
    public var candidates: Int = 0
    /// The decimal logarithm of the number of false alarms of this agreement (a-contrario, as in
    /// Moisan and Stival's ORSA): how many images of the collection would be expected to show as
    /// many inliers among as many tentative matches by chance, each match landing uniformly over
    /// the area the image's features cover. Below 0 the agreement is unlikely to be chance; a
    /// few inliers out of many tentative matches score near or above 0, however many they are.
    public var logFalseAlarms: Double = 0
    public struct Pair: Sendable, Hashable { public var query: Int, database: Int }

    /// log10 of the number of false alarms of `inliers` agreeing under one similarity among
    /// `candidates` tentative matches, each landing within the inlier radius by chance with
    /// probability `p`, tested over `tests` images: tests · C(n, 2) · P[Binomial(n − 2, p) ≥ k − 2]
    /// (the two matches that fix the similarity are not counted as evidence).
    public static func logFalseAlarms(inliers k: Int, candidates n: Int, probability p: Double, tests: Int) -> Double {
        guard n >= 2, k >= 2 else { return log10(Double(max(tests, 1))) }
        let trials = n - 2, needed = k - 2
        let logPairs = log10(Double(n)) + log10(Double(n - 1)) - log10(2.0)
        let q = min(max(p, 1e-12), 1 - 1e-12)
        // the tail summed in log space from its largest term
        func logTerm(_ i: Int) -> Double {
            (lgamma(Double(trials + 1)) - lgamma(Double(i + 1)) - lgamma(Double(trials - i + 1))) / M_LN10
                + Double(i) * log10(q) + Double(trials - i) * log10(1 - q)
        }
        // past the binomial's mode the terms only fall: stop once they are 17 decades below the top
        let mode = Int((Double(trials + 1) * q).rounded(.down))
        var terms: [Double] = [], top = -Double.infinity
        if needed <= trials {
            for i in needed...trials {
                let term = logTerm(i)
                if i > mode && term < top - 17 { break }
                terms.append(term)
                top = max(top, term)
            }
        }
        guard !terms.isEmpty else { return -.infinity }
        let tail = top + log10(terms.reduce(0) { $0 + pow(10, $1 - top) })
        return log10(Double(max(tests, 1))) + logPairs + min(0, tail)
    }
}

/// The local features of every image of a collection, quantised to one byte per value (a
/// RootSIFT value lies in [0, 1]): 128 bytes and 16 bytes of keypoint per feature.
public struct LocalFeatureStore: Sendable {
    public let options: LocalFeatureOptions
    public private(set) var keypoints: [Keypoint] = []
    /// `keypoints.count × 128` bytes.
    public private(set) var descriptors: [UInt8] = []
    /// Rows of each image.
    public private(set) var ranges: [Range<Int>] = []
    /// Longer side of each image, in the pixels its keypoints are in.
    public private(set) var sides: [Float] = []
    private var owner: [Int32] = []
    /// Coarse lists over the descriptors (``buildLists(count:seed:)``): when present, a query
    /// descriptor is compared with the members of its ``probes`` nearest lists only.
    public private(set) var lists: DescriptorLists?
    /// Lists searched per query descriptor.
    public var probes = 16

    public init(options: LocalFeatureOptions) { self.options = options }

    public var imageCount: Int { ranges.count }
    public var featureCount: Int { keypoints.count }

    /// Appends the next image's features (of an image whose longer side is `side` pixels).
    public mutating func append(_ features: LocalFeatures, side: Float) {
        let start = keypoints.count
        keypoints += features.keypoints
        features.descriptors.withUnsafeBufferPointer { d in
            descriptors += d.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        }
        owner += [Int32](repeating: Int32(ranges.count), count: features.count)
        ranges.append(start..<keypoints.count)
        sides.append(side)
        if lists != nil {
            lists!.add(features.descriptors, bytes: descriptors[(start * 128)...], owner: Int32(ranges.count - 1), firstRow: start)
        }
    }

    /// Clusters the descriptors into `count` lists (k-means on a seeded sample of at most 32
    /// descriptors per list; `count` nil: about 2√N, from 16 to 4096) and assigns every descriptor.
    /// Features appended later join their nearest list.
    public mutating func buildLists(count: Int? = nil, seed: UInt64 = 1) {
        let n = keypoints.count
        let k = min(n, count ?? max(16, min(4096, Int(2 * Double(n).squareRoot()))))
        guard k >= 1 else { lists = nil; return }
        var random = SplitMix(seed: seed)
        let sampleCount = min(n, 32 * k)
        var order = Array(0..<n)
        for i in 0..<sampleCount { order.swapAt(i, i + Int(random.next() % UInt64(n - i))) }
        let sample = rows(order.prefix(sampleCount).map { Int32($0) })
        var built = DescriptorLists(quantizer: KMeans(sample, k: k, iterations: 8, seed: seed))
        let assignment = built.quantizer.assign(rows(0..<n))
        built.fill(assignment, descriptors: descriptors, owner: owner)
        lists = built
    }

    /// Descriptor rows as floats `[count, 128]`.
    func rows(_ ids: [Int32]) -> Tensor {
        rows(count: ids.count) { d, o in ids.withUnsafeBufferPointer { lk_u8_rows_to_f32(d, $0.baseAddress, Int32(ids.count), 128, 1 / 255, o) } }
    }

    /// Descriptor rows `range` as floats.
    func rows(_ range: Range<Int>) -> Tensor {
        rows(count: range.count) { d, o in lk_u8_rows_to_f32(d + range.lowerBound * 128, nil, Int32(range.count), 128, 1 / 255, o) }
    }

    private func rows(count: Int, _ fill: (UnsafePointer<UInt8>, UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        Tensor(uninitializedShape: [count, LocalFeatures.dimension]) { out in
            descriptors.withUnsafeBufferPointer { d in fill(d.baseAddress!, out.baseAddress!) }
        }
    }

    /// Rebuilds a store from its parts (as written to an index file); nil when they do not fit.
    ///
    /// - Parameter lists: the coarse lists' centres `[k, 128]` and each feature's list.
    public init?(options: LocalFeatureOptions, keypoints: [Keypoint], descriptors: [UInt8], counts: [Int], sides: [Float],
                 lists: (centroids: Tensor, assignment: [Int])? = nil) {
        guard descriptors.count == keypoints.count * LocalFeatures.dimension, counts.count == sides.count,
              counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == keypoints.count else { return nil }
        if let lists {
            let k = lists.centroids.rank == 2 ? lists.centroids.shape[0] : 0
            guard k >= 1, lists.centroids.shape[1] == LocalFeatures.dimension, lists.assignment.count == keypoints.count,
                  lists.assignment.allSatisfy({ $0 >= 0 && $0 < k }) else { return nil }
        }
        self.options = options
        (self.keypoints, self.descriptors, self.sides) = (keypoints, descriptors, sides)
        var start = 0
        for (i, c) in counts.enumerated() {
            ranges.append(start..<(start + c))
            owner += [Int32](repeating: Int32(i), count: c)
            start += c
        }
        if let lists {
            var built = DescriptorLists(quantizer: KMeans(centroids: lists.centroids))
            built.fill(lists.assignment, descriptors: descriptors, owner: owner)
            self.lists = built
        }
    }

    /// For each query feature, its nearest database feature when it passes Lowe's ratio test
    /// (distance to the nearest below `ratio` × the distance to the second nearest, over the
    /// whole collection but `excluding`), grouped by image.
    public func matches(of query: LocalFeatures, excluding: Int? = nil, ratio: Float = 0.85) -> [Int: [LocalVerification.Pair]] {
        matches(of: [query], excluding: excluding, ratio: ratio)[0]
    }

    /// ``matches(of:excluding:ratio:)`` of several query sets in one pass over the collection.
    public func matches(of queries: [LocalFeatures], excluding: Int? = nil, ratio: Float = 0.85) -> [[Int: [LocalVerification.Pair]]] {
        let nearest = self.nearest(queries, k: 2, excluding: excluding)
        return queries.indices.map { grouped(nearest, set: $0, ratio: ratio) }
    }

    /// Each query feature's `k` nearest database features (descending similarity; index −1 where
    /// fewer were compared), over the query sets stacked.
    struct Nearest {
        var k: Int
        var values: [Float]
        var indices: [Int64]
        /// The first row of each query set.
        var firsts: [Int]
        var counts: [Int]
    }

    func nearest(_ queries: [LocalFeatures], k: Int, excluding: Int?) -> Nearest {
        let counts = queries.map(\.count)
        let firsts = counts.reduce(into: [0]) { $0.append($0.last! + $1) }.dropLast()
        let nq = counts.reduce(0, +)
        var values = [Float](repeating: -.infinity, count: nq * k)
        var indices = [Int64](repeating: -1, count: nq * k)
        if nq > 0, !keypoints.isEmpty {
            let all = Tensor(shape: [nq, 128], scalars: queries.flatMap(\.descriptors.scalars))
            if k == 2 {
                var best = [Float](repeating: -.infinity, count: nq), second = best
                var bestIndex = [Int64](repeating: -1, count: nq)
                scan(all, excluding: excluding) { sims, count, n, owners, skip, offset, ids, rows in
                    lk_top2_rows(sims, count, n, owners, skip, offset, ids, rows, &best, &second, &bestIndex)
                }
                for q in 0..<nq { (values[2 * q], values[2 * q + 1], indices[2 * q]) = (best[q], second[q], bestIndex[q]) }
            } else {
                scan(all, excluding: excluding) { sims, count, n, owners, skip, offset, ids, rows in
                    lk_topk_rows(sims, count, n, owners, skip, offset, ids, rows, Int32(k), &values, &indices)
                }
            }
        }
        return Nearest(k: k, values: values, indices: indices, firsts: Array(firsts), counts: counts)
    }

    /// Whether a nearest neighbour at similarity `best` passes Lowe's ratio test against one at `second`.
    static func passes(best: Float, second: Float, ratio: Float) -> Bool {
        // squared distances of unit vectors: 2 − 2 cos (the quantised norm is close to 1)
        let d1 = max(0, 2 - 2 * best), d2 = second.isFinite ? max(0, 2 - 2 * second) : 4
        return d1 < ratio * ratio * d2
    }

    /// Query set `set`'s features whose nearest neighbour passes the ratio test, grouped by image.
    func grouped(_ nearest: Nearest, set: Int, ratio: Float) -> [Int: [LocalVerification.Pair]] {
        let k = nearest.k, first = nearest.firsts[set]
        var byImage: [Int: [LocalVerification.Pair]] = [:]
        for q in first..<(first + nearest.counts[set]) where nearest.indices[q * k] >= 0 {
            guard Self.passes(best: nearest.values[q * k], second: nearest.values[q * k + 1], ratio: ratio) else { continue }
            let row = Int(nearest.indices[q * k]), image = Int(owner[row])
            byImage[image, default: []].append(.init(query: q - first, database: row - ranges[image].lowerBound))
        }
        return byImage
    }

    /// The images query set `set` points at most: each feature votes once for every image among
    /// the owners of its nearest features; the `count` with most votes (ties: lower index first).
    func voted(_ nearest: Nearest, set: Int, count: Int) -> [Int] {
        let k = nearest.k, first = nearest.firsts[set]
        var votes = [Int: Int]()
        for q in first..<(first + nearest.counts[set]) {
            var seen = Set<Int32>()
            for j in 0..<k where nearest.indices[q * k + j] >= 0 {
                let image = owner[Int(nearest.indices[q * k + j])]
                if seen.insert(image).inserted { votes[Int(image), default: 0] += 1 }
            }
        }
        return votes.sorted { ($0.value, -$0.key) > ($1.value, -$1.key) }.prefix(count).map(\.key)
    }

    /// Compares every query row with the database rows it is to be compared with (the members of
    /// its ``probes`` nearest lists, or all rows) block by block: `body(sims, queryRows, columns,
    /// owners, skippedOwner, columnOffset, columnIDs, queryRowIDs)` as the `lk_top…_rows` kernels take them.
    private func scan(_ all: Tensor, excluding: Int?,
                      _ body: (UnsafePointer<Float>?, Int32, Int32, UnsafePointer<Int32>?, Int32, Int64, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> Void) {
        let nq = all.shape[0], total = keypoints.count
        let skip = Int32(excluding ?? -1)
        if let lists {
            // each query descriptor against the members of its nearest lists, list by list
            let probed = lists.quantizer.nearest(all, count: probes)
            let p = probed.count / nq
            var askers = [[Int32]](repeating: [], count: lists.members.count)
            for q in 0..<nq { for j in 0..<p { askers[probed[q * p + j]].append(Int32(q)) } }
            let qd = all.scalars
            for (l, who) in askers.enumerated() where !who.isEmpty && !lists.members[l].isEmpty {
                let members = lists.members[l], n = members.count
                let block = Tensor(uninitializedShape: [n, 128]) { out in
                    lists.packed[l].withUnsafeBufferPointer { lk_u8_rows_to_f32($0.baseAddress, nil, Int32(n), 128, 1 / 255, out.baseAddress) }
                }
                let asking = Tensor(shape: [who.count, 128], scalars: who.flatMap { qd[(Int($0) * 128)..<(Int($0) * 128 + 128)] })
                let sims = matmul(asking, block, transposingB: true)
                sims.withUnsafeBufferPointer { s in
                    body(s.baseAddress, Int32(who.count), Int32(n), lists.owners[l], skip, 0, members, who)
                }
            }
        } else {
            let block = 8192
            var start = 0
            while start < total {
                let n = min(block, total - start)
                let sims = matmul(all, rows(start..<(start + n)), transposingB: true)
                sims.withUnsafeBufferPointer { s in
                    owner.withUnsafeBufferPointer { o in body(s.baseAddress, Int32(nq), Int32(n), o.baseAddress! + start, skip, Int64(start), nil, nil) }
                }
                start += n
            }
        }
    }

    /// The images that the query's features point at most: each feature votes once for every
    /// image among the owners of its `neighbours` nearest database features (over the probed lists,
    /// `excluding` left out); the `count` images with most votes, most first (ties: lower index).
    public func candidates(for query: LocalFeatures, excluding: Int? = nil, neighbours: Int = 10, count: Int = 30) -> [Int] {
        candidates(for: [query], excluding: excluding, neighbours: neighbours, count: count)[0]
    }

    /// ``candidates(for:excluding:neighbours:count:)`` of several query sets in one pass.
    public func candidates(for queries: [LocalFeatures], excluding: Int? = nil, neighbours: Int = 10, count: Int = 30) -> [[Int]] {
        let nearest = self.nearest(queries, k: max(2, neighbours), excluding: excluding)
        return queries.indices.map { voted(nearest, set: $0, count: count) }
    }

    /// For each query feature, its nearest feature of `image` when it passes Lowe's ratio test
    /// within that image (against the image's second nearest): the matches a verification of one
    /// candidate image starts from. Every match of ``matches(of:excluding:ratio:)`` in `image` is
    /// among them.
    public func matches(of query: LocalFeatures, in image: Int, ratio: Float = 0.85) -> [LocalVerification.Pair] {
        let range = ranges[image]
        guard query.count > 0, range.count > 0 else { return [] }
        let sims = matmul(query.descriptors, rows(range), transposingB: true)
        var best = [Float](repeating: -.infinity, count: query.count), second = best
        var bestIndex = [Int64](repeating: -1, count: query.count)
        sims.withUnsafeBufferPointer { s in
            owner.withUnsafeBufferPointer { o in
                lk_top2_rows(s.baseAddress, Int32(query.count), Int32(range.count), o.baseAddress! + range.lowerBound, -1, 0,
                             nil, nil, &best, &second, &bestIndex)
            }
        }
        return (0..<query.count).compactMap { q in
            bestIndex[q] >= 0 && Self.passes(best: best[q], second: second[q], ratio: ratio) ? .init(query: q, database: Int(bestIndex[q])) : nil
        }
    }

    /// The images whose features agree with the query's under one similarity transform, most
    /// inliers first (only those with at least `minimumInliers`). RANSAC over pairs of matches,
    /// seeded, inlier radius `tolerance` × the database image's longer side.
    ///
    /// With a `shortlist`, the `shortlist` images that most query features point at (each feature
    /// voting for the images among its `neighbours` nearest features) are matched within each image
    /// instead (Lowe's ratio `withinRatio`, default `ratio`, against that image's second nearest
    /// feature): a feature whose nearest neighbours lie in several images then still counts for each.
    public func verify(_ query: LocalFeatures, excluding: Int? = nil, ratio: Float = 0.85, minimumInliers: Int = 4,
                       tolerance: Float = 0.0125, shortlist: Int = 0, neighbours: Int = 10, withinRatio: Float? = nil) -> [LocalVerification] {
        verify([query], excluding: excluding, ratio: ratio, minimumInliers: minimumInliers, tolerance: tolerance,
               shortlist: shortlist, neighbours: neighbours, withinRatio: withinRatio)[0]
    }

    /// ``verify(_:excluding:ratio:minimumInliers:tolerance:shortlist:neighbours:withinRatio:)`` of several query sets (each
    /// with its own transforms), matched in one pass over the collection.
    public func verify(_ queries: [LocalFeatures], excluding: Int? = nil, ratio: Float = 0.85, minimumInliers: Int = 4,
                       tolerance: Float = 0.0125, shortlist: Int = 0, neighbours: Int = 10, withinRatio: Float? = nil) -> [[LocalVerification]] {
        let nearest = self.nearest(queries, k: shortlist > 0 ? max(2, neighbours) : 2, excluding: excluding)
        return queries.indices.map { set in
            var matched = grouped(nearest, set: set, ratio: ratio)
            if shortlist > 0 {
                // the images most features point at, matched within each image (a superset of the collection-wide matches)
                for image in voted(nearest, set: set, count: shortlist) {
                    let within = matches(of: queries[set], in: image, ratio: withinRatio ?? ratio)
                    if !within.isEmpty { matched[image] = within }
                }
            }
            return verify(queries[set], matched, minimumInliers: minimumInliers, tolerance: tolerance)
        }
    }

    private func verify(_ query: LocalFeatures, _ matched: [Int: [LocalVerification.Pair]], minimumInliers: Int, tolerance: Float) -> [LocalVerification] {
        var found: [LocalVerification] = []
        for (image, pairs) in matched where pairs.count >= minimumInliers {
            let base = ranges[image].lowerBound
            let p = pairs.map { (query.keypoints[$0.query].x, query.keypoints[$0.query].y) }
            let q = pairs.map { (keypoints[base + $0.database].x, keypoints[base + $0.database].y) }
            let radius = tolerance * sides[image], r2 = radius * radius
            func inliers(_ t: SimilarityTransform) -> [Int] {
                var seen = Set<Int>(), kept: [Int] = []
                for i in pairs.indices {
                    let m = t.apply(p[i].0, p[i].1), (dx, dy) = (m.x - q[i].0, m.y - q[i].1)
                    if dx * dx + dy * dy <= r2 && seen.insert(pairs[i].database).inserted { kept.append(i) }
                }
                return kept
            }
            var bestKept: [Int] = [], bestTransform: SimilarityTransform?
            let m = pairs.count
            var trials: [(Int, Int)] = []
            if m * (m - 1) / 2 <= 600 {
                for i in 0..<m { for j in (i + 1)..<m { trials.append((i, j)) } }
            } else {
                var state: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(image)
                for _ in 0..<600 {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    let i = Int((state >> 33) % UInt64(m))
                    var j = Int((state >> 13) % UInt64(m - 1)); if j >= i { j += 1 }
                    trials.append((i, j))
                }
            }
            for (i, j) in trials {
                guard let t = SimilarityTransform(from: p[i], p[j], to: q[i], q[j]), t.scale > 1 / 16, t.scale < 16 else { continue }
                let kept = inliers(t)
                if kept.count > bestKept.count { (bestKept, bestTransform) = (kept, t) }
            }
            guard var t = bestTransform, bestKept.count >= minimumInliers else { continue }
            // refined by least squares over its inliers (twice), kept when it holds as many
            for _ in 0..<2 {
                guard let refined = SimilarityTransform(fitting: bestKept.map { p[$0] }, to: bestKept.map { q[$0] }) else { break }
                let kept = inliers(refined)
                guard kept.count >= bestKept.count else { break }
                (bestKept, t) = (kept, refined)
            }
            // the chance that a random match lands within the radius: the radius's disc over the
            // area the image's features cover
            var (lx, ly, hx, hy) = (Float.infinity, Float.infinity, -Float.infinity, -Float.infinity)
            for k in keypoints[ranges[image]] { (lx, ly, hx, hy) = (min(lx, k.x), min(ly, k.y), max(hx, k.x), max(hy, k.y)) }
            let area = max(Double(hx - lx) * Double(hy - ly), Double(r2))
            let nfa = LocalVerification.logFalseAlarms(inliers: bestKept.count, candidates: pairs.count, probability: Double.pi * Double(r2) / area,
                                     tests: ranges.count)
            found.append(LocalVerification(image: image, inliers: bestKept.count, transform: t, matches: bestKept.map { pairs[$0] },
                                           candidates: pairs.count, logFalseAlarms: nfa))
        }
        return found.sorted { ($0.inliers, -$0.image) > ($1.inliers, -$1.image) }
    }
}

/// An inverted file over local descriptors: k-means centres and, per centre, the rows nearest to
/// it with their bytes packed list by list (a second copy of the descriptors, read in order when a
/// list is searched) and their images.
public struct DescriptorLists: Sendable {
    public let quantizer: KMeans
    /// Store rows of each list.
    public private(set) var members: [[Int32]]
    /// Each list's descriptors, `members[l].count × 128` bytes.
    public private(set) var packed: [[UInt8]]
    /// Each list member's image.
    public private(set) var owners: [[Int32]]

    init(quantizer: KMeans) {
        self.quantizer = quantizer
        let k = quantizer.centroids.shape[0]
        (members, packed, owners) = (Array(repeating: [], count: k), Array(repeating: [], count: k), Array(repeating: [], count: k))
    }

    /// Puts row `i` (of `descriptors`, image `owner[i]`) in list `assignment[i]`.
    mutating func fill(_ assignment: [Int], descriptors: [UInt8], owner: [Int32]) {
        for (row, list) in assignment.enumerated() {
            members[list].append(Int32(row))
            packed[list] += descriptors[(row * 128)..<(row * 128 + 128)]
            owners[list].append(owner[row])
        }
    }

    /// Adds descriptor rows `[n, 128]` numbered from `firstRow` (their bytes from `bytes`, all of image `owner`).
    mutating func add(_ rows: Tensor, bytes: ArraySlice<UInt8>, owner: Int32, firstRow: Int) {
        guard rows.shape[0] > 0 else { return }
        let base = bytes.startIndex
        for (i, list) in quantizer.assign(rows).enumerated() {
            members[list].append(Int32(firstRow + i))
            packed[list] += bytes[(base + i * 128)..<(base + i * 128 + 128)]
            owners[list].append(owner)
        }
    }

    /// Rows in all lists.
    public var count: Int { members.reduce(0) { $0 + $1.count } }

    /// Each row's list, in row order.
    public var assignment: [Int] {
        var out = [Int](repeating: 0, count: count)
        for (l, rows) in members.enumerated() { for r in rows { out[Int(r)] = l } }
        return out
    }
}

internal import Foundation
internal import LoupeKernels
public import LoupeImage
internal import LoupeTensor

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

/// A database image's agreement with a query's local features.
public struct LocalVerification: Sendable, Hashable {
    public var image: Int
    /// Distinct database features that the best transform maps a query feature onto.
    public var inliers: Int
    /// Query features to database features (both in their images' pixels).
    public var transform: SimilarityTransform
    /// The inlier pairs: (query feature, database feature within the image).
    public var matches: [Pair]
    public struct Pair: Sendable, Hashable { public var query: Int, database: Int }
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
    }

    /// Rebuilds a store from its parts (as written to an index file); nil when they do not fit.
    public init?(options: LocalFeatureOptions, keypoints: [Keypoint], descriptors: [UInt8], counts: [Int], sides: [Float]) {
        guard descriptors.count == keypoints.count * LocalFeatures.dimension, counts.count == sides.count,
              counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == keypoints.count else { return nil }
        self.options = options
        (self.keypoints, self.descriptors, self.sides) = (keypoints, descriptors, sides)
        var start = 0
        for (i, c) in counts.enumerated() {
            ranges.append(start..<(start + c))
            owner += [Int32](repeating: Int32(i), count: c)
            start += c
        }
    }

    /// For each query feature, its nearest database feature when it passes Lowe's ratio test
    /// (distance to the nearest below `ratio` × the distance to the second nearest, over the
    /// whole collection but `excluding`), grouped by image.
    public func matches(of query: LocalFeatures, excluding: Int? = nil, ratio: Float = 0.85) -> [Int: [LocalVerification.Pair]] {
        let nq = query.count, total = keypoints.count
        guard nq > 0, total > 0 else { return [:] }
        var best = [Float](repeating: -.infinity, count: nq), second = best
        var bestIndex = [Int64](repeating: -1, count: nq)
        let block = 8192
        var start = 0
        while start < total {
            let n = min(block, total - start)
            var chunk = Tensor(zeros: [n, LocalFeatures.dimension])
            chunk.withUnsafeMutableBufferPointer { c in
                descriptors.withUnsafeBufferPointer { d in
                    for i in 0..<(n * 128) { c[i] = Float(d[start * 128 + i]) * (1 / 255) }
                }
            }
            let sims = matmul(query.descriptors, chunk, transposingB: true)
            sims.withUnsafeBufferPointer { s in
                owner.withUnsafeBufferPointer { o in
                    lk_top2_rows(s.baseAddress, Int32(nq), Int32(n), o.baseAddress! + start, Int32(excluding ?? -1), Int64(start),
                                 &best, &second, &bestIndex)
                }
            }
            start += n
        }
        var byImage: [Int: [LocalVerification.Pair]] = [:]
        let r2 = ratio * ratio
        for q in 0..<nq where bestIndex[q] >= 0 {
            // squared distances of unit vectors: 2 − 2 cos (the quantised norm is close to 1)
            let d1 = max(0, 2 - 2 * best[q]), d2 = second[q].isFinite ? max(0, 2 - 2 * second[q]) : 4
            guard d1 < r2 * d2 else { continue }
            let row = Int(bestIndex[q]), image = Int(owner[row])
            byImage[image, default: []].append(.init(query: q, database: row - ranges[image].lowerBound))
        }
        return byImage
    }

    /// The images whose features agree with the query's under one similarity transform, most
    /// inliers first (only those with at least `minimumInliers`). RANSAC over pairs of matches,
    /// seeded, inlier radius `tolerance` × the database image's longer side.
    public func verify(_ query: LocalFeatures, excluding: Int? = nil, ratio: Float = 0.85, minimumInliers: Int = 4,
                       tolerance: Float = 0.0125) -> [LocalVerification] {
        var found: [LocalVerification] = []
        for (image, pairs) in matches(of: query, excluding: excluding, ratio: ratio) where pairs.count >= minimumInliers {
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
            guard let t = bestTransform, bestKept.count >= minimumInliers else { continue }
            found.append(LocalVerification(image: image, inliers: bestKept.count, transform: t, matches: bestKept.map { pairs[$0] }))
        }
        return found.sorted { ($0.inliers, -$0.image) > ($1.inliers, -$1.image) }
    }
}

public import LoupeTensor

/// Lloyd's k-means on the rows of a `[N, D]` tensor, seeded and deterministic: the centres
/// start at `k` distinct rows drawn by a seeded generator (or by k-means++), and each iteration
/// assigns every row to its nearest centre (one GEMM per block, through the identity
/// `‖x − c‖² = ‖x‖² − (2 x·c − ‖c‖²)`) and moves the centres to their rows' means; a centre left
/// empty restarts at the row farthest from its centre. A final pass moves every centre to its
/// rows' mean.
public struct KMeans: Sendable {
    public enum Seeding: String, Sendable, Hashable, Codable {
        /// `k` distinct rows drawn at random (faiss's default).
        case random
        /// Arthur and Vassilvitskii's k-means++: each next centre drawn with probability
        /// proportional to the squared distance to the nearest centre so far.
        case plusPlus
    }

    /// `[k, D]`.
    public private(set) var centroids: Tensor {
        didSet { probeCentres = Self.augmentedCentres(centroids) }
    }
    /// The centres as `[2c, −‖c‖²]` `[k, D + 1]`, made once: what ``nearest(_:count:)`` ranks.
    private var probeCentres: Tensor

    /// Clusters `rows` `[N, D]` (N ≥ k ≥ 1) into `k` centres.
    public init(_ rows: Tensor, k: Int, iterations: Int = 10, seeding: Seeding = .random, seed: UInt64 = 1) {
        precondition(rows.rank == 2 && k >= 1 && rows.shape[0] >= k, "k-means needs at least k rows [N, D]")
        let (n, d) = (rows.shape[0], rows.shape[1])
        let x = rows.scalars
        var random = SplitMix(seed: seed)
        var chosen: [Int] = []
        switch seeding {
        case .random:
            // a partial Fisher-Yates shuffle: k distinct rows
            var order = Array(0..<n)
            for i in 0..<k { order.swapAt(i, i + Int(random.next() % UInt64(n - i))) }
            chosen = Array(order.prefix(k))
        case .plusPlus:
            // each step needs every row's distance to the newest centre: one matrix-vector
            // product, ‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²
            // seeds are drawn from a sample of at most max(16 k, 8192) rows: each step streams
            // the sample once, and more rows than that change little where the seeds fall
            var order = Array(0..<n)
            let sampled = min(n, max(16 * k, 8192))
            for i in 0..<sampled where sampled < n { order.swapAt(i, i + Int(random.next() % UInt64(n - i))) }
            let pool = Array(order.prefix(sampled)).sorted()
            let sample = sampled == n ? rows : Tensor(shape: [sampled, d], scalars: pool.flatMap { x[($0 * d)..<($0 * d + d)] })
            let norms = pool.map { i in (0..<d).reduce(Float(0)) { $0 + x[i * d + $1] * x[i * d + $1] } }
            var picked = [Int(random.next() % UInt64(sampled))]
            var nearest = [Float](repeating: .infinity, count: sampled)
            while picked.count < k {
                let c = picked.last!
                let dots = matmul(sample, sample.sliced(along: 0, c..<(c + 1)), transposingB: true).scalars
                var total: Double = 0
                for i in 0..<sampled {
                    nearest[i] = min(nearest[i], max(0, norms[i] - 2 * dots[i] + norms[c]))
                    total += Double(nearest[i])
                }
                var target = Double(random.next() >> 11) / Double(1 << 53) * total, pick = sampled - 1
                for i in 0..<sampled { target -= Double(nearest[i]); if target < 0 { pick = i; break } }
                picked.append(pick)
            }
            chosen = picked.map { pool[$0] }
        }
        var c = chosen.flatMap { x[($0 * d)..<($0 * d + d)] }
        let rowNorms = KMeans.squaredNorms(rows)
        // the last pass only moves centres to their means (a centre restarted there would be a lone row)
        for pass in 0...iterations {
            let (assignment, distance) = KMeans.nearest(rows, norms: rowNorms, centroids: Tensor(shape: [k, d], scalars: c))
            var sums = [Double](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
            for i in 0..<n {
                let a = assignment[i]
                counts[a] += 1
                for j in 0..<d { sums[a * d + j] += Double(x[i * d + j]) }
            }
            // rows farthest from their centres first, for the centres left empty (sorted only then)
            var far = (counts.contains(0) && pass < iterations ? (0..<n).sorted { distance[$0] > distance[$1] } : []).makeIterator()
            for a in 0..<k {
                if counts[a] == 0, pass < iterations, let row = far.next() {
                    for j in 0..<d { c[a * d + j] = x[row * d + j] }
                } else if counts[a] > 0 {
                    for j in 0..<d { c[a * d + j] = Float(sums[a * d + j] / Double(counts[a])) }
                }
            }
        }
        let found = Tensor(shape: [k, d], scalars: c)
        (centroids, probeCentres) = (found, Self.augmentedCentres(found))
    }

    /// Centres found before (as stored in a file).
    public init(centroids: Tensor) {
        precondition(centroids.rank == 2 && centroids.shape[0] >= 1, "centres [k, D]")
        self.centroids = centroids
        probeCentres = Self.augmentedCentres(centroids)
    }

    /// The nearest centre of each row of `rows` `[N, D]`.
    public func assign(_ rows: Tensor) -> [Int] {
        precondition(rows.rank == 2 && rows.shape[1] == centroids.shape[1], "rows of the centres' dimension")
        return KMeans.nearest(rows, norms: nil, centroids: centroids).assignment
    }

    /// The `count` nearest centres of each row (row-major `N × count`, nearest first).
    public func nearest(_ rows: Tensor, count: Int) -> [Int] { probe(rows, count: count).nearest }

    /// The `count` nearest centres of each row of `rows` `[n, D]` (nearest first) with the row's
    /// inner product with each of them `[n * count]`, from one product: an inverted file probes
    /// those lists, and IVF-PQ adds `q · c` to the codes' scores. Each row's answer does not
    /// depend on the other rows given with it.
    public func probe(_ rows: Tensor, count: Int) -> (nearest: [Int], dots: [Float]) {
        let (n, d) = (rows.shape[0], rows.shape[1])
        // rows as [x, 1]: the largest inner product with [2c, −‖c‖²] is the nearest centre
        let query = Tensor(uninitializedShape: [n, d + 1]) { q in
            rows.withUnsafeBufferPointer { x in
                for i in 0..<n {
                    (q.baseAddress! + i * (d + 1)).update(from: x.baseAddress! + i * d, count: d)
                    q[i * (d + 1) + d] = 1
                }
            }
        }
        let top = nearestNeighbors(of: query, in: probeCentres, k: min(count, centroids.shape[0]))
        let scores = top.scores.scalars
        // 2 x·c − ‖c‖², so x·c = (score + ‖c‖²) / 2 (‖c‖² is the augmented column, negated)
        let dots = top.indices.enumerated().map { i, c in (scores[i] - probeCentres[c, d]) / 2 }
        return (top.indices, dots)
    }

    /// Centres as `[2c, −‖c‖²]`.
    static func augmentedCentres(_ centroids: Tensor) -> Tensor {
        let (k, d) = (centroids.shape[0], centroids.shape[1])
        return Tensor(uninitializedShape: [k, d + 1]) { db in
            centroids.withUnsafeBufferPointer { c in
                for a in 0..<k {
                    var norm: Float = 0
                    for j in 0..<d { db[a * (d + 1) + j] = 2 * c[a * d + j]; norm += c[a * d + j] * c[a * d + j] }
                    db[a * (d + 1) + d] = -norm
                }
            }
        }
    }

    static func squaredNorms(_ rows: Tensor) -> [Float] {
        let d = rows.shape[1]
        return rows.withUnsafeBufferPointer { x in
            (0..<rows.shape[0]).map { i in
                var s: Float = 0
                for j in 0..<d { s += x[i * d + j] * x[i * d + j] }
                return s
            }
        }
    }

    /// The nearest centre of each row and its squared distance (when `norms`, the rows' squared
    /// norms, are given; else 0): blocks of rows times the centres in one product each, the
    /// nearest centre the largest `x·c − ‖c‖²/2`.
    static func nearest(_ rows: Tensor, norms: [Float]?, centroids: Tensor) -> (assignment: [Int], distance: [Float]) {
        let n = rows.shape[0]
        let half = squaredNorms(centroids).map { $0 / 2 }
        var assignment = [Int](repeating: 0, count: n), distance = [Float](repeating: 0, count: n)
        if rows.shape[1] <= 64 {
            let (best, at) = nearestCentres(of: rows, in: centroids, minus: half)
            for i in 0..<n {
                assignment[i] = Int(at[i])
                if let norms { distance[i] = max(0, norms[i] - 2 * best[i]) }
            }
            return (assignment, distance)
        }
        let block = 8192
        for start in stride(from: 0, to: n, by: block) {
            let end = min(n, start + block)
            // [k, b]: the centres are the small operand, so each thread packs only them
            let sims = matmul(centroids, rows.sliced(along: 0, start..<end), transposingB: true)
            let (best, at) = columnArgmax(sims, minus: half)
            for i in start..<end {
                assignment[i] = Int(at[i - start])
                if let norms { distance[i] = max(0, norms[i] - 2 * best[i - start]) }
            }
        }
        return (assignment, distance)
    }
}

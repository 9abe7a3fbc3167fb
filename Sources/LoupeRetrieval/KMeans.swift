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
    public private(set) var centroids: Tensor

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
            let norms = (0..<n).map { i in (0..<d).reduce(Float(0)) { $0 + x[i * d + $1] * x[i * d + $1] } }
            chosen = [Int(random.next() % UInt64(n))]
            var nearest = [Float](repeating: .infinity, count: n)
            while chosen.count < k {
                let c = chosen.last!
                let dots = matmul(rows, rows.sliced(along: 0, c..<(c + 1)), transposingB: true).scalars
                var total: Double = 0
                for i in 0..<n {
                    nearest[i] = min(nearest[i], max(0, norms[i] - 2 * dots[i] + norms[c]))
                    total += Double(nearest[i])
                }
                var target = Double(random.next() >> 11) / Double(1 << 53) * total, pick = n - 1
                for i in 0..<n { target -= Double(nearest[i]); if target < 0 { pick = i; break } }
                chosen.append(pick)
            }
        }
        var c = chosen.flatMap { x[($0 * d)..<($0 * d + d)] }
        // the last pass only moves centres to their means (a centre restarted there would be a lone row)
        for pass in 0...iterations {
            let (assignment, distance) = KMeans.nearest(x, n: n, d: d, centroids: c, k: k)
            var sums = [Double](repeating: 0, count: k * d), counts = [Int](repeating: 0, count: k)
            for i in 0..<n {
                let a = assignment[i]
                counts[a] += 1
                for j in 0..<d { sums[a * d + j] += Double(x[i * d + j]) }
            }
            var far = (0..<n).sorted { distance[$0] > distance[$1] }.makeIterator()
            for a in 0..<k {
                if counts[a] == 0, pass < iterations, let row = far.next() {
                    for j in 0..<d { c[a * d + j] = x[row * d + j] }
                } else if counts[a] > 0 {
                    for j in 0..<d { c[a * d + j] = Float(sums[a * d + j] / Double(counts[a])) }
                }
            }
        }
        centroids = Tensor(shape: [k, d], scalars: c)
    }

    /// Centres found before (as stored in a file).
    public init(centroids: Tensor) {
        precondition(centroids.rank == 2 && centroids.shape[0] >= 1, "centres [k, D]")
        self.centroids = centroids
    }

    /// The nearest centre of each row of `rows` `[N, D]`.
    public func assign(_ rows: Tensor) -> [Int] {
        precondition(rows.rank == 2 && rows.shape[1] == centroids.shape[1], "rows of the centres' dimension")
        return KMeans.nearest(rows.scalars, n: rows.shape[0], d: rows.shape[1], centroids: centroids.scalars, k: centroids.shape[0]).assignment
    }

    /// The `count` nearest centres of each row (row-major `N × count`, nearest first).
    public func nearest(_ rows: Tensor, count: Int) -> [Int] {
        let (query, database) = KMeans.augmented(rows.scalars, n: rows.shape[0], d: rows.shape[1], centroids: centroids.scalars, k: centroids.shape[0])
        return nearestNeighbors(of: query, in: database, k: min(count, centroids.shape[0])).indices
    }

    /// Rows as `[x, 1]` and centres as `[2c, −‖c‖²]`: the largest inner product is the nearest centre.
    static func augmented(_ x: [Float], n: Int, d: Int, centroids c: [Float], k: Int) -> (Tensor, Tensor) {
        var q = [Float](repeating: 1, count: n * (d + 1)), db = [Float](repeating: 0, count: k * (d + 1))
        for i in 0..<n { for j in 0..<d { q[i * (d + 1) + j] = x[i * d + j] } }
        for a in 0..<k {
            var norm: Float = 0
            for j in 0..<d { db[a * (d + 1) + j] = 2 * c[a * d + j]; norm += c[a * d + j] * c[a * d + j] }
            db[a * (d + 1) + d] = -norm
        }
        return (Tensor(shape: [n, d + 1], scalars: q), Tensor(shape: [k, d + 1], scalars: db))
    }

    static func nearest(_ x: [Float], n: Int, d: Int, centroids c: [Float], k: Int) -> (assignment: [Int], distance: [Float]) {
        let (query, database) = augmented(x, n: n, d: d, centroids: c, k: k)
        let top = nearestNeighbors(of: query, in: database, k: 1)
        let assignment = top.indices
        let distance = (0..<n).map { i in
            var s: Float = 0
            for j in 0..<d { s += x[i * d + j] * x[i * d + j] }
            return max(0, s - top.scores[i, 0])
        }
        return (assignment, distance)
    }
}

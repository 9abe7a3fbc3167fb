/// Ranking quality measures, with exactly the semantics of cirtorch's `compute_ap` / `compute_map`
/// (`cirtorch/utils/evaluate.py`) and the Revisited Oxford/Paris protocols.
public enum Evaluation {
    /// cirtorch's `compute_ap`: average precision by the trapezoid rule.
    ///
    /// `positiveRanks` are the 0-based positions of the relevant items in the ranking (after junk
    /// removal), ascending; `relevantCount` is the number of relevant items. For the j-th relevant
    /// item at rank r: precision before it `j / r` (1 when r = 0), after it `(j + 1) / (r + 1)`; AP
    /// sums their mean times `1 / relevantCount`.
    public static func trapezoidAP(positiveRanks: [Int], relevantCount: Int) -> Double {
        guard relevantCount > 0 else { return 0 }
        let step = 1 / Double(relevantCount)
        var ap = 0.0
        for (j, rank) in positiveRanks.enumerated() {
            let before = rank == 0 ? 1 : Double(j) / Double(rank)
            let after = Double(j + 1) / Double(rank + 1)
            ap += (before + after) * step / 2
        }
        return ap
    }

    /// Non-interpolated average precision: the mean over relevant items of the precision at their
    /// rank, `(j + 1) / (r + 1)`; relevant items never retrieved count 0.
    public static func averagePrecision(positiveRanks: [Int], relevantCount: Int) -> Double {
        guard relevantCount > 0 else { return 0 }
        return positiveRanks.enumerated().reduce(0.0) { $0 + Double($1.offset + 1) / Double($1.element + 1) } / Double(relevantCount)
    }

    /// Positions of `positives` in `ranking` after removing `junk` items (cirtorch: a positive's rank
    /// is lowered by the junk ranked before it), ascending.
    public static func positiveRanks(ranking: [Int], positives: Set<Int>, junk: Set<Int> = []) -> [Int] {
        var ranks: [Int] = []
        var skipped = 0
        for (position, item) in ranking.enumerated() {
            if junk.contains(item) { skipped += 1; continue }
            if positives.contains(item) { ranks.append(position - skipped) }
        }
        return ranks
    }

    /// Scores of one evaluation.
    public struct Summary: Sendable, Equatable, Codable {
        /// Mean non-interpolated AP.
        public var meanAP: Double
        /// Mean AP by cirtorch's trapezoid rule.
        public var meanTrapezoidAP: Double
        /// Recall@K: fraction of queries with a relevant item in the top K, keyed by K ("1", "5", …).
        public var recall: [String: Double]
        /// Mean precision at K (mP@k of the revisited protocol), keyed by K.
        public var precision: [String: Double]

        /// Recall@`k`, if computed.
        public func recall(at k: Int) -> Double? { recall[String(k)] }
        /// Queries evaluated (queries without relevant items are excluded, as in cirtorch).
        public var queries: Int
    }

    /// Evaluates rankings: `rankings[q]` is the database indices in ranked order for query `q`.
    public static func evaluate(rankings: [[Int]], positives: [Set<Int>], junk: [Set<Int>]? = nil,
                                ks: [Int] = [1, 5, 10]) -> Summary {
        precondition(rankings.count == positives.count, "\(rankings.count) rankings for \(positives.count) ground-truth sets")
        var ap = 0.0, trap = 0.0, used = 0
        var recall = Dictionary(uniqueKeysWithValues: ks.map { ($0, 0.0) }), precision = recall
        for (q, ranking) in rankings.enumerated() where !positives[q].isEmpty {
            let ranks = positiveRanks(ranking: ranking, positives: positives[q], junk: junk?[q] ?? [])
            ap += averagePrecision(positiveRanks: ranks, relevantCount: positives[q].count)
            trap += trapezoidAP(positiveRanks: ranks, relevantCount: positives[q].count)
            for k in ks {
                let hits = ranks.filter { $0 < k }.count
                if hits > 0 { recall[k]! += 1 }
                precision[k]! += Double(hits) / Double(k)
            }
            used += 1
        }
        let n = Double(max(used, 1))
        return Summary(meanAP: ap / n, meanTrapezoidAP: trap / n,
                       recall: Dictionary(uniqueKeysWithValues: recall.map { (String($0.key), $0.value / n) }),
                       precision: Dictionary(uniqueKeysWithValues: precision.map { (String($0.key), $0.value / n) }), queries: used)
    }

    /// Evaluates rankings overall and per query group (`groups[q]`, e.g. the camera of an SMVS
    /// query); `perGroup` is empty when every query is in the same group.
    public static func evaluate(rankings: [[Int]], positives: [Set<Int>], junk: [Set<Int>], groups: [String])
        -> (overall: Summary, perGroup: [String: Summary]) {
        precondition(groups.count == rankings.count, "\(groups.count) groups for \(rankings.count) rankings")
        let overall = evaluate(rankings: rankings, positives: positives, junk: junk)
        var perGroup: [String: Summary] = [:]
        let names = Set(groups)
        if names.count > 1 {
            for g in names {
                let idx = groups.indices.filter { groups[$0] == g }
                perGroup[g] = evaluate(rankings: idx.map { rankings[$0] }, positives: idx.map { positives[$0] },
                                       junk: idx.map { junk[$0] })
            }
        }
        return (overall, perGroup)
    }
}

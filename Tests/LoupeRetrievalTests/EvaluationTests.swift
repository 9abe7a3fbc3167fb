import Foundation
import LoupeRetrieval
import Testing

/// Hand-computed rankings: the trapezoid rule of cirtorch's compute_ap, non-interpolated AP,
/// junk removal, Recall@K and the exclusion of queries without positives.
@Suite struct EvaluationTests {
    @Test func trapezoidAndPlainAP() {
        // positives at ranks 0 and 2 of 2 relevant:
        // trapezoid: (1 + 1)/2·½ + (1/2 + 2/3)/2·½ = 0.5 + 0.291666… ; plain: (1/1 + 2/3)/2
        #expect(abs(Evaluation.trapezoidAP(positiveRanks: [0, 2], relevantCount: 2) - 0.7916666) < 1e-6)
        #expect(abs(Evaluation.averagePrecision(positiveRanks: [0, 2], relevantCount: 2) - 0.8333333) < 1e-6)
        // a third relevant item never retrieved: step 1/3
        #expect(abs(Evaluation.trapezoidAP(positiveRanks: [0, 2], relevantCount: 3) - (1.0 / 3 + (0.5 + 2.0 / 3) / 6)) < 1e-9)
        // a single positive at rank 3: precision before it 0/3 (j = 0), after it 1/4
        #expect(abs(Evaluation.trapezoidAP(positiveRanks: [3], relevantCount: 1) - 0.125) < 1e-9)
        #expect(Evaluation.averagePrecision(positiveRanks: [3], relevantCount: 1) == 0.25)
    }

    @Test func junkIsRemovedBeforeRanking() {
        // ranking: junk 7, positive 3, negative 5, junk 8, positive 4
        #expect(Evaluation.positiveRanks(ranking: [7, 3, 5, 8, 4], positives: [3, 4], junk: [7, 8]) == [0, 2])
        #expect(Evaluation.positiveRanks(ranking: [7, 3, 5, 8, 4], positives: [3, 4]) == [1, 4])
    }

    @Test func meanOverQueriesWithPositivesOnly() {
        let summary = Evaluation.evaluate(
            rankings: [[1, 2, 3], [3, 2, 1], [1, 2, 3]],
            positives: [[1], [1], []],  // the third query has no positive: excluded
            ks: [1, 2])
        #expect(summary.queries == 2)
        #expect(abs(summary.meanAP - (1 + 1.0 / 3) / 2) < 1e-9)
        #expect(abs(summary.meanTrapezoidAP - (1 + (0 + 1.0 / 3) / 2) / 2) < 1e-9)
        #expect(summary.recall(at: 1) == 0.5 && summary.recall(at: 2) == 0.5)
        #expect(summary.precision["1"] == 0.5)
    }
}

/// Per-group scores: hand-computed APs (one relevant item at rank r → 1/r), grouped by camera.
@Test func perGroupSummariesSplitTheQueries() {
    let rankings = [[0, 1, 2], [1, 0, 2], [2, 1, 0], [0, 2, 1]]
    let positives: [Set<Int>] = [[0], [0], [0], [2]]  // ranks 1, 2, 3, 2
    let (overall, perGroup) = Evaluation.evaluate(rankings: rankings, positives: positives, junk: [[], [], [], []],
                                                  groups: ["canon", "droid", "canon", "droid"])
    #expect(abs(overall.meanAP - (1 + 0.5 + 1.0 / 3 + 0.5) / 4) < 1e-12)
    #expect(abs(perGroup["canon"]!.meanAP - (1 + 1.0 / 3) / 2) < 1e-12)
    #expect(abs(perGroup["droid"]!.meanAP - 0.5) < 1e-12)
    #expect(perGroup["canon"]!.recall(at: 1) == 0.5 && perGroup["droid"]!.queries == 2)
    // one group: no per-group entries
    #expect(Evaluation.evaluate(rankings: rankings, positives: positives, junk: [[], [], [], []], groups: ["a", "a", "a", "a"]).perGroup.isEmpty)
}

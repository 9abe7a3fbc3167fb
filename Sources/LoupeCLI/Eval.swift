import ArgumentParser
import Foundation
import Loupe

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure retrieval quality on a dataset: mAP (plain and cirtorch trapezoid), Recall@1/5.",
        discussion: """
        Layouts: `smvs` — reference/ as database, gt/queries.csv as queries (one relevant image each; \
        scores per camera and overall); `labels` — labels.csv + images/, leave-one-out (every image \
        queries all others, same class is relevant).

        Example: loupe eval smvs ../shared/data/smvs-dvd --pooling gem --max-size 512
        """)

    enum Layout: String, ExpressibleByArgument, CaseIterable { case smvs, labels, revisited }

    @Argument(help: "Dataset layout: smvs, labels or revisited.")
    var layout: Layout

    @Argument(help: "Dataset folder.")
    var dataset: String

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup(title: "Object mode") var objects: ObjectOptions
    @OptionGroup(title: "Object scoring") var scoring: ObjectScoringOptions
    @OptionGroup var badFiles: BadFileOptions
    @OptionGroup var compute: ComputeOptions

    @Option(help: "Evaluate on part I of N of the database images in path order, e.g. 1/2 (the complement of `loupe distill --select 0/2`).")
    var part: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "No progress output.")
    var quiet = false

    func run() async throws {
        try compute.apply()
        let folder = URL(fileURLWithPath: dataset)
        let embedder = try pipeline.embedder()
        let objectEmbedder = objects.objects || objects.student != nil ? try objects.regionEmbedder({ embedder }) : nil
        let progress = ProgressBar(quiet: quiet || json)
        let selection = try part.map { try parsePart($0, option: "--part") }
        func run(_ set: RetrievalDataset) throws -> EvaluationReport {
            let set = selection.map { set.part($0.part, of: $0.parts) } ?? set
            if let objectEmbedder {
                return try evaluate(set, with: objectEmbedder, options: scoring.options, onBadFile: badFiles.policy, progress: progress)
            }
            return try evaluate(set, with: embedder, onBadFile: badFiles.policy, progress: progress)
        }
        var reports: [EvaluationReport] = []
        switch layout {
        case .smvs: reports.append(try run(RetrievalDataset.smvs(folder)))
        case .labels: reports.append(try run(RetrievalDataset.labeled(folder)))
        case .revisited:
            for p in RetrievalDataset.RevisitedProtocol.allCases { reports.append(try run(RetrievalDataset.revisited(folder, protocol: p))) }
        }
        if reports.count > 1 {
            // one table: a row per protocol
            var merged = reports[0]
            merged.dataset = folder.lastPathComponent
            merged.groups = Dictionary(uniqueKeysWithValues: reports.map { ($0.dataset, $0.overall) })
            merged.overall = reports[1].overall  // Medium, the protocol usually quoted
            merged.skipped = reports[0].skipped  // every protocol reads the same files
            reports = [merged]
        }
        let report = reports[0]
        try badFiles.report(report.skipped)
        if json {
            try printJSON(report)
            return
        }
        print("\(report.dataset): \(report.recipe)" + (objectEmbedder != nil ? " (query \(scoring.options.queryRegions.rawValue), database \(scoring.options.databaseRegions.rawValue), \(scoring.options.scoring.rawValue))" : ""))
        print("| queries | n | mAP | mAP (trap.) | R@1 | R@5 |")
        print("|---|---|---|---|---|---|")
        func row(_ name: String, _ s: Evaluation.Summary) {
            print(String(format: "| %@ | %d | %.3f | %.3f | %.3f | %.3f |", name, s.queries, s.meanAP, s.meanTrapezoidAP,
                         s.recall(at: 1) ?? 0, s.recall(at: 5) ?? 0))
        }
        for (name, s) in report.groups.sorted(by: { $0.key < $1.key }) { row(name, s) }
        row("overall", report.overall)
        printError(String(format: "%d database images, %.1f s", report.databaseImages, report.seconds) + BadFileOptions.summary(report.skipped))
    }
}

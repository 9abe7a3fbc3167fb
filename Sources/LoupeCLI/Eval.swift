import ArgumentParser
import Foundation
import Loupe

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure retrieval quality on a dataset: mAP (plain and cirtorch trapezoid), Recall@1/5.",
        discussion: """
        Layouts: `smvs` — reference/ as database, gt/queries.csv as queries (one relevant image each; \
        scores per camera and overall); `labels` — labels.csv + images/, leave-one-out (every image \
        queries all others, same class is relevant); `splices` — reference/ as the collection, \
        queries/<group>/ composites, gt/roles.csv (query,host,donor; donors split by ;) and optional \
        gt/masks/ (Scripts/make_splices.py writes one): host at rank 1, donors at 1 / 5 / 10, all \
        sources in the top 2 / 10, mAP over the sources and the median IoU of the located pasted \
        region, per group, pasted-area bin and for two donors.

        Example: loupe eval smvs ../shared/data/smvs-dvd --pooling gem --max-size 512
        """)

    enum Layout: String, ExpressibleByArgument, CaseIterable { case smvs, labels, revisited, splices }

    @Argument(help: "Dataset layout: smvs, labels, revisited or splices.")
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

    @Flag(inversion: .prefixedNo, help: "splices with --objects or --student: find the host, compare the composite with it pixel by pixel and search the parts that differ for donors (default: on; --no-host-guided gives the plain object search).")
    var hostGuided: Bool?

    @OptionGroup(title: "Local features") var local: LocalFeatureCLIOptions
    @OptionGroup(title: "Approximate index (object mode)") var quantization: QuantizedIndexOptions

    @Option(help: "Host-guided splices with local features: images matched within each image, the ones the parts' features vote for most (0: only the collection-wide ratio test; default: \(SourceFinder.defaultShortlist)).")
    var shortlist: Int?

    @Option(help: "Host-guided splices with local features: parts no image explains are looked at again with their crop enlarged by each of these factors in turn (2 to 4, rising, comma-separated; 1: not at all; default: 2,3).")
    var partUpsampling: String?

    @Option(help: "Host-guided splices with local features: verifications ranked ahead of the parts' embedding search are those whose decimal log of expected false alarms (a-contrario) is below this (default: 0; inf: every verification).")
    var falseAlarms: Double?

    @Flag(help: "Host-guided splices: pool each pasted part over its located pixels only, not the whole box around it (measured, not the default).")
    var shapedParts = false

    @Option(help: "splices with --objects or --student: also search the squares of an R-MAC grid of this many levels over each composite (class-free regions); 0: none (the default).")
    var queryGrid: Int?

    @Option(help: "splices with --objects or --student: an object index of the benchmark's reference/ made before (`loupe index DIR/reference --objects …`), used instead of indexing it again (donors are verified when it keeps local features).")
    var index: String?

    @Flag(help: "Print JSON instead of a table (splices: with each composite's outcome — its sources' ranks, verified inliers, pasted area and region IoU).")
    var json = false

    @Flag(help: "No progress output.")
    var quiet = false

    func run() async throws {
        try compute.apply()
        let folder = URL(fileURLWithPath: dataset)
        let embedder = try pipeline.embedder()
        let objectEmbedder = objects.objects || objects.student != nil ? try objects.regionEmbedder({ embedder }) : nil
        let progress = ProgressBar(quiet: quiet || json)
        let localSettings = try local.settings()
        let localFeatures = localSettings != nil
        if hostGuided != nil && (layout != .splices || objectEmbedder == nil) {
            throw ValidationError("--host-guided / --no-host-guided apply to `eval splices` with --objects or --student")
        }
        if localFeatures && (layout != .splices || objectEmbedder == nil || hostGuided == false) {
            throw ValidationError("--local-features applies to host-guided `eval splices` with --objects or --student")
        }
        if let queryGrid, layout != .splices || objectEmbedder == nil || !(0...6).contains(queryGrid) {
            throw ValidationError("--query-grid applies to `eval splices` with --objects or --student and takes 0 to 6 levels")
        }
        if let shortlist, layout != .splices || objectEmbedder == nil || hostGuided == false || !(localFeatures || index != nil) || !(0...1000).contains(shortlist) {
            throw ValidationError("--shortlist applies to host-guided `eval splices` with local features (--local-features, or an --index that keeps them) and takes 0 to 1000 images")
        }
        if partUpsampling != nil, layout != .splices || objectEmbedder == nil || hostGuided == false || !(localFeatures || index != nil) {
            throw ValidationError("--part-upsampling applies to host-guided `eval splices` with local features (--local-features, or an --index that keeps them)")
        }
        if let partUpsampling { _ = try parseUpsampling(partUpsampling) }
        if let falseAlarms, layout != .splices || objectEmbedder == nil || hostGuided == false || !(localFeatures || index != nil) || falseAlarms.isNaN {
            throw ValidationError("--false-alarms applies to host-guided `eval splices` with local features (--local-features, or an --index that keeps them) and takes a number or inf")
        }
        if shapedParts && (layout != .splices || objectEmbedder == nil || hostGuided == false) {
            throw ValidationError("--shaped-parts applies to host-guided `eval splices` with --objects or --student")
        }
        if index != nil && (layout != .splices || objectEmbedder == nil) {
            throw ValidationError("--index applies to `eval splices` with --objects or --student")
        }
        if index != nil && localFeatures {
            throw ValidationError("--local-features applies when eval indexes reference/ itself; an --index keeps local features or not already")
        }
        try quantization.validate()
        let quantizedGiven = quantization.type != .flat
        if quantizedGiven && (objectEmbedder == nil || layout == .splices) {
            throw ValidationError("--index-type, --lists, --pq, --pca, --probe and --refine apply to `eval` of a retrieval set with --objects or --student")
        }
        if [.ivfflat, .ivfpq].contains(quantization.type) && quantization.lists == nil {
            throw ValidationError("eval builds its index as it goes: give --lists with --index-type \(quantization.type.rawValue)")
        }
        let kind = try objectEmbedder.flatMap { try quantization.kind(vectors: Int.max, dimension: $0.recipe.dimension) }
        if layout == .splices { return try runSplices(folder, embedder: embedder, objectEmbedder: objectEmbedder, progress: progress) }
        let selection = try part.map { try parsePart($0, option: "--part") }
        func run(_ set: RetrievalDataset) throws -> EvaluationReport {
            let set = selection.map { set.part($0.part, of: $0.parts) } ?? set
            if let objectEmbedder {
                var options = scoring.options
                options.quantized = quantization.search
                return try evaluate(set, with: objectEmbedder, options: options, quantization: kind, reducingTo: quantization.pca, onBadFile: badFiles.policy, progress: progress)
            }
            return try evaluate(set, with: embedder, onBadFile: badFiles.policy, progress: progress)
        }
        var reports: [EvaluationReport] = []
        switch layout {
        case .smvs: reports.append(try run(RetrievalDataset.smvs(folder)))
        case .labels: reports.append(try run(RetrievalDataset.labeled(folder)))
        case .splices: break  // handled above
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

    /// `eval splices`: a table per group, a row per pasted-area bin and for two donors.
    func runSplices(_ folder: URL, embedder: GlobalEmbedder, objectEmbedder: (any RegionEmbedder)?, progress: ProgressBar) throws {
        guard part == nil else { throw ValidationError("--part applies to smvs, labels and revisited; a splices benchmark has its groups") }
        let benchmark = try SpliceBenchmark.load(folder)
        var settings = SourceSearchSettings()
        settings.hostGuided = hostGuided ?? true
        settings.gridLevels = queryGrid ?? 0
        settings.shortlist = shortlist ?? SourceSearchSettings.defaultShortlist
        settings.partUpsampling = try partUpsampling.map(parseUpsampling) ?? SourceSearchSettings.defaultPartUpsampling
        settings.shapedParts = shapedParts
        settings.maximumLogFalseAlarms = falseAlarms ?? settings.maximumLogFalseAlarms
        let result = if let objectEmbedder {
            try LoupeEmbedding.evaluateSplices(benchmark, with: objectEmbedder, options: scoring.options, settings: settings,
                                               localFeatures: try local.settings(),
                                               index: try index.map { try ObjectIndex(contentsOf: URL(fileURLWithPath: $0)) }, onBadFile: badFiles.policy, progress: progress)
        } else {
            try LoupeEmbedding.evaluateSplices(benchmark, with: embedder, onBadFile: badFiles.policy, progress: progress)
        }
        try badFiles.report(result.skipped)
        if json { return try printJSON(result) }
        print("\(result.dataset): \(result.recipe)" + (objectEmbedder == nil ? "" : (hostGuided ?? true) ? ", host-guided" + (local.localFeatures || index != nil ? ", local features verified if kept" : "") : ", plain object search"))
        print("| composites | n | host@1 | donor@1 | donor@5 | donor@10 | all@2 | all@10 | mAP | region IoU |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for (name, s) in result.scores.sorted(by: { $0.key < $1.key }) {
            print(String(format: "| %@ | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %@ |", name, s.queries, s.hostAt1, s.donorAt1,
                         s.donorAt5, s.donorAt10, s.allAt2, s.allAt10, s.meanAP, s.medianRegionIoU.map { String(format: "%.2f", $0) } ?? "–"))
        }
        let stages = result.queryMilliseconds.sorted { $0.value > $1.value }.map { String(format: "%@ %.1f", $0.key, $0.value) }
        printError(String(format: "%d photos, %.1f s; ms per composite: ", result.databaseImages, result.seconds) + stages.joined(separator: ", ")
                   + BadFileOptions.summary(result.skipped))
    }
}

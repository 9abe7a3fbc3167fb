// The paper's analysis as one command: backbone × layer × pooling × whitening dimension × mode
// over retrieval datasets, embeddings cached by recipe (reruns and extensions are fast, an
// interrupted run resumes), results as CSV, Markdown tables and PNG plots.
//
//   swift run -c release --package-path Benchmarks loupe-analysis [--output DIR] [--student HEAD] …
import ArgumentParser
import Foundation
import Loupe

@main
struct Analysis: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loupe-analysis",
        abstract: "Runs the paper's analysis grid over retrieval datasets and writes CSV, Markdown and PNG plots.",
        discussion: """
        Every backbone is swept over its layers and every pooling; each (layer, pooling) is scored with \
        no whitening and with PCA whitening cut to each dimension, in each mode: global, objects (the \
        detector's boxes as hard attention on the same map), teacher (each box cropped and embedded by \
        its own pass) and student (a distilled head, `--student`). Whitening for a dataset is learned \
        on the other datasets' database images plus `--whitening-data` (never on the dataset itself).

        Embeddings are cached under --cache by dataset and recipe in shards of --shard-size images: a \
        rerun only scores, an interrupted run resumes at the first missing shard, a grid extended by a \
        pooling or a layer recomputes each shard once. Scripts/results_analysis.sh runs the documented grid.
        """)

    @Option(name: .customLong("dataset"), help: "LAYOUT:PATH with LAYOUT smvs, labels or revisited-easy|medium|hard (repeatable).")
    var datasets: [String] = ["smvs:../shared/data/smvs-dvd", "labels:../shared/data/flowers17-dev"]
    @Option(name: .customLong("whitening-data"), help: "Extra images to learn whitening on: LAYOUT:PATH, LAYOUT also `images` (repeatable).")
    var whiteningData: [String] = ["labels:../shared/data/coil100-20deg"]
    @Option(help: "Backbones, comma-separated: classifiers by checkpoint stem, YOLOX as yolox_nano (the detection backbone).")
    var backbones = "mobilenet_v2,efficientnet_lite0,efficientnet_lite2,yolox_nano"
    @Option(name: .customLong("layers"), help: "BACKBONE=STAGE,STAGE… overrides a backbone's layer sweep (repeatable).")
    var layerOverrides: [String] = []
    @Option(help: "Poolings, comma-separated (mac, spoc, gem, gem:P, rmac, rmac:L).")
    var poolings = "mac,spoc,gem,rmac"
    @Option(help: "Whitening: none, dimensions and full, comma-separated.")
    var whitening = "none,64,128,256,512,full"
    @Option(help: "Modes, comma-separated: global, objects, teacher, student.")
    var modes = "global,objects,teacher,student"
    @Option(help: "A distilled head for the student mode (repeatable; named by its file stem).")
    var student: [String] = []
    @Option(help: "Folder of the classifiers' safetensors.")
    var models = ".cache/models"
    @Option(help: "YOLOX weights: the detector of the object modes and the detection backbone.")
    var detectorWeights = "../shared/models/yolox_nano_coco.safetensors"
    @Option(help: "Longer image side for global and hard-attention embeddings.")
    var maxSize = 512
    @Option(help: "Longer side of each crop for the crop teacher.")
    var teacherSize = 512
    @Option(help: "Detector boxes per image (class-agnostic NMS, best first).")
    var maxObjects = 5
    @Option(help: "Embedding cache.")
    var cache = ".cache/analysis"
    @Option(help: "Where analysis.csv, analysis.md and the plots go.")
    var output = "analysis"
    @Option(help: "Images per cache shard.")
    var shardSize = 32
    @Option(help: "Keep only the first N database images of each dataset (and whitening set): a quick smoke run.")
    var limit: Int?
    @Option(help: "Compute threads.")
    var threads: Int?

    func run() throws {
        let wall = Date()
        if let threads { ComputeThreads.count = max(1, threads) }
        let modeList = try list(modes).map { m -> Mode in
            guard let mode = Mode(rawValue: m) else { throw ValidationError("unknown mode '\(m)'") }
            return mode
        }
        let poolingList = try list(poolings).map { p -> GlobalPooling in
            guard let pooling = GlobalPooling(p) else { throw ValidationError("unknown pooling '\(p)'") }
            return pooling
        }
        let whiteningList = try list(whitening).map { w -> WhiteningChoice in
            guard let choice = WhiteningChoice(w) else { throw ValidationError("unknown whitening '\(w)' (none, a dimension, full)") }
            return choice
        }
        guard modeList.contains(where: { $0 != .student }) || !student.isEmpty else { throw ValidationError("nothing to run") }
        if modeList.contains(.student) && student.isEmpty { log("note: no --student head given; the student mode is skipped") }
        guard maxObjects >= 0, shardSize >= 1, limit.map({ $0 >= 2 }) ?? true else { throw ValidationError("counts must be positive") }

        var grid = try datasets.map { try limited(GridDataset(spec: $0)) }
        grid = grid.filter { $0.dataset != nil }
        guard !grid.isEmpty else { throw ValidationError("no dataset with ground truth") }
        let extra = try whiteningData.map { try limited(GridDataset(spec: $0)) }

        // backbones and their sweeps
        var overrides: [String: [String]] = [:]
        for o in layerOverrides {
            let parts = o.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--layers takes BACKBONE=STAGE,STAGE…, got '\(o)'") }
            overrides[parts[0]] = list(parts[1])
        }
        var specs: [BackboneSpec] = [], sweeps: [String: RecipeSweep] = [:]
        for name in list(backbones) {
            let weights = name.hasPrefix("yolox") ? URL(fileURLWithPath: detectorWeights)
                : URL(fileURLWithPath: models).appendingPathComponent(name + ".safetensors")
            guard let model = ModelIdentifier(name: name) else { throw ValidationError("unknown backbone '\(name)'") }
            let loaded = try WeightStore.backbone(model, file: weights)
            let (backbone, checksum) = (loaded.network, loaded.checksum)
            let stages = overrides[name] ?? defaultStages(of: backbone)
            let spec = BackboneSpec(backbone: backbone, checksum: checksum, stages: stages,
                                    family: name.hasPrefix("yolox") ? "detection" : "classification")
            sweeps[name] = try RecipeSweep(backbone: backbone, stages: stages, poolings: poolingList, maxSize: maxSize, teacherSize: teacherSize)
            specs.append(BackboneSpec(backbone: backbone, checksum: checksum, stages: sweeps[name]!.stages, family: spec.family))
        }
        let detectorURL = URL(fileURLWithPath: detectorWeights)
        let detector = try YOLOX(contentsOf: detectorURL)
        let detectorChecksum = try WeightStore.backbone(.yolox(.nano), file: detectorURL).checksum
        let proposal = RegionProposal(maximumObjects: maxObjects)
        var students: [(name: String, embedder: StudentEmbedder)] = []
        if modeList.contains(.student) {
            for path in student {
                let url = URL(fileURLWithPath: path)
                students.append((url.deletingPathExtension().lastPathComponent, try StudentEmbedder(detector: detector, headFile: url, proposal: proposal)))
            }
        }
        let extractor = Extractor(specs: specs, sweeps: sweeps, detector: detector, detectorChecksum: detectorChecksum, proposal: proposal,
                                  students: students, cacheRoot: URL(fileURLWithPath: cache), shardSize: shardSize)

        // 1. embeddings (cached)
        var tally = Extractor.Tally()
        for d in grid {
            log("embedding \(d.name): \(d.items.count) images, modes \(modeList.map(\.rawValue).joined(separator: ", "))")
            try extractor.extract(d, modes: Set(modeList), tally: &tally)
        }
        for d in extra where !grid.contains(where: { $0.cacheKey == d.cacheKey }) {
            log("embedding \(d.name) (whitening only): \(d.items.count) images")
            try extractor.extract(d, modes: [.global], tally: &tally)
        }
        log(String(format: "embeddings: %d shard files computed, %d from cache, %.0f s", tally.computed, tally.cached, tally.seconds))

        // 2. scores
        let scoringStart = Date()
        var rows: [ResultRow] = []
        let whitenings = WhiteningCache(folder: URL(fileURLWithPath: cache).appendingPathComponent("whitening"))
        for d in grid {
            let trainers = grid.filter { $0.cacheKey != d.cacheKey } + extra.filter { x in !grid.contains { $0.cacheKey == x.cacheKey } }
            for spec in specs {
                let cells = extractor.cellNames(spec)
                let sweep = sweeps[spec.name]!
                let training = try trainers.map { t -> RegionVectors in
                    var v = try extractor.load(t, recipe: extractor.recipeKey(spec, .global), cells: cells)
                    for c in cells { v.cells[c] = v.cells[c]!.sliced(along: 0, 0..<t.databaseCount) }
                    return v
                }
                for mode in modeList where mode != .student {
                    let vectors = try extractor.load(d, recipe: extractor.recipeKey(spec, mode), cells: cells)
                    for cell in sweep.cells {
                        let name = cell.description
                        let full = try whitenings.fit(Tensor.concatenated(training.map { $0.cells[name]! }, along: 0),
                                                      key: "\(d.cacheKey) \(trainers.map(\.cacheKey)) \(extractor.recipeKey(spec, .global)) \(name)")
                        for choice in whiteningList {
                            let w = truncated(full, to: choice)
                            if case .dimension = choice, w == nil { continue }  // not below the full dimension
                            let (summary, groups) = try score(d, vectors: vectors, cell: name, whitening: w, objects: mode != .global,
                                                              verify: mode != .global && choice == whiteningList[0])
                            rows.append(ResultRow(dataset: d.name, backbone: spec.name, family: spec.family, stage: cell.stage,
                                                  stride: sweep.strides[cell.stage]!, channels: sweep.channels[cell.stage]!,
                                                  pooling: cell.pooling.description, mode: mode.rawValue, whitening: choice.description,
                                                  dimension: w?.outputDimension ?? sweep.channels[cell.stage]!, meanAP: summary.meanAP,
                                                  meanTrapezoidAP: summary.meanTrapezoidAP, recallAt1: summary.recall(at: 1) ?? 0,
                                                  groups: groups, queries: summary.queries))
                        }
                    }
                    log(String(format: "scored %@ %@ %@ (%.0f s so far)", d.name, spec.name, mode.rawValue, Date().timeIntervalSince(scoringStart)))
                }
            }
            // students: scored with the whitening of their teacher's recipe, when the grid has it
            for s in students {
                let vectors = try extractor.load(d, recipe: extractor.studentKey(s.name), cells: ["student"])
                let teacher = s.embedder.recipe
                let spec = specs.first { $0.name == teacher.model.name && $0.stages.contains(teacher.stage) }
                let cell = "\(teacher.stage)|\(teacher.pooling)"
                var full: Whitening?
                if let spec, extractor.cellNames(spec).contains(cell), teacher.whitening == nil {
                    let training = try trainers.map { t in
                        try extractor.load(t, recipe: extractor.recipeKey(spec, .global), cells: [cell]).cells[cell]!.sliced(along: 0, 0..<t.databaseCount)
                    }
                    full = try whitenings.fit(Tensor.concatenated(training, along: 0),
                                              key: "\(d.cacheKey) \(trainers.map(\.cacheKey)) \(extractor.recipeKey(spec, .global)) \(cell)")
                }
                for choice in whiteningList {
                    let w = full.flatMap { truncated($0, to: choice) }
                    if choice != .none && w == nil { continue }
                    let (summary, groups) = try score(d, vectors: vectors, cell: "student", whitening: w, objects: true)
                    rows.append(ResultRow(dataset: d.name, backbone: "student:\(s.name)", family: "detection", stage: "head",
                                          stride: 0, channels: teacher.dimension, pooling: teacher.pooling.description, mode: Mode.student.rawValue,
                                          whitening: choice.description, dimension: w?.outputDimension ?? teacher.dimension,
                                          meanAP: summary.meanAP, meanTrapezoidAP: summary.meanTrapezoidAP,
                                          recallAt1: summary.recall(at: 1) ?? 0, groups: groups, queries: summary.queries))
                }
            }
        }
        let scoring = Date().timeIntervalSince(scoringStart)
        let timing = RunTiming(total: Date().timeIntervalSince(wall), embedding: tally.seconds, scoring: scoring,
                               computedShards: tally.computed, cachedShards: tally.cached)
        try writeReport(rows: rows, whitenings: whiteningList.map(\.description), specs: specs, sweeps: sweeps, grid: grid, whiteningSets: extra, timing: timing,
                        command: CommandLine.arguments.dropFirst().joined(separator: " "), to: URL(fileURLWithPath: output))
        log(String(format: "%d results → %@ (total %.0f s: embeddings %.0f s, scoring %.0f s)", rows.count, output,
                   timing.total, timing.embedding, timing.scoring))
    }

    func list(_ text: String) -> [String] { text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }

    /// The first `limit` database images (queries without a relevant image left are dropped).
    func limited(_ d: GridDataset) throws -> GridDataset {
        guard let limit else { return d }
        var out = d
        if let dataset = d.dataset {
            var small = dataset.keepingDatabase { $0 < limit }
            small.queries = small.queries.filter { !$0.positives.isEmpty }.prefix(limit).map { $0 }
            out = GridDataset(name: d.name, dataset: small)
        } else {
            out.items = Array(d.items.prefix(limit))
            out.databaseCount = out.items.count
            out.cacheKey = out.name + "-" + fnv1a(out.items.map(\.key).joined(separator: "\n"))
        }
        return out
    }
}

/// Full-dimension PCA whitenings, fitted once per (dataset, recipe, training images) and kept.
struct WhiteningCache {
    let folder: URL
    func fit(_ training: Tensor, key: String) throws -> Whitening {
        let url = folder.appendingPathComponent("pca-\(fnv1a(key)).safetensors")
        if let w = try? Whitening(contentsOf: url), w.inputDimension == training.shape[1], w.recipe == key { return w }
        // "full" is the full rank: fewer training images than channels leave fewer directions
        let w: Whitening
        do { w = try Whitening.pca(fitting: training, recipe: key) } catch let .rankDeficient(_, rank) {
            w = try Whitening.pca(fitting: training, dimension: rank, recipe: key)
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try w.write(to: url)
        return w
    }
}

struct RunTiming {
    var total, embedding, scoring: Double
    var computedShards, cachedShards: Int
}

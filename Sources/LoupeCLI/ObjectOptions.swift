import ArgumentParser
import Foundation
import Loupe

/// Object-embedding options shared by `index`, `search` and `eval`.
struct ObjectOptions: ParsableArguments {
    @Flag(help: "Object mode: keep each image as its whole-image vector plus one vector per object region.")
    var objects = false

    @Option(help: "How regions are embedded: roialign (RoIAlign 7×7 on the backbone's map, one pass), roialign:B, cells (the map cells a box covers), or teacher / teacher:SIZE (each box cropped and embedded on its own at longer side SIZE, default 512).")
    var objectMethod: String = "roialign"

    @Option(help: "At most this many detector boxes per image (class-agnostic NMS, best first) (default: \(RegionProposal().maximumObjects), or what the index or head was made with).")
    var maxObjects: Int?

    @Option(help: "Minimum detector score for a box (default: \(RegionProposal().scoreThreshold), or what the index or head was made with).")
    var objectThreshold: Float?

    @Option(help: "IoU above which overlapping boxes are suppressed (default: \(RegionProposal().nmsThreshold), or what the index or head was made with).")
    var objectNms: Float?

    @Option(help: "The detector's letterbox size, a multiple of 32; larger finds smaller objects and gives a student finer features (default: \(RegionProposal().inputSize), YOLOX-Nano's training size, or what the index or head was made with).")
    var detectorSize: Int?

    @Option(help: "YOLOX-Nano weights for proposing boxes (default: ../shared/models or .cache/models).")
    var detectorWeights: String?

    @Option(help: "A student head made by `loupe distill`: object vectors from the detector alone (its teacher's recipe is in the file).")
    var student: String?

    func method() throws -> ObjectEmbedder.Method {
        let text = objectMethod.lowercased()
        if text.hasPrefix("teacher") {
            let rest = text.dropFirst("teacher".count).drop { $0 == ":" }
            guard let size = rest.isEmpty ? 512 : Int(rest), size >= 32 else {
                throw ValidationError("--object-method teacher:SIZE needs a size of at least 32, got '\(objectMethod)'")
            }
            return .cropTeacher(maxSize: size)
        }
        guard let sampling = RegionSampling(text) else {
            throw ValidationError("unknown --object-method '\(objectMethod)' (roialign, roialign:B, cells, teacher, teacher:SIZE)")
        }
        return .hardAttention(sampling)
    }

    /// The proposal: command-line values over `base` (an index's or a head's) over the defaults.
    func proposal(base: RegionProposal = .init()) -> RegionProposal {
        var p = base
        if let maxObjects { p.maximumObjects = maxObjects }
        if let objectThreshold { p.scoreThreshold = objectThreshold }
        if let objectNms { p.nmsThreshold = objectNms }
        if let detectorSize { p.inputSize = detectorSize }
        return p
    }

    /// The weight store with `--detector-weights` given for the detector.
    var store: WeightStore {
        var store = WeightStore.cli()
        if let detectorWeights { store.paths[ModelIdentifier.yolox(.nano).name] = URL(fileURLWithPath: detectorWeights) }
        return store
    }

    func embedder(_ global: GlobalEmbedder, method: ObjectEmbedder.Method? = nil, needsDetector: Bool = true) throws -> ObjectEmbedder {
        let proposal = proposal()
        try proposal.validate()
        var detector: YOLOX?
        if needsDetector && proposal.maximumObjects > 0 { detector = try store.detector(proposal.detector) }
        return try ObjectEmbedder(embedder: global, detector: detector, proposal: proposal, method: method ?? self.method(),
                                  labels: store.detectorLabels(proposal.detector))
    }
}

extension ObjectOptions {
    /// The region embedder these options ask for: the student when `--student` is given, else
    /// hard attention / crop teacher over `global()`.
    func regionEmbedder(_ global: () throws -> GlobalEmbedder) throws -> any RegionEmbedder {
        if let student {
            let head = URL(fileURLWithPath: student)
            let loaded = try StudentHead.load(contentsOf: head)
            // the command line over the proposal the head was trained with
            let proposal = proposal(base: try StudentEmbedder.trainedProposal(metadata: loaded.metadata))
            try proposal.validate()
            return try StudentEmbedder(detector: store.detector(proposal.detector), head: loaded.head, file: head, metadata: loaded.metadata,
                                       proposal: proposal, labels: store.detectorLabels(proposal.detector))
        }
        return try embedder(global())
    }
}

/// How object searches compare regions (`search` and `eval`).
struct ObjectScoringOptions: ParsableArguments {
    @Option(help: "Query regions compared: objects (the whole image when none is found), all, image (default: objects).")
    var queryRegions: RegionSelection?

    @Option(help: "Database regions compared: all, objects, image (default: all).")
    var databaseRegions: RegionSelection?

    @Option(help: "Image score: max (the best region pair) or mean-of-max (each query region's best match, averaged) (default: max).")
    var scoring: ObjectScoring?

    var options: ObjectSearchOptions {
        let defaults = ObjectSearchOptions()
        return ObjectSearchOptions(scoring: scoring ?? defaults.scoring, queryRegions: queryRegions ?? defaults.queryRegions,
                                   databaseRegions: databaseRegions ?? defaults.databaseRegions)
    }

    /// The options given on the command line, by flag (for refusing them where they do not apply).
    var given: [String] {
        [queryRegions.map { _ in "--query-regions" }, databaseRegions.map { _ in "--database-regions" }, scoring.map { _ in "--scoring" }]
            .compactMap { $0 }
    }
}

extension RegionSelection: ExpressibleByArgument {}
extension IndexLayout: ExpressibleByArgument {}
extension ObjectScoring: ExpressibleByArgument {}

/// `--local-features` and its settings, shared by `index` and `eval splices`.
struct LocalFeatureCLIOptions: ParsableArguments {
    @Flag(help: "With --objects or --student: keep each image's local features too (RootSIFT, up to 5,000 per image at 640 px: about 340 KB per image), so that donors are verified with them (`loupe sources`, `eval splices`).")
    var localFeatures = false

    @Option(help: "With --local-features: at most this many features per image, the strongest first.")
    var featureCount: Int = LocalFeatureOptions().maximumCount

    @Option(help: "With --local-features: the longer side each image is shrunk to before its features are found.")
    var featureSize: Int = LocalFeatureOptions().maximumSide

    @Option(help: "With --local-features: the least contrast of a feature (grey values in [0, 1]; lower finds more features on plain surfaces).")
    var featureContrast: Float = LocalFeatureOptions().contrast

    /// The settings when local features were asked for; a usage error naming what is wrong.
    func settings() throws -> LocalFeatureOptions? {
        let options = LocalFeatureOptions(maximumCount: featureCount, maximumSide: featureSize, contrast: featureContrast)
        if !localFeatures {
            if options != LocalFeatureOptions() { throw ValidationError("--feature-count / --feature-size / --feature-contrast apply with --local-features") }
            return nil
        }
        guard options.problems.isEmpty else { throw ValidationError("--feature-count / --feature-size / --feature-contrast: " + options.problems.joined(separator: "; ")) }
        return options
    }
}

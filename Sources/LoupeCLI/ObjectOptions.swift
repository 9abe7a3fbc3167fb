import ArgumentParser
import Foundation
import Loupe

/// Object-embedding options shared by `index`, `search` and `eval`.
struct ObjectOptions: ParsableArguments {
    @Flag(help: "Object mode: keep each image as its whole-image vector plus one vector per object region.")
    var objects = false

    @Option(help: "How regions are embedded: roialign (RoIAlign 7×7 on the backbone's map, one pass), roialign:B, cells (the map cells a box covers), or teacher / teacher:SIZE (each box cropped and embedded on its own at longer side SIZE, default 512).")
    var objectMethod: String = "roialign"

    @Option(help: "At most this many detector boxes per image (class-agnostic NMS, best first).")
    var maxObjects: Int?

    @Option(help: "Minimum detector score for a box.")
    var objectThreshold: Float?

    @Option(help: "IoU above which overlapping boxes are suppressed.")
    var objectNms: Float?

    @Option(help: "The detector's letterbox size, a multiple of 32 (default 416, YOLOX-Nano's training size; larger finds smaller objects and gives a student finer features).")
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

    /// The proposal: command-line values over `stored` settings (an index's) over the defaults.
    func proposal(stored: [String: String] = [:]) -> RegionProposal {
        var p = RegionProposal(settings: stored)
        if let maxObjects { p.maximumObjects = maxObjects }
        if let objectThreshold { p.scoreThreshold = objectThreshold }
        if let objectNms { p.nmsThreshold = objectNms }
        if let detectorSize { p.inputSize = detectorSize }
        return p
    }

    func embedder(_ global: GlobalEmbedder, method: ObjectEmbedder.Method? = nil, stored: [String: String] = [:],
                  needsDetector: Bool = true) throws -> ObjectEmbedder {
        let proposal = proposal(stored: stored)
        var detector: YOLOX?
        var labels: [String] = []
        if needsDetector && proposal.maximumObjects > 0 {
            let url = try DetectorFiles.weights(detectorWeights)
            detector = try YOLOX(contentsOf: url)
            labels = DetectorFiles.labels(beside: url)
        }
        return try ObjectEmbedder(embedder: global, detector: detector, proposal: proposal, method: method ?? self.method(),
                                  labels: labels)
    }
}

extension ObjectOptions {
    /// The region embedder these options ask for: the student when `--student` is given (or an
    /// index recorded one), else hard attention / crop teacher over `global()`.
    func regionEmbedder(_ global: () throws -> GlobalEmbedder, stored: [String: String] = [:], method: ObjectEmbedder.Method? = nil,
                        needsDetector: Bool = true) throws -> any RegionEmbedder {
        if let headPath = student ?? stored["student-head"] {
            let url = try DetectorFiles.weights(detectorWeights)
            let head = URL(fileURLWithPath: headPath)
            // the proposal the head was trained with, under an index's stored one, under the command line
            let trained = try StudentEmbedder.trainedProposal(headFile: head).settings
            return try StudentEmbedder(detector: YOLOX(contentsOf: url), headFile: head,
                                       proposal: proposal(stored: trained.merging(stored) { $1 }), labels: DetectorFiles.labels(beside: url))
        }
        return try embedder(global(), method: method, stored: stored, needsDetector: needsDetector)
    }
}

/// How object searches compare regions (`search` and `eval`).
struct ObjectScoringOptions: ParsableArguments {
    @Option(help: "Query regions compared: objects (default; the whole image when none is found), all, image.")
    var queryRegions: RegionSelection = .objects

    @Option(help: "Database regions compared: all (default), objects, image.")
    var databaseRegions: RegionSelection = .all

    @Option(help: "Image score: max (best region pair) or mean-of-max (each query region's best match, averaged).")
    var scoring: ObjectScoring = .max

    var options: ObjectSearchOptions { ObjectSearchOptions(scoring: scoring, queryRegions: queryRegions, databaseRegions: databaseRegions) }
}

extension RegionSelection: ExpressibleByArgument {}
extension ObjectScoring: ExpressibleByArgument {}

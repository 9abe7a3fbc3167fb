public import Foundation

/// Anything that turns an image into its regions and their vectors: the hard-attention and
/// crop-teacher ``ObjectEmbedder`` and the distilled ``StudentEmbedder``.
public protocol RegionEmbedder: Sendable {
    /// What the vectors mean; an `ObjectIndex` records it and refuses other queries.
    var recipe: EmbeddingRecipe { get }
    /// How boxes are proposed (part of the recipe).
    var proposal: RegionProposal { get }
    /// The whitening every vector goes through, if any (the one `recipe.whitening` names).
    var whitening: Whitening? { get }
    /// Region 0 is the whole image, then `given` boxes, then (when `detect`) the detector's.
    func objects(in image: Image, given: [BoundingBox], detect: Bool, clock: inout StageClock) throws(EmbedderError) -> ImageObjects
}

extension RegionEmbedder {
    /// The regions of `image` — the whole image, the `given` boxes, then (when `detect`) the
    /// detector's — and their vectors.
    public func objects(in image: Image, given: [BoundingBox] = [], detect: Bool = true) throws(EmbedderError) -> ImageObjects {
        var clock = StageClock()
        return try objects(in: image, given: given, detect: detect, clock: &clock)
    }
}

extension ObjectEmbedder: RegionEmbedder {
    public var whitening: Whitening? { embedder.whitening }
}

/// Object embeddings from the detector alone (the paper's §3 student): one YOLOX pass gives the
/// boxes and the pyramid; each region's RoI features (MultiScaleRoIAlign on the head's stem maps)
/// go through a distilled `StudentHead` that outputs the teacher's embedding. No classifier pass.
public struct StudentEmbedder: Sendable {
    public let detector: YOLOX
    public let head: StudentHead
    public let proposal: RegionProposal
    public let labels: [String]
    /// The teacher's recipe with the mode `.student(head, proposal:)`.
    public let recipe: EmbeddingRecipe

    /// - Parameters:
    ///   - detector: the YOLOX whose stems the head reads.
    ///   - head: the trained head.
    ///   - teacherRecipe: the recipe of the vectors the head was trained to produce (stored in its file).
    ///   - headIdentity: the head's file name and checksum, for the recipe.
    ///   - proposal: how boxes are proposed.
    ///   - labels: detector class names, for the regions.
    public init(detector: YOLOX, head: StudentHead, teacherRecipe: EmbeddingRecipe, headIdentity: StudentHeadIdentity,
                proposal: RegionProposal = .init(), labels: [String] = []) throws(EmbedderError) {
        try proposal.validate()
        guard head.configuration.dimension == teacherRecipe.dimension else {
            throw .invalidOption("the head outputs \(head.configuration.dimension)-d vectors, its teacher \(teacherRecipe.dimension)-d")
        }
        let probe = detector.detectWithPyramid(Image(width: 64, height: 64, color: RGB(114, 114, 114)),
                                               options: DetectionOptions(inputSize: 64)).pyramid
        let channels = probe.pool([.whole(width: 64, height: 64)], bins: 1, using: head.configuration.features).shape[1]
        guard channels == head.configuration.inputChannels else {
            throw .invalidOption("the head reads \(head.configuration.inputChannels)-channel \(head.configuration.features.rawValue) features, this detector gives \(channels)")
        }
        (self.detector, self.head, self.proposal, self.labels) = (detector, head, proposal, labels)
        var recipe = teacherRecipe
        recipe.mode = .student(headIdentity, proposal: proposal)
        self.recipe = recipe
    }

    /// A head loaded from a file written by `loupe distill` (which records the teacher's recipe,
    /// the head's checksum and the proposal it was trained with); `proposal` defaults to that one.
    public init(detector: YOLOX, head: StudentHead, file: URL, metadata: [String: String], proposal: RegionProposal? = nil,
                labels: [String] = []) throws(EmbedderError) {
        guard let teacherJSON = metadata["teacher"] else { throw .invalidOption("\(file.path) does not record its teacher's recipe") }
        let teacher: EmbeddingRecipe
        do { teacher = try EmbeddingRecipe(json: teacherJSON, settings: metadata) } catch { throw .recipe(error) }
        let identity = StudentHeadIdentity(fileName: file.lastPathComponent, checksum: metadata["checksum"] ?? "unknown")
        let chosen: RegionProposal
        if let proposal { chosen = proposal } else { chosen = try Self.trainedProposal(metadata: metadata) }
        try self.init(detector: detector, head: head, teacherRecipe: teacher, headIdentity: identity, proposal: chosen, labels: labels)
    }

    /// Loads a head file written by `loupe distill`.
    public init(detector: YOLOX, headFile: URL, proposal: RegionProposal? = nil, labels: [String] = []) throws(EmbedderError) {
        let loaded: (head: StudentHead, metadata: [String: String])
        do { loaded = try StudentHead.load(contentsOf: headFile) } catch { throw .weights(.unreadable(file: headFile, underlying: error)) }
        try self.init(detector: detector, head: loaded.head, file: headFile, metadata: loaded.metadata, proposal: proposal, labels: labels)
    }

    /// The region proposal a head file's metadata records (`loupe distill` stores the one its
    /// pairs came from, detector size included; files before the typed recipe stored it as
    /// settings, whose missing keys keep `RegionProposal`'s defaults).
    public static func trainedProposal(metadata: [String: String]) throws(EmbedderError) -> RegionProposal {
        if let json = metadata["proposal"] {
            guard let proposal = try? JSONDecoder().decode(RegionProposal.self, from: Data(json.utf8)) else {
                throw .recipe(.malformed("the head's proposal: \(json)"))
            }
            return proposal
        }
        do { return try RegionProposal(legacySettings: metadata) } catch { throw .recipe(error) }
    }

    public func objects(in image: Image, given: [BoundingBox], detect: Bool, clock: inout StageClock) throws(EmbedderError) -> ImageObjects {
        let (regions, pyramid) = try Self.proposeRegions(image, detector: detector, proposal: proposal, labels: labels, given: given,
                                                         detect: detect, clock: &clock)
        let features = clock.measure("RoI features") {
            pyramid.pool(regions.map(\.box), bins: head.configuration.bins, using: head.configuration.features)
        }
        let vectors = clock.measure("student head") { head(features) }
        return ImageObjects(regions: regions, vectors: vectors)
    }

    /// One detector pass: the regions (whole image, given, detected) and the pyramid.
    package static func proposeRegions(_ image: Image, detector: YOLOX, proposal: RegionProposal, labels: [String], given: [BoundingBox],
                               detect: Bool, clock: inout StageClock) throws(EmbedderError) -> ([ObjectRegion], FeaturePyramid) {
        let (found, pyramid) = clock.measure("detector") { detector.detectWithPyramid(image, options: proposal.detectionOptions, labels: labels) }
        let regions = try proposal.regions(of: image, given: given, detections: detect ? found : [])
        return (regions, pyramid)
    }
}

extension StudentEmbedder: RegionEmbedder {
    /// The student outputs its teacher's unwhitened space; whitening is the caller's.
    public var whitening: Whitening? { nil }
}

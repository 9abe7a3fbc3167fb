internal import Foundation

extension RegionProposal {
    /// YOLOX settings for the proposal: class-agnostic, every box (``regions(of:given:detections:)`` cuts).
    public var detectionOptions: DetectionOptions {
        DetectionOptions(scoreThreshold: scoreThreshold, nmsThreshold: nmsThreshold, classAgnostic: true, maximumDetections: .max,
                         inputSize: inputSize)
    }

    /// The regions of `image`: the whole image, the `given` boxes clipped to it (an empty one
    /// throws), then the best `maximumObjects` detections whose shorter side reaches `minimumSide`.
    public func regions(of image: Image, given: [BoundingBox], detections: [Detection]) throws(EmbedderError) -> [ObjectRegion] {
        let (w, h) = (Float(image.width), Float(image.height))
        var out = [ObjectRegion(kind: .image, box: .whole(width: image.width, height: image.height))]
        for box in given {
            let clipped = box.clipped(width: w, height: h)
            guard clipped.isValid else { throw .invalidOption("box \(box) lies outside the \(image.width)×\(image.height) image") }
            out.append(ObjectRegion(kind: .given, box: clipped))
        }
        let kept = detections.filter { $0.box.isValid && min($0.box.width, $0.box.height) >= minimumSide }.prefix(maximumObjects)
        return out + kept.map { ObjectRegion(kind: .detected, box: $0.box, score: $0.score, label: $0.label) }
    }

    /// Throws ``EmbedderError/invalidOption(_:)`` naming the first of `problems`.
    public func validate() throws(EmbedderError) {
        if let problem = problems.first { throw .invalidOption(problem) }
    }
}

/// An image as the set of its regions and their vectors.
public struct ImageObjects: Sendable {
    /// Region 0 is the whole image; then the objects.
    public var regions: [ObjectRegion]
    /// `[regions.count, D]`, L2-normalised (whitened when the embedder whitens).
    public var vectors: Tensor
}

/// Object embeddings (the paper's §2): the image and each object region as its own vector.
///
/// - `ObjectMethod.hardAttention`: one backbone pass; each box is projected onto the classifier's
///   feature map (box pixels × resize factor / stride) and pooled there (RoIAlign then GeM by
///   default) — the detector's boxes as hard attention over the classifier.
/// - `ObjectMethod.cropTeacher(maxSize:)`: each box is cropped from the image, resized so its longer
///   side is `maxSize` and run through the classifier on its own: one backbone pass per object,
///   the most discriminative and most expensive variant, and the distillation teacher.
///
/// In both the whole image is region 0, embedded exactly as ``GlobalEmbedder`` does; all vectors
/// are L2-normalised, whitened with the embedder's whitening and normalised again.
public struct ObjectEmbedder: Sendable {
    /// How regions are embedded (`ObjectMethod`, LoupeRetrieval).
    public typealias Method = ObjectMethod

    /// The global pipeline: backbone, stage, pooling, size, whitening.
    public let embedder: GlobalEmbedder
    /// Proposes boxes; `nil` when only given boxes are used.
    public let detector: YOLOX?
    public let proposal: RegionProposal
    public let method: Method
    /// Detector class names (for the regions' labels).
    public let labels: [String]
    /// `embedder.recipe` with the mode `.objects(method, proposal:)`.
    public let recipe: EmbeddingRecipe
    /// Input pixels per map cell of the pooled stage.
    public var stride: Int { embedder.stride }
    private let teacher: GlobalEmbedder?

    public init(embedder: GlobalEmbedder, detector: YOLOX?, proposal: RegionProposal = .init(),
                method: Method = .hardAttention(.roiAlign(bins: 7)), labels: [String] = []) throws(EmbedderError) {
        try proposal.validate()
        (self.embedder, self.detector, self.proposal, self.method, self.labels) = (embedder, detector, proposal, method, labels)
        var recipe = embedder.recipe
        recipe.mode = .objects(method, proposal: proposal)
        self.recipe = recipe
        switch method {
        case let .hardAttention(.roiAlign(bins)):
            guard bins >= 1 else { throw .invalidOption("RoIAlign needs at least one bin") }
            teacher = nil
        case .hardAttention(.cells):
            teacher = nil
        case let .cropTeacher(maxSize):
            guard maxSize >= 32 else { throw .invalidOption("the crop teacher's size must be at least 32 pixels, got \(maxSize)") }
            teacher = try GlobalEmbedder(backbone: embedder.loaded, stage: embedder.stage, pooling: embedder.pooling, scales: embedder.scales,
                                         maxSize: maxSize, whitening: nil)
        }
    }

    /// The regions of `image`: the whole image, then the `given` boxes, then (if `detect` and there
    /// is a detector) the detector's boxes. Given boxes are clipped to the image; empty ones throw.
    public func regions(of image: Image, given: [BoundingBox] = [], detect: Bool = true) throws(EmbedderError) -> [ObjectRegion] {
        var clock = StageClock()
        return try regions(of: image, given: given, detect: detect, clock: &clock)
    }

    func regions(of image: Image, given: [BoundingBox], detect: Bool, clock: inout StageClock) throws(EmbedderError) -> [ObjectRegion] {
        var found: [Detection] = []
        if detect, let detector, proposal.maximumObjects > 0 {
            found = clock.measure("detector") { detector.detect(image, options: proposal.detectionOptions, labels: labels) }
        }
        return try proposal.regions(of: image, given: given, detections: found)
    }

    /// Embeds `image` as its regions (see ``regions(of:given:detect:)``) and their vectors.
    public func objects(in image: Image, given: [BoundingBox] = [], detect: Bool = true) throws(EmbedderError) -> ImageObjects {
        var clock = StageClock()
        return try objects(in: image, given: given, detect: detect, clock: &clock)
    }

    /// As ``objects(in:given:detect:)``, adding each stage's wall time to `clock`.
    public func objects(in image: Image, given: [BoundingBox] = [], detect: Bool = true,
                        clock: inout StageClock) throws(EmbedderError) -> ImageObjects {
        let regions = try regions(of: image, given: given, detect: detect, clock: &clock)
        return try embed(image, regions: regions, clock: &clock)
    }

    /// The backbone map of one image, kept so that a second set of boxes on the same image is
    /// pooled without running the network again (hard attention at one scale).
    public struct MapCache: Sendable {
        fileprivate var input: BackboneInput
        fileprivate var map: Tensor
    }

    /// As ``objects(in:given:detect:clock:)``, keeping the backbone's map in `cache` (and using
    /// the one there: it must be of this same image).
    public func objects(in image: Image, given: [BoundingBox], detect: Bool, cache: inout MapCache?,
                        clock: inout StageClock) throws(EmbedderError) -> ImageObjects {
        let regions = try regions(of: image, given: given, detect: detect, clock: &clock)
        return try embed(image, regions: regions, cache: &cache, clock: &clock)
    }

    /// Embeds given regions of `image` (region 0 must be the whole image's).
    public func embed(_ image: Image, regions: [ObjectRegion], clock: inout StageClock) throws(EmbedderError) -> ImageObjects {
        var cache: MapCache?
        return try embed(image, regions: regions, cache: &cache, clock: &clock)
    }

    /// The whole image and `boxes` of it shaped by a mask: each box is pooled over only the
    /// RoIAlign bins that lie mostly inside it (`inside(box, x, y)`: whether the point `x, y` of
    /// the image, in its pixels, belongs to box `box`'s object), so that what surrounds an
    /// irregular part (a pasted object's new background) does not enter its vector. Hard
    /// attention with RoIAlign at one scale only; other methods embed the whole boxes. The map in
    /// `cache` is used and kept, as in ``objects(in:given:detect:cache:clock:)``.
    public func objects(in image: Image, shaped boxes: [BoundingBox], inside: (Int, Float, Float) -> Bool, cache: inout MapCache?,
                        clock: inout StageClock) throws(EmbedderError) -> ImageObjects {
        let regions = try regions(of: image, given: boxes, detect: false, clock: &clock)
        guard case let .hardAttention(.roiAlign(bins)) = method, embedder.scales.count == 1 else {
            return try embed(image, regions: regions, cache: &cache, clock: &clock)
        }
        // a bin is kept when at least 5 of 9 points spread over it are inside
        let keep = regions.dropFirst().enumerated().map { part, region -> [Bool] in
            let b = region.box
            let (bw, bh) = (b.width / Float(bins), b.height / Float(bins))
            return (0..<(bins * bins)).map { cell in
                let (x0, y0) = (b.x0 + Float(cell % bins) * bw, b.y0 + Float(cell / bins) * bh)
                var hits = 0
                for sy in 0..<3 { for sx in 0..<3 where inside(part, x0 + (Float(sx) + 0.5) * bw / 3, y0 + (Float(sy) + 0.5) * bh / 3) { hits += 1 } }
                return hits >= 5
            }
        }
        return try embed(image, regions: regions, keep: keep, cache: &cache, clock: &clock)
    }

    func embed(_ image: Image, regions: [ObjectRegion], keep: [[Bool]]? = nil, cache: inout MapCache?,
               clock: inout StageClock) throws(EmbedderError) -> ImageObjects {
        guard regions.first?.kind == .image, regions.allSatisfy({ $0.box.isValid }) else {
            throw .invalidOption("regions must start with the whole image and hold non-empty boxes")
        }
        let objectBoxes = regions.dropFirst().map(\.box)
        var rows: Tensor
        switch method {
        case let .hardAttention(sampling):
            rows = hardAttention(image, boxes: Array(objectBoxes), sampling: sampling, keep: keep, cache: &cache, clock: &clock)
        case .cropTeacher:
            var parts = [embedder.unwhitenedEmbedding(of: image, clock: &clock)]
            for box in objectBoxes {
                let crop = clock.measure("crop") { image.teacherCrop(box) }
                parts.append(teacher!.unwhitenedEmbedding(of: crop, clock: &clock))
            }
            rows = Tensor.concatenated(parts, along: 0)
        }
        if let whitening = embedder.whitening {
            do { rows = try clock.measure("whitening") { () throws(WhiteningError) -> Tensor in try whitening.apply(rows) } }
            catch { throw .whitening(error) }
        }
        return ImageObjects(regions: regions, vectors: rows)
    }

    /// Row 0: the global embedding; then each box pooled on the same map. `[1 + boxes, C]`.
    private func hardAttention(_ image: Image, boxes: [BoundingBox], sampling: RegionSampling, keep: [[Bool]]?, cache: inout MapCache?,
                               clock: inout StageClock) -> Tensor {
        let backbone = embedder.backbone
        let side = max(32, Int((Float(embedder.maxSize) * embedder.scales[0]).rounded()))
        let input: BackboneInput, map: Tensor
        if let cache {
            (input, map) = (cache.input, cache.map)
        } else {
            input = clock.measure("resize + normalise") { BackboneInput(image, longerSide: side, for: backbone) }
            map = clock.measure("network") { backbone.featureMap(input.tensor, at: embedder.stage) }
            cache = MapCache(input: input, map: map)
        }
        // several scales: the global row is the embedder's own multi-scale vector (extra passes)
        let global = embedder.scales.count == 1
            ? clock.measure("pooling") { embedder.pooling(map).l2NormalizedRows() }
            : embedder.unwhitenedEmbedding(of: image, clock: &clock)
        guard !boxes.isEmpty else { return global }
        let scaled = input.scaled(boxes)
        let objects = clock.measure("region pooling") {
            if let keep, case let .roiAlign(bins) = sampling {
                embedder.pooling(map, boxes: scaled, spatialScale: 1 / Float(stride), bins: bins, keep: keep).l2NormalizedRows()
            } else {
                embedder.pooling(map, boxes: scaled, spatialScale: 1 / Float(stride), sampling: sampling).l2NormalizedRows()
            }
        }
        return Tensor.concatenated([global, objects], along: 0)
    }
}

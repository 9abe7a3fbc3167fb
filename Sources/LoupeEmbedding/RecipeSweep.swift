internal import Foundation

/// Many embedding recipes of one backbone from one pass: every requested stage tapped, every
/// requested pooling applied, globally and per region. The paper's analysis (layers × poolings ×
/// global / hard attention / crop teacher) needs the same image embedded dozens of ways; a
/// separate ``GlobalEmbedder`` per recipe would repeat the network pass for each.
///
/// Each vector equals what ``GlobalEmbedder`` (single scale, no whitening) or ``ObjectEmbedder``
/// (no whitening) make with the same stage, pooling and size; whitening is left to the caller,
/// who usually fits several dimensions on the same vectors.
public struct RecipeSweep: Sendable {
    /// One recipe of the sweep: a stage and a pooling.
    public struct Cell: Sendable, Hashable, CustomStringConvertible {
        public var stage: String
        public var pooling: GlobalPooling
        public init(stage: String, pooling: GlobalPooling) { (self.stage, self.pooling) = (stage, pooling) }
        /// `stage|pooling`, e.g. `features.18|gem`.
        public var description: String { "\(stage)|\(pooling)" }
    }

    public let backbone: any FeatureBackbone
    /// Resolved stage names, in the order given.
    public let stages: [String]
    public let poolings: [GlobalPooling]
    /// Longer side of the resized image for the global and hard-attention passes.
    public let maxSize: Int
    /// Longer side each crop is resized to by the crop teacher.
    public let teacherSize: Int
    /// How hard attention cuts a box out of a map.
    public let sampling: RegionSampling
    /// Input pixels per map cell of each stage (measured with a probe pass).
    public let strides: [String: Int]
    /// Channels of each stage.
    public let channels: [String: Int]

    /// Every stage × pooling pair, stages outermost.
    public var cells: [Cell] { stages.flatMap { s in poolings.map { Cell(stage: s, pooling: $0) } } }

    /// - Throws: an unknown stage (naming the known ones), no stage or pooling, a size below 32.
    public init(backbone: any FeatureBackbone, stages: [String], poolings: [GlobalPooling], maxSize: Int = 512,
                teacherSize: Int = 512, sampling: RegionSampling = .roiAlign(bins: 7)) throws(EmbedderError) {
        guard !stages.isEmpty, !poolings.isEmpty else { throw .invalidOption("a sweep needs at least one stage and one pooling") }
        guard maxSize >= 32, teacherSize >= 32 else { throw .invalidOption("image sizes must be at least 32 pixels") }
        var resolved: [String] = []
        for s in stages {
            guard let r = backbone.resolve(stage: s) else {
                throw .invalidOption(BackboneError.unknownStage(s, model: backbone.name, known: backbone.stageNames).description)
            }
            if !resolved.contains(r) { resolved.append(r) }
        }
        let probed = probe(backbone, stages: Set(resolved))
        (self.backbone, self.stages, self.poolings) = (backbone, resolved, poolings)
        (self.maxSize, self.teacherSize, self.sampling) = (maxSize, teacherSize, sampling)
        strides = probed.mapValues(\.stride)
        channels = probed.mapValues(\.channels)
    }

    /// The global vector of every cell: `[1, C]`, L2-normalised.
    public func global(_ image: Image) -> [Cell: Tensor] {
        pooled(image, side: maxSize, boxes: [])
    }

    /// Hard attention: row 0 the global vector, then each box (original image pixels) pooled on
    /// the same maps. `[1 + boxes.count, C]` per cell, rows L2-normalised.
    public func hardAttention(_ image: Image, boxes: [BoundingBox]) -> [Cell: Tensor] {
        pooled(image, side: maxSize, boxes: boxes)
    }

    /// The crop teacher: row 0 the global vector, then each box cropped (`Image.teacherCrop(_:)`)
    /// and embedded at ``teacherSize`` by its own pass. `[1 + boxes.count, C]` per cell.
    public func cropTeacher(_ image: Image, boxes: [BoundingBox]) -> [Cell: Tensor] {
        var parts = [global(image)]
        for box in boxes { parts.append(pooled(image.teacherCrop(box), side: teacherSize, boxes: [])) }
        var out: [Cell: Tensor] = [:]
        for cell in cells { out[cell] = Tensor.concatenated(parts.map { $0[cell]! }, along: 0) }
        return out
    }

    private func pooled(_ image: Image, side: Int, boxes: [BoundingBox]) -> [Cell: Tensor] {
        let input = BackboneInput(image, longerSide: side, for: backbone)
        let maps = backbone.features(input.tensor, at: Set(stages))
        let scaled = input.scaled(boxes)
        var out: [Cell: Tensor] = [:]
        for cell in cells {
            let map = maps[cell.stage]!
            let global = cell.pooling(map).l2NormalizedRows()
            if scaled.isEmpty { out[cell] = global; continue }
            let objects = cell.pooling(map, boxes: scaled, spatialScale: 1 / Float(strides[cell.stage]!), sampling: sampling)
            out[cell] = Tensor.concatenated([global, objects.l2NormalizedRows()], along: 0)
        }
        return out
    }
}

extension Image {
    /// The crop the crop teacher embeds for `box` (original image pixels): corners truncated to
    /// whole pixels, clamped to the image, at least one pixel wide and high.
    public func teacherCrop(_ box: BoundingBox) -> Image {
        let x0 = max(0, min(width - 1, Int(box.x0.rounded(.down))))
        let y0 = max(0, min(height - 1, Int(box.y0.rounded(.down))))
        let x1 = max(x0 + 1, min(width, Int(box.x1.rounded(.down))))
        let y1 = max(y0 + 1, min(height, Int(box.y1.rounded(.down))))
        return cropped(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }
}

import Foundation
import Loupe
import Testing

/// One sweep pass must give, for every stage × pooling, the vectors the single-recipe embedders
/// give: the analysis grid's numbers are then the numbers `loupe eval` reports.
@Suite(.serialized) struct RecipeSweepTests {
    let backbone: LoadedBackbone
    let checksum: String

    init() throws {
        backbone = try WeightStore.backbone(.classifier(.mobileNetV2), file: mobilenet)
        checksum = backbone.checksum
    }

    func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        #expect(a.shape == b.shape)
        return zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    @Test func everyCellEqualsItsOwnEmbedder() throws {
        let image = try Image(contentsOf: darknet.appendingPathComponent("person.jpg"))
        let boxes = [BoundingBox(x0: 180, y0: 90, x1: 330, y1: 380), BoundingBox(x0: 400.5, y0: 100.2, x1: 590.7, y1: 350.9)]
        let poolings: [GlobalPooling] = [.mac, .spoc, .gem(p: 3), .rmac(levels: 3)]
        let sweep = try RecipeSweep(backbone: backbone.network, stages: ["features.13", "last"], poolings: poolings,
                                    maxSize: 320, teacherSize: 224)
        #expect(sweep.stages == ["features.13", "features.18"] && sweep.cells.count == 8)
        #expect(sweep.strides == ["features.13": 16, "features.18": 32] && sweep.channels["features.13"] == 96)
        let global = sweep.global(image), attention = sweep.hardAttention(image, boxes: boxes)
        let teacher = sweep.cropTeacher(image, boxes: boxes)
        for cell in sweep.cells {
            let embedder = try GlobalEmbedder(backbone: backbone, stage: cell.stage,
                                              pooling: cell.pooling, maxSize: 320)
            #expect(maxDifference(global[cell]!, try embedder.embedding(of: image)) < 1e-6, "global \(cell)")
            let regions = [ObjectRegion(kind: .image, box: .whole(width: image.width, height: image.height))]
                + boxes.map { ObjectRegion(kind: .given, box: $0) }
            var clock = StageClock()
            let a = try ObjectEmbedder(embedder: embedder, detector: nil).embed(image, regions: regions, clock: &clock)
            #expect(maxDifference(attention[cell]!, a.vectors) < 1e-6, "attention \(cell)")
            let t = try ObjectEmbedder(embedder: embedder, detector: nil, method: .cropTeacher(maxSize: 224))
                .embed(image, regions: regions, clock: &clock)
            #expect(maxDifference(teacher[cell]!, t.vectors) < 1e-6, "teacher \(cell)")
        }
        #expect(throws: EmbedderError.self) { try RecipeSweep(backbone: backbone.network, stages: ["conv9"], poolings: poolings) }
        #expect(throws: EmbedderError.self) { try RecipeSweep(backbone: backbone.network, stages: ["last"], poolings: []) }
    }
}

import Foundation
import Loupe
import Testing

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let shared = root.deletingLastPathComponent().appendingPathComponent("shared/data")
let mobilenet = root.appendingPathComponent(".cache/models/mobilenet_v2.safetensors")

@Suite(.serialized) struct EmbedderTests {
    @Test func embeddingsAreUnitVectorsAndRecipesTrackOptions() throws {
        let backbone = try WeightStore.backbone(.classifier(.mobileNetV2), file: mobilenet)
        let image = try Image(contentsOf: root.appendingPathComponent(".cache/darknet/data/dog.jpg"))
        let single = try GlobalEmbedder(backbone: backbone, maxSize: 256)
        let multi = try GlobalEmbedder(backbone: backbone, scales: [1, 0.707], maxSize: 256)
        for e in [single, multi] {
            let v = try e.embedding(of: image)
            #expect(v.shape == [1, 1280])
            #expect(abs(v.scalars.reduce(0) { $0 + $1 * $1 } - 1) < 1e-4)
        }
        #expect(single.recipe != multi.recipe && single.recipe.weightsChecksum == backbone.checksum)
        #expect(throws: EmbedderError.self) { try GlobalEmbedder(backbone: backbone, stage: "features.99") }
        // a whitening learned for other descriptors is refused
        let w = try Whitening.pca(fitting: Tensor(randomUniform: [2000, 1280], seed: 1), dimension: 8, recipe: multi.recipe.json)
        #expect(throws: EmbedderError.self) { try GlobalEmbedder(backbone: backbone, maxSize: 256, whitening: w) }
    }

    /// The whole pipeline on real data lands on the independent prototype's number
    /// (REFERENCE.md: MobileNetV2, GeM, longer side 512, smvs-dvd canon mAP 0.447, trapezoid 0.393).
    @Test func smvsCanonMatchesTheReferencePrototype() throws {
        let backbone = try WeightStore.backbone(.classifier(.mobileNetV2), file: mobilenet)
        let embedder = try GlobalEmbedder(backbone: backbone, pooling: .gem(p: 3), maxSize: 512)
        var dataset = try RetrievalDataset.smvs(shared.appendingPathComponent("smvs-dvd"))
        dataset.queries = dataset.queries.filter { $0.group == "canon" }
        let report = try evaluate(dataset, with: embedder)
        #expect(abs(report.overall.meanAP - 0.447) <= 0.01, "mAP \(report.overall.meanAP)")
        #expect(abs(report.overall.meanTrapezoidAP - 0.393) <= 0.01, "trapezoid mAP \(report.overall.meanTrapezoidAP)")
        #expect(abs((report.overall.recall(at: 1) ?? 0) - 0.34) <= 0.02)
    }
}

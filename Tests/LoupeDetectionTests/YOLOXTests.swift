import Foundation
import LoupeDetection
import LoupeImage
import LoupeModels
import LoupeTensor
import Testing

let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let sharedModels = repo.deletingLastPathComponent().appendingPathComponent("shared/models")
let fixtureFolder = repo.appendingPathComponent(".cache/fixtures/models")

@Suite(.serialized) struct YOLOXTests {
    let model: YOLOX
    init() throws { model = try YOLOX(contentsOf: sharedModels.appendingPathComponent("yolox_nano_coco.safetensors")) }

    /// The raw 1×3549×85 output agrees with ONNX Runtime running the original yolox_nano.onnx.
    @Test(arguments: ["dog", "person", "giraffe"])
    func rawOutputMatchesONNXRuntime(image: String) throws {
        let file = try SafetensorsFile(contentsOf: fixtureFolder.appendingPathComponent("yolox_nano_\(image).safetensors"))
        let out = model(try file.tensor(named: "input"))
        let reference = try file.tensor(named: "output")
        #expect(out.shape == [1, 3549, 85])
        var worst: Float = 0
        out.withUnsafeBufferPointer { a in reference.withUnsafeBufferPointer { b in for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i])) } } }
        #expect(worst <= 1e-3, "\(image): max |Δ| \(worst)")
    }

    /// Boxes decoded from Loupe's output match those decoded (by the same decoder) from ONNX
    /// Runtime's output: same classes, IoU ≥ 0.99.
    @Test(arguments: ["dog", "person", "giraffe"])
    func decodedBoxesMatchONNXRuntime(image: String) throws {
        let file = try SafetensorsFile(contentsOf: fixtureFolder.appendingPathComponent("yolox_nano_\(image).safetensors"))
        let photo = try Image(contentsOf: repo.appendingPathComponent(".cache/darknet/data/\(image).jpg"))
        let scale = try file.tensor(named: "scale").scalars[0]
        func decode(_ raw: Tensor) -> [Detection] {
            YOLOX.decode(raw, inputSize: 416, scale: scale, imageWidth: photo.width, imageHeight: photo.height, options: .init())
        }
        let mine = decode(model(try file.tensor(named: "input"))), theirs = decode(try file.tensor(named: "output"))
        #expect(mine.count == theirs.count && !mine.isEmpty)
        for (a, b) in zip(mine, theirs) {
            #expect(a.classIndex == b.classIndex)
            #expect(a.box.intersectionOverUnion(b.box) >= 0.99, "\(a.box) vs \(b.box)")
        }
    }

    /// Real detections on the darknet samples (the shared models README's sanity list).
    @Test(arguments: [("dog", ["dog", "bicycle"]), ("person", ["person", "dog", "horse"]), ("giraffe", ["giraffe", "zebra"])])
    func detectsTheKnownObjects(image: String, expected: [String]) throws {
        let labels = try readLabels(sharedModels.appendingPathComponent("coco.names"))
        let photo = try Image(contentsOf: repo.appendingPathComponent(".cache/darknet/data/\(image).jpg"))
        let found = Set(model.detect(photo, labels: labels).map(\.label))
        for name in expected { #expect(found.contains(name), "\(image): found \(found)") }
        if image == "dog" { #expect(found.contains("car") || found.contains("truck"), "\(found)") }
    }

    @Test func nmsFollowsTorchvision() {
        let boxes = [BoundingBox(x0: 0, y0: 0, x1: 10, y1: 10), BoundingBox(x0: 1, y0: 1, x1: 11, y1: 11),
                     BoundingBox(x0: 20, y0: 20, x1: 30, y1: 30), BoundingBox(x0: 0, y0: 0, x1: 10, y1: 10)]
        // IoU(0, 1) = 81 / 119 ≈ 0.68; box 3 duplicates box 0 with an equal score: lower index wins
        #expect(abs(boxes[0].intersectionOverUnion(boxes[1]) - 81.0 / 119) < 1e-6)
        #expect(nonMaximumSuppression(boxes, scores: [0.9, 0.8, 0.7, 0.9], iouThreshold: 0.5) == [0, 2])
        #expect(nonMaximumSuppression(boxes, scores: [0.9, 0.8, 0.7, 0.9], iouThreshold: 0.7) == [0, 1, 2])
        #expect(batchedNonMaximumSuppression(boxes, scores: [0.9, 0.8, 0.7, 0.6], classes: [0, 1, 0, 0], iouThreshold: 0.5) == [0, 1, 2])
        #expect(BoundingBox(x0: 5, y0: 5, x1: 5, y1: 9).intersectionOverUnion(BoundingBox(x0: 5, y0: 5, x1: 5, y1: 9)) == 0)
    }
}

@Suite struct MultiScaleRoIAlignTests {
    @Test func levelRuleOfFPN() {
        let pooler = MultiScaleRoIAlign(strides: [8, 16, 32])
        func box(_ side: Float) -> BoundingBox { BoundingBox(x0: 10, y0: 10, x1: 10 + side, y1: 10 + side) }
        // k = ⌊4 + log2(side / 224)⌋ clamped to 3...5; levels 3, 4, 5 are strides 8, 16, 32
        for (side, index) in [(50, 0), (111, 0), (223, 0), (224, 1), (447, 1), (448, 2), (1000, 2)] as [(Float, Int)] {
            #expect(pooler.level(for: box(side)) == index, "side \(side)")
        }
    }

    @Test func poolsEachBoxOnItsLevel() {
        let maps = [Tensor(randomUniform: [1, 4, 52, 52], seed: 1), Tensor(randomUniform: [1, 4, 26, 26], seed: 2),
                    Tensor(randomUniform: [1, 4, 13, 13], seed: 3)]
        let pooler = MultiScaleRoIAlign(strides: [8, 16, 32], outputSize: 7, samplingRatio: 2)
        let boxes = [BoundingBox(x0: 5, y0: 7, x1: 90, y1: 60), BoundingBox(x0: 0, y0: 0, x1: 400, y1: 300),
                     BoundingBox(x0: 30, y0: 40, x1: 290, y1: 330)]
        let pooled = pooler(maps, boxes: boxes)
        #expect(pooled.shape == [3, 4, 7, 7])
        for (i, b) in boxes.enumerated() {
            let l = pooler.level(for: b)
            let direct = roiAlign(maps[l], boxes: [(0, b.x0, b.y0, b.x1, b.y1)], outputSize: 7,
                                  spatialScale: 1 / Float(pooler.strides[l]), samplingRatio: 2, aligned: false)
            #expect(pooled.sliced(along: 0, i..<(i + 1)) == direct)
        }
    }

    /// The all-levels pyramid features of a box are RoIAlign of the same letterboxed pass's
    /// PAFPN (or CSPDarknet) maps at each stride, concatenated: 64 + 128 + 256 channels for nano.
    @Test func allLevelFeaturesAreTheLevelsRoIAlignedAndConcatenated() throws {
        let model = try YOLOX(contentsOf: sharedModels.appendingPathComponent("yolox_nano_coco.safetensors"))
        let image = try Image(contentsOf: repo.appendingPathComponent(".cache/darknet/data/dog.jpg"))
        let (_, pyramid) = model.detectWithPyramid(image, options: DetectionOptions(inputSize: 416))
        let maps = model.features(image.letterboxed(size: 416).image.tensor(.bgr255))
        let box = BoundingBox(x0: 120, y0: 200, x1: 330, y1: 540)
        let scaled = box.scaled(by: pyramid.scale)
        for (pooling, names) in [(FeaturePyramid.Pooling.pafpnAllLevels, ["pan3", "pan4", "pan5"]),
                                 (.backboneAllLevels, ["dark3", "dark4", "dark5"])] {
            let pooled = pyramid.pool([box], bins: 3, using: pooling)
            #expect(pooled.shape == [1, 448, 3, 3])
            let byHand = Tensor.concatenated(zip(names, YOLOX.strides).map { name, stride in
                roiAlign(maps[name]!, boxes: [(0, scaled.x0, scaled.y0, scaled.x1, scaled.y1)], outputSize: 3,
                         spatialScale: 1 / Float(stride), samplingRatio: 2, aligned: false)
            }, along: 1)
            #expect(pooled == byHand, "\(pooling.rawValue)")
        }
    }
}

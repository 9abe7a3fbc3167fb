import Foundation
import LoupeImage
import LoupeModels
import LoupeTensor
import Testing

let modelFixtures = repositoryRoot.appendingPathComponent(".cache/fixtures/models")
let modelsFolder = repositoryRoot.appendingPathComponent(".cache/models")
let darknet = repositoryRoot.appendingPathComponent(".cache/darknet/data")

/// max |a − b| / max |b|: the parity measure of the issue (relative to the largest reference value).
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
    var worst: Float = 0, scale: Float = 0
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in
        for i in 0..<x.count { worst = max(worst, abs(x[i] - y[i])); scale = max(scale, abs(y[i])) }
    } }
    return worst / max(scale, 1e-12)
}

@Suite struct BackboneTests {
    /// Logits and intermediate maps agree with ONNX Runtime running a graph built independently
    /// (Scripts/onnx_reference.py, BatchNorm unfolded, SAME as SAME_UPPER) from the same weights.
    @Test(arguments: [
        ("mobilenet_v2", "mobilenet_v2.safetensors"), ("efficientnet_lite0", "efficientnet_lite0.safetensors"),
        ("resnet50", "../fixtures/models/resnet50_random.safetensors"),
    ])
    func matchesONNXRuntime(model: String, weights: String) throws {
        let kind = try #require(BackboneKind(rawValue: model))
        let network = try kind.load(from: modelsFolder.appendingPathComponent(weights))
        for size in ["224x224", "384x512"] {
            let file = try SafetensorsFile(contentsOf: modelFixtures.appendingPathComponent("\(model)_\(size).safetensors"))
            let input = try file.tensor(named: "input")
            let logits = network(input)
            let reference = try file.tensor(named: "logits")
            let error = relativeError(logits, reference)
            #expect(error <= 1e-3, "\(model) \(size): logits relative error \(error)")
            let taps = Set(file.names.filter { $0 != "input" && $0 != "logits" })
            #expect(!taps.isEmpty)
            let maps = network.features(input, at: taps)
            for tap in taps {
                let mine = try #require(maps[tap], "\(tap)")
                let theirs = try file.tensor(named: tap)
                #expect(mine.shape == theirs.shape, "\(model) \(size) \(tap)")
                if mine.shape == theirs.shape {
                    let e = relativeError(mine, theirs)
                    #expect(e <= 1e-3, "\(model) \(size) \(tap): relative error \(e)")
                }
            }
        }
    }

    /// Real predictions on the darknet sample images (MODELS.md's checked predictions).
    @Test(arguments: [
        ("mobilenet_v2", "dog.jpg", 249), ("mobilenet_v2", "eagle.jpg", 22), ("efficientnet_lite0", "dog.jpg", 235),
        ("mobilenet_v2", "giraffe.jpg", 340), ("efficientnet_lite0", "giraffe.jpg", 340),
    ])
    func predictsTheKnownClass(model: String, image: String, expected: Int) throws {
        let network = try #require(BackboneKind(rawValue: model)).load(from: modelsFolder.appendingPathComponent("\(model).safetensors"))
        let labels = try ImageNetLabels(darknetData: darknet)
        let photo = try Image(contentsOf: darknet.appendingPathComponent(image))
        let top = network.classify(network.classificationInput(photo), top: 3, labels: labels)[0]
        #expect(top[0].classIndex == expected, "\(model) on \(image): \(top)")
    }

    @Test func labelsFollowTorchvisionOrder() throws {
        let labels = try ImageNetLabels(darknetData: darknet)
        #expect(labels.names.count == 1000)
        #expect(labels.wordNetIDs.first == "n01440764" && labels.wordNetIDs.last == "n15075141")
        #expect(labels.name(of: 249).contains("malamute"))
        #expect(labels.name(of: 22).contains("eagle"))
    }

    @Test func wrongCheckpointIsReportedKeyByKey() throws {
        let state = try StateDict(contentsOf: modelsFolder.appendingPathComponent("mobilenet_v2.safetensors"))
        #expect(throws: WeightLoadingError.self) { try BackboneKind.efficientNetLite0.load(state) }
        do { _ = try BackboneKind.resnet50.load(state) } catch {
            #expect(error.missing.contains("conv1.weight") && error.unexpected.contains("features.0.0.weight"))
        }
    }

    @Test func stagesAndAliases() throws {
        let network = try BackboneKind.resnet50.load(from: modelFixtures.appendingPathComponent("resnet50_random.safetensors"))
        let x = Tensor(randomUniform: [1, 3, 64, 96], seed: 3)
        let maps = network.features(x, at: ["conv4_x", "layer4"])
        #expect(maps["conv4_x"]?.shape == [1, 1024, 4, 6])
        #expect(maps["layer4"]?.shape == [1, 2048, 2, 3])
        #expect(throws: BackboneError.self) { try network.validate(stage: "layer9") }
    }
}

import Foundation
import LoupeModels
import LoupeTensor
import Testing

/// The repository root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite struct StateDictTests {
    @Test func readerReportsEveryProblemAtOnce() {
        let dict = StateDict([
            "conv.weight": Tensor(zeros: [8, 3, 3, 3]),
            "conv.bias": Tensor(zeros: [8]),
            "bn.weight": Tensor(zeros: [7]),
            "extra.weight": Tensor(zeros: [1]),
            "head.weight": Tensor(zeros: [10, 8]),
        ])
        var reader = WeightReader(dict)
        _ = reader.take("conv.weight", shape: [8, 3, 3, 3])
        _ = reader.take("conv.bias", shape: [8])
        _ = reader.take("bn.weight", shape: [8])
        _ = reader.take("bn.bias", shape: [8])
        reader.ignore { $0.hasPrefix("head.") }
        #expect(throws: WeightLoadingError(
            missing: ["bn.bias"], unexpected: ["extra.weight"],
            misshaped: [.init(name: "bn.weight", expected: [8], found: [7])])) { try reader.finish() }
        do { try reader.finish() } catch {
            #expect(error.description.contains("bn.bias") && error.description.contains("extra.weight") && error.description.contains("[7]"))
        }
    }

    @Test func renameRulesAreData() {
        let dict = StateDict(["module.features.0.weight": Tensor(zeros: [1]), "module.fc.weight": Tensor(zeros: [2])])
        let renamed = dict.renamed([.prefix("module.", ""), .substring("fc", "classifier.1")])
        #expect(renamed.names == ["classifier.1.weight", "features.0.weight"])
    }

    /// The converted ImageNet backbones (Scripts/loupe_weights.py fetch, run by the set-up) hold
    /// exactly the checkpoints' tensors: names, shapes and sums against the manifest the converter
    /// computed straight from the PyTorch checkpoint.
    @Test(arguments: [("mobilenet_v2", 262), ("efficientnet_lite0", 247), ("efficientnet_lite2", 322)])
    func convertedBackbonesMatchTheirCheckpoints(name: String, count: Int) throws {
        let models = repositoryRoot.appendingPathComponent(".cache/models")
        let url = models.appendingPathComponent("\(name).safetensors")
        let manifestURL = models.appendingPathComponent("\(name).manifest.json")
        guard FileManager.default.fileExists(atPath: url.path) else {
            Issue.record("\(url.path) is missing: run Scripts/setup.sh (it converts the backbones)")
            return
        }
        let dict = try StateDict(contentsOf: url)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: [Any]]
        #expect(dict.names.count == count)
        #expect(Set(dict.names) == Set(manifest.keys))
        for (key, entry) in manifest {
            let shape = (entry[0] as! [Any]).map { ($0 as! NSNumber).intValue }
            let sum = (entry[1] as! NSNumber).doubleValue
            guard let t = dict[key] else { continue }
            #expect(t.shape == shape, "\(key)")
            let mine = t.scalars.reduce(0.0) { $0 + Double($1) }
            #expect(abs(mine - sum) <= 1e-6 * max(1, abs(sum)) + 1e-3, "\(key): sum \(mine) vs \(sum)")
        }
        let file = try SafetensorsFile(contentsOf: url)
        #expect(file.metadata["format"] == "pt")
    }
}

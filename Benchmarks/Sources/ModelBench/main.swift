// Whole-network latency of a Loupe backbone, for Benchmarks/models_vs_ort.py (which runs ONNX
// Runtime on a graph built from the same weights, alternating with this binary).
//
//   loupe-model-bench --model mobilenet_v2 --weights W.safetensors [--height 224 --width 224]
//                     [--threads N] [--runs R]
// Prints one JSON line: median and minimum milliseconds of R forward passes after a warm-up.
import Foundation
import LoupeDetection
import LoupeModels
import LoupeTensor

var model = "mobilenet_v2", weights = "", height = 224, width = 224, runs = 10, stages = false
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--model": model = args.popFirst() ?? model
    case "--weights": weights = args.popFirst() ?? weights
    case "--height": height = Int(args.popFirst() ?? "") ?? height
    case "--width": width = Int(args.popFirst() ?? "") ?? width
    case "--threads": ComputeThreads.count = Int(args.popFirst() ?? "") ?? ComputeThreads.count
    case "--runs": runs = Int(args.popFirst() ?? "") ?? runs
    case "--stages": stages = true
    default:
        FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
        exit(2)
    }
}
let input = Tensor(randomUniform: [1, 3, height, width], seed: 1)
let run: () -> Tensor
var stageNames: [String] = []
var stageRun: (String) -> Void = { _ in }
if model.hasPrefix("yolox_"), let size = YOLOX.Size(rawValue: String(model.dropFirst(6))) {
    let yolo = try YOLOX(contentsOf: URL(fileURLWithPath: weights), size: size)
    run = { yolo(input) }
} else {
    guard let kind = BackboneKind(rawValue: model) else { fatalError("unknown model \(model)") }
    let network = try kind.load(from: URL(fileURLWithPath: weights))
    run = { network(input) }
    stageNames = network.stageNames
    stageRun = { _ = network.features(input, at: [$0]) }
}
for _ in 0..<2 { _ = run() }
var samples: [Double] = []
for _ in 0..<runs {
    let t0 = DispatchTime.now().uptimeNanoseconds
    _ = run()
    samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
}
samples.sort()
if stages {
    // where the time goes: the median time to run up to each stage, and its increment
    var previous = 0.0
    for name in stageNames {
        var t: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            stageRun(name)
            t.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
        }
        t.sort()
        let cumulative = t[t.count / 2]
        FileHandle.standardError.write(Data(String(format: "%-14@ %8.3f ms  (+%.3f)\n", name, cumulative, cumulative - previous).utf8))
        previous = cumulative
    }
}
print("{\"model\": \"\(model)\", \"median_ms\": \(samples[samples.count / 2]), \"min_ms\": \(samples[0]), \"threads\": \(ComputeThreads.count)}")

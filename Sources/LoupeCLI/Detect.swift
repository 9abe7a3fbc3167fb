import ArgumentParser
import Foundation
import Loupe
import LoupeDetection

struct Detect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect COCO objects with YOLOX.",
        discussion: """
        Weights: yolox_nano_coco.safetensors (YOLOX module names, BatchNorm folded), looked up in \
        ../shared/models, .cache/models, or given with --weights; labels from coco.names beside it.

        Example: loupe detect .cache/darknet/data/dog.jpg --draw boxes.png
        """)

    @Argument(help: "PNG or JPEG files.")
    var images: [String]

    @Option(help: "Minimum detector score (objectness × class probability).")
    var objectThreshold: Float = 0.3

    @Option(help: "IoU above which overlapping boxes of a class are suppressed.")
    var objectNms: Float = 0.45

    @Flag(help: "Suppress overlapping boxes across classes too.")
    var classAgnostic = false

    @Option(help: "YOLOX variant of the weights: nano, tiny, s, m, l, x.")
    var detector: String = "nano"

    @Option(help: "The detector's letterbox size, a multiple of 32 (YOLOX-Nano was trained at 416).")
    var detectorSize: Int = 416

    @Option(name: .customLong("threshold"), help: .hidden) var thresholdAlias: Float?
    @Option(name: .customLong("nms"), help: .hidden) var nmsAlias: Float?
    @Option(name: .customLong("size"), help: .hidden) var sizeAlias: String?

    @Option(help: "YOLOX safetensors weights.")
    var weights: String?

    @Option(help: "Write the (first) image with its boxes drawn as PNG; with several images, one file per image (NAME-1.png, …).")
    var draw: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var force: ForceOption
    @OptionGroup var compute: ComputeOptions

    struct Output: Codable { var image: String; var detections: [Detection] }

    func run() async throws {
        try compute.apply()
        let variantName = sizeAlias ?? detector
        guard let variant = YOLOX.Size(rawValue: variantName) else {
            throw ValidationError("--detector must be one of \(YOLOXVariant.allCases.map(\.rawValue).joined(separator: ", ")), got '\(variantName)'")
        }
        let threshold = thresholdAlias ?? objectThreshold, nms = nmsAlias ?? objectNms
        guard (0...1).contains(threshold), (0...1).contains(nms) else { throw ValidationError("--object-threshold and --object-nms must be in 0...1") }
        guard detectorSize >= 32, detectorSize % 32 == 0 else { throw ValidationError("--detector-size must be a multiple of 32, got \(detectorSize)") }
        if let draw {
            let inputs = images.map { URL(fileURLWithPath: $0) }
            for i in images.indices { try OutputCheck.check(OutputCheck.numbered(draw, i, of: images.count), option: "--draw", replacing: .png, inputs: inputs, force: force.force) }
        }
        var store = WeightStore.cli()
        if let weights { store.paths[ModelIdentifier.yolox(variant).name] = URL(fileURLWithPath: weights) }
        let model = try store.detector(variant)
        let labels = store.detectorLabels(variant)
        let options = DetectionOptions(scoreThreshold: threshold, nmsThreshold: nms, classAgnostic: classAgnostic, inputSize: detectorSize)
        let (outputs, failure) = forEachInput(images) { i, path in
            let image = try Image(contentsOf: URL(fileURLWithPath: path))
            let found = model.detect(image, options: options, labels: labels)
            if let draw {
                let target = OutputCheck.numbered(draw, i, of: images.count)
                try drawBoxes(found, on: image).writePNG(to: URL(fileURLWithPath: target))
                printError("boxes → \(target)")
            }
            return Output(image: path, detections: found)
        }
        if json { try printJSON(outputs) } else {
            for o in outputs {
                print(o.image)
                for d in o.detections {
                    print("  " + d.label.padding(toLength: 14, withPad: " ", startingAt: 0)
                          + String(format: " %.2f  [%.0f, %.0f, %.0f, %.0f]", d.score, d.box.x0, d.box.y0, d.box.x1, d.box.y1))
                }
            }
        }
        if let failure { throw failure }
    }
}

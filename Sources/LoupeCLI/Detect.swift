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

    @Option(help: "Minimum objectness × class probability.")
    var threshold: Float = 0.3

    @Option(help: "NMS IoU threshold.")
    var nms: Float = 0.45

    @Flag(help: "Suppress overlapping boxes across classes too.")
    var classAgnostic = false

    @Option(help: "YOLOX size of the weights: nano, tiny, s, m, l, x.")
    var size: String = "nano"

    @Option(help: "YOLOX safetensors weights.")
    var weights: String?

    @Option(help: "Write the (first) image with its boxes drawn as PNG; with several images, one file per image (NAME-1.png, …).")
    var draw: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    struct Output: Codable { var image: String; var detections: [Detection] }

    func run() async throws {
        try compute.apply()
        guard let yoloSize = YOLOX.Size(rawValue: size) else { throw ValidationError("--size must be one of nano, tiny, s, m, l, x") }
        guard (0...1).contains(threshold), (0...1).contains(nms) else { throw ValidationError("--threshold and --nms must be in 0...1") }
        if let draw {
            let inputs = images.map { URL(fileURLWithPath: $0) }
            for (i, _) in images.enumerated() {
                let target = images.count == 1 ? draw : draw.replacingOccurrences(of: ".png", with: "-\(i + 1).png")
                try OutputCheck.check(target, option: "--draw", replacing: .png, inputs: inputs)
            }
        }
        let weightsURL = try DetectorFiles.weights(weights)
        let model = try YOLOX(contentsOf: weightsURL, size: yoloSize)
        let labels = DetectorFiles.labels(beside: weightsURL)
        let options = DetectionOptions(scoreThreshold: threshold, nmsThreshold: nms, classAgnostic: classAgnostic)
        var outputs: [Output] = []
        var failed = false
        for (i, path) in images.enumerated() {
            do {
                let image = try Image(contentsOf: URL(fileURLWithPath: path))
                let found = model.detect(image, options: options, labels: labels)
                outputs.append(Output(image: path, detections: found))
                if let draw {
                    let target = images.count == 1 ? draw : draw.replacingOccurrences(of: ".png", with: "-\(i + 1).png")
                    try drawBoxes(found, on: image).writePNG(to: URL(fileURLWithPath: target))
                    printError("boxes → \(target)")
                }
            } catch {
                printError("\(path): \(error)")
                failed = true
            }
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
        if failed { throw ExitCode(1) }
    }
}

/// Boxes drawn in a colour per class (a fixed palette, so a class keeps its colour across images).
func drawBoxes(_ detections: [Detection], on image: Image) -> Image {
    let palette = [RGB(230, 25, 75), RGB(60, 180, 75), RGB(255, 225, 25), RGB(0, 130, 200), RGB(245, 130, 48),
                   RGB(145, 30, 180), RGB(70, 240, 240), RGB(240, 50, 230), RGB(210, 245, 60), RGB(250, 190, 212)]
    var out = image
    let thickness = max(2, min(image.width, image.height) / 200)
    for d in detections {
        out.drawRectangle(x0: Int(d.box.x0), y0: Int(d.box.y0), x1: Int(d.box.x1.rounded(.up)), y1: Int(d.box.y1.rounded(.up)),
                          color: palette[d.classIndex % palette.count], thickness: thickness)
    }
    return out
}

enum DetectorFiles {
    /// The YOLOX weights: the given path, or yolox_nano_coco.safetensors in the shared models
    /// folder beside the checkout, or in the cache.
    static func weights(_ given: String?) throws -> URL {
        if let given { return URL(fileURLWithPath: given) }
        let name = "yolox_nano_coco.safetensors"
        let candidates = Cache.candidates.map { $0.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/models/\(name)") }
            + Cache.candidates.map { $0.appendingPathComponent("models/\(name)") }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            throw ValidationError("no \(name) found (looked in ../shared/models and .cache/models); pass --weights")
        }
        return found
    }

    /// COCO class names: coco.names beside the weights, else the darknet package's copy.
    static func labels(beside weights: URL) -> [String] {
        (try? readLabels(weights.deletingLastPathComponent().appendingPathComponent("coco.names")))
            ?? (Cache.find("darknet/data/coco.names").flatMap { try? readLabels($0) }) ?? []
    }
}

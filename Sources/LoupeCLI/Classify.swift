import ArgumentParser
import Foundation
import LoupeImage
import LoupeModels
import LoupeTensor

struct Classify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Top-k ImageNet classes of images.",
        discussion: """
        Each image is scaled so that its shorter side is 256 (for --crop-size 224), centre-cropped, \
        and run through the backbone.

        Example: loupe classify .cache/darknet/data/dog.jpg --model efficientnet_lite0 -k 3
        """)

    @Argument(help: "PNG or JPEG files.")
    var images: [String]

    @Option(help: "Backbone: \(BackboneKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: String = "mobilenet_v2"

    @Option(help: "Safetensors weights (default: .cache/models/MODEL.safetensors).")
    var weights: String?

    @Option(help: "Folder with imagenet.labels.list and imagenet.shortnames.list (default: the darknet data).")
    var labels: String?

    @Option(name: .short, help: "Classes to show per image.")
    var k: Int = 5

    @Option(help: "Side of the centre crop the network sees, in pixels.")
    var cropSize: Int = 224

    @Option(name: .customLong("top"), help: .hidden) var topAlias: Int?
    @Option(name: .customLong("size"), help: .hidden) var sizeAlias: Int?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @OptionGroup var compute: ComputeOptions

    struct Result: Codable {
        var image: String
        var predictions: [Prediction]?
        var error: String?
    }

    func run() async throws {
        try compute.apply()
        let top = topAlias ?? k, size = sizeAlias ?? cropSize
        guard top >= 1 else { throw ValidationError("-k must be at least 1") }
        guard size >= 32 else { throw ValidationError("--crop-size must be at least 32") }
        guard let kind = BackboneKind(rawValue: model) else { throw ValidationError(BackboneError.unknownModel(model).description) }
        let weightsURL = weights.map { URL(fileURLWithPath: $0) } ?? Cache.find("models/\(model).safetensors")
        guard let weightsURL, FileManager.default.fileExists(atPath: weightsURL.path) else {
            throw ValidationError(BackboneError.missingWeights(model: model, path: weights ?? ".cache/models/\(model).safetensors").description)
        }
        let network = try kind.load(from: weightsURL)
        let labelFolder = labels.map { URL(fileURLWithPath: $0) } ?? Cache.find("darknet/data")
        let names = labelFolder.flatMap { try? ImageNetLabels(darknetData: $0) }
        if names == nil { printError("warning: no ImageNet labels found; printing class indices (see --labels)") }

        var results: [Result] = []
        var failure: InputsFailed?
        for path in images {
            do {
                let image = try Image(contentsOf: URL(fileURLWithPath: path))
                let predictions = network.classify(network.classificationInput(image, size: size), top: top, labels: names)[0]
                results.append(Result(image: path, predictions: predictions))
            } catch {
                results.append(Result(image: path, error: errorMessage(error, about: path)))
                if failure == nil { failure = InputsFailed(first: error) }
            }
        }
        if json {
            try printJSON(results)
        } else {
            for r in results {
                if let error = r.error { printError(error); continue }
                print("\(r.image) (\(model))")
                for p in r.predictions ?? [] {
                    print("  \(String(format: "%5.1f%%", p.probability * 100))  \(p.label) [\(p.classIndex)]")
                }
            }
        }
        if let failure { throw failure }
    }
}

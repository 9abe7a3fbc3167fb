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
        @OptionGroup var badFiles: BadFileOptions
        @OptionGroup var force: ForceOption
    @OptionGroup var compute: ComputeOptions

        @Flag(help: "No progress output.")
        var quiet = false

        func run() async throws {
            try compute.apply()
            let files = try folders.flatMap { try imageFiles(under: URL(fileURLWithPath: $0)) }
            try OutputCheck.check(output, option: "-o", replacing: .whitening, inputs: files, force: force.force)
            guard pipeline.whitening == nil else { throw ValidationError("--whitening does not apply: whiten fit learns a whitening from unwhitened vectors") }
            var options = pipeline
            options.whitening = nil
            let embedder = try options.embedder(loadWhitening: false)
            // n centred vectors span at most n − 1 directions: found before embedding anything
            let dimension = dim ?? embedder.unwhitenedDimension
            guard (1...embedder.unwhitenedDimension).contains(dimension) else {
                throw ValidationError("--dim \(dimension) is not in 1...\(embedder.unwhitenedDimension) (the \(embedder.loaded.model.name) vectors' dimension)")
            }
            try Self.checkCount(files.count, dimension: dimension, given: dim != nil)
            let embedded = embed(files, with: embedder, onBadFile: badFiles.policy, progress: ProgressBar(quiet: quiet), label: "embedding")
            try badFiles.report(embedded.skipped)
            try Self.checkCount(embedded.files.count, dimension: dimension, given: dim != nil, after: embedded.skipped.count)
            let whitening = try Whitening.pca(fitting: embedded.vectors, dimension: dimension, power: power, recipe: embedder.recipe.json)
            try whitening.write(to: URL(fileURLWithPath: output))
            printError("PCA whitening \(whitening.inputDimension) → \(whitening.outputDimension) from \(embedded.files.count) images → \(output)"
                       + BadFileOptions.summary(embedded.skipped))
        }

        /// `count` images give at most `count − 1` whitened dimensions.
        static func checkCount(_ count: Int, dimension: Int, given: Bool, after skipped: Int = 0) throws {
            guard count > dimension else {
                let images = skipped > 0 ? "\(count) readable images (\(skipped) skipped)" : "\(count) images"
                let most = max(count - 1, 0)
                throw CLIError.usage("\(images) give at most \(most) whitened dimensions, and \(dimension) were asked for"
                                     + (given ? "" : " (the vectors' dimension)") + "; pass --dim \(most) or fewer, or learn from \(dimension + 1) images or more")
            }
        }
    }
}

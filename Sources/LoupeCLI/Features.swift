import ArgumentParser
import Foundation
import Loupe

struct Features: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find local features (what an index made with --local-features keeps and `loupe sources` verifies donors with).",
        discussion: """
        Difference-of-Gaussians keypoints with RootSIFT descriptors, found on the image shrunk to \
        --max-size on its longer side, the first octave doubled; keypoints are given in the \
        image's own pixels. --draw shows each as a circle of its scale with a line to its direction.

        Example: loupe features photo.jpg --draw features.png
        """)

    @Argument(help: "PNG or JPEG files.")
    var images: [String]

    @Option(help: "At most this many features per image, the strongest first (default: what an index keeps).")
    var count: Int = LocalFeatureOptions().maximumCount

    @Option(help: "Longer side the image is shrunk to before looking.")
    var maxSize: Int = LocalFeatureOptions().maximumSide

    @Option(help: "The least contrast of a feature (grey values in [0, 1]; Lowe's is 0.04 / 3 ≈ 0.0133, lower finds more on plain surfaces).")
    var contrast: Float = LocalFeatureOptions().contrast

    @Flag(help: "Look in the image flipped left to right (keypoints in the flipped image's pixels).")
    var mirrored = false

    @Option(help: "Write the (first) image with its features drawn as PNG; with several images, one file per image (NAME-1.png, …).")
    var draw: String?

    @Flag(help: "Print JSON (keypoints; --descriptors adds the 128 values of each).")
    var json = false

    @Flag(help: "With --json: include each feature's descriptor.")
    var descriptors = false

    @OptionGroup var force: ForceOption

    struct Point: Codable { var x, y, size, angle, response: Float; var descriptor: [Float]? }
    struct Output: Codable { var image: String; var width, height: Int; var features: [Point] }

    func run() async throws {
        let options = LocalFeatureOptions(maximumCount: count, maximumSide: maxSize, contrast: contrast)
        guard options.problems.isEmpty else { throw ValidationError("--count / --max-size / --contrast: " + options.problems.joined(separator: "; ")) }
        if descriptors && !json { throw ValidationError("--descriptors applies with --json") }
        if let draw {
            let inputs = images.map { URL(fileURLWithPath: $0) }
            for i in images.indices { try OutputCheck.check(OutputCheck.numbered(draw, i, of: images.count), option: "--draw", replacing: .png, inputs: inputs, force: force.force) }
        }
        let (outputs, failure) = forEachInput(images) { i, path in
            let image = try Image(contentsOf: URL(fileURLWithPath: path))
            let found = image.localFeatures(options, mirrored: mirrored)
            if let draw {
                var picture = mirrored ? image.mirrored() : image
                let thickness = max(1, min(image.width, image.height) / 400)
                for (n, k) in found.keypoints.enumerated() {
                    let color = Montage.palette[n % Montage.palette.count]
                    let r = max(2, 3 * k.size)
                    picture.drawCircle(x: k.x, y: k.y, radius: r, color: color, thickness: thickness)
                    picture.drawLine(x0: k.x, y0: k.y, x1: k.x + r * cos(k.angle), y1: k.y + r * sin(k.angle), color: color, thickness: thickness)
                }
                let target = OutputCheck.numbered(draw, i, of: images.count)
                try picture.writePNG(to: URL(fileURLWithPath: target))
                printError("\(found.count) features → \(target)")
            }
            let d = descriptors ? found.descriptors.scalars : []
            return Output(image: path, width: image.width, height: image.height, features: found.keypoints.enumerated().map { n, k in
                Point(x: k.x, y: k.y, size: k.size, angle: k.angle, response: k.response,
                      descriptor: descriptors ? Array(d[(n * 128)..<(n * 128 + 128)]) : nil)
            })
        }
        if json { try printJSON(outputs) } else {
            for o in outputs { print("\(o.image): \(o.features.count) features (\(o.width)×\(o.height))") }
        }
        if let failure { throw failure }
    }
}

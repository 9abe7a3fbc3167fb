import ArgumentParser
import Foundation
import Loupe

struct Distill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a student embedding head inside YOLOX to reproduce a classifier's object embeddings (no labels).",
        discussion: """
        For every image under the folders: one YOLOX pass gives the boxes (class-agnostic, at most \
        --max-objects) and the detector's feature maps; each region (the whole image and every box) \
        gets its RoI features (MultiScaleRoIAlign 7×7) and the teacher's embedding (the crop \
        teacher, or hard attention with --teacher-method roialign). Views (--augment, --views) paste \
        images into each other, photographed with --augment-style photo, and teach the features of \
        a view the teacher's vector of the clean region. Features and targets are cached, so \
        retraining is cheap. The head trains with Adam; whole images are held out for a \
        validation cosine. Writes the head, and a loss-curve PNG beside it.

        The recipe that reaches 95 % of the crop teacher's smvs-dvd mAP (README, Distillation): \
        the CSPDarknet levels, 24 photographed views of each image of the collection to be \
        searched with the detector's own boxes on them, and the centred cosine loss:
          R=../shared/data/smvs-dvd/reference
          loupe distill ../shared/data/coil100-20deg $R \\
            --teacher mobilenet_v2 --max-size 512 \\
            --features backbone-all --augment-style photo \\
            --views $R=24 --match-detections \\
            --loss centered --epochs 20 -o head.safetensors
          loupe eval smvs ../shared/data/smvs-dvd --objects --student head.safetensors
        """)

    @Argument(help: "Folders (or files) of unlabeled training images; FOLDER@I/N takes part I of N of a folder's files in path order.")
    var folders: [String]

    @Option(name: .shortAndLong, help: "Student head file to write.")
    var output: String

    @Option(help: "Teacher classifier (shorthand for --model).")
    var teacher: String?

    @Option(help: "Teacher embedding of a region: crop (crop teacher, each box embedded at 512 px), crop:SIZE, roialign, cells.")
    var teacherMethod: String = "crop"

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup(title: "Regions") var objects: ObjectOptions

    @Option(help: "Detector features per box: stems (the head stems, FPN level rule, 64 channels for nano), pafpn-all (every PAFPN level, concatenated: 448) or backbone-all (every CSPDarknet level, concatenated: 448).")
    var features: FeaturePyramid.Pooling = .stems

    @Option(help: "Spliced views per image: each image pasted at a random scale, place and brightness into another training image; the student's features of the pasted regions learn the original regions' teacher vectors (invariance the plain pairs never ask for).")
    var augment: Int = 0

    @Option(help: "How spliced views look: splice (pasted upright) or photo (also seen at an angle, blurred in half of the views, contrast changed: what a phone photo does to an object).")
    var augmentStyle: AugmentationStyle = .splice

    @Option(help: ArgumentHelp("More views of one folder's images: FOLDER=K adds K views of each image under FOLDER (a folder given as an argument) on top of --augment, in the same style; repeatable.", valueName: "FOLDER=K"))
    var views: [String] = []

    @Flag(help: "Also pair the boxes the detector finds on each view with the target of the pasted region they overlap best (IoU ≥ 0.6): the student learns the boxes it will see at search time, not only the mapped ones.")
    var matchDetections = false

    @Option(help: "Channels of the head's two 1×1 convolutions over the RoI cells.")
    var hidden: Int = 256

    @Option(help: "Width of the head's hidden fully connected layer.")
    var fcHidden: Int = 512

    @Option(help: "Training epochs.")
    var epochs: Int = 40

    @Option(help: "Regions per mini-batch.")
    var batchSize: Int = 128

    @Option(help: "Adam learning rate (cosine schedule to 0).")
    var learningRate: Float = 1e-3

    @Option(help: "Loss: cosine, l2, contrastive (cosine + InfoNCE over the mini-batch) or centered (cosine + the cosine around the batch's mean target: fits what tells regions apart).")
    var loss: DistillationLoss = .cosine

    @Option(help: "Seed for initialisation, shuffles and the validation split.")
    var seed: UInt64 = 1

    @Option(help: "Share of the images held out for the validation cosine.")
    var validation: Float = 0.1

    @Option(help: "Use part I of N of each folder's files in path order, e.g. 0/2 (evaluate on 1/2 with `loupe eval labels --part 1/2`).")
    var select: String?

    @Option(help: "Folder for cached RoI features and teacher targets.")
    var cache: String = ".cache/distill"

    @Option(help: "Loss-curve PNG: training loss (red) and held-out 1 − cosine (blue) per epoch, from 0 (default: OUTPUT with .png).")
    var curve: String?

    @Flag(help: "Print the training history as JSON.")
    var json = false

    @OptionGroup var badFiles: BadFileOptions

    @Flag(help: "No progress output.")
    var quiet = false

    @OptionGroup var force: ForceOption
    @OptionGroup var compute: ComputeOptions

    func run() async throws {
        try compute.apply()
        guard epochs >= 1, batchSize >= 1, hidden >= 1, fcHidden >= 1, learningRate > 0, (0..<1).contains(validation), augment >= 0 else {
            throw ValidationError("--epochs, --batch-size, --hidden and --fc-hidden must be at least 1, --learning-rate positive, --validation in [0, 1)")
        }
        try OutputCheck.check(output, option: "-o", replacing: .head, force: force.force)
        var pipeline = pipeline
        if let teacher { pipeline.model = teacher }
        let part = try select.map { try parsePart($0, option: "--select") }
        var files: [URL] = [], folderOfFile: [String] = []
        for argument in folders {
            // FOLDER@I/N: part I of N of this folder (overrides --select)
            var (folder, folderPart) = (argument, part)
            if let at = argument.lastIndex(of: "@"), argument[argument.index(after: at)...].contains("/") {
                folder = String(argument[..<at])
                folderPart = try parsePart(String(argument[argument.index(after: at)...]), option: "FOLDER@I/N")
            }
            let found = try imageFiles(under: URL(fileURLWithPath: folder))
            guard !found.isEmpty else { throw ValidationError("no PNG or JPEG images under \(folder)") }
            let taken = found.enumerated().filter { folderPart == nil || $0.offset % folderPart!.parts == folderPart!.part }.map(\.element)
            files += taken
            folderOfFile += Array(repeating: folder, count: taken.count)
        }
        // --views FOLDER=K: extra views per image of that folder
        var extraViews = [Int](repeating: 0, count: files.count)
        for entry in views {
            guard let eq = entry.lastIndex(of: "="), let k = Int(entry[entry.index(after: eq)...]), k >= 1 else {
                throw ValidationError("--views must be FOLDER=K with K ≥ 1, got '\(entry)'")
            }
            let folder = String(entry[..<eq])
            let standard = { (f: String) in URL(fileURLWithPath: f).standardizedFileURL.path }
            let matching = folderOfFile.indices.filter { standard(folderOfFile[$0]) == standard(folder) }
            guard !matching.isEmpty else { throw ValidationError("--views \(entry): \(folder) is not one of the folders given") }
            for i in matching { extraViews[i] += k }
        }
        let curvePath = curve ?? (output.hasSuffix(".safetensors") ? String(output.dropLast(12)) + ".png" : output + ".png")
        try OutputCheck.check(curvePath, option: curve == nil ? "the loss curve" : "--curve", replacing: .png, inputs: files, force: force.force)
        // one bad-file policy: unreadable images are named and left out (--strict: the run stops)
        let screened = readableImages(files, onBadFile: badFiles.policy)
        try badFiles.report(screened.skipped)
        if !screened.skipped.isEmpty {
            let keep = Set(screened.readable)
            let kept = files.indices.filter { keep.contains(files[$0]) }
            (files, folderOfFile, extraViews) = (kept.map { files[$0] }, kept.map { folderOfFile[$0] }, kept.map { extraViews[$0] })
            guard !files.isEmpty else { throw CLIError.data("none of the images could be read; nothing to train on") }
        }
        let augmenting = augment > 0 || !views.isEmpty
        guard augmenting || (augmentStyle == .splice && !matchDetections) else {
            throw ValidationError("--augment-style and --match-detections shape the spliced views: give --augment N or --views FOLDER=K too")
        }
        guard !augmenting || files.count >= 2 else { throw ValidationError("--augment pastes images into each other: it needs at least two images") }
        let method: ObjectEmbedder.Method
        if teacherMethod.hasPrefix("crop") {
            var o = objects
            o.objectMethod = "teacher" + teacherMethod.dropFirst(4)
            method = try o.method()
        } else {
            var o = objects
            o.objectMethod = teacherMethod
            method = try o.method()
        }
        // targets are extracted and cached unwhitened, then whitened: one extraction serves every whitening
        let whitened = try pipeline.embedder()
        let teacherEmbedder = try objects.embedder(pipeline.embedder(loadWhitening: false), method: method)
        let teacherRecipe = try ObjectEmbedder(embedder: whitened, detector: nil, proposal: teacherEmbedder.proposal, method: method).recipe
        guard let detector = teacherEmbedder.detector else { throw ValidationError("distillation needs detector boxes: --max-objects must be at least 1") }

        // features and targets, cached by everything that determines them
        let base = [teacherEmbedder.recipe.json,
                    files.map(\.path).joined(separator: "\n"), "bins=7"].joined(separator: "|")
        func key(_ kind: FeaturePyramid.Pooling) -> String { kind == .stems ? base : base + "|features=\(kind.rawValue)" }
        func url(_ kind: FeaturePyramid.Pooling) -> URL { URL(fileURLWithPath: cache).appendingPathComponent("set-\(fnv1a(key(kind))).safetensors") }
        let progress = ProgressBar(quiet: quiet || json)
        let start = Date()
        var set: DistillationSet
        if let cached = cachedSet(url(features), key: key(features)) {
            set = cached
            printError("cached RoI features and teacher targets: \(url(features).path)")
        } else {
            // the teacher's targets of another feature kind's set are reused: only the detector runs
            let targets = FeaturePyramid.Pooling.allCases.lazy.compactMap { cachedSet(url($0), key: key($0)) }.first
            if targets != nil { printError("reusing cached teacher targets; computing \(features.rawValue) RoI features") }
            do {
                set = try distillationSet(files, teacher: teacherEmbedder, detector: detector, features: features, targets: targets, progress: progress)
            } catch where targets != nil {
                // the detector's regions changed since the targets were cached (e.g. another Loupe version's arithmetic)
                printError("the cached teacher targets no longer match the detector's regions (\(error)); recomputing them")
                set = try distillationSet(files, teacher: teacherEmbedder, detector: detector, features: features, targets: nil, progress: progress)
            }
            try FileManager.default.createDirectory(at: url(features).deletingLastPathComponent(), withIntermediateDirectories: true)
            try set.write(to: url(features), key: key(features))
        }
        // spliced views: N of every image (--augment), then the extra views of --views folders (another seed)
        let viewSets = [(augment > 0 ? [Int](repeating: augment, count: files.count) : [], seed, "|augment=\(augment)"),
                        (views.isEmpty ? [] : extraViews, seed &+ 1, "|views=\(extraViews.map(String.init).joined(separator: ","))")]
        for (counts, viewSeed, label) in viewSets where !counts.isEmpty {
            // the splice style keeps its original key, so its cached views stay valid
            let augKey = key(features) + label + "|seed=\(viewSeed)" + (augmentStyle == .splice ? "" : "|style=\(augmentStyle.rawValue)")
                + (matchDetections ? "|matched" : "")
            let augURL = URL(fileURLWithPath: cache).appendingPathComponent("augmented-\(fnv1a(augKey)).safetensors")
            let made: DistillationSet
            if let cached = cachedSet(augURL, key: augKey) { made = cached } else {
                made = try augmentedDistillationSet(files, base: set, detector: detector, proposal: teacherEmbedder.proposal, viewsPerImage: counts,
                                                    seed: viewSeed, features: features, style: augmentStyle,
                                                    matchDetections: matchDetections, progress: progress)
                try made.write(to: augURL, key: augKey)
            }
            set = set.appending(made)
        }
        if let whitening = whitened.whitening { set.targets = try whitening.apply(set.targets) }
        let extraction = Date().timeIntervalSince(start)
        printError(String(format: "%d images, %d regions, %d-d teacher (%@, whitening %@), RoI features %@; %.1f s", files.count, set.count,
                          set.targets.shape[1], teacherRecipe.mode.description, teacherRecipe.whitening?.description ?? "none", set.features.shape.dropFirst().description, extraction)
                   + BadFileOptions.summary(screened.skipped))

        var options = TrainingOptions()
        (options.epochs, options.batchSize, options.learningRate, options.loss) = (epochs, batchSize, learningRate, loss)
        (options.seed, options.validationFraction, options.features) = (seed, validation, features)
        (options.hidden, options.fullyConnectedHidden) = (hidden, fcHidden)
        let trainStart = Date()
        let (head, history) = trainStudent(set, options: options) { e in
            if !json {
                printError(String(format: "epoch %3d  loss %.4f  validation cosine %.4f  %.1f s", e.epoch, e.trainingLoss, e.validationCosine, e.seconds))
            }
        }
        let training = Date().timeIntervalSince(trainStart)
        guard head.parameters.values.allSatisfy({ $0.scalars.allSatisfy(\.isFinite) }) else {
            // nothing is written: a head that cannot embed must not replace a working one
            throw ValidationError("training diverged (the head's parameters are no longer finite; last loss \(history.last?.trainingLoss ?? .nan)): try a lower --learning-rate; \(output) was not written")
        }
        var checksumSource = ""
        for (name, t) in head.parameters.sorted(by: { $0.key < $1.key }) { checksumSource += name + t.scalars.prefix(64).description }
        let summary: [String: String] = [
            "images": String(files.count), "regions": String(set.count), "epochs": String(epochs),
            "validationCosine": String(history.last?.validationCosine ?? .nan), "trainingSeconds": String(format: "%.1f", training),
            "extractionSeconds": String(format: "%.1f", extraction), "loss": loss.rawValue, "seed": String(seed),
        ]
        var metadata: [String: String] = [:]
        metadata["proposal"] = String(decoding: try JSONEncoder().encode(teacherEmbedder.proposal), as: UTF8.self)
        metadata["teacher"] = teacherRecipe.json
        metadata["checksum"] = fnv1a(checksumSource)
        metadata["training"] = String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)
        try head.write(to: URL(fileURLWithPath: output), metadata: metadata)
        try lossCurve(history).writePNG(to: URL(fileURLWithPath: curvePath))
        printError(String(format: "head → %@, loss curve → %@ (training %.1f s)", output, curvePath, training))
        if json { try printJSON(history) }
    }


    /// The cached set at `url`, or `nil`; says why when a file is there but cannot be used (it is
    /// then made again and replaces it).
    func cachedSet(_ url: URL, key: String) -> DistillationSet? {
        if let set = DistillationSet(contentsOf: url, key: key) { return set }
        if FileManager.default.fileExists(atPath: url.path) {
            printError("\(url.path) cannot be used (damaged, made with other settings, or over 2 GiB from a Loupe whose large files were corrupt): making it again")
        }
        return nil
    }

    /// Training loss (red) and held-out 1 − cosine (blue) per epoch on a shared axis from 0.
    func lossCurve(_ history: [EpochReport]) -> Image {
        let (w, h, margin) = (640, 360, Float(40))
        var image = Image(width: w, height: h, color: RGB(255, 255, 255))
        let series: [([Float], RGB)] = [(history.map(\.trainingLoss), RGB(220, 40, 40)),
                                        (history.map { 1 - $0.validationCosine }.filter(\.isFinite), RGB(30, 90, 200))]
        let top = max(1e-6, series.flatMap(\.0).max() ?? 1)
        image.drawLine(x0: margin, y0: Float(h) - margin, x1: Float(w) - margin / 2, y1: Float(h) - margin, color: RGB(0, 0, 0))
        image.drawLine(x0: margin, y0: margin / 2, x1: margin, y1: Float(h) - margin, color: RGB(0, 0, 0))
        for (values, color) in series where values.count > 1 {
            func point(_ i: Int) -> (Float, Float) {
                (margin + (Float(w) - 1.5 * margin) * Float(i) / Float(values.count - 1),
                 Float(h) - margin - (Float(h) - 1.5 * margin) * values[i] / top)
            }
            for i in 1..<values.count {
                let (a, b) = (point(i - 1), point(i))
                image.drawLine(x0: a.0, y0: a.1, x1: b.0, y1: b.1, color: color, thickness: 3)
            }
        }
        return image
    }
}

/// Parses `I/N` (part I of N, 0-based) for `option`.
func parsePart(_ text: String, option: String) throws -> (part: Int, parts: Int) {
    let p = text.split(separator: "/").compactMap { Int($0) }
    guard p.count == 2, p[1] >= 1, (0..<p[1]).contains(p[0]) else { throw ValidationError("\(option) must be I/N with 0 ≤ I < N, got '\(text)'") }
    return (p[0], p[1])
}

/// FNV-1a 64 of a string, hex: a short stable key.
func fnv1a(_ text: String) -> String { FNV1a.hex(text) }

extension DistillationLoss: ExpressibleByArgument {}
extension AugmentationStyle: ExpressibleByArgument {}
extension FeaturePyramid.Pooling: ExpressibleByArgument, CaseIterable {
    public static let allCases: [FeaturePyramid.Pooling] = [.stems, .pafpnAllLevels, .backboneAllLevels]
}

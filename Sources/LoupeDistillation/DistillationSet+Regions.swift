public import Foundation
public import LoupeDetection
public import LoupeEmbedding
internal import LoupeTensor
internal import LoupeImage

/// Builds training pairs for distillation from unlabeled images: for each image one detector pass
/// (boxes + pyramid), the student's RoI features of the whole image and each detected box, and the
/// teacher's vectors of the same regions. With `targets` (a set made before from the same images,
/// detector and proposal) the teacher is not run again: only the features are made, and the
/// regions must come out the same.
public func distillationSet(_ paths: [URL], teacher: ObjectEmbedder, detector: YOLOX, bins: Int = 7,
                            features kind: FeaturePyramid.Pooling = .stems, targets cached: DistillationSet? = nil,
                            progress: (any ProgressObserver)? = nil) throws -> DistillationSet {
    var features: [Tensor] = [], targets: [Tensor] = [], images: [Int] = []
    var clock = StageClock()
    for (i, path) in paths.enumerated() {
        let image = try Image(contentsOf: path)
        let (regions, pyramid) = try StudentEmbedder.proposeRegions(image, detector: detector, proposal: teacher.proposal, labels: [],
                                                                    given: [], detect: true, clock: &clock)
        features.append(pyramid.pool(regions.map(\.box), bins: bins, using: kind))
        if cached == nil { targets.append(try teacher.embed(image, regions: regions, clock: &clock).vectors) }
        images += Array(repeating: i, count: regions.count)
        progress?.update(done: i + 1, total: paths.count, label: cached == nil ? "teacher + RoI features" : "RoI features")
    }
    guard !features.isEmpty else { throw EmbedderError.invalidOption("no images to distil from") }
    if let cached {
        guard cached.images == images else { throw EmbedderError.invalidOption("the cached teacher targets belong to other regions") }
        return DistillationSet(features: Tensor.concatenated(features, along: 0), targets: cached.targets, images: images)
    }
    return DistillationSet(features: Tensor.concatenated(features, along: 0), targets: Tensor.concatenated(targets, along: 0), images: images)
}

extension DistillationSet {
    /// Saves the set (features, targets, image ids) with `key` describing how it was made, atomically.
    public func write(to url: URL, key: String) throws {
        try SafetensorsFile.write(["features": features, "targets": targets, "images": Tensor(shape: [images.count], scalars: images.map(Float.init))],
                                  metadata: ["format": "loupe-distillation-set", "key": key, "writer": "streamed"], to: url)
    }

    /// Loads a set saved with the same `key`; `nil` when the file is missing, another key or damaged.
    /// Sets over 2 GiB written before Loupe streamed its safetensors files are refused too: the
    /// old writer's second `write(2)` started again from the first byte, so their data past
    /// 2 GiB − 4 KiB repeats the file's beginning.
    public init?(contentsOf url: URL, key: String) {
        guard let file = try? SafetensorsFile(contentsOf: url), file.metadata["format"] == "loupe-distillation-set",
              file.metadata["writer"] == "streamed" || file.byteCount <= 2_147_479_552,
              file.metadata["key"] == key, let f = try? file.tensor(named: "features"), let t = try? file.tensor(named: "targets"),
              let ids = try? file.tensor(named: "images"), f.rank == 4, t.rank == 2, f.shape[0] == t.shape[0], ids.shape == [t.shape[0]]
        else { return nil }
        self.init(features: f, targets: t, images: ids.scalars.map { Int($0) })
    }
}

public import Foundation
public import LoupeEmbedding

/// Extra training pairs that ask the student for invariance: each training image is pasted, at a
/// random scale and place and with a random brightness, into another training image (a "splice",
/// like a DVD cover on a cluttered desk or an object pasted into another picture). The student's
/// RoI features of the pasted copy of each region (the whole pasted image and its detected boxes,
/// mapped into the composite) are paired with the teacher's vectors of the *original* regions,
/// taken from `base`; the teacher does not run again.
///
/// - Parameters:
///   - paths: the training images, in the order `base` was made from them.
///   - base: the pairs of `paths` made by ``distillationSet(_:teacher:detector:bins:features:targets:progress:)``
///     with the same detector and proposal (its regions are recomputed and must match).
///   - detector: the detector `base` was made with.
///   - proposal: the region proposal `base` was made with.
///   - views: composites per training image.
///   - seed: seeds the choice of canvas, scale, place and brightness.
///   - matchDetections: also pair the boxes the detector itself finds on each composite with the
///     target of the mapped region they overlap best (IoU ≥ 0.6): the boxes the student sees at
///     search time, which are not the mapped ones exactly.
///   - bins: RoI bins per side.
///   - kind: which pyramid features (as in `base`).
///   - style: plain splices, or splices that also look photographed (``AugmentationStyle/photo``).
///   - progress: told after each image.
public func augmentedDistillationSet(_ paths: [URL], base: DistillationSet, detector: YOLOX, proposal: RegionProposal,
                                     views: Int, seed: UInt64 = 1, bins: Int = 7, features kind: FeaturePyramid.Pooling = .stems,
                                     style: AugmentationStyle = .splice, matchDetections: Bool = false,
                                     progress: (any ProgressObserver)? = nil) throws -> DistillationSet {
    precondition(views >= 1, "augmentation needs at least one view")
    return try augmentedDistillationSet(paths, base: base, detector: detector, proposal: proposal,
                                        viewsPerImage: [Int](repeating: views, count: paths.count), seed: seed, bins: bins, features: kind,
                                        style: style, matchDetections: matchDetections, progress: progress)
}

/// ``augmentedDistillationSet(_:base:detector:proposal:views:seed:bins:features:style:matchDetections:progress:)``
/// with a number of composites for each training image (`viewsPerImage[i]` for `paths[i]`, 0 for none):
/// more views of the images that look like what will be searched for. Every image can be a canvas.
public func augmentedDistillationSet(_ paths: [URL], base: DistillationSet, detector: YOLOX, proposal: RegionProposal,
                                     viewsPerImage views: [Int], seed: UInt64 = 1, bins: Int = 7, features kind: FeaturePyramid.Pooling = .stems,
                                     style: AugmentationStyle = .splice, matchDetections: Bool = false,
                                     progress: (any ProgressObserver)? = nil) throws -> DistillationSet {
    precondition(views.count == paths.count && views.allSatisfy { $0 >= 0 } && views.contains { $0 > 0 } && paths.count >= 2,
                 "augmentation needs a view count per image, some view and two images")
    // rows of each image in `base`
    var firstRow = [Int](repeating: -1, count: paths.count), rowCount = [Int](repeating: 0, count: paths.count)
    for (row, image) in base.images.enumerated() {
        if firstRow[image] < 0 { firstRow[image] = row }
        rowCount[image] += 1
    }
    var generator = SplitMix64(state: seed)
    var features: [Tensor] = [], targetRows: [Int] = [], images: [Int] = []
    var clock = StageClock()
    for (i, path) in paths.enumerated() where views[i] > 0 {
        let source = try Image(contentsOf: path)
        let (regions, _) = try StudentEmbedder.proposeRegions(source, detector: detector, proposal: proposal, labels: [], given: [],
                                                             detect: true, clock: &clock)
        guard regions.count == rowCount[i] else { throw EmbedderError.invalidOption("\(path.path): regions differ from the cached pairs") }
        for _ in 0..<views[i] {
            var j = Int.random(in: 0..<(paths.count - 1), using: &generator)
            if j >= i { j += 1 }
            var canvas = try Image(contentsOf: paths[j])
            if max(canvas.width, canvas.height) < 256 { canvas = canvas.resized(longerSide: 512) }
            // the source fills 25–75 % of the canvas's shorter side
            let fraction = Float.random(in: 0.25...0.75, using: &generator)
            let scale = fraction * Float(min(canvas.width, canvas.height)) / Float(max(source.width, source.height))
            let w = max(8, Int((Float(source.width) * scale).rounded())), h = max(8, Int((Float(source.height) * scale).rounded()))
            var pasted = source.resized(width: w, height: h)
            let brightness = Float.random(in: 0.7...1.25, using: &generator)
            pasted.pixels = pasted.pixels.map { min(255, $0 * brightness) }
            let x = Int.random(in: 0...max(0, canvas.width - w), using: &generator)
            let y = Int.random(in: 0...max(0, canvas.height - h), using: &generator)
            let boxes: [BoundingBox]
            if style == .photo, let warp = photographed(&pasted, into: &canvas, x: x, y: y, using: &generator) {
                // each region's box: the bounding box of its warped corners
                let sx = Float(w) / Float(source.width), sy = Float(h) / Float(source.height)
                boxes = regions.map { r in
                    warp.boundingBox(of: r.box.scaled(x: sx, y: sy))
                        .clipped(width: Float(canvas.width), height: Float(canvas.height))
                }
            } else {
                canvas.paste(pasted, x: x, y: y)
                let sx = Float(w) / Float(source.width), sy = Float(h) / Float(source.height)
                boxes = regions.map { r in
                    r.box.scaled(x: sx, y: sy, dx: Float(x), dy: Float(y))
                        .clipped(width: Float(canvas.width), height: Float(canvas.height))
                }
            }
            let kept = boxes.indices.filter { boxes[$0].isValid && min(boxes[$0].width, boxes[$0].height) >= 2 }
            let options = proposal.detectionOptions
            let (found, pyramid) = clock.measure("detector") { detector.detectWithPyramid(canvas, options: options) }
            var pairs = kept.map { (box: boxes[$0], region: $0) }
            if matchDetections {
                // the detector's own boxes on the composite (as proposed at search time), each with the
                // mapped region it overlaps best
                let detected = try proposal.regions(of: canvas, given: [], detections: found).dropFirst().map(\.box)
                let mapped = kept.map { boxes[$0] }
                pairs += detected.compactMap { box in box.bestMatch(in: mapped, minimumIoU: 0.6).map { (box, kept[$0]) } }
            }
            features.append(pyramid.pool(pairs.map(\.box), bins: bins, using: kind))
            targetRows += pairs.map { firstRow[i] + $0.region }
            images += Array(repeating: i, count: pairs.count)
        }
        progress?.update(done: i + 1, total: paths.count, label: "augmented views")
    }
    guard !features.isEmpty else { throw EmbedderError.invalidOption("no augmented views were made") }
    let targets = DistillationSet.gather(base.targets, targetRows)
    return DistillationSet(features: Tensor.concatenated(features, along: 0), targets: targets, images: images)
}

/// How ``augmentedDistillationSet(_:base:detector:proposal:views:seed:bins:features:style:matchDetections:progress:)``
/// makes its views.
public enum AugmentationStyle: String, Sendable, CaseIterable, Codable {
    /// Pasted upright at a random scale, place and brightness.
    case splice
    /// Also as a phone would photograph it: seen at an angle (each corner moved by up to 12 % of
    /// the pasted size: perspective, a slight rotation), half of the views at a lower resolution
    /// (down to a third, then back up: blur), contrast changed by up to ±20 %.
    case photo
}

/// Draws `pasted` (its top-left corner at `(x, y)` when upright) into `canvas` as a photographed
/// version of it; returns the transform from `pasted`'s coordinates into `canvas`'s.
private func photographed(_ pasted: inout Image, into canvas: inout Image, x: Int, y: Int,
                          using generator: inout SplitMix64) -> Homography? {
    let (w, h) = (pasted.width, pasted.height)
    if Bool.random(using: &generator) {
        let r = Float.random(in: 0.33...0.8, using: &generator)
        pasted = pasted.resized(width: max(4, Int(Float(w) * r)), height: max(4, Int(Float(h) * r))).resized(width: w, height: h)
    }
    let contrast = Float.random(in: 0.8...1.2, using: &generator)
    pasted.pixels = pasted.pixels.map { min(255, max(0, ($0 - 128) * contrast + 128)) }
    let jx = 0.12 * Double(w), jy = 0.12 * Double(h)
    let corners = [(0.0, 0.0), (Double(w), 0), (Double(w), Double(h)), (0, Double(h))].map { c in
        (x: Double(x) + c.0 + Double.random(in: -jx...jx, using: &generator),
         y: Double(y) + c.1 + Double.random(in: -jy...jy, using: &generator))
    }
    return canvas.pasteWarped(pasted, corners: corners)
}

extension DistillationSet {
    /// Rows of `self` followed by rows of `other`.
    public func appending(_ other: DistillationSet) -> DistillationSet {
        DistillationSet(features: Tensor.concatenated([features, other.features], along: 0),
                        targets: Tensor.concatenated([targets, other.targets], along: 0), images: images + other.images)
    }
}

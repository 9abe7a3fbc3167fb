internal import LoupeKernels
public import LoupeTensor

/// Settings of Loupe's scale-invariant local features (a difference-of-Gaussians detector and
/// 4 × 4 × 8 gradient-histogram descriptors, after Lowe 2004, returned as RootSIFT).
public struct LocalFeatureOptions: Sendable, Hashable, Codable {
    /// At most this many features, the strongest first.
    public var maximumCount: Int
    /// The image is shrunk to this longer side first (features of a 640-pixel photo are plenty
    /// for verification; larger images cost time and memory).
    public var maximumSide: Int
    /// Whether the first octave is the image doubled: finds the small features that small pasted
    /// parts need, at about four times the cost.
    public var upsample: Bool
    /// Minimum contrast of a refined extremum (grey values in [0, 1]).
    public var contrast: Float

    /// The defaults are the splice benchmark's best on its dev half (donor@10 with verification:
    /// 1,000 features at Lowe's contrast 0.04 / 3: 0.802; 3,000 at 0.0067: 0.881; 5,000 at 0.004:
    /// 0.893): small and plain pasted parts need the weak features too.
    public init(maximumCount: Int = 5000, maximumSide: Int = 640, upsample: Bool = true, contrast: Float = 0.004) {
        (self.maximumCount, self.maximumSide, self.upsample, self.contrast) = (maximumCount, maximumSide, upsample, contrast)
    }

    /// What is wrong with these settings, if anything: a count outside 1...100,000, a side outside
    /// 16...8,192, a contrast that is not a finite number ≥ 0. ``Image/localFeatures(_:mirrored:enlarged:)``
    /// finds nothing with such settings; an index file that holds them is refused.
    public var problems: [String] {
        var out: [String] = []
        if !(1...100_000).contains(maximumCount) { out.append("the feature count must lie in 1...100000, got \(maximumCount)") }
        if !(16...8192).contains(maximumSide) { out.append("the feature image side must lie in 16...8192, got \(maximumSide)") }
        if !(contrast >= 0 && contrast.isFinite) { out.append("the feature contrast must be a finite number ≥ 0, got \(contrast)") }
        return out
    }
}

/// One local feature: where it is (in the pixels of the image it was found in), its scale and
/// direction.
public struct Keypoint: Sendable, Hashable, Codable {
    public var x: Float, y: Float
    /// The blur scale sigma at which it was found, in the image's pixels.
    public var size: Float
    /// Dominant gradient direction, radians.
    public var angle: Float
    public var response: Float

    public init(x: Float, y: Float, size: Float, angle: Float, response: Float) {
        (self.x, self.y, self.size, self.angle, self.response) = (x, y, size, angle, response)
    }
}

/// The local features of an image: keypoints and their unit-norm 128-float descriptors (row `i`
/// of ``descriptors`` belongs to `keypoints[i]`).
public struct LocalFeatures: Sendable {
    public var keypoints: [Keypoint]
    /// `[count, 128]`.
    public var descriptors: Tensor
    public var count: Int { keypoints.count }

    public init(keypoints: [Keypoint], descriptors: Tensor) {
        precondition(descriptors.rank == 2 && descriptors.shape == [keypoints.count, LocalFeatures.dimension], "one 128-float row per keypoint")
        (self.keypoints, self.descriptors) = (keypoints, descriptors)
    }

    public static let dimension = 128

    /// The features whose keypoints pass `isIncluded`.
    public func filter(_ isIncluded: (Keypoint) -> Bool) -> LocalFeatures {
        let kept = keypoints.indices.filter { isIncluded(keypoints[$0]) }
        let d = descriptors.scalars
        return LocalFeatures(keypoints: kept.map { keypoints[$0] },
                             descriptors: Tensor(shape: [kept.count, Self.dimension], scalars: kept.flatMap { d[($0 * 128)..<($0 * 128 + 128)] }))
    }
}

extension Image {
    /// The image's local features, with keypoints in this image's pixels.
    ///
    /// - Parameters:
    ///   - mirrored: find them in the image flipped left to right, with keypoints in the
    ///     flipped image's pixels (`x' = width − 1 − x`): what matches a part that was pasted
    ///     flipped, under a similarity transform.
    ///   - enlarged: look at the image enlarged this many times (bilinear; at most up to
    ///     `options.maximumSide`), keypoints still in this image's pixels: finer features than the
    ///     doubled first octave gives, for a small crop whose original was larger.
    public func localFeatures(_ options: LocalFeatureOptions = .init(), mirrored: Bool = false, enlarged: Int = 1) -> LocalFeatures {
        let empty = LocalFeatures(keypoints: [], descriptors: Tensor(zeros: [0, LocalFeatures.dimension]))
        guard options.problems.isEmpty else { return empty }
        let longer = max(width, height)
        let factor = max(1, min(enlarged, options.maximumSide / max(1, longer)))
        let working = factor > 1 ? resized(width: factor * width, height: factor * height, filter: .bilinear)
            : longer > options.maximumSide ? resized(longerSide: options.maximumSide) : self
        let (w, h) = (working.width, working.height)
        guard w >= 16, h >= 16 else { return empty }
        // grey in [0, 1] (Rec. 601 weights), mirrored if asked
        var grey = [Float](repeating: 0, count: w * h)
        working.pixels.withUnsafeBufferPointer { p in
            let plane = w * h
            for y in 0..<h {
                for x in 0..<w {
                    let i = y * w + x
                    let v = (0.299 * p[i] + 0.587 * p[plane + i] + 0.114 * p[2 * plane + i]) / 255
                    grey[y * w + (mirrored ? w - 1 - x : x)] = v
                }
            }
        }
        var params = lk_sift_params(octaves: 8, layers: 3, sigma: 1.6, contrast: options.contrast, edge_ratio: 10,
                                    upsample: options.upsample ? 1 : 0)
        let capacity = options.maximumCount
        let candidateCapacity = max(4 * capacity, 20_000)
        let workspace = lk_sift_workspace_floats(Int32(w), Int32(h), &params)
        // tens of megabytes that the kernel writes before it reads: not zeroed
        var space = [Float](unsafeUninitializedCapacity: workspace) { _, count in count = workspace }
        var candidates = [lk_keypoint](repeating: lk_keypoint(), count: candidateCapacity)
        var found = [lk_keypoint](repeating: lk_keypoint(), count: capacity)
        var descriptors = [Float](repeating: 0, count: capacity * LocalFeatures.dimension)
        let n = Int(grey.withUnsafeBufferPointer { g in
            lk_sift(g.baseAddress, Int32(w), Int32(h), &params, &space, &candidates, Int32(candidateCapacity), &found, &descriptors, Int32(capacity))
        })
        let sx = Float(width) / Float(w), sy = Float(height) / Float(h)
        let keypoints = found.prefix(n).map { k in
            Keypoint(x: ((k.x) + 0.5) * sx - 0.5, y: (k.y + 0.5) * sy - 0.5,
                     size: k.size * sx, angle: k.angle, response: k.response)
        }
        return LocalFeatures(keypoints: Array(keypoints), descriptors: Tensor(shape: [n, LocalFeatures.dimension], scalars: Array(descriptors.prefix(n * 128))))
    }
}

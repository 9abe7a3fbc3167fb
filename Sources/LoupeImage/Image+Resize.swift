internal import LoupeTensor
internal import LoupeKernels

/// Resampling filters.
public enum ResizeFilter: Sendable, Hashable {
    /// Pillow's `Image.BILINEAR` (= torchvision `antialias=True`): a triangle filter widened by
    /// the scale factor when shrinking, so every source pixel contributes. Loupe's default: it is
    /// what the retrieval literature's preprocessing (and the reference numbers) use.
    case bilinearAntialiased
    /// Plain two-tap bilinear interpolation with half-pixel centres (OpenCV `INTER_LINEAR`,
    /// torchvision `antialias=False`): what YOLOX's own preprocessing does.
    case bilinear
}

extension Image {
    /// The image resampled to `width × height`.
    ///
    /// Separable: a horizontal pass, then a vertical one (Pillow's order), with Pillow's
    /// coefficients — support `max(scale, 1)`, taps `[int(centre − support + 0.5),
    /// int(centre + support + 0.5))` clipped to the image, weights normalised to sum to 1; each pass
    /// rounds to 8-bit values as Pillow does (Pillow's fixed-point weights still differ in the last
    /// bit now and then, so results agree with Pillow to a small fraction of a grey level).
    public func resized(width: Int, height: Int, filter: ResizeFilter = .bilinearAntialiased) -> Image {
        check(width >= 1 && height >= 1, "resize target \(width)×\(height) must be positive")
        if width == self.width && height == self.height { return self }
        var x = pixels
        // Pillow works on 8-bit images and rounds each pass back to 0...255 integers; doing the same
        // keeps Loupe's inputs equal to Pillow's (and to the reference numbers computed with it).
        func rounded(_ t: Tensor) -> Tensor { t.map { min(max($0.rounded(), 0), 255) } }
        if width != self.width {
            let table = ResampleTable(inSize: self.width, outSize: width, filter: filter)
            x = rounded(table.horizontal(x))
        }
        if height != self.height {
            let table = ResampleTable(inSize: self.height, outSize: height, filter: filter)
            x = rounded(table.vertical(x))
        }
        return Image(pixels: x)
    }

    /// The image scaled so that its longer side is `longerSide`, keeping the aspect ratio (the
    /// shorter side is rounded to the nearest pixel, at least 1).
    public func resized(longerSide: Int, filter: ResizeFilter = .bilinearAntialiased) -> Image {
        let (w, h) = Image.size(width: width, height: height, longerSide: longerSide)
        return resized(width: w, height: h, filter: filter)
    }

    /// The size an image of `width × height` takes when scaled to `longerSide`.
    public static func size(width: Int, height: Int, longerSide: Int) -> (width: Int, height: Int) {
        check(longerSide >= 1, "longer side must be positive, got \(longerSide)")
        let scale = Double(longerSide) / Double(max(width, height))
        if width >= height { return (longerSide, max(1, Int((Double(height) * scale).rounded()))) }
        return (max(1, Int((Double(width) * scale).rounded())), longerSide)
    }

    /// The central `width × height` region (torchvision's `center_crop`: offsets rounded half to
    /// even, as Python's `round`).
    /// - Precondition: the crop fits inside the image.
    public func centerCropped(width: Int, height: Int) -> Image {
        check(width >= 1 && height >= 1 && width <= self.width && height <= self.height,
                     "crop \(width)×\(height) does not fit an image of \(self.width)×\(self.height)")
        let top = Int((Double(self.height - height) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(self.width - width) / 2).rounded(.toNearestOrEven))
        return cropped(x: left, y: top, width: width, height: height)
    }

    /// The image with `value` rows and columns added at the bottom and right so that both sides
    /// are multiples of `multiple` (unchanged when they already are).
    public func padded(toMultipleOf multiple: Int, value: Float) -> Image {
        let w = (width + multiple - 1) / multiple * multiple, h = (height + multiple - 1) / multiple * multiple
        guard w != width || h != height else { return self }
        var canvas = Image(pixels: Tensor(repeating: value, shape: [3, h, w]))
        canvas.paste(self, x: 0, y: 0)
        return canvas
    }

    /// The region with top-left corner `(x, y)`.
    public func cropped(x: Int, y: Int, width: Int, height: Int) -> Image {
        check(x >= 0 && y >= 0 && width >= 1 && height >= 1 && x + width <= self.width && y + height <= self.height,
                     "crop at (\(x), \(y)) of \(width)×\(height) does not fit an image of \(self.width)×\(self.height)")
        let out = Tensor(uninitializedShape: [3, height, width]) { dst in
            pixels.withUnsafeBufferPointer { src in
                for c in 0..<3 { for row in 0..<height {
                    let from = (c * self.height + y + row) * self.width + x
                    dst.baseAddress!.advanced(by: (c * height + row) * width)
                        .initialize(from: src.baseAddress!.advanced(by: from), count: width)
                } }
            }
        }
        return Image(pixels: out)
    }

    /// YOLOX's letterbox: scaled by `r = min(size / H, size / W)` to `(int(W·r), int(H·r))`,
    /// placed at the top-left of a `size × size` canvas filled with grey `fill`.
    ///
    /// - Returns: the canvas and `r` (divide detected boxes by it to map them back).
    public func letterboxed(size: Int, fill: Float = 114, filter: ResizeFilter = .bilinear) -> (image: Image, scale: Double) {
        check(size >= 1, "letterbox size must be positive")
        let r = min(Double(size) / Double(height), Double(size) / Double(width))
        let w = max(1, Int(Double(width) * r)), h = max(1, Int(Double(height) * r))
        let scaled = resized(width: w, height: h, filter: filter)
        var canvas = Tensor(repeating: fill, shape: [3, size, size])
        canvas.withUnsafeMutableBufferPointer { dst in
            scaled.pixels.withUnsafeBufferPointer { src in
                for c in 0..<3 { for row in 0..<h {
                    dst.baseAddress!.advanced(by: (c * size + row) * size)
                        .update(from: src.baseAddress!.advanced(by: (c * h + row) * w), count: w)
                } }
            }
        }
        return (Image(pixels: canvas), r)
    }
}

/// Per-output-pixel source range and weights of a 1-D resampling, as Pillow computes them.
struct ResampleTable {
    let inSize: Int, outSize: Int, taps: Int
    var start: [Int32], count: [Int32], weights: [Float]

    init(inSize: Int, outSize: Int, filter: ResizeFilter) {
        self.inSize = inSize
        self.outSize = outSize
        let scale = Double(inSize) / Double(outSize)
        let filterScale = filter == .bilinearAntialiased ? max(scale, 1) : 1
        let support = 1.0 * filterScale  // the triangle filter's support is 1
        let taps = Int(support.rounded(.up)) * 2 + 1
        self.taps = taps
        start = [Int32](repeating: 0, count: outSize)
        count = [Int32](repeating: 0, count: outSize)
        weights = [Float](repeating: 0, count: outSize * taps)
        for j in 0..<outSize {
            let center = (Double(j) + 0.5) * scale
            // Pillow truncates with a C cast, then clips
            var lo = Int(center - support + 0.5)
            if lo < 0 { lo = 0 }
            var hi = Int(center + support + 0.5)
            if hi > inSize { hi = inSize }
            let n = min(max(hi - lo, 0), taps)
            var w = [Double](repeating: 0, count: n)
            var total = 0.0
            for t in 0..<n {
                let d = abs((Double(t + lo) - center + 0.5) / filterScale)
                w[t] = d < 1 ? 1 - d : 0
                total += w[t]
            }
            start[j] = Int32(lo)
            count[j] = Int32(n)
            for t in 0..<n { weights[j * taps + t] = Float(total != 0 ? w[t] / total : 0) }
        }
    }

    /// `[C, H, inSize]` → `[C, H, outSize]`.
    func horizontal(_ x: Tensor) -> Tensor {
        let rows = x.shape[0] * x.shape[1]
        return Tensor(uninitializedShape: [x.shape[0], x.shape[1], outSize]) { y in
            x.withUnsafeBufferPointer { src in
                start.withUnsafeBufferPointer { s in count.withUnsafeBufferPointer { n in weights.withUnsafeBufferPointer { w in
                    let job = Job(src.baseAddress!, y.baseAddress!, s.baseAddress!, n.baseAddress!, w.baseAddress!)
                    ComputeThreads.forEachChunk(of: rows, minimumChunk: max(1, 32_768 / max(1, outSize * 2))) { r in
                        lk_resample_rows(job.x, Int32(inSize), Int32(outSize), job.start, job.count, job.weights,
                                         Int32(taps), r.lowerBound, r.upperBound, job.y)
                    }
                } } }
            }
        }
    }

    /// `[C, inSize, W]` → `[C, outSize, W]`.
    func vertical(_ x: Tensor) -> Tensor {
        let (c, w) = (x.shape[0], x.shape[2])
        return Tensor(uninitializedShape: [c, outSize, w]) { y in
            x.withUnsafeBufferPointer { src in
                start.withUnsafeBufferPointer { s in count.withUnsafeBufferPointer { n in weights.withUnsafeBufferPointer { wt in
                    let job = Job(src.baseAddress!, y.baseAddress!, s.baseAddress!, n.baseAddress!, wt.baseAddress!)
                    ComputeThreads.forEachChunk(of: c * outSize, minimumChunk: max(1, 32_768 / max(1, w * 2))) { r in
                        lk_resample_columns(job.x, Int32(inSize), Int32(w), Int32(outSize), job.start, job.count,
                                            job.weights, Int32(taps), r.lowerBound, r.upperBound, job.y)
                    }
                } } }
            }
        }
    }

    /// Pointers handed to parallel chunks; each chunk writes only its own rows of `y`.
    private struct Job: @unchecked Sendable {
        let x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>
        let start: UnsafePointer<Int32>, count: UnsafePointer<Int32>, weights: UnsafePointer<Float>
        init(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ s: UnsafePointer<Int32>, _ c: UnsafePointer<Int32>, _ w: UnsafePointer<Float>) {
            (self.x, self.y, start, count, weights) = (x, y, s, c, w)
        }
    }
}

public import LoupeTensor

/// Where two pictures of the same frame differ: how a composite's pasted parts are found once its
/// host is known (the follow-up paper's "localize the spliced region by comparing the query with
/// the retrieved images").
public struct DifferenceRegions: Sendable {
    /// The connected areas that changed, largest first, as boxes in the first image's pixels.
    public var boxes: [BoundingBox]
    /// Share of the compared frame that changed.
    public var changedFraction: Double
    /// `false` when the two do not show the same frame (other aspect ratio, or most of the frame
    /// changed): then ``boxes`` is empty.
    public var aligned: Bool
    /// The changed pixels themselves, on the comparison grid (`gridWidth × gridHeight`, row-major):
    /// `k` for the cells of the k-th box's area (1-based), `0` elsewhere. The changed cells closed
    /// by one cell (grown, then shrunk back), so that a pasted part whose colours match the host
    /// in places stays whole.
    public var cells: [UInt8] = []
    public var gridWidth = 0, gridHeight = 0

    /// A result without a grid (``cells`` empty); ``Image/differenceRegions(from:gridSide:threshold:minimumFraction:maximumFraction:maximumRegions:)`` fills the grid.
    public init(boxes: [BoundingBox], changedFraction: Double, aligned: Bool) {
        (self.boxes, self.changedFraction, self.aligned) = (boxes, changedFraction, aligned)
    }

    /// Whether the cell under pixel `x, y` of the `width × height` image compared, or one within
    /// `radius` cells of it, carries a label that `accepts` takes; `false` without a grid.
    public func marks(x: Float, y: Float, width: Int, height: Int, radius: Int = 0, _ accepts: (UInt8) -> Bool) -> Bool {
        guard gridWidth > 0, gridHeight > 0, width > 0, height > 0, x.isFinite, y.isFinite else { return false }
        let cx = min(gridWidth - 1, max(0, Int(x * Float(gridWidth) / Float(width))))
        let cy = min(gridHeight - 1, max(0, Int(y * Float(gridHeight) / Float(height))))
        for yy in max(0, cy - radius)...min(gridHeight - 1, cy + radius) {
            for xx in max(0, cx - radius)...min(gridWidth - 1, cx + radius) where accepts(cells[yy * gridWidth + xx]) { return true }
        }
        return false
    }

    /// ``cells`` at `width × height` pixels (nearest cell), row-major.
    public func mask(width: Int, height: Int) -> [UInt8] {
        guard gridWidth > 0, gridHeight > 0 else { return [UInt8](repeating: 0, count: width * height) }
        var out = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            let gy = min(gridHeight - 1, y * gridHeight / height)
            for x in 0..<width { out[y * width + x] = cells[gy * gridWidth + min(gridWidth - 1, x * gridWidth / width)] }
        }
        return out
    }
}

extension Image {
    /// The areas where this image differs from `other`, compared at `gridSide` pixels on the
    /// longer side (both resized to the same size; they must have the same aspect ratio within
    /// 2 %). A cell changed when, after a 3 × 3 box blur of both, some channel differs by more than
    /// `threshold` grey levels (recompression and resizing stay well below 30); changed cells are
    /// grown by one cell and split into 4-connected areas; areas under `minimumFraction` of the
    /// frame are noise. When more than `maximumFraction` of the frame changed, the images are not
    /// two versions of one frame and no area is returned.
    public func differenceRegions(from other: Image, gridSide: Int = 192, threshold: Float = 30,
                                  minimumFraction: Double = 0.001, maximumFraction: Double = 0.6,
                                  maximumRegions: Int = 4) -> DifferenceRegions {
        let aspect = Double(width) / Double(height), otherAspect = Double(other.width) / Double(other.height)
        guard abs(aspect / otherAspect - 1) <= 0.02 else { return DifferenceRegions(boxes: [], changedFraction: 1, aligned: false) }
        let scale = Double(gridSide) / Double(max(width, height))
        let w = max(8, Int((Double(width) * scale).rounded())), h = max(8, Int((Double(height) * scale).rounded()))
        let a = resized(width: w, height: h).blurred3x3(), b = other.resized(width: w, height: h).blurred3x3()
        var changed = [Bool](repeating: false, count: w * h)
        a.pixels.withUnsafeBufferPointer { pa in
            b.pixels.withUnsafeBufferPointer { pb in
                for i in 0..<(w * h) {
                    var most: Float = 0
                    for c in 0..<3 { most = max(most, abs(pa[c * w * h + i] - pb[c * w * h + i])) }
                    changed[i] = most > threshold
                }
            }
        }
        let fraction = Double(changed.count { $0 }) / Double(w * h)
        guard fraction <= maximumFraction else { return DifferenceRegions(boxes: [], changedFraction: fraction, aligned: false) }
        // grow by one cell (a pasted edge that matches the host in places stays one area)
        var grown = changed
        for y in 0..<h { for x in 0..<w where changed[y * w + x] {
            for (dy, dx) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                let (yy, xx) = (y + dy, x + dx)
                if yy >= 0, yy < h, xx >= 0, xx < w { grown[yy * w + xx] = true }
            }
        } }
        // 4-connected areas, by a stack walk
        var label = [Int32](repeating: -1, count: w * h)
        var areas: [(count: Int, x0: Int, y0: Int, x1: Int, y1: Int)] = []
        for start in 0..<(w * h) where grown[start] && label[start] < 0 {
            var stack = [start], area = (count: 0, x0: w, y0: h, x1: 0, y1: 0)
            label[start] = Int32(areas.count)
            while let i = stack.popLast() {
                let (x, y) = (i % w, i / w)
                area.count += 1
                area = (area.count, min(area.x0, x), min(area.y0, y), max(area.x1, x + 1), max(area.y1, y + 1))
                for (dy, dx) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
                    let (yy, xx) = (y + dy, x + dx)
                    guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                    let j = yy * w + xx
                    if grown[j] && label[j] < 0 { label[j] = Int32(areas.count); stack.append(j) }
                }
            }
            areas.append(area)
        }
        let sx = Float(width) / Float(w), sy = Float(height) / Float(h)
        let kept = areas.indices.filter { Double(areas[$0].count) >= minimumFraction * Double(w * h) }
            .sorted { (areas[$0].count, -$0) > (areas[$1].count, -$1) }
            .prefix(maximumRegions)
        let boxes = kept.map { a in
            BoundingBox(x0: Float(areas[a].x0) * sx, y0: Float(areas[a].y0) * sy, x1: Float(areas[a].x1) * sx, y1: Float(areas[a].y1) * sy)
        }
        // the kept areas' cells, closed: grown cells whose four neighbours are all grown too, or changed
        var number = [Int32: UInt8]()
        for (k, a) in kept.enumerated() { number[Int32(a)] = UInt8(k + 1) }
        var cells = [UInt8](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w {
            let i = y * w + x
            guard label[i] >= 0, let k = number[label[i]] else { continue }
            let inner = x > 0 && x < w - 1 && y > 0 && y < h - 1 && grown[i - 1] && grown[i + 1] && grown[i - w] && grown[i + w]
            if changed[i] || inner { cells[i] = k }
        } }
        var found = DifferenceRegions(boxes: boxes, changedFraction: fraction, aligned: true)
        (found.cells, found.gridWidth, found.gridHeight) = (cells, w, h)
        return found
    }

    /// A 3 × 3 box blur (edges clamped).
    func blurred3x3() -> Image {
        let (w, h) = (width, height)
        var out = Tensor(zeros: [3, h, w])
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    let plane = c * w * h
                    for y in 0..<h {
                        for x in 0..<w {
                            var sum: Float = 0
                            for dy in -1...1 { for dx in -1...1 {
                                sum += src[plane + min(h - 1, max(0, y + dy)) * w + min(w - 1, max(0, x + dx))]
                            } }
                            dst[plane + y * w + x] = sum / 9
                        }
                    }
                }
            }
        }
        return Image(pixels: out)
    }
}

/// An axis-aligned box `[x0, y0, x1, y1)` in pixels (torchvision's `xyxy`).
public struct BoundingBox: Sendable, Hashable, Codable {
    public var x0, y0, x1, y1: Float

    public init(x0: Float, y0: Float, x1: Float, y1: Float) { (self.x0, self.y0, self.x1, self.y1) = (x0, y0, x1, y1) }

    /// Width × height; 0 for an empty or inverted box.
    public var area: Float { max(0, x1 - x0) * max(0, y1 - y0) }

    /// Intersection over union (torchvision's `box_iou`); 0 when both are empty.
    public func intersectionOverUnion(_ other: BoundingBox) -> Float {
        let w = max(0, min(x1, other.x1) - max(x0, other.x0)), h = max(0, min(y1, other.y1) - max(y0, other.y0))
        let inter = w * h
        let union = area + other.area - inter
        return union > 0 ? inter / union : 0
    }

    /// The index of the box in `candidates` this one overlaps most, when that overlap (IoU) is at
    /// least `minimumIoU`; the first of equal overlaps; `nil` when none qualifies.
    public func bestMatch(in candidates: [BoundingBox], minimumIoU: Float) -> Int? {
        var best: (index: Int, iou: Float)?
        for (i, c) in candidates.enumerated() {
            let iou = intersectionOverUnion(c)
            if iou >= minimumIoU, iou > (best?.iou ?? -1) { best = (i, iou) }
        }
        return best?.index
    }

    /// The box scaled by `factor` (e.g. from letterbox to original image coordinates).
    public func scaled(by factor: Float) -> BoundingBox {
        BoundingBox(x0: x0 * factor, y0: y0 * factor, x1: x1 * factor, y1: y1 * factor)
    }

    /// The box scaled by `x` horizontally and `y` vertically, then moved by `(dx, dy)`: how a box
    /// follows an image that is resized (separate factors: resizing rounds each side) and pasted.
    public func scaled(x sx: Float, y sy: Float, dx: Float = 0, dy: Float = 0) -> BoundingBox {
        BoundingBox(x0: dx + x0 * sx, y0: dy + y0 * sy, x1: dx + x1 * sx, y1: dy + y1 * sy)
    }

    /// The box clipped to `[0, width] × [0, height]`.
    public func clipped(width: Float, height: Float) -> BoundingBox {
        BoundingBox(x0: min(max(x0, 0), width), y0: min(max(y0, 0), height), x1: min(max(x1, 0), width), y1: min(max(y1, 0), height))
    }
}

extension BoundingBox {
    /// The box `[0, width) × [0, height)`: a whole image.
    public static func whole(width: Int, height: Int) -> BoundingBox {
        BoundingBox(x0: 0, y0: 0, x1: Float(width), y1: Float(height))
    }

    public var width: Float { x1 - x0 }
    public var height: Float { y1 - y0 }

    /// Finite, with `x1 > x0` and `y1 > y0`.
    public var isValid: Bool { [x0, y0, x1, y1].allSatisfy(\.isFinite) && x1 > x0 && y1 > y0 }

    /// Parses `x0,y0,x1,y1` (pixels; spaces allowed), as the command line writes boxes.
    public init?(parsing text: String) {
        let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == 4, let x0 = values[0], let y0 = values[1], let x1 = values[2], let y1 = values[3] else { return nil }
        self.init(x0: x0, y0: y0, x1: x1, y1: y1)
        guard isValid else { return nil }
    }
}

extension BoundingBox: CustomStringConvertible {
    /// `[x0, y0, x1, y1]`, as the command line reads and prints boxes.
    public var description: String {
        func f(_ v: Float) -> String { v == v.rounded() && abs(v) < 1e7 ? String(Int(v)) : String(v) }
        return "[\(f(x0)), \(f(y0)), \(f(x1)), \(f(y1))]"
    }
}

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

    /// The box scaled by `factor` (e.g. from letterbox to original image coordinates).
    public func scaled(by factor: Float) -> BoundingBox {
        BoundingBox(x0: x0 * factor, y0: y0 * factor, x1: x1 * factor, y1: y1 * factor)
    }

    /// The box clipped to `[0, width] × [0, height]`.
    public func clipped(width: Float, height: Float) -> BoundingBox {
        BoundingBox(x0: min(max(x0, 0), width), y0: min(max(y0, 0), height), x1: min(max(x1, 0), width), y1: min(max(y1, 0), height))
    }
}

/// Non-maximum suppression with torchvision's semantics (`torchvision.ops.nms`): boxes in order
/// of decreasing score (ties: lower index first); a box is kept unless its IoU with a kept box is
/// greater than `iouThreshold`.
///
/// - Returns: indices of the kept boxes, by decreasing score.
public func nonMaximumSuppression(_ boxes: [BoundingBox], scores: [Float], iouThreshold: Float) -> [Int] {
    precondition(boxes.count == scores.count, "\(boxes.count) boxes but \(scores.count) scores")
    let order = boxes.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    var kept: [Int] = []
    for i in order where !scores[i].isNaN {
        if kept.allSatisfy({ boxes[$0].intersectionOverUnion(boxes[i]) <= iouThreshold }) { kept.append(i) }
    }
    return kept
}

/// NMS per class (`torchvision.ops.batched_nms`): boxes of different classes never suppress each
/// other. Returns kept indices by decreasing score.
public func batchedNonMaximumSuppression(_ boxes: [BoundingBox], scores: [Float], classes: [Int], iouThreshold: Float) -> [Int] {
    precondition(boxes.count == classes.count, "\(boxes.count) boxes but \(classes.count) classes")
    var kept: [Int] = []
    for c in Set(classes) {
        let members = boxes.indices.filter { classes[$0] == c }
        let local = nonMaximumSuppression(members.map { boxes[$0] }, scores: members.map { scores[$0] }, iouThreshold: iouThreshold)
        kept += local.map { members[$0] }
    }
    return kept.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
}

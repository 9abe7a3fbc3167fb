public import LoupeTensor

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

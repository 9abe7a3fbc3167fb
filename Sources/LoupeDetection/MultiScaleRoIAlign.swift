internal import Foundation
public import LoupeTensor

/// RoIAlign over a feature pyramid, each box pooled on the level its size calls for
/// (torchvision's `MultiScaleRoIAlign` and the level rule of Mask R-CNN / FPN).
///
/// Level `k = ⌊k₀ + log₂(√area / 224) + ε⌋` with `k₀ = 4`, clamped to the pyramid's levels, where
/// a map of stride `s` is level `log₂ s`. YOLOX's PAFPN (strides 8, 16, 32) thus sends boxes
/// whose √area is below 224 px to stride 8, 224–447 px to stride 16 and larger ones to stride 32.
public struct MultiScaleRoIAlign: Sendable {
    /// Strides of the maps, in the order they are given.
    public var strides: [Int]
    public var outputSize: Int
    public var samplingRatio: Int
    /// Canonical box size and level of the FPN rule.
    public var canonicalSize: Float = 224, canonicalLevel: Float = 4

    public init(strides: [Int], outputSize: Int = 7, samplingRatio: Int = 2) {
        (self.strides, self.outputSize, self.samplingRatio) = (strides, outputSize, samplingRatio)
    }

    /// The index into `strides` for a box (in input-image pixels).
    public func level(for box: BoundingBox) -> Int {
        let levels = strides.map { Float(log2(Double($0))) }
        let k = (canonicalLevel + log2(max(box.area, 0).squareRoot() / canonicalSize) + 1e-6).rounded(.down)
        let clamped = min(max(k, levels.min()!), levels.max()!)
        return levels.firstIndex { $0 >= clamped } ?? levels.count - 1
    }

    /// `[boxes.count, C, outputSize, outputSize]`: each box RoIAligned (aligned = false, as
    /// torchvision's `MultiScaleRoIAlign`) on its level's map `maps[level]` `[1, C, H, W]`.
    public func callAsFunction(_ maps: [Tensor], boxes: [BoundingBox]) -> Tensor {
        precondition(maps.count == strides.count, "\(maps.count) maps for \(strides.count) strides")
        guard !boxes.isEmpty else { return Tensor(zeros: [0, maps[0].shape[1], outputSize, outputSize]) }
        let levels = boxes.map(level(for:))
        var pooled = [Tensor?](repeating: nil, count: boxes.count)
        for (l, map) in maps.enumerated() {
            let members = boxes.indices.filter { levels[$0] == l }
            guard !members.isEmpty else { continue }
            let out = roiAlign(map, boxes: members.map { (0, boxes[$0].x0, boxes[$0].y0, boxes[$0].x1, boxes[$0].y1) },
                               outputSize: outputSize, spatialScale: 1 / Float(strides[l]), samplingRatio: samplingRatio,
                               aligned: false)
            for (j, i) in members.enumerated() { pooled[i] = out.sliced(along: 0, j..<(j + 1)) }
        }
        return Tensor.concatenated(pooled.map { $0! }, along: 0)
    }
}

public import LoupeTensor

/// How a box is cut out of a feature map before it is pooled (the paper's hard attention).
public enum RegionSampling: Sendable, Hashable, Codable, CustomStringConvertible {
    /// RoIAlign (torchvision semantics, `aligned = true`) to `bins × bins` cells, then the pooling
    /// over those cells. Sub-cell box positions count, which matters on a stride-32 map where an
    /// object may span only three or four cells. 7 × 7 is Mask R-CNN's box-head size.
    case roiAlign(bins: Int)
    /// The map cells the box touches (`floor` of the start, `ceil` of the end, at least one
    /// cell), pooled as they are: a box covering the image pools exactly what global pooling does.
    case cells

    public var description: String {
        switch self {
        case let .roiAlign(bins): "roialign\(bins)"
        case .cells: "cells"
        }
    }

    /// Parses `roialign`, `roialign:B` (or `roialignB`) and `cells`.
    public init?(_ text: String) {
        let t = text.lowercased()
        if t == "cells" { self = .cells; return }
        guard t.hasPrefix("roialign") else { return nil }
        let rest = t.dropFirst("roialign".count).drop { $0 == ":" }
        let bins = rest.isEmpty ? 7 : Int(rest)
        guard let bins, (1...64).contains(bins) else { return nil }
        self = .roiAlign(bins: bins)
    }
}

extension GlobalPooling {
    /// Pools each box of a single map: `map` `[1, C, H, W]`, boxes in map pixels scaled by
    /// `spatialScale` (map cells per box unit, i.e. `1 / stride` for boxes in input pixels).
    ///
    /// - Returns: `[boxes.count, C]`, not normalised.
    public func callAsFunction(_ map: Tensor, boxes: [BoundingBox], spatialScale: Float,
                               sampling: RegionSampling = .roiAlign(bins: 7)) -> Tensor {
        let (n, c, h, w) = map.nchw
        precondition(n == 1, "region pooling takes one map [1, C, H, W], got \(map.shape)")
        precondition(boxes.allSatisfy(\.isValid), "region pooling: every box must be finite and non-empty: \(boxes)")
        guard !boxes.isEmpty else { return Tensor(zeros: [0, c]) }
        switch sampling {
        case let .roiAlign(bins):
            let cells = roiAlign(map, boxes: boxes.map { (0, $0.x0, $0.y0, $0.x1, $0.y1) }, outputSize: bins,
                                 spatialScale: spatialScale, samplingRatio: -1, aligned: true)
            return self(cells)
        case .cells:
            let rows = boxes.map { box -> Tensor in
                let x0 = min(w - 1, max(0, Int((box.x0 * spatialScale).rounded(.down))))
                let y0 = min(h - 1, max(0, Int((box.y0 * spatialScale).rounded(.down))))
                let x1 = max(x0 + 1, min(w, Int((box.x1 * spatialScale).rounded(.up))))
                let y1 = max(y0 + 1, min(h, Int((box.y1 * spatialScale).rounded(.up))))
                return self(map.sliced(along: 2, y0..<y1).sliced(along: 3, x0..<x1))
            }
            return Tensor.concatenated(rows, along: 0)
        }
    }
}

extension GlobalPooling {
    /// Pools each box of a single map over only the RoIAlign bins that `keep` marks: a box cut to
    /// the shape of an object (a pasted part's mask) instead of the whole rectangle around it.
    /// `keep[i]` holds `bins × bins` flags, row-major, for box `i`; a box with no bin marked is
    /// pooled over every bin. R-MAC, whose grid needs the whole square, always pools every bin.
    ///
    /// - Returns: `[boxes.count, C]`, not normalised; with every bin kept, exactly what
    ///   ``callAsFunction(_:boxes:spatialScale:sampling:)`` gives with `.roiAlign(bins:)`.
    public func callAsFunction(_ map: Tensor, boxes: [BoundingBox], spatialScale: Float, bins: Int, keep: [[Bool]]) -> Tensor {
        let c = map.nchw.c
        precondition(map.nchw.n == 1, "region pooling takes one map [1, C, H, W], got \(map.shape)")
        precondition(bins >= 1 && keep.count == boxes.count && keep.allSatisfy { $0.count == bins * bins },
                     "masked region pooling: one \(bins)×\(bins) mask per box")
        precondition(boxes.allSatisfy(\.isValid), "region pooling: every box must be finite and non-empty: \(boxes)")
        guard !boxes.isEmpty else { return Tensor(zeros: [0, c]) }
        let cells = roiAlign(map, boxes: boxes.map { (0, $0.x0, $0.y0, $0.x1, $0.y1) }, outputSize: bins,
                             spatialScale: spatialScale, samplingRatio: -1, aligned: true)
        if case .rmac = self { return self(cells) }
        let area = bins * bins
        return cells.withUnsafeBufferPointer { v in
            Tensor.concatenated(boxes.indices.map { i -> Tensor in
                let kept = keep[i].contains(true) ? keep[i].indices.filter { keep[i][$0] } : Array(0..<area)
                var gathered = [Float](repeating: 0, count: c * kept.count)
                for ch in 0..<c {
                    let row = (i * c + ch) * area
                    for (j, b) in kept.enumerated() { gathered[ch * kept.count + j] = v[row + b] }
                }
                return self(Tensor(shape: [1, c, 1, kept.count], scalars: gathered))
            }, along: 0)
        }
    }
}

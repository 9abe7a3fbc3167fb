internal import LoupeKernels

/// RoIAlign (He et al., Mask R-CNN) with torchvision's semantics (`torchvision.ops.roi_align`).
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - boxes: `(batchIndex, x0, y0, x1, y1)` in input-image pixels.
///   - outputSize: bins per side (`pooled_h = pooled_w`, e.g. 7).
///   - spatialScale: map pixels per image pixel (1 / stride).
///   - samplingRatio: bilinear samples per bin side; `≤ 0` adapts: `ceil(box side / bins)`.
///   - aligned: shift the box by −0.5 map pixels so that pixel centres line up (Detectron2's
///     `aligned = True`, the correct choice; `false` reproduces the original, off-by-half version).
/// - Returns: `[boxes.count, C, outputSize, outputSize]`.
public func roiAlign(
    _ input: Tensor, boxes: [(batchIndex: Int, x0: Float, y0: Float, x1: Float, y1: Float)], outputSize: Int,
    spatialScale: Float, samplingRatio: Int = -1, aligned: Bool = true
) -> Tensor {
    let (n, c, h, w) = input.nchw
    check(outputSize >= 1, "roiAlign: output size must be positive, got \(outputSize)")
    check(spatialScale > 0 && spatialScale.isFinite, "roiAlign: spatial scale must be positive, got \(spatialScale)")
    for b in boxes {
        check(b.batchIndex >= 0 && b.batchIndex < n, "roiAlign: batch index \(b.batchIndex) outside the \(n) images of \(input.shape)")
        check([b.x0, b.y0, b.x1, b.y1].allSatisfy(\.isFinite), "roiAlign: box \(b) is not finite")
    }
    let bins = outputSize * outputSize
    return Tensor(uninitializedShape: [boxes.count, c, outputSize, outputSize]) { out in
        input.withUnsafeBufferPointer { x in
            for (i, b) in boxes.enumerated() {
                var box: [Float] = [b.x0, b.y0, b.x1, b.y1]
                let samples = lk_roi_align_workspace(&box, spatialScale, Int32(outputSize), Int32(outputSize),
                                                     Int32(samplingRatio), aligned ? 1 : 0)
                let scratch = ScratchBuffer(floats: max(1, samples) * 8)  // 32-byte samples
                lk_roi_align(x.baseAddress! + b.batchIndex * c * h * w, Int32(c), Int32(h), Int32(w), &box, spatialScale,
                             Int32(outputSize), Int32(outputSize), Int32(samplingRatio), aligned ? 1 : 0,
                             scratch.pointer, out.baseAddress! + i * c * bins)
            }
        }
    }
}

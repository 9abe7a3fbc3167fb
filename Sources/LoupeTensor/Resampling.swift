internal import LoupeKernels

/// Nearest-neighbour ×2 upsampling: `[N, C, H, W]` → `[N, C, 2H, 2W]` (YOLOX's PAFPN).
public func upsampleNearest2x(_ input: Tensor) -> Tensor {
    let (n, c, h, w) = input.nchw
    return Tensor(uninitializedShape: [n, c, 2 * h, 2 * w]) { out in
        input.withUnsafeBufferPointer { x in
            let xp = SendableConstPointer(x.baseAddress!), yp = SendablePointer(out.baseAddress!)
            ComputeThreads.forEachChunk(of: n * c, minimumChunk: max(1, 16_384 / max(1, h * w))) { r in
                lk_upsample_nearest2x(xp.pointer, Int32(h), Int32(w), Int32(r.lowerBound), Int32(r.upperBound), yp.pointer)
            }
        }
    }
}

/// YOLOX's "Focus" space-to-depth: `[N, C, H, W]` → `[N, 4C, H/2, W/2]`.
///
/// Channel blocks in YOLOX's order: pixels at (even row, even column), (odd, even), (even, odd),
/// (odd, odd) — `cat(x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2])`.
/// - Precondition: `H` and `W` are even.
public func spaceToDepth2(_ input: Tensor) -> Tensor {
    let (n, c, h, w) = input.nchw
    check(h % 2 == 0 && w % 2 == 0, "spaceToDepth2 needs even height and width, got \(input.shape)")
    return Tensor(uninitializedShape: [n, 4 * c, h / 2, w / 2]) { out in
        let y = SendablePointer(out.baseAddress!)
        input.withUnsafeBufferPointer { xb in
            let x = SendableConstPointer(xb.baseAddress!)
            // split by output rows: a 416² image has 3 channels but 208 rows
            ComputeThreads.forEachChunk(of: h / 2, minimumChunk: max(1, 16_384 / max(1, c * w))) { rows in
                for i in 0..<n {
                    lk_space_to_depth2(x.pointer + i * c * h * w, Int32(c), Int32(h), Int32(w), Int32(rows.lowerBound),
                                       Int32(rows.upperBound), y.pointer + i * c * h * w)
                }
            }
        }
    }
}

internal import LoupeKernels

/// Max pooling over `kernelSize × kernelSize` windows; taps in the padding are ignored.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - kernelSize: window side.
///   - stride: step between windows.
///   - padding: how the input is padded (padded taps never win).
/// - Returns: `[N, C, OH, OW]`.
///
/// YOLOX's SPP block is `maxPool2D(x, kernelSize: k, stride: 1, padding: .symmetric(k / 2))` for
/// k = 5, 9, 13; ResNet's stem pool is `kernelSize: 3, stride: 2, padding: .symmetric(1)`.
/// The window is separable, so the cost per output is O(2k), not O(k²).
public func maxPool2D(_ input: Tensor, kernelSize: Int, stride: Int, padding: Padding = .valid) -> Tensor {
    pool(input, "maxPool2D", kernelSize: kernelSize, stride: stride, padding: padding) { x, g, r, ws, y in
        var g = g
        lk_max_pool2d(x, &g, Int32(r.lowerBound), Int32(r.upperBound), ws, y)
    }
}

/// Average pooling over `kernelSize × kernelSize` windows.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - kernelSize: window side.
///   - stride: step between windows.
///   - padding: how the input is padded.
///   - countIncludingPadding: divide by `k²` (PyTorch's default) rather than by the taps inside
///     the input.
/// - Returns: `[N, C, OH, OW]`.
public func averagePool2D(
    _ input: Tensor, kernelSize: Int, stride: Int, padding: Padding = .valid, countIncludingPadding: Bool = true
) -> Tensor {
    pool(input, "averagePool2D", kernelSize: kernelSize, stride: stride, padding: padding) { x, g, r, ws, y in
        var g = g
        lk_avg_pool2d(x, &g, countIncludingPadding ? 1 : 0, Int32(r.lowerBound), Int32(r.upperBound), ws, y)
    }
}

/// The mean of each channel: `[N, C, H, W]` → `[N, C]`.
public func globalAveragePool(_ input: Tensor) -> Tensor {
    globalPool(input, lk_global_avg_pool)
}

/// The maximum of each channel: `[N, C, H, W]` → `[N, C]` (MAC pooling before normalisation).
public func globalMaxPool(_ input: Tensor) -> Tensor {
    globalPool(input, lk_global_max_pool)
}

private func globalPool(
    _ input: Tensor,
    _ kernel: (UnsafePointer<Float>?, Int, Int, Int, UnsafeMutablePointer<Float>?) -> Void
) -> Tensor {
    let (n, c, h, w) = input.nchw
    return Tensor(uninitializedShape: [n, c]) { out in
        input.withUnsafeBufferPointer { x in
            let xp = SendableConstPointer(x.baseAddress!), yp = SendablePointer(out.baseAddress!)
            ComputeThreads.forEachChunk(of: n * c, minimumChunk: max(1, 65_536 / max(1, h * w))) { r in
                kernel(xp.pointer, h * w, r.lowerBound, r.upperBound, yp.pointer)
            }
        }
    }
}

private func pool(
    _ input: Tensor, _ name: String, kernelSize: Int, stride: Int, padding: Padding,
    _ kernel: (UnsafePointer<Float>, lk_conv_geometry, Range<Int>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
) -> Tensor {
    let (n, c, h, w) = input.nchw
    let g = windowGeometry(name, input: (c, h, w), kernel: (kernelSize, kernelSize), stride: stride,
                           padding: padding, dilation: 1)
    let p = padding.resolve(height: h, width: w, kernelHeight: kernelSize, kernelWidth: kernelSize,
                            stride: stride, dilation: 1)
    check(max(p.top, p.left, p.bottom, p.right) <= kernelSize / 2,
                 "\(name): padding \(p) must be at most half the kernel size \(kernelSize)")
    let outPlane = Int(g.out_h) * Int(g.out_w)
    var geometry = g
    let work = lk_pool_workspace_floats(&geometry)
    return Tensor(uninitializedShape: [n, c, Int(g.out_h), Int(g.out_w)]) { out in
        input.withUnsafeBufferPointer { x in
            let xp = SendableConstPointer(x.baseAddress!), yp = SendablePointer(out.baseAddress!)
            ComputeThreads.forEachChunk(of: c, minimumChunk: max(1, 8_192 / outPlane)) { r in
                let scratch = ScratchBuffer(floats: work)
                let ws = scratch.pointer
                for i in 0..<n {
                    kernel(xp.pointer + i * c * h * w, g, r, ws, yp.pointer + i * c * outPlane)
                }
            }
        }
    }
}

internal import CLoupeOpenBLAS
internal import LoupeKernels

/// 2-D convolution (cross-correlation, as in PyTorch) with fused bias and activation.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - weight: `[OC, C / groups, KH, KW]`.
///   - bias: `[OC]`, or `nil`.
///   - stride, dilation: the same along both axes.
///   - padding: symmetric, explicit or TensorFlow "SAME".
///   - groups: `C` and `OC` must both be divisible by it.
///   - activation: applied to the biased output in the same pass.
///   - algorithm: `.automatic` picks the path below; `.im2colGEMM` forces im2col + GEMM (for
///     benchmarks and tests of the depthwise kernel against it).
/// - Returns: `[N, OC, OH, OW]` with `OH = (H + pt + pb − dilation·(KH − 1) − 1) / stride + 1`.
///
/// Three paths, chosen from the shapes:
/// - depthwise (`groups == C == OC`): a direct SIMD kernel; im2col would turn each channel into a
///   `1 × KH·KW` GEMM that is all overhead;
/// - 1×1, stride 1, no padding: one GEMM straight on the input, no im2col;
/// - everything else: im2col (split over threads by channel) + `cblas_sgemm` per group.
public func convolution2D(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1,
    padding: Padding = .valid, dilation: Int = 1, groups: Int = 1, activation: Activation = .identity,
    algorithm: ConvolutionAlgorithm = .automatic
) -> Tensor {
    check(input.rank == 4, "convolution2D: input must be [N, C, H, W], got \(input.shape)")
    check(weight.rank == 4, "convolution2D: weight must be [OC, C/groups, KH, KW], got \(weight.shape)")
    let (n, c, h, w) = input.nchw
    let (oc, icg, kh, kw) = weight.nchw
    check(groups >= 1 && c % groups == 0 && oc % groups == 0 && icg * groups == c,
                 "convolution2D: weight \(weight.shape) with groups \(groups) does not fit input \(input.shape)")
    if let bias {
        check(bias.shape == [oc], "convolution2D: bias \(bias.shape) does not fit weight \(weight.shape)")
    }
    let g = windowGeometry("convolution2D", input: (c, h, w), kernel: (kh, kw), stride: stride,
                           padding: padding, dilation: dilation)
    let outH = Int(g.out_h), outW = Int(g.out_w), plane = outH * outW
    let act = activation.kernel
    return Tensor(uninitializedShape: [n, oc, outH, outW]) { out in
        let y = SendablePointer(out.baseAddress!)
        input.withUnsafeBufferPointer { xb in
            weight.withUnsafeBufferPointer { wb in
                withOptionalPointer(bias) { bp in
                    let x = SendableConstPointer(xb.baseAddress!)
                    let wp = SendableConstPointer(wb.baseAddress!)
                    if groups == c && oc == c && icg == 1 && algorithm == .automatic {
                        depthwise(x: x, w: wp, bias: bp, g: g, n: n, act: act, y: y)
                        return
                    }
                    let pointwise = kh == 1 && kw == 1 && stride == 1 && g.pad_top == 0 && g.pad_left == 0
                        && outH == h && outW == w
                    let k = icg * kh * kw  // GEMM depth per group
                    let col: UnsafeMutablePointer<Float>? =
                        pointwise ? nil : .allocate(capacity: c * kh * kw * plane)
                    defer { col?.deallocate() }
                    for i in 0..<n {
                        let xi = x.pointer + i * c * h * w  // [C, H, W]
                        let yi = y.pointer + i * oc * plane  // [OC, OH*OW]
                        let b: UnsafePointer<Float>  // [C*KH*KW, OH*OW]
                        if let col {
                            var geometry = g
                            let colp = SendablePointer(col)
                            ComputeThreads.forEachChunk(of: c, minimumChunk: max(1, 32_768 / (kh * kw * plane))) { r in
                                lk_im2col(xi, &geometry, Int32(r.lowerBound), Int32(r.upperBound), colp.pointer)
                            }
                            b = UnsafePointer(col)
                        } else {
                            b = xi
                        }
                        let m = oc / groups
                        for group in 0..<groups {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                        Int32(m), Int32(plane), Int32(k), 1,
                                        wp.pointer + group * m * k, Int32(k),  // [m, k]
                                        b + group * k * plane, Int32(plane),   // [k, plane]
                                        0, yi + group * m * plane, Int32(plane))  // [m, plane]
                        }
                        if bp != nil || activation != .identity {
                            let bias = bp.map { SendableConstPointer($0) }
                            let yip = SendablePointer(yi)
                            ComputeThreads.forEachChunk(of: oc, minimumChunk: max(1, 16_384 / plane)) { r in
                                lk_bias_activation(yip.pointer, bias?.pointer, plane, r.lowerBound, r.upperBound, act)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How ``convolution2D(_:weight:bias:stride:padding:dilation:groups:activation:algorithm:)``
/// computes its result.
public enum ConvolutionAlgorithm: Sendable, Hashable {
    /// Direct depthwise kernel when `groups == C == OC`, a single GEMM for unpadded 1×1 stride 1,
    /// im2col + GEMM otherwise.
    case automatic
    /// Always im2col + one GEMM per group.
    case im2colGEMM
}

private func depthwise(
    x: SendableConstPointer, w: SendableConstPointer, bias: UnsafePointer<Float>?, g: lk_conv_geometry,
    n: Int, act: lk_activation, y: SendablePointer
) {
    let c = Int(g.channels)
    let inPlane = Int(g.height) * Int(g.width), outPlane = Int(g.out_h) * Int(g.out_w)
    let bias = bias.map { SendableConstPointer($0) }
    var geometry = g
    let work = lk_depthwise_workspace_floats(&geometry)
    ComputeThreads.forEachChunk(of: c, minimumChunk: max(1, 8_192 / outPlane)) { r in
        var geometry = g
        let ws = UnsafeMutablePointer<Float>.allocate(capacity: work)
        defer { ws.deallocate() }
        for i in 0..<n {
            lk_depthwise_conv(x.pointer + i * c * inPlane, w.pointer, bias?.pointer, &geometry, act,
                              Int32(r.lowerBound), Int32(r.upperBound), ws, y.pointer + i * c * outPlane)
        }
    }
}

/// Calls `body` with the base address of `tensor`'s elements, or `nil`.
func withOptionalPointer<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafeBufferPointer { body($0.baseAddress) }
}

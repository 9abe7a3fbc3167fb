internal import LoupeKernels

/// How a convolution or pooling window treats the border of its input.
public enum Padding: Sendable, Hashable {
    /// Zeros (or ignored taps, for max pooling) added on each side.
    case explicit(top: Int, left: Int, bottom: Int, right: Int)
    /// TensorFlow's "SAME": output extent `ceil(in / stride)`; the total padding is split with the
    /// odd pixel at the bottom/right. EfficientNet-Lite checkpoints were trained with it, and it
    /// differs from symmetric `k / 2` padding on stride 2, so it must be reproduced exactly.
    case same

    /// `p` on every side: PyTorch's `padding=p`.
    public static func symmetric(_ p: Int) -> Padding { .explicit(top: p, left: p, bottom: p, right: p) }

    /// No padding.
    public static let valid = Padding.symmetric(0)

    /// The padding of each side for an input of `height × width`.
    func resolve(height: Int, width: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, dilation: Int)
        -> (top: Int, left: Int, bottom: Int, right: Int)
    {
        switch self {
        case let .explicit(top, left, bottom, right):
            check(min(top, left, bottom, right) >= 0, "negative padding \(self)")
            return (top, left, bottom, right)
        case .same:
            func split(_ input: Int, _ kernel: Int) -> (Int, Int) {
                let out = (input + stride - 1) / stride
                let total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - input, 0)
                return (total / 2, total - total / 2)
            }
            let (t, b) = split(height, kernelHeight)
            let (l, r) = split(width, kernelWidth)
            return (t, l, b, r)
        }
    }
}

/// The kernel geometry for one image, validated; `operation` names the caller in messages.
func windowGeometry(
    _ operation: String, input: (c: Int, h: Int, w: Int), kernel: (h: Int, w: Int),
    stride: Int, padding: Padding, dilation: Int
) -> lk_conv_geometry {
    check(kernel.h >= 1 && kernel.w >= 1, "\(operation): kernel \(kernel) must be positive")
    check(stride >= 1, "\(operation): stride must be >= 1, got \(stride)")
    check(dilation >= 1, "\(operation): dilation must be >= 1, got \(dilation)")
    let p = padding.resolve(height: input.h, width: input.w, kernelHeight: kernel.h, kernelWidth: kernel.w,
                            stride: stride, dilation: dilation)
    let spanH = (kernel.h - 1) * dilation + 1, spanW = (kernel.w - 1) * dilation + 1
    let outH = (input.h + p.top + p.bottom - spanH) / stride + 1
    let outW = (input.w + p.left + p.right - spanW) / stride + 1
    check(input.h + p.top + p.bottom >= spanH && input.w + p.left + p.right >= spanW && outH >= 1 && outW >= 1,
                 "\(operation): a \(kernel.h)x\(kernel.w) window (dilation \(dilation)) does not fit the padded input \(input.h)x\(input.w) with padding \(p)")
    check(Int32(exactly: outH * outW) != nil && Int32(exactly: input.h * input.w) != nil,
                 "\(operation): feature map \(input.h)x\(input.w) is too large")
    return lk_conv_geometry(
        channels: Int32(input.c), height: Int32(input.h), width: Int32(input.w),
        kernel_h: Int32(kernel.h), kernel_w: Int32(kernel.w),
        stride_h: Int32(stride), stride_w: Int32(stride),
        pad_top: Int32(p.top), pad_left: Int32(p.left),
        dilation_h: Int32(dilation), dilation_w: Int32(dilation),
        out_h: Int32(outH), out_w: Int32(outW))
}

import Foundation
import LoupeTensor

// Naive, obviously-correct references the kernels are checked against: plain loops over the
// defining formulas, accumulated in Double.

/// Normalised error: max |a − b| / max(1, max |b|).
func normalizedError(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    let x = a.scalars, y = b.scalars
    var worst: Float = 0, scale: Float = 1
    for i in 0..<x.count {
        if x[i].isNaN != y[i].isNaN { return .infinity }
        worst = max(worst, abs(x[i] - y[i]))
        scale = max(scale, abs(y[i]))
    }
    return worst / scale
}

func naiveActivation(_ v: Double, _ act: Activation) -> Double {
    switch act {
    case .identity: v
    case .relu: max(v, 0)
    case .relu6: min(max(v, 0), 6)
    case .silu: v / (1 + exp(-v))
    case .sigmoid: 1 / (1 + exp(-v))
    }
}

struct Pads { var top, left, bottom, right: Int }

func naiveConv(
    _ x: Tensor, _ w: Tensor, _ bias: Tensor?, stride: Int, pads: Pads, dilation: Int, groups: Int,
    activation: Activation = .identity
) -> Tensor {
    let (n, c, h, wd) = x.nchw
    let (oc, icg, kh, kw) = w.nchw
    let oh = (h + pads.top + pads.bottom - dilation * (kh - 1) - 1) / stride + 1
    let ow = (wd + pads.left + pads.right - dilation * (kw - 1) - 1) / stride + 1
    var y = Tensor(zeros: [n, oc, oh, ow])
    let xs = x.scalars, ws = w.scalars, bs = bias?.scalars
    let ocg = oc / groups
    y.withUnsafeMutableBufferPointer { out in
        for b in 0..<n { for o in 0..<oc {
            let g = o / ocg
            for i in 0..<oh { for j in 0..<ow {
                var acc = Double(bs?[o] ?? 0)
                for ci in 0..<icg { for ky in 0..<kh { for kx in 0..<kw {
                    let ih = i * stride - pads.top + ky * dilation
                    let iw = j * stride - pads.left + kx * dilation
                    guard ih >= 0, ih < h, iw >= 0, iw < wd else { continue }
                    let cin = g * icg + ci
                    acc += Double(xs[((b * c + cin) * h + ih) * wd + iw]) * Double(ws[((o * icg + ci) * kh + ky) * kw + kx])
                } } }
                out[((b * oc + o) * oh + i) * ow + j] = Float(naiveActivation(acc, activation))
            } }
        } }
    }
    return y
}

/// op: "max" or "avg" (with countIncludingPadding).
func naivePool(_ x: Tensor, kernel: Int, stride: Int, pads: Pads, op: String, includePad: Bool = true) -> Tensor {
    let (n, c, h, w) = x.nchw
    let oh = (h + pads.top + pads.bottom - kernel) / stride + 1
    let ow = (w + pads.left + pads.right - kernel) / stride + 1
    var y = Tensor(zeros: [n, c, oh, ow])
    let xs = x.scalars
    y.withUnsafeMutableBufferPointer { out in
        for p in 0..<(n * c) { for i in 0..<oh { for j in 0..<ow {
            var best = -Double.infinity, sum = 0.0, count = 0
            for ky in 0..<kernel { for kx in 0..<kernel {
                let ih = i * stride - pads.top + ky, iw = j * stride - pads.left + kx
                guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                let v = Double(xs[(p * h + ih) * w + iw])
                best = max(best, v); sum += v; count += 1
            } }
            let value = op == "max" ? best : sum / Double(includePad ? kernel * kernel : count)
            out[(p * oh + i) * ow + j] = Float(value)
        } } }
    }
    return y
}

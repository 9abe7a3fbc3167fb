internal import LoupeKernels

extension Tensor {
    /// Elementwise sum of two tensors of the same shape (residual connections).
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        binary(lhs, rhs, "+", lk_add)
    }

    /// Elementwise product of two tensors of the same shape.
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
        binary(lhs, rhs, "*", lk_mul)
    }

    /// Elementwise difference of two tensors of the same shape.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        check(lhs.shape == rhs.shape, "shape mismatch: \(lhs.shape) - \(rhs.shape)")
        return lhs.zipMap(rhs) { $0 - $1 }
    }

    /// Every element multiplied by `scalar`.
    public static func * (lhs: Tensor, scalar: Float) -> Tensor { lhs.map { $0 * scalar } }

    /// `scalar` added to every element.
    public static func + (lhs: Tensor, scalar: Float) -> Tensor { lhs.map { $0 + scalar } }

    /// A tensor of the same shape with `transform` applied to each element.
    public func map(_ transform: (Float) -> Float) -> Tensor {
        Tensor(uninitializedShape: shape) { out in
            withUnsafeBufferPointer { src in
                for i in 0..<src.count { out.initializeElement(at: i, to: transform(src[i])) }
            }
        }
    }

    func zipMap(_ other: Tensor, _ transform: (Float, Float) -> Float) -> Tensor {
        Tensor(uninitializedShape: shape) { out in
            withUnsafeBufferPointer { a in
                other.withUnsafeBufferPointer { b in
                    for i in 0..<a.count { out.initializeElement(at: i, to: transform(a[i], b[i])) }
                }
            }
        }
    }

    /// Channel `c` of every image multiplied by `scale[n, c]` (squeeze-and-excitation gating).
    ///
    /// `self`: `[N, C, H, W]`; `scale`: `[N, C]` or `[N, C, 1, 1]`.
    public func scalingChannels(by scale: Tensor) -> Tensor {
        let (n, c, h, w) = nchw
        check(scale.scalarCount == n * c,
                     "channel scale of shape \(scale.shape) does not fit feature map \(shape)")
        var out = self
        out.withUnsafeMutableBufferPointer { y in
            scale.withUnsafeBufferPointer { s in
                for i in 0..<n {
                    let base = y.baseAddress! + i * c * h * w
                    lk_scale_channels(base, s.baseAddress! + i * c, base, h * w, 0, c)
                }
            }
        }
        return out
    }

    /// The sum of all elements, accumulated in `Double`.
    public func sum() -> Float {
        withUnsafeBufferPointer { Float($0.reduce(0.0) { $0 + Double($1) }) }
    }

    /// The largest element, or `nil` for an empty tensor (NaN propagates).
    public func max() -> Float? {
        withUnsafeBufferPointer { b in
            guard var m = b.first else { return nil }
            for v in b { if v.isNaN { return .nan }; if v > m { m = v } }
            return m
        }
    }

    private static func binary(
        _ lhs: Tensor, _ rhs: Tensor, _ op: String,
        _ kernel: (UnsafePointer<Float>?, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Void
    ) -> Tensor {
        check(lhs.shape == rhs.shape, "shape mismatch: \(lhs.shape) \(op) \(rhs.shape)")
        return Tensor(uninitializedShape: lhs.shape) { out in
            lhs.withUnsafeBufferPointer { a in
                rhs.withUnsafeBufferPointer { b in
                    let y = SendablePointer(out.baseAddress!)
                    let pa = SendableConstPointer(a.baseAddress!), pb = SendableConstPointer(b.baseAddress!)
                    ComputeThreads.forEachChunk(of: a.count, minimumChunk: 1 << 16) { r in
                        kernel(pa.pointer + r.lowerBound, pb.pointer + r.lowerBound,
                               y.pointer + r.lowerBound, r.count)
                    }
                }
            }
        }
    }
}

/// A read-only raw pointer handed to parallel chunks.
struct SendableConstPointer: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
    init(_ pointer: UnsafePointer<Float>) { self.pointer = pointer }
}

internal import CLoupeOpenBLAS
internal import LoupeKernels

/// A fully connected layer: `y = x · Wᵀ + b`, then `activation`.
///
/// - Parameters:
///   - input: `[N, in]`.
///   - weight: `[out, in]` (PyTorch's `nn.Linear` layout).
///   - bias: `[out]` or `nil`.
/// - Returns: `[N, out]`.
public func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, activation: Activation = .identity) -> Tensor {
    check(input.rank == 2 && weight.rank == 2 && input.shape[1] == weight.shape[1],
                 "linear: input \(input.shape) does not fit weight \(weight.shape) (expected [N, in] and [out, in])")
    let n = input.shape[0], inFeatures = input.shape[1], outFeatures = weight.shape[0]
    if let bias {
        check(bias.shape == [outFeatures], "linear: bias \(bias.shape) does not fit weight \(weight.shape)")
    }
    return Tensor(uninitializedShape: [n, outFeatures]) { out in
        input.withUnsafeBufferPointer { x in
            weight.withUnsafeBufferPointer { w in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outFeatures), Int32(inFeatures),
                            1, x.baseAddress, Int32(inFeatures), w.baseAddress, Int32(inFeatures),
                            0, out.baseAddress, Int32(outFeatures))
                withOptionalPointer(bias) { b in
                    guard b != nil || activation != .identity else { return }
                    // Bias varies along the row here, so run the epilogue on each row as [out, 1].
                    for i in 0..<n {
                        lk_bias_activation(out.baseAddress! + i * outFeatures, b, 1, 0, outFeatures, activation.kernel)
                    }
                }
            }
        }
    }
}

/// Matrix product `a · b` (or `a · bᵀ` with `transposingB`).
///
/// - Parameters: `a`: `[M, K]`; `b`: `[K, N]` (or `[N, K]` when `transposingB`).
/// - Returns: `[M, N]`.
public func matmul(_ a: Tensor, _ b: Tensor, transposingB: Bool = false) -> Tensor {
    check(a.rank == 2 && b.rank == 2, "matmul needs rank-2 tensors, got \(a.shape) and \(b.shape)")
    let m = a.shape[0], k = a.shape[1]
    let (bk, nCols) = transposingB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
    check(bk == k, "matmul: \(a.shape) · \(b.shape)\(transposingB ? "ᵀ" : "") do not fit")
    return Tensor(uninitializedShape: [m, nCols]) { out in
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                cblas_sgemm(CblasRowMajor, CblasNoTrans, transposingB ? CblasTrans : CblasNoTrans,
                            Int32(m), Int32(nCols), Int32(k), 1, ap.baseAddress, Int32(k),
                            bp.baseAddress, Int32(transposingB ? k : nCols), 0, out.baseAddress, Int32(nCols))
            }
        }
    }
}

internal import LoupeKernels

/// A fully connected layer: `y = x · Wᵀ + b`, then `activation`.
///
/// - Parameters:
///   - input: `[N, in]`.
///   - weight: `[out, in]` (PyTorch's `nn.Linear` layout).
///   - bias: `[out]` or `nil`.
///   - activation: applied to the result (fused into the bias pass).
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
                parallelGEMM(m: n, n: outFeatures, k: inFeatures, a: x.baseAddress!, lda: inFeatures,
                             b: w.baseAddress!, ldb: inFeatures, transposingB: true,
                             c: out.baseAddress!, ldc: outFeatures)
                withOptionalPointer(bias) { b in
                    guard b != nil || activation != .identity else { return }
                    lk_column_bias_activation(out.baseAddress!, outFeatures, b, outFeatures, 0, n, activation.kernel)
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
                parallelGEMM(m: m, n: nCols, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!,
                             ldb: transposingB ? k : nCols, transposingB: transposingB,
                             c: out.baseAddress!, ldc: nCols)
            }
        }
    }
}

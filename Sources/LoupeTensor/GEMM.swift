internal import CLoupeOpenBLAS

/// Row-major single-precision GEMM, `C[M, N] = A[M, K] · B (+ beta · C)`, parallelised by Loupe's
/// own pool: OpenBLAS always runs single-threaded inside each chunk (see ``ComputeThreads``).
///
/// `B` is `[K, N]` with leading dimension `ldb`, or `[N, K]` when `transposingB`. Large `N` is
/// split into column blocks, otherwise `M` into row blocks; each block is one `cblas_sgemm` call.
func parallelGEMM(
    m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int, transposingB: Bool = false,
    c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0
) {
    guard m > 0, n > 0 else { return }
    let threads = ComputeThreads.count
    let ap = SendableConstPointer(a), bp = SendableConstPointer(b), cp = SendablePointer(c)
    if n >= 64 * threads || m < 16 * threads {
        // column blocks, rounded to multiples of 16 so that OpenBLAS's panels stay whole
        let blocks = (n + 15) / 16
        ComputeThreads.forEachChunk(of: blocks, minimumChunk: max(1, 16_384 / max(1, m * 16))) { r in
            let n0 = r.lowerBound * 16, n1 = min(n, r.upperBound * 16)
            let bOffset = transposingB ? n0 * ldb : n0
            singleThreadedGEMM(m: m, n: n1 - n0, k: k, a: ap.pointer, lda: lda, b: bp.pointer + bOffset, ldb: ldb,
                               transposingB: transposingB, c: cp.pointer + n0, ldc: ldc, beta: beta)
        }
    } else {
        ComputeThreads.forEachChunk(of: m, minimumChunk: 16) { r in
            singleThreadedGEMM(m: r.count, n: n, k: k, a: ap.pointer + r.lowerBound * lda, lda: lda,
                               b: bp.pointer, ldb: ldb, transposingB: transposingB,
                               c: cp.pointer + r.lowerBound * ldc, ldc: ldc, beta: beta)
        }
    }
}

/// One `cblas_sgemm` call on the calling thread (OpenBLAS is kept at one thread).
@inline(__always)
func singleThreadedGEMM(
    m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    transposingB: Bool = false, c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float = 0
) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, transposingB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

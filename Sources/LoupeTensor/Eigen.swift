internal import CLoupeLAPACKE

/// Why a symmetric eigendecomposition failed.
public enum EigenError: Error, Equatable, CustomStringConvertible {
    /// The matrix is not square `[D, D]`.
    case notSquare([Int])
    /// The matrix holds NaN or infinity.
    case notFinite
    /// LAPACK's `ssyevd` did not converge (`info` > 0) or rejected an argument (`info` < 0).
    case lapackFailure(info: Int)

    public var description: String {
        switch self {
        case let .notSquare(shape): "eigendecomposition needs a square [D, D] matrix, got \(shape)"
        case .notFinite: "eigendecomposition: the matrix holds NaN or infinity"
        case let .lapackFailure(info): "LAPACK ssyevd failed with info = \(info)"
        }
    }
}

extension Tensor {
    /// Eigenvalues and eigenvectors of a symmetric `[D, D]` matrix, by LAPACK's divide-and-conquer
    /// `ssyevd` (only the lower triangle is read).
    ///
    /// - Returns: `values` `[D]` in descending order and `vectors` `[D, D]` whose row `i` is the
    ///   unit eigenvector of `values[i]` — the row layout PCA whitening wants.
    public func symmetricEigendecomposition() throws(EigenError) -> (values: Tensor, vectors: Tensor) {
        guard rank == 2, shape[0] == shape[1] else { throw .notSquare(shape) }
        let d = shape[0]
        guard withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        var a = scalars  // row-major; LAPACKE with column-major reads it as Aᵀ = A
        var w = [Float](repeating: 0, count: d)
        let info = a.withUnsafeMutableBufferPointer { ap in
            w.withUnsafeMutableBufferPointer { wp in
                LAPACKE_ssyevd(LAPACK_COL_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "L")), Int32(d),
                               ap.baseAddress, Int32(d), wp.baseAddress)
            }
        }
        guard info == 0 else { throw .lapackFailure(info: Int(info)) }
        // Column-major output: eigenvector j is a[j*d ..< (j+1)*d], ascending eigenvalues.
        var values = [Float](repeating: 0, count: d), vectors = [Float](repeating: 0, count: d * d)
        for i in 0..<d {
            let j = d - 1 - i
            values[i] = w[j]
            for k in 0..<d { vectors[i * d + k] = a[j * d + k] }
        }
        return (Tensor(shape: [d], scalars: values), Tensor(shape: [d, d], scalars: vectors))
    }
}

extension Tensor {
    /// `L⁻¹` for the Cholesky factor `L` of a symmetric positive-definite `[D, D]` matrix
    /// (`A = L Lᵀ`), by LAPACK's `spotrf` and `strtri`. Learned whitening uses it to whiten the
    /// matching pairs' difference covariance.
    ///
    /// - Throws: ``EigenError/lapackFailure(info:)`` with `info > 0` when `A` is not positive definite.
    public func inverseCholeskyFactor() throws(EigenError) -> Tensor {
        guard rank == 2, shape[0] == shape[1] else { throw .notSquare(shape) }
        let d = shape[0]
        guard withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) else { throw .notFinite }
        var a = scalars
        let lower = Int8(UInt8(ascii: "L")), nonUnit = Int8(UInt8(ascii: "N"))
        // Row-major A is column-major Aᵀ = A: factor the "upper" triangle of the column-major view,
        // which is the lower triangle L of the row-major matrix. Use row-major LAPACKE to keep it plain.
        var info = a.withUnsafeMutableBufferPointer { LAPACKE_spotrf(LAPACK_ROW_MAJOR, lower, Int32(d), $0.baseAddress, Int32(d)) }
        guard info == 0 else { throw .lapackFailure(info: Int(info)) }
        info = a.withUnsafeMutableBufferPointer { LAPACKE_strtri(LAPACK_ROW_MAJOR, lower, nonUnit, Int32(d), $0.baseAddress, Int32(d)) }
        guard info == 0 else { throw .lapackFailure(info: Int(info)) }
        for i in 0..<d where i + 1 < d { for j in (i + 1)..<d { a[i * d + j] = 0 } }  // keep only L⁻¹
        return Tensor(shape: [d, d], scalars: a)
    }

    /// Each row of a `[N, D]` matrix divided by its L2 norm plus `epsilon` (cirtorch's `l2n`:
    /// `x / (‖x‖ + 1e-6)`, so an all-zero row stays zero instead of becoming NaN).
    public func l2NormalizedRows(epsilon: Float = 1e-6) -> Tensor {
        check(rank == 2, "l2NormalizedRows needs [N, D], got \(shape)")
        let (n, d) = (shape[0], shape[1])
        var out = self
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<n {
                var sum: Double = 0
                for j in 0..<d { sum += Double(p[i * d + j]) * Double(p[i * d + j]) }
                let scale = 1 / (Float(sum.squareRoot()) + epsilon)
                for j in 0..<d { p[i * d + j] *= scale }
            }
        }
        return out
    }
}

internal import Foundation
public import LoupeTensor

// Forward and backward passes of the student head's layers, written out by hand. Every backward
// is checked against central finite differences in the tests. Rows are samples: `[N, features]`.

/// `y = x · Wᵀ + b`: the gradients of a fully connected layer (or a 1×1 convolution applied to
/// every cell as a row).
///
/// - Parameters: `x` `[N, in]`, `weight` `[out, in]`, `gradient` = ∂L/∂y `[N, out]`.
/// - Returns: ∂L/∂x `[N, in]` (skipped when `needsInput` is false: the first layer's input is
///   frozen), ∂L/∂W `[out, in]` = gradientᵀ · x, ∂L/∂b `[out]` = column sums.
public func linearBackward(_ x: Tensor, weight: Tensor, gradient: Tensor, needsInput: Bool = true)
    -> (input: Tensor?, weight: Tensor, bias: Tensor) {
    precondition(x.rank == 2 && gradient.rank == 2 && x.shape[0] == gradient.shape[0] && weight.shape == [gradient.shape[1], x.shape[1]],
                 "linearBackward: x \(x.shape), weight \(weight.shape), gradient \(gradient.shape) do not fit")
    let gradWeight = matmul(gradient.permuted([1, 0]), x)
    let out = gradient.shape[1]
    var bias = [Float](repeating: 0, count: out)
    gradient.withUnsafeBufferPointer { g in
        for i in 0..<gradient.shape[0] { for j in 0..<out { bias[j] += g[i * out + j] } }
    }
    return (needsInput ? matmul(gradient, weight) : nil, gradWeight, Tensor(shape: [out], scalars: bias))
}

/// ReLU's gradient from its output `y`: passes where `y > 0`.
public func reluBackward(output y: Tensor, gradient: Tensor) -> Tensor {
    precondition(y.shape == gradient.shape, "reluBackward: \(y.shape) vs \(gradient.shape)")
    var out = gradient
    y.withUnsafeBufferPointer { v in
        out.withUnsafeMutableBufferPointer { g in for i in 0..<g.count where v[i] <= 0 { g[i] = 0 } }
    }
    return out
}

/// The gradient of ``generalizedMeanOverCells(_:cells:p:epsilon:)``:
/// `∂y/∂xₖ = y^(1−p) · xₖ^(p−1) / cells` where `xₖ > ε`, else 0.
public func generalizedMeanOverCellsBackward(_ x: Tensor, output y: Tensor, gradient: Tensor, cells: Int,
                                             p: Float = 3, epsilon: Float = 1e-6) -> Tensor {
    precondition(y.shape == gradient.shape && x.shape == [y.shape[0] * cells, y.shape[1]],
                 "GeM over cells backward: x \(x.shape), y \(y.shape), gradient \(gradient.shape)")
    let n = y.shape[0], c = y.shape[1]
    var out = [Float](repeating: 0, count: x.scalarCount)
    x.withUnsafeBufferPointer { v in
        y.withUnsafeBufferPointer { yy in
            gradient.withUnsafeBufferPointer { g in
                for i in 0..<n {
                    for j in 0..<c {
                        let scale = g[i * c + j] * pow(max(yy[i * c + j], epsilon), 1 - p) / Float(cells)
                        for k in 0..<cells {
                            let xv = v[(i * cells + k) * c + j]
                            if xv > epsilon { out[(i * cells + k) * c + j] = scale * (p == 3 ? xv * xv : pow(xv, p - 1)) }
                        }
                    }
                }
            }
        }
    }
    return Tensor(shape: x.shape, scalars: out)
}

/// The gradient of row-wise L2 normalisation `y = x / ‖x‖` from `x` and `y`:
/// `∂L/∂x = (g − y (y · g)) / ‖x‖`.
public func l2NormalizeBackward(_ x: Tensor, output y: Tensor, gradient: Tensor) -> Tensor {
    precondition(x.shape == y.shape && y.shape == gradient.shape && x.rank == 2, "l2NormalizeBackward: shapes \(x.shape), \(y.shape), \(gradient.shape)")
    let n = x.shape[0], d = x.shape[1]
    var out = [Float](repeating: 0, count: n * d)
    x.withUnsafeBufferPointer { xv in
        y.withUnsafeBufferPointer { yv in
            gradient.withUnsafeBufferPointer { g in
                for i in 0..<n {
                    var norm: Float = 0, dot: Float = 0
                    for j in 0..<d { norm += xv[i * d + j] * xv[i * d + j]; dot += yv[i * d + j] * g[i * d + j] }
                    let inv = 1 / max(norm.squareRoot(), 1e-12)
                    for j in 0..<d { out[i * d + j] = (g[i * d + j] - yv[i * d + j] * dot) * inv }
                }
            }
        }
    }
    return Tensor(shape: x.shape, scalars: out)
}

/// What the student regresses onto the teacher with.
public enum DistillationLoss: String, Sendable, Hashable, Codable, CaseIterable {
    /// `mean(1 − y · t)` over rows: the retrieval score itself.
    case cosine
    /// `mean ‖y − t‖²` over rows.
    case l2
    /// Cosine plus InfoNCE over the mini-batch: each prediction must be closer to its own
    /// target than to the other rows' targets, `−log softmax_j(y_i · t_j / τ)[i]` with τ = 0.05.
    /// Regression alone leaves the errors as large as the gaps between instances; this term
    /// spends the capacity on what tells instances apart.
    case contrastive
    /// Cosine plus the cosine of both around the mini-batch's mean target,
    /// `1 − yᵢ·tᵢ + 1 − cos(yᵢ − μ, tᵢ − μ)` with `μ = mean_j tⱼ` (held constant). A classifier's
    /// embeddings share one large mean direction (MobileNetV2's GeM vectors of unrelated regions
    /// sit at cosine ≈ 0.74; the mean has norm ≈ 0.86), which takes most of a plain cosine; the
    /// centred term spends the fit on what differs between regions, which is what ranks them.
    case centered

    /// InfoNCE temperature of ``contrastive``.
    public static let temperature: Float = 0.05

    /// The loss of predictions `y` `[N, D]` against targets `t` `[N, D]` and its gradient ∂L/∂y.
    public func callAsFunction(_ y: Tensor, _ t: Tensor) -> (loss: Float, gradient: Tensor) {
        precondition(y.shape == t.shape && y.rank == 2, "loss: predictions \(y.shape) vs targets \(t.shape)")
        let n = y.shape[0], d = y.shape[1]
        if self == .contrastive { return contrastive(y, t) }
        if self == .centered { return centered(y, t) }
        var grad = [Float](repeating: 0, count: n * d)
        var loss: Double = 0
        let yv = y.scalars, tv = t.scalars
        let scale = 1 / Float(max(n, 1))
        for i in 0..<n {
            switch self {
            case .cosine:
                var dot: Float = 0
                for j in 0..<d { dot += yv[i * d + j] * tv[i * d + j] }
                loss += Double(1 - dot)
                for j in 0..<d { grad[i * d + j] = -tv[i * d + j] * scale }
            case .l2:
                for j in 0..<d {
                    let e = yv[i * d + j] - tv[i * d + j]
                    loss += Double(e * e)
                    grad[i * d + j] = 2 * e * scale
                }
            case .contrastive, .centered:
                preconditionFailure("handled above")
            }
        }
        return (Float(loss) * scale, Tensor(shape: y.shape, scalars: grad))
    }

    /// `L = mean_i [(1 − yᵢ·tᵢ) + (1 − uᵢ·vᵢ / ‖uᵢ‖)]` with `uᵢ = yᵢ − μ`, `vᵢ = (tᵢ − μ) / ‖tᵢ − μ‖`;
    /// `∂L/∂yᵢ = [−tᵢ − (vᵢ − (uᵢ·vᵢ) uᵢ / ‖uᵢ‖²) / ‖uᵢ‖] / n`.
    private func centered(_ y: Tensor, _ t: Tensor) -> (loss: Float, gradient: Tensor) {
        let n = y.shape[0], d = y.shape[1]
        let yv = y.scalars, tv = t.scalars
        var mean = [Float](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += tv[i * d + j] } }
        for j in 0..<d { mean[j] /= Float(max(n, 1)) }
        var grad = [Float](repeating: 0, count: n * d)
        var loss: Double = 0
        let scale = 1 / Float(max(n, 1))
        var u = [Float](repeating: 0, count: d), v = [Float](repeating: 0, count: d)
        for i in 0..<n {
            var dot: Float = 0, uu: Float = 0, vv: Float = 0
            for j in 0..<d {
                dot += yv[i * d + j] * tv[i * d + j]
                u[j] = yv[i * d + j] - mean[j]
                v[j] = tv[i * d + j] - mean[j]
                uu += u[j] * u[j]
                vv += v[j] * v[j]
            }
            let uNorm = max(uu.squareRoot(), 1e-12), vInv = 1 / max(vv.squareRoot(), 1e-12)
            var uv: Float = 0
            for j in 0..<d { v[j] *= vInv; uv += u[j] * v[j] }
            loss += Double(1 - dot) + Double(1 - uv / uNorm)
            for j in 0..<d {
                grad[i * d + j] = (-tv[i * d + j] - (v[j] - uv * u[j] / (uNorm * uNorm)) / uNorm) * scale
            }
        }
        return (Float(loss) * scale, Tensor(shape: y.shape, scalars: grad))
    }

    /// Cosine loss + InfoNCE: `L = mean_i [(1 − yᵢ·tᵢ) + logΣ_j exp(yᵢ·tⱼ/τ) − yᵢ·tᵢ/τ]`,
    /// `∂L/∂yᵢ = [−tᵢ + (Σ_j pᵢⱼ tⱼ − tᵢ) / τ] / n` with `pᵢⱼ` the row softmax.
    private func contrastive(_ y: Tensor, _ t: Tensor) -> (loss: Float, gradient: Tensor) {
        let n = y.shape[0], d = y.shape[1], tau = Self.temperature
        let sims = matmul(y, t, transposingB: true).scalars  // [n, n]
        var p = [Float](repeating: 0, count: n * n)
        var loss: Double = 0
        for i in 0..<n {
            let row = sims[(i * n)..<((i + 1) * n)].map { $0 / tau }
            let m = row.max()!
            let z = row.reduce(Double(0)) { $0 + exp(Double($1 - m)) }
            for j in 0..<n { p[i * n + j] = Float(exp(Double(row[j] - m)) / z) }
            loss += Double(m) + log(z) - Double(row[i]) + Double(1 - sims[i * n + i])
        }
        let mixed = matmul(Tensor(shape: [n, n], scalars: p), t).scalars  // Σ_j pᵢⱼ tⱼ
        let tv = t.scalars
        let grad = (0..<(n * d)).map { k in (-tv[k] + (mixed[k] - tv[k]) / tau) / Float(n) }
        return (Float(loss / Double(n)), Tensor(shape: [n, d], scalars: grad))
    }
}

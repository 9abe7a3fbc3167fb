import Foundation
import LoupeTensor
import LoupeWhitening
import Testing

/// Correlated Gaussian-ish data: z · A with A a random mixing matrix, plus an offset.
func correlated(n: Int, d: Int, seed: UInt64) -> Tensor {
    let z = Tensor(randomUniform: [n, d], seed: seed)
    let mix = Tensor(randomUniform: [d, d], seed: seed + 1)
    return matmul(z, mix) + 0.5
}

func covariance(_ x: Tensor) -> Tensor {
    let n = x.shape[0], d = x.shape[1]
    var mean = [Float](repeating: 0, count: d)
    let v = x.scalars
    for i in 0..<n { for j in 0..<d { mean[j] += v[i * d + j] / Float(n) } }
    let centered = Tensor(shape: [n, d], scalars: (0..<(n * d)).map { v[$0] - mean[$0 % d] })
    return matmul(centered.permuted([1, 0]), centered) * (1 / Float(n))
}

@Suite struct WhiteningTests {
    @Test func eigendecompositionOfAHandMatrix() throws {
        let (values, vectors) = try Tensor(shape: [2, 2], scalars: [2, 1, 1, 2]).symmetricEigendecomposition()
        #expect(abs(values[0] - 3) < 1e-5 && abs(values[1] - 1) < 1e-5)
        let s = Float(0.5).squareRoot()
        #expect(abs(abs(vectors[0, 0]) - s) < 1e-5 && abs(vectors[0, 0] - vectors[0, 1]) < 1e-5)
        #expect(abs(vectors[1, 0] + vectors[1, 1]) < 1e-5)
        #expect(throws: EigenError.notSquare([2, 3])) { try Tensor(zeros: [2, 3]).symmetricEigendecomposition() }
    }

    /// PCA whitening turns the covariance into the identity (before the final L2 normalisation).
    @Test func pcaWhiteningWhitens() throws {
        let x = correlated(n: 2000, d: 12, seed: 3)
        let w = try Whitening.pca(fitting: x)
        let projected = matmul(x - Tensor(shape: [1, 12], scalars: w.mean.scalars).broadcastRows(2000), w.projection, transposingB: true)
        let c = covariance(projected)
        for i in 0..<12 { for j in 0..<12 {
            #expect(abs(c[i, j] - (i == j ? 1 : 0)) < 2e-3, "C[\(i), \(j)] = \(c[i, j])")
        } }
        // reduced dimension keeps the top-variance directions; output rows are unit length
        let reduced = try Whitening.pca(fitting: x, dimension: 4).apply(x)
        #expect(reduced.shape == [2000, 4])
        #expect(abs(reduced.l2NormalizedRows().scalars[0] - reduced.scalars[0]) < 1e-6)
    }

    @Test func learnedWhiteningWhitensPairDifferences() throws {
        let x = correlated(n: 600, d: 8, seed: 5)
        let noise = Tensor(randomUniform: [600, 8], in: -0.1...0.1, seed: 9)
        let all = Tensor.concatenated([x, x + noise], along: 0)
        let pairs = (0..<600).map { ($0, $0 + 600) }
        let w = try Whitening.learned(fitting: all, pairs: pairs)
        // the pair differences, projected, have identity covariance (zero-mean by construction)
        let diff = matmul(noise * -1, w.projection, transposingB: true)
        let c = matmul(diff.permuted([1, 0]), diff) * (1 / 600)
        for i in 0..<8 { #expect(abs(c[i, i] - 1) < 1e-2, "C[\(i), \(i)] = \(c[i, i])") }
    }

    @Test func typedErrors() throws {
        #expect(throws: WhiteningError.tooFewSamples(1)) { try Whitening.pca(fitting: Tensor(zeros: [1, 4])) }
        #expect(throws: WhiteningError.rankDeficient(requested: 10, rank: 2)) {
            try Whitening.pca(fitting: correlated(n: 3, d: 10, seed: 1))
        }
        #expect(throws: WhiteningError.invalidDimension(9, inputDimension: 8)) {
            try Whitening.pca(fitting: correlated(n: 50, d: 8, seed: 1), dimension: 9)
        }
        var bad = correlated(n: 50, d: 4, seed: 1)
        bad[3, 2] = .nan
        #expect(throws: WhiteningError.notFinite) { try Whitening.pca(fitting: bad) }
        let w = try Whitening.pca(fitting: correlated(n: 50, d: 4, seed: 1))
        #expect(throws: WhiteningError.dimensionMismatch(expected: 4, got: 5)) { try w.apply(Tensor(zeros: [2, 5])) }
        #expect(throws: WhiteningError.pairOutOfRange(70, count: 50)) {
            try Whitening.learned(fitting: correlated(n: 50, d: 4, seed: 1), pairs: [(0, 1), (2, 70)])
        }
    }

    @Test func saveAndLoad() throws {
        let w = try Whitening.pca(fitting: correlated(n: 100, d: 6, seed: 2), dimension: 3, recipe: #"{"model":"x"}"#)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("w-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try w.write(to: url)
        #expect(try Whitening(contentsOf: url) == w)
        #expect(throws: WhiteningError.self) { try Whitening(contentsOf: URL(fileURLWithPath: "/no/such.safetensors")) }
    }
}

extension Tensor {
    /// `[1, D]` repeated to `[n, D]`.
    func broadcastRows(_ n: Int) -> Tensor { Tensor.concatenated(Array(repeating: self, count: n), along: 0) }
}

import Foundation
import LoupeTensor
import Testing

@Suite struct ElementwiseTests {
    @Test(arguments: Activation.allCases)
    func activationsMatchFormula(_ act: Activation) {
        // 1003 elements: exercises full vectors and a masked tail; range covers exp saturation.
        let x = Tensor(randomUniform: [1003], in: -30...30, seed: 51)
        let y = x.activated(act)
        let r = Tensor(shape: [1003], scalars: x.scalars.map { Float(naiveActivation(Double($0), act)) })
        #expect(normalizedError(y, r) <= 2e-6)
    }

    @Test func scalarActivationsMatchFormula() async {
        await #expect(processExitsWith: .success) {
            KernelDispatch.withLevel(.scalar) {
                let x = Tensor(randomUniform: [1003], in: -30...30, seed: 51)
                for act in Activation.allCases {
                    let r = Tensor(shape: [1003], scalars: x.scalars.map { Float(naiveActivation(Double($0), act)) })
                    precondition(normalizedError(x.activated(act), r) <= 2e-6, "scalar \(act) is off")
                }
            }
        }
    }

    @Test func sigmoidIsAccurateInRelativeTerms() {
        // σ(x) for very negative x is tiny: check relative error there, not just absolute.
        let x = Tensor(shape: [6], scalars: [-80, -40, -20, -10, -1, 0])
        let y = x.activated(.sigmoid).scalars
        for (v, s) in zip(x.scalars, y) {
            let r = 1 / (1 + exp(-Double(v)))
            #expect(abs(Double(s) - r) <= 1e-5 * r + 1e-37, "σ(\(v)) = \(s), expected \(r)")
        }
    }

    @Test func addAndMultiplyMatchScalarLoops() {
        let a = Tensor(randomUniform: [3, 70_001], seed: 52)
        let b = Tensor(randomUniform: [3, 70_001], seed: 53)
        let sum = a + b, product = a * b, difference = a - b
        let (xa, xb) = (a.scalars, b.scalars)
        #expect(sum.scalars == zip(xa, xb).map { $0 + $1 })
        #expect(product.scalars == zip(xa, xb).map { $0 * $1 })
        #expect(difference.scalars == zip(xa, xb).map { $0 - $1 })
        #expect((a * 2).scalars == xa.map { $0 * 2 })
    }

    @Test func scalingChannels() {
        let x = Tensor(randomUniform: [2, 3, 4, 5], seed: 54)
        let s = Tensor(randomUniform: [2, 3], seed: 55)
        let y = x.scalingChannels(by: s)
        for n in 0..<2 { for c in 0..<3 { for i in 0..<4 { for j in 0..<5 {
            #expect(y[n, c, i, j] == x[n, c, i, j] * s[n, c])
        } } } }
    }

    @Test func linearAndMatmulMatchNaive() {
        let x = Tensor(randomUniform: [5, 37], seed: 56)
        let w = Tensor(randomUniform: [11, 37], seed: 57)
        let b = Tensor(randomUniform: [11], seed: 58)
        let y = linear(x, weight: w, bias: b, activation: .relu)
        var r = [Float]()
        for i in 0..<5 { for o in 0..<11 {
            var acc = Double(b[o])
            for k in 0..<37 { acc += Double(x[i, k]) * Double(w[o, k]) }
            r.append(Float(max(acc, 0)))
        } }
        #expect(normalizedError(y, Tensor(shape: [5, 11], scalars: r)) <= 1e-5)
        let m = matmul(x, w, transposingB: true)
        let m2 = matmul(x, w.permuted([1, 0]))
        #expect(normalizedError(m, m2) <= 1e-6)
        #expect(normalizedError(linear(x, weight: w), m) <= 1e-6)
    }
}

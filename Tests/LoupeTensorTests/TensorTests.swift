import LoupeTensor
import Testing

@Suite struct TensorTests {
    @Test func copyOnWriteKeepsCopiesIndependent() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        var b = a
        b[1, 2] = 60
        #expect(a[1, 2] == 6)
        #expect(b[1, 2] == 60)
        let view = a.reshaped(to: [3, -1])
        #expect(view.shape == [3, 2])
        #expect(view.scalars == a.scalars)
    }

    @Test func slicingAndConcatenationRoundTrip() {
        let t = Tensor(randomUniform: [2, 5, 3, 4], seed: 61)
        let parts = [t.sliced(along: 1, 0..<2), t.sliced(along: 1, 2..<5)]
        #expect(parts[1].shape == [2, 3, 3, 4])
        #expect(parts[1][1, 0, 2, 3] == t[1, 2, 2, 3])
        #expect(Tensor.concatenated(parts, along: 1) == t)
        let rows = (0..<2).map { t.sliced(along: 0, $0..<($0 + 1)) }
        #expect(Tensor.concatenated(rows, along: 0) == t)
    }

    /// Joins large enough to be copied by several threads, with several outer blocks and an empty
    /// part, against element-by-element indexing.
    @Test func largeConcatenationEqualsIndexing() {
        let parts = [Tensor(randomUniform: [3, 70, 9, 31], seed: 63), Tensor(zeros: [3, 0, 9, 31]),
                     Tensor(randomUniform: [3, 45, 9, 31], seed: 64)]
        let joined = Tensor.concatenated(parts, along: 1)
        #expect(joined.shape == [3, 115, 9, 31])
        var expected = [Float]()
        for n in 0..<3 { for part in parts { expected += part.sliced(along: 0, n..<(n + 1)).scalars } }
        #expect(joined.scalars == expected)
        #expect(Tensor.concatenated([Tensor(zeros: [0, 5]), Tensor(zeros: [0, 5])], along: 0).shape == [0, 5])
    }

    /// Swapping the last two axes (the blocked path) equals the generic permutation's definition,
    /// on sizes that are not multiples of the 16×16 blocks.
    @Test func transposeOfTheLastTwoAxes() {
        let t = Tensor(randomUniform: [2, 37, 85], seed: 65)
        let u = t.permuted([0, 2, 1])
        #expect(u.shape == [2, 85, 37])
        for b in 0..<2 { for i in 0..<37 { for j in 0..<85 { #expect(u[b, j, i] == t[b, i, j]) } } }
        let m = Tensor(randomUniform: [5, 3], seed: 66)
        #expect(m.permuted([1, 0]).permuted([1, 0]) == m && m.permuted([1, 0])[2, 4] == m[4, 2])
    }

    @Test func permutationMovesAxes() {
        let hwc = Tensor(randomUniform: [4, 5, 3], seed: 62)
        let chw = hwc.permuted([2, 0, 1])
        #expect(chw.shape == [3, 4, 5])
        for c in 0..<3 { for y in 0..<4 { for x in 0..<5 { #expect(chw[c, y, x] == hwc[y, x, c]) } } }
        #expect(chw.permuted([1, 2, 0]) == hwc)
    }

    @Test func randomTensorsAreReproducible() {
        #expect(Tensor(randomUniform: [100], seed: 7) == Tensor(randomUniform: [100], seed: 7))
        #expect(Tensor(randomUniform: [100], seed: 7) != Tensor(randomUniform: [100], seed: 8))
        let values = Tensor(randomUniform: [10_000], in: 2...3, seed: 1).scalars
        #expect(values.allSatisfy { $0 >= 2 && $0 <= 3 })
    }

    @Test func emptyAndScalarShapes() {
        let e = Tensor(zeros: [0, 4])
        #expect(e.scalarCount == 0 && e.scalars.isEmpty)
        let s = Tensor(repeating: 3, shape: [])
        #expect(s.scalarCount == 1 && s.scalars == [3])
    }
}

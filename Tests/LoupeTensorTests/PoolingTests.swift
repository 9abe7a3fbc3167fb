import LoupeTensor
import Testing

@Suite struct PoolingTests {
    @Test(arguments: [
        (5, 1, 2), (9, 1, 4), (13, 1, 6),  // YOLOX SPP, same padding
        (3, 2, 1),  // ResNet stem
        (2, 2, 0), (3, 3, 0), (3, 1, 0),
    ])
    func maxPoolMatchesNaive(kernel: Int, stride: Int, pad: Int) {
        let x = Tensor(randomUniform: [2, 3, 13, 11], seed: 41)
        let y = maxPool2D(x, kernelSize: kernel, stride: stride, padding: .symmetric(pad))
        let r = naivePool(x, kernel: kernel, stride: stride, pads: Pads(top: pad, left: pad, bottom: pad, right: pad), op: "max")
        #expect(y == r)
    }

    @Test(arguments: [(3, 1, 1, true), (3, 1, 1, false), (2, 2, 0, true), (3, 2, 1, false), (5, 2, 2, true)])
    func averagePoolMatchesNaive(kernel: Int, stride: Int, pad: Int, includePad: Bool) {
        let x = Tensor(randomUniform: [2, 3, 12, 9], seed: 42)
        let y = averagePool2D(x, kernelSize: kernel, stride: stride, padding: .symmetric(pad),
                              countIncludingPadding: includePad)
        let r = naivePool(x, kernel: kernel, stride: stride, pads: Pads(top: pad, left: pad, bottom: pad, right: pad),
                          op: "avg", includePad: includePad)
        #expect(normalizedError(y, r) <= 1e-6)
    }

    @Test func globalPoolsMatchNaive() {
        for (h, w) in [(1, 1), (7, 7), (13, 17), (32, 24)] {
            let x = Tensor(randomUniform: [2, 5, h, w], seed: UInt64(h * w))
            let xs = x.scalars
            var mean = [Float](), maxima = [Float]()
            for p in 0..<10 {
                let plane = xs[(p * h * w)..<((p + 1) * h * w)]
                mean.append(Float(plane.reduce(0.0) { $0 + Double($1) } / Double(h * w)))
                maxima.append(plane.max()!)
            }
            #expect(normalizedError(globalAveragePool(x), Tensor(shape: [2, 5], scalars: mean)) <= 1e-6)
            #expect(globalMaxPool(x) == Tensor(shape: [2, 5], scalars: maxima))
        }
    }

    @Test func upsampleNearestRepeatsEachPixel() {
        let x = Tensor(randomUniform: [2, 3, 5, 7], seed: 43)
        let y = upsampleNearest2x(x)
        #expect(y.shape == [2, 3, 10, 14])
        for n in 0..<2 { for c in 0..<3 { for i in 0..<10 { for j in 0..<14 {
            #expect(y[n, c, i, j] == x[n, c, i / 2, j / 2])
        } } } }
    }

    /// Small, and large enough to be split by rows across threads with a width off the 8-lane grid.
    @Test(arguments: [(6, 8), (70, 46)])
    func spaceToDepthFollowsYOLOXFocusOrder(h: Int, w: Int) {
        let x = Tensor(randomUniform: [2, 3, h, w], seed: 44)
        let y = spaceToDepth2(x)
        #expect(y.shape == [2, 12, h / 2, w / 2])
        let offsets = [(0, 0), (1, 0), (0, 1), (1, 1)]  // (row, column) parity per block
        var mismatches = 0
        for n in 0..<2 { for b in 0..<4 { for c in 0..<3 { for i in 0..<(h / 2) { for j in 0..<(w / 2) {
            let (dy, dx) = offsets[b]
            if y[n, b * 3 + c, i, j] != x[n, c, 2 * i + dy, 2 * j + dx] { mismatches += 1 }
        } } } } }
        #expect(mismatches == 0)
    }
}

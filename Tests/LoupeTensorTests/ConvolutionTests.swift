import LoupeTensor
import Testing

/// Tolerance for Float32 convolutions against the Double reference: the sums have at most a few
/// hundred terms of magnitude ≤ 1, so the relative rounding error stays well under 1e-5.
let convolutionTolerance: Float = 1e-5

struct ConvCase: CustomTestStringConvertible, Sendable {
    var n = 1, c = 3, h = 9, w = 11, oc = 4, k = 3, stride = 1, dilation = 1, groups = 1
    var padding: Padding = .symmetric(1)
    var activation: Activation = .identity
    var bias = true
    var testDescription: String {
        "n\(n) c\(c) \(h)x\(w) oc\(oc) k\(k) s\(stride) d\(dilation) g\(groups) \(padding) \(activation)"
    }
}

func pads(_ p: Padding, h: Int, w: Int, k: Int, stride: Int, dilation: Int) -> Pads {
    switch p {
    case let .explicit(t, l, b, r): return Pads(top: t, left: l, bottom: b, right: r)
    case .same:
        func split(_ i: Int) -> (Int, Int) {
            let o = (i + stride - 1) / stride
            let total = max((o - 1) * stride + (k - 1) * dilation + 1 - i, 0)
            return (total / 2, total - total / 2)
        }
        let (t, b) = split(h), (l, r) = split(w)
        return Pads(top: t, left: l, bottom: b, right: r)
    }
}

func runCase(_ t: ConvCase, seed: UInt64) -> (Tensor, Tensor) {
    let x = Tensor(randomUniform: [t.n, t.c, t.h, t.w], seed: seed)
    let wt = Tensor(randomUniform: [t.oc, t.c / t.groups, t.k, t.k], seed: seed + 1)
    let b = t.bias ? Tensor(randomUniform: [t.oc], seed: seed + 2) : nil
    let y = convolution2D(x, weight: wt, bias: b, stride: t.stride, padding: t.padding, dilation: t.dilation,
                          groups: t.groups, activation: t.activation)
    let p = pads(t.padding, h: t.h, w: t.w, k: t.k, stride: t.stride, dilation: t.dilation)
    let r = naiveConv(x, wt, b, stride: t.stride, pads: p, dilation: t.dilation, groups: t.groups,
                      activation: t.activation)
    return (y, r)
}

let denseCases: [ConvCase] = [
    ConvCase(),
    ConvCase(n: 2, c: 5, h: 13, w: 7, oc: 6, k: 3, stride: 2),
    ConvCase(c: 8, h: 10, w: 10, oc: 16, k: 1, padding: .valid),  // pointwise GEMM path
    ConvCase(n: 2, c: 6, h: 9, w: 9, oc: 5, k: 1, stride: 2, padding: .valid),  // 1x1 stride 2
    ConvCase(c: 3, h: 23, w: 17, oc: 8, k: 7, stride: 2, padding: .symmetric(3)),  // ResNet stem
    ConvCase(c: 4, h: 12, w: 15, oc: 4, k: 3, dilation: 2, padding: .symmetric(2)),
    ConvCase(c: 6, h: 11, w: 9, oc: 8, k: 3, stride: 2, groups: 2),
    ConvCase(c: 4, h: 8, w: 8, oc: 8, k: 3, groups: 4, activation: .relu),
    ConvCase(c: 3, h: 16, w: 15, oc: 7, k: 3, stride: 2, padding: .same, activation: .relu6),
    ConvCase(c: 3, h: 15, w: 16, oc: 7, k: 5, stride: 2, padding: .same, activation: .silu),
    ConvCase(c: 3, h: 9, w: 8, oc: 4, k: 3, padding: .explicit(top: 0, left: 1, bottom: 2, right: 0), activation: .sigmoid),
    ConvCase(c: 2, h: 5, w: 5, oc: 3, k: 5, padding: .valid, bias: false),
    ConvCase(c: 1, h: 1, w: 1, oc: 3, k: 3, padding: .symmetric(1)),
    // large output planes take the tiled path (im2col + GEMM + epilogue per column tile)
    ConvCase(c: 8, h: 41, w: 37, oc: 12, k: 3, activation: .relu),
    ConvCase(c: 6, h: 40, w: 45, oc: 10, k: 3, stride: 2, groups: 2, padding: .same, activation: .silu),
    ConvCase(c: 16, h: 30, w: 31, oc: 8, k: 1, padding: .valid),
    ConvCase(n: 2, c: 3, h: 64, w: 50, oc: 8, k: 7, stride: 2, padding: .symmetric(3)),
    ConvCase(c: 4, h: 36, w: 36, oc: 6, k: 3, dilation: 2, padding: .symmetric(2), bias: false),
    // the GEMM kernel's edges: K above one 256-deep block, M not a multiple of its 6-row panels,
    // N above one 256-column block and not a multiple of 16 — tiled and by-channel paths
    ConvCase(c: 300, h: 17, w: 19, oc: 13, k: 1, padding: .valid, activation: .relu),
    ConvCase(c: 40, h: 17, w: 19, oc: 13, k: 3, activation: .silu),
    ConvCase(c: 40, h: 5, w: 7, oc: 13, k: 3, activation: .relu6),
    ConvCase(c: 300, h: 3, w: 5, oc: 7, k: 1, padding: .valid, bias: false),
    // the AVX-512 kernel's 32-column tiles: B read in place (M ≤ 48) and packed (M > 48), with
    // 16-column and partial remainders, every activation
    ConvCase(c: 33, h: 4, w: 16, oc: 7, k: 1, padding: .valid, activation: .sigmoid),
    ConvCase(c: 20, h: 9, w: 11, oc: 64, k: 1, padding: .valid, activation: .silu),
    ConvCase(c: 300, h: 8, w: 12, oc: 50, k: 1, padding: .valid, activation: .relu),
    ConvCase(c: 24, h: 7, w: 40, oc: 49, k: 3, activation: .relu6),
    // K above two blocks of the deepest K block (512, on a 1 MiB L2)
    ConvCase(c: 1100, h: 5, w: 7, oc: 13, k: 1, padding: .valid, activation: .relu),
    ConvCase(c: 70, h: 6, w: 9, oc: 55, k: 3, stride: 2, activation: .silu),
]

let depthwiseCases: [ConvCase] = {
    var cases: [ConvCase] = []
    for (h, w) in [(7, 7), (9, 17), (8, 8), (16, 15), (3, 2), (1, 9), (33, 20)] {
        for k in [3, 5] {
            for s in [1, 2] {
                for pad in [Padding.symmetric(k / 2), .same] {
                    cases.append(ConvCase(n: 2, c: 5, h: h, w: w, oc: 5, k: k, stride: s, groups: 5,
                                          padding: pad, activation: .relu6))
                }
            }
        }
    }
    // generic path: other kernels, dilation, stride 3, asymmetric padding, no bias
    cases.append(ConvCase(c: 4, h: 12, w: 13, oc: 4, k: 3, dilation: 2, groups: 4, padding: .symmetric(2)))
    cases.append(ConvCase(c: 3, h: 14, w: 11, oc: 3, k: 7, stride: 3, groups: 3, padding: .symmetric(3), activation: .silu))
    cases.append(ConvCase(c: 3, h: 10, w: 10, oc: 3, k: 3, stride: 1, groups: 3,
                          padding: .explicit(top: 0, left: 2, bottom: 1, right: 0), bias: false))
    return cases
}()

/// 3×3 stride-1 layers for the Winograd path: odd and even output sizes (partial 2×2 tiles),
/// symmetric, TF "SAME", asymmetric and no padding, runs of tiles that start mid-row, M not a
/// multiple of 6 and split into blocks, C above one 256-deep GEMM block, maps of one pixel.
let winogradCases: [ConvCase] = [
    ConvCase(),
    ConvCase(n: 2, c: 5, h: 13, w: 7, oc: 6, activation: .relu),
    ConvCase(c: 8, h: 16, w: 16, oc: 16, padding: .same, activation: .relu6),
    ConvCase(c: 3, h: 9, w: 8, oc: 4, padding: .explicit(top: 0, left: 1, bottom: 2, right: 0), activation: .sigmoid),
    ConvCase(c: 7, h: 10, w: 12, oc: 5, padding: .valid, bias: false),
    ConvCase(c: 2, h: 1, w: 1, oc: 3),
    ConvCase(c: 16, h: 70, w: 66, oc: 20, activation: .silu),
    ConvCase(c: 32, h: 8, w: 9, oc: 100, activation: .relu),
    ConvCase(c: 300, h: 15, w: 17, oc: 13, activation: .relu),
    ConvCase(c: 48, h: 28, w: 28, oc: 40, activation: .relu),
]

@Suite struct ConvolutionTests {
    @Test(arguments: winogradCases)
    func winogradMatchesNaive(_ t: ConvCase) {
        let x = Tensor(randomUniform: [t.n, t.c, t.h, t.w], seed: 31)
        let wt = Tensor(randomUniform: [t.oc, t.c, 3, 3], seed: 32)
        let b = t.bias ? Tensor(randomUniform: [t.oc], seed: 33) : nil
        let y = convolution2D(x, weight: wt, bias: b, padding: t.padding, activation: t.activation, algorithm: .winograd)
        let r = naiveConv(x, wt, b, stride: 1, pads: pads(t.padding, h: t.h, w: t.w, k: 3, stride: 1, dilation: 1), dilation: 1,
                          groups: 1, activation: t.activation)
        #expect(y.shape == r.shape)
        // the transforms add a few roundings per term: still far inside the models' 1e-3 parity
        #expect(normalizedError(y, r) <= 2e-5)
        // weights transformed at load time give the same result; `.automatic` takes them on large maps
        let packed = PackedConvolutionWeights(wt, groups: 1, winograd: true)
        let auto = convolution2D(x, weight: wt, bias: b, padding: t.padding, activation: t.activation, packedWeight: packed)
        #expect(normalizedError(auto, r) <= 2e-5)
        let forced = convolution2D(x, weight: wt, bias: b, padding: t.padding, activation: t.activation, algorithm: .winograd,
                                   packedWeight: packed)
        #expect(forced == y)
    }

    /// `.winograd` and `.automatic` on transformed weights do take the Winograd path (its
    /// roundings differ from im2col + GEMM's), and `.automatic` without them does not.
    @Test func winogradPathIsTaken() {
        let x = Tensor(randomUniform: [1, 24, 30, 30], seed: 41)
        let w = Tensor(randomUniform: [20, 24, 3, 3], seed: 42)
        let gemm = convolution2D(x, weight: w, padding: .symmetric(1), algorithm: .im2colGEMM)
        let plain = convolution2D(x, weight: w, padding: .symmetric(1))
        let transformed = convolution2D(x, weight: w, padding: .symmetric(1),
                                        packedWeight: PackedConvolutionWeights(w, groups: 1, winograd: true))
        #expect(plain == gemm)
        #expect(transformed != gemm && normalizedError(transformed, gemm) <= 2e-5)
        #expect(transformed == convolution2D(x, weight: w, padding: .symmetric(1), algorithm: .winograd))
    }

    @Test(arguments: denseCases)
    func denseMatchesNaive(_ t: ConvCase) {
        let (y, r) = runCase(t, seed: 11)
        #expect(y.shape == r.shape)
        #expect(normalizedError(y, r) <= convolutionTolerance)
    }

    @Test(arguments: depthwiseCases)
    func depthwiseMatchesNaive(_ t: ConvCase) {
        let (y, r) = runCase(t, seed: 23)
        #expect(y.shape == r.shape)
        #expect(normalizedError(y, r) <= convolutionTolerance)
    }

    @Test func depthwiseEqualsGroupedIm2colGEMM() {
        let x = Tensor(randomUniform: [1, 24, 28, 19], seed: 71)
        let w = Tensor(randomUniform: [24, 1, 5, 5], seed: 72)
        let direct = convolution2D(x, weight: w, stride: 2, padding: .same, groups: 24)
        let gemm = convolution2D(x, weight: w, stride: 2, padding: .same, groups: 24, algorithm: .im2colGEMM)
        #expect(normalizedError(direct, gemm) <= convolutionTolerance)
    }

    /// The scalar fallback, in a child process: forcing the kernel level is process-wide and
    /// must not leak into tests running in parallel.
    @Test func scalarFallbackMatchesNaive() async {
        await #expect(processExitsWith: .success) {
            KernelDispatch.withLevel(.scalar) {
                precondition(KernelDispatch.level == .scalar)
                for t in denseCases + depthwiseCases {
                    let (y, r) = runCase(t, seed: 5)
                    if !(normalizedError(y, r) <= convolutionTolerance) {
                        fatalError("scalar path differs on \(t.testDescription)")
                    }
                }
                // the other kernels with a scalar twin: transpose and space-to-depth
                let m = Tensor(randomUniform: [37, 21], seed: 6), mt = m.permuted([1, 0])
                for i in 0..<37 { for j in 0..<21 where mt[j, i] != m[i, j] { fatalError("scalar transpose differs") } }
                let x = Tensor(randomUniform: [1, 2, 6, 10], seed: 7), s = spaceToDepth2(x)
                for b in 0..<4 { for c in 0..<2 { for i in 0..<3 { for j in 0..<5
                    where s[0, b * 2 + c, i, j] != x[0, c, 2 * i + b % 2, 2 * j + b / 2] { fatalError("scalar space-to-depth differs") } } } }
            }
        }
    }

    /// Every kernel level this CPU has (scalar, AVX2, AVX-512) against the naive reference, each
    /// forced in a child process; the levels run are named in the test output, and a level the CPU
    /// lacks is said to be left out.
    @Test func everyLevelThisCPUHasMatchesNaive() async {
        let levels = KernelDispatch.available
        print("kernel levels tested: \(levels.map { "\($0)" }.joined(separator: ", "))"
              + (levels.contains(.avx512) ? "" : "; this CPU has no AVX-512: that level was not run"))
        await #expect(processExitsWith: .success) {
            for level in KernelDispatch.available {
                KernelDispatch.withLevel(level) {
                    precondition(KernelDispatch.level == level)
                    for t in denseCases + depthwiseCases + winogradCases {
                        let (y, r) = runCase(t, seed: 9)
                        if !(normalizedError(y, r) <= convolutionTolerance) { fatalError("level \(level) differs on \(t.testDescription)") }
                    }
                }
            }
        }
    }

    @Test func batchEqualsImageByImage() {
        let x = Tensor(randomUniform: [3, 4, 10, 9], seed: 1)
        let w = Tensor(randomUniform: [6, 4, 3, 3], seed: 2)
        let dw = Tensor(randomUniform: [4, 1, 3, 3], seed: 3)
        let all = convolution2D(x, weight: w, padding: .symmetric(1))
        let allDW = convolution2D(x, weight: dw, stride: 2, padding: .symmetric(1), groups: 4)
        for i in 0..<3 {
            let one = x.sliced(along: 0, i..<(i + 1))
            #expect(convolution2D(one, weight: w, padding: .symmetric(1)) == all.sliced(along: 0, i..<(i + 1)))
            #expect(convolution2D(one, weight: dw, stride: 2, padding: .symmetric(1), groups: 4)
                    == allDW.sliced(along: 0, i..<(i + 1)))
        }
    }

    @Test func sameOutputSizesFollowTensorFlow() {
        // out = ceil(in / stride) whatever the kernel
        for (h, s, k) in [(224, 2, 3), (225, 2, 3), (112, 2, 5), (7, 1, 5), (15, 2, 5)] {
            let x = Tensor(zeros: [1, 2, h, h])
            let y = convolution2D(x, weight: Tensor(zeros: [2, 1, k, k]), stride: s, padding: .same, groups: 2)
            #expect(y.shape == [1, 2, (h + s - 1) / s, (h + s - 1) / s])
        }
    }

    /// One thread and two give the same result (in a child process: the thread count is global).
    @Test func threadCountDoesNotChangeResults() async {
        await #expect(processExitsWith: .success) {
            let x = Tensor(randomUniform: [1, 32, 40, 40], seed: 9)
            let w = Tensor(randomUniform: [48, 32, 3, 3], seed: 10)
            let dw = Tensor(randomUniform: [32, 1, 3, 3], seed: 12)
            ComputeThreads.count = 1
            let a = convolution2D(x, weight: w, padding: .symmetric(1), activation: .relu)
            let da = convolution2D(x, weight: dw, padding: .symmetric(1), groups: 32)
            ComputeThreads.count = 2
            let b = convolution2D(x, weight: w, padding: .symmetric(1), activation: .relu)
            let db = convolution2D(x, weight: dw, padding: .symmetric(1), groups: 32)
            precondition(normalizedError(a, b) <= 1e-6 && da == db, "results depend on the thread count")
        }
    }

    @Test func batchNormFoldingEqualsConvThenBatchNorm() {
        let x = Tensor(randomUniform: [2, 3, 8, 8], seed: 31)
        let w = Tensor(randomUniform: [4, 3, 3, 3], seed: 32)
        let b = Tensor(randomUniform: [4], seed: 33)
        let gamma = Tensor(randomUniform: [4], in: 0.5...1.5, seed: 34)
        let beta = Tensor(randomUniform: [4], seed: 35)
        let mean = Tensor(randomUniform: [4], seed: 36)
        let variance = Tensor(randomUniform: [4], in: 0.1...2, seed: 37)
        let eps: Float = 1e-3
        let folded = foldBatchNorm(weight: w, bias: b, gamma: gamma, beta: beta, mean: mean, variance: variance, epsilon: eps)
        let y = convolution2D(x, weight: folded.weight, bias: folded.bias, padding: .symmetric(1))
        // reference: naive conv, then BatchNorm by its formula
        var r = naiveConv(x, w, b, stride: 1, pads: Pads(top: 1, left: 1, bottom: 1, right: 1), dilation: 1, groups: 1)
        let (g, be, mu, v) = (gamma.scalars, beta.scalars, mean.scalars, variance.scalars)
        r.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                let ch = (i / 64) % 4
                p[i] = (p[i] - mu[ch]) / (v[ch] + eps).squareRoot() * g[ch] + be[ch]
            }
        }
        #expect(normalizedError(y, r) <= convolutionTolerance)
    }
}

// Loupe kernel benchmark: GFLOP/s of every distinct convolution shape of ResNet-50 and
// MobileNetV2, each next to what cblas_sgemm alone reaches on the same GEMM; ResNet-50's 3×3
// stride-1 layers by im2col + GEMM and by Winograd; the depthwise layers in GFLOP/s and GB/s next
// to the same layer computed as grouped im2col + GEMM.
//
// Two sgemm references: Loupe's own split (one single-threaded cblas_sgemm per column block on
// Loupe's pool, alternating with the convolution), and OpenBLAS with its own thread pool,
// measured in a separate pass so that its spinning workers cannot slow Loupe's loops down.
//
//   swift run -c release --package-path Benchmarks loupe-kernel-bench [--threads N] [--sizes 224,1024x768] [--quick]
import Foundation
import CBenchOpenBLAS
import LoupeTensor

var threads = ComputeThreads.count
var sizes: [(Int, Int)] = [(224, 224), (768, 1024)]
var quick = false
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--threads": threads = Int(args.popFirst() ?? "") ?? threads
    case "--quick": quick = true
    case "--sizes":
        sizes = (args.popFirst() ?? "").split(separator: ",").compactMap { part in
            let d = part.split(separator: "x").compactMap { Int($0) }
            return d.count == 1 ? (d[0], d[0]) : d.count == 2 ? (d[1], d[0]) : nil
        }
    case "--help", "-h":
        print("usage: loupe-kernel-bench [--threads N] [--sizes 224,1024x768] [--quick]")
        exit(0)
    default:
        FileHandle.standardError.write("unknown argument \(a)\n".data(using: .utf8)!)
        exit(2)
    }
}
ComputeThreads.count = threads
let budget = quick ? 0.05 : 0.25

print("Loupe kernel benchmark — \(threads) thread(s), kernels: \(KernelDispatch.level), medians of alternating runs")
print("FMA peak of this machine class: ~94 GFLOP/s per core (see shared BENCHMARKS.md)\n")

/// Median time of OpenBLAS's own multithreaded sgemm on [m, k] · [k, n], in a pass of its own.
@MainActor func openBLASThreaded(_ m: Int, _ k: Int, _ n: Int, threads: Int) -> Double {
    let a = Tensor(randomUniform: [m, k], seed: 4), b = Tensor(randomUniform: [k, n], seed: 5)
    var c = Tensor(zeros: [m, n])
    openblas_set_num_threads(Int32(threads))
    defer { openblas_set_num_threads(1) }
    return a.withUnsafeBufferPointer { ap in
        b.withUnsafeBufferPointer { bp in
            c.withUnsafeMutableBufferPointer { cp in
                let run = {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                                ap.baseAddress, Int32(k), bp.baseAddress, Int32(n), 0, cp.baseAddress, Int32(n))
                }
                let start = Date(); run(); let estimate = Date().timeIntervalSince(start)
                return medianTimes([run], repetitions: repetitions(forEstimate: estimate, budget: budget))[0]
            }
        }
    }
}

@MainActor func denseTable(_ name: String, _ shapes: [ConvShape]) {
    print("## \(name): dense convolutions (im2col + GEMM + bias + ReLU) vs sgemm alone on the same GEMM")
    print("| layer | GEMM M×K×N | MFLOP | conv ms | conv GFLOP/s | sgemm ms | sgemm GFLOP/s | conv/sgemm | OpenBLAS-threaded GFLOP/s | conv/that |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    var totalConv = 0.0, totalGemm = 0.0, totalFlops = 0.0
    var rows: [(ConvShape, Double, Double)] = []
    for s in shapes where !s.depthwise {
        let x = Tensor(randomUniform: [1, s.inChannels, s.height, s.width], seed: 1)
        let w = Tensor(randomUniform: [s.outChannels, s.inChannels, s.kernel, s.kernel], seed: 2)
        let b = Tensor(randomUniform: [s.outChannels], seed: 3)
        let (m, k, n) = s.gemm
        let a = Tensor(randomUniform: [m, k], seed: 4), bm = Tensor(randomUniform: [k, n], seed: 5)
        let conv = { _ = convolution2D(x, weight: w, bias: b, stride: s.stride, padding: .symmetric(s.padding), activation: .relu) }
        let gemm = { _ = matmul(a, bm) }
        let start = Date(); conv(); let estimate = Date().timeIntervalSince(start)
        let t = medianTimes([conv, gemm], repetitions: repetitions(forEstimate: estimate, budget: budget))
        rows.append((s, t[0], t[1]))
    }
    var totalThreaded = 0.0
    for (s, tc, tg) in rows {
        let (m, k, n) = s.gemm
        let to = openBLASThreaded(m, k, n, threads: threads)
        totalConv += tc; totalGemm += tg; totalThreaded += to; totalFlops += s.flops
        print("| \(s.label) | \(m)×\(k)×\(n) | \(fmt(s.flops / 1e6, 0)) | \(fmt(tc * 1e3, 3)) | \(fmt(s.flops / tc / 1e9)) | \(fmt(tg * 1e3, 3)) | \(fmt(s.flops / tg / 1e9)) | \(fmt(tg / tc * 100, 0)) % | \(fmt(s.flops / to / 1e9)) | \(fmt(to / tc * 100, 0)) % |")
    }
    print("| **all (one of each shape)** | | \(fmt(totalFlops / 1e6, 0)) | \(fmt(totalConv * 1e3, 2)) | \(fmt(totalFlops / totalConv / 1e9)) | \(fmt(totalGemm * 1e3, 2)) | \(fmt(totalFlops / totalGemm / 1e9)) | **\(fmt(totalGemm / totalConv * 100, 0)) %** | \(fmt(totalFlops / totalThreaded / 1e9)) | **\(fmt(totalThreaded / totalConv * 100, 0)) %** |\n")
}

@MainActor func depthwiseTable(_ name: String, _ shapes: [ConvShape]) {
    print("## \(name): depthwise layers, direct kernel vs grouped im2col + GEMM")
    print("| layer | MFLOP | direct ms | GFLOP/s | GB/s | im2col+GEMM ms | speed-up |")
    print("|---|---|---|---|---|---|---|")
    var totalDirect = 0.0, totalGemm = 0.0
    for s in shapes where s.depthwise {
        let x = Tensor(randomUniform: [1, s.inChannels, s.height, s.width], seed: 1)
        let w = Tensor(randomUniform: [s.outChannels, 1, s.kernel, s.kernel], seed: 2)
        let b = Tensor(randomUniform: [s.outChannels], seed: 3)
        let direct = { _ = convolution2D(x, weight: w, bias: b, stride: s.stride, padding: .symmetric(s.padding), groups: s.inChannels, activation: .relu6) }
        let gemm = { _ = convolution2D(x, weight: w, bias: b, stride: s.stride, padding: .symmetric(s.padding), groups: s.inChannels, activation: .relu6, algorithm: .im2colGEMM) }
        let start = Date(); gemm(); let estimate = Date().timeIntervalSince(start)
        let t = medianTimes([direct, gemm], repetitions: repetitions(forEstimate: estimate, budget: budget))
        totalDirect += t[0]; totalGemm += t[1]
        print("| \(s.label) | \(fmt(s.flops / 1e6, 1)) | \(fmt(t[0] * 1e3, 3)) | \(fmt(s.flops / t[0] / 1e9)) | \(fmt(s.depthwiseBytes / t[0] / 1e9)) | \(fmt(t[1] * 1e3, 3)) | \(fmt(t[1] / t[0])) × |")
    }
    print("| **all** | | \(fmt(totalDirect * 1e3, 3)) | | | \(fmt(totalGemm * 1e3, 3)) | **\(fmt(totalGemm / totalDirect)) ×** |\n")
}

/// Every 3×3 stride-1 layer by im2col + GEMM and by Winograd F(2×2, 3×3), both on weights packed
/// at load (as a model holds them), and which of the two `.automatic` picks.
@MainActor func winogradTable(_ name: String, _ shapes: [ConvShape]) {
    print("## \(name): 3×3 stride-1 layers, im2col + GEMM vs Winograd F(2×2, 3×3)")
    print("| layer | MFLOP (direct) | im2col+GEMM ms | Winograd ms | speed-up | automatic takes |")
    print("|---|---|---|---|---|---|")
    var totalGemm = 0.0, totalWinograd = 0.0, totalAuto = 0.0
    for s in shapes where !s.depthwise && s.kernel == 3 && s.stride == 1 {
        let x = Tensor(randomUniform: [1, s.inChannels, s.height, s.width], seed: 1)
        let w = Tensor(randomUniform: [s.outChannels, s.inChannels, 3, 3], seed: 2)
        let b = Tensor(randomUniform: [s.outChannels], seed: 3)
        let packed = PackedConvolutionWeights(w, groups: 1, winograd: true)
        let gemm = { _ = convolution2D(x, weight: w, bias: b, padding: .symmetric(1), activation: .relu, algorithm: .im2colGEMM, packedWeight: packed) }
        let winograd = { _ = convolution2D(x, weight: w, bias: b, padding: .symmetric(1), activation: .relu, algorithm: .winograd, packedWeight: packed) }
        let automatic = convolution2D(x, weight: w, bias: b, padding: .symmetric(1), activation: .relu, packedWeight: packed)
        let takesWinograd = automatic == convolution2D(x, weight: w, bias: b, padding: .symmetric(1), activation: .relu, algorithm: .winograd, packedWeight: packed)
        let start = Date(); gemm(); let estimate = Date().timeIntervalSince(start)
        let t = medianTimes([gemm, winograd], repetitions: repetitions(forEstimate: estimate, budget: budget))
        totalGemm += t[0]; totalWinograd += t[1]; totalAuto += takesWinograd ? t[1] : t[0]
        print("| \(s.label) | \(fmt(s.flops / 1e6, 0)) | \(fmt(t[0] * 1e3, 3)) | \(fmt(t[1] * 1e3, 3)) | \(fmt(t[0] / t[1])) × | \(takesWinograd ? "Winograd" : "im2col + GEMM") |")
    }
    print("| **all** | | \(fmt(totalGemm * 1e3, 2)) | \(fmt(totalWinograd * 1e3, 2)) | **\(fmt(totalGemm / totalWinograd)) ×** | \(fmt(totalAuto * 1e3, 2)) ms |\n")
}

for (h, w) in sizes {
    winogradTable("ResNet-50 at \(w)×\(h)", resnet50Shapes(height: h, width: w))
    denseTable("ResNet-50 at \(w)×\(h)", resnet50Shapes(height: h, width: w))
    let mobile = mobileNetV2Shapes(height: h, width: w)
    denseTable("MobileNetV2 at \(w)×\(h)", mobile)
    depthwiseTable("MobileNetV2 at \(w)×\(h)", mobile)
}

internal import LoupeKernels

/// 2-D convolution (cross-correlation, as in PyTorch) with fused bias and activation.
///
/// - Parameters:
///   - input: `[N, C, H, W]`.
///   - weight: `[OC, C / groups, KH, KW]`.
///   - bias: `[OC]`, or `nil`.
///   - stride: the same along both axes.
///   - dilation: the same along both axes.
///   - padding: symmetric, explicit or TensorFlow "SAME".
///   - groups: `C` and `OC` must both be divisible by it.
///   - activation: applied to the biased output in the same pass.
///   - algorithm: `.automatic` picks the path below; `.im2colGEMM` forces im2col + GEMM (for
///     benchmarks and tests of the depthwise kernel against it).
///   - packedWeight: `weight` already packed (``PackedConvolutionWeights``), used when its shape
///     and groups match; otherwise the GEMM paths pack `weight` on each call.
/// - Returns: `[N, OC, OH, OW]` with `OH = (H + pt + pb − dilation·(KH − 1) − 1) / stride + 1`.
///
/// Three paths, chosen from the shapes:
/// - depthwise (`groups == C == OC`): a direct SIMD kernel; im2col would turn each channel into a
///   `1 × KH·KW` GEMM that is all overhead;
/// - 1×1, stride 1, no padding: one GEMM straight on the input, no im2col;
/// - everything else: im2col + GEMM per group, tiled so that each tile stays in cache.
///
/// The GEMM paths use Loupe's own AVX2 kernel (`lk_gemm`) on ``PackedConvolutionWeights``, with
/// the bias and activation applied in its last pass.
public func convolution2D(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1,
    padding: Padding = .valid, dilation: Int = 1, groups: Int = 1, activation: Activation = .identity,
    algorithm: ConvolutionAlgorithm = .automatic, packedWeight: PackedConvolutionWeights? = nil
) -> Tensor {
    check(input.rank == 4, "convolution2D: input must be [N, C, H, W], got \(input.shape)")
    check(weight.rank == 4, "convolution2D: weight must be [OC, C/groups, KH, KW], got \(weight.shape)")
    let (n, c, h, w) = input.nchw
    let (oc, icg, kh, kw) = weight.nchw
    check(groups >= 1 && c % groups == 0 && oc % groups == 0 && icg * groups == c,
                 "convolution2D: weight \(weight.shape) with groups \(groups) does not fit input \(input.shape)")
    if let bias {
        check(bias.shape == [oc], "convolution2D: bias \(bias.shape) does not fit weight \(weight.shape)")
    }
    let g = windowGeometry("convolution2D", input: (c, h, w), kernel: (kh, kw), stride: stride,
                           padding: padding, dilation: dilation)
    let outH = Int(g.out_h), outW = Int(g.out_w), plane = outH * outW
    let act = activation.kernel
    return Tensor(uninitializedShape: [n, oc, outH, outW]) { out in
        let y = SendablePointer(out.baseAddress!)
        input.withUnsafeBufferPointer { xb in
            weight.withUnsafeBufferPointer { wb in
                withOptionalPointer(bias) { bp in
                    let x = SendableConstPointer(xb.baseAddress!)
                    let wp = SendableConstPointer(wb.baseAddress!)
                    if groups == c && oc == c && icg == 1 && algorithm == .automatic {
                        depthwise(x: x, w: wp, bias: bp, g: g, n: n, act: act, y: y)
                        return
                    }
                    let pointwise = kh == 1 && kw == 1 && stride == 1 && g.pad_top == 0 && g.pad_left == 0
                        && outH == h && outW == w
                    let fits = packedWeight.flatMap { $0.shape == weight.shape && $0.groups == groups ? $0 : nil }
                    let winogradFits = kh == 3 && kw == 3 && stride == 1 && dilation == 1 && groups == 1 && lk_simd_level() >= 1
                    if winogradFits && (algorithm == .winograd
                                        || (algorithm == .automatic && fits?.winograd != nil && WinogradConvolution.pays(g))) {
                        let packed = fits?.winograd != nil ? fits! : PackedConvolutionWeights(weight, groups: 1, winograd: true)
                        packed.winograd!.withUnsafeBufferPointer { u in
                            let plan = WinogradConvolution(geometry: g, outChannels: oc, weights: SendableConstPointer(u.baseAddress!),
                                                           bias: bp.map { SendableConstPointer($0) }, activation: act)
                            for i in 0..<n { plan.run(input: x.pointer + i * c * h * w, output: y.pointer + i * oc * plane) }
                        }
                        return
                    }
                    // the weights in the GEMM kernel's 6-row panels: packed at load time, or now
                    let packed = fits ?? PackedConvolutionWeights(weight, groups: groups)
                    packed.panels.withUnsafeBufferPointer { panels in
                        let plan = GEMMConvolution(
                            geometry: g, groups: groups, outChannels: oc, pointwise: pointwise,
                            packedWeight: SendableConstPointer(panels.baseAddress!), panelFloats: packed.panelFloats,
                            bias: bp.map { SendableConstPointer($0) }, activation: act)
                        for i in 0..<n {
                            plan.run(input: x.pointer + i * c * h * w, output: y.pointer + i * oc * plane)
                        }
                    }
                }
            }
        }
    }
}

/// Convolution as GEMM for one image at a time: `Y[OC, P] = W[OC, K] · col[K, P]` per group, with
/// `K = C/groups · KH · KW` and `P = OH · OW`.
///
/// When `P` is large, each thread takes a run of column tiles and, per tile, writes its im2col
/// block (about 256 KiB, so it stays in L2), multiplies it and applies the bias and activation
/// while the output tile is still in cache: im2col never materialises the whole `[K, P]` matrix.
/// When `P` is small (late layers), the whole im2col is built in parallel and the GEMM is split by
/// output channel instead.
private struct GEMMConvolution {
    /// im2col floats per tile: 256 KiB, half of a Zen 3 core's L2. Measured on ResNet-50's shapes
    /// (Benchmarks, 2 threads): 64–512 KiB tiles all land within noise of each other; 128 KiB and
    /// narrower tiles lose on the 3×3 layers, where the GEMM then gets too few columns.
    static let tileFloats = 65_536
    /// Narrowest tile, in columns: below about 256 OpenBLAS's packing overhead shows.
    static let minimumTileWidth = 256

    let geometry: lk_conv_geometry
    let groups: Int, outChannels: Int, pointwise: Bool
    /// Each group's `[OC / groups, K]` weights packed by `lk_gemm_pack_a`, `panelFloats` apart.
    let packedWeight: SendableConstPointer
    let panelFloats: Int
    let bias: SendableConstPointer?
    let activation: lk_activation

    var channels: Int { Int(geometry.channels) }
    var plane: Int { Int(geometry.out_h) * Int(geometry.out_w) }
    /// GEMM depth per group.
    var depth: Int { channels / groups * Int(geometry.kernel_h) * Int(geometry.kernel_w) }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let threads = ComputeThreads.count
        if plane >= 128 * threads { runTiled(input, output, threads) } else { runByChannel(input, output) }
    }

    private func runTiled(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, _ threads: Int) {
        let rows = channels * Int(geometry.kernel_h) * Int(geometry.kernel_w)  // im2col rows, all groups
        // Tile width: about 256 KiB of im2col per tile, a multiple of 16 columns, at least 256;
        // the tile count a multiple of the thread count so that the threads finish together.
        let target = max(Self.minimumTileWidth, (Self.tileFloats / max(1, rows)) / 16 * 16)
        var tiles = max(threads, (plane + target - 1) / target)
        // two tiles per thread when they stay wide enough: threads that start late or run slow
        // then take fewer (tiles are claimed dynamically)
        if plane >= 2 * threads * Self.minimumTileWidth { tiles = max(tiles, 2 * threads) }
        tiles = (tiles + threads - 1) / threads * threads
        let width = ((plane + tiles - 1) / tiles + 15) / 16 * 16
        tiles = (plane + width - 1) / width
        let x = SendableConstPointer(input), y = SendablePointer(output)
        let m = outChannels / groups, k = depth, plane = plane
        ComputeThreads.forEachParticipant(claiming: tiles) { next in
            let scratch = ScratchBuffer(floats: pointwise ? 0 : rows * width)
            let workspace = ScratchBuffer(floats: lk_gemm_workspace_floats())
            let col: UnsafeMutablePointer<Float>? = pointwise ? nil : scratch.pointer
            var g = geometry
            while let tile = next() {
                let p0 = tile * width, p1 = min(plane, p0 + width)
                let b: UnsafePointer<Float>, ldb: Int
                if let col {
                    lk_im2col(x.pointer, &g, 0, Int32(channels), p0, p1, col, width)
                    (b, ldb) = (UnsafePointer(col), width)
                } else {
                    (b, ldb) = (x.pointer + p0, plane)
                }
                for group in 0..<groups {
                    lk_gemm(Int32(m), Int32(p1 - p0), Int32(k), packedWeight.pointer + group * panelFloats,
                            b + group * k * ldb, ldb, y.pointer + group * m * plane + p0, plane,
                            bias.map { $0.pointer + group * m }, activation, workspace.pointer)
                }
            }
        }
    }

    private func runByChannel(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        let kernelArea = Int(geometry.kernel_h) * Int(geometry.kernel_w)
        let x = SendableConstPointer(input), y = SendablePointer(output)
        let m = outChannels / groups, k = depth, plane = plane
        var b = x
        let scratch = ScratchBuffer(floats: pointwise ? 0 : channels * kernelArea * plane)
        let col: UnsafeMutablePointer<Float>? = pointwise ? nil : scratch.pointer
        if let col {
            let colp = SendablePointer(col)
            ComputeThreads.forEachChunk(of: channels, minimumChunk: max(1, 16_384 / (kernelArea * plane))) { r in
                var g = geometry
                lk_im2col(x.pointer, &g, Int32(r.lowerBound), Int32(r.upperBound), 0, plane, colp.pointer, plane)
            }
            b = SendableConstPointer(col)
        }
        // split by 6-row panels of the packed weights: one GEMM per (group, run of panels)
        let panelsPerGroup = (m + 5) / 6
        ComputeThreads.forEachChunk(of: groups * panelsPerGroup, minimumChunk: 3) { r in
            let workspace = ScratchBuffer(floats: lk_gemm_workspace_floats())
            for group in 0..<groups {
                let lo = max(r.lowerBound, group * panelsPerGroup) - group * panelsPerGroup
                let hi = min(r.upperBound, (group + 1) * panelsPerGroup) - group * panelsPerGroup
                guard lo < hi else { continue }
                let row0 = lo * 6, row1 = min(m, hi * 6)
                lk_gemm(Int32(row1 - row0), Int32(plane), Int32(k), packedWeight.pointer + group * panelFloats + row0 * k,
                        b.pointer + group * k * plane, plane, y.pointer + (group * m + row0) * plane, plane,
                        bias.map { $0.pointer + group * m + row0 }, activation, workspace.pointer)
            }
        }
    }
}

/// 3×3 stride-1 convolution by Winograd F(2×2, 3×3) (`lk_winograd_conv3x3`) for one image at a
/// time: 2.25× fewer multiply-adds than im2col + GEMM, at the cost of an input and an output
/// transform. Work items are runs of 2×2 output tiles (a multiple of 16, so the GEMMs have no
/// partial panels, sized so that a run's transformed input and products, `16 · (C + OC) · T`
/// floats, stay near 1 MiB) times blocks of output channels when the runs alone are too few to
/// keep every thread busy.
struct WinogradConvolution {
    static let blockFloats = 262_144

    let geometry: lk_conv_geometry
    let outChannels: Int
    let weights: SendableConstPointer
    let bias: SendableConstPointer?
    let activation: lk_activation

    /// Whether the transforms pay for themselves on this layer: from 16 output tiles (a 7×7 map)
    /// on, Winograd measured faster on every ResNet-50 3×3 layer (`loupe-kernel-bench`, 1.3–2.1×);
    /// below that the GEMMs' single 16-column panel is mostly padding and the transformed weights
    /// (16/9 of the originals) are streamed for little work, so im2col + GEMM stays.
    static func pays(_ g: lk_conv_geometry) -> Bool {
        let tiles = Int((g.out_h + 1) / 2) * Int((g.out_w + 1) / 2)
        return tiles >= 16 && g.channels >= 16
    }

    func run(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let threads = ComputeThreads.count
        let c = Int(geometry.channels), m = outChannels
        let tiles = Int((geometry.out_h + 1) / 2) * Int((geometry.out_w + 1) / 2)
        // runs of whole 16-tile GEMM panels, a multiple of the thread count, their lengths within
        // one panel of each other (run r covers panels [r·P / runs, (r + 1)·P / runs))
        let panels = (tiles + 15) / 16
        let perRun = max(1, Self.blockFloats / (16 * (c + m)) / 16)
        var runs = (panels + perRun - 1) / perRun
        runs = min(panels, (runs + threads - 1) / threads * threads)
        let longest = (panels + runs - 1) / runs * 16
        // too few runs for the threads: split the output channels too (blocks of whole 6-row panels)
        var blocks = 1
        if runs < 2 * threads { blocks = max(1, min((2 * threads + runs - 1) / runs, m / 48)) }
        let blockRows = ((m + blocks - 1) / blocks + 5) / 6 * 6
        blocks = (m + blockRows - 1) / blockRows
        var g = geometry
        let work = lk_winograd_workspace_floats(&g, Int32(blockRows), Int32(longest))
        let x = SendableConstPointer(input), y = SendablePointer(output)
        let (weights, bias, activation, geometry) = (weights, bias, activation, geometry)
        ComputeThreads.forEachParticipant(claiming: runs * blocks) { next in
            let scratch = ScratchBuffer(floats: work)
            var g = geometry
            while let item = next() {
                let r = item / blocks, m0 = (item % blocks) * blockRows
                let t0 = r * panels / runs * 16, t1 = min(tiles, (r + 1) * panels / runs * 16)
                lk_winograd_conv3x3(x.pointer, &g, weights.pointer, Int32(m), Int32(m0), Int32(min(m, m0 + blockRows)),
                                    Int32(t0), Int32(t1), bias?.pointer, activation, scratch.pointer, y.pointer)
            }
        }
    }
}

/// Convolution weights `[OC, C / groups, KH, KW]` rearranged, group by group, into the panels
/// Loupe's GEMM kernel reads (6 output channels × K, K-major). Packing costs a pass over the
/// weights; a layer that packs once at load time (``convolution2D(_:weight:bias:stride:padding:dilation:groups:activation:algorithm:packedWeight:)``'s
/// `packedWeight`) saves it on every call — for ResNet-50, 100 MB of copying per image.
public struct PackedConvolutionWeights: Sendable {
    /// The shape of the weights this was packed from.
    public let shape: [Int]
    public let groups: Int
    /// The panels of every group, `panelFloats` apart.
    let panels: Tensor
    let panelFloats: Int
    /// For a 3×3 layer with one group packed with `winograd: true`: the weights transformed for
    /// Winograd F(2×2, 3×3) (`lk_winograd_pack_weights`, 16/9 the size of the weights).
    let winograd: Tensor?

    /// Packs `weight` for the GEMM kernel and, with `winograd` (a 3×3 layer of one group at
    /// stride 1), also transformed for the Winograd path, which ``convolution2D(_:weight:bias:stride:padding:dilation:groups:activation:algorithm:packedWeight:)``
    /// then takes on maps large enough for it to pay.
    public init(_ weight: Tensor, groups: Int, winograd: Bool = false) {
        check(weight.rank == 4 && groups >= 1 && weight.shape[0] % groups == 0,
              "PackedConvolutionWeights: weight \(weight.shape) does not split into \(groups) groups")
        let m = weight.shape[0] / groups, k = weight.shape[1] * weight.shape[2] * weight.shape[3]
        let panelFloats = lk_gemm_packed_a_floats(Int32(m), Int32(k))
        (shape, self.groups, self.panelFloats) = (weight.shape, groups, panelFloats)
        panels = Tensor(uninitializedShape: [max(1, groups * panelFloats)]) { out in
            weight.withUnsafeBufferPointer { w in
                for group in 0..<groups {
                    lk_gemm_pack_a(w.baseAddress! + group * m * k, k, Int32(m), Int32(k), out.baseAddress! + group * panelFloats)
                }
            }
        }
        if winograd && groups == 1 && weight.shape[2] == 3 && weight.shape[3] == 3 {
            let c = weight.shape[1]
            self.winograd = Tensor(uninitializedShape: [lk_winograd_packed_floats(Int32(m), Int32(c))]) { out in
                let scratch = ScratchBuffer(floats: 16 * m * c)
                weight.withUnsafeBufferPointer {
                    lk_winograd_pack_weights($0.baseAddress!, Int32(m), Int32(c), scratch.pointer, out.baseAddress!)
                }
            }
        } else {
            self.winograd = nil
        }
    }
}

/// How ``convolution2D(_:weight:bias:stride:padding:dilation:groups:activation:algorithm:packedWeight:)``
/// computes its result.
public enum ConvolutionAlgorithm: Sendable, Hashable {
    /// Direct depthwise kernel when `groups == C == OC`, a single GEMM for unpadded 1×1 stride 1,
    /// im2col + GEMM otherwise.
    case automatic
    /// Always im2col + one GEMM per group.
    case im2colGEMM
    /// Winograd F(2×2, 3×3) wherever the layer allows it (3×3, stride 1, undilated, one group,
    /// AVX2), transforming the weights on the call when they were not packed for it; im2col +
    /// GEMM elsewhere. `.automatic` takes it only with pre-transformed weights and on maps of at
    /// least 16 output tiles.
    case winograd
}

private func depthwise(
    x: SendableConstPointer, w: SendableConstPointer, bias: UnsafePointer<Float>?, g: lk_conv_geometry,
    n: Int, act: lk_activation, y: SendablePointer
) {
    let c = Int(g.channels)
    let inPlane = Int(g.height) * Int(g.width), outPlane = Int(g.out_h) * Int(g.out_w)
    let bias = bias.map { SendableConstPointer($0) }
    var geometry = g
    let work = lk_depthwise_workspace_floats(&geometry)
    ComputeThreads.forEachChunk(of: c, minimumChunk: max(1, 8_192 / outPlane)) { r in
        var geometry = g
        let scratch = ScratchBuffer(floats: work)
        let ws = scratch.pointer
        for i in 0..<n {
            lk_depthwise_conv(x.pointer + i * c * inPlane, w.pointer, bias?.pointer, &geometry, act,
                              Int32(r.lowerBound), Int32(r.upperBound), ws, y.pointer + i * c * outPlane)
        }
    }
}

/// Calls `body` with the base address of `tensor`'s elements, or `nil`.
func withOptionalPointer<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafeBufferPointer { body($0.baseAddress) }
}

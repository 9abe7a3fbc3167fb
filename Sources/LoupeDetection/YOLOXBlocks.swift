internal import LoupeModels
internal import LoupeTensor

// YOLOX's building blocks (Megvii's `network_blocks.py`), with BatchNorm already folded into each
// convolution (every conv of the YOLOX-Nano safetensors has a bias). Activation: SiLU.

/// `BaseConv`: convolution, padding `(k − 1) / 2`, fused bias and SiLU. Keys: `<prefix>.conv.{weight,bias}`.
func baseConv(_ r: inout WeightReader, _ prefix: String, _ inC: Int, _ outC: Int, kernel: Int, stride: Int = 1,
              groups: Int = 1, activation: Activation = .silu) -> Conv2D {
    Conv2D.load(&r, conv: "\(prefix).conv", batchNorm: nil, inChannels: inC, outChannels: outC, kernel: kernel,
                stride: stride, padding: .symmetric((kernel - 1) / 2), groups: groups, activation: activation)
}

/// `Conv` or `DWConv` (depthwise `dconv` + pointwise `pconv`) depending on the model.
func yoloConv(_ r: inout WeightReader, _ prefix: String, _ inC: Int, _ outC: Int, kernel: Int, stride: Int, depthwise: Bool) -> [Conv2D] {
    guard depthwise else { return [baseConv(&r, prefix, inC, outC, kernel: kernel, stride: stride)] }
    return [baseConv(&r, "\(prefix).dconv", inC, inC, kernel: kernel, stride: stride, groups: inC),
            baseConv(&r, "\(prefix).pconv", inC, outC, kernel: 1)]
}

/// `CSPLayer`: two 1×1 branches, `n` bottlenecks on the first, concatenation, a 1×1 fuse.
struct CSPLayer: Sendable {
    var conv1, conv2, conv3: Conv2D
    var bottlenecks: [ConvolutionSequence]  // conv1 1×1, conv2 3×3 (DW), residual when shortcut

    init(_ r: inout WeightReader, _ prefix: String, _ inC: Int, _ outC: Int, n: Int, shortcut: Bool, depthwise: Bool) {
        let hidden = outC / 2
        conv1 = baseConv(&r, "\(prefix).conv1", inC, hidden, kernel: 1)
        conv2 = baseConv(&r, "\(prefix).conv2", inC, hidden, kernel: 1)
        conv3 = baseConv(&r, "\(prefix).conv3", 2 * hidden, outC, kernel: 1)
        bottlenecks = (0..<n).map { i in
            let p = "\(prefix).m.\(i)"
            return ConvolutionSequence([baseConv(&r, "\(p).conv1", hidden, hidden, kernel: 1)]
                                       + yoloConv(&r, "\(p).conv2", hidden, hidden, kernel: 3, stride: 1, depthwise: depthwise),
                                       residual: shortcut)
        }
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let a = bottlenecks.reduce(conv1(x)) { $1($0) }
        return conv3(Tensor.concatenated([a, conv2(x)], along: 1))
    }
}

/// `SPPBottleneck`: 1×1 halving, max pools 5/9/13 (stride 1, same padding) concatenated, 1×1.
struct SPPBottleneck: Sendable {
    var conv1, conv2: Conv2D

    init(_ r: inout WeightReader, _ prefix: String, _ inC: Int, _ outC: Int) {
        conv1 = baseConv(&r, "\(prefix).conv1", inC, inC / 2, kernel: 1)
        conv2 = baseConv(&r, "\(prefix).conv2", inC / 2 * 4, outC, kernel: 1)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let y = conv1(x)
        // pooling 5 three times equals pooling 5, 9 and 13 (stride 1, same padding): max is
        // associative and the windows nest, so the SPPF chain is exact and cheaper.
        let p5 = maxPool2D(y, kernelSize: 5, stride: 1, padding: .symmetric(2))
        let p9 = maxPool2D(p5, kernelSize: 5, stride: 1, padding: .symmetric(2))
        let p13 = maxPool2D(p9, kernelSize: 5, stride: 1, padding: .symmetric(2))
        return conv2(Tensor.concatenated([y, p5, p9, p13], along: 1))
    }
}

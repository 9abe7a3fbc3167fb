import LoupeTensor

/// One convolution layer's shape, for a benchmark row.
struct ConvShape: Hashable {
    var inChannels, outChannels, kernel, stride, height, width: Int
    var depthwise = false

    var padding: Int { kernel / 2 }
    var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Multiply-adds × 2.
    var flops: Double {
        let perOutput = depthwise ? kernel * kernel : inChannels * kernel * kernel
        return 2 * Double(outChannels * outHeight * outWidth * perOutput)
    }
    /// GEMM of the im2col formulation: [M, K] · [K, N].
    var gemm: (m: Int, k: Int, n: Int) { (outChannels, inChannels * kernel * kernel, outHeight * outWidth) }
    /// Bytes a depthwise layer must move at least once: input, output and weights.
    var depthwiseBytes: Double {
        4 * Double(inChannels * height * width + outChannels * outHeight * outWidth + outChannels * kernel * kernel)
    }
    var label: String {
        "\(depthwise ? "dw" : "")\(kernel)x\(kernel)/\(stride) \(inChannels)->\(outChannels) @\(height)x\(width)"
    }
}

/// The distinct convolution shapes of torchvision's ResNet-50 (v1.5: stride on the 3×3).
func resnet50Shapes(height: Int, width: Int) -> [ConvShape] {
    var shapes: [ConvShape] = []
    func add(_ s: ConvShape) { if !shapes.contains(s) { shapes.append(s) } }
    var h = height, w = width
    add(ConvShape(inChannels: 3, outChannels: 64, kernel: 7, stride: 2, height: h, width: w))
    h = (h + 6 - 7) / 2 + 1; w = (w + 6 - 7) / 2 + 1
    h = (h + 2 - 3) / 2 + 1; w = (w + 2 - 3) / 2 + 1  // max pool
    var inC = 64
    for (width, blocks, firstStride) in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)] {
        for b in 0..<blocks {
            let s = b == 0 ? firstStride : 1
            add(ConvShape(inChannels: inC, outChannels: width, kernel: 1, stride: 1, height: h, width: w))
            add(ConvShape(inChannels: width, outChannels: width, kernel: 3, stride: s, height: h, width: w))
            let oh = (h + 2 - 3) / s + 1, ow = (w + 2 - 3) / s + 1
            add(ConvShape(inChannels: width, outChannels: 4 * width, kernel: 1, stride: 1, height: oh, width: ow))
            if b == 0 { add(ConvShape(inChannels: inC, outChannels: 4 * width, kernel: 1, stride: s, height: h, width: w)) }
            inC = 4 * width
            h = oh; w = ow
        }
    }
    return shapes
}

/// The distinct convolution shapes of torchvision's MobileNetV2 (width 1.0).
func mobileNetV2Shapes(height: Int, width: Int) -> [ConvShape] {
    var shapes: [ConvShape] = []
    func add(_ s: ConvShape) { if !shapes.contains(s) { shapes.append(s) } }
    var h = height, w = width
    add(ConvShape(inChannels: 3, outChannels: 32, kernel: 3, stride: 2, height: h, width: w))
    h = (h - 1) / 2 + 1; w = (w - 1) / 2 + 1
    var inC = 32
    for (t, c, n, firstStride) in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)] {
        for i in 0..<n {
            let s = i == 0 ? firstStride : 1
            let hidden = inC * t
            if t != 1 { add(ConvShape(inChannels: inC, outChannels: hidden, kernel: 1, stride: 1, height: h, width: w)) }
            add(ConvShape(inChannels: hidden, outChannels: hidden, kernel: 3, stride: s, height: h, width: w, depthwise: true))
            h = (h - 1) / s + 1; w = (w - 1) / s + 1
            add(ConvShape(inChannels: hidden, outChannels: c, kernel: 1, stride: 1, height: h, width: w))
            inC = c
        }
    }
    add(ConvShape(inChannels: 320, outChannels: 1280, kernel: 1, stride: 1, height: h, width: w))
    return shapes
}

public import Foundation
internal import LoupeImage
public import LoupeModels
public import LoupeTensor

/// Depth and width multipliers of the released models.
extension YOLOXVariant {
    var depth: Double { switch self { case .nano, .tiny, .s: 0.33; case .m: 0.67; case .l: 1.0; case .x: 1.33 } }
    var width: Double { switch self { case .nano: 0.25; case .tiny: 0.375; case .s: 0.5; case .m: 0.75; case .l: 1.0; case .x: 1.25 } }
    var depthwise: Bool { self == .nano }
}

/// YOLOX (Ge et al., 2021): CSPDarknet with a Focus stem and SPP, a PAFPN neck, and a decoupled
/// head per level (strides 8, 16, 32), for any depth/width multiplier.
///
/// Weights by the module names of the YOLOX source (`backbone.backbone.dark3.1.m.0.conv1.conv`,
/// `backbone.C3_p4.conv1.conv`, `head.cls_preds.0`, …) with BatchNorm folded (as in
/// `yolox_nano_coco.safetensors`). Input: BGR 0–255 letterboxed `[1, 3, S, S]`. Output: the
/// exported model's `[1, Σ HᵢWᵢ, 5 + classes]` rows `[dx, dy, log w, log h, σ(objectness),
/// σ(class logits)…]`, levels in stride order, cells row-major — what ONNX Runtime returns for
/// `yolox_nano.onnx`.
public struct YOLOX: Sendable {
    /// The released variants (`nano` … `x`), named in LoupeModels so that recipes can name them.
    public typealias Size = YOLOXVariant

    public let size: Size
    public let classCount: Int
    let stem: Conv2D
    let dark2: ([Conv2D], CSPLayer), dark3: ([Conv2D], CSPLayer), dark4: ([Conv2D], CSPLayer)
    let dark5: ([Conv2D], SPPBottleneck, CSPLayer)
    let lateral0, reduce1: Conv2D
    let c3p4, c3p3, c3n3, c3n4: CSPLayer
    let buConv2, buConv1: [Conv2D]
    let stems: [Conv2D]
    let clsConvs, regConvs: [[Conv2D]]
    let clsPreds, regPreds, objPreds: [Conv2D]

    /// The feature maps of a forward pass, by YOLOX's names: backbone `dark3`, `dark4`, `dark5`
    /// and PAFPN outputs `pan3`, `pan4`, `pan5` (strides 8, 16, 32).
    public static let stageNames = ["dark3", "dark4", "dark5", "pan3", "pan4", "pan5"]
    /// Strides of the three head levels.
    public static let strides = [8, 16, 32]

    public init(_ state: StateDict, size: Size = .nano, classCount: Int = 80) throws(WeightLoadingError) {
        self.size = size
        self.classCount = classCount
        var r = WeightReader(state)
        let w = size.width, dw = size.depthwise
        let base = Int(w * 64), depth = max(Int((size.depth * 3).rounded()), 1)
        let b = "backbone.backbone"
        stem = baseConv(&r, "\(b).stem.conv", 12, base, kernel: 3)
        func dark(_ name: String, _ inC: Int, _ outC: Int, _ n: Int) -> ([Conv2D], CSPLayer) {
            (yoloConv(&r, "\(b).\(name).0", inC, outC, kernel: 3, stride: 2, depthwise: dw),
             CSPLayer(&r, "\(b).\(name).1", outC, outC, n: n, shortcut: true, depthwise: dw))
        }
        dark2 = dark("dark2", base, base * 2, depth)
        dark3 = dark("dark3", base * 2, base * 4, depth * 3)
        dark4 = dark("dark4", base * 4, base * 8, depth * 3)
        dark5 = (yoloConv(&r, "\(b).dark5.0", base * 8, base * 16, kernel: 3, stride: 2, depthwise: dw),
                 SPPBottleneck(&r, "\(b).dark5.1", base * 16, base * 16),
                 CSPLayer(&r, "\(b).dark5.2", base * 16, base * 16, n: depth, shortcut: false, depthwise: dw))
        let c = [Int(256 * w), Int(512 * w), Int(1024 * w)]
        let n = Int((3 * size.depth).rounded())
        lateral0 = baseConv(&r, "backbone.lateral_conv0", c[2], c[1], kernel: 1)
        c3p4 = CSPLayer(&r, "backbone.C3_p4", 2 * c[1], c[1], n: n, shortcut: false, depthwise: dw)
        reduce1 = baseConv(&r, "backbone.reduce_conv1", c[1], c[0], kernel: 1)
        c3p3 = CSPLayer(&r, "backbone.C3_p3", 2 * c[0], c[0], n: n, shortcut: false, depthwise: dw)
        buConv2 = yoloConv(&r, "backbone.bu_conv2", c[0], c[0], kernel: 3, stride: 2, depthwise: dw)
        c3n3 = CSPLayer(&r, "backbone.C3_n3", 2 * c[0], c[1], n: n, shortcut: false, depthwise: dw)
        buConv1 = yoloConv(&r, "backbone.bu_conv1", c[1], c[1], kernel: 3, stride: 2, depthwise: dw)
        c3n4 = CSPLayer(&r, "backbone.C3_n4", 2 * c[1], c[2], n: n, shortcut: false, depthwise: dw)
        let hidden = Int(256 * w)
        var stems: [Conv2D] = [], cls: [[Conv2D]] = [], reg: [[Conv2D]] = []
        var clsP: [Conv2D] = [], regP: [Conv2D] = [], objP: [Conv2D] = []
        for i in 0..<3 {
            stems.append(baseConv(&r, "head.stems.\(i)", c[i], hidden, kernel: 1))
            cls.append(yoloConv(&r, "head.cls_convs.\(i).0", hidden, hidden, kernel: 3, stride: 1, depthwise: dw)
                       + yoloConv(&r, "head.cls_convs.\(i).1", hidden, hidden, kernel: 3, stride: 1, depthwise: dw))
            reg.append(yoloConv(&r, "head.reg_convs.\(i).0", hidden, hidden, kernel: 3, stride: 1, depthwise: dw)
                       + yoloConv(&r, "head.reg_convs.\(i).1", hidden, hidden, kernel: 3, stride: 1, depthwise: dw))
            clsP.append(Conv2D.load(&r, conv: "head.cls_preds.\(i)", batchNorm: nil, inChannels: hidden, outChannels: classCount,
                                    kernel: 1, padding: .valid, activation: .sigmoid))
            regP.append(Conv2D.load(&r, conv: "head.reg_preds.\(i)", batchNorm: nil, inChannels: hidden, outChannels: 4,
                                    kernel: 1, padding: .valid, activation: .identity))
            objP.append(Conv2D.load(&r, conv: "head.obj_preds.\(i)", batchNorm: nil, inChannels: hidden, outChannels: 1,
                                    kernel: 1, padding: .valid, activation: .sigmoid))
        }
        try r.finish()
        (self.stems, clsConvs, regConvs, clsPreds, regPreds, objPreds) = (stems, cls, reg, clsP, regP, objP)
    }

    /// Loads YOLOX weights from a safetensors file.
    public init(contentsOf url: URL, size: Size = .nano) throws {
        try self.init(StateDict(contentsOf: url), size: size)
    }

    /// Backbone and PAFPN maps `[1, C, H/s, W/s]` by ``stageNames``.
    public func features(_ input: Tensor) -> [String: Tensor] {
        let x = stem(spaceToDepth2(input))
        func run(_ convs: [Conv2D], _ t: Tensor) -> Tensor { convs.reduce(t) { $1($0) } }
        let d2 = dark2.1(run(dark2.0, x))
        let d3 = dark3.1(run(dark3.0, d2))
        let d4 = dark4.1(run(dark4.0, d3))
        let d5 = dark5.2(dark5.1(run(dark5.0, d4)))
        let fpn0 = lateral0(d5)
        let f0 = c3p4(Tensor.concatenated([upsampleNearest2x(fpn0), d4], along: 1))
        let fpn1 = reduce1(f0)
        let pan3 = c3p3(Tensor.concatenated([upsampleNearest2x(fpn1), d3], along: 1))
        let pan4 = c3n3(Tensor.concatenated([run(buConv2, pan3), fpn1], along: 1))
        let pan5 = c3n4(Tensor.concatenated([run(buConv1, pan4), fpn0], along: 1))
        return ["dark3": d3, "dark4": d4, "dark5": d5, "pan3": pan3, "pan4": pan4, "pan5": pan5]
    }

    /// The raw head output `[1, Σ HᵢWᵢ, 5 + classes]` (see the type's documentation).
    public func callAsFunction(_ input: Tensor) -> Tensor {
        head(features(input))
    }

    func head(_ maps: [String: Tensor]) -> Tensor { headWithStems(maps).output }

    /// The raw output and the head's stem maps: `[1, 256·width, H/s, W/s]` for s = 8, 16, 32, one
    /// width for all levels (64 for nano) — the pyramid the distilled embedding head reads.
    func headWithStems(_ maps: [String: Tensor]) -> (output: Tensor, stems: [Tensor]) {
        var rows: [Tensor] = [], stemMaps: [Tensor] = []
        for (i, name) in ["pan3", "pan4", "pan5"].enumerated() {
            let x = stems[i](maps[name]!)
            stemMaps.append(x)
            let clsFeat = clsConvs[i].reduce(x) { $1($0) }
            let regFeat = regConvs[i].reduce(x) { $1($0) }
            let out = Tensor.concatenated([regPreds[i](regFeat), objPreds[i](regFeat), clsPreds[i](clsFeat)], along: 1)
            let (_, c, h, w) = out.nchw
            rows.append(out.reshaped(to: [c, h * w]).permuted([1, 0]))  // [HW, 85]
        }
        return (Tensor.concatenated(rows, along: 0).reshaped(to: [1, -1, 5 + classCount]), stemMaps)
    }
}

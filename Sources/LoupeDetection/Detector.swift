public import Foundation
public import LoupeImage
public import LoupeTensor

/// One detected object.
public struct Detection: Sendable, Codable, Equatable {
    /// In the original image's pixel coordinates.
    public var box: BoundingBox
    /// Objectness × class probability.
    public var score: Float
    public var classIndex: Int
    public var label: String
}

/// Detection settings.
public struct DetectionOptions: Sendable {
    /// Minimum objectness × class probability.
    public var scoreThreshold: Float = 0.3
    /// IoU above which the lower-scoring box is suppressed (YOLOX's demo uses 0.45).
    public var nmsThreshold: Float = 0.45
    /// Suppress across classes too (the paper uses boxes class-agnostically: YOLOX-Nano often
    /// calls one DVD cover both "tv" and "book").
    public var classAgnostic = false
    /// Keep at most this many detections, best first.
    public var maximumDetections = 100
    /// Letterbox size (YOLOX-Nano: 416).
    public var inputSize = 416

    public init(scoreThreshold: Float = 0.3, nmsThreshold: Float = 0.45, classAgnostic: Bool = false,
                maximumDetections: Int = 100, inputSize: Int = 416) {
        (self.scoreThreshold, self.nmsThreshold, self.classAgnostic) = (scoreThreshold, nmsThreshold, classAgnostic)
        (self.maximumDetections, self.inputSize) = (maximumDetections, inputSize)
    }
}

extension YOLOX {
    /// Letterboxes `image`, runs the network and decodes boxes with NMS.
    public func detect(_ image: Image, options: DetectionOptions = .init(), labels: [String] = []) -> [Detection] {
        let (canvas, scale) = image.letterboxed(size: options.inputSize)
        let raw = self(canvas.tensor(.bgr255))
        return YOLOX.decode(raw, inputSize: options.inputSize, scale: Float(scale), imageWidth: image.width,
                            imageHeight: image.height, options: options, labels: labels)
    }

    /// As ``detect(_:options:labels:)``, also returning the head's stem maps of the same pass
    /// (strides 8, 16, 32; equal widths) and the letterbox scale (letterbox pixels per image pixel).
    public func detectWithPyramid(_ image: Image, options: DetectionOptions = .init(), labels: [String] = [])
        -> (detections: [Detection], pyramid: FeaturePyramid) {
        let (canvas, scale) = image.letterboxed(size: options.inputSize)
        let maps = features(canvas.tensor(.bgr255))
        let (raw, stems) = headWithStems(maps)
        let found = YOLOX.decode(raw, inputSize: options.inputSize, scale: Float(scale), imageWidth: image.width,
                                 imageHeight: image.height, options: options, labels: labels)
        return (found, FeaturePyramid(maps: stems, strides: YOLOX.strides, scale: Float(scale),
                                      pafpn: ["pan3", "pan4", "pan5"].map { maps[$0]! },
                                      backbone: ["dark3", "dark4", "dark5"].map { maps[$0]! }))
    }

    /// Decodes the raw output `[1, N, 5 + classes]` of a `size × size` letterboxed input: for the
    /// cell at `(gx, gy)` of stride `s`, centre `(d + g) · s`, size `exp(log wh) · s`; score =
    /// objectness × best class probability; boxes divided by the letterbox `scale`.
    public static func decode(_ raw: Tensor, inputSize: Int, scale: Float, imageWidth: Int, imageHeight: Int,
                              options: DetectionOptions, labels: [String] = []) -> [Detection] {
        precondition(raw.rank == 3 && raw.shape[2] >= 6, "YOLOX.decode: expected [1, N, 5 + classes], got \(raw.shape)")
        let rows = raw.shape[1], width = raw.shape[2], classes = width - 5
        let v = raw.scalars
        var boxes: [BoundingBox] = [], scores: [Float] = [], classIndices: [Int] = []
        var row = 0
        for stride in strides {
            let cells = inputSize / stride
            for gy in 0..<cells { for gx in 0..<cells {
                defer { row += 1 }
                guard row < rows else { continue }
                let p = row * width
                var best = 0
                for c in 1..<classes where v[p + 5 + c] > v[p + 5 + best] { best = c }
                let score = v[p + 4] * v[p + 5 + best]
                guard score >= options.scoreThreshold, score.isFinite else { continue }
                let cx = (v[p] + Float(gx)) * Float(stride), cy = (v[p + 1] + Float(gy)) * Float(stride)
                let w = exp(v[p + 2]) * Float(stride), h = exp(v[p + 3]) * Float(stride)
                let box = BoundingBox(x0: cx - w / 2, y0: cy - h / 2, x1: cx + w / 2, y1: cy + h / 2)
                boxes.append(box.scaled(by: 1 / scale).clipped(width: Float(imageWidth), height: Float(imageHeight)))
                scores.append(score)
                classIndices.append(best)
            } }
        }
        let kept = options.classAgnostic
            ? nonMaximumSuppression(boxes, scores: scores, iouThreshold: options.nmsThreshold)
            : batchedNonMaximumSuppression(boxes, scores: scores, classes: classIndices, iouThreshold: options.nmsThreshold)
        return kept.prefix(options.maximumDetections).map { i in
            Detection(box: boxes[i], score: scores[i], classIndex: classIndices[i],
                      label: labels.indices.contains(classIndices[i]) ? labels[classIndices[i]] : "class \(classIndices[i])")
        }
    }
}

/// Feature maps of a detector at several strides, for pooling boxes given in image pixels.
public struct FeaturePyramid: Sendable {
    /// `[1, C, H/s, W/s]` per stride.
    public var maps: [Tensor]
    public var strides: [Int]
    /// Network-input pixels per original-image pixel (the letterbox scale).
    public var scale: Float
    /// The PAFPN outputs the stems read (`pan3`, `pan4`, `pan5`: widths differ per level).
    public var pafpn: [Tensor]
    /// The CSPDarknet outputs the PAFPN reads (`dark3`, `dark4`, `dark5`).
    public var backbone: [Tensor]

    public init(maps: [Tensor], strides: [Int], scale: Float, pafpn: [Tensor] = [], backbone: [Tensor] = []) {
        (self.maps, self.strides, self.scale, self.pafpn, self.backbone) = (maps, strides, scale, pafpn, backbone)
    }

    /// Which pyramid features a box gets.
    public enum Pooling: String, Sendable, Hashable, Codable {
        /// The head stems (one width), each box on its level by the FPN rule: `C` channels.
        case stems
        /// Every PAFPN level, each box RoIAligned on all of them and the channels concatenated
        /// (`Σ Cᵢ`: 448 for nano): fine and coarse context for every box.
        case pafpnAllLevels = "pafpn-all"
        /// Every CSPDarknet level (`dark3`–`dark5`), concatenated like ``pafpnAllLevels`` (448
        /// channels for nano): the detector's maps that retrieve best on their own (its stride-16
        /// `dark4`, in the analysis grid), before the PAFPN specialises them for detection.
        case backboneAllLevels = "backbone-all"
    }

    /// Each box (original-image pixels) as `[boxes.count, C, bins, bins]` RoI features.
    public func pool(_ boxes: [BoundingBox], bins: Int = 7, using pooling: Pooling = .stems) -> Tensor {
        let scaled = boxes.map { $0.scaled(by: scale) }
        switch pooling {
        case .stems:
            return MultiScaleRoIAlign(strides: strides, outputSize: bins)(maps, boxes: scaled)
        case .pafpnAllLevels, .backboneAllLevels:
            let source = pooling == .pafpnAllLevels ? pafpn : backbone
            precondition(source.count == strides.count, "the pyramid holds no \(pooling.rawValue) maps")
            let levels = zip(source, strides).map { map, stride in
                roiAlign(map, boxes: scaled.map { (0, $0.x0, $0.y0, $0.x1, $0.y1) }, outputSize: bins,
                         spatialScale: 1 / Float(stride), samplingRatio: 2, aligned: false)
            }
            return Tensor.concatenated(levels, along: 1)
        }
    }
}

/// Class names, one per line (`coco.names`).
public func readLabels(_ url: URL) throws -> [String] {
    try String(contentsOf: url, encoding: .utf8).split(whereSeparator: \.isNewline).map(String.init)
}

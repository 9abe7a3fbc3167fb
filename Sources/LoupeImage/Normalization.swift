public import LoupeTensor

/// The input conventions of the networks Loupe runs (see the shared MODELS.md).
public enum Normalization: Sendable, Hashable {
    /// RGB / 255, minus mean (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225):
    /// torchvision's ImageNet models (MobileNetV2, ResNet).
    case imageNet
    /// RGB 0–255, `(x − 127) / 128`: the EfficientNet-Lite checkpoints.
    case centered127
    /// BGR 0–255, no scaling: YOLOX.
    case bgr255

    /// `[3, H, W]` pixels in 0...255 → the network input `[1, 3, H, W]`.
    public func apply(to image: Image) -> Tensor {
        let (h, w) = (image.height, image.width)
        let plane = h * w
        return Tensor(uninitializedShape: [1, 3, h, w]) { out in
            image.pixels.withUnsafeBufferPointer { src in
                for c in 0..<3 {
                    let (scale, shift, from): (Float, Float, Int)
                    switch self {
                    case .imageNet:
                        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
                        (scale, shift, from) = (1 / (255 * std[c]), -mean[c] / std[c], c)
                    case .centered127: (scale, shift, from) = (1 / 128, -127 / 128, c)
                    case .bgr255: (scale, shift, from) = (1, 0, 2 - c)
                    }
                    for i in 0..<plane {
                        out.initializeElement(at: c * plane + i, to: src[from * plane + i] * scale + shift)
                    }
                }
            }
        }
    }
}

extension Image {
    /// The network input `[1, 3, H, W]` under `normalization`.
    public func tensor(_ normalization: Normalization) -> Tensor { normalization.apply(to: self) }
}

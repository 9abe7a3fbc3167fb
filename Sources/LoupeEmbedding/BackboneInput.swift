internal import Foundation

/// An image made ready for a backbone — resized so that its longer side is `longerSide`
/// (antialiased, as Pillow), padded to the backbone's input multiple with its padding value,
/// normalised as its checkpoint expects — with the factors that map boxes from the image's
/// pixels onto the resized image. The one preprocessing of every embedder and of the sweep.
struct BackboneInput: Sendable {
    /// `[1, 3, H, W]`.
    let tensor: Tensor
    /// Resized width / original width, and the same for heights (separate: resizing by the
    /// longer side rounds the shorter one).
    let scaleX: Float, scaleY: Float

    init(_ image: Image, longerSide: Int, for backbone: any FeatureBackbone) {
        let resized = image.resized(longerSide: max(32, longerSide))
        tensor = resized.padded(toMultipleOf: backbone.inputMultiple, value: backbone.paddingValue).tensor(backbone.normalization)
        scaleX = Float(resized.width) / Float(image.width)
        scaleY = Float(resized.height) / Float(image.height)
    }

    /// `boxes` (original image pixels) in the resized image's pixels.
    func scaled(_ boxes: [BoundingBox]) -> [BoundingBox] {
        boxes.map { $0.scaled(x: scaleX, y: scaleY) }
    }
}

/// Channels and stride (input pixels per map cell) of each stage, from one forward pass over a
/// 128 × 128 probe: the one place any embedder learns them, so any stage of any backbone works.
func probe(_ backbone: any FeatureBackbone, stages: Set<String>) -> [String: (channels: Int, stride: Int)] {
    let size = 128
    return backbone.features(Tensor(zeros: [1, 3, size, size]), at: stages).mapValues { ($0.shape[1], max(1, size / $0.shape[3])) }
}

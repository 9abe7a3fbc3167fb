import Foundation
import Loupe

extension Montage {
    /// Writes the PNG and says where.
    func write(to path: String) throws {
        try render().writePNG(to: URL(fileURLWithPath: path))
        printError("montage → \(path)")
    }
}

/// `image` with each detection's box in a colour per class and its class and score written on
/// the box's corner (the picture of `loupe detect --draw`).
func drawBoxes(_ detections: [Detection], on image: Image) -> Image {
    var out = image
    let thickness = max(2, min(image.width, image.height) / 200)
    let scale = max(2, min(image.width, image.height) / 300)
    for d in detections {
        let color = Montage.palette[d.classIndex % Montage.palette.count]
        out.drawRectangle(x0: Int(d.box.x0), y0: Int(d.box.y0), x1: Int(d.box.x1.rounded(.up)), y1: Int(d.box.y1.rounded(.up)),
                          color: color, thickness: thickness)
    }
    // labels after every box (no box over a label), each moved down past the labels already placed
    let height = PixelFont.height(scale: scale) + 2 * scale
    var placed: [(x0: Int, y0: Int, x1: Int, y1: Int)] = []
    for d in detections {
        let color = Montage.palette[d.classIndex % Montage.palette.count]
        let text = String(format: "%@ %.2f", d.label.isEmpty ? "class \(d.classIndex)" : d.label, d.score)
        let width = PixelFont.width(text, scale: scale) + 2 * scale
        let x = max(0, min(Int(d.box.x0), image.width - width))
        var y = max(0, Int(d.box.y0) - height)
        while let clash = placed.first(where: { $0.x0 < x + width && x < $0.x1 && $0.y0 < y + height && y < $0.y1 }), y + height < image.height {
            y = clash.y1
        }
        placed.append((x, y, x + width, y + height))
        out.drawLabel(text, x: x, y: y, scale: scale, background: color)
    }
    return out
}

import Foundation
import Loupe

/// A picture of search results a person can read without the text output: one row per query, the
/// query first (red frame, "QUERY"), then each result with its rank, score and file name; object
/// searches also draw the boxes that matched, labelled, in one colour per query region.
struct Montage {
    /// One tile: an image, boxes to draw on it (with labels), caption lines, a frame colour.
    struct Tile {
        var image: Image
        var boxes: [(box: BoundingBox, color: RGB, label: String?)] = []
        var lines: [String]
        var frame: RGB
    }

    static let cell = 200
    static let queryFrame = RGB(220, 30, 30), resultFrame = RGB(150, 150, 150)
    /// Distinguishable colours for matched regions.
    static let palette = [RGB(230, 25, 75), RGB(60, 180, 75), RGB(0, 130, 200), RGB(245, 130, 48), RGB(145, 30, 180),
                          RGB(70, 200, 200), RGB(240, 50, 230), RGB(150, 190, 40)]

    var rows: [[Tile]] = []

    /// The query tile of a row.
    static func query(_ image: Image, path: String, boxes: [(box: BoundingBox, color: RGB, label: String?)] = []) -> Tile {
        Tile(image: image, boxes: boxes, lines: ["QUERY", fileName(path)], frame: queryFrame)
    }

    /// A result tile.
    static func result(_ image: Image, rank: Int, score: Float, path: String, extra: String? = nil,
                       boxes: [(box: BoundingBox, color: RGB, label: String?)] = []) -> Tile {
        Tile(image: image, boxes: boxes, lines: [String(format: "#%d  %.3f", rank, score), fileName(path)] + (extra.map { [$0] } ?? []),
             frame: resultFrame)
    }

    static func fileName(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }

    /// Each tile drawn in a cell of `cell` × (`cell` + caption) pixels, rows one under another.
    func render() -> Image {
        let cell = Self.cell, gap = 6, lineHeight = 18
        let captionLines = rows.flatMap { $0 }.map(\.lines.count).max() ?? 0
        let tileHeight = cell + 6 + captionLines * lineHeight
        let columns = rows.map(\.count).max() ?? 1
        var canvas = Image(width: gap + columns * (cell + gap), height: gap + rows.count * (tileHeight + gap), color: RGB(255, 255, 255))
        for (r, row) in rows.enumerated() {
            for (c, tile) in row.enumerated() {
                let x = gap + c * (cell + gap), y = gap + r * (tileHeight + gap)
                var thumb = tile.image.resized(longerSide: cell)
                let factor = Float(thumb.width) / Float(tile.image.width)
                for (box, color, label) in tile.boxes {
                    let b = box.scaled(x: factor, y: factor, dx: 0, dy: 0)
                    thumb.drawRectangle(x0: Int(b.x0), y0: Int(b.y0), x1: Int(b.x1.rounded(.up)), y1: Int(b.y1.rounded(.up)), color: color, thickness: 3)
                    if let label { thumb.drawLabel(label, x: Int(b.x0), y: Int(b.y0), scale: 1, background: color) }
                }
                let left = x + (cell - thumb.width) / 2, top = y + (cell - thumb.height) / 2
                canvas.paste(thumb, x: left, y: top)
                canvas.drawRectangle(x0: left - 3, y0: top - 3, x1: left + thumb.width + 3, y1: top + thumb.height + 3,
                                     color: tile.frame, thickness: 3)
                for (i, line) in tile.lines.enumerated() {
                    let scale = i == 0 ? 2 : 1
                    let text = PixelFont.fitting(line, width: cell, scale: scale)
                    canvas.drawText(text, x: x, y: y + cell + 6 + i * lineHeight + (scale == 1 ? 3 : 0), scale: scale,
                                    color: i == 0 && tile.frame == Self.queryFrame ? Self.queryFrame : RGB(0, 0, 0))
                }
            }
        }
        return canvas
    }

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

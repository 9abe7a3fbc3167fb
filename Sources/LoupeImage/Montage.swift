internal import Foundation
public import LoupeTensor

/// A picture of search results a person can read without the text output (`loupe search
/// --montage`): one row per query, the query first (red frame, "QUERY" and its file name), then
/// each result with its rank, score and file name; boxes (the regions that matched) are drawn on
/// the tiles with their labels.
public struct Montage: Sendable {
    /// One tile: an image, boxes to draw on it (with labels), caption lines under it, a frame colour.
    public struct Tile: Sendable {
        public var image: Image
        /// Boxes in the image's pixels, each with its colour and an optional label.
        public var boxes: [(box: BoundingBox, color: RGB, label: String?)]
        /// The first line is drawn large, the others small; long lines are cut with `..`.
        public var lines: [String]
        public var frame: RGB

        public init(image: Image, boxes: [(box: BoundingBox, color: RGB, label: String?)] = [], lines: [String], frame: RGB) {
            (self.image, self.boxes, self.lines, self.frame) = (image, boxes, lines, frame)
        }
    }

    /// Side of a tile's picture, in pixels.
    public static let cell = 200
    /// The query's frame and caption colour, and the results' frame colour.
    public static let queryFrame = RGB(220, 30, 30), resultFrame = RGB(150, 150, 150)
    /// Distinguishable colours for matched regions (one per query region).
    public static let palette = [RGB(230, 25, 75), RGB(60, 180, 75), RGB(0, 130, 200), RGB(245, 130, 48), RGB(145, 30, 180),
                          RGB(70, 200, 200), RGB(240, 50, 230), RGB(150, 190, 40)]

    /// The rows, top to bottom.
    public var rows: [[Tile]]

    public init(rows: [[Tile]] = []) { self.rows = rows }

    /// The query tile of a row.
    public static func query(_ image: Image, path: String, boxes: [(box: BoundingBox, color: RGB, label: String?)] = []) -> Tile {
        Tile(image: image, boxes: boxes, lines: ["QUERY", fileName(path)], frame: queryFrame)
    }

    /// A result tile: rank (from 1), score, file name and an optional third line.
    public static func result(_ image: Image, rank: Int, score: Float, path: String, extra: String? = nil,
                       boxes: [(box: BoundingBox, color: RGB, label: String?)] = []) -> Tile {
        Tile(image: image, boxes: boxes, lines: [String(format: "#%d  %.3f", rank, score), fileName(path)] + (extra.map { [$0] } ?? []),
             frame: resultFrame)
    }

    static func fileName(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }

    /// Each tile drawn in a cell of `cell` × (`cell` + caption) pixels, rows one under another.
    public func render() -> Image {
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
}

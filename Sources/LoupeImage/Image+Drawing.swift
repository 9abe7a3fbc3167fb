internal import Foundation
internal import LoupeTensor

extension Image {
    /// Draws the outline of the box `[x0, y0, x1, y1)` (pixel coordinates, clipped to the image)
    /// in `color`, `thickness` pixels wide, inside the box.
    public mutating func drawRectangle(x0: Int, y0: Int, x1: Int, y1: Int, color: RGB, thickness: Int = 2) {
        let (w, h) = (width, height)
        let left = max(0, min(x0, x1)), right = min(w, max(x0, x1))
        let top = max(0, min(y0, y1)), bottom = min(h, max(y0, y1))
        guard left < right, top < bottom, thickness >= 1 else { return }
        let values = [Float(color.red), Float(color.green), Float(color.blue)]
        pixels.withUnsafeMutableBufferPointer { p in
            func paint(_ y: Int, _ x: Int) { for c in 0..<3 { p[(c * h + y) * w + x] = values[c] } }
            for y in top..<bottom {
                for x in left..<right {
                    let edge = y < top + thickness || y >= bottom - thickness || x < left + thickness || x >= right - thickness
                    if edge { paint(y, x) }
                }
            }
        }
    }

    /// Draws a straight segment from `(x0, y0)` to `(x1, y1)` as squares of side `thickness`
    /// stepped one pixel at a time along the longer axis (clipped to the image).
    public mutating func drawLine(x0: Float, y0: Float, x1: Float, y1: Float, color: RGB, thickness: Int = 2) {
        guard [x0, y0, x1, y1].allSatisfy(\.isFinite) else { return }
        let steps = max(1, Int(max(abs(x1 - x0), abs(y1 - y0)).rounded(.up)))
        let half = thickness / 2
        for s in 0...steps {
            let t = Float(s) / Float(steps)
            let x = Int((x0 + (x1 - x0) * t).rounded()), y = Int((y0 + (y1 - y0) * t).rounded())
            drawRectangle(x0: x - half, y0: y - half, x1: x - half + thickness, y1: y - half + thickness, color: color, thickness: thickness)
        }
    }

    /// Draws a circle of `radius` around `(x, y)` as a 32-sided polygon of ``drawLine(x0:y0:x1:y1:color:thickness:)``.
    public mutating func drawCircle(x: Float, y: Float, radius: Float, color: RGB, thickness: Int = 2) {
        let sides = 32
        for i in 0..<sides {
            let a = 2 * Float.pi * Float(i) / Float(sides), b = 2 * Float.pi * Float(i + 1) / Float(sides)
            drawLine(x0: x + radius * cosf(a), y0: y + radius * sinf(a), x1: x + radius * cosf(b), y1: y + radius * sinf(b), color: color, thickness: thickness)
        }
    }

    /// The image flipped left to right.
    public func mirrored() -> Image {
        let (w, h) = (width, height)
        var out = pixels
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for row in 0..<(3 * h) { for x in 0..<w { dst[row * w + x] = src[row * w + (w - 1 - x)] } }
            }
        }
        return Image(pixels: out)
    }

    /// Pastes `other` with its top-left corner at `(x, y)`; parts outside this image are dropped.
    public mutating func paste(_ other: Image, x: Int, y: Int) {
        let (w, h, ow, oh) = (width, height, other.width, other.height)
        let x0 = max(0, x), y0 = max(0, y), x1 = min(w, x + ow), y1 = min(h, y + oh)
        guard x0 < x1, y0 < y1 else { return }
        pixels.withUnsafeMutableBufferPointer { dst in
            other.pixels.withUnsafeBufferPointer { src in
                for c in 0..<3 { for row in y0..<y1 {
                    dst.baseAddress!.advanced(by: (c * h + row) * w + x0)
                        .update(from: src.baseAddress!.advanced(by: (c * oh + row - y) * ow + x0 - x), count: x1 - x0)
                } }
            }
        }
    }

    /// A grid of thumbnails, row by row: each image scaled to fit a `cellSize × cellSize` cell
    /// (aspect ratio kept, centred), cells separated by `spacing` pixels of `background`.
    /// The picture behind `loupe search --montage`.
    public static func grid(_ images: [Image], columns: Int, cellSize: Int = 192, spacing: Int = 4,
                            background: RGB = RGB(255, 255, 255)) -> Image {
        check(!images.isEmpty && columns >= 1 && cellSize >= 1 && spacing >= 0,
                     "grid needs images, columns >= 1, a positive cell size")
        let cols = min(columns, images.count), rows = (images.count + cols - 1) / cols
        var canvas = Image(width: cols * cellSize + (cols + 1) * spacing, height: rows * cellSize + (rows + 1) * spacing,
                           color: background)
        for (i, image) in images.enumerated() {
            let thumb = image.width >= image.height
                ? image.resized(longerSide: cellSize) : image.resized(longerSide: cellSize)
            let cx = spacing + (i % cols) * (cellSize + spacing), cy = spacing + (i / cols) * (cellSize + spacing)
            canvas.paste(thumb, x: cx + (cellSize - thumb.width) / 2, y: cy + (cellSize - thumb.height) / 2)
        }
        return canvas
    }
}

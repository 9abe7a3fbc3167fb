import Foundation
import Loupe

/// A 5×7 pixel font (upper case, digits, the punctuation the charts use): each glyph is seven
/// rows of five bits, the leftmost pixel in bit 4. Lower case is drawn as upper case.
enum PixelFont {
    static let glyphs: [Character: [UInt8]] = [
        "A": [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], "J": [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        "Q": [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "V": [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        "Y": [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04], "Z": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        " ": [0, 0, 0, 0, 0, 0, 0], ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], ",": [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0], "-": [0, 0, 0, 0x1F, 0, 0, 0], "_": [0, 0, 0, 0, 0, 0, 0x1F],
        "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0], "%": [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02], ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        "=": [0, 0, 0x1F, 0, 0x1F, 0, 0], "+": [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0], "|": [0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "×": [0, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0], ">": [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        "<": [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02], "'": [0x04, 0x04, 0x08, 0, 0, 0, 0],
        "?": [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04], "#": [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
    ]

    /// Width in pixels of `text` at `scale`.
    static func width(_ text: String, scale: Int) -> Int { max(0, text.count * 6 * scale - scale) }
}

extension Image {
    /// Fills `[x0, x1) × [y0, y1)`.
    mutating func fill(x0: Int, y0: Int, x1: Int, y1: Int, color: RGB) {
        drawRectangle(x0: x0, y0: y0, x1: x1, y1: y1, color: color, thickness: max(x1 - x0, y1 - y0))
    }

    /// Writes `text` with its top-left corner at `(x, y)`; unknown characters are drawn as `?`.
    mutating func drawText(_ text: String, x: Int, y: Int, scale: Int = 2, color: RGB = RGB(0, 0, 0)) {
        for (i, ch) in text.uppercased().enumerated() {
            let rows = PixelFont.glyphs[ch] ?? PixelFont.glyphs["?"]!
            for (r, bits) in rows.enumerated() {
                for c in 0..<5 where bits & (0x10 >> UInt8(c)) != 0 {
                    let px = x + (i * 6 + c) * scale, py = y + r * scale
                    fill(x0: px, y0: py, x1: px + scale, y1: py + scale, color: color)
                }
            }
        }
    }
}

/// Distinguishable colours for series.
let palette = [RGB(31, 119, 180), RGB(214, 39, 40), RGB(44, 160, 44), RGB(255, 127, 14), RGB(148, 103, 189),
               RGB(140, 86, 75), RGB(227, 119, 194), RGB(127, 127, 127), RGB(188, 189, 34), RGB(23, 190, 207)]

/// One panel: a title, categorical x positions, y from 0 to `yMax`, and either lines (one per
/// series, a value per x position, `nil` = no point) or grouped bars.
struct Panel {
    enum Style { case lines, bars }
    var title: String
    var xLabels: [String]
    var series: [(name: String, color: RGB, values: [Double?])]
    var style: Style = .lines
    var yMax: Double = 1
    var yLabel = "MAP"

    static let size = (width: 560, height: 400)

    func render() -> Image {
        let (w, h) = Self.size
        var img = Image(width: w, height: h, color: RGB(255, 255, 255))
        let left = 64, right = w - 16, top = 40, bottom = h - 120
        img.drawText(title, x: left, y: 12, scale: PixelFont.width(title, scale: 2) <= w - left - 8 ? 2 : 1)
        // axes, grid lines and y ticks every 0.1 (every 0.2 above 0.6)
        let step = yMax > 0.6 ? 0.2 : 0.1
        var tick = 0.0
        while tick <= yMax + 1e-9 {
            let y = bottom - Int(Double(bottom - top) * tick / yMax)
            img.fill(x0: left, y0: y, x1: right, y1: y + 1, color: RGB(225, 225, 225))
            img.drawText(String(format: "%.1f", tick), x: left - 34, y: y - 7, scale: 2)
            tick += step
        }
        img.fill(x0: left, y0: top, x1: left + 2, y1: bottom + 1, color: RGB(0, 0, 0))
        img.fill(x0: left, y0: bottom, x1: right, y1: bottom + 2, color: RGB(0, 0, 0))
        img.drawText(yLabel, x: 4, y: top - 22, scale: 1)
        let n = max(1, xLabels.count)
        let slot = Double(right - left) / Double(n)
        func xCentre(_ i: Int) -> Int { left + Int(slot * (Double(i) + 0.5)) }
        func yOf(_ v: Double) -> Int { bottom - Int(Double(bottom - top) * min(max(v, 0), yMax) / yMax) }
        for (i, label) in xLabels.enumerated() {
            let scale = PixelFont.width(label, scale: 2) <= Int(slot) - 4 ? 2 : 1
            img.drawText(label, x: xCentre(i) - PixelFont.width(label, scale: scale) / 2, y: bottom + 8, scale: scale)
        }
        switch style {
        case .lines:
            for s in series {
                var last: (Int, Int)?
                for (i, v) in s.values.enumerated() {
                    guard let v else { last = nil; continue }
                    let p = (xCentre(i), yOf(v))
                    if let last { img.drawLine(x0: Float(last.0), y0: Float(last.1), x1: Float(p.0), y1: Float(p.1), color: s.color, thickness: 3) }
                    img.fill(x0: p.0 - 4, y0: p.1 - 4, x1: p.0 + 5, y1: p.1 + 5, color: s.color)
                    last = p
                }
            }
        case .bars:
            let groups = max(1, series.count)
            let barWidth = max(2, Int(slot * 0.8) / groups)
            for (g, s) in series.enumerated() {
                for (i, v) in s.values.enumerated() {
                    guard let v else { continue }
                    let x0 = xCentre(i) - barWidth * groups / 2 + g * barWidth
                    img.fill(x0: x0, y0: yOf(v), x1: x0 + barWidth - 1, y1: bottom, color: s.color)
                }
            }
        }
        // legend below the x labels, two columns
        for (i, s) in series.enumerated() {
            let x = left + (i % 2) * ((right - left) / 2), y = bottom + 34 + (i / 2) * 16
            img.fill(x0: x, y0: y + 2, x1: x + 12, y1: y + 12, color: s.color)
            img.drawText(s.name, x: x + 18, y: y, scale: 2)
        }
        return img
    }
}

/// Panels side by side, `columns` per row, on one white canvas.
func compose(_ panels: [Panel], columns: Int) -> Image {
    let (w, h) = Panel.size
    let cols = min(columns, max(1, panels.count)), rows = (panels.count + cols - 1) / cols
    var canvas = Image(width: cols * w, height: rows * h, color: RGB(255, 255, 255))
    for (i, p) in panels.enumerated() { canvas.paste(p.render(), x: (i % cols) * w, y: (i / cols) * h) }
    return canvas
}

import Foundation
import Loupe

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

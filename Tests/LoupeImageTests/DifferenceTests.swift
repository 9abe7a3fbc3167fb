import Foundation
import LoupeImage
import LoupeTensor
import Testing

/// The pasted-region finder on synthetic pairs with a known pasted box.
@Suite struct DifferenceTests {
    /// A smooth "photo": gradients, so that blurring and resizing change it little.
    func photo(width: Int, height: Int, shift: Float = 0) -> Image {
        var t = Tensor(zeros: [3, height, width])
        for y in 0..<height { for x in 0..<width {
            t[0, y, x] = 40 + 150 * Float(x) / Float(width) + shift
            t[1, y, x] = 60 + 120 * Float(y) / Float(height)
            t[2, y, x] = 100 + shift
        } }
        return Image(pixels: t)
    }

    /// `marks` looks up the cell under a pixel (and its neighbours) on a grid written by hand.
    @Test func marksReadsTheCellUnderAPixel() {
        // a 4 × 2 grid over a 400 × 200 image: cell (2, 1) is label 1, cell (0, 0) label 2
        var d = DifferenceRegions(boxes: [], changedFraction: 0, aligned: true)
        (d.gridWidth, d.gridHeight, d.cells) = (4, 2, [2, 0, 0, 0, 0, 0, 1, 0])
        #expect(d.marks(x: 250, y: 150, width: 400, height: 200) { $0 == 1 })
        #expect(!d.marks(x: 350, y: 150, width: 400, height: 200) { $0 == 1 })
        #expect(d.marks(x: 350, y: 150, width: 400, height: 200, radius: 1) { $0 == 1 })
        #expect(d.marks(x: 0, y: 0, width: 400, height: 200) { $0 == 2 } && !d.marks(x: 0, y: 0, width: 400, height: 200) { $0 == 1 })
        // outside the image clamps to the border cells; no grid, or NaN, marks nothing
        #expect(d.marks(x: 10_000, y: 10_000, width: 400, height: 200, radius: 1) { $0 == 1 })
        #expect(!d.marks(x: .nan, y: 0, width: 400, height: 200) { _ in true })
        #expect(!DifferenceRegions(boxes: [], changedFraction: 0, aligned: true).marks(x: 1, y: 1, width: 4, height: 4) { _ in true })
    }

    @Test func findsAPastedBoxAndItsPlace() {
        let host = photo(width: 640, height: 480)
        var composite = host
        composite.paste(Image(width: 120, height: 90, color: RGB(250, 10, 240)), x: 400, y: 300)
        composite.paste(Image(width: 40, height: 40, color: RGB(0, 250, 0)), x: 60, y: 50)
        let found = composite.differenceRegions(from: host)
        #expect(found.aligned && found.boxes.count == 2)
        // largest first; each within two grid cells (640 / 192 ≈ 3.3 px each) plus the one-cell growth
        let big = found.boxes[0], small = found.boxes[1]
        #expect(abs(big.x0 - 400) <= 10 && abs(big.y0 - 300) <= 10 && abs(big.x1 - 520) <= 10 && abs(big.y1 - 390) <= 10, "\(big)")
        #expect(abs(small.x0 - 60) <= 10 && abs(small.y1 - 90) <= 10, "\(small)")
        #expect(abs(found.changedFraction - Double(120 * 90 + 40 * 40) / Double(640 * 480)) < 0.02)
        // the changed pixels themselves: label 1 on the big paste, 2 on the small one, at pixel size
        let mask = found.mask(width: 640, height: 480)
        func share(_ label: UInt8, _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> Double {
            var hit = 0
            for y in y0..<y1 { for x in x0..<x1 where mask[y * 640 + x] == label { hit += 1 } }
            return Double(hit) / Double((x1 - x0) * (y1 - y0))
        }
        #expect(share(1, 404, 304, 516, 386) > 0.99 && share(2, 64, 54, 96, 86) > 0.99)
        // outside the pastes nothing is marked but a rim of about one cell (the 3 × 3 blur spreads
        // each edge by one cell, 3.3 px here): at most the pastes' perimeters times 1.5 cells
        let marked = mask.count { $0 != 0 }, rim = Double(2 * (120 + 90) + 2 * (40 + 40)) * 1.5 * 640 / 192
        #expect(Double(marked) >= Double(120 * 90 + 40 * 40) * 0.98 && Double(marked) <= Double(120 * 90 + 40 * 40) + rim, "\(marked)")
        // the same comparison against a host stored at another size (the same frame, resized)
        let smaller = composite.differenceRegions(from: host.resized(width: 320, height: 240))
        #expect(smaller.aligned && abs(smaller.boxes[0].x0 - 400) <= 12)
        // identical frames: nothing changed
        let none = host.differenceRegions(from: host)
        #expect(none.aligned && none.boxes.isEmpty && none.changedFraction == 0)
    }

    @Test func otherFramesAreNotAligned() {
        let host = photo(width: 640, height: 480)
        // another aspect ratio
        #expect(!host.differenceRegions(from: photo(width: 500, height: 480)).aligned)
        // another picture of the same size: most of the frame differs
        #expect(!host.differenceRegions(from: photo(width: 640, height: 480, shift: 80)).aligned)
    }
}

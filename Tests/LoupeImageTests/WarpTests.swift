import LoupeImage
import LoupeTensor
import Testing

@Suite struct WarpTests {
    /// The homography through four point pairs maps each pair (checked against the pairs
    /// themselves), and its inverse maps them back.
    @Test func homographyThroughFourPoints() throws {
        let source: [(x: Double, y: Double)] = [(0, 0), (100, 0), (100, 60), (0, 60)]
        let destination: [(x: Double, y: Double)] = [(12, 7), (105, 15), (98, 80), (3, 66)]
        let h = try #require(Homography(from: source, to: destination))
        let back = try #require(h.inverse)
        for (s, d) in zip(source, destination) {
            let p = h.apply(s.x, s.y), q = back.apply(d.x, d.y)
            #expect(abs(p.x - d.x) < 1e-9 && abs(p.y - d.y) < 1e-9)
            #expect(abs(q.x - s.x) < 1e-9 && abs(q.y - s.y) < 1e-9)
        }
        // a pure translation by hand
        let shift = try #require(Homography(from: source, to: source.map { ($0.x + 5, $0.y - 2) }))
        #expect(shift.matrix.enumerated().allSatisfy { i, v in abs(v - [1, 0, 5, 0, 1, -2, 0, 0, 1][i]) < 1e-12 })
        // a box maps to the bounding box of its mapped corners: by hand for the translation,
        // and containing every mapped corner for the perspective warp
        let moved = shift.boundingBox(of: BoundingBox(x0: 10, y0: 20, x1: 30, y1: 50))
        #expect(moved == BoundingBox(x0: 15, y0: 18, x1: 35, y1: 48))
        let warped = h.boundingBox(of: BoundingBox(x0: 0, y0: 0, x1: 100, y1: 60))
        #expect(abs(warped.x0 - 3) < 1e-4 && abs(warped.y0 - 7) < 1e-4 && abs(warped.x1 - 105) < 1e-4 && abs(warped.y1 - 80) < 1e-4)
        // three points on a line have no homography
        #expect(Homography(from: [(0, 0), (1, 1), (2, 2), (0, 5)], to: destination) == nil)
    }

    /// Warping onto an axis-aligned rectangle of the same size is a plain paste (every pixel centre
    /// maps onto a source pixel centre); halving the size averages 2×2 blocks' centres; pixels
    /// outside the quadrilateral keep the canvas.
    @Test func warpedPasteEqualsPasteOnARectangle() throws {
        let source = Image(pixels: Tensor(randomUniform: [3, 9, 13], in: 0...255, seed: 3))
        var warped = Image(width: 40, height: 30, color: RGB(10, 20, 30)), pasted = warped
        let corners: [(x: Double, y: Double)] = [(5, 4), (18, 4), (18, 13), (5, 13)]
        try #require(warped.pasteWarped(source, corners: corners) != nil)
        pasted.paste(source, x: 5, y: 4)
        #expect(zip(warped.pixels.scalars, pasted.pixels.scalars).allSatisfy { abs($0 - $1) < 1e-3 })
        // a skewed quadrilateral: corners outside it untouched, its centre drawn from the source's centre
        var skew = Image(width: 40, height: 30, color: RGB(10, 20, 30))
        let uniform = Image(width: 8, height: 8, color: RGB(200, 100, 50))
        skew.pasteWarped(uniform, corners: [(10, 5), (30, 8), (28, 25), (12, 22)])
        #expect(skew.pixels[0, 0, 0] == 10 && skew.pixels[0, 29, 39] == 10)
        #expect(skew.pixels[0, 15, 20] == 200 && skew.pixels[1, 15, 20] == 100 && skew.pixels[2, 15, 20] == 50)
        // degenerate corners draw nothing
        var flat = Image(width: 10, height: 10, color: RGB(1, 1, 1))
        #expect(flat.pasteWarped(uniform, corners: [(0, 0), (5, 5), (9, 9), (2, 2)]) == nil)
        #expect(flat.pixels.scalars.allSatisfy { $0 == 1 })
    }
}

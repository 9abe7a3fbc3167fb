import Foundation
import LoupeImage
import LoupeTensor
import Testing

@Suite struct ResizeTests {
    /// Antialiased bilinear resize agrees with Pillow's BILINEAR within 1/255 mean absolute error
    /// (in 0...255 units: ≤ 1) on real images, shrinking and enlarging, from Pillow's own decode.
    @Test func resizeMatchesPillow() throws {
        var worst = 0.0, checked = 0
        for (name, entry) in try fixtureIndex() {
            let file = try SafetensorsFile(contentsOf: fixtures.appendingPathComponent("resize/\(name).safetensors"))
            let source = Image(pixels: planar(try file.tensor(named: "decoded")))
            for (w, h) in entry.sizes {
                let expected = planar(try file.tensor(named: "resized_\(w)x\(h)"))
                let mine = source.resized(width: w, height: h)
                let d = differences(mine.pixels, expected)
                worst = max(worst, d.mean)
                checked += 1
                #expect(d.mean <= 1.0, "\(entry.source) → \(w)×\(h): mean \(d.mean)")
            }
        }
        #expect(checked >= 100)
        print("resize vs Pillow: \(checked) resizes, worst mean absolute error \(worst) grey levels")
    }

    @Test func longerSideKeepsAspectRatio() {
        #expect(Image.size(width: 640, height: 480, longerSide: 512) == (512, 384))
        #expect(Image.size(width: 480, height: 640, longerSide: 224) == (168, 224))
        #expect(Image.size(width: 1000, height: 1, longerSide: 10) == (10, 1))
    }

    @Test func cropAndLetterbox() {
        var t = Tensor(zeros: [3, 6, 8])
        t.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = Float(i % 251) } }
        let image = Image(pixels: t)
        let crop = image.centerCropped(width: 4, height: 2)
        #expect(crop.pixels[1, 0, 0] == image.pixels[1, 2, 2])
        let (box, r) = image.letterboxed(size: 16)
        #expect(r == 2 && box.width == 16 && box.height == 16)
        #expect(box.pixels[0, 15, 0] == 114 && box.pixels[2, 13, 15] == 114)  // below the 16×12 image
        #expect(box.pixels[0, 11, 15] != 114 || image.pixels[0, 5, 7] == 114)
    }

    @Test func normalizationPresets() {
        let image = Image(width: 2, height: 1, color: RGB(255, 127, 0))
        let imagenet = image.tensor(.imageNet)
        #expect(abs(imagenet[0, 0, 0, 0] - (1 - 0.485) / 0.229) < 1e-5)
        #expect(image.tensor(.centered127)[0, 1, 0, 1] == 0)
        let bgr = image.tensor(.bgr255)
        #expect(bgr[0, 0, 0, 0] == 0 && bgr[0, 2, 0, 0] == 255)
    }

    @Test func drawingAndGrid() {
        var image = Image(width: 10, height: 8, color: RGB(0, 0, 0))
        image.drawRectangle(x0: 2, y0: 2, x1: 8, y1: 7, color: RGB(255, 0, 0), thickness: 1)
        #expect(image.pixels[0, 2, 2] == 255 && image.pixels[0, 6, 7] == 255)
        #expect(image.pixels[0, 4, 4] == 0 && image.pixels[1, 2, 2] == 0)
        image.drawRectangle(x0: -5, y0: -5, x1: 100, y1: 100, color: RGB(0, 255, 0))  // clipped, no trap
        let grid = Image.grid([image, image, image], columns: 2, cellSize: 20, spacing: 2)
        #expect(grid.width == 2 * 20 + 3 * 2 && grid.height == 2 * 20 + 3 * 2)
    }

    /// Text: "L1" at scale 1 on white, read back pixel by pixel against the glyphs drawn out by
    /// hand; at scale 2 each font pixel is a 2×2 square; labels stay inside the image.
    @Test func textAndLabels() {
        var image = Image(width: 12, height: 8, color: RGB(255, 255, 255))
        image.drawText("l1", x: 0, y: 0, scale: 1)
        let expected = [
            "#.......#...",
            "#......##...",
            "#.......#...",
            "#.......#...",
            "#.......#...",
            "#.......#...",
            "#####..###..",
            "............",
        ]
        let drawn = (0..<8).map { y in String((0..<12).map { x in image.pixels[0, y, x] == 0 ? "#" : "." }) }
        #expect(drawn == expected)
        #expect(PixelFont.width("l1", scale: 1) == 11 && PixelFont.height(scale: 2) == 14)
        var big = Image(width: 12, height: 16, color: RGB(255, 255, 255))
        big.drawText("L", x: 0, y: 0, scale: 2)
        #expect(big.pixels[0, 13, 9] == 0 && big.pixels[0, 11, 9] == 255 && big.pixels[0, 0, 1] == 0 && big.pixels[0, 0, 2] == 255)
        // a label asked for outside the image is moved in, on its background colour
        var labelled = Image(width: 40, height: 20, color: RGB(255, 255, 255))
        labelled.drawLabel("AB", x: 100, y: -10, scale: 1, color: RGB(255, 255, 255), background: RGB(0, 0, 255))
        let w = PixelFont.width("AB", scale: 1) + 2
        #expect(labelled.pixels[2, 0, 39] == 255 && labelled.pixels[0, 0, 39] == 0 && labelled.pixels[0, 0, 40 - w - 1] == 255)
        #expect(PixelFont.fitting("abcdefgh", width: PixelFont.width("abcde", scale: 1), scale: 1) == "abc..")
    }

    /// A montage: one row per query, a caption strip under each tile, the query's caption red.
    @Test func montageLayout() {
        let photo = Image(width: 64, height: 48, color: RGB(0, 200, 0))
        let montage = Montage(rows: [[Montage.query(photo, path: "/a/q.jpg"), Montage.result(photo, rank: 1, score: 0.5, path: "/b/r.jpg")]])
        let picture = montage.render()
        #expect(picture.width == 6 + 2 * (Montage.cell + 6) && picture.height == 6 + Montage.cell + 6 + 2 * 18 + 6)
        let captionTop = 6 + Montage.cell + 6
        let red = (captionTop..<(captionTop + 14)).contains { y in (6..<(6 + 60)).contains { x in
            picture.pixels[0, y, x] == 220 && picture.pixels[1, y, x] == 30 } }
        #expect(red)
    }
}

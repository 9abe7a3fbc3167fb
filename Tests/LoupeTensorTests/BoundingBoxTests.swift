import LoupeTensor
import Testing

@Suite struct BoundingBoxTests {
    /// Scaling per axis and moving, by hand: [10, 20, 30, 60] × (0.5, 2) + (3, 4) = [8, 44, 18, 124].
    @Test func scaledPerAxisByHand() {
        let box = BoundingBox(x0: 10, y0: 20, x1: 30, y1: 60)
        #expect(box.scaled(x: 0.5, y: 2, dx: 3, dy: 4) == BoundingBox(x0: 8, y0: 44, x1: 18, y1: 124))
        #expect(box.scaled(x: 2, y: 2) == box.scaled(by: 2))
    }

    /// IoU and best-match by hand: a 10×10 box against shifted copies.
    @Test func bestMatchByHand() {
        let box = BoundingBox(x0: 0, y0: 0, x1: 10, y1: 10)
        let half = BoundingBox(x0: 5, y0: 0, x1: 15, y1: 10)     // overlap 50, union 150: IoU 1/3
        let most = BoundingBox(x0: 1, y0: 0, x1: 11, y1: 10)     // overlap 90, union 110: IoU 9/11
        let apart = BoundingBox(x0: 20, y0: 20, x1: 30, y1: 30)  // IoU 0
        #expect(abs(box.intersectionOverUnion(half) - 1.0 / 3) < 1e-6)
        #expect(abs(box.intersectionOverUnion(most) - 9.0 / 11) < 1e-6)
        #expect(box.bestMatch(in: [half, most, apart], minimumIoU: 0.6) == 1)
        #expect(box.bestMatch(in: [half, apart], minimumIoU: 0.6) == nil)    // 1/3 is below the bar
        #expect(box.bestMatch(in: [half, apart], minimumIoU: 0.3) == 0)
        #expect(box.bestMatch(in: [most, most], minimumIoU: 0.5) == 0)       // first of equals
        #expect(box.bestMatch(in: [box], minimumIoU: 1) == 0)                // the bound is inclusive
        #expect(box.bestMatch(in: [], minimumIoU: 0) == nil)
    }
}

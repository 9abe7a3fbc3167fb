import Foundation
import LoupeModels
import LoupeTensor
import Testing

@Suite struct RegionPoolingTests {
    /// GeM (p = 3, ε = 1e-6) of `map[0, c, y0..<y1, x0..<x1]` in Double, written out by hand.
    func handGeM(_ map: Tensor, c: Int, rows: Range<Int>, columns: Range<Int>) -> Double {
        let (_, _, h, w) = map.nchw
        let v = map.scalars
        var sum = 0.0
        for y in rows { for x in columns { sum += pow(Double(max(v[(c * h + y) * w + x], 1e-6)), 3) } }
        return pow(sum / Double(rows.count * columns.count), 1.0 / 3)
    }

    @Test func cellsPoolExactlyTheCoveredCells() {
        let map = Tensor(randomUniform: [1, 6, 9, 11], in: -0.5...2, seed: 7)
        // stride 32: box (40, 70)–(150, 200) covers columns floor(40/32)=1 ..< ceil(150/32)=5, rows 2 ..< 7
        let box = BoundingBox(x0: 40, y0: 70, x1: 150, y1: 200)
        let pooled = GlobalPooling.gem(p: 3)(map, boxes: [box], spatialScale: 1.0 / 32, sampling: .cells)
        #expect(pooled.shape == [1, 6])
        for c in 0..<6 { #expect(abs(Double(pooled[0, c]) - handGeM(map, c: c, rows: 2..<7, columns: 1..<5)) < 1e-5) }
        // a box covering the whole input pools exactly what global pooling does
        let whole = GlobalPooling.gem(p: 3)(map, boxes: [.whole(width: 11 * 32, height: 9 * 32)], spatialScale: 1.0 / 32, sampling: .cells)
        #expect(whole.scalars == GlobalPooling.gem(p: 3)(map).scalars)
        // a box smaller than a cell still pools its cell
        let tiny = GlobalPooling.mac(map, boxes: [BoundingBox(x0: 33, y0: 33, x1: 34, y1: 34)], spatialScale: 1.0 / 32, sampling: .cells)
        for c in 0..<6 { #expect(tiny[0, c] == map[0, c, 1, 1]) }
    }

    /// With `aligned` RoIAlign, box (2, 2)–(6, 6) at scale 1 and 4 bins samples each bin once,
    /// exactly at the centres of cells 2…5: the result is GeM over those 16 cells.
    @Test func roiAlignedBoxOnCellCentresEqualsTheCellsByHand() {
        let map = Tensor(randomUniform: [1, 5, 8, 8], in: -0.5...2, seed: 8)
        let pooled = GlobalPooling.gem(p: 3)(map, boxes: [BoundingBox(x0: 2, y0: 2, x1: 6, y1: 6), BoundingBox(x0: 0, y0: 0, x1: 8, y1: 8)],
                                             spatialScale: 1, sampling: .roiAlign(bins: 4))
        #expect(pooled.shape == [2, 5])
        for c in 0..<5 { #expect(abs(Double(pooled[0, c]) - handGeM(map, c: c, rows: 2..<6, columns: 2..<6)) < 1e-5) }
        // the whole map at 8 bins: one sample per cell centre = global GeM
        let global = GlobalPooling.gem(p: 3)(map)
        for c in 0..<5 {
            let whole8 = GlobalPooling.gem(p: 3)(map, boxes: [.whole(width: 8, height: 8)], spatialScale: 1, sampling: .roiAlign(bins: 8))
            #expect(abs(whole8[0, c] - global[0, c]) < 1e-5)
        }
    }

    /// Box (2, 2)–(6, 6) at 4 bins samples cell centres 2…5 (as above): keeping an L of bins pools
    /// exactly those cells; keeping all (or none) is the plain RoIAlign pooling; R-MAC ignores the mask.
    @Test func maskedBinsPoolOnlyTheCellsKept() {
        let map = Tensor(randomUniform: [1, 5, 8, 8], in: -0.5...2, seed: 9)
        let box = BoundingBox(x0: 2, y0: 2, x1: 6, y1: 6)
        // bins of row 0 and of column 0: cells (2, 2…5) and (3…5, 2)
        let keep = (0..<16).map { $0 / 4 == 0 || $0 % 4 == 0 }
        let shaped = GlobalPooling.gem(p: 3)(map, boxes: [box, box], spatialScale: 1, bins: 4, keep: [keep, [Bool](repeating: true, count: 16)])
        #expect(shaped.shape == [2, 5])
        let v = map.scalars
        for c in 0..<5 {
            var sum = 0.0
            for y in 2..<6 { for x in 2..<6 where y == 2 || x == 2 { sum += pow(Double(max(v[(c * 8 + y) * 8 + x], 1e-6)), 3) } }
            #expect(abs(Double(shaped[0, c]) - pow(sum / 7, 1.0 / 3)) < 1e-5)
        }
        let plain = GlobalPooling.gem(p: 3)(map, boxes: [box], spatialScale: 1, sampling: .roiAlign(bins: 4))
        #expect(Array(shaped.scalars[5..<10]) == plain.scalars)
        let none = GlobalPooling.mac(map, boxes: [box], spatialScale: 1, bins: 4, keep: [[Bool](repeating: false, count: 16)])
        #expect(none.scalars == GlobalPooling.mac(map, boxes: [box], spatialScale: 1, sampling: .roiAlign(bins: 4)).scalars)
        let rmac = GlobalPooling.rmac(levels: 2)(map, boxes: [box], spatialScale: 1, bins: 4, keep: [keep])
        #expect(rmac.scalars == GlobalPooling.rmac(levels: 2)(map, boxes: [box], spatialScale: 1, sampling: .roiAlign(bins: 4)).scalars)
    }

    @Test func samplingParsesItsDescription() {
        for s in [RegionSampling.roiAlign(bins: 7), .roiAlign(bins: 3), .cells] { #expect(RegionSampling(s.description) == s) }
        #expect(RegionSampling("roialign") == .roiAlign(bins: 7))
        #expect(RegionSampling("roialign:5") == .roiAlign(bins: 5))
        #expect(RegionSampling("roialign:0") == nil && RegionSampling("crop") == nil)
    }
}

import Foundation
import LoupeTensor
import Testing

/// RoIAlign by the textbook formula, one output at a time, in Double.
func naiveRoIAlign(_ x: Tensor, box: (Int, Float, Float, Float, Float), size: Int, scale: Float, ratio: Int, aligned: Bool) -> [Double] {
    let (_, c, h, w) = x.nchw
    let v = x.scalars
    let off = aligned ? 0.5 : 0
    let sx = Double(box.1) * Double(scale) - off, sy = Double(box.2) * Double(scale) - off
    var rw = Double(box.3) * Double(scale) - off - sx, rh = Double(box.4) * Double(scale) - off - sy
    if !aligned { rw = max(rw, 1); rh = max(rh, 1) }
    let bh = rh / Double(size), bw = rw / Double(size)
    let gh = ratio > 0 ? ratio : Int((rh / Double(size)).rounded(.up)), gw = ratio > 0 ? ratio : Int((rw / Double(size)).rounded(.up))
    func at(_ ch: Int, _ yy: Double, _ xx: Double) -> Double {
        if yy < -1 || yy > Double(h) || xx < -1 || xx > Double(w) { return 0 }
        var y = max(yy, 0), x = max(xx, 0)
        var y0 = Int(y), x0 = Int(x), y1 = y0 + 1, x1 = x0 + 1
        if y0 >= h - 1 { y0 = h - 1; y1 = h - 1; y = Double(y0) }
        if x0 >= w - 1 { x0 = w - 1; x1 = w - 1; x = Double(x0) }
        let ly = y - Double(y0), lx = x - Double(x0)
        func p(_ a: Int, _ b: Int) -> Double { Double(v[((box.0 * c + ch) * h + a) * w + b]) }
        return (1 - ly) * (1 - lx) * p(y0, x0) + (1 - ly) * lx * p(y0, x1) + ly * (1 - lx) * p(y1, x0) + ly * lx * p(y1, x1)
    }
    var out: [Double] = []
    for ch in 0..<c { for ph in 0..<size { for pw in 0..<size {
        var acc = 0.0
        for iy in 0..<gh { for ix in 0..<gw {
            acc += at(ch, sy + Double(ph) * bh + (Double(iy) + 0.5) * bh / Double(gh), sx + Double(pw) * bw + (Double(ix) + 0.5) * bw / Double(gw))
        } }
        out.append(acc / Double(max(gh * gw, 1)))
    } } }
    return out
}

@Suite struct RoIAlignTests {
    let ramp = Tensor(shape: [1, 1, 4, 4], scalars: (0..<16).map(Float.init))  // x[i, j] = 4i + j

    @Test func handComputedCases() {
        // not aligned: 2×2 bins of 2×2 pixels, one sample each at the bin centre (1, 1), (1, 3), …
        #expect(roiAlign(ramp, boxes: [(0, 0, 0, 4, 4)], outputSize: 2, spatialScale: 1, samplingRatio: 1, aligned: false).scalars == [5, 7, 13, 15])
        // aligned: shifted by half a pixel, samples at (0.5, 0.5) … → bilinear means
        #expect(roiAlign(ramp, boxes: [(0, 0, 0, 4, 4)], outputSize: 2, spatialScale: 1, samplingRatio: 1, aligned: true).scalars == [2.5, 4.5, 10.5, 12.5])
        // spatial scale 0.5: an 8×8 image box is the whole 4×4 map
        #expect(roiAlign(ramp, boxes: [(0, 0, 0, 8, 8)], outputSize: 2, spatialScale: 0.5, samplingRatio: 1, aligned: false).scalars == [5, 7, 13, 15])
        // a box far outside the map reads zeros
        #expect(roiAlign(ramp, boxes: [(0, 20, 20, 30, 30)], outputSize: 2, spatialScale: 1).scalars == [0, 0, 0, 0])
    }

    @Test func matchesNaiveOnFractionalBorderAndOversizedBoxes() {
        let x = Tensor(randomUniform: [2, 3, 9, 13], seed: 7)
        let boxes: [(Int, Float, Float, Float, Float)] = [
            (0, 1.3, 2.7, 10.2, 7.9), (1, 0, 0, 13, 9), (1, -3.5, -2, 5, 4.2), (0, 8, 5, 30, 22), (1, 4.4, 4.4, 4.6, 4.6),
            (0, 12.5, 0.2, 13, 8.8),
        ]
        for aligned in [true, false] {
            for ratio in [-1, 2] {
                for size in [3, 7] {
                    let y = roiAlign(x, boxes: boxes.map { ($0.0, $0.1, $0.2, $0.3, $0.4) }, outputSize: size, spatialScale: 0.8,
                                     samplingRatio: ratio, aligned: aligned)
                    let mine = y.scalars
                    var k = 0
                    for b in boxes {
                        for r in naiveRoIAlign(x, box: b, size: size, scale: 0.8, ratio: ratio, aligned: aligned) {
                            #expect(abs(Double(mine[k]) - r) < 1e-5, "box \(b) aligned \(aligned) ratio \(ratio)")
                            k += 1
                        }
                    }
                }
            }
        }
    }
}

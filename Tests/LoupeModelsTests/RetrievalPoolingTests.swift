import Foundation
import LoupeModels
import LoupeTensor
import Testing

@Suite struct RetrievalPoolingTests {
    /// Regions computed by a direct port of cirtorch's `rmac` region loop (hand-run in Python).
    @Test func rmacRegionsFollowTolias() {
        func r(_ list: [(Int, Int, Int)]) -> [PoolingRegion] { list.map { PoolingRegion(top: $0.0, left: $0.1, size: $0.2) } }
        #expect(rmacRegions(height: 12, width: 16, levels: 3) == r([
            (0, 0, 12), (0, 4, 12), (0, 0, 8), (0, 4, 8), (0, 8, 8), (4, 0, 8), (4, 4, 8), (4, 8, 8), (0, 0, 6), (0, 3, 6),
            (0, 6, 6), (0, 10, 6), (3, 0, 6), (3, 3, 6), (3, 6, 6), (3, 10, 6), (6, 0, 6), (6, 3, 6), (6, 6, 6), (6, 10, 6)]))
        #expect(rmacRegions(height: 16, width: 12, levels: 3) == r([
            (0, 0, 12), (4, 0, 12), (0, 0, 8), (0, 4, 8), (4, 0, 8), (4, 4, 8), (8, 0, 8), (8, 4, 8), (0, 0, 6), (0, 3, 6),
            (0, 6, 6), (3, 0, 6), (3, 3, 6), (3, 6, 6), (6, 0, 6), (6, 3, 6), (6, 6, 6), (10, 0, 6), (10, 3, 6), (10, 6, 6)]))
        #expect(rmacRegions(height: 7, width: 7, levels: 3) == r([
            (0, 0, 7), (0, 0, 4), (0, 3, 4), (3, 0, 4), (3, 3, 4), (0, 0, 3), (0, 2, 3), (0, 4, 3), (2, 0, 3), (2, 2, 3),
            (2, 4, 3), (4, 0, 3), (4, 2, 3), (4, 4, 3)]))
    }

    @Test func poolingsMatchTheirFormulas() {
        let x = Tensor(randomUniform: [2, 5, 6, 7], in: -0.5...2, seed: 4)
        let v = x.scalars
        let gem = generalizedMeanPool(x, p: 3), mac = GlobalPooling.mac(x), spoc = GlobalPooling.spoc(x)
        let rmac = regionalMaxPool(x, levels: 2)
        let regions = rmacRegions(height: 6, width: 7, levels: 2)
        for i in 0..<2 {
            var regionSum = [Double](repeating: 0, count: 5)
            for r in regions {
                let m = (0..<5).map { c in
                    (r.top..<(r.top + r.size)).flatMap { y in (r.left..<(r.left + r.size)).map { xx in Double(v[((i * 5 + c) * 6 + y) * 7 + xx]) } }.max()!
                }
                let norm = (m.reduce(0) { $0 + $1 * $1 }).squareRoot() + 1e-6
                for c in 0..<5 { regionSum[c] += m[c] / norm }
            }
            for c in 0..<5 {
                let plane = v[((i * 5 + c) * 42)..<((i * 5 + c + 1) * 42)].map(Double.init)
                let g = pow(plane.map { pow(max($0, 1e-6), 3) }.reduce(0, +) / 42, 1.0 / 3)
                #expect(abs(Double(gem[i, c]) - g) < 1e-5)
                #expect(Double(mac[i, c]) == plane.max()!)
                #expect(abs(Double(spoc[i, c]) - plane.reduce(0, +) / 42) < 1e-5)
                #expect(abs(Double(rmac[i, c]) - regionSum[c]) < 1e-4)
            }
        }
        #expect(GlobalPooling("gem:4") == .gem(p: 4) && GlobalPooling("rmac") == .rmac(levels: 3) && GlobalPooling("max") == nil)
        for p in [GlobalPooling.mac, .spoc, .gem(p: 3), .gem(p: 4.5), .rmac(levels: 3), .rmac(levels: 2)] {
            #expect(GlobalPooling(p.description) == p, "\(p)")
        }
    }
}

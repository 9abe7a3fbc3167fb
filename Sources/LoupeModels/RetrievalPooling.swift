internal import Foundation
public import LoupeTensor

/// How a feature map `[N, C, H, W]` becomes one `C`-vector per image (cirtorch's vocabulary).
public enum GlobalPooling: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Maximum activation per channel (Tolias et al.): strong on one salient object.
    case mac
    /// Mean per channel (sum pooling, Babenko & Lempitsky).
    case spoc
    /// Generalised mean `(mean(x^p))^(1/p)` (Radenović et al.); p = 3 sits between SPoC (p = 1)
    /// and MAC (p → ∞) and is the default of cirtorch and of the paper.
    case gem(p: Float)
    /// Regional MAC (Tolias, Sicre, Jégou): MAC over a multi-scale grid of square regions.
    case rmac(levels: Int)

    public var description: String {
        switch self {
        case .mac: "mac"
        case .spoc: "spoc"
        case let .gem(p): p == 3 ? "gem" : "gem(p=\(p))"
        case let .rmac(levels): levels == 3 ? "rmac" : "rmac(L=\(levels))"
        }
    }

    /// Parses `mac`, `spoc`, `gem`, `gem:P`, `rmac`, `rmac:L`, and the ``description`` forms
    /// `gem(p=P)`, `rmac(L=L)` stored in recipes.
    public init?(_ text: String) {
        let normalized = text.lowercased().replacingOccurrences(of: "(p=", with: ":")
            .replacingOccurrences(of: "(l=", with: ":").replacingOccurrences(of: ")", with: "")
        let parts = normalized.split(separator: ":", maxSplits: 1).map(String.init)
        switch parts[0] {
        case "mac": self = .mac
        case "spoc": self = .spoc
        case "gem":
            let p = parts.count > 1 ? Float(parts[1]) : 3
            guard let p, p > 0, p.isFinite else { return nil }
            self = .gem(p: p)
        case "rmac":
            let l = parts.count > 1 ? Int(parts[1]) : 3
            guard let l, (1...6).contains(l) else { return nil }
            self = .rmac(levels: l)
        default: return nil
        }
    }

    /// Pools `[N, C, H, W]` to `[N, C]` (not normalised).
    public func callAsFunction(_ map: Tensor) -> Tensor {
        switch self {
        case .mac: globalMaxPool(map)
        case .spoc: globalAveragePool(map)
        case let .gem(p): generalizedMeanPool(map, p: p)
        case let .rmac(levels): regionalMaxPool(map, levels: levels)
        }
    }
}

/// GeM pooling: `(mean over H×W of max(x, ε)^p)^(1/p)` per channel; `[N, C, H, W]` → `[N, C]`.
/// ε = 1e-6 as in cirtorch: it keeps the power of zero activations (ReLU outputs) defined.
public func generalizedMeanPool(_ map: Tensor, p: Float = 3, epsilon: Float = 1e-6) -> Tensor {
    let (n, c, h, w) = map.nchw
    let plane = h * w
    return Tensor(uninitializedShape: [n, c]) { out in
        map.withUnsafeBufferPointer { x in
            for i in 0..<(n * c) {
                var sum: Double = 0
                let base = i * plane
                if p == 3 {
                    for j in 0..<plane { let v = Double(max(x[base + j], epsilon)); sum += v * v * v }
                } else {
                    for j in 0..<plane { sum += Double(pow(max(x[base + j], epsilon), p)) }
                }
                out.initializeElement(at: i, to: Float(pow(sum / Double(plane), 1 / Double(p))))
            }
        }
    }
}

/// A square region of a feature map: rows `top..<top+size`, columns `left..<left+size`.
public struct PoolingRegion: Sendable, Hashable {
    public var top, left, size: Int
    public init(top: Int, left: Int, size: Int) { (self.top, self.left, self.size) = (top, left, size) }
}

/// The R-MAC regions of an `H × W` map for `levels` scales, as in Tolias et al. and cirtorch.
///
/// Level `l` uses squares of side `⌊2·min(H, W)/(l + 1)⌋`, `l + extra` of them along the longer
/// side (`extra` chosen so that neighbours overlap by about 40 %) and `l` along the shorter one,
/// spread evenly with integer (floored) positions.
public func rmacRegions(height: Int, width: Int, levels: Int) -> [PoolingRegion] {
    let w = min(width, height)
    let steps = [2.0, 3, 4, 5, 6, 7]
    let b0 = steps.map { Double(max(height, width) - w) / ($0 - 1) }
    let ovr = 0.4
    let costs = b0.map { abs((Double(w * w) - Double(w) * $0) / Double(w * w) - ovr) }
    let idx = costs.firstIndex(of: costs.min()!)!
    let wd = height < width ? idx + 1 : 0, hd = height > width ? idx + 1 : 0
    var regions: [PoolingRegion] = []
    for l in 1...max(1, levels) {
        let wl = Int((2.0 * Double(w) / Double(l + 1)).rounded(.down))
        guard wl > 0 else { continue }
        let wl2 = (Double(wl) / 2 - 1).rounded(.down)
        func centres(_ extent: Int, _ extra: Int) -> [Int] {
            let count = l + extra
            let b = count == 1 ? 0 : Double(extent - wl) / Double(count - 1)
            return (0..<count).map { Int((wl2 + Double($0) * b).rounded(.down) - wl2) }
        }
        for top in centres(height, hd) { for left in centres(width, wd) {
            regions.append(PoolingRegion(top: top, left: left, size: wl))
        } }
    }
    return regions
}

/// R-MAC: the MAC vector of every ``rmacRegions(height:width:levels:)`` region, each
/// L2-normalised, summed. `[N, C, H, W]` → `[N, C]`.
///
/// This is Tolias et al.'s definition. cirtorch's `rmac` also adds the L2-normalised MAC of the
/// whole map (a level-0 term) to the sum; Loupe leaves it out, as the paper's reference numbers do.
public func regionalMaxPool(_ map: Tensor, levels: Int = 3, epsilon: Float = 1e-6) -> Tensor {
    let (n, c, h, w) = map.nchw
    let regions = rmacRegions(height: h, width: w, levels: levels)
    var out = Tensor(zeros: [n, c])
    map.withUnsafeBufferPointer { x in
        out.withUnsafeMutableBufferPointer { y in
            var v = [Float](repeating: 0, count: c)
            for i in 0..<n {
                for r in regions {
                    let rows = r.top..<min(h, r.top + r.size), cols = r.left..<min(w, r.left + r.size)
                    var norm: Double = 0
                    for ch in 0..<c {
                        var m = -Float.infinity
                        let base = (i * c + ch) * h * w
                        for row in rows { for col in cols { m = max(m, x[base + row * w + col]) } }
                        v[ch] = m
                        norm += Double(m) * Double(m)
                    }
                    let scale = 1 / (Float(norm.squareRoot()) + epsilon)
                    for ch in 0..<c { y[i * c + ch] += v[ch] * scale }
                }
            }
        }
    }
    return out
}

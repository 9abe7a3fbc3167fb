public import LoupeTensor

/// A plane projective transform (a 3×3 matrix up to scale): `(x, y) ↦ ((a x + b y + c) / w,
/// (d x + e y + f) / w)` with `w = g x + h y + 1`. What a camera does to a flat object such as a
/// DVD cover seen at an angle.
public struct Homography: Sendable, Equatable {
    /// Row-major `[a, b, c, d, e, f, g, h, 1]`.
    public var matrix: [Double]

    public init(matrix: [Double]) {
        check(matrix.count == 9, "a homography has 9 entries, got \(matrix.count)")
        self.matrix = matrix
    }

    /// The homography taking each `source[i]` to `destination[i]` (four points, no three on a
    /// line), or `nil` when the points are degenerate.
    public init?(from source: [(x: Double, y: Double)], to destination: [(x: Double, y: Double)]) {
        guard source.count == 4, destination.count == 4 else { return nil }
        // two equations per pair in the eight unknowns a…h
        var a = [[Double]](repeating: [Double](repeating: 0, count: 9), count: 8)
        for i in 0..<4 {
            let (x, y) = source[i], (u, v) = destination[i]
            a[2 * i] = [x, y, 1, 0, 0, 0, -u * x, -u * y, u]
            a[2 * i + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y, v]
        }
        // Gaussian elimination with partial pivoting
        for col in 0..<8 {
            let pivot = (col..<8).max { abs(a[$0][col]) < abs(a[$1][col]) }!
            guard abs(a[pivot][col]) > 1e-12 else { return nil }
            a.swapAt(col, pivot)
            for row in 0..<8 where row != col {
                let f = a[row][col] / a[col][col]
                if f != 0 { for k in col..<9 { a[row][k] -= f * a[col][k] } }
            }
        }
        self.matrix = (0..<8).map { a[$0][8] / a[$0][$0] } + [1]
        guard matrix.allSatisfy(\.isFinite) else { return nil }
    }

    /// The image of `(x, y)`.
    public func apply(_ x: Double, _ y: Double) -> (x: Double, y: Double) {
        let m = matrix
        let w = m[6] * x + m[7] * y + m[8]
        return ((m[0] * x + m[1] * y + m[2]) / w, (m[3] * x + m[4] * y + m[5]) / w)
    }

    /// The axis-aligned bounding box of `box`'s four corners mapped through this transform (what
    /// a box around an object becomes when the object is photographed at an angle).
    public func boundingBox(of box: BoundingBox) -> BoundingBox {
        let corners = [(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1)].map { apply(Double($0.0), Double($0.1)) }
        return BoundingBox(x0: Float(corners.map(\.x).min()!), y0: Float(corners.map(\.y).min()!),
                           x1: Float(corners.map(\.x).max()!), y1: Float(corners.map(\.y).max()!))
    }

    /// The inverse transform (adjugate; scale is irrelevant), or `nil` when singular.
    public var inverse: Homography? {
        let m = matrix
        let c = [m[4] * m[8] - m[5] * m[7], m[2] * m[7] - m[1] * m[8], m[1] * m[5] - m[2] * m[4],
                 m[5] * m[6] - m[3] * m[8], m[0] * m[8] - m[2] * m[6], m[2] * m[3] - m[0] * m[5],
                 m[3] * m[7] - m[4] * m[6], m[1] * m[6] - m[0] * m[7], m[0] * m[4] - m[1] * m[3]]
        let det = m[0] * c[0] + m[1] * c[3] + m[2] * c[6]
        guard abs(det) > 1e-15, abs(c[8]) > 1e-15 else { return nil }
        return Homography(matrix: c.map { $0 / c[8] })
    }
}

extension Image {
    /// Draws `other` so that its corners — top-left, top-right, bottom-right, bottom-left, in
    /// pixel-edge coordinates `(0, 0) … (w, h)` — land on `corners`; pixels outside that
    /// quadrilateral are left as they are. Each covered pixel centre is mapped back into `other`
    /// and sampled bilinearly. Returns the transform from `other`'s coordinates into this image's,
    /// or `nil` (nothing drawn) when the corners are degenerate.
    @discardableResult
    public mutating func pasteWarped(_ other: Image, corners: [(x: Double, y: Double)]) -> Homography? {
        let (ow, oh) = (Double(other.width), Double(other.height))
        guard corners.count == 4,
              let forward = Homography(from: [(0, 0), (ow, 0), (ow, oh), (0, oh)], to: corners),
              let back = forward.inverse else { return nil }
        let (w, h) = (width, height)
        let x0 = max(0, Int(corners.map(\.x).min()!.rounded(.down))), x1 = min(w, Int(corners.map(\.x).max()!.rounded(.up)))
        let y0 = max(0, Int(corners.map(\.y).min()!.rounded(.down))), y1 = min(h, Int(corners.map(\.y).max()!.rounded(.up)))
        guard x0 < x1, y0 < y1 else { return forward }
        let (sw, sh) = (other.width, other.height)
        pixels.withUnsafeMutableBufferPointer { dst in
            other.pixels.withUnsafeBufferPointer { src in
                for py in y0..<y1 {
                    for px in x0..<x1 {
                        let (u, v) = back.apply(Double(px) + 0.5, Double(py) + 0.5)
                        guard u >= 0, v >= 0, u < ow, v < oh else { continue }
                        // bilinear between the pixel centres around (u, v), edges clamped
                        let fx = u - 0.5, fy = v - 0.5
                        let ix = Int(fx.rounded(.down)), iy = Int(fy.rounded(.down))
                        let ax = Float(fx - Double(ix)), ay = Float(fy - Double(iy))
                        let xa = min(max(ix, 0), sw - 1), xb = min(max(ix + 1, 0), sw - 1)
                        let ya = min(max(iy, 0), sh - 1), yb = min(max(iy + 1, 0), sh - 1)
                        for c in 0..<3 {
                            let plane = c * sw * sh
                            let top = src[plane + ya * sw + xa] * (1 - ax) + src[plane + ya * sw + xb] * ax
                            let bottom = src[plane + yb * sw + xa] * (1 - ax) + src[plane + yb * sw + xb] * ax
                            dst[(c * h + py) * w + px] = top * (1 - ay) + bottom * ay
                        }
                    }
                }
            }
        }
        return forward
    }
}

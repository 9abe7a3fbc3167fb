import Foundation
import LoupeImage
import LoupeRetrieval
import LoupeTensor
import Testing

/// Local features and their verification against geometry known by construction: a real photo
/// pasted rotated, scaled and mirrored into a canvas, the transform recovered from the matches and
/// checked against the paste's own homography.
@Suite struct LocalMatchingTests {
    func photo() throws -> Image {
        try Image(contentsOf: sharedData.appendingPathComponent("mask-photos/coco2017-subset/images").appendingPathComponent(
            try FileManager.default.contentsOfDirectory(atPath: sharedData.appendingPathComponent("mask-photos/coco2017-subset/images").path).sorted()[0]))
            .resized(longerSide: 320)
    }

    /// The photo drawn into a 400×360 grey canvas turned by `degrees` about its centre and scaled.
    func pasted(_ image: Image, degrees: Double, scale: Double) -> (canvas: Image, map: Homography) {
        var canvas = Image(width: 400, height: 360, color: RGB(120, 120, 120))
        let (w, h) = (Double(image.width), Double(image.height)), (cx, cy) = (200.0, 180.0)
        let (c, s) = (cos(degrees * .pi / 180) * scale, sin(degrees * .pi / 180) * scale)
        let corners = [(0.0, 0.0), (w, 0), (w, h), (0, h)].map { (x, y) in
            (x: cx + c * (x - w / 2) - s * (y - h / 2), y: cy + s * (x - w / 2) + c * (y - h / 2))
        }
        let map = canvas.pasteWarped(image, corners: corners)!
        return (canvas, map)
    }

    @Test func rotatedAndScaledCopyIsVerifiedWithItsTransform() throws {
        let original = try photo()
        let (canvas, map) = pasted(original, degrees: 30, scale: 0.6)
        var store = LocalFeatureStore(options: .init())
        store.append(original.localFeatures(), side: Float(max(original.width, original.height)))
        // a second, unrelated image: a flat grey frame has no features and must not verify
        store.append(Image(width: 200, height: 200, color: RGB(90, 90, 90)).localFeatures(), side: 200)
        let query = canvas.localFeatures()
        #expect(query.count > 50)
        let found = store.verify(query)
        try #require(found.count == 1 && found[0].image == 0)
        #expect(found[0].inliers >= 20)
        // canvas → original: scale 1 / 0.6, rotation −30°
        #expect(abs(found[0].transform.scale - 1 / 0.6) < 0.05)
        #expect(abs(found[0].transform.rotation * 180 / .pi + 30) < 2)
        // every inlier pair lies where the paste's own map sends it (within 2 % of the side)
        let inverse = try #require(map.inverse)
        for pair in found[0].matches {
            let q = query.keypoints[pair.query], d = store.keypoints[store.ranges[0].lowerBound + pair.database]
            let back = inverse.apply(Double(q.x) + 0.5, Double(q.y) + 0.5)
            #expect(hypot(back.x - 0.5 - Double(d.x), back.y - 0.5 - Double(d.y)) < 8)
        }
    }

    @Test func mirroredPasteMatchesMirroredFeatures() throws {
        let original = try photo()
        let flipped = Image(pixels: Tensor(shape: original.pixels.shape, scalars: {
            let (w, h, p) = (original.width, original.height, original.pixels.scalars)
            return (0..<(3 * h * w)).map { i in let (c, y, x) = (i / (h * w), (i / w) % h, i % w); return p[c * h * w + y * w + (w - 1 - x)] }
        }()))
        let (canvas, _) = pasted(flipped, degrees: -20, scale: 0.8)
        var store = LocalFeatureStore(options: .init())
        store.append(original.localFeatures(), side: Float(max(original.width, original.height)))
        let plain = store.verify(canvas.localFeatures()).first?.inliers ?? 0
        let mirrored = try #require(store.verify(canvas.localFeatures(mirrored: true)).first)
        #expect(mirrored.inliers >= 20 && mirrored.inliers > 3 * plain)
    }

    @Test func transformFromTwoPoints() throws {
        // scale 2, rotation 90°, shift (1, 1): (0, 0) → (1, 1), (1, 0) → (1, 3)
        let t = try #require(SimilarityTransform(from: (0, 0), (1, 0), to: (1, 1), (1, 3)))
        #expect(abs(t.scale - 2) < 1e-6 && abs(t.rotation - .pi / 2) < 1e-6)
        let m = t.apply(0, 1)
        #expect(abs(m.x + 1) < 1e-6 && abs(m.y - 1) < 1e-6)
        #expect(SimilarityTransform(from: (3, 3), (3, 3), to: (0, 0), (1, 1)) == nil)
    }

    @Test func storeRoundTripsItsParts() throws {
        var store = LocalFeatureStore(options: .init(maximumCount: 50))
        let image = try photo()
        store.append(image.localFeatures(.init(maximumCount: 50)), side: 320)
        let rebuilt = try #require(LocalFeatureStore(options: store.options, keypoints: store.keypoints, descriptors: store.descriptors,
                                                     counts: store.ranges.map(\.count), sides: store.sides))
        #expect(rebuilt.keypoints == store.keypoints && rebuilt.descriptors == store.descriptors)
        #expect(LocalFeatureStore(options: store.options, keypoints: store.keypoints, descriptors: [1, 2], counts: [50], sides: [1]) == nil)
    }
}

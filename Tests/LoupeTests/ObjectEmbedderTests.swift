import Foundation
import Loupe
import Testing

let darknet = root.appendingPathComponent(".cache/darknet/data")
let yoloxWeights = root.deletingLastPathComponent().appendingPathComponent("shared/models/yolox_nano_coco.safetensors")

func cosine(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.scalars, b.scalars).reduce(0) { $0 + $1.0 * $1.1 }
}

@Suite(.serialized) struct ObjectEmbedderTests {
    let global: GlobalEmbedder
    let detector: YOLOX

    init() throws {
        let backbone = try WeightStore.backbone(.classifier(.mobileNetV2), file: mobilenet)
        global = try GlobalEmbedder(backbone: backbone, maxSize: 512)
        detector = try YOLOX(contentsOf: yoloxWeights)
    }

    /// Region 0 is the global embedding, bit for bit; a given box covering the whole image pools
    /// (cells) exactly the global vector, and (RoIAlign 7×7) nearly so.
    @Test func aWholeImageBoxEqualsTheGlobalEmbedding() throws {
        let image = try Image(contentsOf: darknet.appendingPathComponent("dog.jpg"))
        let reference = try global.embedding(of: image)
        let whole = BoundingBox.whole(width: image.width, height: image.height)
        let cells = try ObjectEmbedder(embedder: global, detector: nil, method: .hardAttention(.cells))
        let c = try cells.objects(in: image, given: [whole])
        #expect(c.regions.map(\.kind) == [.image, .given] && c.vectors.shape == [2, 1280])
        #expect(c.vectors.sliced(along: 0, 0..<1).scalars == reference.scalars)
        #expect(zip(c.vectors.sliced(along: 0, 1..<2).scalars, reference.scalars).allSatisfy { abs($0 - $1) < 1e-6 })
        let aligned = try ObjectEmbedder(embedder: global, detector: nil).objects(in: image, given: [whole])
        #expect(cosine(aligned.vectors.sliced(along: 0, 1..<2), reference) > 0.97)
        // the crop teacher's whole-image box is the image embedded at the teacher's size
        let teacher = try ObjectEmbedder(embedder: global, detector: nil, method: .cropTeacher(maxSize: 384))
        let t = try teacher.objects(in: image, given: [whole])
        let at384 = try GlobalEmbedder(backbone: global.loaded, maxSize: 384).embedding(of: image)
        #expect(zip(t.vectors.sliced(along: 0, 1..<2).scalars, at384.scalars).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(teacher.recipe.mode.description == "objects:teacher:384" && cells.recipe.mode.description == "objects:attention:cells")
        // a box outside the image is refused, not silently pooled
        #expect(throws: EmbedderError.self) { try cells.objects(in: image, given: [BoundingBox(x0: 5000, y0: 0, x1: 6000, y1: 10)]) }
    }

    /// A box pooled by the embedder equals the same region pooled by hand on the backbone's map.
    @Test func aBoxPoolsTheRegionOfTheMap() throws {
        let image = try Image(contentsOf: darknet.appendingPathComponent("person.jpg"))
        let box = BoundingBox(x0: 180, y0: 90, x1: 330, y1: 380)
        let objects = try ObjectEmbedder(embedder: global, detector: nil, method: .hardAttention(.cells)).objects(in: image, given: [box])
        let resized = image.resized(longerSide: 512)
        let map = global.backbone.featureMap(resized.tensor(global.backbone.normalization))
        let s = Float(resized.width) / Float(image.width) / 32
        let (h, w) = (map.shape[2], map.shape[3])
        let rows = Int((box.y0 * s).rounded(.down))..<min(h, Int((box.y1 * s).rounded(.up)))
        let columns = Int((box.x0 * s).rounded(.down))..<min(w, Int((box.x1 * s).rounded(.up)))
        let byHand = generalizedMeanPool(map.sliced(along: 2, rows).sliced(along: 3, columns)).l2NormalizedRows()
        #expect(zip(objects.vectors.sliced(along: 0, 1..<2).scalars, byHand.scalars).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// The dog of dog.jpg pasted into giraffe.jpg: the object index returns both sources, the dog
    /// through the pasted box matched to the dog's box in dog.jpg.
    @Test func anObjectIndexFindsBothSourcesOfASplice() throws {
        let names = ["dog", "eagle", "giraffe", "horses", "kite", "person"]
        let images = try names.map { try Image(contentsOf: darknet.appendingPathComponent("\($0).jpg")) }
        let embedder = try ObjectEmbedder(embedder: global, detector: detector, labels: [])
        var index = ObjectIndex(for: embedder)
        for (name, image) in zip(names, images) {
            let o = try embedder.objects(in: image)
            try index.add(o.vectors, regions: o.regions, path: name)
        }
        let dogBox = detector.detect(images[0], options: .init(scoreThreshold: 0.5)).first { $0.classIndex == 16 }!.box
        var query = images[2]
        let donor = images[0].cropped(x: Int(dogBox.x0), y: Int(dogBox.y0), width: Int(dogBox.width), height: Int(dogBox.height))
            .resized(longerSide: query.height / 2)
        query.paste(donor, x: 10, y: query.height - donor.height - 10)
        let pasted = BoundingBox(x0: 10, y0: Float(query.height - donor.height - 10), x1: Float(10 + donor.width), y1: Float(query.height - 10))
        let q = try embedder.objects(in: query)
        let hits = try index.search(q.vectors, regions: q.regions, k: 6, options: .init(queryRegions: .all))
        #expect(Set(hits.prefix(2).map(\.path)) == ["dog", "giraffe"], "\(hits.map { ($0.path, $0.score) })")
        let dog = hits.first { $0.path == "dog" }!
        #expect(dog.queryBox.intersectionOverUnion(pasted) > 0.5, "\(dog.queryBox) vs pasted \(pasted)")
        #expect(dog.databaseRegion.box.intersectionOverUnion(dogBox) > 0.5, "\(dog.databaseRegion.box) vs \(dogBox)")
    }
}

/// The class-free query regions of the source search.
@Suite struct GridRegionTests {
    @Test func gridRegionsAreTheRMACSquaresInsideTheImage() {
        // 640 × 480, 3 levels: squares of side 480 (2 along the width), 320 (3 × 2), 240 (4 × 3)
        let boxes = gridRegions(width: 640, height: 480, levels: 3)
        #expect(boxes.count == 2 + 6 + 12)
        #expect(Set(boxes.map(\.width)) == [480, 320, 240] && boxes.allSatisfy { $0.width == $0.height })
        #expect(boxes.allSatisfy { $0.x0 >= 0 && $0.y0 >= 0 && $0.x1 <= 640 && $0.y1 <= 480 })
        // the first and the last square of each level touch the image's sides
        for side in [Float(480), 320, 240] {
            let level = boxes.filter { $0.width == side }
            #expect(level.map(\.x0).min() == 0 && level.map(\.x1).max() == 640 && level.map(\.y1).max() == 480)
        }
        // a square image: its level-1 square is the whole image and is left out
        #expect(gridRegions(width: 300, height: 300, levels: 1).isEmpty)
        #expect(gridRegions(width: 300, height: 300, levels: 2).count == 4)
    }
}

/// The host-guided source search with local features, on real photos and real weights.
@Suite(.serialized) struct SourceFinderTests {
    let embedder: ObjectEmbedder

    init() throws {
        let backbone = try WeightStore.backbone(.classifier(.mobileNetV2), file: mobilenet)
        embedder = try ObjectEmbedder(embedder: try GlobalEmbedder(backbone: backbone, maxSize: 512), detector: try YOLOX(contentsOf: yoloxWeights))
    }

    /// A 278-pixel square of person.jpg shrunk to 48 pixels and pasted into dog.jpg: the host is
    /// found by its frame, and the donor is verified only when the part's crop is looked at
    /// enlarged (4 inliers → 18 when this case was chosen); its matched features lie in the pasted
    /// part, in the composite's own pixels.
    /// The six darknet photos, with their local features.
    func sixPhotos() throws -> ObjectIndex {
        let names = ["dog", "eagle", "giraffe", "horses", "kite", "person"]
        var index = ObjectIndex(for: embedder)
        try index.keepLocalFeatures(LocalFeatureOptions())
        let report = try index.add(names.map { darknet.appendingPathComponent("\($0).jpg") }, with: embedder)
        #expect(report.indexed == 6 && index.localFeatures?.ranges.count == 6)
        // found beside the networks, one image behind: still each image's own features, in order
        let store = try #require(index.localFeatures)
        for (i, name) in names.enumerated() {
            let own = try Image(contentsOf: darknet.appendingPathComponent("\(name).jpg")).localFeatures(store.options)
            #expect(Array(store.keypoints[store.ranges[i]]) == own.keypoints, "\(name)")
        }
        #expect(index.paths.map { URL(fileURLWithPath: $0).lastPathComponent } == names.map { "\($0).jpg" })
        return index
    }

    @Test func aShrunkPartIsVerifiedWhenItsCropIsEnlarged() throws {
        let index = try sixPhotos()
        let person = try Image(contentsOf: darknet.appendingPathComponent("person.jpg"))
        var composite = try Image(contentsOf: darknet.appendingPathComponent("dog.jpg"))
        composite.paste(person.cropped(x: 176, y: 33, width: 278, height: 278).resized(width: 48, height: 48), x: 298, y: 277)
        let pasted = BoundingBox(x0: 298, y0: 277, x1: 346, y1: 325)
        var finder = SourceFinder(index: index, embedder: embedder)
        var clock = StageClock()
        finder.partUpsampling = []
        let plain = try finder.sources(of: composite, k: 6, clock: &clock)
        finder.partUpsampling = [2]
        let enlarged = try finder.sources(of: composite, k: 6, clock: &clock)
        for answer in [plain, enlarged] {
            #expect(answer.results.first?.path.hasSuffix("dog.jpg") == true && answer.results.first?.role == .host)
            #expect(answer.region.map { $0.intersectionOverUnion(pasted) > 0.5 } == true, "\(String(describing: answer.region))")
        }
        let before = plain.results.first { $0.path.hasSuffix("person.jpg") }
        let after = try #require(enlarged.results.first { $0.path.hasSuffix("person.jpg") })
        #expect((before?.inliers ?? 0) < finder.donorInliers, "without enlarging: \(String(describing: before?.inliers)) inliers")
        #expect(after.role == .donor && (after.inliers ?? 0) >= finder.donorInliers && enlarged.results[1].path == after.path,
                "enlarged: \(String(describing: after.inliers)) inliers, rank \(enlarged.results.firstIndex { $0.path == after.path }!)")
        let b = after.queryBox
        #expect(b.x0 >= pasted.x0 - 4 && b.y0 >= pasted.y0 - 4 && b.x1 <= pasted.x1 + 4 && b.y1 <= pasted.y1 + 4, "matched \(b) vs pasted \(pasted)")
    }

    /// A host cropped by a tenth on each side and shrunk to three quarters before the paste shows
    /// no candidate's frame: it is found from the composite's strong local features, warped onto
    /// the composite, and the part located against it; the donor is verified.
    @Test func aReframedHostIsFoundAndAligned() throws {
        let index = try sixPhotos()
        let giraffe = try Image(contentsOf: darknet.appendingPathComponent("giraffe.jpg"))
        let (w, h) = (giraffe.width * 8 / 10, giraffe.height * 8 / 10)
        var composite = giraffe.cropped(x: giraffe.width / 10, y: giraffe.height / 10, width: w, height: h).resized(width: w * 3 / 4, height: h * 3 / 4)
        let person = try Image(contentsOf: darknet.appendingPathComponent("person.jpg"))
        let part = person.cropped(x: 176, y: 33, width: 278, height: 278).resized(width: composite.width / 3, height: composite.width / 3)
        let (px, py) = (composite.width / 2, composite.height / 3)
        composite.paste(part, x: px, y: py)
        let pasted = BoundingBox(x0: Float(px), y0: Float(py), x1: Float(px + part.width), y1: Float(py + part.height))
        var clock = StageClock()
        let answer = try SourceFinder(index: index, embedder: embedder).sources(of: composite, k: 3, clock: &clock)
        #expect(answer.results.prefix(2).map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["giraffe.jpg", "person.jpg"])
        #expect(answer.results.prefix(2).map(\.role) == [.host, .donor] && (answer.results[1].inliers ?? 0) >= 6)
        #expect(answer.region.map { $0.intersectionOverUnion(pasted) > 0.5 } == true, "\(String(describing: answer.region)) vs \(pasted)")
        #expect(clock.seconds.contains { $0.name == "host verification" })
    }

    /// Pooling a box over the pixels inside it: all inside is the plain box, half inside differs.
    @Test func shapedBoxesPoolTheirInside() throws {
        let image = try Image(contentsOf: darknet.appendingPathComponent("dog.jpg"))
        let box = BoundingBox(x0: 120, y0: 200, x1: 320, y1: 540)
        var cache: ObjectEmbedder.MapCache?, clock = StageClock()
        let plain = try embedder.objects(in: image, given: [box], detect: false)
        let whole = try embedder.objects(in: image, shaped: [box], inside: { _, _, _ in true }, cache: &cache, clock: &clock)
        let left = try embedder.objects(in: image, shaped: [box], inside: { _, x, _ in x < 220 }, cache: &cache, clock: &clock)
        #expect(whole.vectors.scalars == plain.vectors.scalars)
        #expect(left.vectors.sliced(along: 0, 0..<1).scalars == plain.vectors.sliced(along: 0, 0..<1).scalars)
        let c = cosine(left.vectors.sliced(along: 0, 1..<2), plain.vectors.sliced(along: 0, 1..<2))
        #expect(c < 0.999 && c > 0.5, "\(c)")
    }
}

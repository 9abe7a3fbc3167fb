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
        #expect(found[0].inliers >= 20 && found[0].candidates >= found[0].inliers)
        // so many inliers are no chance
        #expect(found[0].logFalseAlarms < -10)
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
        let flipped = original.mirrored()
        #expect(flipped.pixels[0, 3, 0] == original.pixels[0, 3, original.width - 1])
        let (canvas, _) = pasted(flipped, degrees: -20, scale: 0.8)
        var store = LocalFeatureStore(options: .init())
        store.append(original.localFeatures(), side: Float(max(original.width, original.height)))
        let plain = store.verify(canvas.localFeatures()).first?.inliers ?? 0
        let mirrored = try #require(store.verify(canvas.localFeatures(mirrored: true)).first)
        #expect(mirrored.inliers >= 20 && mirrored.inliers > 3 * plain)
    }

    /// Features of an image looked at enlarged ×2 are those of the image resized ×2 by hand, the
    /// keypoints brought back to its pixels (centres map to centres); the cap is the options' side.
    @Test func enlargedFeaturesAreTheResizedImagesInItsPixels() throws {
        let small = try photo().resized(longerSide: 160)
        let options = LocalFeatureOptions(maximumCount: 400, maximumSide: 640)
        let enlarged = small.localFeatures(options, mirrored: true, enlarged: 2)
        let byHand = small.resized(width: 2 * small.width, height: 2 * small.height, filter: .bilinear).localFeatures(options, mirrored: true)
        #expect(enlarged.count == byHand.count && enlarged.count > 50)
        for (a, b) in zip(enlarged.keypoints, byHand.keypoints) {
            #expect(abs(a.x - ((b.x + 0.5) / 2 - 0.5)) < 1e-4 && abs(a.y - ((b.y + 0.5) / 2 - 0.5)) < 1e-4 && abs(a.size - b.size / 2) < 1e-4 && a.angle == b.angle)
        }
        #expect(enlarged.descriptors.scalars == byHand.descriptors.scalars)
        // enlarging past the side the options allow is capped there
        let capped = small.localFeatures(LocalFeatureOptions(maximumCount: 400, maximumSide: 320), enlarged: 8)
        #expect(capped.keypoints.map(\.x) == small.localFeatures(LocalFeatureOptions(maximumCount: 400, maximumSide: 320), enlarged: 2).keypoints.map(\.x))
    }

    /// The a-contrario score against exact binomial tails (computed with Python's `fractions`).
    @Test func falseAlarmsMatchExactBinomialTails() throws {
        for (k, n, p, tests, expected) in [(4, 4, 0.01, 1, -3.221848749616356), (4, 200, 0.001, 806, 5.438988422176228),
                                           (12, 40, 0.002, 806, -12.538778896651309), (5, 2000, 0.0005, 806, 8.110626035754475)] {
            let got = LocalVerification.logFalseAlarms(inliers: k, candidates: n, probability: p, tests: tests)
            #expect(abs(got - expected) < 1e-6, "k \(k) n \(n): \(got)")
        }
        // two matches fix a similarity and are no evidence: every test and pair is a false alarm
        #expect(abs(LocalVerification.logFalseAlarms(inliers: 2, candidates: 30, probability: 0.01, tests: 100) - (2 + log10(435))) < 1e-9)
    }

    /// Photos that do not show the canvas's photo: whatever RANSAC makes of their chance matches
    /// scores as chance.
    @Test func chanceAgreementsScoreAsChance() throws {
        let (canvas, _) = pasted(try photo(), degrees: 30, scale: 0.6)
        let folder = sharedData.appendingPathComponent("mask-photos/coco2017-subset/images")
        var store = LocalFeatureStore(options: .init())
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()[1..<7] {
            let other = try Image(contentsOf: folder.appendingPathComponent(name)).resized(longerSide: 320)
            store.append(other.localFeatures(), side: 320)
        }
        let found = store.verify(canvas.localFeatures(), ratio: 0.95, minimumInliers: 3)
        #expect(!found.isEmpty)
        for v in found { #expect(v.logFalseAlarms > -1, "image \(v.image): \(v.inliers) of \(v.candidates), \(v.logFalseAlarms)") }
    }

    @Test func transformFromTwoPoints() throws {
        // scale 2, rotation 90°, shift (1, 1): (0, 0) → (1, 1), (1, 0) → (1, 3)
        let t = try #require(SimilarityTransform(from: (0, 0), (1, 0), to: (1, 1), (1, 3)))
        #expect(abs(t.scale - 2) < 1e-6 && abs(t.rotation - .pi / 2) < 1e-6)
        let m = t.apply(0, 1)
        #expect(abs(m.x + 1) < 1e-6 && abs(m.y - 1) < 1e-6)
        #expect(SimilarityTransform(from: (3, 3), (3, 3), to: (0, 0), (1, 1)) == nil)
        // least squares over exact points recovers it; over noisy ones it lands between them
        let points: [(Float, Float)] = [(0, 0), (1, 0), (0, 1), (3, 2), (-2, 5)]
        let fit = try #require(SimilarityTransform(fitting: points, to: points.map { t.apply($0.0, $0.1) }))
        #expect(abs(fit.a - t.a) < 1e-5 && abs(fit.b - t.b) < 1e-5 && abs(fit.tx - t.tx) < 1e-4 && abs(fit.ty - t.ty) < 1e-4)
        let noisy = points.enumerated().map { i, p in (t.apply(p.0, p.1).x + (i % 2 == 0 ? 0.1 : -0.1), t.apply(p.0, p.1).y) }
        let rough = try #require(SimilarityTransform(fitting: points, to: noisy))
        #expect(abs(rough.scale - 2) < 0.05 && abs(rough.rotation - .pi / 2) < 0.05)
        #expect(SimilarityTransform(fitting: [(1, 1), (1, 1)], to: [(0, 0), (2, 2)]) == nil)
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

/// k-means against what it must find, and the coarse lists against exhaustive matching.
@Suite struct CoarseListTests {
    @Test func kMeansFindsSeparatedClusters() {
        // three tight clusters around known centres in 4-d, 60 rows each, shuffled by a fixed pattern
        let centres: [[Float]] = [[5, 0, 0, 0], [0, 5, 0, 0], [0, 0, 5, 5]]
        let noise = Tensor(randomUniform: [180, 4], in: -0.2...0.2, seed: 3).scalars
        var rows: [Float] = []
        for i in 0..<180 { let c = centres[(i * 7) % 3]; for j in 0..<4 { rows.append(c[j] + noise[i * 4 + j]) } }
        let x = Tensor(shape: [180, 4], scalars: rows)
        for seeding in [KMeans.Seeding.random, .plusPlus] {
            let k = KMeans(x, k: 3, iterations: 10, seeding: seeding, seed: 5)
            let c = k.centroids.scalars
            // k-means++ spreads its seeds over the three clusters; random seeds may put two in one
            // cluster and stay there (Lloyd's local optimum), so only ++ must find the centres
            for centre in centres where seeding == .plusPlus {
                let closest = (0..<3).map { a in (0..<4).map { abs(c[a * 4 + $0] - centre[$0]) }.max()! }.min()!
                #expect(closest < 0.1, "\(seeding): \(c)")
            }
            // assignments agree with a naive nearest-centre loop
            let assigned = k.assign(x)
            for i in 0..<180 {
                let naive = (0..<3).min { a, b in
                    (0..<4).reduce(Float(0)) { $0 + pow(rows[i * 4 + $1] - c[a * 4 + $1], 2) } < (0..<4).reduce(Float(0)) { $0 + pow(rows[i * 4 + $1] - c[b * 4 + $1], 2) }
                }!
                #expect(assigned[i] == naive)
            }
        }
    }

    /// The first four mask photos' features (300 each at 320 px) and a query: photo 1 smaller.
    func fourPhotos() throws -> (store: LocalFeatureStore, query: LocalFeatures) {
        let folder = sharedData.appendingPathComponent("mask-photos/coco2017-subset/images")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().prefix(4)
        var store = LocalFeatureStore(options: .init(maximumCount: 300, maximumSide: 320))
        for name in names {
            let image = try Image(contentsOf: folder.appendingPathComponent(name))
            store.append(image.localFeatures(store.options), side: Float(max(image.width, image.height)))
        }
        let query = try Image(contentsOf: folder.appendingPathComponent(names[1])).resized(longerSide: 260).localFeatures(.init(maximumCount: 300))
        return (store, query)
    }

    @Test func listsProbedExhaustivelyMatchLikeTheFullScan() throws {
        let (store, query) = try fourPhotos()
        let exhaustive = store.matches(of: query, excluding: 3)
        var listed = store
        listed.buildLists(count: 12)
        #expect(listed.lists?.count == store.featureCount)
        listed.probes = 12  // every list: the same nearest neighbours as the full scan
        #expect(listed.matches(of: query, excluding: 3) == exhaustive)
        #expect(exhaustive[1, default: []].count > 20 && exhaustive[3] == nil)
        // fewer lists probed: a subset of the candidates, most true matches kept
        listed.probes = 3
        let probed = listed.matches(of: query, excluding: 3)
        #expect(probed[1, default: []].count > exhaustive[1]!.count / 2)
        // features appended after the lists were built join them
        let before = listed.featureCount
        listed.append(query, side: 260)
        #expect(listed.lists?.count == before + query.count)
    }

    /// Shortlist votes and per-image ratio matches against a naive computation over the bytes.
    @Test func shortlistVotesAndWithinImageMatchesAgreeWithNaiveOnes() throws {
        let (store, query) = try fourPhotos()
        let q = query.descriptors.scalars, d = store.descriptors.map { Float($0) / 255 }
        func sim(_ i: Int, _ row: Int) -> Float { (0..<128).reduce(Float(0)) { $0 + q[i * 128 + $1] * d[row * 128 + $1] } }
        let owner = store.ranges.enumerated().flatMap { image, range in range.map { _ in image } }
        // votes: each feature once for each image among its 10 nearest rows, image 3 left out
        var naiveVotes = [Int](repeating: 0, count: 4)
        let sims = (0..<query.count).map { i in (0..<store.featureCount).map { sim(i, $0) } }
        for i in 0..<query.count {
            let nearest = (0..<store.featureCount).filter { owner[$0] != 3 }.sorted { sims[i][$0] > sims[i][$1] }.prefix(10)
            for image in Set(nearest.map { owner[$0] }) { naiveVotes[image] += 1 }
        }
        var listed = store
        listed.buildLists(count: 8)
        listed.probes = 8
        for s in [store, listed] {
            let ranked = s.candidates(for: query, excluding: 3, neighbours: 10, count: 4)
            #expect(ranked.first == 1 && !ranked.contains(3))
            #expect(ranked.count == naiveVotes.filter { $0 > 0 }.count - (naiveVotes[3] > 0 ? 1 : 0))
            #expect(zip(ranked, ranked.dropFirst()).allSatisfy { naiveVotes[$0] + 2 >= naiveVotes[$1] })
        }
        // within one image: the nearest of its rows, Lowe's ratio against its second nearest
        for image in 0..<4 {
            let range = store.ranges[image]
            var naive = Set<Int>()
            for i in 0..<query.count {
                let order = range.sorted { sims[i][$0] > sims[i][$1] }
                guard order.count >= 2 else { continue }
                let (d1, d2) = (max(0, 2 - 2 * sims[i][order[0]]), max(0, 2 - 2 * sims[i][order[1]]))
                if d1 < 0.85 * 0.85 * d2 { naive.insert(i * 10_000 + order[0] - range.lowerBound) }
            }
            let within = Set(store.matches(of: query, in: image, ratio: 0.85).map { $0.query * 10_000 + $0.database })
            #expect(within.symmetricDifference(naive).count <= max(1, naive.count / 100), "image \(image)")
            // the collection-wide matches in this image are among them
            let wide = Set(store.matches(of: query, ratio: 0.85)[image, default: []].map { $0.query * 10_000 + $0.database })
            #expect(wide.isSubset(of: within))
        }
        #expect(store.matches(of: query, in: 1, ratio: 0.85).count > 40)
        // a shortlist verifies at least as much as the collection-wide matches alone
        let plain = try #require(store.verify(query, ratio: 0.85).first)
        let listedFirst = try #require(store.verify(query, ratio: 0.85, shortlist: 2).first)
        #expect(plain.image == 1 && listedFirst.image == 1 && listedFirst.inliers >= plain.inliers)
    }

    @Test func objectIndexKeepsItsLocalFeaturesInItsFile() throws {
        let folder = sharedData.appendingPathComponent("mask-photos/coco2017-subset/images")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().prefix(2)
        var index = try ObjectIndex(recipe: objectRecipe(4))
        try index.keepLocalFeatures(.init(maximumCount: 100, maximumSide: 256))
        let vector = Tensor(shape: [1, 4], scalars: [1, 0, 0, 0])
        let whole = [ObjectRegion(kind: .image, box: BoundingBox(x0: 0, y0: 0, x1: 10, y1: 10))]
        #expect(throws: IndexError.self) { try index.add(vector, regions: whole, path: "/a.jpg") }   // features missing
        for name in names {
            let image = try Image(contentsOf: folder.appendingPathComponent(name))
            try index.add(vector, regions: whole, path: folder.appendingPathComponent(name).path,
                          localFeatures: image.localFeatures(.init(maximumCount: 100, maximumSide: 256)), side: Float(max(image.width, image.height)))
        }
        #expect(throws: IndexError.self) { try index.keepLocalFeatures(.init()) }   // not while it holds images
        index.buildLocalFeatureLists()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-local-\(UUID().uuidString).objects")
        defer { try? FileManager.default.removeItem(at: url) }
        try index.write(to: url)
        let back = try ObjectIndex(contentsOf: url)
        let (a, b) = (try #require(index.localFeatures), try #require(back.localFeatures))
        #expect(a.keypoints == b.keypoints && a.descriptors == b.descriptors && a.ranges == b.ranges && a.sides == b.sides)
        #expect(a.options == b.options && a.lists?.assignment == b.lists?.assignment)
        #expect(a.lists?.quantizer.centroids == b.lists?.quantizer.centroids)
        // a file whose parts disagree is refused, naming the local features (each edited file is
        // written with fresh checksums, so that the checks behind them are the ones tested)
        let file = try SafetensorsFile(contentsOf: url)
        var metadata = file.metadata
        metadata.removeValue(forKey: SafetensorsFile.checksumKey)
        var (tensors, bytes) = try file.sections()
        tensors["local.counts"] = Tensor(shape: [2], scalars: [1, 1])
        try SafetensorsFile.write(tensors, bytes: bytes, metadata: metadata, checksums: true, to: url)
        #expect { try ObjectIndex(contentsOf: url) } throws: { error in
            guard case let IndexError.malformed(_, why) = error else { return false }
            return why.contains("local features")
        }
        tensors["local.counts"] = try file.tensor(named: "local.counts")
        tensors["local.lists"] = Tensor(shape: [a.featureCount], scalars: [Float](repeating: 1e6, count: a.featureCount))
        try SafetensorsFile.write(tensors, bytes: bytes, metadata: metadata, checksums: true, to: url)
        #expect(throws: IndexError.self) { try ObjectIndex(contentsOf: url) }
        // settings that would allocate without bound (an edited file) are refused, not obeyed
        tensors["local.lists"] = try file.tensor(named: "local.lists")
        var edited = metadata
        edited["local-features"] = #"{"maximumCount": 1000000000000, "maximumSide": 640, "upsample": true, "contrast": 0.01}"#
        try SafetensorsFile.write(tensors, bytes: bytes, metadata: edited, checksums: true, to: url)
        #expect { try ObjectIndex(contentsOf: url) } throws: { error in
            guard case let IndexError.malformed(_, why) = error else { return false }
            return why.contains("feature count")
        }
        var fresh = try ObjectIndex(recipe: objectRecipe(4))
        #expect(throws: IndexError.self) { try fresh.keepLocalFeatures(.init(maximumCount: 0)) }
        #expect(try Image(contentsOf: folder.appendingPathComponent(names[0])).localFeatures(.init(maximumSide: 0)).count == 0)
    }
}

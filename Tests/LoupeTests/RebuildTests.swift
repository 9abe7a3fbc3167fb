import Foundation
import Loupe
import Testing

/// An index rebuilds the embedder that made its vectors from its recipe alone: for every mode,
/// the index is written, read back, its embedder made from the recipe with a fresh weight store,
/// and the rebuilt embedder's vectors and search results are the original's, bit for bit.
@Suite(.serialized) struct RebuildTests {
    let store = WeightStore(folders: [root.appendingPathComponent(".cache/models"), yoloxWeights.deletingLastPathComponent()])
    let gallery = ["dog", "eagle", "giraffe", "horses"].map { darknet.appendingPathComponent("\($0).jpg") }
    let query = darknet.appendingPathComponent("person.jpg")

    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rebuild-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    @Test func globalIndexRebuildsItsEmbedder() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let backbone = try store.backbone(.classifier(.mobileNetV2))
        // whitened, so that the whitening travelling with the index is exercised too
        let plain = try GlobalEmbedder(backbone: backbone, maxSize: 320)
        let training = embed(gallery + [query], with: plain).vectors
        let whitening = try Whitening.pca(fitting: training, dimension: 4, recipe: plain.recipe.json)
        let original = try GlobalEmbedder(backbone: backbone, maxSize: 320, whitening: whitening)
        var index = FlatIndex(for: original)
        let report = try index.add(gallery, with: original)
        #expect(report.indexed == 4 && report.skipped.isEmpty)
        let url = folder.appendingPathComponent("g.index")
        try index.write(to: url)

        let reopened = try FlatIndex(contentsOf: url)
        let rebuilt = try reopened.makeEmbedder(weights: store)
        #expect(rebuilt.recipe == original.recipe)
        let image = try Image(contentsOf: query)
        let (a, b) = (try original.embedding(of: image), try rebuilt.embedding(of: image))
        #expect(a.scalars == b.scalars)
        #expect(try index.search(a, k: 4) == reopened.search(b, k: 4, recipe: rebuilt.recipe))
        // without the whitening the recipe names, no embedder is made
        #expect(throws: EmbedderError.self) { try reopened.recipe.makeGlobalEmbedder(weights: store) }
    }

    /// A whitening file from before the typed recipe names its descriptors in the version-1 form:
    /// it is converted and checked like a new one.
    @Test func versionOneWhiteningIsChecked() throws {
        let backbone = try store.backbone(.classifier(.mobileNetV2))
        let training = try embed(gallery + [query], with: GlobalEmbedder(backbone: backbone, maxSize: 320)).vectors
        func v1(pooling: String) -> String {
            #"{"dimension":1280,"maxSize":320,"mode":"global","model":"mobilenet_v2","pooling":"\#(pooling)","scales":[1],"#
                + #""stage":"features.18","weightsChecksum":"\#(backbone.checksum)","whitening":"none"}"#
        }
        let fits = try Whitening.pca(fitting: training, dimension: 4, recipe: v1(pooling: "gem"))
        #expect(try GlobalEmbedder(backbone: backbone, maxSize: 320, whitening: fits).recipe.dimension == 4)
        let other = try Whitening.pca(fitting: training, dimension: 4, recipe: v1(pooling: "mac"))
        #expect(throws: EmbedderError.self) { try GlobalEmbedder(backbone: backbone, maxSize: 320, whitening: other) }
    }

    @Test(arguments: [ObjectMethod.hardAttention(.roiAlign(bins: 7)), .hardAttention(.cells), .cropTeacher(maxSize: 256)])
    func objectIndexRebuildsItsEmbedder(_ method: ObjectMethod) throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let global = try GlobalEmbedder(backbone: store.backbone(.classifier(.mobileNetV2)), maxSize: 320)
        let original = try ObjectEmbedder(embedder: global, detector: store.detector(.nano), proposal: RegionProposal(maximumObjects: 3),
                                          method: method, labels: store.detectorLabels(.nano))
        try expectRebuilt(original, folder: folder)
    }

    @Test func studentIndexRebuildsItsEmbedder() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let global = try GlobalEmbedder(backbone: store.backbone(.classifier(.mobileNetV2)), maxSize: 320)
        let teacher = try ObjectEmbedder(embedder: global, detector: nil, proposal: RegionProposal(maximumObjects: 3),
                                         method: .cropTeacher(maxSize: 256))
        // an untrained head is as good as a trained one for this: the file and recipe are what count
        let head = StudentHead(configuration: .init(inputChannels: 64, dimension: 1280), seed: 3)
        let headURL = folder.appendingPathComponent("heads/h.safetensors")
        try FileManager.default.createDirectory(at: headURL.deletingLastPathComponent(), withIntermediateDirectories: true)
        try head.write(to: headURL, metadata: ["teacher": teacher.recipe.json, "checksum": "h1",
                                               "proposal": String(decoding: try JSONEncoder().encode(teacher.proposal), as: UTF8.self)])
        let original = try StudentEmbedder(detector: store.detector(.nano), headFile: headURL, labels: store.detectorLabels(.nano))
        #expect(original.proposal == teacher.proposal)
        // the head is not in the store's folders: the index's note of where it was finds it
        try expectRebuilt(original, folder: folder, headLocation: headURL.path)
        // a head of that name with another checksum is refused, naming both
        try head.write(to: headURL, metadata: ["teacher": teacher.recipe.json, "checksum": "h2"])
        let index = try ObjectIndex(contentsOf: folder.appendingPathComponent("o.index"))
        #expect {
            try index.makeEmbedder(weights: store)
        } throws: { error in
            guard case let .weights(.checksumMismatch(name, expected, found)) = error as? EmbedderError else { return false }
            return name == "h.safetensors" && expected == "h1" && found.map(\.checksum) == ["h2"]
        }
    }

    func expectRebuilt(_ original: any RegionEmbedder, folder: URL, headLocation: String? = nil) throws {
        var index = ObjectIndex(for: original)
        index.studentHeadLocation = headLocation
        try index.add(gallery, with: original)
        let url = folder.appendingPathComponent("o.index")
        try index.write(to: url)
        let reopened = try ObjectIndex(contentsOf: url)
        #expect(reopened.recipe == original.recipe)
        let rebuilt = try reopened.makeEmbedder(weights: store)
        #expect(rebuilt.recipe == original.recipe && rebuilt.proposal == original.proposal)
        let image = try Image(contentsOf: query)
        let (a, b) = (try original.objects(in: image), try rebuilt.objects(in: image))
        #expect(a.regions == b.regions && a.vectors.scalars == b.vectors.scalars && a.regions.count == 4)
        let hits = try index.search(a.vectors, regions: a.regions, k: 4)
        #expect(try reopened.search(b.vectors, regions: b.regions, k: 4, recipe: rebuilt.recipe) == hits)
        // and the index's own vectors are what the rebuilt embedder makes of an indexed image
        let again = try rebuilt.objects(in: Image(contentsOf: gallery[1]))
        #expect(again.vectors.scalars == reopened.vectors(ofImage: 1).scalars)
    }

    /// A store names what it looked for and where; a wrong checksum is named with the file.
    @Test func missingOrDifferentWeightsAreTypedErrors() throws {
        let empty = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: empty) }
        #expect {
            try WeightStore(folders: [empty]).backbone(.classifier(.resnet50))
        } throws: { error in
            guard case let .notFound(names, searched) = error as? WeightStoreError else { return false }
            return names == ["resnet50.safetensors"] && searched == [empty]
        }
        #expect {
            try store.backbone(.classifier(.mobileNetV2), checksum: "sha256-of-something-else")
        } throws: { error in
            guard case let .checksumMismatch(_, expected, found) = error as? WeightStoreError else { return false }
            return expected == "sha256-of-something-else" && found.count == 1
        }
        // a file given for the name comes first; a damaged one is refused as unreadable
        let bad = empty.appendingPathComponent("broken.safetensors")
        try Data("not a safetensors file".utf8).write(to: bad)
        #expect {
            try WeightStore(paths: ["mobilenet_v2": bad], folders: []).backbone(.classifier(.mobileNetV2))
        } throws: { error in
            guard case let .unreadable(file, _) = error as? WeightStoreError else { return false }
            return file == bad
        }
        // the standard store looks in LOUPE_CACHE, then the XDG user cache
        let standard = WeightStore.standard(environment: ["LOUPE_CACHE": "/lc", "XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"])
        #expect(Array(standard.folders.prefix(2)).map(\.path) == ["/lc/models", "/xdg/loupe/models"])
        #expect(WeightStore.userCache(environment: ["HOME": "/home/u"]).path == "/home/u/.cache/loupe/models")
    }

    /// A folder is listed recursively and in order, symbolic links followed; unreadable files
    /// among readable ones are skipped and named, the others indexed.
    @Test func foldersIndexTheirReadableImages() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let fm = FileManager.default
        try fm.createDirectory(at: folder.appendingPathComponent("a/b"), withIntermediateDirectories: true)
        let other = try temporaryFolder()
        defer { try? fm.removeItem(at: other) }
        try fm.copyItem(at: gallery[0], to: folder.appendingPathComponent("a/b/dog.jpg"))
        try fm.copyItem(at: gallery[1], to: folder.appendingPathComponent("eagle.JPG"))
        try fm.copyItem(at: gallery[2], to: other.appendingPathComponent("giraffe.jpg"))
        try fm.createSymbolicLink(at: folder.appendingPathComponent("linked"), withDestinationURL: other)
        let jpeg = try Data(contentsOf: gallery[3])
        try jpeg.prefix(jpeg.count / 3).write(to: folder.appendingPathComponent("a/truncated.jpg"))
        try Data("hello".utf8).write(to: folder.appendingPathComponent("notes.png"))
        try Data("skip me".utf8).write(to: folder.appendingPathComponent("readme.txt"))
        let collection = try ImageCollection(folder)
        #expect(collection.files.map { $0.path.dropFirst(folder.path.count) } == ["/a/b/dog.jpg", "/a/truncated.jpg", "/eagle.JPG",
                                                                                    "/linked/giraffe.jpg", "/notes.png"])
        let embedder = try GlobalEmbedder(backbone: store.backbone(.classifier(.mobileNetV2)), maxSize: 128)
        var index = FlatIndex(for: embedder)
        let report = try index.add(collection.files, with: embedder)
        #expect(report.indexed == 3 && index.paths.map { URL(fileURLWithPath: $0).lastPathComponent } == ["dog.jpg", "eagle.JPG", "giraffe.jpg"])
        #expect(report.skipped.map(\.file.lastPathComponent) == ["truncated.jpg", "notes.png"])
        #expect(report.skipped.allSatisfy { "\($0.error)".contains($0.file.path) })
        // --strict: the first bad file ends the run; what came before is in, nothing after is tried
        var strict = FlatIndex(for: embedder)
        let stopped = try strict.add(collection.files, with: embedder, onBadFile: .stop)
        #expect(!stopped.complete && stopped.indexed == 1 && stopped.skipped.map(\.file.lastPathComponent) == ["truncated.jpg"])
        #expect(strict.count == 1)
        // a link loop is walked once
        try fm.createSymbolicLink(at: other.appendingPathComponent("back"), withDestinationURL: folder)
        #expect(try ImageCollection(folder).files.count == collection.files.count)
        #expect(throws: CollectionError.notFound(folder.appendingPathComponent("nope"))) { try ImageCollection(folder.appendingPathComponent("nope")) }
        let empty = try temporaryFolder()
        defer { try? fm.removeItem(at: empty) }
        #expect(throws: CollectionError.noImages(empty)) { try ImageCollection(empty) }
    }

    /// Evaluation under the skip policy: a database image that cannot be read is never retrieved
    /// (its relevant queries count it as missed), its own query is not scored, and it is reported;
    /// under `.stop` it throws, naming the file.
    @Test func evaluationSkipsUnreadableImagesAndSaysSo() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = folder.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for (i, file) in gallery.enumerated() { try FileManager.default.copyItem(at: file, to: images.appendingPathComponent("\(i).jpg")) }
        let jpeg = try Data(contentsOf: gallery[0])
        try jpeg.prefix(jpeg.count / 3).write(to: images.appendingPathComponent("bad.jpg"))
        // two classes: {0, bad} and {1, 2, 3}
        try "file,class_id\n0.jpg,a\nbad.jpg,a\n1.jpg,b\n2.jpg,b\n3.jpg,b\n".write(to: folder.appendingPathComponent("labels.csv"), atomically: true, encoding: .utf8)
        let dataset = try RetrievalDataset.labeled(folder)
        let embedder = try GlobalEmbedder(backbone: store.backbone(.classifier(.mobileNetV2)), maxSize: 128)
        let report = try evaluate(dataset, with: embedder)
        #expect(report.skipped.map(\.file.lastPathComponent) == ["bad.jpg"] && report.databaseImages == 4)
        #expect(report.overall.queries == 4)
        // query 0's only positive is the unreadable image: its AP is 0 (missed), not left out
        let vectors = embed([0, 2, 3, 4].map { dataset.database[$0] }, with: embedder).vectors
        let ranks = nearestNeighbors(of: vectors, in: vectors, k: 4)
        let apOfB: [Double] = (1..<4).map { (q: Int) -> Double in
            let ranking = ranks.results(forQuery: q).map(\.index).filter { $0 != q }
            let positives = Set<Int>(1..<4).subtracting([q])
            var found = 0, sum = 0.0
            for (r, i) in ranking.enumerated() where positives.contains(i) { found += 1; sum += Double(found) / Double(r + 1) }
            return sum / Double(positives.count)
        }
        #expect(abs(report.overall.meanAP - apOfB.reduce(0, +) / 4) < 1e-9)
        #expect(throws: SkippedFile.self) { try evaluate(dataset, with: embedder, onBadFile: .stop) }
    }
}

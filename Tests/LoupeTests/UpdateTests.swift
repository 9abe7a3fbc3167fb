import Foundation
import Loupe
import Testing

/// Updating an index from its folder: after files are added, changed, deleted and only touched,
/// the updated index is the one a fresh build of the folder makes — vectors, regions, local
/// features, stamps and the written file byte for byte — and only the new and changed files were
/// embedded.
@Suite(.serialized) struct UpdateTests {
    let store = WeightStore(folders: [root.appendingPathComponent(".cache/models"), yoloxWeights.deletingLastPathComponent()])

    /// A folder holding copies of darknet photos under the given names.
    func folder(_ files: [String: String]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("update-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, photo) in files { try put(photo, as: name, in: folder) }
        return folder
    }

    func put(_ photo: String, as name: String, in folder: URL) throws {
        let target = folder.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.copyItem(at: darknet.appendingPathComponent("\(photo).jpg"), to: target)
    }

    /// The folder's files after: one added, one replaced by another photo, one deleted, one
    /// touched (new time, same bytes).
    func change(_ folder: URL) throws {
        try put("kite", as: "e.jpg", in: folder)
        try put("scream", as: "b.jpg", in: folder)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("c.jpg"))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: folder.appendingPathComponent("d.jpg").path)
    }

    let start = ["a.jpg": "dog", "b.jpg": "eagle", "c.jpg": "giraffe", "d.jpg": "horses"]

    @Test func objectIndexWithLocalFeaturesUpdatesToTheFreshBuild() throws {
        let dir = try folder(start)
        defer { try? FileManager.default.removeItem(at: dir) }
        let global = try GlobalEmbedder(backbone: store.backbone(.classifier(.mobileNetV2)), maxSize: 256)
        let embedder = try ObjectEmbedder(embedder: global, detector: store.detector(.nano), proposal: RegionProposal(maximumObjects: 3),
                                          method: .hardAttention(.roiAlign(bins: 7)), labels: store.detectorLabels(.nano))
        func build() throws -> ObjectIndex {
            var index = ObjectIndex(for: embedder)
            index.root = dir
            try index.keepLocalFeatures(LocalFeatureOptions(maximumCount: 200, maximumSide: 256))
            try index.add(ImageCollection(dir).files, with: embedder)
            return index
        }
        var index = try build()
        #expect(index.stamps.allSatisfy { $0 != nil })
        try change(dir)
        let files = try ImageCollection(dir).files
        let changes = index.changes(comparedWith: files)
        #expect(changes.added.map(\.lastPathComponent) == ["e.jpg"] && changes.changed.map(\.lastPathComponent) == ["b.jpg"])
        #expect(changes.removed == [2] && Set(changes.unchanged.keys) == [0, 3])

        let report = try index.update(to: files, with: embedder)
        #expect(report.indexing.indexed == 2)  // only the new and the changed file were embedded
        let fresh = try build()
        #expect(index.paths == fresh.paths && index.regions == fresh.regions && index.rowRanges == fresh.rowRanges)
        #expect(index.vectors.scalars == fresh.vectors.scalars && index.stamps == fresh.stamps)
        #expect(index.localFeatures?.keypoints == fresh.localFeatures?.keypoints && index.localFeatures?.descriptors == fresh.localFeatures?.descriptors)
        #expect(index.localFeatures?.lists?.members == fresh.localFeatures?.lists?.members)
        // the kept images keep their ids, the changed and the added file get new ones
        #expect(index.ids == [0, 4, 3, 5] && index.nextID == 6 && fresh.ids == [0, 1, 2, 3])
        let (a, b) = (dir.appendingPathComponent("updated.objects"), dir.appendingPathComponent("fresh.objects"))
        try index.write(to: a)
        try fresh.write(to: b)
        // the files hold the same sections, byte for byte, but for the ids
        let (updatedFile, freshFile) = (try SafetensorsFile(contentsOf: a), try SafetensorsFile(contentsOf: b))
        var (updatedTensors, updatedBytes) = try updatedFile.sections()
        let (freshTensors, freshBytes) = try freshFile.sections()
        #expect(updatedBytes.removeValue(forKey: "ids") != nil && freshBytes["ids"] == nil)
        #expect(updatedBytes == freshBytes && updatedTensors.mapValues { $0.scalars.map(\.bitPattern) } == freshTensors.mapValues { $0.scalars.map(\.bitPattern) })
        let unchecked: Set<String> = [SafetensorsFile.checksumKey, "next-id"]
        #expect(updatedFile.metadata.filter { !unchecked.contains($0.key) } == freshFile.metadata.filter { !unchecked.contains($0.key) })
        // nothing to do the second time
        #expect(index.changes(comparedWith: files).isEmpty)

        // compacting an index with local features gives the index of the images left
        try index.remove(images: [1])
        try index.compact()
        var left = ObjectIndex(for: embedder)
        left.root = dir
        try left.keepLocalFeatures(LocalFeatureOptions(maximumCount: 200, maximumSide: 256))
        try left.add(files.filter { $0.lastPathComponent != "b.jpg" }, with: embedder)
        #expect(index.paths == left.paths && index.vectors.scalars == left.vectors.scalars && index.regions == left.regions)
        #expect(index.localFeatures?.keypoints == left.localFeatures?.keypoints && index.localFeatures?.sides == left.localFeatures?.sides)
    }

    @Test func quantizedFlatIndexKeepsItsTrainingAndStopsCleanly() throws {
        let dir = try folder(start)
        defer { try? FileManager.default.removeItem(at: dir) }
        let embedder = try GlobalEmbedder(backbone: store.backbone(.classifier(.mobileNetV2)), maxSize: 192)
        var index = FlatIndex(for: embedder)
        try index.add(ImageCollection(dir).files, with: embedder)
        try index.quantize(.ivfFlat(lists: 2))
        let centroids = try #require(index.quantized?.coarse?.centroids.scalars)
        try change(dir)
        let files = try ImageCollection(dir).files

        // a bad new file under --strict: the index stays as it was
        try Data("not a jpeg".utf8).write(to: dir.appendingPathComponent("0.jpg"))
        let before = index
        let stopped = try index.update(to: try ImageCollection(dir).files, with: embedder, onBadFile: .stop)
        #expect(!stopped.indexing.complete && index.paths == before.paths && index.vectors.scalars == before.vectors.scalars)
        // skipped by default: left out, the rest updated
        let skipped = try index.update(to: try ImageCollection(dir).files, with: embedder)
        #expect(skipped.indexing.skipped.map(\.file.lastPathComponent) == ["0.jpg"])
        #expect(index.paths == files.map(\.path))
        var fresh = FlatIndex(for: embedder)
        try fresh.add(files, with: embedder)
        #expect(index.vectors.scalars == fresh.vectors.scalars && index.stamps == fresh.stamps)
        // the quantizer keeps its training and holds every vector, each in its nearest list
        #expect(index.quantized?.coarse?.centroids.scalars == centroids && index.quantized?.liveCount == 4)
        let top = try index.search(fresh.vectors, k: 1)
        #expect(top.map { $0[0].image } == [0, 1, 2, 3])
    }

    @Test func stampsTellChangedFromTouched() throws {
        let dir = try folder(["a.jpg": "dog"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.jpg")
        let stamp = try #require(FileStamp(of: url))
        #expect(stamp.size == Int64(try Data(contentsOf: url).count) && stamp.matches(url))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 30)], ofItemAtPath: url.path)
        #expect(stamp.matches(url))  // touched: the same bytes
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count / 2] ^= 1
        try bytes.write(to: url)
        #expect(!stamp.matches(url))  // one bit changed, same size
        #expect(FileStamp(of: dir.appendingPathComponent("missing.jpg")) == nil)
        // the 64-bit hash survives JSON (as hex digits)
        let high = FileStamp(size: 1, modified: 2, hash: 0xFEDC_BA98_7654_3210)
        #expect(try JSONDecoder().decode(FileStamp.self, from: JSONEncoder().encode(high)) == high)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(FileStamp.self, from: Data(#"{"size":1,"modified":2,"hash":"12"}"#.utf8)) }
    }
}

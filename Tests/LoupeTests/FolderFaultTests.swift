import Foundation
import Loupe
import Testing

/// A folder being indexed that holds what is not a photo under a photo's name, files that vanish
/// or shrink after the folder was listed, and photos of pathological sizes: every bad one is
/// skipped with its reason, nothing waits on a pipe or reads a device without end, and the good
/// ones (1×1 and 1×100,000 included) are embedded.
@Suite(.serialized) struct FolderFaultTests {
    let store = WeightStore(folders: [root.appendingPathComponent(".cache/models"), yoloxWeights.deletingLastPathComponent()])

    @Test(.timeLimit(.minutes(2))) func badFilesAreSkippedWithTheirReasonAndTheRestIndexed() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        func put(_ name: String) -> URL { dir.appendingPathComponent(name) }
        try fm.copyItem(at: darknet.appendingPathComponent("dog.jpg"), to: put("a-dog.jpg"))
        try Image(width: 1, height: 1, color: RGB(200, 10, 10)).writePNG(to: put("b-one-pixel.png"))
        try Image(width: 1, height: 100_000, color: RGB(20, 100, 10)).writePNG(to: put("c-tall.png"))
        try Image(width: 100_000, height: 1, color: RGB(20, 10, 100)).writePNG(to: put("d-wide.png"))
        #expect(mkfifo(put("e-pipe.jpg").path, 0o644) == 0)  // opening it for reading would wait for a writer
        try fm.createSymbolicLink(at: put("f-zero.jpg"), withDestinationURL: URL(fileURLWithPath: "/dev/zero"))  // endless
        try Data().write(to: put("g-empty.png"))
        // a PNG header claiming 65535 × 65535 pixels
        var huge = try Image(width: 4, height: 4, color: RGB(1, 2, 3)).pngData()
        func put(_ value: UInt32, at: Int) { for i in 0..<4 { huge[at + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(i))) } }
        put(65_535, at: 16)
        put(65_535, at: 20)
        put(Self.crc32(huge[12..<29]), at: 29)  // the IHDR chunk's CRC made to match
        try huge.write(to: put("h-huge.png"))
        try fm.copyItem(at: darknet.appendingPathComponent("eagle.jpg"), to: put("i-vanishes.jpg"))
        let photo = try Data(contentsOf: darknet.appendingPathComponent("horses.jpg"))
        try photo.write(to: put("j-shrinks.jpg"))
        let files = try ImageCollection(dir).files
        #expect(files.count == 10)
        // after listing: one file deleted, one cut to a tenth
        try fm.removeItem(at: put("i-vanishes.jpg"))
        try photo.prefix(photo.count / 10).write(to: put("j-shrinks.jpg"))

        let embedder = try GlobalEmbedder(backbone: store.backbone(.classifier(.mobileNetV2)), maxSize: 256)
        var index = FlatIndex(for: embedder)
        let report = try index.add(files, with: embedder)
        #expect(index.paths.map { URL(fileURLWithPath: $0).lastPathComponent } == ["a-dog.jpg", "b-one-pixel.png", "c-tall.png", "d-wide.png"])
        let reasons = Dictionary(uniqueKeysWithValues: report.skipped.map { ($0.file.lastPathComponent, "\($0)") })
        #expect(Set(reasons.keys) == ["e-pipe.jpg", "f-zero.jpg", "g-empty.png", "h-huge.png", "i-vanishes.jpg", "j-shrinks.jpg"])
        #expect(reasons["e-pipe.jpg"]?.contains("not a regular file") == true && reasons["f-zero.jpg"]?.contains("not a regular file") == true)
        #expect(reasons["i-vanishes.jpg"]?.contains("no such file") == true)
        #expect(reasons["h-huge.png"]?.contains("65535") == true)
        for (name, reason) in reasons { #expect(reason.contains(name), "\(name): \(reason)") }
        // the vectors of the odd sizes are unit vectors, and a search finds each one first
        let hits = try index.search(index.vectors, k: 1)
        #expect(hits.map { $0[0].image } == [0, 1, 2, 3])

        // the same through the object embedder (the detector sees a 1 × 256 image too)
        let objects = try ObjectEmbedder(embedder: embedder, detector: store.detector(.nano), proposal: RegionProposal(maximumObjects: 3),
                                         method: .hardAttention(.roiAlign(bins: 7)), labels: store.detectorLabels(.nano))
        var objectIndex = ObjectIndex(for: objects)
        let objectReport = try objectIndex.add(files, with: objects)
        #expect(objectIndex.count == 4 && objectReport.skipped.count == 6)
    }

    /// PNG's CRC-32 (bitwise).
    static func crc32(_ bytes: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    @Test func aFileOverTheByteLimitIsRefusedBeforeItIsRead() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: url) }
        try Image(width: 64, height: 64, color: RGB(9, 9, 9)).writePNG(to: url)
        let size = try Data(contentsOf: url).count
        #expect(throws: ImageError.unreadable(path: url.path, reason: "the file has \(size) bytes, more than the 100 allowed")) {
            try Image(contentsOf: url, options: ImageDecodingOptions(maximumFileBytes: 100))
        }
        #expect(try Image(contentsOf: url).width == 64)
    }
}

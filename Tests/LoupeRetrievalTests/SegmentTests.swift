import Foundation
import LoupeRetrieval
import LoupeTensor
import Testing

/// Indexes kept as segment folders: a write after a change adds a segment of only the change,
/// and the folder read back is the index in memory; compaction leaves one segment; a damaged,
/// missing or swapped segment and a damaged manifest are refused by name; a second writer is
/// refused while the first holds the folder.
@Suite struct SegmentTests {
    let fm = FileManager.default

    func temporaryFolder() throws -> URL {
        let url = fm.temporaryDirectory.appendingPathComponent("segments-\(UUID().uuidString)")
        try fm.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func unit(_ n: Int, _ d: Int, seed: UInt64) -> Tensor { Tensor(randomUniform: [n, d], seed: seed).l2NormalizedRows() }

    func segmentFiles(_ folder: URL) throws -> [String] {
        try fm.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("segment-") }.sorted()
    }

    /// Searches and stored state of two flat indexes agree.
    func expectSame(_ a: FlatIndex, _ b: FlatIndex, queries: Tensor) throws {
        #expect(a.count == b.count && a.paths == b.paths && a.removed == b.removed && a.vectors.scalars == b.vectors.scalars)
        #expect(try a.search(queries, k: 7) == b.search(queries, k: 7))
    }

    @Test func flatIndexAddsSegmentsOfItsChangesAndCompactsToOne() throws {
        let dir = try temporaryFolder()
        defer { try? fm.removeItem(at: dir) }
        let url = dir.appendingPathComponent("photos.index")
        var index = try FlatIndex(recipe: recipe(16))
        try index.add(unit(300, 16, seed: 1), paths: (0..<300).map { "/p/\($0).jpg" })
        try index.write(to: url, layout: .segments)
        #expect(IndexLayout(at: url) == .segments)
        #expect(try segmentFiles(url) == ["segment-1.safetensors"])
        let queries = unit(5, 16, seed: 9)

        // read back, add and remove, write: a second segment holds only the 20 new rows
        var opened = try FlatIndex(contentsOf: url, verification: .onAccess)
        try expectSame(opened, index, queries: queries)
        try opened.add(unit(20, 16, seed: 2), paths: (300..<320).map { "/p/\($0).jpg" })
        try opened.remove(images: [3, 150, 310])
        try opened.write(to: url)
        let segments = try IndexLayout.segments(of: url)
        #expect(segments.map(\.images) == [300, 20] && segments.map(\.removes) == [0, 3] && segments[1].firstImage == 300)
        #expect(segments[1].bytes < segments[0].bytes / 8)
        let again = try FlatIndex(contentsOf: url)
        try expectSame(again, opened, queries: queries)
        #expect(try again.search(queries, k: 320).allSatisfy { hits in hits.allSatisfy { ![3, 150, 310].contains($0.image) } })

        // nothing changed: nothing written
        try again.write(to: url)
        #expect(try segmentFiles(url).count == 2)

        // an index not read from this folder (or changed since it was read) is written whole
        var compacted = again
        try compacted.compact()
        try compacted.write(to: url)
        #expect(try segmentFiles(url) == ["segment-3.safetensors"])
        let one = try FlatIndex(contentsOf: url)
        try expectSame(one, compacted, queries: queries)
        #expect(one.count == 317 && one.removed.isEmpty)

        // a stale copy (read before the compaction) writes itself whole, not a delta on the wrong base
        var stale = again
        try stale.add(unit(1, 16, seed: 3), paths: ["/p/late.jpg"])
        try stale.write(to: url)
        #expect(try IndexLayout.segments(of: url).count == 1)
        try expectSame(try FlatIndex(contentsOf: url), stale, queries: queries)
        #expect(!fm.fileExists(atPath: dir.appendingPathComponent("photos.index/segment-1.safetensors").path))
    }

    @Test func quantizedObjectIndexWithItsRegionsRoundTripsThroughSegments() throws {
        let dir = try temporaryFolder()
        defer { try? fm.removeItem(at: dir) }
        let url = dir.appendingPathComponent("objects.index")
        func image(_ i: Int) -> (vectors: Tensor, regions: [ObjectRegion], path: String) {
            let r = 1 + i % 3
            let regions: [ObjectRegion] = (0..<r).map { (j: Int) -> ObjectRegion in
                let box = BoundingBox(x0: Float(j), y0: 0, x1: Float(10 + j), y1: 9)
                return j == 0 ? ObjectRegion(kind: .image, box: box) : ObjectRegion(kind: .detected, box: box, score: 0.5, label: "cat")
            }
            return (unit(r, 16, seed: UInt64(100 + i)), regions, "/o/\(i).jpg")
        }
        var index = try ObjectIndex(recipe: objectRecipe(16))
        try index.add((0..<120).map(image))
        try index.quantize(.ivfFlat(lists: 4))
        try index.write(to: url, layout: .segments)
        var opened = try ObjectIndex(contentsOf: url)
        try opened.add((120..<130).map(image))
        try opened.remove(images: [0, 125])
        try opened.write(to: url)
        #expect(try IndexLayout.segments(of: url).map(\.images) == [120, 10])
        let back = try ObjectIndex(contentsOf: url)
        #expect(back.paths == opened.paths && back.regions == opened.regions && back.rowRanges == opened.rowRanges && back.removed == [0, 125])
        #expect(back.vectors.scalars == opened.vectors.scalars && back.quantized?.description == "IVF4,Flat")
        #expect(back.quantized?.liveCount == opened.quantized?.liveCount)
        let query = image(7)
        let search = QuantizedSearch(probe: 4, refine: 0)
        let a = try back.search(query.vectors, regions: query.regions, k: 10, options: ObjectSearchOptions(quantized: search))
        let b = try opened.search(query.vectors, regions: query.regions, k: 10, options: ObjectSearchOptions(quantized: search))
        #expect(a == b && a.first?.path == "/o/7.jpg")
    }

    @Test func damagedMissingOrSwappedSegmentsAndManifestsAreRefusedByName() throws {
        let dir = try temporaryFolder()
        defer { try? fm.removeItem(at: dir) }
        let url = dir.appendingPathComponent("i.index")
        var index = try FlatIndex(recipe: recipe(8))
        try index.add(unit(50, 8, seed: 4), paths: (0..<50).map { "/p/\($0).jpg" })
        try index.write(to: url, layout: .segments)
        var opened = try FlatIndex(contentsOf: url)
        try opened.add(unit(5, 8, seed: 5), paths: (50..<55).map { "/p/\($0).jpg" })
        try opened.write(to: url)
        let manifest = url.appendingPathComponent("manifest.json"), second = url.appendingPathComponent("segment-2.safetensors")
        let (goodManifest, goodSecond) = (try Data(contentsOf: manifest), try Data(contentsOf: second))
        func restore() throws {
            try goodManifest.write(to: manifest)
            try goodSecond.write(to: second)
        }

        // a byte of the delta segment's vectors flipped: refused, naming the segment file and section
        var bytes = goodSecond
        bytes[bytes.count - 30] ^= 0x10
        try bytes.write(to: second)
        #expect { try FlatIndex(contentsOf: url) } throws: { error in
            guard case let .damaged(at, _) = error as? IndexError else { return false }
            return at.lastPathComponent == "segment-2.safetensors"
        }
        // cut short
        try goodSecond.prefix(goodSecond.count - 100).write(to: second)
        #expect { try FlatIndex(contentsOf: url) } throws: { error in
            guard case let .malformed(at, why) = error as? IndexError else { return false }
            return at.lastPathComponent == "segment-2.safetensors" && why.contains("cut short")
        }
        // missing
        try fm.removeItem(at: second)
        #expect { try FlatIndex(contentsOf: url) } throws: { error in
            guard case let .unreadable(at, _) = error as? IndexError else { return false }
            return at.lastPathComponent == "segment-2.safetensors"
        }
        // a segment of another index put in its place (same size, valid on its own)
        try restore()
        var other = try FlatIndex(recipe: recipe(8))
        try other.add(unit(50, 8, seed: 6), paths: (0..<50).map { "/q/\($0).jpg" })
        let elsewhere = dir.appendingPathComponent("other.index")
        try other.write(to: elsewhere, layout: .segments)
        other = try FlatIndex(contentsOf: elsewhere)
        try other.add(unit(5, 8, seed: 6), paths: (50..<55).map { "/q/\($0).jpg" })
        try other.write(to: elsewhere)
        try fm.removeItem(at: second)
        try fm.copyItem(at: elsewhere.appendingPathComponent("segment-2.safetensors"), to: second)
        #expect(try Data(contentsOf: second).count == goodSecond.count)
        #expect { try FlatIndex(contentsOf: url) } throws: { error in
            guard case let .malformed(at, _) = error as? IndexError else { return false }
            return at.lastPathComponent == "segment-2.safetensors"
        }
        // the manifest edited (one digit of a count) or cut short: damaged, naming the manifest
        try restore()
        let text = String(decoding: goodManifest, as: UTF8.self)
        try Data(text.replacingOccurrences(of: "\"images\" : 5", with: "\"images\" : 4").utf8).write(to: manifest)
        #expect(throws: IndexError.damaged(url, section: "manifest.json")) { try FlatIndex(contentsOf: url) }
        try goodManifest.prefix(40).write(to: manifest)
        #expect(throws: IndexError.damaged(url, section: "manifest.json")) { try FlatIndex(contentsOf: url) }
        try restore()
        #expect(try FlatIndex(contentsOf: url).count == 55)
        // an object index cannot be read from a flat one's folder, nor a file written over the folder
        #expect(throws: IndexError.wrongFormat(url, format: "loupe-flat-index")) { try ObjectIndex(contentsOf: url) }
        #expect(throws: IndexError.self) { try opened.write(to: url, layout: .file) }
        #expect(throws: IndexError.self) { try opened.write(to: dir.appendingPathComponent("x").appendingPathComponent("y"), layout: .segments) }
    }

    /// The folder's lock: a write while another process holds it is refused with ``IndexError/busy(_:)``
    /// and changes nothing.
    @Test func aSecondWriterIsRefusedWhileTheFirstHoldsTheFolder() throws {
        let dir = try temporaryFolder()
        defer { try? fm.removeItem(at: dir) }
        let url = dir.appendingPathComponent("i.index")
        var index = try FlatIndex(recipe: recipe(8))
        try index.add(unit(10, 8, seed: 7), paths: (0..<10).map { "/p/\($0).jpg" })
        try index.write(to: url, layout: .segments)
        let before = try Data(contentsOf: url.appendingPathComponent("manifest.json"))
        // flock locks belong to the open file description: one opened here conflicts with the writer's
        let fd = open(url.appendingPathComponent(".lock").path, O_RDWR)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        try index.add(unit(1, 8, seed: 8), paths: ["/p/x.jpg"])
        #expect(throws: IndexError.busy(url)) { try index.write(to: url) }
        #expect(try Data(contentsOf: url.appendingPathComponent("manifest.json")) == before)
        flock(fd, LOCK_UN)
        close(fd)
        try index.write(to: url)
        #expect(try FlatIndex(contentsOf: url).count == 11)
    }

    /// Ids are given once and kept: through removal and compaction (where positions are
    /// renumbered), through files and segments, and into hits; an id given twice in a file is refused.
    @Test func idsStayWithTheirImagesThroughCompactionFilesAndSegments() throws {
        let dir = try temporaryFolder()
        defer { try? fm.removeItem(at: dir) }
        let vectors = unit(10, 8, seed: 11)
        var index = try FlatIndex(recipe: recipe(8))
        try index.add(vectors, paths: (0..<10).map { "/p/\($0).jpg" })
        #expect(index.ids == Array(0..<10) && index.nextID == 10)
        try index.remove(images: [2, 5])
        try index.compact()
        #expect(index.ids == [0, 1, 3, 4, 6, 7, 8, 9] && index.nextID == 10)
        // the vector of the image first added sixth is found at position 4, with its id 6
        let hit = try #require(try index.search(vectors.sliced(along: 0, 6..<7), k: 1).first?.first)
        #expect(hit.image == 4 && hit.id == 6 && hit.path == "/p/6.jpg")
        try index.add(unit(1, 8, seed: 12), paths: ["/p/new.jpg"])
        #expect(index.ids.last == 10 && index.nextID == 11)
        #expect(index.images(withIDs: [10, 6, 2]) == [8, 4, nil])
        try index.remove(ids: [7])
        #expect(index.removed == [5])
        #expect(throws: IndexError.unknownID(2)) { try index.remove(ids: [2]) }

        // a file and a segment folder keep them; a segment written after more adds keeps counting
        let file = dir.appendingPathComponent("i.index"), folder = dir.appendingPathComponent("s.index")
        try index.write(to: file)
        let back = try FlatIndex(contentsOf: file)
        #expect(back.ids == index.ids && back.nextID == 11 && back.removed == [5])
        try index.write(to: folder, layout: .segments)
        var opened = try FlatIndex(contentsOf: folder)
        try opened.add(unit(2, 8, seed: 13), paths: ["/p/x.jpg", "/p/y.jpg"])
        try opened.write(to: folder)
        var reopened = try FlatIndex(contentsOf: folder)
        #expect(reopened.ids == index.ids + [11, 12] && reopened.nextID == 13)
        try reopened.compact()
        #expect(reopened.ids == [0, 1, 3, 4, 6, 8, 9, 10, 11, 12])

        // object hits carry the id too
        var objects = try ObjectIndex(recipe: objectRecipe(8))
        let box = BoundingBox(x0: 0, y0: 0, x1: 4, y1: 4)
        try objects.add((0..<4).map { (vectors.sliced(along: 0, $0..<($0 + 1)), [ObjectRegion(kind: .image, box: box)], "/o/\($0).jpg") })
        try objects.remove(images: [0])
        try objects.compact()
        let found = try objects.search(vectors.sliced(along: 0, 2..<3), regions: [ObjectRegion(kind: .image, box: box)], k: 1)
        #expect(found.first?.image == 1 && found.first?.id == 2 && objects.ids == [1, 2, 3])

        // an id given twice (the file's checksums made again to match) is malformed
        let source = try SafetensorsFile(contentsOf: file)
        let (tensors, sectionBytes) = try source.sections()
        var bytes = sectionBytes
        var ids = try #require(bytes["ids"])
        ids.values.replaceSubrange(8..<16, with: ids.values[0..<8])
        bytes["ids"] = ids
        var metadata = source.metadata
        metadata[SafetensorsFile.checksumKey] = nil
        let bad = dir.appendingPathComponent("bad.index")
        try SafetensorsFile.write(tensors, bytes: bytes, metadata: metadata, checksums: true, to: bad)
        #expect(throws: IndexError.malformed(bad, "an id is given twice or is not below next-id 11")) { try FlatIndex(contentsOf: bad) }
        // a next-id far beyond the images is read without a bitmap that large, and still checked
        for (next, good) in [(1 << 39, true), (1 << 40, false)] {
            metadata["next-id"] = String(next)
            bytes["ids"] = sectionBytes["ids"]
            try SafetensorsFile.write(tensors, bytes: bytes, metadata: metadata, checksums: true, to: bad)
            if good { #expect(try FlatIndex(contentsOf: bad).nextID == next) } else { #expect(throws: IndexError.self) { try FlatIndex(contentsOf: bad) } }
        }
    }

    /// An index whose vectors sit in several chunks (grown by adds) is written block by block, not
    /// copied into one tensor first: the file is byte for byte the one its reopened copy (one
    /// mapped block) writes, and its checksums, chained over the blocks, verify.
    @Test func aGrownIndexIsWrittenBlockByBlock() throws {
        let dir = try temporaryFolder()
        defer { try? fm.removeItem(at: dir) }
        var index = try FlatIndex(recipe: recipe(1280))
        try index.add(unit(3000, 1280, seed: 21), paths: (0..<3000).map { "/p/\($0).jpg" })
        try index.add(unit(1000, 1280, seed: 22), paths: (3000..<4000).map { "/p/\($0).jpg" })
        let (a, b) = (dir.appendingPathComponent("grown.index"), dir.appendingPathComponent("again.index"))
        try index.write(to: a)
        let back = try FlatIndex(contentsOf: a)
        #expect(back.vectors.scalars == index.vectors.scalars)
        try back.write(to: b)
        #expect(try Data(contentsOf: a) == Data(contentsOf: b))
    }
}

public import Foundation
internal import LoupeTensor

/// How an index is kept on disk.
public enum IndexLayout: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// One safetensors file. Every write replaces it whole: a temporary file is written, flushed
    /// and renamed into place.
    case file
    /// A folder holding segment files and a manifest (`manifest.json`) that names them. A write of
    /// an index opened from the folder adds one segment holding only what changed since: the
    /// images added and the images removed. Then it replaces the manifest atomically. A
    /// compaction, a new quantizer or an index from elsewhere is written as one new segment, and
    /// the old segments are deleted after the new manifest is in place. A writer killed at any
    /// point leaves the previous manifest and its segments, so the previous index stays readable.
    case segments

    public var description: String { rawValue }
}

/// The manifest of a segmented index folder: which segment files make the index, in order.
struct SegmentManifest: Codable, Equatable, Sendable {
    struct Segment: Codable, Equatable, Sendable {
        /// The file's name in the folder.
        var file: String
        /// Written into the segment's own metadata too: a segment file swapped for another is refused.
        var id: String
        /// The index's image number of the segment's first image.
        var firstImage: Int
        var images: Int
        var bytes: Int

        enum CodingKeys: String, CodingKey {
            case file, id, images, bytes
            case firstImage = "first-image"
        }
    }

    static let format = "loupe-index-manifest"
    static let fileName = "manifest.json"

    var format = Self.format
    var version = 1
    /// The index's own format (`loupe-flat-index` or `loupe-object-index`).
    var index: String
    /// Bumped by every write; names the next segment file.
    var generation: Int
    var segments: [Segment]
    /// CRC-32C of the manifest encoded without this field, as 8 hex digits.
    var checksum: String?

    /// The manifest's bytes: sorted keys, so that the checksum can be made again on reading.
    func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }

    func sealed() -> SegmentManifest {
        var copy = self
        copy.checksum = nil
        let crc = copy.encoded().withUnsafeBytes { SafetensorsFile.crc32c(of: $0) }
        copy.checksum = String(format: "%08x", crc)
        return copy
    }
}

/// What of an index value is stored in a segment folder: set when the index was opened from the
/// folder, so that a later write there adds only what changed. A change that renumbers or
/// retrains the index (compaction, quantization, an update assembled afresh) drops it, and the
/// next write is a whole new segment.
struct SegmentOrigin: Sendable, Equatable {
    /// The folder, standardised.
    var folder: String
    var generation: Int
    var segments: [SegmentManifest.Segment]
    /// Images stored (removed ones included).
    var images: Int
    /// Images the stored segments remove.
    var removed: Set<Int>
}

/// The segment metadata of a segment file: its id, its first image and the images of earlier
/// segments it removes.
struct SegmentRecord: Codable, Equatable {
    var id: String
    var firstImage: Int
    var removes: [Int]

    static let key = "segment"

    enum CodingKeys: String, CodingKey {
        case id, removes
        case firstImage = "first-image"
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// An index type that can be kept as segments (``IndexLayout/segments``).
protocol SegmentedIndex: Sendable {
    /// `loupe-flat-index` or `loupe-object-index`.
    static var fileFormat: String { get }
    var count: Int { get }
    var removed: Set<Int> { get }
    var origin: SegmentOrigin? { get set }
    /// Images `images` alone as an index of the same recipe, without a quantizer, removals or
    /// local-feature lists (what a delta segment holds).
    func slice(_ images: Range<Int>) throws(IndexError) -> Self
    /// Appends every image of `segment` (made by ``slice(_:)``, read back).
    mutating func append(segment: Self) throws(IndexError)
    /// Writes the index as one file with `metadata` added to its own.
    func writeFile(to url: URL, adding metadata: [String: String]) throws(IndexError)
    /// Reads one file (a single-file index or a segment).
    init(file url: URL, root: URL?, verification: IndexVerification) throws(IndexError)
    mutating func remove(images: some Sequence<Int>) throws(IndexError)
    func verify() throws(IndexError)
}

enum SegmentFolder {
    /// Whether `url` is a segmented index folder (a folder with a manifest).
    static func holdsIndex(_ url: URL) -> Bool {
        var folder: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &folder) && folder.boolValue
            && FileManager.default.fileExists(atPath: url.appendingPathComponent(SegmentManifest.fileName).path)
    }

    static func isFolder(_ url: URL) -> Bool {
        var folder: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &folder) && folder.boolValue
    }

    /// The folder's manifest, checked (format, version, checksum, segments in order).
    static func manifest(_ folder: URL) throws(IndexError) -> SegmentManifest {
        let url = folder.appendingPathComponent(SegmentManifest.fileName)
        // a manifest names a segment per write: a few hundred bytes each; a huge file is not one
        if let size = try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int, size > 16 << 20 {
            throw .malformed(folder, "\(SegmentManifest.fileName) has \(size) bytes, more than a manifest can")
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw .unreadable(folder, .io(path: url.path, reason: "cannot read the manifest"))
        }
        guard let manifest = try? JSONDecoder().decode(SegmentManifest.self, from: data), manifest.format == SegmentManifest.format else {
            throw .damaged(folder, section: SegmentManifest.fileName)
        }
        guard manifest.version == 1 else { throw .unsupportedVersion(folder, version: "manifest \(manifest.version)") }
        guard manifest.checksum != nil, manifest.sealed().checksum == manifest.checksum else { throw .damaged(folder, section: SegmentManifest.fileName) }
        var next = 0
        for segment in manifest.segments {
            guard segment.firstImage == next, segment.images >= 0, !segment.file.contains("/"), segment.file.hasSuffix(".safetensors") else {
                throw .malformed(folder, "the manifest's segments do not follow one another (\(segment.file))")
            }
            next += segment.images
        }
        guard !manifest.segments.isEmpty else { throw .malformed(folder, "the manifest names no segment") }
        return manifest
    }

    /// Reads the index a folder holds: its first segment (checked as `verification` says), then
    /// every later segment (checked in full: they are small) appended, then their removals.
    /// Retries when a writer replaced the manifest and deleted a segment between the reads.
    static func open<Index: SegmentedIndex>(_ folder: URL, root: URL?, verification: IndexVerification) throws(IndexError) -> Index {
        var attempt = 0
        while true {
            let manifest = try manifest(folder)
            guard manifest.index == Index.fileFormat else { throw .wrongFormat(folder, format: manifest.index) }
            do { return try open(folder, manifest, root: root, verification: verification) } catch {
                attempt += 1
                let missing = manifest.segments.contains { !FileManager.default.fileExists(atPath: folder.appendingPathComponent($0.file).path) }
                guard attempt < 3, missing, let again = try? Self.manifest(folder), again != manifest else { throw error }
            }
        }
    }

    private static func open<Index: SegmentedIndex>(_ folder: URL, _ manifest: SegmentManifest, root: URL?,
                                                    verification: IndexVerification) throws(IndexError) -> Index {
        var index: Index?
        var removes: [Int] = []
        for (i, segment) in manifest.segments.enumerated() {
            let url = folder.appendingPathComponent(segment.file)
            guard let size = try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int else { throw .unreadable(url, .io(path: url.path, reason: "the segment the manifest names is missing")) }
            guard size == segment.bytes else { throw .malformed(url, "the segment has \(size) bytes and the manifest says \(segment.bytes): it was cut short or replaced") }
            let part = try Index(file: url, root: root, verification: i == 0 ? verification : .full)
            let record = try SegmentFolder.record(of: url)
            guard let record, record.id == segment.id, record.firstImage == segment.firstImage, part.count == segment.images else {
                throw .malformed(url, "not the segment the manifest names (\(segment.file), \(segment.images) images from \(segment.firstImage))")
            }
            guard record.removes.allSatisfy({ $0 >= 0 && $0 < segment.firstImage + segment.images }) else {
                throw .malformed(url, "the segment removes images that precede none of its own")
            }
            removes += record.removes
            if index == nil { index = part } else { try index!.append(segment: part) }
        }
        guard var index else { throw .malformed(folder, "the manifest names no segment") }
        try index.remove(images: removes)
        index.origin = SegmentOrigin(folder: folder.standardizedFileURL.path, generation: manifest.generation, segments: manifest.segments,
                                     images: index.count, removed: index.removed)
        return index
    }

    /// The segment record of a segment file (from its checked metadata), `nil` in a plain file.
    static func record(of url: URL) throws(IndexError) -> SegmentRecord? {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch { throw .unreadable(url, error) }
        guard let text = file.metadata[SegmentRecord.key] else { return nil }
        guard let record = try? JSONDecoder().decode(SegmentRecord.self, from: Data(text.utf8)) else { throw .malformed(url, "malformed segment record") }
        return record
    }

    /// Writes `index` into `folder`: a segment of what changed since the index was read from
    /// this folder when it was and nobody wrote there since, else the whole index as one
    /// segment; then the new manifest, atomically; then deletes the segments it no longer names.
    static func write<Index: SegmentedIndex>(_ index: Index, to folder: URL) throws(IndexError) {
        if !isFolder(folder) {
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false) } catch {
                throw .unwritable(folder, .io(path: folder.path, reason: "cannot make the index folder: \(error.localizedDescription)"))
            }
        }
        let lock = try lock(folder)
        defer { lock.release() }
        let current = holdsIndex(folder) ? try manifest(folder) : nil
        if let current, current.index != Index.fileFormat { throw .wrongFormat(folder, format: current.index) }
        let generation = (current?.generation ?? 0) + 1
        let name = "segment-\(generation).safetensors"
        let url = folder.appendingPathComponent(name)
        var segments: [SegmentManifest.Segment]
        var record = SegmentRecord(id: UUID().uuidString, firstImage: 0, removes: [])
        if let origin = index.origin, let current, origin.folder == folder.standardizedFileURL.path,
           origin.generation == current.generation, origin.segments == current.segments, index.count >= origin.images,
           origin.removed.isSubset(of: index.removed) {
            let removes = index.removed.subtracting(origin.removed).sorted()
            guard index.count > origin.images || !removes.isEmpty else { return }
            record.firstImage = origin.images
            record.removes = removes
            try index.slice(origin.images..<index.count).writeFile(to: url, adding: [SegmentRecord.key: record.json])
            segments = current.segments
        } else {
            try index.writeFile(to: url, adding: [SegmentRecord.key: record.json])
            segments = []
        }
        // the size the manifest records is what opening checks: never a guess
        guard let bytes = try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int else {
            throw .unwritable(folder, .io(path: url.path, reason: "the segment just written cannot be measured"))
        }
        segments.append(.init(file: name, id: record.id, firstImage: record.firstImage, images: index.count - record.firstImage, bytes: bytes))
        let manifest = SegmentManifest(index: Index.fileFormat, generation: generation, segments: segments).sealed()
        do throws(FileWriteError) {
            let file = try AtomicFile(folder.appendingPathComponent(SegmentManifest.fileName))
            try file.write(manifest.encoded())
            try file.commit()
        } catch {
            AtomicFile.remove(url)
            throw .unwritable(folder, .io(path: error.path, reason: error.reason))
        }
        AtomicFile.syncFolder(folder)  // the manifest's rename, flushed
        removeUnnamed(in: folder, keeping: Set(segments.map(\.file)))
    }

    /// Deletes the segment files the manifest does not name (replaced ones, a killed writer's)
    /// and temporaries of killed writers. Readers that mapped a deleted segment keep reading it.
    private static func removeUnnamed(in folder: URL, keeping named: Set<String>) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where !named.contains(name) {
            let segment = name.hasPrefix("segment-") && name.hasSuffix(".safetensors")
            let temporary = name.hasPrefix(".segment-") && name.hasSuffix(".tmp")
            if segment || temporary { AtomicFile.remove(folder.appendingPathComponent(name)) }
        }
    }

    /// The folder's writer lock (its `.lock` file): one writer at a time; a second one is
    /// refused at once (``IndexError/busy(_:)``). Readers take no lock.
    private static func lock(_ folder: URL) throws(IndexError) -> FileLock {
        let url = folder.appendingPathComponent(".lock")
        do { return try FileLock(url) } catch {
            switch error {
            case .held: throw .busy(folder)
            case let .unavailable(reason): throw .unwritable(folder, .io(path: url.path, reason: reason))
            }
        }
    }
}

/// One segment of an index kept as a folder (``IndexLayout/segments``), as its manifest names it.
public struct IndexSegment: Sendable, Hashable, Codable {
    /// The segment file's name in the folder.
    public var file: String
    /// The image number of its first image.
    public var firstImage: Int
    public var images: Int
    /// Images of earlier segments this one removes.
    public var removes: Int
    public var bytes: Int
}

extension IndexLayout {
    /// How the index at `url` is kept: ``segments`` for a folder with a manifest, ``file`` for
    /// anything else that exists, `nil` when nothing is there.
    public init?(at url: URL) {
        if SegmentFolder.holdsIndex(url) { self = .segments } else if FileManager.default.fileExists(atPath: url.path) { self = .file } else { return nil }
    }

    /// The segments of the index folder at `url`, in order, from its checked manifest and each
    /// segment's record; the first one's file is where the index's format and recipe are.
    public static func segments(of url: URL) throws(IndexError) -> [IndexSegment] {
        let manifest = try SegmentFolder.manifest(url)
        return try manifest.segments.map { segment throws(IndexError) in
            let record = try SegmentFolder.record(of: url.appendingPathComponent(segment.file))
            return IndexSegment(file: segment.file, firstImage: segment.firstImage, images: segment.images, removes: record?.removes.count ?? 0, bytes: segment.bytes)
        }
    }
}

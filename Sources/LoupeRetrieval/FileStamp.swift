public import Foundation
internal import LoupeTensor

/// What an image file was when it was indexed — its size, modification time and a hash of its
/// bytes — so that updating an index from its folder can tell which files changed
/// (``FlatIndex/changes(comparedWith:)``). A file whose size and modification time are the same is
/// taken as unchanged without being read; one that differs in either is read and compared by its
/// hash, so that a file only touched (or copied back) is not embedded again.
public struct FileStamp: Sendable, Hashable, Codable {
    /// Size in bytes.
    public var size: Int64
    /// Modification time, nanoseconds since 1970.
    public var modified: Int64
    /// FNV-1a (64-bit, over 8-byte words) of the file's bytes.
    public var hash: UInt64

    public init(size: Int64, modified: Int64, hash: UInt64) { (self.size, self.modified, self.hash) = (size, modified, hash) }

    /// The stamp of the file at `url` now (it is read whole); `nil` when it cannot be read.
    public init?(of url: URL) {
        guard let (size, modified) = Self.attributes(of: url),
              let data = try? Data(contentsOf: url, options: .alwaysMapped), Int64(data.count) == size else { return nil }
        self.init(size: size, modified: modified, hash: data.withUnsafeBytes { Self.hash($0) })
    }

    /// Size and modification time from `stat` (links followed), without reading the file.
    public static func attributes(of url: URL) -> (size: Int64, modified: Int64)? {
        var info = stat()
        guard stat(url.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return (Int64(info.st_size), Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
    }

    /// FNV-1a over the bytes read as little-endian 8-byte words (the tail zero-padded), then
    /// the length: one multiply per 8 bytes.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = FNV1a()
        let words = bytes.count / 8
        for i in 0..<words { h.combine(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) }
        var tail: UInt64 = 0
        for (j, i) in ((8 * words)..<bytes.count).enumerated() { tail |= UInt64(bytes[i]) << (8 * UInt64(j)) }
        h.combine(tail)
        h.combine(UInt64(bytes.count))
        return h.value
    }

    /// Whether the file at `url` still has this content: equal size and time without reading
    /// it, else an equal hash of what it holds now.
    public func matches(_ url: URL) -> Bool {
        guard let (size, modified) = Self.attributes(of: url), size == self.size else { return false }
        if modified == self.modified { return true }
        return FileStamp(of: url)?.hash == hash
    }

    // the hash is written as 16 hex digits: JSON numbers lose 64-bit integers in many readers
    private enum CodingKeys: String, CodingKey { case size, modified, hash }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let text = try c.decode(String.self, forKey: .hash)
        guard text.count == 16, let hash = UInt64(text, radix: 16) else {
            throw DecodingError.dataCorruptedError(forKey: .hash, in: c, debugDescription: "not 16 hexadecimal digits")
        }
        self.init(size: try c.decode(Int64.self, forKey: .size), modified: try c.decode(Int64.self, forKey: .modified), hash: hash)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(size, forKey: .size)
        try c.encode(modified, forKey: .modified)
        let hex = String(hash, radix: 16)
        try c.encode(String(repeating: "0", count: 16 - hex.count) + hex, forKey: .hash)
    }
}

/// How a folder differs from the images an index holds (``FlatIndex/changes(comparedWith:)``).
public struct FolderChanges: Sendable, Equatable {
    /// Files of the folder the index does not hold, in folder order.
    public var added: [URL] = []
    /// Files the index holds whose content changed since (or that it holds without a stamp),
    /// in folder order.
    public var changed: [URL] = []
    /// Images of the index whose file is no longer in the folder (ids, ascending).
    public var removed: [Int] = []
    /// Images kept as they are, with the file each is at now.
    public var unchanged: [Int: URL] = [:]

    public init() {}

    /// Whether the index already matches the folder.
    public var isEmpty: Bool { added.isEmpty && changed.isEmpty && removed.isEmpty }

    /// `paths` (the index's, in image order, with their `stamps`) against the folder's `files`.
    /// Images already removed from the index count as absent.
    static func between(paths: [String], stamps: [FileStamp?], removed: Set<Int>, files: [URL]) -> FolderChanges {
        func key(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
        var held: [String: Int] = [:]
        for (i, path) in paths.enumerated() where !removed.contains(i) { held[key(path)] = i }
        var changes = FolderChanges()
        var seen = Set<Int>()
        for url in files {
            guard let image = held[key(url.path)] else { changes.added.append(url); continue }
            seen.insert(image)
            if let stamp = stamps[image], stamp.matches(url) { changes.unchanged[image] = url } else { changes.changed.append(url) }
        }
        changes.removed = held.values.filter { !seen.contains($0) }.sorted()
        return changes
    }
}

public import Foundation
internal import LoupeKernels

/// Section checksums: a file written with `checksums: true` records, in its metadata under
/// ``checksumKey``, the CRC-32C of every tensor's bytes and of the rest of its metadata, so that a
/// flipped byte anywhere — in the vectors, the boxes, the paths or the recipe — is found when the
/// file is opened instead of being searched as if whole. (The header's own structure is already
/// checked by the parser; offsets and shapes that no longer fit are refused there.)
extension SafetensorsFile {
    /// The metadata key of the checksums: a JSON object of section name → 8 hex digits, the
    /// metadata itself (every other key, sorted) as `__metadata__`.
    public static let checksumKey = "crc32c"

    /// CRC-32C of `bytes`, continuing from `crc`.
    static func crc32c(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return lk_crc32c(crc, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    /// CRC-32C of `bytes`.
    package static func crc32c(of bytes: UnsafeRawBufferPointer) -> UInt32 { crc32c(bytes) }

    /// CRC-32C of a string's UTF-8 bytes (`"123456789"` → `0xE3069283`, the standard check value).
    public static func crc32c(_ text: String) -> UInt32 {
        var text = text
        return text.withUTF8 { crc32c(UnsafeRawBufferPointer($0)) }
    }

    static func metadataChecksum(_ metadata: [String: String]) -> UInt32 {
        crc32c(metadata.filter { $0.key != checksumKey }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined())
    }

    static func hex(_ crc: UInt32) -> String { String(format: "%08x", crc) }

    /// The JSON record written under ``checksumKey``.
    static func checksumRecord(_ tensors: [String: [Tensor]], bytes: [String: ByteTensor], metadata: [String: String]) -> String {
        var record = ["__metadata__": hex(metadataChecksum(metadata))]
        for (name, blocks) in tensors {
            var crc: UInt32 = 0
            for tensor in blocks {
                #if _endian(little)
                crc = tensor.withUnsafeBufferPointer { crc32c(UnsafeRawBufferPointer($0), continuing: crc) }
                #else
                let le = tensor.scalars.map { $0.bitPattern.littleEndian }
                crc = le.withUnsafeBytes { crc32c($0, continuing: crc) }
                #endif
            }
            record[name] = hex(crc)
        }
        for (name, b) in bytes { record[name] = hex(b.values.withUnsafeBytes { crc32c($0) }) }
        record[recordKey] = hex(recordChecksum(record))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(record)) ?? Data(), as: UTF8.self)
    }

    /// The record's entry holding a checksum of its other entries, so that a damaged entry is
    /// found even for a section that is checked later (row by row) rather than on opening.
    static let recordKey = "__record__"

    static func recordChecksum(_ record: [String: String]) -> UInt32 {
        crc32c(record.filter { $0.key != recordKey }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined())
    }

    /// Whether the file records checksums.
    public var hasChecksums: Bool { metadata[Self.checksumKey] != nil }

    /// Checks every section against the recorded checksums (nothing to check in a file without
    /// them). A tensor the record does not name, or a name it records that the file lacks, is a
    /// mismatch too.
    ///
    /// - Parameter skipping: sections left unchecked (the caller checks them otherwise, e.g. row
    ///   by row as they are read); they must still be recorded.
    public func verifyChecksums(skipping: Set<String> = []) throws(SafetensorsError) {
        guard let text = metadata[Self.checksumKey] else { return }
        guard let data = text.data(using: .utf8), let record = try? JSONDecoder().decode([String: String].self, from: data) else {
            throw .checksumMismatch(section: Self.checksumKey)
        }
        if let own = record[Self.recordKey], own != Self.hex(Self.recordChecksum(record)) { throw .checksumMismatch(section: Self.checksumKey) }
        guard record["__metadata__"] == Self.hex(Self.metadataChecksum(metadata)) else { throw .checksumMismatch(section: "__metadata__") }
        for name in Set(record.keys).subtracting(["__metadata__", Self.recordKey]).union(entries.keys).sorted() {
            guard let entry = entries[name], let want = record[name] else { throw .checksumMismatch(section: name) }
            // a section is left to its caller only while the record vouches for its own entries
            if skipping.contains(name) && record[Self.recordKey] != nil { continue }
            let got = bytes.withUnsafeBytes { raw in
                Self.crc32c(UnsafeRawBufferPointer(rebasing: raw[(dataStart + entry.byteRange.lowerBound)..<(dataStart + entry.byteRange.upperBound)]))
            }
            guard Self.hex(got) == want else { throw .checksumMismatch(section: name) }
        }
    }

    /// Every section, F32 ones as tensors and U8 ones as bytes: what a program that rewrites a
    /// file (a test making a damaged copy) carries over.
    package func sections() throws(SafetensorsError) -> (tensors: [String: Tensor], bytes: [String: ByteTensor]) {
        var tensors: [String: Tensor] = [:], bytes: [String: ByteTensor] = [:]
        for (name, entry) in entries {
            if entry.dtype == .uint8 { bytes[name] = try byteTensor(named: name) } else { tensors[name] = try tensor(named: name) }
        }
        return (tensors, bytes)
    }
}

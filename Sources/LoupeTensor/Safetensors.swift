public import Foundation

/// Element types a safetensors file may hold; all are converted to `Float` on read.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case float32 = "F32", float16 = "F16", bfloat16 = "BF16", int64 = "I64", int32 = "I32", uint8 = "U8"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32, .int32: 4
        case .float16, .bfloat16: 2
        case .int64: 8
        case .uint8: 1
        }
    }
}

/// Why a safetensors file was refused. Every case names the file's problem precisely.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    /// Shorter than the 8-byte header length.
    case fileTooSmall(byteCount: Int)
    /// The declared header length does not fit in the file (or exceeds the 100 MB cap).
    case headerLengthOutOfRange(declared: UInt64, fileSize: Int)
    /// The header is not valid UTF-8 JSON, or not a JSON object.
    case invalidHeader(String)
    /// An entry is not an object with `dtype`, `shape` and `data_offsets`, or its values are malformed.
    case malformedEntry(name: String, reason: String)
    /// A `dtype` outside F32, F16, BF16, I64, I32, U8.
    case unsupportedDType(name: String, dtype: String)
    /// `data_offsets` outside the data area, or reversed.
    case offsetsOutOfRange(name: String, begin: Int, end: Int, dataSize: Int)
    /// The byte range's length differs from element count × element size.
    case byteCountMismatch(name: String, shape: [Int], dtype: String, expected: Int, actual: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(String, String)
    /// A tensor asked for by name is not in the file.
    case missingTensor(String)
    /// The file could not be read or written.
    case io(path: String, reason: String)
    /// A section (a tensor, or `__metadata__`) does not match the checksum the file records: the
    /// file was damaged after it was written.
    case checksumMismatch(section: String)

    public var description: String {
        switch self {
        case let .fileTooSmall(n): "safetensors: file of \(n) bytes is too small for a header"
        case let .headerLengthOutOfRange(declared, size):
            "safetensors: header length \(declared) does not fit in a file of \(size) bytes"
        case let .invalidHeader(why): "safetensors: invalid header: \(why)"
        case let .malformedEntry(name, why): "safetensors: tensor '\(name)': \(why)"
        case let .unsupportedDType(name, dtype): "safetensors: tensor '\(name)' has unsupported dtype \(dtype)"
        case let .offsetsOutOfRange(name, b, e, size):
            "safetensors: tensor '\(name)' data_offsets [\(b), \(e)] fall outside the \(size)-byte data area"
        case let .byteCountMismatch(name, shape, dtype, expected, actual):
            "safetensors: tensor '\(name)' of shape \(shape) and dtype \(dtype) needs \(expected) bytes, its range holds \(actual)"
        case let .overlappingTensors(a, b): "safetensors: tensors '\(a)' and '\(b)' overlap"
        case let .missingTensor(name): "safetensors: no tensor named '\(name)'"
        case let .io(path, why): "safetensors: \(path): \(why)"
        case let .checksumMismatch(section): "safetensors: section '\(section)' does not match its checksum: the file is damaged"
        }
    }
}

/// A parsed, validated safetensors file (the format of Hugging Face's `safetensors`).
///
/// Layout: an 8-byte little-endian `UInt64` header length `n`, `n` bytes of JSON mapping each
/// tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (plus an optional
/// `"__metadata__"` string map), then the data area. Everything is checked when the file is
/// opened — header bounds, JSON, dtypes, shapes, that every range lies inside the data area, holds
/// exactly `count × size` bytes and overlaps no other — so reading a tensor later cannot fail.
public struct SafetensorsFile: Sendable {
    /// One tensor's record in the header.
    public struct Entry: Sendable, Equatable {
        public var dtype: SafetensorsDType
        public var shape: [Int]
        /// Byte range inside the data area.
        public var byteRange: Range<Int>
    }

    /// The header's `__metadata__` (empty when absent).
    public let metadata: [String: String]
    /// Every tensor's record, by name.
    public let entries: [String: Entry]
    let bytes: Data
    let dataStart: Int
    /// The file's mapping when it was opened from a file: F32 tensors are then served from it
    /// without a copy, paged in as they are read.
    let mapping: FileMapping?

    /// Size of the whole file in bytes.
    public var byteCount: Int { bytes.count }

    /// Largest header accepted: guards against allocating for an absurd declared length.
    public static let maximumHeaderLength = 100_000_000

    /// Opens and validates a file. It is memory-mapped (privately: nothing is ever written back),
    /// so opening reads only the header, and the F32 tensors ``tensor(named:)`` returns are views
    /// of the mapping, paged in from the file as they are read. (Loupe replaces files by renaming
    /// a new one into place, which leaves a mapping of the old one intact; a file cut short in
    /// place by another program while mapped would fault on access.)
    public init(contentsOf url: URL) throws(SafetensorsError) {
        let mapping = try FileMapping(url)
        try self.init(data: mapping.data, mapping: mapping)
    }

    /// Parses and validates safetensors bytes.
    public init(data: Data) throws(SafetensorsError) {
        try self.init(data: data, mapping: nil)
    }

    private init(data: Data, mapping: FileMapping?) throws(SafetensorsError) {
        bytes = data
        self.mapping = mapping
        guard data.count >= 8 else { throw .fileTooSmall(byteCount: data.count) }
        let declared = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard declared <= UInt64(data.count - 8), declared <= UInt64(Self.maximumHeaderLength) else {
            throw .headerLengthOutOfRange(declared: declared, fileSize: data.count)
        }
        let headerLength = Int(declared)
        dataStart = 8 + headerLength
        let dataSize = data.count - dataStart
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<dataStart))
        } catch {
            throw .invalidHeader("not valid JSON")
        }
        guard let header = object as? [String: Any] else { throw .invalidHeader("not a JSON object") }
        var metadata: [String: String] = [:]
        var entries: [String: Entry] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw .invalidHeader("__metadata__ is not an object") }
                for (k, v) in map {
                    guard let text = v as? String else { throw .invalidHeader("__metadata__ value for '\(k)' is not a string") }
                    metadata[k] = text
                }
                continue
            }
            entries[name] = try Self.entry(name, value, dataSize: dataSize)
        }
        // no two ranges overlap (empty tensors occupy nothing)
        let sorted = entries.filter { !$0.value.byteRange.isEmpty }.sorted {
            ($0.value.byteRange.lowerBound, $0.key) < ($1.value.byteRange.lowerBound, $1.key)
        }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.value.byteRange.upperBound > b.value.byteRange.lowerBound {
            throw .overlappingTensors(a.key, b.key)
        }
        self.metadata = metadata
        self.entries = entries
    }

    private static func entry(_ name: String, _ value: Any, dataSize: Int) throws(SafetensorsError) -> Entry {
        guard let record = value as? [String: Any] else { throw .malformedEntry(name: name, reason: "not an object") }
        guard let dtypeText = record["dtype"] as? String else { throw .malformedEntry(name: name, reason: "missing dtype") }
        guard let dtype = SafetensorsDType(rawValue: dtypeText) else { throw .unsupportedDType(name: name, dtype: dtypeText) }
        guard let shapeValues = record["shape"] as? [Any] else { throw .malformedEntry(name: name, reason: "missing shape") }
        var shape: [Int] = []
        for v in shapeValues {
            guard let n = integer(v), n >= 0 else { throw .malformedEntry(name: name, reason: "shape \(shapeValues) is not a list of non-negative integers") }
            shape.append(n)
        }
        guard let offsets = record["data_offsets"] as? [Any], offsets.count == 2,
              let begin = integer(offsets[0]), let end = integer(offsets[1])
        else { throw .malformedEntry(name: name, reason: "data_offsets is not a pair of integers") }
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw .offsetsOutOfRange(name: name, begin: begin, end: end, dataSize: dataSize)
        }
        var count = 1
        for n in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else { throw .malformedEntry(name: name, reason: "shape \(shape) overflows") }
            count = p
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, expected == end - begin else {
            throw .byteCountMismatch(name: name, shape: shape, dtype: dtypeText, expected: overflow ? Int.max : expected, actual: end - begin)
        }
        return Entry(dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    /// A JSON number that is an exact integer (JSONSerialization hands out NSNumber).
    /// Booleans are refused (`true` is not an extent); on Linux `is Bool` also matches 0 and 1,
    /// so the NSNumber's own type code tells them apart ("c" for a JSON boolean).
    private static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber else { return nil }
        let code = String(cString: number.objCType)
        if code == "c" || code == "B" { return nil }
        if code == "d" || code == "f" { return Int(exactly: number.doubleValue) }
        return number.intValue
    }

    /// Tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The named tensor, converted to `Float` (F16 and BF16 exactly, integers by rounding).
    /// F32 tensors of a file opened with ``init(contentsOf:)`` are not copied: they share the
    /// file's mapping (a write to one copies it first, as any shared tensor does).
    public func tensor(named name: String) throws(SafetensorsError) -> Tensor {
        guard let entry = entries[name] else { throw .missingTensor(name) }
        let start = dataStart + entry.byteRange.lowerBound
        #if _endian(little)
        if entry.dtype == .float32, !entry.byteRange.isEmpty, let mapping, let base = mapping.base, (Int(bitPattern: base) + start) % 4 == 0 {
            let floats = (base + start).bindMemory(to: Float.self, capacity: entry.byteRange.count / 4)
            return Tensor(shape: entry.shape, storage: TensorStorage(borrowing: floats, count: entry.byteRange.count / 4, owner: mapping))
        }
        #endif
        return bytes.withUnsafeBytes { raw in
            let src = UnsafeRawBufferPointer(rebasing: raw[start..<(start + entry.byteRange.count)])
            return Tensor(uninitializedShape: entry.shape) { out in
                Self.convert(src, entry.dtype, into: out)
            }
        }
    }

    private static func convert(_ src: UnsafeRawBufferPointer, _ dtype: SafetensorsDType, into out: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<out.count {
            let value: Float
            switch dtype {
            case .float32: value = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            case .float16: value = halfToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
            case .bfloat16: value = Float(bitPattern: UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
            case .int64: value = Float(Int64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            case .int32: value = Float(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
            case .uint8: value = Float(src[i])
            }
            out.initializeElement(at: i, to: value)
        }
    }

    /// IEEE 754 binary16 → binary32, exact (subnormals, infinities and NaN included).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }
}

/// A whole file mapped privately (copy-on-write) into memory, unmapped when the last user goes.
final class FileMapping: @unchecked Sendable {  // the memory is only read, or written privately through copy-on-write tensors
    let base: UnsafeMutableRawPointer?
    let count: Int

    init(_ url: URL) throws(SafetensorsError) {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(path: url.path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .io(path: url.path, reason: "not a regular file") }
        count = Int(info.st_size)
        guard count > 0 else { base = nil; return }
        guard let p = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw .io(path: url.path, reason: "cannot map the file: \(String(cString: strerror(errno)))")
        }
        base = p
    }

    deinit { if let base { munmap(base, count) } }

    /// The mapped bytes as `Data` that keeps the mapping alive (no copy).
    var data: Data {
        guard let base else { return Data() }
        return Data(bytesNoCopy: base, count: count, deallocator: .custom { [self] _, _ in withExtendedLifetime(self) {} })
    }
}

extension SafetensorsFile {
    /// Writes `tensors` as F32 safetensors, atomically: a temporary file in the same folder is
    /// written completely, then renamed over `url`, so a crash never leaves a half-written file.
    ///
    /// F32 tensors are stored in name order, then the byte tensors; the header is padded with
    /// spaces so that the data area starts 64 bytes into the file, aligned. The tensors are streamed from their storage (no copy of
    /// the whole file in memory), and files of any size are written whole: a single `write(2)`
    /// moves at most 2 GiB − 4 KiB on Linux, and every partial write continues where it stopped.
    ///
    /// With `checksums`, the metadata also records a CRC-32C of every tensor and of the rest of
    /// the metadata (``checksumKey``), which ``verifyChecksums()`` checks.
    public static func write(_ tensors: [String: Tensor], bytes: [String: ByteTensor] = [:], metadata: [String: String] = [:],
                             checksums: Bool = false, to url: URL) throws(SafetensorsError) {
        try write(blocks: tensors.mapValues { [$0] }, bytes: bytes, metadata: metadata, checksums: checksums, to: url)
    }

    /// As ``write(_:bytes:metadata:checksums:to:)``, each F32 tensor given as blocks stacked
    /// along their first axis (each list non-empty; the blocks agree in their other axes): a
    /// store kept in chunks is written without first being copied into one tensor.
    package static func write(blocks tensors: [String: [Tensor]], bytes: [String: ByteTensor] = [:], metadata: [String: String] = [:],
                              checksums: Bool = false, to url: URL) throws(SafetensorsError) {
        var metadata = metadata
        if checksums { metadata[checksumKey] = checksumRecord(tensors, bytes: bytes, metadata: metadata) }
        do throws(FileWriteError) {
            try stream(tensors, bytes: bytes, metadata: metadata, to: url)
        } catch {
            throw .io(path: url.path, reason: error.reason)
        }
    }

    /// The shape of blocks stacked along their first axis.
    static func stackedShape(_ blocks: [Tensor]) -> [Int] {
        var shape = blocks[0].shape
        if !shape.isEmpty { shape[0] = blocks.reduce(0) { $0 + $1.shape[0] } }
        return shape
    }

    /// A tensor of bytes (stored as U8), for data that would be four times larger as F32.
    public struct ByteTensor: Sendable, Equatable {
        public var shape: [Int]
        public var values: [UInt8]
        public init(shape: [Int], values: [UInt8]) {
            precondition(shape.reduce(1, *) == values.count, "one byte per element")
            (self.shape, self.values) = (shape, values)
        }
    }

    /// The header, then each tensor's storage as it lies (F32 little-endian is the host's layout);
    /// a big-endian host writes the in-memory encoding instead.
    private static func stream(_ tensors: [String: [Tensor]], bytes: [String: ByteTensor], metadata: [String: String],
                               to url: URL) throws(FileWriteError) {
        let file = try AtomicFile(url)
        // F32 tensors first, so that every one starts 4-byte aligned (and a mapping can serve it)
        let names = tensors.keys.sorted() + bytes.keys.sorted()
        let layout: [(name: String, shape: [Int], dtype: SafetensorsDType)] = names.map { n in
            if let t = tensors[n] { (n, stackedShape(t), .float32) } else { (n, bytes[n]!.shape, .uint8) }
        }
        try file.write(header(layout, metadata: metadata))
        for name in names {
            var failure: FileWriteError?
            if let blocks = tensors[name] {
                for tensor in blocks where failure == nil {
                    #if _endian(little)
                    tensor.withUnsafeBufferPointer { b in
                        do throws(FileWriteError) { try file.write(UnsafeRawBufferPointer(b)) } catch { failure = error }
                    }
                    #else
                    var out = Data()
                    tensor.withUnsafeBufferPointer { b in
                        for v in b { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
                    }
                    do throws(FileWriteError) { try file.write(out) } catch { failure = error }
                    #endif
                }
            } else {
                bytes[name]!.values.withUnsafeBytes { b in
                    do throws(FileWriteError) { try file.write(b) } catch { failure = error }
                }
            }
            if let failure { throw failure }
        }
        try file.commit()
    }

    /// The named U8 tensor's bytes and shape (no conversion; another dtype is refused).
    public func byteTensor(named name: String) throws(SafetensorsError) -> ByteTensor {
        guard let entry = entries[name] else { throw .missingTensor(name) }
        guard entry.dtype == .uint8 else { throw .malformedEntry(name: name, reason: "dtype \(entry.dtype.rawValue), expected U8") }
        let start = dataStart + entry.byteRange.lowerBound
        let values = bytes.withUnsafeBytes { raw in [UInt8](raw[start..<(start + entry.byteRange.count)]) }
        return ByteTensor(shape: entry.shape, values: values)
    }

    /// Calls `body` with the named U8 tensor's bytes where they lie (no copy).
    package func withBytes<R>(named name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let entry = entries[name] else { throw SafetensorsError.missingTensor(name) }
        guard entry.dtype == .uint8 else { throw SafetensorsError.malformedEntry(name: name, reason: "dtype \(entry.dtype.rawValue), expected U8") }
        let start = dataStart + entry.byteRange.lowerBound
        return try bytes.withUnsafeBytes { raw in try body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + entry.byteRange.count)])) }
    }

    /// The safetensors bytes of `tensors` (F32), in memory.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> Data {
        let names = tensors.keys.sorted()
        var out = header(names.map { ($0, tensors[$0]!.shape, .float32) }, metadata: metadata)
        for name in names {
            tensors[name]!.withUnsafeBufferPointer { b in
                for v in b { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            }
        }
        return out
    }

    /// The length prefix and the JSON header (padded so that the data area starts at a multiple of 64 bytes) of tensors stored in this order.
    static func header(_ tensors: [(name: String, shape: [Int], dtype: SafetensorsDType)], metadata: [String: String]) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, shape, dtype) in tensors {
            let bytes = dtype.size * shape.reduce(1, *)
            header[name] = ["dtype": dtype.rawValue, "shape": shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        // 8 + header a multiple of 64: the data area starts on a cache line of a mapping
        while (8 + json.count) % 64 != 0 { json.append(UInt8(ascii: " ")) }
        var out = Data(capacity: 8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        return out
    }
}

import Foundation
import LoupeTensor
import Testing

/// Builds safetensors bytes from a header given as JSON text and a data area.
func safetensorsBytes(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> Data {
    var out = Data()
    let json = Data(header.utf8)
    withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { out.append(contentsOf: $0) }
    out.append(json)
    out.append(contentsOf: data)
    return out
}

/// A new empty folder under the temporary directory (the caller removes it).
func emptyFolder() throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    return folder
}

@Suite struct SafetensorsTests {
    @Test func roundTripThroughAFile() throws {
        let folder = try emptyFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("w.safetensors")
        let a = Tensor(randomUniform: [3, 4, 5], seed: 1), b = Tensor(shape: [2], scalars: [.infinity, -0.0])
        try SafetensorsFile.write(["a": a, "b.bias": b, "empty": Tensor(zeros: [0, 3])], metadata: ["recipe": "x"], to: url)
        let file = try SafetensorsFile(contentsOf: url)
        #expect(file.names == ["a", "b.bias", "empty"])
        #expect(file.metadata == ["recipe": "x"])
        #expect(try file.tensor(named: "a") == a)
        #expect(try file.tensor(named: "b.bias").scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern))
        #expect(try file.tensor(named: "empty").shape == [0, 3])
        #expect(throws: SafetensorsError.missingTensor("c")) { try file.tensor(named: "c") }
        // the streamed file is byte for byte the in-memory encoding
        #expect(try Data(contentsOf: url) == SafetensorsFile.encode(["a": a, "b.bias": b, "empty": Tensor(zeros: [0, 3])], metadata: ["recipe": "x"]))
        // rewriting replaces the file in one step and leaves no temporary files behind
        try SafetensorsFile.write(["a": a], to: url)
        #expect(try SafetensorsFile(contentsOf: url).names == ["a"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["w.safetensors"])
    }

    /// A file over 2 GiB (one `write(2)` moves at most 2 GiB − 4 KiB on Linux) is written whole:
    /// the values just before and after that boundary, and the tensor stored after the big one,
    /// read back as written.
    /// Tensors read from a file share its mapping, yet behave as values: writing one copies it
    /// first, so another read of the same tensor and the file itself keep their contents.
    @Test func mappedTensorsAreValues() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-mapped-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let original = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        try SafetensorsFile.write(["a": original, "b": Tensor(shape: [1], scalars: [7])], bytes: ["c": .init(shape: [3], values: [1, 2, 3])], to: url)
        let file = try SafetensorsFile(contentsOf: url)
        var first = try file.tensor(named: "a")
        let second = try file.tensor(named: "a")
        first.withUnsafeMutableBufferPointer { $0[0] = 100 }
        #expect(first.scalars == [100, 2, 3, 4, 5, 6])
        #expect(second.scalars == original.scalars)
        #expect(try file.tensor(named: "a").scalars == original.scalars)
        #expect(try SafetensorsFile(contentsOf: url).tensor(named: "a").scalars == original.scalars)
        // F32 sections first, the data area 64-byte aligned
        #expect(file.entries["c"]!.byteRange.lowerBound > file.entries["b"]!.byteRange.lowerBound)
        let header = try Data(contentsOf: url).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect((8 + header) % 64 == 0)
    }

    @Test func filesOver2GiBAreWrittenWhole() throws {
        let folder = try emptyFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("big.safetensors")
        let count = (1 << 29) + 1000  // 2 GiB + 4,000 bytes
        let big = Tensor(uninitializedShape: [count]) { out in
            for i in 0..<count { out[i] = Float(i % 1_000_003) }
        }
        let tail = Tensor(shape: [3], scalars: [1.5, -2, 7])
        try SafetensorsFile.write(["a.big": big, "b.tail": tail], to: url)
        let file = try SafetensorsFile(contentsOf: url)
        #expect(file.byteCount > 1 << 31)
        #expect(try file.tensor(named: "b.tail") == tail)
        let limit = (2_147_479_552 - 8) / 4  // first Float that a single write(2) would not reach
        let read = try file.tensor(named: "a.big")
        read.withUnsafeBufferPointer { values in
            for i in [0, 1, limit - 2000, limit - 1, limit, limit + 1, 1 << 29, count - 1] {
                #expect(values[i] == Float(i % 1_000_003), "element \(i)")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["big.safetensors"])
    }

    /// The writer under every file: nothing reaches the destination before `commit()`; an
    /// abandoned write leaves the old file byte for byte and no temporary; a commit replaces it.
    @Test func atomicFileReplacesOnlyOnCommit() throws {
        let folder = try emptyFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("f.bin")
        try Data("old".utf8).write(to: url)
        do {
            let file = try AtomicFile(url)
            try file.write(Data("new, never committed".utf8))
            #expect(try Data(contentsOf: url) == Data("old".utf8))
        }  // abandoned here
        #expect(try Data(contentsOf: url) == Data("old".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["f.bin"])
        let file = try AtomicFile(url)
        try file.write(Data("new".utf8))
        try file.commit()
        #expect(try Data(contentsOf: url) == Data("new".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["f.bin"])
        #expect(throws: FileWriteError.self) { try AtomicFile(URL(fileURLWithPath: "/nonexistent-loupe-folder/f.bin")) }
    }

    @Test func writingIntoAMissingFolderFailsCleanly() {
        let url = URL(fileURLWithPath: "/nonexistent-loupe-folder/w.safetensors")
        #expect(throws: SafetensorsError.self) { try SafetensorsFile.write(["a": Tensor(zeros: [1])], to: url) }
    }

    @Test func convertsEveryDType() throws {
        // F16: 1.0 = 0x3C00, -2.5 = 0xC100, smallest subnormal 0x0001 = 2^-24; BF16: 1.0 = 0x3F80
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC1, 0x01, 0x00, 0x00, 0x7C]
        let bf16: [UInt8] = [0x80, 0x3F, 0x20, 0xC0]  // 1.0, -2.5
        let i64: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + [7, 0, 0, 0, 0, 0, 0, 0]
        let i32: [UInt8] = [0xFE, 0xFF, 0xFF, 0xFF]
        let u8: [UInt8] = [0, 255]
        let data = f16 + bf16 + i64 + i32 + u8
        let header = """
        {"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},
         "l":{"dtype":"I64","shape":[2],"data_offsets":[12,28]},"i":{"dtype":"I32","shape":[1],"data_offsets":[28,32]},
         "u":{"dtype":"U8","shape":[1,2],"data_offsets":[32,34]}}
        """
        let file = try SafetensorsFile(data: safetensorsBytes(header: header, data: data))
        #expect(try file.tensor(named: "h").scalars == [1, -2.5, Float(sign: .plus, exponent: -24, significand: 1), .infinity])
        #expect(try file.tensor(named: "b").scalars == [1, -2.5])
        #expect(try file.tensor(named: "l").scalars == [-1, 7])
        #expect(try file.tensor(named: "i").scalars == [-2])
        #expect(try file.tensor(named: "u").scalars == [0, 255])
    }

    /// A dozen and more malformed files, each refused with the error that names its problem.
    @Test func malformedFilesAreRefusedWithTheirProblem() {
        let good = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let eight = [UInt8](repeating: 0, count: 8)
        let cases: [(String, Data, (SafetensorsError) -> Bool)] = [
            ("empty file", Data(), { $0 == .fileTooSmall(byteCount: 0) }),
            ("7 bytes", Data([1, 2, 3, 4, 5, 6, 7]), { $0 == .fileTooSmall(byteCount: 7) }),
            ("header longer than file", safetensorsBytes(header: good, data: eight, declaredLength: 1000),
             { if case .headerLengthOutOfRange(1000, _) = $0 { true } else { false } }),
            ("header length 2^63", safetensorsBytes(header: good, data: eight, declaredLength: 1 << 63),
             { if case .headerLengthOutOfRange = $0 { true } else { false } }),
            ("header not JSON", safetensorsBytes(header: "{not json", data: eight), { $0 == .invalidHeader("not valid JSON") }),
            ("header a JSON array", safetensorsBytes(header: "[1,2]", data: eight), { $0 == .invalidHeader("not a JSON object") }),
            ("unknown dtype", safetensorsBytes(header: #"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, data: eight),
             { $0 == .unsupportedDType(name: "a", dtype: "Q4") }),
            ("negative extent", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, data: eight),
             { if case .malformedEntry("a", _) = $0 { true } else { false } }),
            ("fractional extent", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}"#, data: eight),
             { if case .malformedEntry("a", _) = $0 { true } else { false } }),
            ("offsets past the data", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: eight),
             { $0 == .offsetsOutOfRange(name: "a", begin: 0, end: 16, dataSize: 8) }),
            ("reversed offsets", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, data: eight),
             { $0 == .offsetsOutOfRange(name: "a", begin: 8, end: 0, dataSize: 8) }),
            ("byte count mismatch", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight),
             { $0 == .byteCountMismatch(name: "a", shape: [3], dtype: "F32", expected: 12, actual: 8) }),
            ("overlapping tensors", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight),
             { $0 == .overlappingTensors("a", "b") }),
            ("missing data_offsets", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[2]}}"#, data: eight),
             { if case .malformedEntry("a", _) = $0 { true } else { false } }),
            ("entry not an object", safetensorsBytes(header: #"{"a":[1,2,3]}"#, data: eight),
             { $0 == .malformedEntry(name: "a", reason: "not an object") }),
            ("metadata not strings", safetensorsBytes(header: #"{"__metadata__":{"k":3}}"#, data: []),
             { if case .invalidHeader = $0 { true } else { false } }),
            ("overflowing shape", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: eight),
             { if case .malformedEntry("a", _) = $0 { true } else { false } }),
        ]
        for (label, bytes, matches) in cases {
            do {
                _ = try SafetensorsFile(data: bytes)
                Issue.record("\(label): accepted")
            } catch {
                #expect(matches(error), "\(label): \(error)")
                #expect(!error.description.isEmpty)
            }
        }
    }

    @Test func missingFileIsAnIOError() {
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(contentsOf: URL(fileURLWithPath: "/no/such/file.safetensors")) }
    }
}

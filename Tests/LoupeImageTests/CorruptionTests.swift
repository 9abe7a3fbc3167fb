import Foundation
import LoupeImage
import LoupeTensor
import Testing

/// Corrupted variants of real files, made here: every decode must either succeed or throw an
/// ``ImageError`` — never crash, hang or return a half-decoded image.
@Suite struct CorruptionTests {
    let jpeg: Data
    let png: Data

    init() throws {
        jpeg = try Data(contentsOf: sharedData.appendingPathComponent("smvs-dvd/queries/canon/001.jpg"))
        png = try Data(contentsOf: sharedData.appendingPathComponent("coil100-20deg/images/obj58__40.png"))
    }

    @Test func truncatedFilesAreRefused() {
        for data in [jpeg, png] {
            let offsets = (0..<48).map { data.count * $0 / 48 } + [data.count - 1, data.count - 2, 1, 2, 3, 9]
            for n in offsets {
                #expect(throws: ImageError.self, "truncated at \(n) of \(data.count)") { try Image(data: data.prefix(n)) }
            }
        }
    }

    @Test func flippedBytesNeverCrash() {
        var generator = SplitMix(seed: 99)
        var thrown = 0, decoded = 0
        for original in [jpeg, png] {
            for _ in 0..<60 {
                var data = original
                for _ in 0..<(1 + Int(generator.next() % 4)) {
                    let at = Int(generator.next() % UInt64(data.count))
                    data[at] ^= UInt8(1 << (generator.next() % 8))
                }
                do { _ = try Image(data: data); decoded += 1 } catch { thrown += 1 }
            }
        }
        #expect(thrown + decoded == 120)
        #expect(thrown > 0)
    }

    @Test func emptyAndForeignData() {
        #expect(throws: ImageError.empty) { try Image(data: Data()) }
        #expect(throws: ImageError.unrecognizedFormat) { try Image(data: Data("GIF89a....".utf8)) }
        #expect(throws: ImageError.unrecognizedFormat) { try Image(data: Data([0x89])) }
    }

    @Test func hugeDeclaredPNGIsRefusedBeforeAllocating() throws {
        var data = png
        // IHDR payload starts at byte 16: width, height as big-endian UInt32; fix the CRC after it
        func put(_ v: UInt32, _ at: Int) { for i in 0..<4 { data[at + i] = UInt8((v >> (24 - 8 * UInt32(i))) & 0xFF) } }
        put(200_000, 16)
        put(100_000, 20)
        put(crc32(data[12..<29]), 29)
        #expect(throws: ImageError.tooLarge(width: 200_000, height: 100_000, maximumPixelCount: 100_000_000)) {
            try Image(data: data)
        }
        // a budget is a parameter: the unmodified 128×128 file exceeds a 10,000-pixel budget
        #expect(throws: ImageError.tooLarge(width: 128, height: 128, maximumPixelCount: 10_000)) {
            try Image(data: png, options: .init(maximumPixelCount: 10_000))
        }
    }

    @Test func hugeDeclaredJPEGIsRefusedBeforeAllocating() throws {
        var data = jpeg
        // find the SOF0/SOF2 marker: FF C0|C2, length(2), precision(1), height(2), width(2)
        var at = 2
        while at + 9 < data.count {
            if data[at] == 0xFF && (data[at + 1] == 0xC0 || data[at + 1] == 0xC2) { break }
            at += 1
        }
        data[at + 5] = 0xEA; data[at + 6] = 0x60  // height 60000
        data[at + 7] = 0xEA; data[at + 8] = 0x60  // width 60000
        #expect(throws: ImageError.tooLarge(width: 60_000, height: 60_000, maximumPixelCount: 100_000_000)) {
            try Image(data: data)
        }
    }

    @Test func zeroSizedPNGIsCorrupt() {
        var data = png
        for i in 16..<20 { data[i] = 0 }
        let crc = crc32(data[12..<29])
        for i in 0..<4 { data[29 + i] = UInt8((crc >> (24 - 8 * UInt32(i))) & 0xFF) }
        #expect(throws: ImageError.self) { try Image(data: data) }
    }
}

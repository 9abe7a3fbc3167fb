import Foundation
import LoupeImage
import LoupeTensor

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let sharedData = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
let fixtures = repositoryRoot.appendingPathComponent(".cache/fixtures")
let darknetData = repositoryRoot.appendingPathComponent(".cache/darknet/data")

/// All image files under `folder`, sorted.
func imageFiles(under folder: URL) -> [URL] {
    guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil) else { return [] }
    return walker.compactMap { $0 as? URL }
        .filter { ["jpg", "jpeg", "png"].contains($0.pathExtension.lowercased()) }
        .sorted { $0.path < $1.path }
}

/// An `[H, W, 3]` U8 fixture array as a planar `[3, H, W]` tensor.
func planar(_ hwc: Tensor) -> Tensor { hwc.permuted([2, 0, 1]) }

/// Mean and max absolute difference.
func differences(_ a: Tensor, _ b: Tensor) -> (mean: Double, max: Float) {
    precondition(a.shape == b.shape, "\(a.shape) vs \(b.shape)")
    var total = 0.0, worst: Float = 0
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in
        for i in 0..<x.count { let d = abs(x[i] - y[i]); total += Double(d); worst = max(worst, d) }
    } }
    return (total / Double(max(1, a.scalarCount)), worst)
}

/// CRC-32 (IEEE), for patching PNG chunks in corruption tests.
func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}

import Foundation
import Loupe

/// One fuzz target: bytes in, and every outcome either a value or a typed error. A crash, a
/// sanitizer report, a hang or a leak is the finding.
enum FuzzTarget: String, CaseIterable {
    /// PNG and JPEG through Loupe's C shims (headers, EXIF orientation, decoding) with a pixel
    /// budget, as `Image(data:)` does for every photo of a folder.
    case image
    /// A safetensors file: header JSON, offsets, dtypes, checksums, every tensor read.
    case safetensors
    /// An index file (flat or object), opened both fully checked and checked as read, then
    /// searched and verified.
    case index
    /// A whitening file.
    case whitening
    /// A student-head file.
    case head
    /// A recipe's JSON (both versions).
    case recipe

    /// Runs the target on one input.
    func run(_ data: Data) {
        switch self {
        case .image:
            var options = ImageDecodingOptions()
            options.maximumPixelCount = 1 << 22
            if let image = try? Image(data: data, options: options) {
                precondition(image.width >= 1 && image.height >= 1 && image.width * image.height <= 1 << 22)
            }
        case .safetensors:
            guard let file = try? SafetensorsFile(data: data) else { return }
            for name in file.names { _ = try? file.tensor(named: name) }
            _ = try? file.verifyChecksums()
        case .index:
            withTemporaryFile(data) { url in
                for verification in [IndexVerification.full, .onAccess] {
                    if ObjectIndex.isObjectIndex(url) {
                        guard let index = try? ObjectIndex(contentsOf: url, verification: verification), index.count > 0 else { continue }
                        let query = Tensor(shape: [1, index.dimension], scalars: [Float](repeating: 1 / Float(index.dimension).squareRoot(), count: index.dimension))
                        _ = try? index.search(query, regions: [ObjectRegion(kind: .image, box: BoundingBox(x0: 0, y0: 0, x1: 1, y1: 1))], k: 3)
                        _ = try? index.verify()
                    } else {
                        guard let index = try? FlatIndex(contentsOf: url, verification: verification), index.count > 0 else { continue }
                        let query = Tensor(shape: [1, index.dimension], scalars: [Float](repeating: 1 / Float(index.dimension).squareRoot(), count: index.dimension))
                        _ = try? index.search(query, k: 3)
                        _ = try? index.verify()
                    }
                }
            }
        case .whitening:
            withTemporaryFile(data) { url in
                guard let whitening = try? Whitening(contentsOf: url) else { return }
                let d = whitening.mean.shape.last ?? 0
                if d > 0 && d <= 4096 { _ = try? whitening.apply(Tensor(shape: [1, d], scalars: [Float](repeating: 0.5, count: d))) }
            }
        case .head:
            withTemporaryFile(data) { url in _ = try? StudentHead.load(contentsOf: url) }
        case .recipe:
            guard let text = String(data: data, encoding: .utf8) else { return }
            if let recipe = try? EmbeddingRecipe(json: text) {
                // what is read back is what was written
                let again = try? EmbeddingRecipe(json: recipe.json)
                precondition(again == recipe, "recipe does not survive its own JSON")
            }
        }
    }
}

/// `data` as a file in a private temporary folder (in memory when /dev/shm exists), removed after.
func withTemporaryFile(_ data: Data, _ body: (URL) -> Void) {
    let folder = URL(fileURLWithPath: FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
    let url = folder.appendingPathComponent("loupe-fuzz-\(getpid()).bin")
    guard (try? data.write(to: url)) != nil else { return }
    defer { try? FileManager.default.removeItem(at: url) }
    body(url)
}

/// The target named by `LOUPE_FUZZ_TARGET`, read once.
let selected: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["LOUPE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("set LOUPE_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    selected.run(Data(bytes: bytes, count: count))
    return 0
}

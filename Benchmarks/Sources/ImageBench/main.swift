// Decode + resize throughput: every JPEG/PNG under the given folders decoded and resized so its
// longer side is N (Pillow-style antialiased bilinear), as `loupe index` will do. Prints one JSON
// line: files, megapixels decoded, seconds for decode and resize. Benchmarks/image_vs_pil.py runs
// it alternately with Pillow doing the same work.
//
//   loupe-image-bench [--longer-side 512] [--threads N] [--rounds R] DIR...
import Foundation
import LoupeImage
import LoupeTensor

var longerSide = 512, rounds = 1
var folders: [String] = []
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--longer-side": longerSide = Int(args.popFirst() ?? "") ?? longerSide
    case "--threads": ComputeThreads.count = Int(args.popFirst() ?? "") ?? ComputeThreads.count
    case "--rounds": rounds = Int(args.popFirst() ?? "") ?? rounds
    case "--help", "-h":
        print("usage: loupe-image-bench [--longer-side 512] [--threads N] [--rounds R] DIR...")
        exit(0)
    default: folders.append(a)
    }
}
let files = folders.flatMap { folder -> [URL] in
    let walker = FileManager.default.enumerator(at: URL(fileURLWithPath: folder), includingPropertiesForKeys: nil)
    return (walker?.compactMap { $0 as? URL } ?? []).filter { ["jpg", "jpeg", "png"].contains($0.pathExtension.lowercased()) }
}.sorted { $0.path < $1.path }
let blobs = files.map { try! Data(contentsOf: $0) }  // file reading is not timed (nor is it for Pillow)

var decodeSeconds = 0.0, resizeSeconds = 0.0, megapixels = 0.0
for _ in 0..<rounds {
    for data in blobs {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let image = try! Image(data: data)
        let t1 = DispatchTime.now().uptimeNanoseconds
        _ = image.resized(longerSide: longerSide)
        let t2 = DispatchTime.now().uptimeNanoseconds
        decodeSeconds += Double(t1 - t0) * 1e-9
        resizeSeconds += Double(t2 - t1) * 1e-9
        megapixels += Double(image.width * image.height) / 1e6
    }
}
print("{\"files\": \(files.count * rounds), \"megapixels\": \(megapixels), \"decode_s\": \(decodeSeconds), \"resize_s\": \(resizeSeconds), \"threads\": \(ComputeThreads.count)}")

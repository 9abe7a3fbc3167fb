// Local-feature throughput: every JPEG/PNG under the given folders decoded and shrunk to a longer
// side of N (not timed), then Loupe's difference-of-Gaussians features with RootSIFT descriptors
// (at most --count, first octave doubled) found on it (timed). Prints one JSON line: files, seconds,
// features found. Benchmarks/features_vs_opencv.py runs it alternately with OpenCV's SIFT doing the
// same work.
//
//   loupe-features-bench [--longer-side 640] [--count 1000] [--rounds R] DIR...
import Foundation
import LoupeImage

var longerSide = 640, count = 1000, rounds = 1
var folders: [String] = []
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--longer-side": longerSide = Int(args.popFirst() ?? "") ?? longerSide
    case "--count": count = Int(args.popFirst() ?? "") ?? count
    case "--rounds": rounds = Int(args.popFirst() ?? "") ?? rounds
    case "--help", "-h":
        print("usage: loupe-features-bench [--longer-side 640] [--count 1000] [--rounds R] DIR...")
        exit(0)
    default: folders.append(a)
    }
}
let files = folders.flatMap { folder -> [URL] in
    let walker = FileManager.default.enumerator(at: URL(fileURLWithPath: folder), includingPropertiesForKeys: nil)
    return (walker?.compactMap { $0 as? URL } ?? []).filter { ["jpg", "jpeg", "png"].contains($0.pathExtension.lowercased()) }
}.sorted { $0.path < $1.path }
let images = files.map { url -> Image in
    let image = try! Image(contentsOf: url)
    return max(image.width, image.height) > longerSide ? image.resized(longerSide: longerSide) : image
}
let options = LocalFeatureOptions(maximumCount: count, maximumSide: longerSide)
var seconds = 0.0, found = 0
for _ in 0..<rounds {
    for image in images {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let features = image.localFeatures(options)
        seconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        found += features.count
    }
}
print("{\"files\": \(images.count * rounds), \"seconds\": \(seconds), \"features\": \(found)}")

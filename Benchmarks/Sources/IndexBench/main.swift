// Indexing a folder of 1,000 small images through the library, as a program would:
//   ImageCollection → ObjectIndex.add(_:with:progress:) (hard attention, YOLOX-Nano boxes) and
//   FlatIndex.add(_:with:) (global), 100 files per call.
//
//   loupe-index-bench [--images N] [--side 128] [--out DIR] [--threads N]
//
// The images are tiles cut from the smvs-dvd references and flowers17-dev photos (written once as
// PNG into DIR, default .cache/bench/tiles). Reported, per index type: wall time per image of the
// first and the last 100 images, the time of the vector `add` itself for the first and last 100
// (mean per call of each call's fastest of five passes), the same adds done the way Loupe did before the chunked store (the whole
// store concatenated again on every call), and CPU use (user + system time / wall time / threads).
import Foundation
import Loupe

var imageCount = 1000, side = 128, out = ".cache/bench/tiles"
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--images": imageCount = Int(args.popFirst() ?? "") ?? imageCount
    case "--side": side = Int(args.popFirst() ?? "") ?? side
    case "--out": out = args.popFirst() ?? out
    case "--threads": ComputeThreads.count = Int(args.popFirst() ?? "") ?? ComputeThreads.count
    default:
        FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
        exit(2)
    }
}

// 1. the tiles
let folder = URL(fileURLWithPath: out).appendingPathComponent("\(imageCount)-\(side)")
if (try? ImageCollection(folder).count) != imageCount {
    try? FileManager.default.removeItem(at: folder)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let sources = try ImageCollection(URL(fileURLWithPath: "../shared/data/smvs-dvd/reference")).files
        + ImageCollection(URL(fileURLWithPath: "../shared/data/flowers17-dev/images")).files.prefix(100)
    var made = 0
    outer: for (s, url) in sources.enumerated() {
        let photo = try Image(contentsOf: url).resized(longerSide: side * 3)
        for ty in 0..<2 { for tx in 0..<3 {
            let x = min(photo.width - side, tx * side), y = min(photo.height - side, ty * side)
            try photo.cropped(x: max(0, x), y: max(0, y), width: min(side, photo.width), height: min(side, photo.height))
                .writePNG(to: folder.appendingPathComponent(String(format: "%03d-%d%d.png", s, ty, tx)))
            made += 1
            if made == imageCount { break outer }
        } }
    }
}
let files = try ImageCollection(folder).files
precondition(files.count == imageCount, "made \(files.count) tiles, wanted \(imageCount)")

// 2. the embedders
let weights = WeightStore.standard()
let global = try GlobalEmbedder(backbone: weights.backbone(.classifier(.mobileNetV2)), maxSize: side)
let objects = try ObjectEmbedder(embedder: global, detector: weights.detector(.nano), proposal: RegionProposal(maximumObjects: 5),
                                 labels: weights.detectorLabels(.nano))

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6
}
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

struct Result { var name: String; var firstImage, lastImage, firstAdd, lastAdd, oldFirstAdd, oldLastAdd, cpu: Double; var rows: Int }

// 3. end to end in calls of 100 files, then the adds alone on the vectors the run made
func run(_ name: String, embed: ([URL]) throws -> (seconds: Double, rows: [(Tensor, [ObjectRegion], String)])) throws -> Result {
    var perBatch: [Double] = []
    var made: [(Tensor, [ObjectRegion], String)] = []
    let (wall0, cpu0) = (now(), cpuSeconds())
    for start in stride(from: 0, to: files.count, by: 100) {
        let (seconds, rows) = try embed(Array(files[start..<min(files.count, start + 100)]))
        perBatch.append(seconds / Double(min(100, files.count - start)))
        made += rows
    }
    let cpu = (cpuSeconds() - cpu0) / (now() - wall0) / Double(ComputeThreads.count)
    // the adds alone: the chunked store against re-concatenating the whole store on every add;
    // five passes, each call's fastest, so that a timer tick or another process does not decide
    var chunked = [Double](repeating: .infinity, count: made.count), old = chunked
    var rowCount = 0
    for _ in 0..<5 {
        // separate loops: the old way's growing copies would evict the caches the new way runs in
        var index = ObjectIndex(for: objects)
        for (i, (v, r, p)) in made.enumerated() {
            let t0 = now()
            try index.add(v, regions: r, path: p)
            chunked[i] = min(chunked[i], now() - t0)
        }
        var store = Tensor(zeros: [0, global.recipe.dimension])
        for (i, (v, _, _)) in made.enumerated() {
            let t1 = now()
            store = store.shape[0] == 0 ? v : Tensor.concatenated([store, v], along: 0)
            old[i] = min(old[i], now() - t1)
        }
        rowCount = index.regionCount
    }
    func mean(_ x: ArraySlice<Double>) -> Double { x.reduce(0, +) / Double(x.count) }
    return Result(name: name, firstImage: perBatch.first!, lastImage: perBatch.last!, firstAdd: mean(chunked.prefix(100)),
                  lastAdd: mean(chunked.suffix(100)), oldFirstAdd: mean(old.prefix(100)), oldLastAdd: mean(old.suffix(100)), cpu: cpu,
                  rows: rowCount)
}

var objectIndex = ObjectIndex(for: objects)
let objectRow = try run("objects (hard attention, ≤ 5 boxes)") { batch in
    let before = objectIndex.count, t = now()
    try objectIndex.add(batch, with: objects)
    let rows = (before..<objectIndex.count).map { (objectIndex.vectors(ofImage: $0), Array(objectIndex.regions[objectIndex.rowRanges[$0]]), objectIndex.paths[$0]) }
    return (now() - t, rows)
}
var flatIndex = FlatIndex(for: global)
let flatRow = try run("global") { batch in
    let before = flatIndex.count, t = now()
    try flatIndex.add(batch, with: global)
    let rows = (before..<flatIndex.count).map { i in
        (flatIndex.vectors(i..<(i + 1)), [ObjectRegion(kind: .image, box: .whole(width: side, height: side))], flatIndex.paths[i])
    }
    return (now() - t, rows)
}

let cpuModel = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
    .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
print("\(imageCount) images of \(side)×\(side) px, \(ComputeThreads.count) threads, \(cpuModel)\n")
print("| index | ms / image, first 100 | ms / image, last 100 | last / first | add µs, first 100 | add µs, last 100 | last / first | old add µs, first / last 100 | CPU use | region rows |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in [objectRow, flatRow] {
    print(String(format: "| %@ | %.2f | %.2f | %.2f | %.1f | %.1f | %.2f | %.1f / %.1f | %.0f %% | %d |", r.name, r.firstImage * 1e3, r.lastImage * 1e3,
                 r.lastImage / r.firstImage, r.firstAdd * 1e6, r.lastAdd * 1e6, r.lastAdd / r.firstAdd, r.oldFirstAdd * 1e6, r.oldLastAdd * 1e6,
                 r.cpu * 100, r.rows))
}

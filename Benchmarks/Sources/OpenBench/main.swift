// Opening a large index, Loupe's side of Benchmarks/open_index.py:
//
//   loupe-open-bench make DATA INDEX KIND [segments|objects]
//                                             builds a FlatIndex of DATA/base.f32 (paths
//                                             /photos/0000000.jpg, …), quantized as KIND
//                                             (e.g. IVF1024,PQ64) trained on DATA/train.f32 rows,
//                                             and writes it to INDEX (`segments`: as a segment
//                                             folder; `objects`: an ObjectIndex of the same rows,
//                                             10 regions per image)
//   loupe-open-bench open INDEX DATA [full]   opens INDEX (checking rows as they are read, or
//                                             with `full` the whole file first), answers the first query of
//                                             DATA/queries.f32, then 100 more; prints one JSON line:
//                                             open_s, first_query_s, query_s (mean of the 100),
//                                             rss_mb after opening and after the first query,
//                                             file_mb
//   loupe-open-bench update INDEX DATA        opens INDEX as `loupe index --update` does, adds 100
//                                             images (rows of DATA/queries.f32), removes 10, writes
//                                             it back where it was; prints write_s and the bytes
//                                             the write added or replaced
//
// DATA/meta.json holds {"d": D, "n": N, "ntrain": T, "nq": Q}; the .f32 files are raw
// little-endian float32 rows (as Benchmarks/quantized_vs_faiss.py writes them).
import Foundation
import Loupe

struct Meta: Decodable { let d: Int, n: Int, ntrain: Int, nq: Int }

func rows(_ url: URL, from start: Int, count: Int, d: Int) throws -> Tensor {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(start * d * 4))
    let data = try handle.read(upToCount: count * d * 4) ?? Data()
    precondition(data.count == count * d * 4, "\(url.path) is short")
    return Tensor(shape: [count, d], scalars: data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
}

/// Resident memory of this process in MiB: `VmRSS` (all), or `RssAnon` (its own memory) or
/// `RssFile` (pages of mapped files, shared with the page cache).
func residentMB(_ key: String = "VmRSS") -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix(key + ":") } ?? ""
    return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
}

/// Bytes of an index: its file, or every file of its segment folder.
func bytes(_ url: URL) -> Int {
    let fm = FileManager.default
    guard IndexLayout(at: url) == .segments else { return (try? fm.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
    let names = (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
    return names.reduce(0) { $0 + ((try? fm.attributesOfItem(atPath: url.appendingPathComponent($1).path)[.size] as? Int) ?? 0) }
}

let args = CommandLine.arguments
func meta(_ data: URL) throws -> Meta { try JSONDecoder().decode(Meta.self, from: Data(contentsOf: data.appendingPathComponent("meta.json"))) }

switch args.dropFirst().first {
case "make" where args.count == 5 || args.count == 6:
    let data = URL(fileURLWithPath: args[2]), out = URL(fileURLWithPath: args[3])
    guard let kind = QuantizedIndex.Kind(args[4]) else { print("unknown index kind \(args[4])"); exit(2) }
    let m = try meta(data)
    let recipe = EmbeddingRecipe(model: .classifier(.mobileNetV2), weightsChecksum: "synthetic", stage: "features.18", pooling: .gem(p: 3),
                                 scales: [1], maxSize: 1024, dimension: m.d)
    let option = args.count == 6 ? args[5] : ""
    if option == "objects" {
        // 10 regions per image: the whole image's box, then nine objects
        let objectRecipe = EmbeddingRecipe(model: .classifier(.mobileNetV2), weightsChecksum: "synthetic", stage: "features.18", pooling: .gem(p: 3),
                                           scales: [1], maxSize: 1024, dimension: m.d,
                                           mode: .objects(.hardAttention(.roiAlign(bins: 7)), proposal: RegionProposal(maximumObjects: 9)))
        var index = try ObjectIndex(recipe: objectRecipe)
        var regions = [ObjectRegion(kind: .image, box: BoundingBox(x0: 0, y0: 0, x1: 100, y1: 80))]
        for j in 1..<10 {
            let box = BoundingBox(x0: Float(j), y0: 0, x1: Float(100 + j), y1: 80)
            regions.append(ObjectRegion(kind: .detected, box: box, score: 0.5, label: "object"))
        }
        for start in stride(from: 0, to: m.n, by: 65_530) {
            let n = min(65_530, m.n - start) / 10 * 10
            let block = try rows(data.appendingPathComponent("base.f32"), from: start, count: n, d: m.d)
            var images: [(vectors: Tensor, regions: [ObjectRegion], path: String)] = []
            for i in 0..<(n / 10) {
                images.append((block.sliced(along: 0, (10 * i)..<(10 * i + 10)), regions, String(format: "/photos/%07d.jpg", start / 10 + i)))
            }
            try index.add(images)
        }
        let t = try seconds { try index.quantize(kind) }
        try index.write(to: out)
        print("{\"quantize_s\": \(t), \"images\": \(index.count), \"vectors\": \(index.regionCount)}")
    } else {
        var index = try FlatIndex(recipe: recipe)
        for start in stride(from: 0, to: m.n, by: 65_536) {
            let n = min(65_536, m.n - start)
            try index.add(rows(data.appendingPathComponent("base.f32"), from: start, count: n, d: m.d),
                          paths: (start..<(start + n)).map { String(format: "/photos/%07d.jpg", $0) })
        }
        let t = try seconds { try index.quantize(kind) }
        try index.write(to: out, layout: option == "segments" ? .segments : .file)
        print("{\"quantize_s\": \(t), \"vectors\": \(index.count)}")
    }
case "open" where args.count == 4 || args.count == 5:
    let url = URL(fileURLWithPath: args[2]), data = URL(fileURLWithPath: args[3])
    let m = try meta(data)
    let queries = try rows(data.appendingPathComponent("queries.f32"), from: 0, count: min(101, m.nq), d: m.d)
    let before = residentMB()
    let verification: IndexVerification = args.count == 5 && args[4] == "full" ? .full : .onAccess
    // a flat index answers a vector; an object index a query image of one region
    var search: (Tensor) throws -> Void = { _ in }
    let open = try seconds {
        if ObjectIndex.isObjectIndex(url) {
            let index = try ObjectIndex(contentsOf: url, verification: verification)
            let region = [ObjectRegion(kind: .detected, box: BoundingBox(x0: 0, y0: 0, x1: 10, y1: 10))]
            search = { _ = try index.search($0, regions: region, k: 10) }
        } else {
            let index = try FlatIndex(contentsOf: url, verification: verification)
            search = { _ = try index.search($0, k: 10) }
        }
    }
    let opened = residentMB()
    if ProcessInfo.processInfo.environment["LOUPE_BENCH_OPEN_ONLY"] != nil { print("{\"open_s\": \(open)}"); exit(0) }  // for profiling the open alone
    let first = try seconds { try search(queries.sliced(along: 0, 0..<1)) }
    let afterFirst = residentMB(), anon = residentMB("RssAnon"), fileBacked = residentMB("RssFile")
    let rest = try seconds { for q in 1..<queries.shape[0] { try search(queries.sliced(along: 0, q..<(q + 1))) } }
    let size = Double(bytes(url)) / 1_048_576
    print("{\"open_s\": \(open), \"first_query_s\": \(first), \"query_s\": \(rest / Double(queries.shape[0] - 1)), "
          + "\"rss_mb_before\": \(before), \"rss_mb_opened\": \(opened), \"rss_mb_first_query\": \(afterFirst), "
          + "\"anon_mb_first_query\": \(anon), \"file_backed_mb_first_query\": \(fileBacked), \"file_mb\": \(size)}")
case "update" where args.count == 4:
    let url = URL(fileURLWithPath: args[2]), data = URL(fileURLWithPath: args[3])
    let m = try meta(data)
    var index = try FlatIndex(contentsOf: url, verification: .onAccess)
    let first = index.count
    try index.add(rows(data.appendingPathComponent("queries.f32"), from: 0, count: 100, d: m.d),
                  paths: (0..<100).map { String(format: "/photos/new-%07d.jpg", first + $0) })
    try index.remove(images: (0..<10).map { $0 * 1000 })
    let before = bytes(url)
    let t = try seconds { try index.write(to: url) }
    let layout = IndexLayout(at: url) == .segments ? "segments" : "file"
    print("{\"write_s\": \(t), \"layout\": \"\(layout)\", \"written_mb\": \(Double(layout == "file" ? bytes(url) : bytes(url) - before) / 1_048_576), \"images\": \(index.count)}")
default:
    print("usage: loupe-open-bench make DATA INDEX KIND [segments|objects] | open INDEX DATA [full] | update INDEX DATA"); exit(2)
}

// Opening a large index, Loupe's side of Benchmarks/open_index.py:
//
//   loupe-open-bench make DATA INDEX KIND     builds a FlatIndex of DATA/base.f32 (paths
//                                             /photos/0000000.jpg, …), quantized as KIND
//                                             (e.g. IVF1024,PQ64) trained on DATA/train.f32 rows,
//                                             and writes it to INDEX
//   loupe-open-bench open INDEX DATA [full]   opens INDEX (checking rows as they are read, or
//                                             with `full` the whole file first), answers the first query of
//                                             DATA/queries.f32, then 100 more; prints one JSON line:
//                                             open_s, first_query_s, query_s (mean of the 100),
//                                             rss_mb after opening and after the first query,
//                                             file_mb
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

let args = CommandLine.arguments
func meta(_ data: URL) throws -> Meta { try JSONDecoder().decode(Meta.self, from: Data(contentsOf: data.appendingPathComponent("meta.json"))) }

switch args.dropFirst().first {
case "make" where args.count == 5:
    let data = URL(fileURLWithPath: args[2]), out = URL(fileURLWithPath: args[3])
    guard let kind = QuantizedIndex.Kind(args[4]) else { print("unknown index kind \(args[4])"); exit(2) }
    let m = try meta(data)
    let recipe = EmbeddingRecipe(model: .classifier(.mobileNetV2), weightsChecksum: "synthetic", stage: "features.18", pooling: .gem(p: 3),
                                 scales: [1], maxSize: 1024, dimension: m.d)
    var index = try FlatIndex(recipe: recipe)
    for start in stride(from: 0, to: m.n, by: 65_536) {
        let n = min(65_536, m.n - start)
        try index.add(rows(data.appendingPathComponent("base.f32"), from: start, count: n, d: m.d),
                      paths: (start..<(start + n)).map { String(format: "/photos/%07d.jpg", $0) })
    }
    let t = try seconds { try index.quantize(kind) }
    try index.write(to: out)
    print("{\"quantize_s\": \(t), \"vectors\": \(index.count)}")
case "open" where args.count == 4 || args.count == 5:
    let url = URL(fileURLWithPath: args[2]), data = URL(fileURLWithPath: args[3])
    let m = try meta(data)
    let queries = try rows(data.appendingPathComponent("queries.f32"), from: 0, count: min(101, m.nq), d: m.d)
    let before = residentMB()
    var index: FlatIndex!
    let verification: IndexVerification = args.count == 5 && args[4] == "full" ? .full : .onAccess
    let open = try seconds { index = try FlatIndex(contentsOf: url, verification: verification) }
    let opened = residentMB()
    let first = try seconds { _ = try index.search(queries.sliced(along: 0, 0..<1), k: 10) }
    let afterFirst = residentMB(), anon = residentMB("RssAnon"), fileBacked = residentMB("RssFile")
    let rest = try seconds { for q in 1..<queries.shape[0] { _ = try index.search(queries.sliced(along: 0, q..<(q + 1)), k: 10) } }
    let size = Double((try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0) / 1_048_576
    print("{\"open_s\": \(open), \"first_query_s\": \(first), \"query_s\": \(rest / Double(queries.shape[0] - 1)), "
          + "\"rss_mb_before\": \(before), \"rss_mb_opened\": \(opened), \"rss_mb_first_query\": \(afterFirst), "
          + "\"anon_mb_first_query\": \(anon), \"file_backed_mb_first_query\": \(fileBacked), \"file_mb\": \(size)}")
default:
    print("usage: loupe-open-bench make DATA INDEX KIND | open INDEX DATA"); exit(2)
}

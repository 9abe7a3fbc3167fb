// Approximate search, Loupe's side of Benchmarks/quantized_vs_faiss.py: trains a QuantizedIndex
// of one kind on DATA/train.f32, adds DATA/base.f32 in blocks, then answers commands on stdin so
// that the driver can alternate it with faiss on the same machine in one run:
//
//   threads N                 set ComputeThreads.count
//   search PROBE K RUNS       search DATA/queries.f32 RUNS times; writes the ids of the last run
//                             to DATA/loupe-ids.i64 and prints {"median_s": …, "min_s": …}
//   quit
//
//   loupe-quantized-bench DATA KIND [--seed S]     (KIND: IVF1024,Flat | PQ64 | IVF1024,PQ64)
// DATA/meta.json holds {"d": D, "n": N, "ntrain": T, "nq": Q}; the .f32 files are raw
// little-endian float32 rows.
import Foundation
import LoupeRetrieval
import LoupeTensor

struct Meta: Decodable { let d: Int, n: Int, ntrain: Int, nq: Int }

func rows(_ url: URL, from start: Int, count: Int, d: Int) throws -> Tensor {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(start * d * 4))
    let data = try handle.read(upToCount: count * d * 4) ?? Data()
    precondition(data.count == count * d * 4, "\(url.path) is short")
    return Tensor(shape: [count, d], scalars: data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
}

/// One JSON line on stdout, written through at once (the driver waits for it).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
}

let args = CommandLine.arguments
guard args.count >= 3, let kind = QuantizedIndex.Kind(args[2]) else {
    print("usage: loupe-quantized-bench DATA KIND [--seed S]"); exit(2)
}
let seed = args.firstIndex(of: "--seed").flatMap { UInt64(args[$0 + 1]) } ?? 1
let folder = URL(fileURLWithPath: args[1])
let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: folder.appendingPathComponent("meta.json")))
let training = try rows(folder.appendingPathComponent("train.f32"), from: 0, count: meta.ntrain, d: meta.d)
var index: QuantizedIndex!
let trainTime = try seconds { index = try QuantizedIndex(kind: kind, training: training, seed: seed) }
var addTime = 0.0
for start in stride(from: 0, to: meta.n, by: 50_000) {
    let block = try rows(folder.appendingPathComponent("base.f32"), from: start, count: min(50_000, meta.n - start), d: meta.d)
    addTime += try seconds { try index.add(block) }
}
let queries = try rows(folder.appendingPathComponent("queries.f32"), from: 0, count: meta.nq, d: meta.d)
say("{\"train_s\": \(trainTime), \"add_s\": \(addTime), \"bytes_per_vector\": \(index.bytesPerVector), \"threads\": \(ComputeThreads.count)}")
while let line = readLine() {
    let words = line.split(separator: " ").map(String.init)
    switch words.first {
    case "threads": ComputeThreads.count = Int(words[1]) ?? 1; say("{}")
    case "search":
        let (probe, k, runs) = (Int(words[1])!, Int(words[2])!, Int(words[3])!)
        var times: [Double] = [], last: TopK?
        for _ in 0..<runs { times.append(try seconds { last = try index.search(queries, k: k, probe: probe) }) }
        times.sort()
        let ids = last!.indices.map { Int64($0) }
        try ids.withUnsafeBytes { Data($0) }.write(to: folder.appendingPathComponent("loupe-ids.i64"))
        say("{\"median_s\": \(times[times.count / 2]), \"min_s\": \(times[0])}")
    case "quit": exit(0)
    default: say("{\"error\": \"unknown command\"}")
    }
    }

// Exact search: loads `database` [N, D] and `queries` [Q, D] from a safetensors file, runs
// Loupe's nearestNeighbors R times, writes the last result's indices (as F32) to OUTPUT and prints
// one JSON line with the median seconds. Driven by Benchmarks/search_vs_faiss.py.
//
//   loupe-search-bench INPUT.safetensors OUTPUT.safetensors [--k 100] [--threads N] [--runs R]
import Foundation
import LoupeTensor

var args = Array(CommandLine.arguments.dropFirst())
var k = 100, runs = 3
var positional: [String] = []
var i = 0
while i < args.count {
    switch args[i] {
    case "--k": k = Int(args[i + 1]) ?? k; i += 1
    case "--threads": ComputeThreads.count = Int(args[i + 1]) ?? ComputeThreads.count; i += 1
    case "--runs": runs = Int(args[i + 1]) ?? runs; i += 1
    default: positional.append(args[i])
    }
    i += 1
}
guard positional.count == 2 else { print("usage: loupe-search-bench INPUT OUTPUT [--k K] [--threads N] [--runs R]"); exit(2) }
let file = try SafetensorsFile(contentsOf: URL(fileURLWithPath: positional[0]))
let database = try file.tensor(named: "database"), queries = try file.tensor(named: "queries")
var times: [Double] = []
var result: TopK?
for _ in 0..<runs {
    let t0 = DispatchTime.now().uptimeNanoseconds
    result = nearestNeighbors(of: queries, in: database, k: k)
    times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
}
times.sort()
let indices = Tensor(shape: [queries.shape[0], k], scalars: result!.indices.map { Float($0) })
try SafetensorsFile.write(["indices": indices, "scores": result!.scores], to: URL(fileURLWithPath: positional[1]))
print("{\"median_s\": \(times[times.count / 2]), \"min_s\": \(times[0]), \"threads\": \(ComputeThreads.count)}")

import Foundation
import LoupeModels
import LoupeRetrieval
import LoupeTensor
import Testing

func recipe(_ d: Int, pooling: GlobalPooling = .gem(p: 3), mode: EmbeddingMode = .global) -> EmbeddingRecipe {
    EmbeddingRecipe(model: .classifier(.mobileNetV2), weightsChecksum: "abc", stage: "s", pooling: pooling, scales: [1], maxSize: 512,
                    dimension: d, mode: mode)
}

/// An object recipe (hard attention, RoIAlign 7×7) of dimension `d`.
func objectRecipe(_ d: Int, objects: Int = 5) -> EmbeddingRecipe {
    recipe(d, mode: .objects(.hardAttention(.roiAlign(bins: 7)), proposal: RegionProposal(maximumObjects: objects)))
}

/// Brute force: all scores, sorted by descending score then ascending index.
func bruteForce(_ q: Tensor, _ db: Tensor, k: Int) -> [[Int]] {
    let s = matmul(q, db, transposingB: true)
    var out: [[Int]] = []
    for i in 0..<q.shape[0] {
        var pairs: [(index: Int, score: Float)] = []
        for j in 0..<db.shape[0] { pairs.append((j, s[i, j])) }
        pairs.sort { a, b in a.score != b.score ? a.score > b.score : a.index < b.index }
        out.append(pairs.prefix(k).map { $0.index })
    }
    return out
}

@Suite struct IndexTests {
    @Test func exactSearchEqualsBruteForce() {
        var db = Tensor(randomUniform: [5000, 48], seed: 1).l2NormalizedRows()
        // duplicate rows make exact ties: the lower index must come first
        db = Tensor.concatenated([db, db.sliced(along: 0, 100..<140)], along: 0)
        let q = Tensor.concatenated([Tensor(randomUniform: [37, 48], seed: 2).l2NormalizedRows(), db.sliced(along: 0, 110..<113)], along: 0)
        let top = nearestNeighbors(of: q, in: db, k: 25)
        let reference = bruteForce(q, db, k: 25)
        for i in 0..<q.shape[0] { #expect(top.results(forQuery: i).map(\.index) == reference[i]) }
        // k beyond the database pads with -1, as faiss does
        let small = nearestNeighbors(of: q, in: db.sliced(along: 0, 0..<3), k: 5)
        #expect(small.indices[3] == -1 && small.indices[4] == -1 && small.results(forQuery: 0).count == 3)
    }

    /// Paths under the root are stored relative to it: the images can move with the index (found
    /// beside it) or alone (re-pointed with `root:`); paths outside the root stay absolute.
    @Test func pathsAreStoredRelativeToTheRoot() throws {
        let fm = FileManager.default
        let top = fm.temporaryDirectory.appendingPathComponent("root-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: top) }
        let photos = top.appendingPathComponent("photos"), sub = photos.appendingPathComponent("sub")
        try fm.createDirectory(at: sub, withIntermediateDirectories: true)
        var index = try FlatIndex(recipe: recipe(4))
        index.root = photos
        try index.add(Tensor(randomUniform: [3, 4], seed: 5).l2NormalizedRows(),
                      paths: [photos.appendingPathComponent("a.jpg").path, sub.appendingPathComponent("b.jpg").path, "/elsewhere/c.jpg"])
        let url = top.appendingPathComponent("i.index")
        try index.write(to: url)
        let file = try SafetensorsFile(contentsOf: url), stored = file.metadata
        #expect(try file.byteTensor(named: "paths").values == Array("a.jpg\0sub/b.jpg\0/elsewhere/c.jpg\0".utf8))
        #expect(stored["root"] == photos.path && stored["root-from-index"] == "photos")
        #expect(try FlatIndex(contentsOf: url).paths == index.paths)
        // the folder and the index moved together: the root is found beside the index
        let moved = fm.temporaryDirectory.appendingPathComponent("moved-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: moved) }
        try fm.moveItem(at: top, to: moved)
        let together = try FlatIndex(contentsOf: moved.appendingPathComponent("i.index"))
        #expect(together.paths == [moved.path + "/photos/a.jpg", moved.path + "/photos/sub/b.jpg", "/elsewhere/c.jpg"])
        // re-pointed by hand
        let repointed = try FlatIndex(contentsOf: moved.appendingPathComponent("i.index"), root: URL(fileURLWithPath: "/new/place"))
        #expect(repointed.paths == ["/new/place/a.jpg", "/new/place/sub/b.jpg", "/elsewhere/c.jpg"] && repointed.root?.path == "/new/place")
        // an index without a root keeps its paths as given
        var plain = try FlatIndex(recipe: recipe(4))
        try plain.add(Tensor(randomUniform: [1, 4], seed: 6).l2NormalizedRows(), paths: ["rel/x.jpg"])
        try plain.write(to: moved.appendingPathComponent("p.index"))
        #expect(try FlatIndex(contentsOf: moved.appendingPathComponent("p.index")).paths == ["rel/x.jpg"])
    }

    @Test func searchPersistAndRecipeChecks() throws {
        var index = try FlatIndex(recipe: recipe(8))
        let v = Tensor(randomUniform: [20, 8], seed: 3).l2NormalizedRows()
        try index.add(v, paths: (0..<20).map { "img\($0).jpg" })
        let hits = try index.search(v.sliced(along: 0, 4..<5), k: 3)
        #expect(hits[0][0].image == 4 && hits[0][0].path == "img4.jpg" && abs(hits[0][0].score - 1) < 1e-5)
        #expect(throws: IndexError.recipeMismatch(["pooling mac ≠ gem"])) {
            try index.search(v.sliced(along: 0, 0..<1), k: 3, recipe: recipe(8, pooling: .mac))
        }
        #expect(throws: IndexError.dimensionMismatch(expected: 8, got: 9)) { try index.search(Tensor(zeros: [1, 9]), k: 3) }
        #expect(throws: IndexError.countMismatch(vectors: 2, paths: 1)) { try index.add(Tensor(zeros: [2, 8]), paths: ["a"]) }
        var bad = Tensor(zeros: [1, 8]); bad[0, 3] = .nan
        #expect(throws: IndexError.notFinite) { try index.add(bad, paths: ["nan"]) }
        #expect(throws: IndexError.invalidK(0)) { try index.search(v, k: 0) }

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("a.index")
        try index.write(to: url)
        let back = try FlatIndex(contentsOf: url)
        #expect(back.recipe == index.recipe && back.paths == index.paths && back.vectors == index.vectors)
        // a truncated or foreign file is refused with a typed error
        let data = try Data(contentsOf: url)
        try data.prefix(data.count / 2).write(to: url)
        #expect(throws: IndexError.self) { try FlatIndex(contentsOf: url) }
        try SafetensorsFile.write(["vectors": v], metadata: ["format": "something-else"], to: url)
        #expect(throws: IndexError.wrongFormat(url, format: "something-else")) { try FlatIndex(contentsOf: url) }
    }

    @Test func averageQueryExpansion() throws {
        var index = try FlatIndex(recipe: recipe(2))
        let rows = Tensor(shape: [3, 2], scalars: [1, 0, 0.8, 0.6, 0, 1])
        try index.add(rows, paths: ["a", "b", "c"])
        let q = Tensor(shape: [1, 2], scalars: [0.6, 0.8])
        // plain: b (0.96) first; with QE n=1 the query becomes normalise(q + b) = (0.7, 0.7)·√2 …
        let plain = try index.search(q, k: 3)[0].map(\.path)
        let expanded = try index.search(q, k: 3, expansion: .average(n: 1))[0]
        #expect(plain == ["b", "c", "a"])
        let e = Float(0.7) / (0.7 * 0.7 * 2).squareRoot()
        #expect(abs(expanded[0].score - (0.8 * e + 0.6 * e)) < 1e-5)
    }
}

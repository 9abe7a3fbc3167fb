import Foundation
import LoupeRetrieval
import LoupeTensor
import Testing

@Suite struct ObjectIndexTests {
    /// Unit vector along axis `i` (of `d`), optionally mixed with axis `j`.
    func axis(_ i: Int, _ d: Int = 8, mix j: Int? = nil, weight: Float = 0.5) -> Tensor {
        var v = [Float](repeating: 0, count: d)
        v[i] = 1
        if let j { v[j] = weight }
        return Tensor(shape: [1, d], scalars: v).l2NormalizedRows()
    }

    func rows(_ parts: [Tensor]) -> Tensor { Tensor.concatenated(parts, along: 0) }
    func box(_ x0: Float, _ y0: Float, _ x1: Float, _ y1: Float) -> BoundingBox { BoundingBox(x0: x0, y0: y0, x1: x1, y1: y1) }

    /// Three images: A = scene 0 with object 5; B = scene 1 with objects 6 and 7; C = scene 2 alone.
    func gallery() throws -> ObjectIndex {
        var index = try ObjectIndex(recipe: objectRecipe(8))
        try index.add(rows([axis(0, mix: 1, weight: 0.3), axis(5)]),
                      regions: [.init(kind: .image, box: box(0, 0, 100, 80)), .init(kind: .detected, box: box(10, 10, 40, 50), score: 0.9, label: "dog")],
                      path: "A.jpg")
        try index.add(rows([axis(1), axis(6), axis(7)]),
                      regions: [.init(kind: .image, box: box(0, 0, 200, 100)), .init(kind: .detected, box: box(120, 20, 180, 90), score: 0.8),
                                .init(kind: .detected, box: box(5, 5, 50, 50), score: 0.4)], path: "B.jpg")
        try index.add(axis(2), regions: [.init(kind: .image, box: box(0, 0, 64, 64))], path: "C.jpg")
        return index
    }

    /// A splice: B's scene with A's object 5 pasted in. The query's object region must match A's
    /// object box and its whole image B's whole image.
    @Test func aSpliceFindsBothSourcesWithTheirBoxes() throws {
        let index = try gallery()
        #expect(index.count == 3 && index.regionCount == 6 && index.rowRanges == [0..<2, 2..<5, 5..<6])
        let query = rows([axis(1, mix: 5, weight: 0.2), axis(5, mix: 3, weight: 0.1)])
        let regions: [ObjectRegion] = [.init(kind: .image, box: box(0, 0, 300, 200)), .init(kind: .detected, box: box(200, 50, 260, 120))]
        // objects vs everything: A through its object (cos ≈ 0.995)
        let objectsOnly = try index.search(query, regions: regions, k: 3)
        #expect(objectsOnly.map(\.path) == ["A.jpg", "B.jpg", "C.jpg"])
        #expect(objectsOnly[0].queryRegion == 1 && objectsOnly[0].queryBox == box(200, 50, 260, 120))
        #expect(objectsOnly[0].databaseRegion.box == box(10, 10, 40, 50) && objectsOnly[0].databaseRegion.label == "dog")
        #expect(abs(objectsOnly[0].score - 1 / Float(1.01).squareRoot()) < 1e-5)
        // whole image + objects: B through the whole-image pair, A through the object pair
        let all = try index.search(query, regions: regions, k: 2, options: .init(queryRegions: .all))
        #expect(Set(all.map(\.path)) == ["A.jpg", "B.jpg"])
        let b = all.first { $0.path == "B.jpg" }!
        #expect(b.queryRegion == 0 && b.databaseRegion.kind == .image)
        // global only: the pasted object is invisible, A is not found first
        let global = try index.search(query, regions: regions, k: 3, options: .init(queryRegions: .image, databaseRegions: .image))
        #expect(global[0].path == "B.jpg" && global[0].queryRegion == 0)
        // mean-of-max: the average of each query region's best cosine
        let mean = try index.search(query, regions: regions, k: 3, options: .init(scoring: .meanOfMax, queryRegions: .all))
        let sims = matmul(query, index.vectors, transposingB: true)
        let expectedA = (max(sims[0, 0], sims[0, 1]) + max(sims[1, 0], sims[1, 1])) / 2
        #expect(abs(mean.first { $0.path == "A.jpg" }!.score - expectedA) < 1e-6)
        // leave-one-out
        #expect(try index.search(query, regions: regions, k: 3, excluding: 0).map(\.path) == ["B.jpg", "C.jpg"])
    }

    /// An image without objects is compared through its whole image even when the database side
    /// asks for objects only; a query without objects falls back to its whole image.
    @Test func selectionsFallBackToTheWholeImage() throws {
        let index = try gallery()
        let hits = try index.search(axis(2), regions: [.init(kind: .image, box: box(0, 0, 10, 10))], k: 1,
                                    options: .init(queryRegions: .objects, databaseRegions: .objects))
        #expect(hits[0].path == "C.jpg" && abs(hits[0].score - 1) < 1e-5 && hits[0].databaseRegion.kind == .image)
    }

    @Test func badInputIsRefused() throws {
        var index = try gallery()
        let one: [ObjectRegion] = [.init(kind: .image, box: box(0, 0, 1, 1))]
        #expect(throws: IndexError.dimensionMismatch(expected: 8, got: 4)) { try index.add(Tensor(zeros: [1, 4]), regions: one, path: "x") }
        #expect(throws: IndexError.countMismatch(vectors: 2, paths: 1)) { try index.add(Tensor(zeros: [2, 8]), regions: one, path: "x") }
        #expect(throws: IndexError.countMismatch(vectors: 0, paths: 0)) { try index.add(Tensor(zeros: [0, 8]), regions: [], path: "x") }
        #expect(throws: IndexError.notFinite) { try index.add(Tensor(repeating: .nan, shape: [1, 8]), regions: one, path: "x") }
        #expect(throws: IndexError.notFinite) { try index.search(Tensor(repeating: .nan, shape: [1, 8]), regions: one, k: 1) }
        #expect(throws: IndexError.invalidK(0)) { try index.search(axis(0), regions: one, k: 0) }
        #expect(throws: IndexError.self) { try index.search(axis(0), regions: one, k: 1, recipe: recipe(8, pooling: .mac)) }
        #expect(index.count == 3)  // nothing was added by the failed calls
        #expect(try ObjectIndex(recipe: objectRecipe(8)).search(axis(0), regions: one, k: 5).isEmpty)
    }

    @Test func roundTripsThroughAFileAndRefusesMalformedOnes() throws {
        let index = try gallery()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-objects-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("x.index")
        try index.write(to: url)
        #expect(ObjectIndex.isObjectIndex(url))
        let back = try ObjectIndex(contentsOf: url)
        #expect(back.paths == index.paths && back.regions == index.regions && back.rowRanges == index.rowRanges)
        #expect(back.vectors.scalars == index.vectors.scalars && back.recipe == index.recipe && back.recipe.mode.proposal?.maximumObjects == 5)
        // a flat index is not an object index, and says so
        let flatURL = dir.appendingPathComponent("flat.index")
        try FlatIndex(recipe: recipe(8)).write(to: flatURL)
        // a flat index of an object recipe, or an object index of a global one, cannot be made
        #expect(throws: IndexError.self) { try ObjectIndex(recipe: recipe(8)) }
        #expect(!ObjectIndex.isObjectIndex(flatURL))
        #expect(throws: IndexError.self) { try ObjectIndex(contentsOf: flatURL) }
        // a file made again with some sections replaced or left out (its checksums made to match)
        let bad = dir.appendingPathComponent("bad.index")
        let file = try SafetensorsFile(contentsOf: url)
        func rewrite(_ replaced: [String: Tensor], dropping: Set<String> = []) throws {
            var (tensors, bytes) = try file.sections()
            for name in dropping { (tensors[name], bytes[name]) = (nil, nil) }
            tensors.merge(replaced) { $1 }
            var metadata = file.metadata
            metadata[SafetensorsFile.checksumKey] = nil
            try SafetensorsFile.write(tensors, bytes: bytes, metadata: metadata, checksums: true, to: bad)
        }
        try rewrite([:])
        #expect(try ObjectIndex(contentsOf: bad).regions == index.regions)
        // rows not grouped by image
        try rewrite(["images": Tensor(shape: [6], scalars: [0, 1, 0, 1, 1, 2])])
        #expect(throws: IndexError.malformed(bad, "region rows are not grouped by image")) { try ObjectIndex(contentsOf: bad) }
        // the regions' kinds left out
        try rewrite([:], dropping: ["regions.kind"])
        #expect(throws: IndexError.unreadable(bad, .missingTensor("regions.kind"))) { try ObjectIndex(contentsOf: bad) }
        // a label number past the labels
        try rewrite(["regions.label": Tensor(shape: [6], scalars: [-1, 9, -1, -1, -1, -1])])
        #expect(throws: IndexError.self) { try ObjectIndex(contentsOf: bad) }
        // vectors holding NaN
        var nan = index.vectors
        nan.withUnsafeMutableBufferPointer { $0[3] = .nan }
        try rewrite(["vectors": nan])
        #expect(throws: IndexError.malformed(bad, "vectors hold NaN or infinity")) { try ObjectIndex(contentsOf: bad) }
        // a truncated file
        let data = try Data(contentsOf: url)
        try data.prefix(data.count / 2).write(to: bad)
        #expect(throws: IndexError.self) { try ObjectIndex(contentsOf: bad) }
    }
}

import Foundation
import LoupeRetrieval
import LoupeTensor
import Testing

/// Product quantization and inverted files against naive references: codes against a
/// nearest-centre loop, table look-ups against decoded inner products, scans against sorting,
/// an inverted file probed everywhere against exact search.
@Suite struct QuantizedIndexTests {
    /// `n` unit vectors in `d` dimensions around `clusters` random centres (spread 0.5 per axis
    /// relative to the centres' unit norm scaled by √d), so that quantizers have structure to find.
    static func clustered(_ n: Int, d: Int, clusters: Int, seed: UInt64) -> Tensor {
        let centres = Tensor(randomUniform: [clusters, d], seed: seed).scalars
        let noise = Tensor(randomUniform: [n, d], seed: seed + 1).scalars
        var x = [Float](repeating: 0, count: n * d)
        for i in 0..<n { let c = (i * 7919) % clusters; for j in 0..<d { x[i * d + j] = centres[c * d + j] + 0.5 * noise[i * d + j] } }
        return Tensor(shape: [n, d], scalars: x).l2NormalizedRows()
    }

    /// 80 images of 4 regions each (the whole image and 3 objects) over clustered 16-d vectors.
    static func objectIndex(seed: UInt64) throws -> (ObjectIndex, Tensor) {
        let x = clustered(320, d: 16, clusters: 12, seed: seed)
        var index = try ObjectIndex(recipe: objectRecipe(16))
        for image in 0..<80 {
            let regions = [ObjectRegion(kind: .image, box: BoundingBox(x0: 0, y0: 0, x1: 100, y1: 80))]
                + (1...3).map { ObjectRegion(kind: .detected, box: BoundingBox(x0: Float($0), y0: 2, x1: 40, y1: 50), score: 0.5, label: "dog") }
            try index.add(x.sliced(along: 0, (4 * image)..<(4 * image + 4)), regions: regions, path: "/photos/\(image).jpg")
        }
        return (index, x)
    }

    static func dot(_ a: [Float], _ b: ArraySlice<Float>) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    @Test func codesAreNearestCentresAndTablesAreDecodedInnerProducts() throws {
        let x = Self.clustered(600, d: 16, clusters: 5, seed: 1)
        let pq = try ProductQuantizer(training: x, subquantizers: 4)
        #expect(pq.centroids.shape == [4, 256, 4])
        let codes = pq.encode(x), c = pq.centroids.scalars, v = x.scalars
        for i in stride(from: 0, to: 600, by: 37) {
            for j in 0..<4 {
                let sub = Array(v[(i * 16 + j * 4)..<(i * 16 + j * 4 + 4)])
                func distance(_ centre: Int) -> Float {
                    var s: Float = 0
                    for t in 0..<4 { let e = sub[t] - c[(j * 256 + centre) * 4 + t]; s += e * e }
                    return s
                }
                let chosen = distance(Int(codes[i * 4 + j]))
                #expect(chosen <= (0..<256).map(distance).min()! + 1e-6)
            }
        }
        // the quantizer reconstructs well: mean squared error far below the vectors' own energy (1)
        let decoded = pq.decode(codes).scalars
        let error = zip(decoded, v).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / 600
        #expect(error < 0.2, "\(error)")
        let q = Self.clustered(3, d: 16, clusters: 5, seed: 9)
        let tables = pq.innerProductTables(q).scalars, qs = q.scalars
        for qi in 0..<3 {
            for i in [0, 5, 599] {
                let looked = (0..<4).reduce(Float(0)) { $0 + tables[(qi * 4 + $1) * 256 + Int(codes[i * 4 + $1])] }
                let exact = Self.dot(Array(qs[(qi * 16)..<(qi * 16 + 16)]), decoded[(i * 16)..<(i * 16 + 16)])
                #expect(abs(looked - exact) < 1e-5)
            }
        }
    }

    @Test func codeScansEqualSortingTheSums() {
        for (m, n) in [(8, 1000), (12, 37), (3, 50), (16, 7), (64, 301), (32, 2)] {
            let tables = Tensor(randomUniform: [2, m, 256], seed: UInt64(m))
            var generator = SplitMix(seed: UInt64(n))
            let codes = (0..<(n * m)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let ids = (0..<n).map { Int64(3 * $0 + 1) }
            let t = tables.scalars
            for k in [1, 10, 64] {
                var top = RunningTopK(queries: 2, k: k)
                top.mergeCodes(codes, count: n, subquantizers: m, ids: ids, tables: tables, tableRow: 1, bias: 0.5, intoQuery: 0)
                // the same scan in two halves, one with implicit ids, lands in the same list
                top.mergeCodes(codes, count: n / 2, subquantizers: m, base: 1, tables: tables, tableRow: 1, bias: 0.5, intoQuery: 1)
                top.mergeCodes(codes, offset: (n / 2) * m, count: n - n / 2, subquantizers: m, base: 1 + n / 2, tables: tables, tableRow: 1, bias: 0.5, intoQuery: 1)
                let sums = (0..<n).map { i in 0.5 + (0..<m).reduce(Float(0)) { $0 + t[(m + $1) * 256 + Int(codes[i * m + $1])] } }
                let order = (0..<n).sorted { sums[$0] != sums[$1] ? sums[$0] > sums[$1] : $0 < $1 }
                let want = min(k, n)
                for j in 0..<want {
                    #expect(abs(top.scores[j] - sums[order[j]]) < 1e-4)
                    #expect(top.ids[j] == ids[order[j]])
                    #expect(top.ids[k + j] == Int64(order[j] + 1))
                }
                for j in want..<k { #expect(top.ids[j] == -1 && top.scores[j] == -.infinity) }
            }
        }
    }

    /// The blocked scan (byte look-ups in registers with AVX-512 VBMI, else scalar code) returns
    /// the row scan's scores, ids and order bit for bit: random tables, tables with many ties,
    /// fine differences under one large entry, a large bias, 300 sub-quantizers (fewer byte
    /// levels), k from 1 to more than the codes, lists that end inside a block, and codes
    /// appended in pieces.
    @Test(arguments: [false, true])
    func blockedCodeScansEqualTheRowScan(byteLookups: Bool) {
        // (no process-wide level pinned: other suites run at the same time)
        if byteLookups { print("blocked code scan with byte look-ups: \(CodeTable.usesByteLookups ? "run (AVX-512 VBMI)" : "not run (this CPU has no AVX-512 VBMI)")") }
        Self.compareBlockedScans(byteLookups: byteLookups) { good, what in #expect(good, "\(what)") }
    }

    /// The blocked scans (byte look-ups, AVX2 gathers or the scalar loop, as the level in use and
    /// `byteLookups` choose) against the row scan; `check(good, what)` reports a failure.
    static func compareBlockedScans(byteLookups: Bool, _ check: (Bool, String) -> Void) {
        do {
            // tables: 0 random, 1 few distinct values (ties), 2 fine differences under one big entry per
            // sub-table (every other entry rounds to the same byte, so only the float re-score orders them)
            for (m, n, shape, bias) in [(8, 1000, 0, Float(0.5)), (64, 3001, 0, 0), (64, 777, 1, 0), (16, 63, 0, 0), (1, 200, 1, 0),
                                         (80, 1500, 0, 1000), (300, 300, 0, -2), (32, 65, 1, 0.25), (64, 2000, 2, 0), (16, 5000, 2, 3)] {
                let random = Tensor(randomUniform: [2, m, 256], seed: UInt64(m * 31 + n)).scalars
                let values: [Float] = switch shape {
                case 1: random.map { ($0 * 4).rounded() / 4 }
                case 2: random.enumerated().map { $0.offset % 256 == 255 ? 10 : 0.001 * $0.element }
                default: random
                }
                let tables = Tensor(shape: [2, m, 256], scalars: values)
                var generator = SplitMix(seed: UInt64(n + m))
                let rows = (0..<(n * m)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                var blocked = BlockedCodes(subquantizers: m)
                blocked.append(rows: Array(rows[0..<(n / 3 * m)]))
                blocked.append(rows: Array(rows[(n / 3 * m)...]))
                check(blocked.count == n && blocked.allRows == rows && blocked.rows(5..<9) == Array(rows[(5 * m)..<(9 * m)]), "blocked rows, m \(m), n \(n)")
                let ids = (0..<n).map { Int64(7 * $0 + 2) }
                let table = CodeTable(tables, row: 1, byteLookups: byteLookups)
                for k in [1, 10, 100, n + 5] {
                    var rowScan = RunningTopK(queries: 1, k: k), blockScan = RunningTopK(queries: 1, k: k)
                    rowScan.mergeCodes(rows, count: n, subquantizers: m, ids: ids, tables: tables, tableRow: 1, bias: bias, intoQuery: 0)
                    blockScan.mergeCodes(blocked, ids: ids, table: table, bias: bias, intoQuery: 0)
                    check(blockScan.scores == rowScan.scores && blockScan.ids == rowScan.ids, "m \(m), n \(n), k \(k), tables \(shape)")
                }
            }
            // a selection keeps the chosen codes in order
            let rows = (0..<(130 * 4)).map { UInt8($0 % 251) }
            let picked = rows.withUnsafeBytes { BlockedCodes(subquantizers: 4, rows: $0) }.selecting([129, 0, 64])
            check(picked.allRows == Array(rows[(129 * 4)..<(130 * 4)] + rows[0..<4] + rows[(64 * 4)..<(65 * 4)]), "a selection of codes")
        }
    }

    @Test func scoreRowsMergeWithTheirIds() {
        Self.mergeScoreRows { good, what in #expect(good, "\(what)") }
    }

    /// `check(good, what)` reports a failure.
    static func mergeScoreRows(_ check: (Bool, String) -> Void) {
        let block = Tensor(shape: [2, 5], scalars: [0.1, 0.9, -1, 0.9, 0.3, .nan, 2, 1, 0, 3])
        var top = RunningTopK(queries: 1, k: 3)
        top.merge(row: 0, of: block, intoQuery: 0, ids: [10, 11, 12, 13, 14])
        check(top.ids == [11, 13, 14] && top.scores == [0.9, 0.9, 0.3], "merge with ids: \(top.ids)")
        top.merge(row: 1, of: block, intoQuery: 0, base: 100)
        check(top.ids == [104, 101, 102], "merge with a base: \(top.ids)")
        var other = RunningTopK(queries: 1, k: 3)
        other.insert(2.5, id: 7, query: 0)
        top.merge(other)
        check(top.ids == [104, 7, 101], "merge of two: \(top.ids)")
    }

    /// The scalar fallbacks (score-row merging, nearest centres, column argmax, the blocked code
    /// scan, CRC-32C) against
    /// the kernels in use. In a child process: forcing the kernel level is process-wide and must
    /// not leak into tests running in parallel (it once changed the embeddings of another suite).
    @Test func scalarFallbacksMatchTheKernelsInUse() async {
        await #expect(processExitsWith: .success) {
            let check = { (good: Bool, what: String) in if !good { fatalError(what) } }
            for (d, k) in [(20, 256), (20, 77), (7, 3), (100, 300)] {
                let rows = Tensor(randomUniform: [333, d], seed: UInt64(d)), centres = Tensor(randomUniform: [k, d], seed: UInt64(k))
                let assigned = KMeans(centroids: centres).assign(rows)
                let scores = matmul(centres, rows, transposingB: true)
                let (values, winners) = columnArgmax(scores, minus: Array(repeating: 0.25, count: k))
                KernelDispatch.withLevel(.scalar) {
                    precondition(KernelDispatch.level == .scalar)
                    // the same centres (same sums up to rounding) and the same argmax
                    let scalar = KMeans(centroids: centres).assign(rows)
                    check(zip(scalar, assigned).filter { $0 != $1 }.count <= 2, "scalar and SIMD nearest centres differ (d \(d), k \(k))")
                    let scalarArgmax = columnArgmax(scores, minus: Array(repeating: 0.25, count: k))
                    check(scalarArgmax.rows == winners && scalarArgmax.values == values, "scalar and SIMD column argmax differ (d \(d), k \(k))")
                }
            }
            KernelDispatch.withLevel(.scalar) {
                QuantizedIndexTests.mergeScoreRows(check)
                QuantizedIndexTests.compareBlockedScans(byteLookups: false, check)  // the scalar 8-lane loop
                check(SafetensorsFile.crc32c("123456789") == 0xE306_9283, "the scalar CRC-32C is wrong")
            }
        }
    }

    @Test func invertedFileProbedEverywhereIsExact() throws {
        let x = Self.clustered(900, d: 24, clusters: 12, seed: 3)
        var index = try QuantizedIndex(kind: .ivfFlat(lists: 8), training: x)
        try index.add(x.sliced(along: 0, 0..<500))
        try index.add(x.sliced(along: 0, 500..<900))
        #expect(index.count == 900 && index.listSizes.reduce(0, +) == 900 && index.listSizes.count == 8)
        let q = Self.clustered(20, d: 24, clusters: 12, seed: 4)
        let exact = nearestNeighbors(of: q, in: x, k: 10)
        let all = try index.search(q, k: 10, probe: 8)
        #expect(all.indices == exact.indices)
        // probing fewer lists finds a subset, still with exact scores
        let some = try index.search(q, k: 10, probe: 2)
        let xs = x.scalars, qs = q.scalars
        for qi in 0..<20 {
            for (id, score) in some.results(forQuery: qi) {
                #expect(abs(score - Self.dot(Array(qs[(qi * 24)..<(qi * 24 + 24)]), xs[(id * 24)..<(id * 24 + 24)])) < 1e-5)
            }
        }
    }

    @Test(arguments: [QuantizedIndex.Kind.pq(subquantizers: 8), .ivfPQ(lists: 6, subquantizers: 8)])
    func quantizedScoresAreTheReconstructionsInnerProducts(kind: QuantizedIndex.Kind) throws {
        let x = Self.clustered(1200, d: 32, clusters: 10, seed: 5)
        var index = try QuantizedIndex(kind: kind, training: x)
        try index.add(x)
        let q = x.sliced(along: 0, 0..<30)
        let top = try index.search(q, k: 10, probe: 6)
        let exact = nearestNeighbors(of: q, in: x, k: 10)
        // reconstruction: the cell's centre plus the decoded residual
        let assignment = index.coarse?.assign(x) ?? Array(repeating: 0, count: 1200)
        let centres = index.coarse?.centroids.scalars
        let pq = try #require(index.productQuantizer)
        let coarse = centres.map { c in Tensor(shape: [1200, 32], scalars: (0..<(1200 * 32)).map { c[assignment[$0 / 32] * 32 + $0 % 32] }) }
        let decoded = pq.decode(pq.encode(coarse.map { x - $0 } ?? x)).scalars
        let xs = x.scalars, cs = coarse?.scalars
        var found = 0
        for qi in 0..<30 {
            let query = Array(xs[(qi * 32)..<(qi * 32 + 32)])
            for (id, score) in top.results(forQuery: qi) {
                let reconstructed = (0..<32).map { decoded[id * 32 + $0] + (cs?[id * 32 + $0] ?? 0) }
                #expect(abs(score - Self.dot(query, reconstructed[...])) < 1e-4)
            }
            found += Set(top.results(forQuery: qi).map(\.index)).intersection(exact.results(forQuery: qi).map(\.index)).count
        }
        // 32-d vectors in 8 bytes: most true neighbours are still found
        #expect(Double(found) / 300 > 0.5, "recall@10 \(Double(found) / 300)")
    }

    /// Both nearest-centre paths (the fused one for few dimensions, the product-then-argmax one)
    /// against a naive loop, with centres counts that are and are not multiples of the blocks.
    @Test(arguments: [(20, 256), (20, 77), (7, 3), (100, 300)])
    func nearestCentresAgreeWithANaiveLoop(d: Int, k: Int) {
        let rows = Tensor(randomUniform: [333, d], seed: UInt64(d)), centres = Tensor(randomUniform: [k, d], seed: UInt64(k))
        let assigned = KMeans(centroids: centres).assign(rows)
        let x = rows.scalars, c = centres.scalars
        for i in 0..<333 {
            var best = Float.infinity, at = -1
            for a in 0..<k {
                var s: Float = 0
                for j in 0..<d { let e = x[i * d + j] - c[a * d + j]; s += e * e }
                if s < best { (best, at) = (s, a) }
            }
            // near-ties may fall either way in float rounding: the chosen centre is as near
            var chosen: Float = 0
            for j in 0..<d { let e = x[i * d + j] - c[assigned[i] * d + j]; chosen += e * e }
            #expect(assigned[i] == at || abs(chosen - best) < 1e-4, "row \(i): \(assigned[i]) vs \(at)")
        }
        // the scalar fallbacks are compared in scalarFallbacksMatchTheKernelsInUse (a child process)
        let scores = matmul(centres, rows, transposingB: true)
        let (values, winners) = columnArgmax(scores, minus: Array(repeating: 0.25, count: k))
        let s = scores.scalars
        for i in stride(from: 0, to: 333, by: 11) {
            let top = (0..<k).max { s[$0 * 333 + i] < s[$1 * 333 + i] || (s[$0 * 333 + i] == s[$1 * 333 + i] && $0 > $1) }!
            #expect(Int(winners[i]) == top && values[i] == s[top * 333 + i] - 0.25)
        }
    }

    @Test func kindsParseAndRefuseWhatCannotBeTrained() throws {
        for kind in [QuantizedIndex.Kind.ivfFlat(lists: 1024), .pq(subquantizers: 64), .ivfPQ(lists: 4096, subquantizers: 32)] {
            #expect(QuantizedIndex.Kind(kind.description) == kind)
        }
        #expect(QuantizedIndex.Kind("IVF,PQ8") == nil && QuantizedIndex.Kind("HNSW32") == nil && QuantizedIndex.Kind("IVF8,SQ8") == nil)
        let x = Self.clustered(300, d: 12, clusters: 4, seed: 7)
        #expect(throws: IndexError.self) { try QuantizedIndex(kind: .pq(subquantizers: 5), training: x) }
        #expect(throws: IndexError.self) { try QuantizedIndex(kind: .ivfFlat(lists: 301), training: x) }
        #expect(throws: IndexError.self) { try QuantizedIndex(kind: .pq(subquantizers: 4), training: x.sliced(along: 0, 0..<100)) }
        var nan = x.scalars
        nan[17] = .nan
        #expect(throws: IndexError.notFinite) { try QuantizedIndex(kind: .ivfFlat(lists: 4), training: Tensor(shape: [300, 12], scalars: nan)) }
        var index = try QuantizedIndex(kind: .ivfFlat(lists: 4), training: x)
        #expect(throws: IndexError.dimensionMismatch(expected: 12, got: 11)) { try index.add(Tensor(zeros: [2, 11])) }
        #expect(throws: IndexError.invalidProbe(0)) { try index.search(x, k: 1, probe: 0) }
        #expect(throws: IndexError.invalidK(0)) { try index.search(x, k: 0) }
        // an empty index answers with padding
        #expect(try index.search(x.sliced(along: 0, 0..<2), k: 3, probe: 4).indices == Array(repeating: -1, count: 6))
    }
}

/// The quantized part inside the image indexes: searched through, written and read back, refused
/// when damaged.
@Suite struct QuantizedImageIndexTests {
    func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("loupe-quantized-\(UUID().uuidString)-\(name)")
    }

    @Test func flatIndexThroughEveryListAndEnoughCandidatesIsExactAndSurvivesItsFile() throws {
        let x = QuantizedIndexTests.clustered(700, d: 32, clusters: 9, seed: 11)
        var index = try FlatIndex(recipe: recipe(32))
        try index.add(x.sliced(along: 0, 0..<600), paths: (0..<600).map { "/img/\($0).jpg" })
        let exact = try index.search(x.sliced(along: 0, 0..<25), k: 10)
        try index.quantize(.ivfPQ(lists: 8, subquantizers: 8), defaultSearch: QuantizedSearch(probe: 3, refine: 50))
        // added after quantizing: goes into the quantized part too
        try index.add(x.sliced(along: 0, 600..<700), paths: (600..<700).map { "/img/\($0).jpg" })
        #expect(index.quantized?.count == 700)
        let everything = QuantizedSearch(probe: 8, refine: 700)
        let all = try index.search(x.sliced(along: 0, 0..<25), k: 10, quantizedSearch: everything)
        let exactAll = nearestNeighbors(of: x.sliced(along: 0, 0..<25), in: x, k: 10)
        for q in 0..<25 { #expect(all[q].map(\.image) == exactAll.results(forQuery: q).map(\.index)) }
        #expect(exact[0][0].image == 0 && all[0][0].image == 0)
        // a narrow search is approximate but its scores are exact cosines (re-scored)
        let narrow = try index.search(x.sliced(along: 0, 0..<25), k: 10, quantizedSearch: QuantizedSearch(probe: 1, refine: 20))
        let xs = x.scalars
        for q in 0..<25 {
            for hit in narrow[q] {
                let cosine = (0..<32).reduce(Float(0)) { $0 + xs[q * 32 + $1] * xs[hit.image * 32 + $1] }
                #expect(abs(cosine - hit.score) < 1e-5)
            }
        }
        let url = temporaryFile("flat.index")
        defer { try? FileManager.default.removeItem(at: url) }
        try index.write(to: url)
        let read = try FlatIndex(contentsOf: url)
        #expect(read.quantized?.kind == .ivfPQ(lists: 8, subquantizers: 8))
        #expect(read.quantized?.defaultSearch == QuantizedSearch(probe: 3, refine: 50))
        #expect(try read.search(x.sliced(along: 0, 0..<25), k: 10, quantizedSearch: QuantizedSearch(probe: 2, refine: 30))
            == index.search(x.sliced(along: 0, 0..<25), k: 10, quantizedSearch: QuantizedSearch(probe: 2, refine: 30)))
        #expect(throws: IndexError.invalidProbe(0)) { try read.search(x.sliced(along: 0, 0..<1), k: 1, quantizedSearch: QuantizedSearch(probe: 0)) }
        #expect(throws: IndexError.invalidRefine(-1)) { try read.search(x.sliced(along: 0, 0..<1), k: 1, quantizedSearch: QuantizedSearch(refine: -1)) }
    }

    /// A projection to the leading principal directions: orthonormal, spanning the subspace the
    /// vectors live in (so inner products survive it), probed everywhere equal to exact search
    /// of the projections, re-scored equal to exact search, and kept by the file.
    @Test func projectionBeforeQuantizingKeepsTheVectorsSubspace() throws {
        // 40-d vectors in a 6-d subspace (a random orthonormal basis), plus noise 1e-3
        let basis = Tensor(randomUniform: [40, 6], seed: 31)
        let latent = Tensor(randomUniform: [800, 6], seed: 32)
        let noise = Tensor(randomUniform: [800, 40], seed: 33) * 1e-3
        let x = (matmul(latent, basis, transposingB: true) + noise).l2NormalizedRows()
        let quantizer = try QuantizedIndex(kind: .ivfFlat(lists: 5), training: x, reducedDimension: 8)
        let p = try #require(quantizer.projection)
        #expect(p.shape == [8, 40] && quantizer.codedDimension == 8 && quantizer.dimension == 40 && quantizer.description == "PCA8,IVF5,Flat")
        let gram = matmul(p, p, transposingB: true).scalars
        for i in 0..<8 { for j in 0..<8 { #expect(abs(gram[i * 8 + j] - (i == j ? 1 : 0)) < 1e-4) } }
        let px = matmul(x, p, transposingB: true)
        let q = x.sliced(along: 0, 0..<20), pq = px.sliced(along: 0, 0..<20)
        let kept = matmul(pq, px, transposingB: true).scalars, whole = matmul(q, x, transposingB: true).scalars
        #expect(zip(kept, whole).allSatisfy { abs($0 - $1) < 1e-3 }, "inner products of the projections")
        var index = quantizer
        try index.add(x)
        let everywhere = try index.search(q, k: 10, probe: 5), projected = nearestNeighbors(of: pq, in: px, k: 10)
        #expect(everywhere.indices == projected.indices)
        // through a flat index: IVF-PQ on the projections, re-scored with the whole vectors
        var flat = try FlatIndex(recipe: recipe(40))
        try flat.add(x, paths: (0..<800).map { "/img/\($0).jpg" })
        try flat.quantize(.ivfPQ(lists: 4, subquantizers: 4), reducingTo: 8)
        #expect(flat.quantized?.description == "PCA8,IVF4,PQ4" && flat.quantized?.bytesPerVector == 12)
        let search = QuantizedSearch(probe: 4, refine: 800)
        let exact = try flat.search(q, k: 10), approximate = try flat.search(q, k: 10, quantizedSearch: search)
        #expect(approximate.map { $0.map(\.image) } == exact.map { $0.map(\.image) })
        let url = temporaryFile("pca.index")
        defer { try? FileManager.default.removeItem(at: url) }
        try flat.write(to: url)
        let read = try FlatIndex(contentsOf: url)
        #expect(read.quantized?.description == "PCA8,IVF4,PQ4" && read.quantized?.projection == flat.quantized?.projection)
        #expect(try read.search(q, k: 10, quantizedSearch: QuantizedSearch(probe: 2, refine: 0)) == flat.search(q, k: 10, quantizedSearch: QuantizedSearch(probe: 2, refine: 0)))
        for bad in [0, 40, 41] {
            #expect(throws: IndexError.self) { try QuantizedIndex(kind: .ivfFlat(lists: 4), training: x, reducedDimension: bad) }
        }
        // --pq must divide the projected dimension
        #expect(throws: IndexError.self) { try QuantizedIndex(kind: .pq(subquantizers: 3), training: x, reducedDimension: 8) }
    }

    @Test func objectIndexQuantizedFindsTheSameImagesAndRefusesDamagedLists() throws {
        let (index, x) = try QuantizedIndexTests.objectIndex(seed: 21)
        let query = x.sliced(along: 0, 9..<11)
        let queryRegions = (0..<2).map { _ in ObjectRegion(kind: .detected, box: BoundingBox(x0: 0, y0: 0, x1: 10, y1: 10)) }
        for scoring in ObjectScoring.allCases {
            let options = ObjectSearchOptions(scoring: scoring, quantized: QuantizedSearch(probe: 6, refine: 320))
            let exact = try index.search(query, regions: queryRegions, k: 80, options: options, excluding: 5)
            var quantized = index
            try quantized.quantize(.ivfFlat(lists: 6))
            let found = try quantized.search(query, regions: queryRegions, k: 80, options: options, excluding: 5)
            #expect(found == exact, "\(scoring)")
            // without re-scoring, the best pair is still found exactly (IVF-Flat scores are exact)
            let unrefined = try quantized.search(query, regions: queryRegions, k: 5,
                                                 options: ObjectSearchOptions(scoring: .max, quantized: QuantizedSearch(probe: 6, refine: 0)))
            #expect(unrefined.first?.image == 2)
        }
        var quantized = index
        try quantized.quantize(.ivfPQ(lists: 4, subquantizers: 4))
        let url = temporaryFile("object.index")
        defer { try? FileManager.default.removeItem(at: url) }
        try quantized.write(to: url)
        let read = try ObjectIndex(contentsOf: url)
        #expect(try read.search(query, regions: queryRegions, k: 10) == quantized.search(query, regions: queryRegions, k: 10))
        // a list number out of range is refused by name, not searched
        let file = try SafetensorsFile(contentsOf: url)
        let (tensors, bytes) = try file.sections()
        // fresh checksums: the list checks themselves are what refuse each damage
        var metadata = file.metadata
        metadata.removeValue(forKey: SafetensorsFile.checksumKey)
        func refusal(_ edit: (inout [String: Tensor], inout [String: SafetensorsFile.ByteTensor]) -> Void) throws -> String? {
            var (t, b) = (tensors, bytes)
            edit(&t, &b)
            try SafetensorsFile.write(t, bytes: b, metadata: metadata, checksums: true, to: url)
            do {
                _ = try ObjectIndex(contentsOf: url)
                return nil
            } catch {
                guard case let .malformed(_, why) = error else { return "\(error)" }
                return why
            }
        }
        // the 8th id of the lists made 9,999 (there are 320 vectors); an id held twice; a list size past the ids
        let outOfRange = try refusal { _, b in for i in 0..<8 { b["quantized.ids"]!.values[56 + i] = UInt8(truncatingIfNeeded: 9_999 >> (8 * i)) } }
        #expect(outOfRange?.contains("holds id 9999") == true, "\(outOfRange ?? "accepted")")
        let twice = try refusal { _, b in for i in 0..<8 { b["quantized.ids"]!.values[56 + i] = b["quantized.ids"]!.values[i] } }
        #expect(twice?.contains("held twice") == true, "\(twice ?? "accepted")")
        let sizes = try refusal { t, _ in
            var s = t["quantized.list-sizes"]!.scalars
            s[0] += 1
            t["quantized.list-sizes"] = Tensor(shape: [s.count], scalars: s)
        }
        #expect(sizes?.contains("do not fit") == true, "\(sizes ?? "accepted")")
    }
}

/// Index files record a checksum of every section: any flipped byte or cut is refused on load,
/// naming the file (and the section when the checksum found it), never searched as if whole.
@Suite struct DamagedIndexFileTests {
    /// The error opening `url` gives — with ``IndexVerification/onAccess``, opening it and then
    /// searching it (the query reads every row: refine covers them all) or checking the rest.
    static func refusal(_ url: URL, _ verification: IndexVerification = .full) -> IndexError? {
        do throws(IndexError) {
            let index = try ObjectIndex(contentsOf: url, verification: verification)
            guard verification == .onAccess else { return nil }
            let query = index.vectors(ofImage: 0)
            _ = try index.search(query, regions: index.regions[index.rowRanges[0]].map { $0 }, k: 3,
                                 options: ObjectSearchOptions(quantized: QuantizedSearch(probe: 4, refine: index.regionCount)))
            try index.verify()
            return nil
        } catch { return error }
    }

    /// Rewrites row `row` of the index file at `url` through `change`, with its row checksum and
    /// every section checksum made again to match: damage that only the value checks can find.
    static func rewrite(row: Int, of url: URL, dimension d: Int, _ change: (Float) -> Float) throws {
        let file = try SafetensorsFile(contentsOf: url)
        var (tensors, bytes) = try file.sections()
        let shape = tensors["vectors"]!.shape
        var v = tensors["vectors"]!.scalars
        for j in 0..<d { v[row * d + j] = change(v[row * d + j]) }
        tensors["vectors"] = Tensor(shape: shape, scalars: v)
        let crc = v[(row * d)..<((row + 1) * d)].withUnsafeBytes { SafetensorsFile.crc32c(of: $0) }
        for b in 0..<4 { bytes["vectors.crc32c"]!.values[4 * row + b] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(b))) }
        var metadata = file.metadata
        metadata[SafetensorsFile.checksumKey] = nil
        try SafetensorsFile.write(tensors, bytes: bytes, metadata: metadata, checksums: true, to: url)
    }

    /// Opened with the vectors checked as they are read: the same results as opened in full; a
    /// NaN row whose checksums were made again to match is still refused by the search that reads
    /// it, and a damaged index is never written out again as if whole.
    @Test func checkedAsReadSearchesAlikeAndNeverPassesDamageOn() throws {
        let x = QuantizedIndexTests.clustered(300, d: 16, clusters: 8, seed: 5)
        var index = try FlatIndex(recipe: recipe(16))
        try index.add(x, paths: (0..<300).map { "/v/\($0)" })
        try index.quantize(.ivfPQ(lists: 4, subquantizers: 4))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-lazy-\(UUID().uuidString).index")
        let other = url.appendingPathExtension("copy")
        defer { try? FileManager.default.removeItem(at: url); try? FileManager.default.removeItem(at: other) }
        try index.write(to: url)
        let full = try FlatIndex(contentsOf: url)
        let lazy = try FlatIndex(contentsOf: url, verification: .onAccess)
        let q = x.sliced(along: 0, 0..<20)
        #expect(try lazy.search(q, k: 5) == full.search(q, k: 5))
        #expect(try lazy.search(q, k: 5, expansion: QueryExpansion.average(n: 2)) == full.search(q, k: 5, expansion: QueryExpansion.average(n: 2)))
        #expect(lazy.vectors.scalars == x.scalars)

        // row 7 made NaN, its row checksum and the section checksums recomputed
        try Self.rewrite(row: 7, of: url, dimension: 16) { _ in .nan }
        #expect(throws: IndexError.malformed(url, "vectors hold NaN or infinity")) { try FlatIndex(contentsOf: url) }
        let poisoned = try FlatIndex(contentsOf: url, verification: .onAccess)
        #expect(throws: IndexError.damaged(url, section: "vectors (row 7)")) {
            try poisoned.search(x.sliced(along: 0, 7..<8), k: 5, quantizedSearch: QuantizedSearch(probe: 4, refine: 300))
        }
        #expect(throws: IndexError.damaged(url, section: "vectors (row 7)")) { try poisoned.write(to: other) }
        #expect(!FileManager.default.fileExists(atPath: other.path))

        // unit vectors are recorded as such: row 9 made 1.5 times longer (checksums made to match
        // again) is refused in full at once, and checked as read by the search that reads it
        try index.write(to: url)
        #expect(try SafetensorsFile(contentsOf: url).metadata["unit-length"] == "1")
        try Self.rewrite(row: 9, of: url, dimension: 16) { $0 * 1.5 }
        #expect(throws: IndexError.malformed(url, "vector row 9 does not have unit length, which the file records for every row")) { try FlatIndex(contentsOf: url) }
        let stretched = try FlatIndex(contentsOf: url, verification: .onAccess)
        #expect(throws: IndexError.damaged(url, section: "vectors (row 9)")) {
            try stretched.search(x.sliced(along: 0, 9..<10), k: 5, quantizedSearch: QuantizedSearch(probe: 4, refine: 300))
        }
        // vectors that were never unit length are not recorded as such, and open as they are
        var raw = try FlatIndex(recipe: recipe(16))
        try raw.add(x * 3, paths: (0..<300).map { "/v/\($0)" })
        try raw.write(to: other)
        #expect(try SafetensorsFile(contentsOf: other).metadata["unit-length"] == nil)
        #expect(try FlatIndex(contentsOf: other).search(q, k: 5) == raw.search(q, k: 5))
    }

    @Test func crc32cIsTheStandardOne() {
        #expect(SafetensorsFile.crc32c("123456789") == 0xE306_9283)
        #expect(SafetensorsFile.crc32c("") == 0)
        // the three-chain path (12,288 bytes and up) against a bitwise loop, around its threshold and beyond
        func bitwise(_ bytes: [UInt8]) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = (crc >> 1) ^ (0x82F6_3B78 & (0 &- (crc & 1))) }
            }
            return ~crc
        }
        var generator = SplitMix(seed: 5)
        let data = (0..<1_000_003).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for n in [12_287, 12_288, 12_289, 12_296, 65_541, 1_000_003] {
            let part = Array(data[0..<n])
            #expect(part.withUnsafeBytes { SafetensorsFile.crc32c(of: $0) } == bitwise(part), "\(n) bytes")
        }
        // the scalar fallback is checked in scalarFallbacksMatchTheKernelsInUse (a child process)
    }

    @Test func everyFlippedByteAndEveryCutIsRefused() throws {
        var (index, _) = try QuantizedIndexTests.objectIndex(seed: 31)
        try index.quantize(.ivfPQ(lists: 4, subquantizers: 4))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-damaged-\(UUID().uuidString).objects")
        let copy = url.appendingPathExtension("copy")
        defer { try? FileManager.default.removeItem(at: url); try? FileManager.default.removeItem(at: copy) }
        try index.write(to: url)
        let whole = try Data(contentsOf: url)
        #expect(try SafetensorsFile(contentsOf: url).hasChecksums)
        _ = try ObjectIndex(contentsOf: url)
        var sections = Set<String>()
        // 400 single-byte flips spread over the header (the first 4 KiB) and every section, then 60 cuts;
        // opened in full, and opened checking the vectors as they are read, then searched
        var lazySections = Set<String>()
        for i in 0..<400 {
            var damaged = whole
            let at = i < 100 ? i * 13 % min(whole.count, 4096) : (i * 7919) % whole.count
            // in the header, a low bit (the JSON stays valid ASCII: a digit or letter changes); elsewhere any bits
            damaged[at] ^= i < 100 ? 0x01 : 0xFF
            try damaged.write(to: copy)
            for verification in [IndexVerification.full, .onAccess] {
                guard let error = Self.refusal(copy, verification) else {
                    Issue.record("a flip at byte \(at) of \(whole.count) was read as a whole index (\(verification))")
                    continue
                }
                #expect("\(error)".contains(copy.path))
                if case let .damaged(_, section) = error {
                    if verification == .full { sections.insert(section) } else { lazySections.insert(section) }
                }
            }
        }
        // the checksums caught flips in the data and in the metadata alike
        #expect(sections.isSuperset(of: ["vectors", "boxes", "__metadata__", "quantized.codes", "vectors.crc32c"]), "\(sections)")
        // opened lazily, a flipped vector is found by the search that reads its row
        #expect(lazySections.contains { $0.hasPrefix("vectors (row ") } && !lazySections.contains("vectors"), "\(lazySections)")
        for i in 0..<60 {
            try whole.prefix(i * whole.count / 60).write(to: copy)
            #expect(throws: IndexError.self) { try ObjectIndex(contentsOf: copy) }
            #expect(Self.refusal(copy, .onAccess) != nil)
        }
    }
}

/// Removing images and compacting: searches never return a removed image, and a compacted index
/// equals one built from the images left (the quantized part keeping its codes).
@Suite struct RemovalTests {
    @Test func removedImagesAreNeverFoundAndCompactingEqualsAFreshBuild() throws {
        var (index, x) = try QuantizedIndexTests.objectIndex(seed: 41)
        try index.quantize(.ivfPQ(lists: 4, subquantizers: 4))
        let original = try #require(index.quantized).assignment
        let gone: Set<Int> = [2, 10, 11, 79]
        try index.remove(images: gone)
        #expect(throws: IndexError.unknownImage(80, count: 80)) { try index.remove(images: [80]) }
        let query = x.sliced(along: 0, 9..<11)  // image 2's own regions
        let regions = (0..<2).map { _ in ObjectRegion(kind: .detected, box: BoundingBox(x0: 0, y0: 0, x1: 10, y1: 10)) }
        var exact = index
        exact.removeQuantization()
        for candidate in [index, exact] {
            let hits = try candidate.search(query, regions: regions, k: 80, options: ObjectSearchOptions(quantized: QuantizedSearch(probe: 4, refine: 320)))
            #expect(hits.allSatisfy { !gone.contains($0.image) } && hits.count == 76)
        }
        #expect(index.quantized?.liveCount == 76 * 4)
        // kept through a file
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-removed-\(UUID().uuidString).objects")
        defer { try? FileManager.default.removeItem(at: url) }
        try index.write(to: url)
        let read = try ObjectIndex(contentsOf: url)
        #expect(read.removed == gone && read.quantized?.liveCount == 76 * 4)
        // compacting: the images left, renumbered in order, as a fresh index of them would hold them
        try index.compact()
        var fresh = try ObjectIndex(recipe: objectRecipe(16))
        for image in (0..<80).filter({ !gone.contains($0) }) {
            try fresh.add(x.sliced(along: 0, (4 * image)..<(4 * image + 4)), regions: read.regions[read.rowRanges[image]].map { $0 },
                          path: read.paths[image])
        }
        #expect(index.count == 76 && index.paths == fresh.paths && index.regions == fresh.regions && index.rowRanges == fresh.rowRanges)
        #expect(index.vectors.scalars == fresh.vectors.scalars && index.removed.isEmpty)
        let keptRows = (0..<80).filter { !gone.contains($0) }.flatMap { (4 * $0)..<(4 * $0 + 4) }
        let compacted = try #require(index.quantized).assignment
        #expect(compacted.lists == keptRows.map { original.lists[$0] })
        #expect(compacted.codes == keptRows.flatMap { original.codes[(4 * $0)..<(4 * $0 + 4)] })
        let a = try index.search(query, regions: regions, k: 10, options: ObjectSearchOptions(quantized: QuantizedSearch(probe: 4, refine: 304)))
        let b = try fresh.search(query, regions: regions, k: 10)
        // the same hits, but that the compacted index's ids are still the images' first positions
        #expect(index.ids == (0..<80).filter { !gone.contains($0) } && fresh.ids == Array(0..<76))
        #expect(a.map(\.id) == a.map { index.ids[$0.image] } && a.map(\.id) != a.map(\.image))
        #expect(a.map { hit in var h = hit; h.id = h.image; return h } == b)
        // a flat index too
        var flat = try FlatIndex(recipe: recipe(16))
        try flat.add(x, paths: (0..<320).map { "/v/\($0)" })
        try flat.quantize(.ivfFlat(lists: 4))
        try flat.remove(images: [0, 5])
        let top = try flat.search(x.sliced(along: 0, 0..<1), k: 3)
        #expect(!top[0].contains { $0.image == 0 || $0.image == 5 })
        try flat.compact()
        #expect(flat.count == 318 && flat.paths.first == "/v/1" && flat.quantized?.count == 318 && flat.quantized?.liveCount == 318)
        #expect(try flat.search(x.sliced(along: 0, 1..<2), k: 1)[0][0].image == 0)
    }
}

import ArgumentParser
import Foundation
import Loupe

/// `loupe index --index-type TYPE --lists N --pq M`: the approximate index built beside the vectors.
struct QuantizedIndexOptions: ParsableArguments {
    enum IndexType: String, ExpressibleByArgument, CaseIterable {
        case flat, ivfflat, pq, ivfpq
    }

    @Option(name: .customLong("index-type"), help: "Index type: flat (exact), ivfflat (inverted file), pq (product quantization), ivfpq (both). The vectors are kept too, for re-scoring.")
    var type: IndexType = .flat

    @Option(help: "Inverted-file lists (ivfflat, ivfpq; default: the power of two nearest 4·√vectors).")
    var lists: Int?

    @Option(help: "Sub-quantizers M of the product quantizer, bytes per vector (pq, ivfpq; must divide the dimension; default: dimension / 16).")
    var pq: Int?

    @Option(help: "Project the vectors onto their N leading principal directions before quantizing (faiss's PCA N; --pq then divides N; re-scoring uses the whole vectors).")
    var pca: Int?

    @Option(help: "Lists scanned per query vector, recorded as the index's default (ivfflat, ivfpq).")
    var probe: Int?

    @Option(help: "Candidates per query vector re-scored exactly, recorded as the index's default (0: the quantized scores are final).")
    var refine: Int?

    /// Refuses what is wrong whatever the vectors turn out to be (before any image is embedded).
    func validate() throws {
        let given = [lists.map { _ in "--lists" }, pq.map { _ in "--pq" }, pca.map { _ in "--pca" }, probe.map { _ in "--probe" }, refine.map { _ in "--refine" }].compactMap { $0 }
        if type == .flat {
            guard given.isEmpty else { throw ValidationError("\(given.joined(separator: ", ")) need --index-type ivfflat, pq or ivfpq") }
            return
        }
        if let lists, lists < 1 { throw ValidationError("--lists must be at least 1, got \(lists)") }
        if let pq, pq < 1 { throw ValidationError("--pq must be at least 1, got \(pq)") }
        if let pca, pca < 1 { throw ValidationError("--pca must be at least 1, got \(pca)") }
        if let probe, probe < 1 { throw ValidationError("--probe must be at least 1, got \(probe)") }
        if let refine, refine < 0 { throw ValidationError("--refine must be 0 or more, got \(refine)") }
        if type == .pq, lists != nil { throw ValidationError("--lists applies to ivfflat and ivfpq") }
        if type == .ivfflat, pq != nil { throw ValidationError("--pq applies to pq and ivfpq") }
    }

    /// The kind for `vectors` vectors of `dimension` (nil: flat), checked.
    func kind(vectors: Int, dimension: Int) throws -> QuantizedIndex.Kind? {
        try validate()
        guard type != .flat else { return nil }
        if let pca, pca >= dimension { throw ValidationError("--pca must be less than the dimension \(dimension), got \(pca)") }
        let dimension = pca ?? dimension
        if let pq, dimension % pq != 0 { throw ValidationError("--pq must divide the \(pca == nil ? "dimension" : "--pca dimension") \(dimension), got \(pq)") }
        if let lists, lists > vectors { throw ValidationError("--lists \(lists) is more than the \(vectors) vectors to train on") }
        let defaultLists = max(1, Int(pow(2, (log2(4 * Double(vectors).squareRoot())).rounded())))
        let n = lists ?? min(defaultLists, vectors)
        var m = pq ?? max(1, dimension / 16)
        while dimension % m != 0 { m -= 1 }
        switch type {
        case .flat: return nil
        case .ivfflat: return .ivfFlat(lists: n)
        case .pq: return .pq(subquantizers: m)
        case .ivfpq: return .ivfPQ(lists: n, subquantizers: m)
        }
    }

    var search: QuantizedSearch {
        var s = QuantizedSearch()
        if let probe { s.probe = probe }
        if let refine { s.refine = refine }
        return s
    }
}

/// `loupe search --probe P --refine R`: how an index's quantized part is searched.
struct QuantizedSearchOptions: ParsableArguments {
    @Option(help: "Quantized index: lists scanned per query vector (default: the index's).")
    var probe: Int?

    @Option(help: "Quantized index: candidates per query vector re-scored exactly (0: quantized scores are final; default: the index's).")
    var refine: Int?

    /// The settings for `index` (its recorded defaults, overridden by what was given).
    func settings(for index: QuantizedIndex?) throws -> QuantizedSearch {
        guard let index else {
            if probe != nil || refine != nil { throw ValidationError("--probe and --refine apply to a quantized index (loupe index --index-type ivfpq …); this one is exact") }
            return QuantizedSearch()
        }
        var s = index.defaultSearch
        if let probe { guard probe >= 1 else { throw ValidationError("--probe must be at least 1, got \(probe)") }; s.probe = probe }
        if let refine { guard refine >= 0 else { throw ValidationError("--refine must be 0 or more, got \(refine)") }; s.refine = refine }
        return s
    }
}

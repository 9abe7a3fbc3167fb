import ArgumentParser
import Foundation
import Loupe

extension Search {
    struct ObjectOutput: Codable {
        var query: String
        var regions: [ObjectRegion]
        var results: [ObjectHit]
    }

    /// Searches an object index: the query's regions (detector, --box or both) against every
    /// image's regions.
    func searchObjects() throws {
        guard qe == 0 else { throw ValidationError("--qe applies to global indexes; an object query matches region by region") }
        let url = URL(fileURLWithPath: index)
        let objectIndex = try ObjectIndex(contentsOf: url, root: try files.rootURL(), verification: .onAccess)
        var options = scoring.options
        options.quantized = try quantized.settings(for: objectIndex.quantized)
        let given = try boxes.map { text -> BoundingBox in
            guard let box = BoundingBox(parsing: text) else { throw ValidationError("--box must be x0,y0,x1,y1 with x1 > x0 and y1 > y0, got '\(text)'") }
            return box
        }
        var proposal = objectIndex.recipe.mode.proposal ?? RegionProposal()
        if !detect, case .objects = objectIndex.recipe.mode { proposal.maximumObjects = 0 }  // no detector is loaded
        let embedder = try objectIndex.makeEmbedder(weights: files.store(for: objectIndex.recipe), whitening: oldIndexWhitening(), proposal: proposal)
        let (outputs, failure) = forEachInput(queries) { _, path in
            let image = try Image(contentsOf: URL(fileURLWithPath: path))
            var clock = StageClock()
            let objects = try embedder.objects(in: image, given: given, detect: detect, clock: &clock)
            let hits = try objectIndex.search(objects.vectors, regions: objects.regions, k: k, options: options, recipe: embedder.recipe)
            return ObjectOutput(query: path, regions: objects.regions, results: hits)
        }
        if json {
            try printJSON(outputs)
        } else {
            for o in outputs {
                print("\(o.query) (\(o.regions.count - 1) object regions)")
                for (rank, hit) in o.results.enumerated() {
                    print(String(format: "  %2d  %.4f  %@  ", rank + 1, hit.score, hit.path)
                          + "query \(describe(o.regions[hit.queryRegion])) ↔ \(describe(hit.databaseRegion))")
                }
            }
        }
        if let montage, !outputs.isEmpty { try writeObjectMontage(outputs, root: objectIndex.root, to: montage) }
        if let failure { throw failure }
    }

    func describe(_ region: ObjectRegion) -> String {
        let b = region.box
        let what = region.kind == .image ? "image" : (region.label ?? region.kind.rawValue)
        return region.kind == .image ? what : String(format: "%@ [%.0f,%.0f,%.0f,%.0f]", what, b.x0, b.y0, b.x1, b.y1)
    }

    /// One row per query: the query with the regions that matched (each in its colour, labelled),
    /// then each result with the database region it matched in the colour of its query region.
    func writeObjectMontage(_ outputs: [ObjectOutput], root: URL?, to path: String) throws {
        var montage = Montage()
        for o in outputs {
            let matched = Array(Set(o.results.map(\.queryRegion))).sorted()
            let color = { (region: Int) in Montage.palette[(matched.firstIndex(of: region) ?? 0) % Montage.palette.count] }
            let name = { (region: ObjectRegion) in region.kind == .image ? "image" : (region.label ?? region.kind.rawValue) }
            var row = [Montage.query(try Image(contentsOf: URL(fileURLWithPath: o.query)), path: o.query,
                                     boxes: matched.map { (o.regions[$0].box, color($0), name(o.regions[$0])) })]
            for (rank, hit) in o.results.prefix(k).enumerated() {
                let pair = "\(name(o.regions[hit.queryRegion])) - \(name(hit.databaseRegion))"
                row.append(Montage.result(try Self.resultImage(hit.path, root: root), rank: rank + 1, score: hit.score, path: hit.path,
                                          extra: pair, boxes: [(hit.databaseRegion.box, color(hit.queryRegion), name(hit.databaseRegion))]))
            }
            montage.rows.append(row)
        }
        try montage.write(to: path)
    }
}

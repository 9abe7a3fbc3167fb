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
        let objectIndex = try ObjectIndex(contentsOf: url)
        let given = try boxes.map { text -> BoundingBox in
            guard let box = BoundingBox(parsing: text) else { throw ValidationError("--box must be x0,y0,x1,y1 with x1 > x0 and y1 > y0, got '\(text)'") }
            return box
        }
        var proposal = objectIndex.recipe.mode.proposal ?? RegionProposal()
        if !detect, case .objects = objectIndex.recipe.mode { proposal.maximumObjects = 0 }  // no detector is loaded
        let embedder = try objectIndex.makeEmbedder(weights: store(for: objectIndex.recipe), whitening: oldIndexWhitening(), proposal: proposal)
        let (outputs, failure) = forEachInput(queries) { _, path in
            let image = try Image(contentsOf: URL(fileURLWithPath: path))
            var clock = StageClock()
            let objects = try embedder.objects(in: image, given: given, detect: detect, clock: &clock)
            let hits = try objectIndex.search(objects.vectors, regions: objects.regions, k: k, options: scoring.options, recipe: embedder.recipe)
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
        if let montage, !outputs.isEmpty { try writeObjectMontage(outputs, to: montage) }
        if let failure { throw failure }
    }

    func describe(_ region: ObjectRegion) -> String {
        let b = region.box
        let what = region.kind == .image ? "image" : (region.label ?? region.kind.rawValue)
        return region.kind == .image ? what : String(format: "%@ [%.0f,%.0f,%.0f,%.0f]", what, b.x0, b.y0, b.x1, b.y1)
    }

    /// One row per query: the query with the regions that matched (each in its colour), then the
    /// results with the database region each one matched, in the colour of its query region.
    func writeObjectMontage(_ outputs: [ObjectOutput], to path: String) throws {
        let palette = [RGB(230, 25, 75), RGB(60, 180, 75), RGB(0, 130, 200), RGB(245, 130, 48), RGB(145, 30, 180),
                       RGB(70, 240, 240), RGB(240, 50, 230), RGB(210, 245, 60)]
        func outlined(_ image: Image, _ boxes: [(BoundingBox, RGB)]) -> Image {
            var out = image
            let thickness = max(3, max(image.width, image.height) / 70)
            for (b, color) in boxes {
                out.drawRectangle(x0: Int(b.x0), y0: Int(b.y0), x1: Int(b.x1.rounded(.up)), y1: Int(b.y1.rounded(.up)),
                                  color: color, thickness: thickness)
            }
            return out.resized(longerSide: 192)
        }
        let columns = 1 + min(k, outputs.map(\.results.count).max() ?? 0)
        var tiles: [Image] = []
        for o in outputs {
            let matched = Array(Set(o.results.map(\.queryRegion))).sorted()
            let color = { (region: Int) in palette[(matched.firstIndex(of: region) ?? 0) % palette.count] }
            tiles.append(outlined(try Image(contentsOf: URL(fileURLWithPath: o.query)), matched.map { (o.regions[$0].box, color($0)) }))
            for hit in o.results.prefix(columns - 1) {
                tiles.append(outlined(try Image(contentsOf: URL(fileURLWithPath: hit.path)), [(hit.databaseRegion.box, color(hit.queryRegion))]))
            }
            while tiles.count % columns != 0 { tiles.append(Image(width: 8, height: 8, color: RGB(255, 255, 255))) }
        }
        try Image.grid(tiles, columns: columns, cellSize: 192).writePNG(to: URL(fileURLWithPath: path))
        printError("montage → \(path)")
    }
}

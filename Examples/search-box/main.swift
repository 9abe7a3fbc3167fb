// Object search with a box the user draws: `search-box INDEX IMAGE x0,y0,x1,y1`
//
// Opens an object index (`loupe index --objects`), rebuilds the embedder that made it from its
// recipe, embeds only the given box of the image (no detector), and prints the images whose
// regions match it best, with the region that matched.
import Foundation
import LoupeEmbedding

let arguments = CommandLine.arguments
guard arguments.count == 4, let box = BoundingBox(parsing: arguments[3]) else {
    print("usage: search-box INDEX IMAGE x0,y0,x1,y1")
    exit(64)
}
let index = try ObjectIndex(contentsOf: URL(fileURLWithPath: arguments[1]))
let embedder = try index.makeEmbedder()
let query = try embedder.objects(in: Image(contentsOf: URL(fileURLWithPath: arguments[2])), given: [box], detect: false)
for hit in try index.search(query.vectors, regions: query.regions, k: 5) {
    let b = hit.databaseRegion.box
    print(String(format: "%.4f  %@  matched %@ [%.0f, %.0f, %.0f, %.0f]", hit.score, hit.path,
                 hit.databaseRegion.label ?? hit.databaseRegion.kind.rawValue, b.x0, b.y0, b.x1, b.y1))
}

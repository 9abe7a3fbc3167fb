// Index a folder with object embeddings and search it: `index-folder FOLDER QUERY [INDEX]`
import Foundation
import LoupeEmbedding

let (folder, query) = (URL(fileURLWithPath: CommandLine.arguments[1]), URL(fileURLWithPath: CommandLine.arguments[2]))
let weights = WeightStore.standard()
let embedder = try ObjectEmbedder(embedder: GlobalEmbedder(backbone: weights.backbone(.classifier(.mobileNetV2)), maxSize: 512),
                                  detector: weights.detector(.nano), labels: weights.detectorLabels(.nano))
var index = ObjectIndex(for: embedder)
let report = try index.add(ImageCollection(folder).files, with: embedder)
for skip in report.skipped { print("skipped", skip) }
if CommandLine.arguments.count > 3 { try index.write(to: URL(fileURLWithPath: CommandLine.arguments[3])) }
let q = try embedder.objects(in: Image(contentsOf: query))
for hit in try index.search(q.vectors, regions: q.regions, k: 5) { print(String(format: "%.6f", hit.score), hit.path) }

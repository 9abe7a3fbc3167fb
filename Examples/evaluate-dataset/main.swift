// Evaluate global retrieval on an SMVS-layout dataset: `evaluate-dataset DATASET [MAX_SIZE]`
//
// MobileNetV2 + GeM at the given size (512 by default, the reference settings), every query
// against the references; prints mAP (plain and cirtorch's trapezoid) and Recall@1 per camera.
import Foundation
import LoupeEmbedding

let folder = URL(fileURLWithPath: CommandLine.arguments[1])
let maxSize = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 512 : 512
let embedder = try GlobalEmbedder(backbone: WeightStore.standard().backbone(.classifier(.mobileNetV2)), maxSize: maxSize)
let report = try evaluate(RetrievalDataset.smvs(folder), with: embedder)
for (group, summary) in report.groups.sorted(by: { $0.key < $1.key }) + [("overall", report.overall)] {
    print(String(format: "%@ mAP %.3f trapezoid %.3f R@1 %.3f (%d queries)", group, summary.meanAP, summary.meanTrapezoidAP,
                 summary.recall(at: 1) ?? 0, summary.queries))
}

// Per-image cost of each embedding mode on the same decoded images, in one run:
//   global                 one backbone pass
//   objects (attention)    YOLOX-Nano + one backbone pass, boxes pooled on the shared map
//   objects (crop teacher) YOLOX-Nano + one backbone pass + one pass per box crop
//   objects (student)      YOLOX-Nano + the distilled head on the RoI features (no classifier pass)
//
//   loupe-object-bench [--images DIR] [--count N] [--max-size 512] [--teacher-size 512]
//                      [--objects 5] [--threads N] [--backbone W.safetensors] [--detector W.safetensors]
//                      [--student HEAD.safetensors]
// Without --student the head is freshly initialised: its cost does not depend on its weights.
// Prints a Markdown table: median and mean milliseconds per image, regions per image, the ratio to
// global, and where the time goes. Decoding is excluded (the images are decoded once up front).
import Foundation
import Loupe

var imagesDir = "../shared/data/smvs-dvd/queries/canon", count = 20, maxSize = 512, teacherSize = 512, objects = 5
var backboneWeights = ".cache/models/mobilenet_v2.safetensors", detectorWeights = "../shared/models/yolox_nano_coco.safetensors"
var studentHead: String?
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--images": imagesDir = args.popFirst() ?? imagesDir
    case "--count": count = Int(args.popFirst() ?? "") ?? count
    case "--max-size": maxSize = Int(args.popFirst() ?? "") ?? maxSize
    case "--teacher-size": teacherSize = Int(args.popFirst() ?? "") ?? teacherSize
    case "--objects": objects = Int(args.popFirst() ?? "") ?? objects
    case "--threads": ComputeThreads.count = Int(args.popFirst() ?? "") ?? ComputeThreads.count
    case "--backbone": backboneWeights = args.popFirst() ?? backboneWeights
    case "--detector": detectorWeights = args.popFirst() ?? detectorWeights
    case "--student": studentHead = args.popFirst()
    default:
        FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
        exit(2)
    }
}

let files = try FileManager.default.contentsOfDirectory(at: URL(fileURLWithPath: imagesDir), includingPropertiesForKeys: nil)
    .filter { ["jpg", "jpeg", "png"].contains($0.pathExtension.lowercased()) }.sorted { $0.path < $1.path }.prefix(count)
let images = try files.map { try Image(contentsOf: $0) }
guard !images.isEmpty else { fatalError("no images in \(imagesDir)") }
let backbone = try WeightStore.backbone(.classifier(.mobileNetV2), file: URL(fileURLWithPath: backboneWeights))
let detector = try YOLOX(contentsOf: URL(fileURLWithPath: detectorWeights))
let global = try GlobalEmbedder(backbone: backbone, maxSize: maxSize)
let proposal = RegionProposal(maximumObjects: objects)
let attention = try ObjectEmbedder(embedder: global, detector: detector, proposal: proposal)
let teacher = try ObjectEmbedder(embedder: global, detector: detector, proposal: proposal, method: .cropTeacher(maxSize: teacherSize))
let student: StudentEmbedder
if let studentHead {
    student = try StudentEmbedder(detector: detector, headFile: URL(fileURLWithPath: studentHead), proposal: proposal)
} else {
    let head = StudentHead(configuration: .init(inputChannels: 64, dimension: global.recipe.dimension))
    student = try StudentEmbedder(detector: detector, head: head, teacherRecipe: teacher.recipe, headIdentity: StudentHeadIdentity(fileName: "random.safetensors", checksum: "random"), proposal: proposal)
}

struct Row { var name: String; var perImage: [Double]; var regions: Int; var clock: StageClock }
func measure(_ name: String, _ body: (Image, inout StageClock) throws -> Int) rethrows -> Row {
    var scratch = StageClock()
    _ = try body(images[0], &scratch)  // warm-up
    var row = Row(name: name, perImage: [], regions: 0, clock: StageClock())
    for image in images {
        let t0 = DispatchTime.now().uptimeNanoseconds
        row.regions += try body(image, &row.clock)
        row.perImage.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6)
    }
    return row
}

let rows = [
    try measure("global (1 backbone pass)") { image, clock in _ = try global.embedding(of: image, clock: &clock); return 1 },
    try measure("objects, hard attention (detector + 1 pass)") { image, clock in try attention.objects(in: image, clock: &clock).regions.count },
    try measure("objects, crop teacher (detector + 1 + K passes)") { image, clock in try teacher.objects(in: image, clock: &clock).regions.count },
    try measure("objects, student (detector + head)") { image, clock in
        try student.objects(in: image, given: [], detect: true, clock: &clock).regions.count
    },
]
print("\(images.count) images from \(imagesDir), MobileNetV2 at \(maxSize) px, YOLOX-Nano at 416, ≤ \(objects) boxes, crops at \(teacherSize) px, \(ComputeThreads.count) threads\n")
print("| mode | median ms / image | mean ms / image | regions / image | × global | crop teacher ÷ mode |")
print("|---|---|---|---|---|---|")
let base = rows[0].perImage.reduce(0, +), teacherTotal = rows[2].perImage.reduce(0, +)
for r in rows {
    let sorted = r.perImage.sorted()
    let mean = r.perImage.reduce(0, +) / Double(r.perImage.count)
    let total = r.perImage.reduce(0, +)
    print(String(format: "| %@ | %.1f | %.1f | %.1f | %.2f | %.2f |", r.name, sorted[sorted.count / 2], mean,
                 Double(r.regions) / Double(images.count), total / base, teacherTotal / total))
}
for r in rows {
    print("\n\(r.name):")
    print(r.clock.report(items: images.count))
}

// Spliced-image search: an object cut from one picture and pasted into another. Which gallery
// images did the splice come from? Global embeddings see the host scene; object embeddings also
// find the donor, and say which box matched which.
//
//   swift run -c release spliced-search [DARKNET_DATA] [MORE_PHOTOS] [MOBILENET_V2.safetensors] [YOLOX.safetensors] [OUT_DIR]
//
// Scripts/setup.sh installs the defaults: the darknet sample photos (the sources of the splices)
// and scikit-image's sample photos (more gallery images, so that chance cannot place a source high).
import Foundation
import Loupe

let arguments = CommandLine.arguments.dropFirst().map { URL(fileURLWithPath: $0) }
let data = arguments.count > 0 ? arguments[0] : URL(fileURLWithPath: ".cache/darknet/data")
let morePhotos = arguments.count > 1 ? arguments[1] : URL(fileURLWithPath: ".cache/samples/skimage")
let backboneWeights = arguments.count > 2 ? arguments[2] : URL(fileURLWithPath: ".cache/models/mobilenet_v2.safetensors")
let detectorWeights = arguments.count > 3 ? arguments[3] : URL(fileURLWithPath: "../shared/models/yolox_nano_coco.safetensors")
let output = arguments.count > 4 ? arguments[4] : URL(fileURLWithPath: "spliced-demo")
try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)

// 1. The embedders: MobileNetV2 + GeM at 1024 px (a pasted object spans a few cells of a 512-px
//    map; at 1024 px it has four times as many); YOLOX-Nano's 10 best boxes (these photos are
//    busy: horses.jpg alone holds five horses) as hard attention on the same map.
let backbone = try WeightStore.backbone(.classifier(.mobileNetV2), file: backboneWeights)
let detector = try YOLOX(contentsOf: detectorWeights)
let labels = (try? readLabels(detectorWeights.deletingLastPathComponent().appendingPathComponent("coco.names")))
    ?? (try? readLabels(data.appendingPathComponent("coco.names"))) ?? []
let global = try GlobalEmbedder(backbone: backbone, maxSize: 1024)
let embedder = try ObjectEmbedder(embedder: global, detector: detector, proposal: RegionProposal(maximumObjects: 10),
                                  method: .hardAttention(.roiAlign(bins: 7)), labels: labels)

// 2. The gallery: the sample photos, each kept as whole image + object regions.
let sources = ["dog", "eagle", "giraffe", "horses", "kite", "person", "scream"].map { data.appendingPathComponent("\($0).jpg") }
let others = ((try? FileManager.default.contentsOfDirectory(at: morePhotos, includingPropertiesForKeys: nil)) ?? [])
    .filter { ["png", "jpg"].contains($0.pathExtension) }.sorted { $0.path < $1.path }
var gallery: [String: Image] = [:]
var index = ObjectIndex(for: embedder)
for url in sources + others {
    let name = url.deletingPathExtension().lastPathComponent
    let image = try Image(contentsOf: url)
    gallery[name] = image
    let objects = try embedder.objects(in: image)
    try index.add(objects.vectors, regions: objects.regions, path: name)
}

print("Gallery: \(index.count) photos, \(index.regionCount) region vectors.\n")

// 3. Splices: the donor's best box of one COCO class, scaled to a third of the host's height and
//    pasted into the host's lower left corner.
let splices: [(donor: String, object: String, host: String)] = [
    ("dog", "dog", "giraffe"), ("eagle", "bird", "horses"), ("giraffe", "giraffe", "person"),
    ("horses", "horse", "kite"), ("person", "person", "scream"), ("dog", "bicycle", "eagle"),
]
print("| splice | host rank: global | host rank: objects | donor rank: global | donor rank: objects | matched donor box |")
print("|---|---|---|---|---|---|")
var montage = Montage()
var bothFound = (global: 0, objects: 0)
for s in splices {
    let donor = gallery[s.donor]!, host = gallery[s.host]!
    let found = detector.detect(donor, options: .init(scoreThreshold: 0.3), labels: labels)
    guard let box = found.first(where: { $0.label == s.object })?.box else { fatalError("no \(s.object) found in \(s.donor).jpg") }
    let cut = donor.cropped(x: Int(box.x0), y: Int(box.y0), width: max(1, Int(box.width)), height: max(1, Int(box.height)))
    let pasted = cut.resized(longerSide: max(16, Int(Float(host.height) * 0.33 * max(1, box.width / box.height))))
    var query = host
    query.paste(pasted, x: host.width / 20, y: host.height - pasted.height - host.height / 20)
    try query.writePNG(to: output.appendingPathComponent("\(s.object)-in-\(s.host).png"))

    let q = try embedder.objects(in: query)
    let all = index.count
    let globalHits = try index.search(q.vectors, regions: q.regions, k: all, options: .init(queryRegions: .image, databaseRegions: .image))
    let objectHits = try index.search(q.vectors, regions: q.regions, k: all)  // the query's objects vs every region
    func rank(_ hits: [ObjectHit], _ name: String) -> Int { 1 + hits.firstIndex { $0.path == name }! }
    let donorHit = objectHits.first { $0.path == s.donor }!
    let matchedBox = donorHit.databaseRegion.box
    print("| \(s.object) from \(s.donor) into \(s.host) | \(rank(globalHits, s.host)) | \(rank(objectHits, s.host)) | "
          + "\(rank(globalHits, s.donor)) | \(rank(objectHits, s.donor)) | "
          + String(format: "%@ [%.0f, %.0f, %.0f, %.0f], IoU with the cut box %.2f |", donorHit.databaseRegion.label ?? "image",
                   matchedBox.x0, matchedBox.y0, matchedBox.x1, matchedBox.y1, matchedBox.intersectionOverUnion(box)))
    if Set(globalHits.prefix(2).map(\.path)) == [s.host, s.donor] { bothFound.global += 1 }
    if Set(objectHits.prefix(2).map(\.path)) == [s.host, s.donor] { bothFound.objects += 1 }

    // montage row: the query with the box that matched the donor, then the top 3 by objects with
    // the regions they matched (the donor's in red), each with rank, score and name
    let label = { (region: ObjectRegion) in region.label ?? "image" }
    var row = [Montage.Tile(image: query, boxes: [(donorHit.queryBox, Montage.palette[0], "pasted")],
                            lines: ["QUERY", "\(s.object) in \(s.host)"], frame: Montage.queryFrame)]
    for (r, hit) in objectHits.prefix(3).enumerated() {
        let role = hit.path == s.host ? "host" : hit.path == s.donor ? "donor" : "neither"
        row.append(Montage.result(gallery[hit.path]!, rank: r + 1, score: hit.score, path: hit.path, extra: role,
                                  boxes: [(hit.databaseRegion.box, hit.path == s.donor ? Montage.palette[0] : Montage.palette[1], label(hit.databaseRegion))]))
    }
    montage.rows.append(row)
}
print("\nBoth sources in the top 2: global \(bothFound.global) of \(splices.count), objects \(bothFound.objects) of \(splices.count).")
try montage.render().writePNG(to: output.appendingPathComponent("montage.png"))
print("Spliced queries and montage (query | top 3 by objects, matched boxes drawn) in \(output.path)/")

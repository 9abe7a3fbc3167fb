import Foundation
import Loupe

/// An image the grid embeds: a file, or (Revisited queries) the box cut from it.
struct Item: Hashable {
    var path: URL
    var box: [Double]?

    var key: String { path.path + (box.map { "#" + $0.map { String($0) }.joined(separator: ",") } ?? "") }

    /// The image (cut to `box`); a file that cannot be decoded is named in the error.
    func load() throws -> Image {
        let image: Image
        do { image = try Image(contentsOf: path) } catch { throw GridError.image(path.path, error) }
        return box.map { image.cropped(toBox: $0) } ?? image
    }
}

/// A dataset of the grid: its ground truth and the items to embed (database first, then the
/// queries that are not database images).
struct GridDataset {
    var name: String
    var dataset: RetrievalDataset?
    var items: [Item]
    /// The item of each query of `dataset`.
    var queryItems: [Int]
    /// How many items are database images.
    var databaseCount: Int
    /// Where this dataset's vectors are cached: its name and a hash of its item list.
    var cacheKey: String

    /// `LAYOUT:PATH` with LAYOUT smvs, labels, revisited-easy|medium|hard, or images (a folder of
    /// images, used only to learn whitening).
    init(spec: String) throws {
        guard let colon = spec.firstIndex(of: ":") else { throw GridError.usage("a dataset is LAYOUT:PATH, got '\(spec)'") }
        let layout = String(spec[..<colon]), folder = URL(fileURLWithPath: String(spec[spec.index(after: colon)...]))
        let dataset: RetrievalDataset?
        switch layout {
        case "smvs": dataset = try RetrievalDataset.smvs(folder)
        case "labels": dataset = try RetrievalDataset.labeled(folder)
        case "revisited-easy", "revisited-medium", "revisited-hard":
            let proto = RetrievalDataset.RevisitedProtocol(rawValue: String(layout.dropFirst("revisited-".count)))!
            dataset = try RetrievalDataset.revisited(folder, protocol: proto)
        case "images":
            dataset = nil
        default:
            throw GridError.usage("unknown layout '\(layout)' (smvs, labels, revisited-easy|medium|hard, images)")
        }
        let name = layout.hasPrefix("revisited") ? "\(folder.lastPathComponent)-\(layout.dropFirst(10))" : folder.lastPathComponent
        if let dataset {
            self.init(name: name, dataset: dataset)
        } else {
            let files = (try? FileManager.default.subpathsOfDirectory(atPath: folder.path)) ?? []
            let images = files.filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            self.init(name: name, images: images.map { Item(path: folder.appendingPathComponent($0)) })
        }
        guard !items.isEmpty else { throw GridError.usage("\(folder.path) holds no images") }
    }

    /// A dataset with ground truth: database images, then the queries that are not among them.
    init(name: String, dataset: RetrievalDataset) {
        (self.name, self.dataset) = (name, dataset)
        items = dataset.database.map { Item(path: $0) }
        databaseCount = items.count
        var seen: [Item: Int] = [:], items = self.items
        queryItems = dataset.queries.map { q in
            if let i = q.databaseIndex { return i }
            let item = Item(path: q.path, box: q.box)
            if let i = seen[item] { return i }
            seen[item] = items.count
            items.append(item)
            return items.count - 1
        }
        self.items = items
        cacheKey = name + "-" + fnv1a(items.map(\.key).joined(separator: "\n"))
    }

    /// Images without ground truth (whitening only).
    init(name: String, images: [Item]) {
        (self.name, self.dataset, self.items, self.queryItems, self.databaseCount) = (name, nil, images, [], images.count)
        cacheKey = name + "-" + fnv1a(images.map(\.key).joined(separator: "\n"))
    }
}

/// A backbone of the grid and the stages it sweeps.
struct BackboneSpec {
    var backbone: any FeatureBackbone
    var checksum: String
    var stages: [String]
    /// "classification" or "detection".
    var family: String
    var name: String { backbone.name }
}

/// The default layer sweep: for a classifier, the last stage at stride 16, the last stage at
/// stride 32 before the final one, and the final (default) stage; for YOLOX, the backbone's and
/// the PAFPN's stride-16 and stride-32 outputs.
func defaultStages(of backbone: any FeatureBackbone) -> [String] {
    if backbone.name.hasPrefix("yolox") { return ["dark4", "dark5", "pan4", "pan5"] }
    let probe = 128
    let maps = backbone.features(Tensor(zeros: [1, 3, probe, probe]), at: Set(backbone.stageNames))
    let stride = { (s: String) in probe / maps[s]!.shape[3] }
    var out: [String] = []
    if let s16 = backbone.stageNames.last(where: { stride($0) == 16 }) { out.append(s16) }
    if let s32 = backbone.stageNames.last(where: { stride($0) == 32 && $0 != backbone.defaultStage }) { out.append(s32) }
    out.append(backbone.defaultStage)
    return out
}

enum GridError: Error, CustomStringConvertible {
    case usage(String)
    case cache(String)
    case image(String, ImageError)
    var description: String {
        switch self {
        case let .usage(why): why
        case let .cache(why): "cache: \(why)"
        case let .image(path, error): "\(path): \(error)"
        }
    }
}

/// FNV-1a 64 of a string, hex: cache keys.
func fnv1a(_ text: String) -> String { FNV1a.hex(text) }

/// A line on standard error.
func log(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

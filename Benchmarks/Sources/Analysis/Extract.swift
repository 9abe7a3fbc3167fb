import Foundation
import Loupe

/// What the grid extracts and how: the sweeps per backbone, the detector's proposal, the heads.
struct Extractor {
    var specs: [BackboneSpec]
    var sweeps: [String: RecipeSweep]
    var detector: YOLOX
    var detectorChecksum: String
    var proposal: RegionProposal
    var students: [(name: String, embedder: StudentEmbedder)]
    var cacheRoot: URL
    var shardSize: Int

    /// Cells requested of each backbone (`stage|pooling`).
    func cellNames(_ spec: BackboneSpec) -> [String] { sweeps[spec.name]!.cells.map(\.description) }

    func recipeKey(_ spec: BackboneSpec, _ mode: Mode) -> String {
        let sweep = sweeps[spec.name]!
        var recipe = "\(spec.name) \(spec.checksum) size \(sweep.maxSize)"
        switch mode {
        case .global: break
        case .objects: recipe += " \(sweep.sampling) \(proposalKey)"
        case .teacher: recipe += " teacher \(sweep.teacherSize) \(proposalKey)"
        case .student: break
        }
        return "\(spec.name)-\(mode.rawValue)-\(fnv1a(recipe))"
    }

    var proposalKey: String {
        // the same text as before the typed recipe, so that cached grids stay valid
        "yolox \(detectorChecksum) " + ["detector-size": String(proposal.inputSize), "object-min-side": String(proposal.minimumSide),
                                        "object-nms": String(proposal.nmsThreshold), "object-threshold": String(proposal.scoreThreshold),
                                        "objects": String(proposal.maximumObjects)]
            .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }

    func studentKey(_ name: String) -> String { "student-\(name)-\(fnv1a(proposalKey))" }

    /// Counters for the run's report.
    struct Tally { var computed = 0, cached = 0, seconds = 0.0 }

    /// Makes sure every shard of `dataset` holds `modes` for every backbone (and the students),
    /// computing what is missing. Returns how many (recipe, shard) pairs were computed or cached.
    func extract(_ dataset: GridDataset, modes: Set<Mode>, tally: inout Tally) throws {
        let shards = (dataset.items.count + shardSize - 1) / shardSize
        let start = Date()
        var computedImages = 0
        for shard in 0..<shards {
            let range = (shard * shardSize)..<min(dataset.items.count, (shard + 1) * shardSize)
            let items = Array(dataset.items[range])
            // what this shard lacks
            var missing: [(spec: BackboneSpec, mode: Mode, store: ShardStore, old: RegionVectors?)] = []
            for spec in specs {
                for mode in modes.sorted() where mode != .student {
                    let store = ShardStore(root: cacheRoot, dataset: dataset, recipe: recipeKey(spec, mode), shardSize: shardSize)
                    let old = store.load(shard, items: items)
                    if let old, Set(cellNames(spec)).isSubset(of: old.cells.keys) { tally.cached += 1; continue }
                    missing.append((spec, mode, store, old))
                }
            }
            var missingStudents: [(name: String, embedder: StudentEmbedder, store: ShardStore)] = []
            if modes.contains(.student) {
                for s in students {
                    let store = ShardStore(root: cacheRoot, dataset: dataset, recipe: studentKey(s.name), shardSize: shardSize)
                    if store.load(shard, items: items) != nil { tally.cached += 1 } else { missingStudents.append((s.name, s.embedder, store)) }
                }
            }
            guard !missing.isEmpty || !missingStudents.isEmpty else { continue }
            let images = try items.map { try $0.load() }
            // the detector's regions, once per shard, for every mode that needs boxes
            var regions: [[ObjectRegion]] = images.map { [ObjectRegion(kind: .image, box: .whole(width: $0.width, height: $0.height))] }
            if missing.contains(where: { $0.mode != .global }) {
                regions = try images.map { image in
                    let found = detector.detect(image, options: proposal.detectionOptions)
                    return try proposal.regions(of: image, given: [], detections: found)
                }
            }
            for spec in specs {
                let mine = missing.filter { $0.spec.name == spec.name }
                guard !mine.isEmpty else { continue }
                let sweep = sweeps[spec.name]!
                let needs = Set(mine.map(\.mode))
                var computed: [Mode: RegionVectors] = [:]
                if needs.contains(.global) || needs.contains(.objects) {
                    let objectsToo = needs.contains(.objects)
                    var perItem: [[String: Tensor]] = []
                    for (image, r) in zip(images, regions) {
                        let rows = sweep.hardAttention(image, boxes: objectsToo ? r.dropFirst().map(\.box) : [])
                        perItem.append(Dictionary(uniqueKeysWithValues: rows.map { ($0.key.description, $0.value) }))
                    }
                    if objectsToo { computed[.objects] = regionVectors(perItem: perItem, regions: regions) }
                    computed[.global] = regionVectors(perItem: perItem.map { $0.mapValues { $0.sliced(along: 0, 0..<1) } },
                                                      regions: regions.map { [$0[0]] })
                }
                if needs.contains(.teacher) {
                    var perItem: [[String: Tensor]] = []
                    for (image, r) in zip(images, regions) {
                        let rows = sweep.cropTeacher(image, boxes: r.dropFirst().map(\.box))
                        perItem.append(Dictionary(uniqueKeysWithValues: rows.map { ($0.key.description, $0.value) }))
                    }
                    computed[.teacher] = regionVectors(perItem: perItem, regions: regions)
                }
                for m in mine {
                    var v = computed[m.mode]!
                    // keep cells an earlier run computed that this one did not ask for
                    if let old = m.old, old.counts == v.counts {
                        for (name, t) in old.cells where v.cells[name] == nil { v.cells[name] = t }
                    }
                    try m.store.write(v, shard: shard, items: items)
                    tally.computed += 1
                }
            }
            for s in missingStudents {
                var perItem: [[String: Tensor]] = [], studentRegions: [[ObjectRegion]] = []
                for image in images {
                    let o = try s.embedder.objects(in: image)
                    perItem.append(["student": o.vectors])
                    studentRegions.append(o.regions)
                }
                try s.store.write(regionVectors(perItem: perItem, regions: studentRegions), shard: shard, items: items)
                tally.computed += 1
            }
            // the estimate assumes the remaining shards need as much as the computed ones did
            computedImages += items.count
            let elapsed = Date().timeIntervalSince(start)
            let done = range.upperBound
            log(String(format: "  %@: %d/%d images (shard %d/%d), %.0f s, ~%.0f s left", dataset.name, done, dataset.items.count,
                       shard + 1, shards, elapsed, elapsed / Double(computedImages) * Double(dataset.items.count - done)))
        }
        tally.seconds += Date().timeIntervalSince(start)
    }

    /// All items' vectors of one recipe (every shard must exist: call ``extract`` first).
    func load(_ dataset: GridDataset, recipe: String, cells: [String]) throws -> RegionVectors {
        let store = ShardStore(root: cacheRoot, dataset: dataset, recipe: recipe, shardSize: shardSize)
        let shards = (dataset.items.count + shardSize - 1) / shardSize
        var parts: [RegionVectors] = []
        for shard in 0..<shards {
            let items = Array(dataset.items[(shard * shardSize)..<min(dataset.items.count, (shard + 1) * shardSize)])
            guard let v = store.load(shard, items: items), Set(cells).isSubset(of: v.cells.keys) else {
                throw GridError.cache("\(store.url(shard).path) is missing or incomplete")
            }
            parts.append(v)
        }
        return RegionVectors.concatenated(parts, cells: cells)
    }
}

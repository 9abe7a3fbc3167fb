import Foundation
import Loupe

/// Writes `analysis.csv` (every cell), `analysis.md` (the tables) and the plots.
func writeReport(rows: [ResultRow], whitenings whiteningOrder: [String], specs: [BackboneSpec], sweeps: [String: RecipeSweep], grid: [GridDataset],
                 whiteningSets: [GridDataset], timing: RunTiming, command: String, to folder: URL) throws {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try atomically(csv(rows), to: folder.appendingPathComponent("analysis.csv"))
    var md = "# Analysis grid\n\n"
    md += "Command: `loupe-analysis \(command)`\n\n"
    md += "Datasets: " + grid.map { "\($0.name) (\($0.databaseCount) database images, \($0.dataset!.queries.count) queries)" }.joined(separator: ", ")
    md += ". Whitening (PCA, power −½) for each dataset is learned on the other datasets' database images"
    md += whiteningSets.isEmpty ? ".\n\n" : " and " + whiteningSets.map { "\($0.name) (\($0.items.count) images)" }.joined(separator: ", ") + ".\n\n"
    md += String(format: "Wall time: %.0f s (embeddings %.0f s: %d shard files computed, %d read from the cache; scoring %.0f s); %d results.\n\n",
                 timing.total, timing.embedding, timing.computedShards, timing.cachedShards, timing.scoring, rows.count)
    md += "mAP = non-interpolated mean average precision; R@1 = share of queries whose first result is relevant. "
    md += "Object modes search the query's objects against every database region (image score = best pair).\n"
    for d in grid {
        let mine = rows.filter { $0.dataset == d.name }
        func value(_ backbone: String, _ stage: String, _ pooling: String, _ mode: String, _ whitening: String) -> ResultRow? {
            mine.first { $0.backbone == backbone && $0.stage == stage && $0.pooling == pooling && $0.mode == mode && $0.whitening == whitening }
        }
        md += "\n## \(d.name)\n\n### Pooling × whitening dimension (global, last layer): mAP\n\n"
        md += "| backbone | pooling | " + whiteningOrder.map { $0 == "none" ? "no whitening" : $0 == "full" ? "full PCA-w" : "PCA-w \($0)" }
            .joined(separator: " | ") + " |\n|---|---|" + String(repeating: "---|", count: whiteningOrder.count) + "\n"
        for spec in specs {
            let last = sweeps[spec.name]!.stages.last!
            for p in sweeps[spec.name]!.poolings.map(\.description) {
                let cells = whiteningOrder.map { w in value(spec.name, last, p, "global", w).map { f3($0.meanAP) } ?? "–" }
                md += "| \(spec.name) | \(p) | " + cells.joined(separator: " | ") + " |\n"
            }
        }
        md += "\n### Layers (global, no whitening): mAP per pooling\n\n"
        let poolingNames = sweeps[specs[0].name]!.poolings.map(\.description)
        md += "| backbone | family | stage | stride | channels | " + poolingNames.joined(separator: " | ") + " |\n"
        md += "|---|---|---|---|---|" + String(repeating: "---|", count: poolingNames.count) + "\n"
        for spec in specs {
            for stage in sweeps[spec.name]!.stages {
                let sweep = sweeps[spec.name]!
                let cells = poolingNames.map { p in value(spec.name, stage, p, "global", "none").map { f3($0.meanAP) } ?? "–" }
                md += "| \(spec.name) | \(spec.family) | \(stage) | \(sweep.strides[stage]!) | \(sweep.channels[stage]!) | " + cells.joined(separator: " | ") + " |\n"
            }
        }
        let modes = unique(mine.map(\.mode))
        md += "\n### Modes (last layer, GeM): mAP / R@1, without and with full PCA whitening\n\n"
        let studentCount = Set(mine.filter { $0.mode == "student" }.map(\.backbone)).count
        if studentCount > 1 { md += "In modes.png the students are s1…s\(studentCount), in this table's order.\n\n" }
        md += "| backbone | " + modes.flatMap { ["\($0)", "\($0) PCA-w"] }.joined(separator: " | ") + " |\n|---|"
            + String(repeating: "---|", count: 2 * modes.count) + "\n"
        let gem = GlobalPooling.gem(p: 3).description
        var lines: [(String, [ResultRow?])] = specs.map { spec in
            let last = sweeps[spec.name]!.stages.last!
            return (spec.name, modes.flatMap { m in [value(spec.name, last, gem, m, "none"), value(spec.name, last, gem, m, "full")] })
        }
        for student in Set(mine.filter { $0.mode == "student" }.map(\.backbone)).sorted() {
            lines.append((student, modes.flatMap { m in
                m == "student" ? [mine.first { $0.backbone == student && $0.whitening == "none" },
                                  mine.first { $0.backbone == student && $0.whitening == "full" }] : [nil, nil]
            }))
        }
        for (name, cells) in lines {
            md += "| \(name) | " + cells.map { $0.map { "\(f3($0.meanAP)) / \(f3($0.recallAt1))" } ?? "–" }.joined(separator: " | ") + " |\n"
        }
        md += "\n### Best recipe per backbone and mode (over layers, poolings and whitening)\n\n"
        md += "| backbone | mode | mAP | stage | pooling | whitening | groups |\n|---|---|---|---|---|---|---|\n"
        for backbone in unique(mine.map(\.backbone)) {
            for m in modes {
                guard let best = mine.filter({ $0.backbone == backbone && $0.mode == m }).max(by: { $0.meanAP < $1.meanAP }) else { continue }
                let groups = best.groups.sorted { $0.key < $1.key }.map { "\($0.key) \(f3($0.value))" }.joined(separator: ", ")
                md += "| \(backbone) | \(m) | \(f3(best.meanAP)) | \(best.stage) | \(best.pooling) | \(best.whitening) | \(groups) |\n"
            }
        }
    }
    try atomically(md, to: folder.appendingPathComponent("analysis.md"))
    try plots(rows: rows, specs: specs, sweeps: sweeps, grid: grid, whiteningOrder: whiteningOrder, to: folder)
}

/// `whitening.png` (the paper's figure: mAP against whitening dimension, a panel per dataset and
/// backbone, a line per pooling), `layers.png` (mAP per layer, classification vs detection) and
/// `modes.png` (global vs objects vs teacher vs student).
func plots(rows: [ResultRow], specs: [BackboneSpec], sweeps: [String: RecipeSweep], grid: [GridDataset],
           whiteningOrder: [String], to folder: URL) throws {
    func find(_ d: String, _ b: String, _ s: String, _ p: String, _ m: String, _ w: String) -> Double? {
        rows.first { $0.dataset == d && $0.backbone == b && $0.stage == s && $0.pooling == p && $0.mode == m && $0.whitening == w }?.meanAP
    }
    func yMax(_ values: [Double?]) -> Double { max(0.2, (values.compactMap { $0 }.max() ?? 1) * 1.1).rounded(toTenths: .up) }
    var whiteningPanels: [Panel] = [], layerPanels: [Panel] = [], modePanels: [Panel] = []
    for d in grid.map(\.name) {
        for spec in specs {
            let sweep = sweeps[spec.name]!, last = sweep.stages.last!
            let series = sweep.poolings.enumerated().map { i, p in
                (name: p.description, color: palette[i % palette.count],
                 values: whiteningOrder.map { find(d, spec.name, last, p.description, "global", $0) })
            }
            whiteningPanels.append(Panel(title: "\(d): \(spec.name)", xLabels: whiteningOrder, series: series,
                                         yMax: yMax(series.flatMap(\.values))))
            let layerSeries = sweep.poolings.enumerated().map { i, p in
                (name: p.description, color: palette[i % palette.count],
                 values: sweep.stages.map { find(d, spec.name, $0, p.description, "global", "none") })
            }
            layerPanels.append(Panel(title: "\(d): \(spec.name) (\(spec.family))", xLabels: sweep.stages, series: layerSeries,
                                     style: .bars, yMax: yMax(layerSeries.flatMap(\.values))))
        }
        let gem = GlobalPooling.gem(p: 3).description
        let students = Set(rows.filter { $0.dataset == d && $0.mode == "student" }.map(\.backbone)).sorted()
        let groups = specs.map(\.name) + students
        let modes = unique(rows.filter { $0.dataset == d }.map(\.mode))
        let series = modes.enumerated().map { i, m in
            (name: m, color: palette[i % palette.count], values: groups.map { g -> Double? in
                if let spec = specs.first(where: { $0.name == g }) { return find(d, g, sweeps[spec.name]!.stages.last!, gem, m, "none") }
                return rows.first { $0.dataset == d && $0.backbone == g && $0.mode == m && $0.whitening == "none" }?.meanAP
            })
        }
        // several students: s1, s2, … in name order (analysis.md says which is which)
        let labels = specs.map { shortName($0.name) } + students.indices.map { students.count > 1 ? "s\($0 + 1)" : "student" }
        modePanels.append(Panel(title: "\(d): modes, gem, last layer", xLabels: labels,
                                series: series, style: .bars, yMax: yMax(series.flatMap(\.values))))
    }
    try compose(whiteningPanels, columns: specs.count).writePNG(to: folder.appendingPathComponent("whitening.png"))
    try compose(layerPanels, columns: specs.count).writePNG(to: folder.appendingPathComponent("layers.png"))
    try compose(modePanels, columns: 2).writePNG(to: folder.appendingPathComponent("modes.png"))
}

/// A backbone's name short enough for an axis label.
func shortName(_ backbone: String) -> String {
    return backbone.replacingOccurrences(of: "efficientnet_", with: "").replacingOccurrences(of: "mobilenet_v2", with: "mnv2")
        .replacingOccurrences(of: "yolox_nano", with: "yolox")
}

func csv(_ rows: [ResultRow]) -> String {
    var out = "dataset,backbone,family,stage,stride,channels,pooling,mode,whitening,dimension,map,map_trapezoid,recall_at_1,queries,groups\n"
    for r in rows {
        let groups = r.groups.sorted { $0.key < $1.key }.map { "\($0.key)=\(f3($0.value))" }.joined(separator: ";")
        out += [r.dataset, r.backbone, r.family, r.stage, String(r.stride), String(r.channels), r.pooling, r.mode, r.whitening,
                String(r.dimension), String(format: "%.4f", r.meanAP), String(format: "%.4f", r.meanTrapezoidAP),
                String(format: "%.4f", r.recallAt1), String(r.queries), groups].joined(separator: ",") + "\n"
    }
    return out
}

/// The distinct values in first-seen order.
func unique(_ values: [String]) -> [String] {
    var seen = Set<String>()
    return values.filter { seen.insert($0).inserted }
}

func f3(_ v: Double) -> String { String(format: "%.3f", v) }

func atomically(_ text: String, to url: URL) throws { try Data(text.utf8).write(to: url, options: .atomic) }

extension Double {
    func rounded(toTenths rule: FloatingPointRoundingRule) -> Double { (self * 10).rounded(rule) / 10 }
}

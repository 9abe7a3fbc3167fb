public import Foundation
public import LoupeTensor

/// A spliced-image benchmark: composites made of a host photo and one or more donors' pasted
/// parts, and the collection they came from (the `splices` layout of `loupe eval`, written by
/// `Scripts/make_splices.py` or by hand).
///
/// Layout: `reference/` (the collection, searched recursively), `queries/<group>/…` (the
/// composites), `gt/roles.csv` with columns `query,host,donor` (query relative to `queries/`, host
/// and donors relative to `reference/`, several donors separated by `;`), and optionally
/// `gt/masks/<query name>.png` marking the pasted pixels (0 elsewhere, k for the k-th donor).
public struct SpliceBenchmark: Sendable {
    /// One composite and where it came from.
    public struct Query: Sendable {
        public var path: URL
        /// The composite as `gt/roles.csv` names it (relative to `queries/`, e.g. `dev/splice-0003.jpg`).
        public var name: String
        /// The first folder under `queries/` (e.g. `dev`, `report`).
        public var group: String
        /// Index of the host photo in ``SpliceBenchmark/reference``.
        public var host: Int
        /// Indices of the donor photos, in the order of the mask's values.
        public var donors: [Int]
        /// The truth mask, when the benchmark has one.
        public var mask: URL?

        /// The host and the donors.
        public var sources: Set<Int> { Set([host] + donors) }

        /// `name` defaults to the file's name.
        public init(path: URL, name: String? = nil, group: String, host: Int, donors: [Int], mask: URL?) {
            (self.path, self.group, self.host, self.donors, self.mask) = (path, group, host, donors, mask)
            self.name = name ?? path.lastPathComponent
        }
    }

    public var name: String
    /// The collection, sorted by path.
    public var reference: [URL]
    public var queries: [Query]

    public init(name: String, reference: [URL], queries: [Query]) {
        (self.name, self.reference, self.queries) = (name, reference, queries)
    }

    /// Reads the layout above; a role naming a file that is not in `reference/` is an error.
    public static func load(_ folder: URL) throws(DatasetError) -> SpliceBenchmark {
        let referenceFolder = folder.appendingPathComponent("reference")
        let reference = try listImages(referenceFolder)
        guard !reference.isEmpty else { throw .empty(referenceFolder.path) }
        let position = Dictionary(reference.enumerated().map { (String($1.path.dropFirst(referenceFolder.path.count + 1)), $0) },
                                  uniquingKeysWith: { a, _ in a })
        let rolesFile = folder.appendingPathComponent("gt/roles.csv")
        let (header, rows) = try RetrievalDataset.csvRows(rolesFile)
        guard let q = header.firstIndex(of: "query"), let h = header.firstIndex(of: "host"), let d = header.firstIndex(of: "donor") else {
            throw .malformed(file: "gt/roles.csv", line: 1, reason: "needs the columns query, host, donor")
        }
        var queries: [Query] = []
        for (line, row) in rows.enumerated() where !row.allSatisfy(\.isEmpty) {
            guard row.count > max(q, h, d) else { throw .malformed(file: "gt/roles.csv", line: line + 2, reason: "too few columns") }
            guard let host = position[row[h]] else {
                throw .malformed(file: "gt/roles.csv", line: line + 2, reason: "host \(row[h]) is not in reference/")
            }
            var donors: [Int] = []
            for name in row[d].split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                guard let donor = position[name] else {
                    throw .malformed(file: "gt/roles.csv", line: line + 2, reason: "donor \(name) is not in reference/")
                }
                donors.append(donor)
            }
            guard !donors.isEmpty else { throw .malformed(file: "gt/roles.csv", line: line + 2, reason: "no donor") }
            let path = folder.appendingPathComponent("queries").appendingPathComponent(row[q])
            let group = row[q].split(separator: "/").count > 1 ? String(row[q].split(separator: "/")[0]) : "all"
            let mask = folder.appendingPathComponent("gt/masks").appendingPathComponent(path.deletingPathExtension().lastPathComponent + ".png")
            queries.append(Query(path: path, name: row[q], group: group, host: host, donors: donors,
                                 mask: FileManager.default.fileExists(atPath: mask.path) ? mask : nil))
        }
        guard !queries.isEmpty else { throw .empty(rolesFile.path) }
        return SpliceBenchmark(name: folder.lastPathComponent, reference: reference, queries: queries)
    }

    /// The queries of one group.
    public func group(_ name: String) -> SpliceBenchmark {
        SpliceBenchmark(name: name, reference: reference, queries: queries.filter { $0.group == name })
    }

    /// The PNG and JPEG files under `folder`, at any depth (links followed), sorted by path.
    static func listImages(_ folder: URL) throws(DatasetError) -> [URL] {
        do { return try ImageCollection(folder).files } catch {
            switch error {
            case .noImages: return []
            case .notFound, .unreadable: throw .unreadable(folder.path)
            }
        }
    }
}

/// How well one embedding found the sources of the composites (the measures of the follow-up
/// paper's spliced-image retrieval, and the IoU of the located pasted region).
public struct SpliceScores: Sendable, Equatable, Codable {
    /// Composites scored.
    public var queries: Int
    /// Share of composites whose host is at rank 1.
    public var hostAt1: Double
    /// Share of donors (over every donor of every composite) at rank ≤ 1, 5 and 10.
    public var donorAt1: Double, donorAt5: Double, donorAt10: Double
    /// Share of composites with every source in the top 2 (top 1 + donors when there are more
    /// donors) and in the top 10.
    public var allAt2: Double, allAt10: Double
    /// Mean over composites of the average precision with the sources as the relevant images.
    public var meanAP: Double
    /// Median IoU of the located pasted region with the true mask (0 where nothing was located),
    /// over composites that have a mask; `nil` without masks.
    public var medianRegionIoU: Double?

    /// Scores rankings: `rankings[q]` is the collection indices in ranked order for composite `q`,
    /// `regionIoU[q]` the IoU of its located region (nil when it has no mask).
    public static func score(rankings: [[Int]], queries: [SpliceBenchmark.Query], regionIoU: [Double?]) -> SpliceScores {
        precondition(rankings.count == queries.count && regionIoU.count == queries.count, "one ranking and IoU per composite")
        var host = 0.0, d1 = 0.0, d5 = 0.0, d10 = 0.0, donors = 0.0, all2 = 0.0, all10 = 0.0, ap = 0.0
        for (ranking, query) in zip(rankings, queries) {
            let rank = Dictionary(ranking.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            if rank[query.host] == 0 { host += 1 }
            for donor in query.donors {
                let r = rank[donor] ?? Int.max
                donors += 1
                if r < 1 { d1 += 1 }
                if r < 5 { d5 += 1 }
                if r < 10 { d10 += 1 }
            }
            let worst = query.sources.map { rank[$0] ?? Int.max }.max()!
            if worst < max(2, query.sources.count) { all2 += 1 }
            if worst < 10 { all10 += 1 }
            ap += Evaluation.averagePrecision(positiveRanks: Evaluation.positiveRanks(ranking: ranking, positives: query.sources),
                                              relevantCount: query.sources.count)
        }
        let n = Double(max(queries.count, 1))
        let ious = regionIoU.compactMap { $0 }.sorted()
        let median = ious.isEmpty ? nil : (ious.count % 2 == 1 ? ious[ious.count / 2] : (ious[ious.count / 2 - 1] + ious[ious.count / 2]) / 2)
        return SpliceScores(queries: queries.count, hostAt1: host / n, donorAt1: d1 / max(donors, 1), donorAt5: d5 / max(donors, 1),
                            donorAt10: d10 / max(donors, 1), allAt2: all2 / n, allAt10: all10 / n, meanAP: ap / n, medianRegionIoU: median)
    }
}

/// The pasted pixels of a composite, read from its truth mask.
public struct SpliceMask: Sendable {
    public let width: Int, height: Int
    /// `0` elsewhere, `k` for the k-th donor's pixels, row-major.
    public let labels: [UInt8]

    public init(width: Int, height: Int, labels: [UInt8]) {
        precondition(labels.count == width * height, "one label per pixel")
        (self.width, self.height, self.labels) = (width, height, labels)
    }

    /// Share of the frame covered by donor `k` (1-based), or by any donor when `k` is nil.
    public func areaFraction(donor k: Int? = nil) -> Double {
        Double(labels.count { k == nil ? $0 != 0 : Int($0) == k! }) / Double(max(labels.count, 1))
    }

    /// IoU of the pixels marked (non-zero) in `located` (this mask's size, row-major) with all
    /// pasted pixels.
    public func intersectionOverUnion(_ located: [UInt8]) -> Double {
        precondition(located.count == labels.count, "one located label per pixel")
        var both = 0, either = 0
        for i in labels.indices {
            let (a, b) = (labels[i] != 0, located[i] != 0)
            if a && b { both += 1 }
            if a || b { either += 1 }
        }
        return either == 0 ? 0 : Double(both) / Double(either)
    }

    /// IoU of the pixels inside `box` (in this mask's pixels) with donor `k`'s pixels, or with all
    /// pasted pixels when `k` is nil.
    public func intersectionOverUnion(_ box: BoundingBox, donor k: Int? = nil) -> Double {
        let x0 = max(0, Int(box.x0.rounded())), y0 = max(0, Int(box.y0.rounded()))
        let x1 = min(width, Int(box.x1.rounded())), y1 = min(height, Int(box.y1.rounded()))
        let boxArea = max(0, x1 - x0) * max(0, y1 - y0)
        var inside = 0, total = 0
        for (i, label) in labels.enumerated() where label != 0 && (k == nil || Int(label) == k!) {
            total += 1
            let (x, y) = (i % width, i / width)
            if x >= x0 && x < x1 && y >= y0 && y < y1 { inside += 1 }
        }
        let union = boxArea + total - inside
        return union == 0 ? 0 : Double(inside) / Double(union)
    }
}

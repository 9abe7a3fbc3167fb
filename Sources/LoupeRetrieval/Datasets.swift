public import Foundation

/// Why a dataset could not be read.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case malformed(file: String, line: Int, reason: String)
    case empty(String)

    public var description: String {
        switch self {
        case let .unreadable(path): "cannot read \(path)"
        case let .malformed(file, line, why): "\(file):\(line): \(why)"
        case let .empty(path): "\(path) lists no images"
        }
    }
}

/// A retrieval benchmark: database images, queries, and for each query the relevant (and junk)
/// database indices.
public struct RetrievalDataset: Sendable {
    public struct Query: Sendable {
        public var path: URL
        /// A subset label (camera, protocol); evaluation is also reported per group.
        public var group: String
        public var positives: Set<Int>
        public var junk: Set<Int>
        /// When the query is itself a database image (leave-one-out), its index: excluded from its ranking.
        public var databaseIndex: Int?
        /// The query region `(x0, y0, x1, y1)` in pixels, when only part of the image is the query
        /// (the Revisited Oxford/Paris query boxes).
        public var box: [Double]? = nil
    }

    public var name: String
    public var database: [URL]
    public var queries: [Query]

    /// The Stanford Mobile Visual Search layout of `../shared/data/smvs-dvd`: `reference/*.jpg`
    /// is the database, `gt/queries.csv` (`query,camera,relevant_reference,…`) the queries, each
    /// with exactly one relevant reference; groups are the cameras.
    public static func smvs(_ folder: URL) throws(DatasetError) -> RetrievalDataset {
        let rows = try csv(folder.appendingPathComponent("gt/queries.csv"))
        let referenceFolder = folder.appendingPathComponent("reference")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: referenceFolder.path) else {
            throw .unreadable(referenceFolder.path)
        }
        let references = names.filter { $0.lowercased().hasSuffix(".jpg") || $0.lowercased().hasSuffix(".png") }.sorted()
        guard !references.isEmpty else { throw .empty(referenceFolder.path) }
        let index = Dictionary(uniqueKeysWithValues: references.enumerated().map { ("reference/\($0.element)", $0.offset) })
        var queries: [Query] = []
        for (line, row) in rows.enumerated() {
            guard let q = row["query"], let camera = row["camera"], let relevant = row["relevant_reference"] else {
                throw .malformed(file: "gt/queries.csv", line: line + 2, reason: "missing query, camera or relevant_reference")
            }
            guard let target = index[relevant] else {
                throw .malformed(file: "gt/queries.csv", line: line + 2, reason: "\(relevant) is not in reference/")
            }
            queries.append(Query(path: folder.appendingPathComponent(q), group: camera.lowercased(), positives: [target], junk: []))
        }
        return RetrievalDataset(name: "smvs-dvd", database: references.map { referenceFolder.appendingPathComponent($0) }, queries: queries)
    }

    /// A labelled folder (`labels.csv` with a `file` column and a class column, images in
    /// `images/`), evaluated leave-one-out: every image queries all the others, same class =
    /// relevant. The class column is `class_id`, else `object_id`, else the second column.
    public static func labeled(_ folder: URL) throws(DatasetError) -> RetrievalDataset {
        let file = folder.appendingPathComponent("labels.csv")
        let (header, rows) = try csvRows(file)
        guard let fileColumn = header.firstIndex(of: "file") else { throw .malformed(file: "labels.csv", line: 1, reason: "no 'file' column") }
        let classColumn = header.firstIndex(of: "class_id") ?? header.firstIndex(of: "object_id") ?? (fileColumn == 0 ? 1 : 0)
        guard classColumn < header.count else { throw .malformed(file: "labels.csv", line: 1, reason: "no class column") }
        var paths: [URL] = [], labels: [String] = []
        let images = folder.appendingPathComponent("images")
        for (line, row) in rows.enumerated() {
            guard row.count > max(fileColumn, classColumn) else { throw .malformed(file: "labels.csv", line: line + 2, reason: "too few columns") }
            paths.append(images.appendingPathComponent(row[fileColumn]))
            labels.append(row[classColumn])
        }
        guard !paths.isEmpty else { throw .empty(file.path) }
        var members: [String: Set<Int>] = [:]
        for (i, label) in labels.enumerated() { members[label, default: []].insert(i) }
        let queries = paths.enumerated().map { i, path in
            Query(path: path, group: "all", positives: members[labels[i]]!.subtracting([i]), junk: [], databaseIndex: i)
        }
        return RetrievalDataset(name: folder.lastPathComponent, database: paths, queries: queries)
    }

    /// The Revisited Oxford/Paris protocols (Radenović et al., CVPR 2018).
    public enum RevisitedProtocol: String, Sendable, CaseIterable {
        /// Positives: easy. Junk: junk and hard.
        case easy
        /// Positives: easy and hard. Junk: junk.
        case medium
        /// Positives: hard. Junk: junk and easy.
        case hard
    }

    /// A Revisited Oxford/Paris folder: `gnd_<name>.json` (the `gnd_*.pkl` ground truth converted
    /// by `Scripts/gnd_to_json.py`: `imlist`, `qimlist`, and per query `easy`, `hard`, `junk`
    /// index lists and the `bbx` query box) and the images in `jpg/<name>.jpg`.
    public static func revisited(_ folder: URL, protocol proto: RevisitedProtocol) throws(DatasetError) -> RetrievalDataset {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path),
              let gndName = names.first(where: { $0.hasPrefix("gnd_") && $0.hasSuffix(".json") })
        else { throw .unreadable(folder.appendingPathComponent("gnd_*.json").path) }
        let url = folder.appendingPathComponent(gndName)
        guard let data = try? Data(contentsOf: url),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let imlist = root["imlist"] as? [String], let qimlist = root["qimlist"] as? [String],
              let gnd = root["gnd"] as? [[String: Any]], gnd.count == qimlist.count
        else { throw .malformed(file: gndName, line: 0, reason: "expected imlist, qimlist and one gnd entry per query") }
        let images = folder.appendingPathComponent("jpg")
        func indices(_ entry: [String: Any], _ key: String, _ q: Int) throws(DatasetError) -> Set<Int> {
            guard let list = entry[key] as? [Any] else { return [] }
            var out = Set<Int>()
            for v in list {
                guard let i = (v as? NSNumber)?.intValue, i >= 0, i < imlist.count else {
                    throw .malformed(file: gndName, line: q, reason: "\(key) index \(v) is outside imlist")
                }
                out.insert(i)
            }
            return out
        }
        var queries: [Query] = []
        for (q, name) in qimlist.enumerated() {
            let entry = gnd[q]
            let easy = try indices(entry, "easy", q), hard = try indices(entry, "hard", q), junk = try indices(entry, "junk", q)
            let (positives, ignored): (Set<Int>, Set<Int>) = switch proto {
            case .easy: (easy, junk.union(hard))
            case .medium: (easy.union(hard), junk)
            case .hard: (hard, junk.union(easy))
            }
            let box = (entry["bbx"] as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue }
            queries.append(Query(path: images.appendingPathComponent(name + ".jpg"), group: proto.rawValue,
                                 positives: positives, junk: ignored, box: box?.count == 4 ? box : nil))
        }
        return RetrievalDataset(name: "\(folder.lastPathComponent) (\(proto.rawValue))",
                                database: imlist.map { images.appendingPathComponent($0 + ".jpg") }, queries: queries)
    }

    static func csvRows(_ url: URL) throws(DatasetError) -> ([String], [[String]]) {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw .unreadable(url.path) }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
        guard let header = lines.first else { throw .empty(url.path) }
        return (header, Array(lines.dropFirst()))
    }

    static func csv(_ url: URL) throws(DatasetError) -> [[String: String]] {
        let (header, rows) = try csvRows(url)
        return rows.map { Dictionary(zip(header, $0), uniquingKeysWith: { a, _ in a }) }
    }
}

extension RetrievalDataset {
    /// The dataset restricted to the database images `keep` admits (by index): kept images are
    /// renumbered in order; leave-one-out queries of dropped images disappear; every query's
    /// positives and junk are restricted to the kept images.
    public func keepingDatabase(where keep: (Int) -> Bool) -> RetrievalDataset {
        let kept = database.indices.filter(keep)
        var newIndex: [Int: Int] = [:]
        for (j, i) in kept.enumerated() { newIndex[i] = j }
        let queries = self.queries.compactMap { q -> Query? in
            var q = q
            if let own = q.databaseIndex {
                guard let mapped = newIndex[own] else { return nil }
                q.databaseIndex = mapped
            }
            q.positives = Set(q.positives.compactMap { newIndex[$0] })
            q.junk = Set(q.junk.compactMap { newIndex[$0] })
            return q
        }
        return RetrievalDataset(name: name, database: kept.map { database[$0] }, queries: queries)
    }

    /// Part `part` of `parts` (0-based): the database images whose rank in path order is
    /// `part` modulo `parts` — the same rule `loupe distill --select` applies to a folder's files,
    /// so a head can be trained on one part and evaluated on another.
    public func part(_ part: Int, of parts: Int) -> RetrievalDataset {
        precondition(parts >= 1 && (0..<parts).contains(part), "part \(part) of \(parts)")
        let order = database.indices.sorted { database[$0].path < database[$1].path }
        var rank = [Int](repeating: 0, count: database.count)
        for (r, i) in order.enumerated() { rank[i] = r }
        return keepingDatabase { rank[$0] % parts == part }
    }
}

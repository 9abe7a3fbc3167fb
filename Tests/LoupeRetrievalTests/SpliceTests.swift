import Foundation
import LoupeRetrieval
import LoupeTensor
import Testing

/// The splice measures on rankings computed by hand, the truth mask's IoU on a drawn mask, and the
/// layout reader on a tiny benchmark (with its errors).
@Suite struct SpliceTests {
    func query(host: Int, donors: [Int], group: String = "dev") -> SpliceBenchmark.Query {
        SpliceBenchmark.Query(path: URL(fileURLWithPath: "/q.jpg"), group: group, host: host, donors: donors, mask: nil)
    }

    @Test func scoresFollowTheirDefinitions() {
        // q0: host 0 at rank 1, donor 3 at rank 2 → host@1, donor@5, all@2; AP = (1/1 + 2/2) / 2 = 1
        // q1: host 1 at rank 2, donor 4 at rank 7 → donor@10 only; AP = (1/2 + 2/7) / 2
        // q2: host 2 at rank 1, donors 5 (rank 3) and 6 (never) → donor@5 1 of 2; all@2 needs the top 3: no
        let rankings = [[0, 3, 1, 2], [2, 1, 0, 5, 6, 7, 4], [2, 0, 5, 1]]
        let queries = [query(host: 0, donors: [3]), query(host: 1, donors: [4]), query(host: 2, donors: [5, 6])]
        let s = SpliceScores.score(rankings: rankings, queries: queries, regionIoU: [0.8, nil, 0.2])
        #expect(s.queries == 3 && abs(s.hostAt1 - 2.0 / 3) < 1e-12)
        // donors: 3 (rank 2), 4 (rank 7), 5 (rank 3), 6 (missing): @1 0, @5 2 of 4, @10 3 of 4
        #expect(s.donorAt1 == 0 && s.donorAt5 == 0.5 && s.donorAt10 == 0.75)
        #expect(abs(s.allAt2 - 1.0 / 3) < 1e-12 && abs(s.allAt10 - 2.0 / 3) < 1e-12)
        let ap2 = (1.0 / 1 + 2.0 / 3) / 3  // q2: host at rank 1, donor 5 at rank 3, donor 6 missing
        #expect(abs(s.meanAP - (1 + (0.5 + 2.0 / 7) / 2 + ap2) / 3) < 1e-12)
        #expect(s.medianRegionIoU == 0.5)
    }

    @Test func maskIoUAndArea() {
        // a 10×10 frame, donor 1 the 4×4 square at (2, 2), donor 2 one pixel at (9, 9)
        var labels = [UInt8](repeating: 0, count: 100)
        for y in 2..<6 { for x in 2..<6 { labels[y * 10 + x] = 1 } }
        labels[99] = 2
        let mask = SpliceMask(width: 10, height: 10, labels: labels)
        #expect(mask.areaFraction() == 0.17 && mask.areaFraction(donor: 1) == 0.16)
        #expect(mask.intersectionOverUnion(BoundingBox(x0: 2, y0: 2, x1: 6, y1: 6), donor: 1) == 1)
        // a box of 2×4 inside the square: 8 / 16
        #expect(mask.intersectionOverUnion(BoundingBox(x0: 2, y0: 2, x1: 4, y1: 6), donor: 1) == 0.5)
        // the box 0..<6 × 0..<6 (36 px) holds the 16: 16 / 36
        #expect(abs(mask.intersectionOverUnion(BoundingBox(x0: 0, y0: 0, x1: 6, y1: 6), donor: 1) - 16.0 / 36) < 1e-12)
        #expect(mask.intersectionOverUnion(BoundingBox(x0: 7, y0: 7, x1: 8, y1: 8)) == 0)
    }

    @Test func layoutIsReadAndCheckedAgainstTheCollection() throws {
        let fm = FileManager.default
        let folder = fm.temporaryDirectory.appendingPathComponent("splices-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: folder) }
        for sub in ["reference/sub", "queries/dev/phone", "gt/masks", "elsewhere"] { try fm.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true) }
        for name in ["reference/a.jpg", "reference/sub/b.png", "reference/c.jpg", "queries/dev/q1.jpg", "queries/dev/phone/q2.jpg", "gt/masks/q1.png", "elsewhere/d.jpg"] {
            try Data([0]).write(to: folder.appendingPathComponent(name))
        }
        // a folder linked into reference/ is part of the collection
        try fm.createSymbolicLink(at: folder.appendingPathComponent("reference/linked"), withDestinationURL: folder.appendingPathComponent("elsewhere"))
        try "query,host,donor\ndev/q1.jpg,a.jpg,sub/b.png;c.jpg\ndev/phone/q2.jpg,linked/d.jpg,a.jpg\n".write(to: folder.appendingPathComponent("gt/roles.csv"), atomically: true, encoding: .utf8)
        let benchmark = try SpliceBenchmark.load(folder)
        #expect(benchmark.reference.map(\.lastPathComponent) == ["a.jpg", "c.jpg", "d.jpg", "b.png"])
        let q = try #require(benchmark.queries.first)
        #expect(q.group == "dev" && q.host == 0 && q.donors == [3, 1] && q.mask?.lastPathComponent == "q1.png" && q.sources == [0, 1, 3])
        #expect(q.name == "dev/q1.jpg")
        // a composite nested deeper keeps its whole name and its first folder as group
        let nested = try #require(benchmark.queries.last)
        #expect(nested.name == "dev/phone/q2.jpg" && nested.group == "dev" && nested.host == 2 && nested.donors == [0] && nested.mask == nil)
        try "query,host,donor\ndev/q1.jpg,a.jpg,missing.jpg\n".write(to: folder.appendingPathComponent("gt/roles.csv"), atomically: true, encoding: .utf8)
        #expect(throws: DatasetError.malformed(file: "gt/roles.csv", line: 2, reason: "donor missing.jpg is not in reference/")) {
            try SpliceBenchmark.load(folder)
        }
        try "query,host\n".write(to: folder.appendingPathComponent("gt/roles.csv"), atomically: true, encoding: .utf8)
        #expect(throws: DatasetError.self) { try SpliceBenchmark.load(folder) }
    }
}

import Foundation
import LoupeRetrieval
import Testing

let sharedData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data")

@Suite struct DatasetTests {
    @Test func smvsLayout() throws {
        let d = try RetrievalDataset.smvs(sharedData.appendingPathComponent("smvs-dvd"))
        #expect(d.database.count == 100 && d.queries.count == 200)
        #expect(Set(d.queries.map(\.group)) == ["canon", "droid"])
        #expect(d.queries[0].positives == [0] && d.database[0].lastPathComponent == "001.jpg")
    }

    @Test func labelsLayoutIsLeaveOneOut() throws {
        let d = try RetrievalDataset.labeled(sharedData.appendingPathComponent("flowers17-dev"))
        #expect(d.database.count == 640 && d.queries.count == 640)
        #expect(d.queries[0].databaseIndex == 0 && !d.queries[0].positives.contains(0) && d.queries[0].positives.count == 79)
        let coil = try RetrievalDataset.labeled(sharedData.appendingPathComponent("coil100-20deg"))
        #expect(coil.database.count == 1777)
        #expect(throws: DatasetError.self) { try RetrievalDataset.labeled(URL(fileURLWithPath: "/nonexistent")) }
    }
}

@Suite struct RevisitedTests {
    @Test func protocolsSplitPositivesAndJunk() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("roxf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("jpg"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let json = #"{"imlist": ["a", "b", "c", "d"], "qimlist": ["q"], "gnd": [{"easy": [0], "hard": [2], "junk": [1], "bbx": [1.5, 2, 30, 40.5]}]}"#
        try Data(json.utf8).write(to: folder.appendingPathComponent("gnd_mini.json"))
        let easy = try RetrievalDataset.revisited(folder, protocol: .easy)
        let medium = try RetrievalDataset.revisited(folder, protocol: .medium)
        let hard = try RetrievalDataset.revisited(folder, protocol: .hard)
        #expect(easy.queries[0].positives == [0] && easy.queries[0].junk == [1, 2])
        #expect(medium.queries[0].positives == [0, 2] && medium.queries[0].junk == [1])
        #expect(hard.queries[0].positives == [2] && hard.queries[0].junk == [0, 1])
        #expect(medium.queries[0].box == [1.5, 2, 30, 40.5] && medium.database.count == 4)
        #expect(medium.database[3].lastPathComponent == "d.jpg")
        // ranking d, c, b, a under Medium: junk b removed; positives c at 1, a at 2
        let summary = Evaluation.evaluate(rankings: [[3, 2, 1, 0]], positives: [medium.queries[0].positives], junk: [medium.queries[0].junk])
        #expect(abs(summary.meanAP - (1.0 / 2 + 2.0 / 3) / 2) < 1e-9)
        try Data(#"{"imlist": ["a"], "qimlist": ["q"], "gnd": [{"easy": [7]}]}"#.utf8).write(to: folder.appendingPathComponent("gnd_mini.json"))
        #expect(throws: DatasetError.self) { try RetrievalDataset.revisited(folder, protocol: .easy) }
    }
}

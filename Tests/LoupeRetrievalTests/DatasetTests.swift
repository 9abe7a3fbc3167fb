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

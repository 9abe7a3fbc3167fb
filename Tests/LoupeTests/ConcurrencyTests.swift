import Foundation
import Loupe
import Testing

/// The concurrency contract of Documentation/Concurrency.md, exercised: one embedder and one
/// index shared by many tasks give each task what a lone caller gets, while another task changes
/// its own copy of the index (values: the shared one never sees the change), and an index opened
/// "checked as read" (rows verified on first use, from whichever task gets there first) answers
/// the same from every task.
@Suite(.serialized) struct ConcurrencyTests {
    let store = WeightStore(folders: [root.appendingPathComponent(".cache/models"), yoloxWeights.deletingLastPathComponent()])
    let photos = ["dog", "eagle", "giraffe", "horses", "kite", "person", "scream"].map { darknet.appendingPathComponent("\($0).jpg") }

    func embedder() throws -> ObjectEmbedder {
        let global = try GlobalEmbedder(backbone: store.backbone(.classifier(.mobileNetV2)), maxSize: 224)
        return try ObjectEmbedder(embedder: global, detector: store.detector(.nano), proposal: RegionProposal(maximumObjects: 3),
                                  method: .hardAttention(.roiAlign(bins: 7)), labels: store.detectorLabels(.nano))
    }

    @Test func sharedEmbedderAndIndexAnswerEveryTaskAsALoneCaller() async throws {
        let embedder = try embedder()
        var built = ObjectIndex(for: embedder)
        try built.add(photos, with: embedder)
        let index = built
        let images = try photos.map { try Image(contentsOf: $0) }
        // what one caller gets, one query after another
        let alone = try images.map { try embedder.objects(in: $0) }
        let answers = try alone.map { try index.search($0.vectors, regions: $0.regions, k: 5) }

        // the same from 12 tasks at once, each embedding and searching every photo, while one
        // more task removes and adds images on its copy
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<12 {
                group.addTask {
                    for i in images.indices.map({ ($0 + task) % images.count }) {
                        let objects = try embedder.objects(in: images[i])
                        #expect(objects.vectors.scalars == alone[i].vectors.scalars && objects.regions == alone[i].regions, "task \(task), photo \(i)")
                        #expect(try index.search(objects.vectors, regions: objects.regions, k: 5) == answers[i], "task \(task), photo \(i)")
                    }
                }
            }
            group.addTask {
                var copy = index
                var expected = index.paths
                for round in 0..<5 {
                    try copy.remove(images: [round])
                    try copy.add(alone[round].vectors, regions: alone[round].regions, path: "copy-\(round).jpg")
                    try copy.compact()
                    expected.remove(at: round)
                    expected.append("copy-\(round).jpg")
                }
                #expect(copy.paths == expected)
            }
            try await group.waitForAll()
        }
        #expect(index.paths == photos.map(\.path))
        #expect(try alone.map { try index.search($0.vectors, regions: $0.regions, k: 5) } == answers)
    }

    @Test func indexCheckedAsReadVerifiesOnceForAllTasks() async throws {
        let embedder = try embedder()
        var built = ObjectIndex(for: embedder)
        try built.add(photos, with: embedder)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("concurrent-\(UUID().uuidString).objects")
        defer { try? FileManager.default.removeItem(at: file) }
        try built.write(to: file)
        let queries = try photos.prefix(3).map { try embedder.objects(in: Image(contentsOf: $0)) }
        let answers = try queries.map { try built.search($0.vectors, regions: $0.regions, k: 4) }
        for _ in 0..<3 {
            // a fresh open each time: the first searches race to verify the rows
            let opened = try ObjectIndex(contentsOf: file, verification: .onAccess)
            let results = try await withThrowingTaskGroup(of: [[ObjectHit]].self) { group in
                for _ in 0..<8 { group.addTask { try queries.map { try opened.search($0.vectors, regions: $0.regions, k: 4) } } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 8 && results.allSatisfy { $0 == answers })
        }
    }
}

import Foundation
import LoupeModels
import LoupeRetrieval
import LoupeTensor
import LoupeWhitening
import Testing

@Suite struct RecipeTests {
    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Every mode survives its JSON form; the JSON carries the format version and typed parts.
    @Test func jsonRoundTrip() throws {
        let head = StudentHeadIdentity(fileName: "head.safetensors", checksum: "c0ffee")
        let recipes = [
            recipe(1280, pooling: .rmac(levels: 3)),
            objectRecipe(1280, objects: 10),
            recipe(512, mode: .objects(.cropTeacher(maxSize: 384), proposal: RegionProposal(detector: .tiny, inputSize: 640))),
            recipe(1280, mode: .student(head, proposal: RegionProposal(scoreThreshold: 0.05))),
        ]
        for r in recipes {
            var w = r
            w.whitening = WhiteningIdentity(method: .pca, outputDimension: 256, checksum: "0123")
            w.dimension = 256
            for value in [r, w] {
                #expect(try EmbeddingRecipe(json: value.json) == value)
                #expect(value.json.contains("\"version\":2"))
            }
        }
        #expect(recipes[1].json.contains("\"model\":\"mobilenet_v2\""))
        // the proposal and the head's file name do not change what a region's vector means
        var other = recipes[1]
        other.mode = .objects(.hardAttention(.roiAlign(bins: 7)), proposal: RegionProposal(maximumObjects: 2))
        #expect(other.isCompatible(with: recipes[1]))
        var renamed = recipes[3]
        renamed.mode = .student(StudentHeadIdentity(fileName: "moved.safetensors", checksum: "c0ffee"), proposal: RegionProposal())
        #expect(renamed.isCompatible(with: recipes[3]))
        renamed.mode = .student(StudentHeadIdentity(fileName: "head.safetensors", checksum: "beef"), proposal: RegionProposal())
        #expect(renamed.differences(from: recipes[3]) == ["mode objects:student:beef ≠ objects:student:c0ffee"])
        #expect(recipes[1].differences(from: recipes[0]).contains("mode objects:attention:roialign7 ≠ global"))
    }

    @Test func badRecipesAreRefusedWithTheirReason() {
        #expect(throws: RecipeError.malformed("not a JSON object")) { try EmbeddingRecipe(json: "[1, 2]") }
        #expect(throws: RecipeError.unsupportedVersion(9)) { try EmbeddingRecipe(json: #"{"version": 9}"#) }
        #expect(throws: RecipeError.self) { try EmbeddingRecipe(json: #"{"version": 2, "model": "mobilenet_v2"}"#) }
        var json = objectRecipe(8).json
        json = json.replacingOccurrences(of: "mobilenet_v2", with: "alexnet")
        #expect(throws: RecipeError.self) { try EmbeddingRecipe(json: json) }
        // version 1 with a model or mode it cannot know
        let v1 = #"{"model":"vgg16","weightsChecksum":"x","stage":"s","pooling":"gem","scales":[1],"maxSize":512,"whitening":"none","dimension":8,"mode":"global"}"#
        #expect(throws: RecipeError.unconvertible(field: "model", value: "vgg16")) { try EmbeddingRecipe(json: v1) }
        let badMode = v1.replacingOccurrences(of: "vgg16", with: "resnet50").replacingOccurrences(of: "\"global\"", with: "\"objects:magic\"")
        #expect(throws: RecipeError.unconvertible(field: "mode", value: "objects:magic")) { try EmbeddingRecipe(json: badMode) }
        let badSetting = badMode.replacingOccurrences(of: "objects:magic", with: "objects:teacher:512")
        #expect(throws: RecipeError.unconvertible(field: "objects", value: "five")) { try EmbeddingRecipe(json: badSetting, settings: ["objects": "five"]) }
    }

    /// Index files written by Loupe before the typed recipe (format version 1, as the previous
    /// release wrote them: recipe strings, proposal settings beside them) are read and converted.
    @Test func versionOneIndexesAreConverted() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let v = Tensor(randomUniform: [3, 8], seed: 4).l2NormalizedRows()
        let global = #"{"dimension":8,"maxSize":1024,"mode":"global","model":"mobilenet_v2","pooling":"gem","scales":[1],"stage":"features.18","weightsChecksum":"b0353104","whitening":"pca:8:abcd"}"#
        let flatURL = folder.appendingPathComponent("old.index")
        try SafetensorsFile.write(["vectors": v], metadata: ["format": "loupe-flat-index", "version": "1", "recipe": global,
                                                             "paths": #"["a.jpg","b.jpg","c.jpg"]"#], to: flatURL)
        let flat = try FlatIndex(contentsOf: flatURL)
        #expect(flat.recipe == EmbeddingRecipe(model: .classifier(.mobileNetV2), weightsChecksum: "b0353104", stage: "features.18",
                                               pooling: .gem(p: 3), maxSize: 1024,
                                               whitening: WhiteningIdentity(method: .pca, outputDimension: 8, checksum: "abcd"), dimension: 8))
        #expect(flat.paths == ["a.jpg", "b.jpg", "c.jpg"] && flat.vectors == v && flat.whitening == nil)

        let student = global.replacingOccurrences(of: "\"global\"", with: "\"objects:student:77aa\"")
            .replacingOccurrences(of: "pca:8:abcd", with: "none")
        let objectURL = folder.appendingPathComponent("old.objects")
        try SafetensorsFile.write(["vectors": v, "boxes": Tensor(shape: [3, 4], scalars: [0, 0, 10, 10, 1, 1, 5, 5, 0, 0, 8, 8]),
                                   "images": Tensor(shape: [3], scalars: [0, 0, 1])],
                                  metadata: ["format": "loupe-object-index", "version": "1", "recipe": student, "paths": #"["a.jpg","b.jpg"]"#,
                                             "regions": #"[{"kind":"image"},{"kind":"detected","score":0.5,"label":"dog"},{"kind":"image"}]"#,
                                             "settings": #"{"objects":"10","detector-size":"640","student-head":"/x/heads/h.safetensors"}"#],
                                  to: objectURL)
        let objects = try ObjectIndex(contentsOf: objectURL)
        #expect(objects.recipe.mode == .student(StudentHeadIdentity(fileName: "h.safetensors", checksum: "77aa"),
                                                proposal: RegionProposal(maximumObjects: 10, inputSize: 640)))
        #expect(objects.studentHeadLocation == "/x/heads/h.safetensors" && objects.regions[1].label == "dog" && objects.count == 2)
        // a version this Loupe does not know is refused with what to do
        try SafetensorsFile.write(["vectors": v], metadata: ["format": "loupe-flat-index", "version": "7", "recipe": global, "paths": "[]"],
                                  to: flatURL)
        #expect(throws: IndexError.unsupportedVersion(flatURL, version: "7")) {
            try FlatIndex(contentsOf: flatURL)
        }
    }

    /// The whitening travels with the index file and must be the recipe's.
    @Test func indexesCarryTheirWhitening() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let training = Tensor(randomUniform: [40, 8], seed: 9).l2NormalizedRows()
        let whitening = try Whitening.pca(fitting: training, dimension: 4)
        var r = recipe(4)
        r.whitening = WhiteningIdentity(of: whitening)
        var index = try FlatIndex(recipe: r, whitening: whitening)
        try index.add(try whitening.apply(training.sliced(along: 0, 0..<5)), paths: ["a", "b", "c", "d", "e"])
        let url = folder.appendingPathComponent("w.index")
        try index.write(to: url)
        let back = try FlatIndex(contentsOf: url)
        #expect(back.whitening == whitening && back.recipe == r)
        let other = try Whitening.pca(fitting: training.sliced(along: 0, 0..<30), dimension: 4)
        #expect(throws: IndexError.self) { try FlatIndex(recipe: r, whitening: other) }
    }

    /// Many small adds cross the store's chunk boundary; search, per-image rows and the file
    /// stay exactly what one concatenated store gives.
    @Test func growingPastAChunkKeepsResultsExact() throws {
        let d = 1280, images = 4_000  // 4,000 × (1–3 rows) × 1280 floats: several 2^22-float chunks
        var flat = try FlatIndex(recipe: recipe(d))
        var objects = try ObjectIndex(recipe: objectRecipe(d))
        var all: [Tensor] = [], perImage: [Tensor] = []
        for i in 0..<images {
            let rows = Tensor(randomUniform: [1 + i % 3, d], seed: UInt64(100 + i)).l2NormalizedRows()
            try flat.add(rows, paths: (0..<rows.shape[0]).map { "\(i)-\($0)" })
            let regions = [ObjectRegion(kind: .image, box: .whole(width: 10, height: 10))]
                + Array(repeating: ObjectRegion(kind: .detected, box: .whole(width: 5, height: 5)), count: rows.shape[0] - 1)
            try objects.add(rows, regions: regions, path: "\(i)")
            all.append(rows)
            perImage.append(rows)
        }
        let db = Tensor.concatenated(all, along: 0)
        #expect(db.scalarCount > 3 << 20)
        #expect(flat.vectors == db && objects.vectors == db)
        for i in [0, 1_000, 3_999] { #expect(objects.vectors(ofImage: i) == perImage[i]) }
        #expect(flat.vectors(4_000..<4_010) == db.sliced(along: 0, 4_000..<4_010))
        let q = Tensor(randomUniform: [5, d], seed: 7).l2NormalizedRows()
        let hits = try flat.search(q, k: 20)
        let reference = bruteForce(q, db, k: 20)
        for i in 0..<5 { #expect(hits[i].map(\.image) == reference[i]) }
        // object search over the chunks: the best image is the one holding the best row
        let best = try objects.search(q.sliced(along: 0, 0..<1), regions: [ObjectRegion(kind: .given, box: .whole(width: 4, height: 4))], k: 1)
        #expect(best[0].path == String(flat.paths[reference[0][0]].split(separator: "-")[0]))
    }
}

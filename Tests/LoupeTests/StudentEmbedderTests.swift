import Foundation
import Loupe
import Testing

@Suite(.serialized) struct StudentEmbedderTests {
    /// Distillation end to end on two real images: the training pairs hold the teacher's own
    /// vectors for the detector's regions; a head trained on them loads back from its file and
    /// embeds images as unit vectors in the teacher's space, one detector pass, no classifier.
    @Test func distillTrainSaveLoadAndEmbed() throws {
        let backbone = try WeightStore.backbone(.classifier(.mobileNetV2), file: mobilenet)
        let global = try GlobalEmbedder(backbone: backbone, maxSize: 256)
        let detector = try YOLOX(contentsOf: yoloxWeights)
        let teacher = try ObjectEmbedder(embedder: global, detector: detector, proposal: RegionProposal(maximumObjects: 3))
        let paths = ["dog", "person"].map { darknet.appendingPathComponent("\($0).jpg") }
        let set = try distillationSet(paths, teacher: teacher, detector: detector)
        #expect(set.features.shape.dropFirst() == [64, 7, 7] && set.targets.shape[1] == 1280)
        #expect(set.images.filter { $0 == 0 }.count == 4 && set.images.filter { $0 == 1 }.count == 4)  // whole image + 3 boxes
        // the targets are exactly the teacher's vectors of the same regions
        let dog = try teacher.objects(in: Image(contentsOf: paths[0]))
        #expect(zip(set.targets.sliced(along: 0, 0..<4).scalars, dog.vectors.scalars).allSatisfy { abs($0 - $1) < 1e-6 })

        // cached sets round-trip and are refused under another key
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-student-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let setURL = dir.appendingPathComponent("set.safetensors")
        try set.write(to: setURL, key: "k1")
        #expect(DistillationSet(contentsOf: setURL, key: "k1")?.targets.scalars == set.targets.scalars)
        #expect(DistillationSet(contentsOf: setURL, key: "k2") == nil)

        // spliced views: each image pasted into the other; targets are the original regions' rows
        let views = try augmentedDistillationSet(paths, base: set, detector: detector, proposal: teacher.proposal, views: 2, seed: 5)
        #expect(views.features.shape.dropFirst() == [64, 7, 7] && views.count > 0 && views.count <= 16)
        for row in 0..<views.count {
            let target = views.targets.sliced(along: 0, row..<(row + 1)).scalars
            let image = views.images[row]
            let candidates = (0..<set.count).filter { set.images[$0] == image }
            #expect(candidates.contains { set.targets.sliced(along: 0, $0..<($0 + 1)).scalars == target })
        }
        let again = try augmentedDistillationSet(paths, base: set, detector: detector, proposal: teacher.proposal, views: 2, seed: 5)
        #expect(again.features.scalars == views.features.scalars && again.images == views.images)
        #expect(set.appending(views).count == set.count + views.count)
        // photographed views: the same pairing, deterministic, and other features than upright splices
        let photos = try augmentedDistillationSet(paths, base: set, detector: detector, proposal: teacher.proposal, views: 2, seed: 5,
                                                  style: .photo)
        #expect(photos.count > 0 && photos.count <= 16 && photos.features.shape.dropFirst() == [64, 7, 7])
        #expect(photos.features.scalars.allSatisfy(\.isFinite) && photos.features.scalars != views.features.scalars)
        for row in 0..<photos.count {
            let target = photos.targets.sliced(along: 0, row..<(row + 1)).scalars
            #expect((0..<set.count).contains { set.images[$0] == photos.images[row] && set.targets.sliced(along: 0, $0..<($0 + 1)).scalars == target })
        }
        let photosAgain = try augmentedDistillationSet(paths, base: set, detector: detector, proposal: teacher.proposal, views: 2, seed: 5,
                                                       style: .photo)
        #expect(photosAgain.features.scalars == photos.features.scalars)
        // with the detector's own boxes on each view: every mapped pair kept, more pairs (the pasted
        // objects are found again), each paired with a region of the pasted image
        let matched = try augmentedDistillationSet(paths, base: set, detector: detector, proposal: teacher.proposal, views: 2, seed: 5,
                                                   style: .photo, matchDetections: true)
        #expect(matched.count > photos.count)
        for row in 0..<matched.count {
            let target = matched.targets.sliced(along: 0, row..<(row + 1)).scalars
            #expect((0..<set.count).contains { set.images[$0] == matched.images[row] && set.targets.sliced(along: 0, $0..<($0 + 1)).scalars == target })
        }
        // views for some images only: [3, 0] makes views of the first image alone
        let firstOnly = try augmentedDistillationSet(paths, base: set, detector: detector, proposal: teacher.proposal, viewsPerImage: [3, 0], seed: 5)
        #expect(firstOnly.count > 0 && firstOnly.count <= 12 && firstOnly.images.allSatisfy { $0 == 0 })

        var options = TrainingOptions()
        options.epochs = 3
        options.validationFraction = 0.5
        let (head, history) = trainStudent(set, options: options)
        #expect(history.count == 3 && history.allSatisfy { $0.trainingLoss.isFinite && $0.validationCosine.isFinite })
        let headURL = dir.appendingPathComponent("head.safetensors")
        try head.write(to: headURL, metadata: ["teacher": teacher.recipe.json, "checksum": "abc"])
        let student = try StudentEmbedder(detector: detector, headFile: headURL, proposal: RegionProposal(maximumObjects: 3))
        #expect(student.recipe.mode.description == "objects:student:abc" && student.recipe.model == .classifier(.mobileNetV2))
        let objects = try student.objects(in: Image(contentsOf: paths[0]))
        #expect(objects.regions.map(\.kind) == [.image, .detected, .detected, .detected] && objects.vectors.shape == [4, 1280])
        for r in 0..<4 {
            let norm = objects.vectors.sliced(along: 0, r..<(r + 1)).scalars.reduce(0) { $0 + $1 * $1 }
            #expect(abs(norm - 1) < 1e-4)
        }
        // the student's RoI features are the training features of the same image
        #expect(head(set.features.sliced(along: 0, 0..<4)).scalars.elementsEqual(objects.vectors.scalars) { abs($0 - $1) < 1e-5 })
        // a head for another dimension is refused
        var other = teacher.recipe
        other.dimension = 64
        #expect(throws: EmbedderError.self) { try StudentEmbedder(detector: detector, head: head, teacherRecipe: other, headIdentity: StudentHeadIdentity(fileName: "x.safetensors", checksum: "x")) }
        // a head for other detector features is refused with the channel counts, not trapped on later
        let wide = StudentHead(configuration: .init(inputChannels: 10, dimension: 1280))
        #expect(throws: EmbedderError.self) { try StudentEmbedder(detector: detector, head: wide, teacherRecipe: teacher.recipe, headIdentity: StudentHeadIdentity(fileName: "x.safetensors", checksum: "x")) }
        // the proposal a head was trained with (detector size included) is read back from its file
        #expect(try StudentEmbedder.trainedProposal(metadata: StudentHead.load(contentsOf: headURL).metadata) == RegionProposal())
        let trained = RegionProposal(maximumObjects: 3, scoreThreshold: 0.2, inputSize: 640)
        let headURL640 = dir.appendingPathComponent("head640.safetensors")
        try head.write(to: headURL640, metadata: ["teacher": teacher.recipe.json, "proposal": String(decoding: try JSONEncoder().encode(trained), as: UTF8.self)])
        #expect(try StudentEmbedder.trainedProposal(metadata: StudentHead.load(contentsOf: headURL640).metadata) == trained)
        // heads written before the typed recipe kept the proposal as settings
        let legacy = ["objects": "3", "object-threshold": "0.2", "detector-size": "640"]
        #expect(try StudentEmbedder.trainedProposal(metadata: legacy) == trained)
        // a detector size that is not a multiple of 32 is refused
        #expect(throws: EmbedderError.self) {
            try StudentEmbedder(detector: detector, head: head, teacherRecipe: teacher.recipe, headIdentity: StudentHeadIdentity(fileName: "x.safetensors", checksum: "x"),
                                proposal: RegionProposal(inputSize: 600))
        }
    }
}

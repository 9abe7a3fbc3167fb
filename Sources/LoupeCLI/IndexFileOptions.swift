import ArgumentParser
import Foundation
import Loupe

/// Where the files an index names are now: its model's weights, the detector's, its student
/// head, its images (`search` and `sources`).
struct IndexFileOptions: ParsableArguments {
    @Option(help: "Weights file of the index's model (default: found by name, see `loupe models`; its checksum must be the index's).")
    var weights: String?

    @Option(help: "Object index: YOLOX weights for the query's boxes (default: found by name, see `loupe models`).")
    var detectorWeights: String?

    @Option(help: "Object index made with a student head: the head file, when it moved since indexing.")
    var student: String?

    @Option(help: "Where the indexed folder is now, when it moved without the index (paths are stored relative to the folder that was indexed).")
    var root: String?

    /// Where the index's weights are looked for: the files given for its model, detector and
    /// head, then the standard folders.
    func store(for recipe: EmbeddingRecipe) -> WeightStore {
        var store = WeightStore.cli()
        if let weights { store.paths[recipe.model.name] = URL(fileURLWithPath: weights) }
        if let detectorWeights, let proposal = recipe.mode.proposal {
            store.paths[ModelIdentifier.yolox(proposal.detector).name] = URL(fileURLWithPath: detectorWeights)
        }
        if let student, case let .student(head, _) = recipe.mode { store.paths[head.fileName] = URL(fileURLWithPath: student) }
        return store
    }

    /// `--root`, checked to be a folder.
    func rootURL() throws -> URL? {
        guard let root else { return nil }
        guard OutputCheck.isFolder(URL(fileURLWithPath: root)) else { throw CLIError.usage("--root \(root) is not a folder") }
        return URL(fileURLWithPath: root)
    }
}

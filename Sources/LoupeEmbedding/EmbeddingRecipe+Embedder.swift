internal import Foundation

extension EmbeddingRecipe {
    /// The global embedder that makes this recipe's vectors, its weights found in `weights` by
    /// name and checked by checksum.
    ///
    /// - Parameters:
    ///   - weights: where the backbone's file is looked for.
    ///   - whitening: the whitening the recipe names (an index carries it); required when the
    ///     recipe has one, and checked against it.
    /// - Throws: ``EmbedderError/wrongMode(expected:got:)`` for an object recipe,
    ///   ``EmbedderError/weights(_:)`` naming the file looked for and where,
    ///   ``EmbedderError/whiteningMissing(_:)``.
    public func makeGlobalEmbedder(weights: WeightStore = .standard(), whitening: Whitening? = nil) throws(EmbedderError) -> GlobalEmbedder {
        guard case .global = mode else { throw .wrongMode(expected: "global", got: mode) }
        return try globalPart(weights: weights, whitening: whitening)
    }

    /// The region embedder (hard attention, crop teacher or student) that makes this recipe's
    /// vectors, with the recipe's region proposal unless `proposal` replaces it (a query may
    /// propose other boxes than the index did; the vectors stay comparable).
    public func makeRegionEmbedder(weights: WeightStore = .standard(), whitening: Whitening? = nil,
                                   proposal: RegionProposal? = nil) throws(EmbedderError) -> any RegionEmbedder {
        switch mode {
        case .global: throw .wrongMode(expected: "objects or student", got: mode)
        case let .objects(method, stored):
            let proposal = proposal ?? stored
            let global = try globalPart(weights: weights, whitening: whitening)
            var detector: YOLOX?
            if proposal.maximumObjects > 0 {
                do { detector = try weights.detector(proposal.detector) } catch { throw .weights(error) }
            }
            return try ObjectEmbedder(embedder: global, detector: detector, proposal: proposal, method: method,
                                      labels: weights.detectorLabels(proposal.detector))
        case let .student(identity, stored):
            let proposal = proposal ?? stored
            let detector: YOLOX, loaded: (head: StudentHead, file: URL, metadata: [String: String])
            do {
                detector = try weights.detector(proposal.detector)
                loaded = try weights.studentHead(identity)
            } catch { throw .weights(error) }
            let embedder = try StudentEmbedder(detector: detector, head: loaded.head, file: loaded.file, metadata: loaded.metadata,
                                               proposal: proposal, labels: weights.detectorLabels(proposal.detector))
            // the head must still make the vectors this recipe describes
            let differences = embedder.recipe.differences(from: self)
            guard differences.isEmpty else {
                throw .invalidOption("the student head \(loaded.file.path) makes other vectors than the recipe: \(differences.joined(separator: "; "))")
            }
            return embedder
        }
    }

    /// The backbone, stage, pooling, sizes and whitening of this recipe as a global embedder.
    private func globalPart(weights: WeightStore, whitening: Whitening?) throws(EmbedderError) -> GlobalEmbedder {
        if let expected = self.whitening {
            guard let whitening, WhiteningIdentity(of: whitening) == expected else { throw .whiteningMissing(expected) }
        }
        let backbone: LoadedBackbone
        do { backbone = try weights.backbone(model, checksum: weightsChecksum) } catch { throw .weights(error) }
        var unwhitened = self
        unwhitened.mode = .global
        let embedder = try GlobalEmbedder(backbone: backbone, stage: stage, pooling: pooling, scales: scales, maxSize: maxSize,
                                          whitening: self.whitening == nil ? nil : whitening)
        let differences = embedder.recipe.differences(from: unwhitened)
        guard differences.isEmpty else { throw .invalidOption("the rebuilt embedder differs from the recipe: \(differences.joined(separator: "; "))") }
        return embedder
    }
}

extension FlatIndex {
    /// An empty index for the vectors of `embedder` (its recipe and whitening).
    public init(for embedder: GlobalEmbedder) {
        // the embedder's whitening is the one its recipe names, by construction
        try! self.init(recipe: embedder.recipe, whitening: embedder.whitening)
    }

    /// The embedder that made this index's vectors, rebuilt from its recipe and whitening
    /// (`whitening` only for an index from before indexes carried theirs).
    public func makeEmbedder(weights: WeightStore = .standard(), whitening: Whitening? = nil) throws(EmbedderError) -> GlobalEmbedder {
        try recipe.makeGlobalEmbedder(weights: weights, whitening: whitening ?? self.whitening)
    }
}

extension ObjectIndex {
    /// An empty index for the region vectors of `embedder` (its recipe and whitening).
    public init(for embedder: any RegionEmbedder) {
        // a region embedder's recipe is an object or student one and its whitening is the recipe's
        try! self.init(recipe: embedder.recipe, whitening: embedder.whitening)
    }

    /// The region embedder that made this index's vectors, rebuilt from its recipe and
    /// whitening (`whitening` only for an index from before indexes carried theirs), with the
    /// recipe's proposal unless `proposal` replaces it; a student head is also looked for where
    /// the index says it was, unless `weights` names a file for it.
    public func makeEmbedder(weights: WeightStore = .standard(), whitening: Whitening? = nil,
                             proposal: RegionProposal? = nil) throws(EmbedderError) -> any RegionEmbedder {
        var store = weights
        if let studentHeadLocation, case let .student(head, _) = recipe.mode, store.paths[head.fileName] == nil {
            store.paths[head.fileName] = URL(fileURLWithPath: studentHeadLocation)
        }
        return try recipe.makeRegionEmbedder(weights: store, whitening: whitening ?? self.whitening, proposal: proposal)
    }
}

internal import Foundation
public import LoupeTensor
public import LoupeDetection
public import LoupeEmbedding

/// Training pairs: each region's frozen RoI features on the detector and the teacher's embedding
/// of the same region.
public struct DistillationSet: Sendable {
    /// `[N, C, b, b]`.
    public var features: Tensor
    /// `[N, D]`, L2-normalised.
    public var targets: Tensor
    /// The image each row comes from (validation holds out whole images).
    public var images: [Int]

    public init(features: Tensor, targets: Tensor, images: [Int]) {
        precondition(features.rank == 4 && targets.rank == 2 && features.shape[0] == targets.shape[0] && images.count == targets.shape[0],
                     "distillation set: features \(features.shape), targets \(targets.shape), \(images.count) image ids do not fit")
        (self.features, self.targets, self.images) = (features, targets, images)
    }

    public var count: Int { targets.shape[0] }

    /// The rows at `indices` (copied straight from the storage: no whole-tensor copy).
    public func rows(_ indices: [Int]) -> (features: Tensor, targets: Tensor) {
        (Self.gather(features, indices), Self.gather(targets, indices))
    }

    /// Rows `indices` of `t` (any rank), in that order.
    public static func gather(_ t: Tensor, _ indices: [Int]) -> Tensor {
        let row = t.shape.dropFirst().reduce(1, *)
        return Tensor(uninitializedShape: [indices.count] + Array(t.shape.dropFirst())) { out in
            t.withUnsafeBufferPointer { src in
                for (j, i) in indices.enumerated() {
                    precondition(i >= 0 && i < t.shape[0], "row \(i) outside \(t.shape[0]) rows")
                    (out.baseAddress! + j * row).initialize(from: src.baseAddress! + i * row, count: row)
                }
            }
        }
    }
}

/// Training settings. The defaults train the head on a few thousand regions in a minute or two
/// on two cores.
public struct TrainingOptions: Sendable, Hashable {
    public var epochs = 40
    public var batchSize = 128
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 1e-4
    public var loss = DistillationLoss.cosine
    public var seed: UInt64 = 1
    /// Share of the images held out for validation.
    public var validationFraction: Float = 0.1
    public var hidden = 256
    public var fullyConnectedHidden = 512
    /// Recorded in the head: which detector features the set holds.
    public var features = FeaturePyramid.Pooling.stems

    public init() {}
}

/// One epoch of training.
public struct EpochReport: Sendable, Codable {
    public var epoch: Int
    public var trainingLoss: Float
    /// Mean cosine between student and teacher on the held-out images' regions.
    public var validationCosine: Float
    public var seconds: Double
}

/// A small deterministic generator (SplitMix64, Steele et al. 2014) for shuffles and augmentation.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Trains a ``StudentHead`` on `set` with Adam, mini-batches and a seeded shuffle; whole images
/// are held out for validation. Calls `report` after every epoch. Stops after an epoch whose
/// training loss is not finite (the learning rate was too high): the history ends with that
/// epoch, and the returned head's parameters are not finite — check before using it.
public func trainStudent(_ set: DistillationSet, options: TrainingOptions = .init(),
                         report: (EpochReport) -> Void = { _ in }) -> (head: StudentHead, history: [EpochReport]) {
    precondition(set.count > 0, "trainStudent: the distillation set is empty")
    var rng = SplitMix64(state: options.seed)
    let imageIDs = Array(Set(set.images)).sorted().shuffled(using: &rng)
    let heldOut = Set(imageIDs.prefix(Int((Float(imageIDs.count) * options.validationFraction).rounded())))
    let training = (0..<set.count).filter { !heldOut.contains(set.images[$0]) }
    let validation = (0..<set.count).filter { heldOut.contains(set.images[$0]) }
    let config = StudentHead.Configuration(inputChannels: set.features.shape[1], bins: set.features.shape[2], hidden: options.hidden,
                                           fullyConnectedHidden: options.fullyConnectedHidden, dimension: set.targets.shape[1],
                                           features: options.features)
    var head = StudentHead(configuration: config, seed: options.seed)
    var adam = Adam(learningRate: options.learningRate, weightDecay: options.weightDecay)
    let validationRows = validation.isEmpty ? nil : set.rows(validation)
    var history: [EpochReport] = []
    let batchesPerEpoch = max(1, (training.count + options.batchSize - 1) / options.batchSize)
    let totalSteps = Float(options.epochs * batchesPerEpoch)
    for epoch in 1...max(1, options.epochs) {
        let start = Date()
        let order = training.shuffled(using: &rng)
        var lossSum: Double = 0
        for b in 0..<batchesPerEpoch {
            let indices = Array(order[(b * options.batchSize)..<min(order.count, (b + 1) * options.batchSize)])
            guard !indices.isEmpty else { continue }
            // cosine learning-rate schedule over all steps
            adam.learningRate = options.learningRate * 0.5 * (1 + cos(Float.pi * Float(adam.step) / totalSteps))
            let (x, t) = set.rows(indices)
            let trace = head.forward(x)
            let (loss, gradient) = options.loss(trace.output, t)
            adam.update(&head.parameters, gradients: head.backward(trace, gradient: gradient))
            lossSum += Double(loss) * Double(indices.count)
        }
        var cosine: Float = .nan
        if let (x, t) = validationRows {
            let y = head(x)
            cosine = zip(y.scalars, t.scalars).reduce(0) { $0 + $1.0 * $1.1 } / Float(validation.count)
        }
        let entry = EpochReport(epoch: epoch, trainingLoss: Float(lossSum / Double(max(1, training.count))), validationCosine: cosine,
                                seconds: Date().timeIntervalSince(start))
        history.append(entry)
        report(entry)
        // diverged: further epochs cannot recover NaN parameters (the caller sees the last entry's loss)
        if !entry.trainingLoss.isFinite { break }
    }
    return (head, history)
}

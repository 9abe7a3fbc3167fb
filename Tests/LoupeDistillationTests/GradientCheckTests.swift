import Foundation
import LoupeDistillation
import LoupeEmbedding
import LoupeTensor
import Testing

/// `Σ weights ⊙ y`: a scalar whose gradient with respect to `y` is `weights`.
func weightedSum(_ y: Tensor, _ weights: Tensor) -> Double {
    zip(y.scalars, weights.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
}

/// Central finite differences of `f` at `x`, at `samples` positions spread over the tensor.
func numericGradient(_ x: Tensor, samples: Int = 24, step: Float = 1e-2, _ f: (Tensor) -> Double) -> [(index: Int, value: Double)] {
    let n = x.scalarCount
    return (0..<min(samples, n)).map { s in
        let i = (s * 7919) % n
        var plus = x, minus = x
        plus.withUnsafeMutableBufferPointer { $0[i] += step }
        minus.withUnsafeMutableBufferPointer { $0[i] -= step }
        return (i, (f(plus) - f(minus)) / Double(2 * step))
    }
}

/// Analytic and numeric agree to `tolerance` relative to the largest numeric magnitude.
func expectClose(_ analytic: Tensor, _ numeric: [(index: Int, value: Double)], tolerance: Double = 2e-2,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    let scale = max(1e-3, numeric.map { abs($0.value) }.max() ?? 0)
    let a = analytic.scalars
    let worst = numeric.map { abs(Double(a[$0.index]) - $0.value) / scale }.max() ?? 0
    #expect(worst < tolerance, "worst relative gradient error \(worst)", sourceLocation: sourceLocation)
}

@Suite struct GradientCheckTests {
    @Test func linearLayer() {
        let x = Tensor(randomUniform: [5, 7], in: -1...1, seed: 1), w = Tensor(randomUniform: [4, 7], in: -1...1, seed: 2)
        let b = Tensor(randomUniform: [4], in: -1...1, seed: 3), g = Tensor(randomUniform: [5, 4], in: -1...1, seed: 4)
        let grads = linearBackward(x, weight: w, gradient: g)
        expectClose(grads.input!, numericGradient(x) { weightedSum(linear($0, weight: w, bias: b), g) })
        expectClose(grads.weight, numericGradient(w) { weightedSum(linear(x, weight: $0, bias: b), g) })
        expectClose(grads.bias, numericGradient(b) { weightedSum(linear(x, weight: w, bias: $0), g) })
    }

    @Test func relu() {
        // values away from the kink so that a finite step does not cross it
        let x = Tensor(randomUniform: [6, 5], in: -1...1, seed: 5).map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 }
        let g = Tensor(randomUniform: [6, 5], in: -1...1, seed: 6)
        let relu = { (t: Tensor) in t.map { max($0, 0) } }
        expectClose(reluBackward(output: relu(x), gradient: g), numericGradient(x, samples: 30) { weightedSum(relu($0), g) })
    }

    @Test func generalizedMeanOverCells() {
        let x = Tensor(randomUniform: [3 * 9, 4], in: 0.2...1.5, seed: 7), g = Tensor(randomUniform: [3, 4], in: -1...1, seed: 8)
        let y = LoupeEmbedding.generalizedMeanOverCells(x, cells: 9)
        let analytic = generalizedMeanOverCellsBackward(x, output: y, gradient: g, cells: 9)
        expectClose(analytic, numericGradient(x, samples: 60, step: 1e-3) { weightedSum(LoupeEmbedding.generalizedMeanOverCells($0, cells: 9), g) })
    }

    @Test func l2Normalization() {
        let x = Tensor(randomUniform: [4, 6], in: -1...1, seed: 9), g = Tensor(randomUniform: [4, 6], in: -1...1, seed: 10)
        let analytic = l2NormalizeBackward(x, output: x.l2NormalizedRows(), gradient: g)
        expectClose(analytic, numericGradient(x, samples: 24, step: 1e-3) { weightedSum($0.l2NormalizedRows(), g) })
    }

    @Test(arguments: DistillationLoss.allCases) func losses(_ loss: DistillationLoss) {
        let y = Tensor(randomUniform: [5, 8], in: -1...1, seed: 11).l2NormalizedRows()
        let t = Tensor(randomUniform: [5, 8], in: -1...1, seed: 12).l2NormalizedRows()
        let (value, gradient) = loss(y, t)
        let cosines = (0..<5).map { i in (0..<8).reduce(Float(0)) { $0 + y[i, $1] * t[i, $1] } }
        if loss == .centered {
            // by hand: plain cosine + cosine of both rows around the targets' mean
            let mean = (0..<8).map { j in (0..<5).reduce(Float(0)) { $0 + t[$1, j] } / 5 }
            var expected: Float = 0
            for i in 0..<5 {
                let u = (0..<8).map { y[i, $0] - mean[$0] }, v = (0..<8).map { t[i, $0] - mean[$0] }
                let uv = zip(u, v).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                let norms = (u.reduce(Float(0)) { $0 + $1 * $1 } * v.reduce(Float(0)) { $0 + $1 * $1 }).squareRoot()
                expected += (1 - cosines[i]) + (1 - uv / norms)
            }
            #expect(abs(value - expected / 5) < 1e-5)
        } else if loss != .contrastive {
            let expected = loss == .cosine ? cosines.map { 1 - $0 }.reduce(0, +) / 5 : cosines.map { 2 - 2 * $0 }.reduce(0, +) / 5
            #expect(abs(value - expected) < 1e-5)
        } else {
            // by hand: cosine term + cross-entropy of each row's similarities against its own target
            let tau = DistillationLoss.temperature
            var expected: Float = 0
            for i in 0..<5 {
                let row = (0..<5).map { j in (0..<8).reduce(Float(0)) { $0 + y[i, $1] * t[j, $1] } / tau }
                expected += (1 - cosines[i]) + log(row.map { exp($0) }.reduce(0, +)) - row[i]
            }
            #expect(abs(value - expected / 5) < 1e-4)
        }
        expectClose(gradient, numericGradient(y, samples: 40, step: 1e-3) { Double(loss($0, t).loss) })
    }

    /// The whole head: every parameter's gradient against finite differences of the loss.
    @Test func wholeHead() {
        let config = StudentHead.Configuration(inputChannels: 5, bins: 3, hidden: 6, fullyConnectedHidden: 7, dimension: 4)
        var head = StudentHead(configuration: config, seed: 3)
        // non-zero biases so that every ReLU sees both signs
        for name in head.parameters.keys where name.hasSuffix(".bias") {
            head.parameters[name] = Tensor(randomUniform: head.parameters[name]!.shape, in: -0.1...0.3, seed: UInt64(name.count))
        }
        let x = Tensor(randomUniform: [4, 5, 3, 3], in: 0...1, seed: 13)
        let t = Tensor(randomUniform: [4, 4], in: -1...1, seed: 14).l2NormalizedRows()
        let trace = head.forward(x)
        let grads = head.backward(trace, gradient: DistillationLoss.cosine(trace.output, t).gradient)
        #expect(Set(grads.keys) == Set(config.shapes.keys))
        for (name, value) in head.parameters.sorted(by: { $0.key < $1.key }) {
            let numeric = numericGradient(value, samples: 16, step: 1e-3) { p in
                var h = head
                h.parameters[name] = p
                return Double(DistillationLoss.cosine(h(x), t).loss)
            }
            expectClose(grads[name]!, numeric, tolerance: 3e-2)
        }
    }

    @Test func adamMatchesItsFormula() {
        var adam = Adam(learningRate: 0.1)
        var p = ["w.weight": Tensor(shape: [2], scalars: [1, -2])]
        adam.update(&p, gradients: ["w.weight": Tensor(shape: [2], scalars: [0.5, -4])])
        // first step: m̂ = g, v̂ = g², so θ −= lr · g / (|g| + ε) = lr · sign(g)
        #expect(abs(p["w.weight"]![0] - 0.9) < 1e-6 && abs(p["w.weight"]![1] + 1.9) < 1e-6)
        adam.update(&p, gradients: ["w.weight": Tensor(shape: [2], scalars: [0.5, 0])])
        let m = 0.9 * 0.05 + 0.1 * 0.5, v = 0.999 * 0.00025 + 0.001 * 0.25
        let mh = m / (1 - 0.81), vh = v / (1 - 0.998001)
        #expect(abs(Double(p["w.weight"]![0]) - (0.9 - 0.1 * mh / (vh.squareRoot() + 1e-8))) < 1e-5)
    }

    /// Training on a learnable synthetic task lowers the loss and reaches a high held-out cosine,
    /// deterministically for a seed.
    @Test func trainingLearnsASyntheticMapping() {
        // targets: a fixed random projection of the mean RoI feature
        let n = 400
        let features = Tensor(randomUniform: [n, 6, 3, 3], in: 0...1, seed: 21)
        let projection = Tensor(randomUniform: [8, 6], in: -1...1, seed: 22)
        let means = Tensor(shape: [n, 6], scalars: (0..<(n * 6)).map { k in
            let (i, c) = (k / 6, k % 6)
            return (0..<9).reduce(Float(0)) { $0 + features[i, c, $1 / 3, $1 % 3] } / 9 - 0.5
        })
        let targets = matmul(means, projection, transposingB: true).l2NormalizedRows()
        let set = DistillationSet(features: features, targets: targets, images: (0..<n).map { $0 / 2 })
        var options = TrainingOptions()
        options.epochs = 60
        options.learningRate = 3e-3
        options.batchSize = 32
        options.hidden = 32
        options.fullyConnectedHidden = 32
        options.validationFraction = 0.2
        let (_, history) = trainStudent(set, options: options)
        let (_, again) = trainStudent(set, options: options)
        #expect(history.last!.trainingLoss < history.first!.trainingLoss * 0.5, "\(history.map(\.trainingLoss))")
        #expect(history.last!.validationCosine > 0.9, "\(history.map(\.validationCosine))")
        #expect(history.map(\.trainingLoss) == again.map(\.trainingLoss))

        // a learning rate that blows the head up: training stops after the first non-finite epoch
        options.learningRate = 1e30
        options.epochs = 20
        let (diverged, broken) = trainStudent(set, options: options)
        #expect(broken.count < 20 && !broken.last!.trainingLoss.isFinite, "\(broken.map(\.trainingLoss))")
        #expect(broken.dropLast().allSatisfy { $0.trainingLoss.isFinite })
        #expect(!diverged.parameters.values.allSatisfy { $0.scalars.allSatisfy(\.isFinite) })
    }

    @Test func headFilesRoundTripAndRefuseDamage() throws {
        let config = StudentHead.Configuration(inputChannels: 4, bins: 2, hidden: 3, fullyConnectedHidden: 5, dimension: 6)
        let head = StudentHead(configuration: config, seed: 2)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-head-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("head.safetensors")
        try head.write(to: url, metadata: ["teacher": "x"])
        let (back, meta) = try StudentHead.load(contentsOf: url)
        #expect(back.configuration == config && meta["teacher"] == "x")
        let x = Tensor(randomUniform: [3, 4, 2, 2], seed: 5)
        #expect(back(x).scalars == head(x).scalars)
        var broken = head.parameters
        broken["fc2.weight"] = Tensor(zeros: [6, 4])
        #expect(throws: StudentHeadError.self) { try StudentHead(configuration: config, parameters: broken) }
        broken = head.parameters
        broken["fc1.bias"] = nil
        #expect(throws: StudentHeadError.self) { try StudentHead(configuration: config, parameters: broken) }
        broken = head.parameters
        broken["conv1.bias"] = Tensor(repeating: .nan, shape: [3])
        #expect(throws: StudentHeadError.self) { try StudentHead(configuration: config, parameters: broken) }
        try SafetensorsFile.write(head.parameters, metadata: ["format": "something else"], to: url)
        #expect(throws: StudentHeadError.self) { try StudentHead.load(contentsOf: url) }
    }
}

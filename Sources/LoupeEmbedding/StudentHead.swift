public import Foundation
public import LoupeTensor
public import LoupeDetection

/// Why a student head file could not be used.
public enum StudentHeadError: Error, CustomStringConvertible, Equatable {
    case file(String)
    case malformed(String)
    /// A section of the file (a parameter tensor, or `__metadata__` for the configuration and
    /// training record) does not match its recorded checksum, or holds NaN or infinity.
    case damaged(path: String, section: String)

    public var description: String {
        switch self {
        case let .file(why): why
        case let .damaged(path, section): "\(path): the student head file is damaged (section '\(section)')"
        case let .malformed(why): "student head: \(why)"
        }
    }
}

/// The student (the paper's §3): a small head inside the detector that maps each box's RoI
/// features on the detector's pyramid to an embedding in the teacher's space.
///
/// `[R, C, b, b]` RoI features → each of the `b²` cells a row → 1×1 conv `C → hidden` + ReLU →
/// 1×1 conv `hidden → hidden` + ReLU → GeM (p = 3) over the cells → fully connected
/// `hidden → fcHidden` + ReLU → fully connected `fcHidden → D` → L2-normalise: `[R, D]`.
///
/// The cells are pooled orderlessly, as the teacher's GeM pools its map; the 1×1 convolutions make
/// each cell's local descriptor before that. Parameters use PyTorch's `[out, in]` layout.
public struct StudentHead: Sendable {
    public struct Configuration: Sendable, Hashable, Codable {
        /// Channels of the RoI features (64 for YOLOX-Nano's head stems).
        public var inputChannels: Int
        /// RoI bins per side.
        public var bins: Int
        public var hidden: Int
        public var fullyConnectedHidden: Int
        /// Output dimension: the teacher's (whitened) dimension.
        public var dimension: Int
        /// Which detector features the head reads.
        public var features: FeaturePyramid.Pooling

        public init(inputChannels: Int, bins: Int = 7, hidden: Int = 256, fullyConnectedHidden: Int = 512, dimension: Int,
                    features: FeaturePyramid.Pooling = .stems) {
            (self.inputChannels, self.bins, self.hidden, self.fullyConnectedHidden, self.dimension, self.features) =
                (inputChannels, bins, hidden, fullyConnectedHidden, dimension, features)
        }

        enum CodingKeys: String, CodingKey { case inputChannels, bins, hidden, fullyConnectedHidden, dimension, features }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            try self.init(inputChannels: c.decode(Int.self, forKey: .inputChannels), bins: c.decode(Int.self, forKey: .bins),
                          hidden: c.decode(Int.self, forKey: .hidden), fullyConnectedHidden: c.decode(Int.self, forKey: .fullyConnectedHidden),
                          dimension: c.decode(Int.self, forKey: .dimension),
                          features: c.decodeIfPresent(FeaturePyramid.Pooling.self, forKey: .features) ?? .stems)
        }

        /// Shapes of the parameters by name.
        public var shapes: [String: [Int]] {
            ["conv1.weight": [hidden, inputChannels], "conv1.bias": [hidden], "conv2.weight": [hidden, hidden], "conv2.bias": [hidden],
             "fc1.weight": [fullyConnectedHidden, hidden], "fc1.bias": [fullyConnectedHidden],
             "fc2.weight": [dimension, fullyConnectedHidden], "fc2.bias": [dimension]]
        }
    }

    public let configuration: Configuration
    /// By name (see ``Configuration/shapes``).
    public var parameters: [String: Tensor]

    /// He-uniform initialisation (`U(±√(6 / fan_in))`, zero biases) from a seed.
    public init(configuration: Configuration, seed: UInt64 = 1) {
        self.configuration = configuration
        var parameters: [String: Tensor] = [:]
        for (i, (name, shape)) in configuration.shapes.sorted(by: { $0.key < $1.key }).enumerated() {
            if name.hasSuffix(".bias") { parameters[name] = Tensor(zeros: shape); continue }
            let bound = (6 / Float(shape[1])).squareRoot()
            parameters[name] = Tensor(randomUniform: shape, in: -bound...bound, seed: seed &+ UInt64(i) &* 7919)
        }
        self.parameters = parameters
    }

    /// A head with given parameters; every name and shape of the configuration must be present.
    public init(configuration: Configuration, parameters: [String: Tensor]) throws(StudentHeadError) {
        for (name, shape) in configuration.shapes {
            guard let t = parameters[name] else { throw .malformed("missing \(name)") }
            guard t.shape == shape else { throw .malformed("\(name) has shape \(t.shape), expected \(shape)") }
            guard t.scalars.allSatisfy(\.isFinite) else { throw .malformed("\(name) holds NaN or infinity") }
        }
        let unexpected = Set(parameters.keys).subtracting(configuration.shapes.keys)
        guard unexpected.isEmpty else { throw .malformed("unexpected \(unexpected.sorted().joined(separator: ", "))") }
        self.configuration = configuration
        self.parameters = parameters
    }

    /// The activations of one forward pass, kept for the backward pass (LoupeDistillation).
    public struct Trace: Sendable {
        public var cells, conv1, conv2, pooled, fc1, fc2, output: Tensor
    }

    /// `[R, C, b, b]` → `[R, D]`, L2-normalised.
    public func callAsFunction(_ features: Tensor) -> Tensor { forward(features).output }

    public func forward(_ features: Tensor) -> Trace {
        let c = configuration
        precondition(features.rank == 4 && Array(features.shape.dropFirst()) == [c.inputChannels, c.bins, c.bins],
                     "student head: features \(features.shape) do not fit [R, \(c.inputChannels), \(c.bins), \(c.bins)]")
        let r = features.shape[0], cells = c.bins * c.bins
        let rows = features.permuted([0, 2, 3, 1]).reshaped(to: [r * cells, c.inputChannels])
        let p = parameters
        let a1 = linear(rows, weight: p["conv1.weight"]!, bias: p["conv1.bias"]!, activation: .relu)
        let a2 = linear(a1, weight: p["conv2.weight"]!, bias: p["conv2.bias"]!, activation: .relu)
        let g = generalizedMeanOverCells(a2, cells: cells)
        let h = linear(g, weight: p["fc1.weight"]!, bias: p["fc1.bias"]!, activation: .relu)
        let z = linear(h, weight: p["fc2.weight"]!, bias: p["fc2.bias"]!)
        return Trace(cells: rows, conv1: a1, conv2: a2, pooled: g, fc1: h, fc2: z, output: z.l2NormalizedRows())
    }
}

extension StudentHead {
    /// File format version.
    /// File format version: 2 records a CRC-32C of every section (and must); 1 is still read.
    public static let formatVersion = "2"

    /// Saves the parameters as safetensors with the configuration and `metadata` (the teacher's
    /// recipe, the detector, the training summary), atomically.
    public func write(to url: URL, metadata: [String: String] = [:]) throws(StudentHeadError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let config = String(decoding: (try? encoder.encode(configuration)) ?? Data(), as: UTF8.self)
        var meta = metadata
        meta["format"] = "loupe-student-head"
        meta["version"] = Self.formatVersion
        meta["configuration"] = config
        do { try SafetensorsFile.write(parameters, metadata: meta, checksums: true, to: url) } catch { throw .file("cannot write \(url.path): \(error)") }
    }

    /// Loads a head written by ``write(to:metadata:)``; returns it with the file's metadata.
    public static func load(contentsOf url: URL) throws(StudentHeadError) -> (head: StudentHead, metadata: [String: String]) {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch { throw .file("cannot read student head \(url.path): \(error)") }
        let intact = (try? file.verifyChecksums()) != nil
        guard file.metadata["format"] == "loupe-student-head" else {
            if file.hasChecksums && !intact { throw .damaged(path: url.path, section: "__metadata__") }
            throw .file("\(url.path) is not a Loupe student head")
        }
        guard ["1", formatVersion].contains(file.metadata["version"] ?? "") else {
            if file.hasChecksums && !intact { throw .damaged(path: url.path, section: "__metadata__") }
            throw .file("\(url.path) has student head version \(file.metadata["version"] ?? "?"), this Loupe reads 1 and \(formatVersion)")
        }
        if file.metadata["version"] == formatVersion {
            guard file.hasChecksums else { throw .damaged(path: url.path, section: SafetensorsFile.checksumKey) }
            do { try file.verifyChecksums() } catch {
                if case let .checksumMismatch(section) = error { throw .damaged(path: url.path, section: section) }
                throw .file("\(url.path): \(error)")
            }
        }
        guard let data = file.metadata["configuration"]?.data(using: .utf8),
              let configuration = try? JSONDecoder().decode(Configuration.self, from: data) else {
            throw .malformed("\(url.path): missing or malformed configuration")
        }
        var parameters: [String: Tensor] = [:]
        for name in file.names {
            do { parameters[name] = try file.tensor(named: name) } catch { throw .file("\(url.path): \(error)") }
            if !parameters[name]!.withUnsafeBufferPointer({ $0.allSatisfy(\.isFinite) }) { throw .damaged(path: url.path, section: name) }
        }
        return (try StudentHead(configuration: configuration, parameters: parameters), file.metadata)
    }
}

/// GeM over groups of `cells` consecutive rows: `[N·cells, C]` → `[N, C]`,
/// `y = (mean max(x, ε)^p)^(1/p)` per column (the RoI's cells are its rows).
public func generalizedMeanOverCells(_ x: Tensor, cells: Int, p: Float = 3, epsilon: Float = 1e-6) -> Tensor {
    precondition(x.rank == 2 && cells >= 1 && x.shape[0] % cells == 0, "GeM over cells: \(x.shape) is not a multiple of \(cells) rows")
    let n = x.shape[0] / cells, c = x.shape[1]
    var out = [Float](repeating: 0, count: n * c)
    let v = x.scalars
    for i in 0..<n {
        for j in 0..<c {
            var s: Double = 0
            if p == 3 {  // the default, without pow
                for k in 0..<cells { let t = Double(max(v[(i * cells + k) * c + j], epsilon)); s += t * t * t }
            } else {
                for k in 0..<cells { s += Double(pow(max(v[(i * cells + k) * c + j], epsilon), p)) }
            }
            out[i * c + j] = Float(pow(s / Double(cells), 1 / Double(p)))
        }
    }
    return Tensor(shape: [n, c], scalars: out)
}

public import Foundation
public import LoupeTensor

/// Named weight tensors, keyed by the checkpoint's own names (`features.0.0.weight`, …).
///
/// Models never guess names: they ask a ``WeightReader`` for each tensor with the shape they
/// expect, and the reader reports every missing, unexpected and mis-shaped key at once.
public struct StateDict: Sendable {
    /// The tensors, by name.
    public private(set) var tensors: [String: Tensor]

    /// A state dict holding `tensors`.
    public init(_ tensors: [String: Tensor]) { self.tensors = tensors }

    /// Every tensor of a safetensors file, with `renames` applied to the names.
    public init(contentsOf url: URL, renames: [KeyRename] = []) throws(SafetensorsError) {
        let file = try SafetensorsFile(contentsOf: url)
        var tensors: [String: Tensor] = [:]
        for name in file.names { tensors[name] = try file.tensor(named: name) }
        self.init(tensors)
        self = renamed(renames)
    }

    /// The names, sorted.
    public var names: [String] { tensors.keys.sorted() }

    /// The tensor named `name`, if present.
    public subscript(name: String) -> Tensor? { tensors[name] }

    /// The same tensors with each rule applied in order to every name.
    public func renamed(_ rules: [KeyRename]) -> StateDict {
        guard !rules.isEmpty else { return self }
        var out: [String: Tensor] = [:]
        for (name, t) in tensors { out[rules.reduce(name) { $1.apply($0) }] = t }
        return StateDict(out)
    }

    /// Writes the tensors as safetensors, atomically.
    public func write(to url: URL, metadata: [String: String] = [:]) throws(SafetensorsError) {
        try SafetensorsFile.write(tensors, metadata: metadata, to: url)
    }
}

/// A rename rule for checkpoint keys, written as data: checkpoints from different sources spell
/// the same layer differently (`module.features.0` from a `DataParallel` wrapper, `backbone.` prefixes).
public struct KeyRename: Sendable, Hashable {
    /// Which part of the name the rule matches.
    public enum Kind: Sendable, Hashable { case prefix, substring }
    public var kind: Kind
    public var from: String
    public var to: String

    /// Replaces a leading `from` by `to`.
    public static func prefix(_ from: String, _ to: String) -> KeyRename { KeyRename(kind: .prefix, from: from, to: to) }
    /// Replaces every occurrence of `from` by `to`.
    public static func substring(_ from: String, _ to: String) -> KeyRename { KeyRename(kind: .substring, from: from, to: to) }

    func apply(_ name: String) -> String {
        switch kind {
        case .prefix: name.hasPrefix(from) ? to + name.dropFirst(from.count) : name
        case .substring: from.isEmpty ? name : name.replacingOccurrences(of: from, with: to)
        }
    }
}

/// Every problem found while loading a model's weights, reported together.
public struct WeightLoadingError: Error, Equatable, CustomStringConvertible {
    /// Keys the model needs that the checkpoint lacks.
    public var missing: [String]
    /// Keys the checkpoint holds that the model did not use.
    public var unexpected: [String]
    /// Keys present with another shape: (name, expected, found).
    public var misshaped: [Misshaped]

    public struct Misshaped: Equatable, Sendable {
        public var name: String
        public var expected: [Int]
        public var found: [Int]
        public init(name: String, expected: [Int], found: [Int]) {
            self.name = name
            self.expected = expected
            self.found = found
        }
    }

    public init(missing: [String], unexpected: [String], misshaped: [Misshaped]) {
        self.missing = missing
        self.unexpected = unexpected
        self.misshaped = misshaped
    }

    /// Every key is in the value (``missing``, ``unexpected``, ``misshaped``); the description names
    /// the first few of each, so that weights for another network read as one screen, not 14 KB.
    public var description: String {
        func first<T>(_ items: [T], _ text: (T) -> String) -> String {
            let shown = items.prefix(6).map(text).joined(separator: ", ")
            return items.count > 6 ? shown + ", … and \(items.count - 6) more" : shown
        }
        var lines = ["weights do not fit the model:"]
        if !missing.isEmpty { lines.append("  missing (\(missing.count)): " + first(missing) { $0 }) }
        if !misshaped.isEmpty {
            lines.append("  mis-shaped (\(misshaped.count)): " + first(misshaped) { "\($0.name) expected \($0.expected) found \($0.found)" })
        }
        if !unexpected.isEmpty { lines.append("  unexpected (\(unexpected.count)): " + first(unexpected) { $0 }) }
        if !missing.isEmpty && missing.count + unexpected.count > 20 { lines.append("  (most keys differ: are these the weights of another network?)") }
        return lines.joined(separator: "\n")
    }
}

/// Hands a model its weights by name and shape, remembering every problem until ``finish()``.
///
/// ```swift
/// var reader = WeightReader(stateDict)
/// let w = reader.take("features.0.0.weight", shape: [32, 3, 3, 3])
/// ...
/// try reader.finish()   // throws WeightLoadingError naming every missing/unexpected/mis-shaped key
/// ```
public struct WeightReader {
    private let stateDict: StateDict
    private var used: Set<String> = []
    private var ignored: [@Sendable (String) -> Bool] = []
    private var missing: [String] = []
    private var misshaped: [WeightLoadingError.Misshaped] = []

    public init(_ stateDict: StateDict) { self.stateDict = stateDict }

    /// The tensor `name` with the expected `shape`. A missing or mis-shaped key is recorded and a
    /// zero tensor of `shape` stands in, so that loading continues and reports all problems.
    public mutating func take(_ name: String, shape: [Int]) -> Tensor {
        used.insert(name)
        guard let t = stateDict[name] else {
            missing.append(name)
            return Tensor(zeros: shape)
        }
        guard t.shape == shape else {
            // a [N] vector stored as [N, 1, 1] (or the reverse) is the same weight
            if t.scalarCount == shape.reduce(1, *), t.shape.filter({ $0 != 1 }) == shape.filter({ $0 != 1 }) {
                return t.reshaped(to: shape)
            }
            misshaped.append(.init(name: name, expected: shape, found: t.shape))
            return Tensor(zeros: shape)
        }
        return t
    }

    /// Whether the checkpoint holds `name` (for optional tensors such as a bias).
    public func contains(_ name: String) -> Bool { stateDict[name] != nil }

    /// Keys matching `predicate` are not reported as unexpected (e.g. a classifier a headless
    /// backbone does not use).
    public mutating func ignore(where predicate: @escaping @Sendable (String) -> Bool) { ignored.append(predicate) }

    /// Throws if any key was missing or mis-shaped, or if the checkpoint holds keys never taken.
    public func finish() throws(WeightLoadingError) {
        let unexpected = stateDict.names.filter { name in !used.contains(name) && !ignored.contains { $0(name) } }
        guard missing.isEmpty, misshaped.isEmpty, unexpected.isEmpty else {
            throw WeightLoadingError(missing: missing.sorted(), unexpected: unexpected, misshaped: misshaped)
        }
    }
}

public import Foundation

/// A network loaded from a weights file, with what identifies it in a recipe. Only a
/// ``WeightStore`` makes one, so a recipe's checksum is always the file's own.
public struct LoadedBackbone: Sendable {
    /// The network.
    public let network: any FeatureBackbone
    public let model: ModelIdentifier
    /// The checkpoint's SHA-256 recorded by the converter, else `fnv1a64:` + FNV-1a of the file.
    public let checksum: String
    /// Where it was read from.
    public let file: URL
}

/// Why weights could not be found or loaded. Every case names what was looked for and where.
public enum WeightStoreError: Error, CustomStringConvertible {
    /// No file of any of `names` in any of `searched` (folders and files, in search order).
    case notFound(names: [String], searched: [URL])
    /// Files of that name exist, but none holds the weights the recipe was made with.
    case checksumMismatch(name: String, expected: String, found: [(file: URL, checksum: String)])
    /// The file exists but is not a valid weights file for the model (the underlying error).
    case unreadable(file: URL, underlying: any Error)

    public var description: String {
        switch self {
        case let .notFound(names, searched):
            "no \(names.joined(separator: " or ")) in \(searched.map(\.path).joined(separator: ", "))"
        case let .checksumMismatch(name, expected, found):
            "\(name): the recipe was made with weights \(expected), but "
                + found.map { "\($0.file.path) holds \($0.checksum)" }.joined(separator: "; ")
        case let .unreadable(file, underlying): "cannot load \(file.path): \(underlying)"
        }
    }
}

/// Where Loupe finds weights files by name: files given for a name first, then folders, each
/// holding `NAME.safetensors`. ``standard(paths:environment:)`` searches, in order, `$LOUPE_CACHE/models`,
/// `${XDG_CACHE_HOME:-~/.cache}/loupe/models`, `./.cache/models`, and the checkout Loupe was built
/// from (its `.cache/models` and the `../shared/models` beside it).
///
/// A file is taken by name; when a recipe asks for a checksum, files whose checksum differs are
/// passed over (and named in the error if none fits).
public struct WeightStore: Sendable {
    /// Files given for a name — a model's (`mobilenet_v2`, `yolox_nano`) or a file name
    /// (`head.safetensors`) — looked at before any folder.
    public var paths: [String: URL]
    /// Folders searched in order.
    public var folders: [URL]

    public init(paths: [String: URL] = [:], folders: [URL]) { (self.paths, self.folders) = (paths, folders) }

    /// The store of `environment` (default: the process's), as described above.
    public static func standard(paths: [String: URL] = [:], environment: [String: String] = ProcessInfo.processInfo.environment) -> WeightStore {
        var folders: [URL] = []
        if let cache = environment["LOUPE_CACHE"], !cache.isEmpty { folders.append(URL(fileURLWithPath: cache).appendingPathComponent("models")) }
        folders.append(userCache(environment: environment))
        folders.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".cache/models"))
        // this source file sits at <checkout>/Sources/LoupeEmbedding/WeightStore.swift
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        folders.append(checkout.appendingPathComponent(".cache/models"))
        folders.append(checkout.deletingLastPathComponent().appendingPathComponent("shared/models"))
        var seen = Set<String>()
        return WeightStore(paths: paths, folders: folders.filter { seen.insert($0.standardizedFileURL.path).inserted })
    }

    /// `${XDG_CACHE_HOME:-~/.cache}/loupe/models`: where `loupe models fetch` puts the backbones.
    public static func userCache(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".cache")
        return base.appendingPathComponent("loupe/models")
    }

    /// Every existing file for one of `names`, in search order: the given paths, then each folder.
    public func candidates(_ names: [String]) -> [URL] {
        let direct = names.compactMap { paths[$0] }
        let inFolders = folders.flatMap { folder in names.map { folder.appendingPathComponent($0) } }
        var seen = Set<String>()
        return (direct + inFolders).filter { FileManager.default.fileExists(atPath: $0.path) && seen.insert($0.standardizedFileURL.path).inserted }
    }

    /// What was searched for `names`, for errors.
    func searched(_ names: [String]) -> [URL] { names.compactMap { paths[$0] } + folders }

    /// The first file of one of `names`.
    public func locate(_ names: [String]) throws(WeightStoreError) -> URL {
        guard let url = candidates(names).first else { throw .notFound(names: names, searched: searched(names)) }
        return url
    }

    /// Loads `model`; with `checksum`, the first file of its name whose weights have that checksum.
    public func backbone(_ model: ModelIdentifier, checksum expected: String? = nil) throws(WeightStoreError) -> LoadedBackbone {
        let names = [model.name] + model.fileNames
        let found = candidates(names)
        guard !found.isEmpty else { throw .notFound(names: model.fileNames, searched: searched(names)) }
        var mismatched: [(file: URL, checksum: String)] = []
        for url in found {
            let file: SafetensorsFile
            do { file = try SafetensorsFile(contentsOf: url) } catch { throw .unreadable(file: url, underlying: error) }
            let checksum = Self.checksum(of: file, at: url)
            if let expected, checksum != expected { mismatched.append((url, checksum)); continue }
            return try Self.load(model, from: file, at: url, checksum: checksum)
        }
        throw .checksumMismatch(name: model.name, expected: expected ?? "", found: mismatched)
    }

    /// Loads `model` from a given file (no search), e.g. a path the user typed.
    public static func backbone(_ model: ModelIdentifier, file url: URL) throws(WeightStoreError) -> LoadedBackbone {
        guard FileManager.default.fileExists(atPath: url.path) else { throw .notFound(names: [url.lastPathComponent], searched: [url]) }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(contentsOf: url) } catch { throw .unreadable(file: url, underlying: error) }
        return try load(model, from: file, at: url, checksum: checksum(of: file, at: url))
    }

    /// The YOLOX detector that proposes regions (its COCO weights).
    public func detector(_ variant: YOLOXVariant) throws(WeightStoreError) -> YOLOX {
        let url = try locate([ModelIdentifier.yolox(variant).name] + ModelIdentifier.yolox(variant).fileNames)
        do { return try YOLOX(contentsOf: url, size: variant) } catch { throw .unreadable(file: url, underlying: error) }
    }

    /// COCO class names for the detector's boxes: `coco.names` beside its weights or in a
    /// searched folder; empty when there is none (regions then carry no labels).
    public func detectorLabels(_ variant: YOLOXVariant) -> [String] {
        let beside = (try? locate([ModelIdentifier.yolox(variant).name] + ModelIdentifier.yolox(variant).fileNames))?.deletingLastPathComponent().appendingPathComponent("coco.names")
        let names = ([beside].compactMap { $0 } + candidates(["coco.names"]))
            .first { FileManager.default.fileExists(atPath: $0.path) }
        guard let names, let text = try? String(contentsOf: names, encoding: .utf8) else { return [] }
        return text.split(whereSeparator: \.isNewline).map(String.init)
    }

    /// The student head a recipe names: the first file of its name whose checksum matches.
    public func studentHead(_ identity: StudentHeadIdentity) throws(WeightStoreError) -> (head: StudentHead, file: URL, metadata: [String: String]) {
        let found = candidates([identity.fileName])
        guard !found.isEmpty else { throw .notFound(names: [identity.fileName], searched: searched([identity.fileName])) }
        var mismatched: [(file: URL, checksum: String)] = []
        for url in found {
            let loaded: (head: StudentHead, metadata: [String: String])
            do { loaded = try StudentHead.load(contentsOf: url) } catch { throw .unreadable(file: url, underlying: error) }
            let checksum = loaded.metadata["checksum"] ?? "unknown"
            if checksum != identity.checksum { mismatched.append((url, checksum)); continue }
            return (loaded.head, url, loaded.metadata)
        }
        throw .checksumMismatch(name: identity.fileName, expected: identity.checksum, found: mismatched)
    }

    static func checksum(of file: SafetensorsFile, at url: URL) -> String {
        if let sha = file.metadata["sha256"] { return sha }
        var h = FNV1a()
        if let data = try? Data(contentsOf: url, options: .alwaysMapped) { h.combine(bytes: data) }
        return "fnv1a64:" + h.hex
    }

    static func load(_ model: ModelIdentifier, from file: SafetensorsFile, at url: URL, checksum: String) throws(WeightStoreError) -> LoadedBackbone {
        do {
            var state: [String: Tensor] = [:]
            for name in file.names { state[name] = try file.tensor(named: name) }
            let network: any FeatureBackbone = switch model {
            case let .classifier(kind): try kind.load(StateDict(state))
            case let .yolox(variant): YOLOXBackbone(try YOLOX(StateDict(state), size: variant))
            }
            return LoadedBackbone(network: network, model: model, checksum: checksum, file: url)
        } catch { throw .unreadable(file: url, underlying: error) }
    }
}

import ArgumentParser
import Foundation
import Loupe

/// Checks an output path before any work is done, so that a long run cannot end in a write that
/// fails, and a command never replaces one of its inputs or a file of another kind.
enum OutputCheck {
    /// The file an output option writes for input `i` of `count`: the name itself for one input,
    /// NAME-1.png, NAME-2.png, … for several.
    static func numbered(_ path: String, _ i: Int, of count: Int) -> String {
        guard count > 1 else { return path }
        let url = URL(fileURLWithPath: path)
        return url.deletingPathExtension().path + "-\(i + 1)." + (url.pathExtension.isEmpty ? "png" : url.pathExtension)
    }

    /// What may stand at the path already and be replaced (without `--force`).
    enum Replaceable {
        /// A Loupe file of one of these kinds (`format` in its safetensors header), named `what`.
        case loupe(formats: Set<String>, what: String)
        /// A PNG (montages, drawn boxes, curves): an existing PNG that is not an input.
        case png

        static let index = Replaceable.loupe(formats: ["loupe-flat-index", "loupe-object-index"], what: "Loupe index")
        static let whitening = Replaceable.loupe(formats: ["loupe-whitening"], what: "Loupe whitening")
        static let head = Replaceable.loupe(formats: ["loupe-student-head"], what: "Loupe student head")
    }

    /// Whether a folder is at `url` (symbolic links followed).
    static func isFolder(_ url: URL) -> Bool {
        (try? url.resolvingSymlinksInPath().resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory == true
    }

    /// The query images of `search` and `sources`: none may be a folder, and the `--montage`
    /// output must not replace one of them (or a file that is not a PNG, without `force`).
    static func checkQueries(_ queries: [String], montage: String?, force: Bool) throws {
        for query in queries where isFolder(URL(fileURLWithPath: query)) {
            throw ValidationError("the query \(query) is a folder; give image files (e.g. \(query)/*.jpg)")
        }
        if let montage { try check(montage, option: "--montage", replacing: .png, inputs: queries.map { URL(fileURLWithPath: $0) }, force: force) }
    }

    /// Throws a message naming the problem when `path` is one of `inputs`, a folder, a file of
    /// another kind, or in a folder that does not exist or cannot be written.
    static func check(_ path: String, option: String, replacing kind: Replaceable, inputs: [URL] = [], force: Bool = false) throws {
        let url = URL(fileURLWithPath: path)
        let target = url.resolvingSymlinksInPath().standardizedFileURL.path
        if inputs.contains(where: { $0.resolvingSymlinksInPath().standardizedFileURL.path == target }) {
            throw ValidationError("\(option) \(path) is one of the input images; refusing to overwrite it")
        }
        if FileManager.default.fileExists(atPath: url.path) {
            let segmented = IndexLayout(at: url) == .segments
            if segmented, case let .loupe(formats, what) = kind {
                // a segmented index folder is replaced (or added to) by an index only
                guard formats.contains("loupe-flat-index") else { throw ValidationError("\(option) \(path) is an index folder, not a \(what)") }
                return
            }
            guard !isFolder(url) else { throw ValidationError("\(option) \(path) is a folder; give a file name") }
            switch kind {
            case let .loupe(formats, what) where !force:
                let format = (try? SafetensorsFile(contentsOf: url))?.metadata["format"]
                guard let format, formats.contains(format) else {
                    let found = format.map { "is a \($0.hasPrefix("loupe-") ? $0.dropFirst(6).replacingOccurrences(of: "-", with: " ") : $0) file, not a \(what)" }
                        ?? "is not a Loupe file"
                    throw ValidationError("\(option) \(path) exists and \(found); refusing to overwrite it (--force replaces it)")
                }
            case .png where !force:
                let head = (try? FileHandle(forReadingFrom: url))?.readData(ofLength: 8) ?? Data()
                guard head.starts(with: [0x89, 0x50, 0x4E, 0x47]) else {
                    throw ValidationError("\(option) \(path) exists and is not a PNG; refusing to overwrite it (--force replaces it)")
                }
            default: break
            }
        }
        let folder = url.deletingLastPathComponent()
        guard isFolder(folder) else {
            throw ValidationError("\(option) \(path): the folder \(folder.path) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: folder.path) else {
            throw ValidationError("\(option) \(path): the folder \(folder.path) is not writable")
        }
    }
}

/// `--force`: replace an existing output of another kind (never an input).
struct ForceOption: ParsableArguments {
    @Flag(help: "Replace an existing output file even when it is not of the kind this command writes (an input is never replaced).")
    var force = false
}

import ArgumentParser
import Foundation
import Loupe

/// Checks an output path before any work is done, so that a long run cannot end in a write that
/// fails, and a command never replaces one of its inputs or a file of another kind.
enum OutputCheck {
    /// What may stand at the path already and be replaced.
    enum Replaceable {
        /// A Loupe index, whitening or head (`format` in its safetensors header starts with `loupe-`).
        case loupeFile
        /// A PNG (montages, drawn boxes, curves): an existing PNG that is not an input.
        case png
    }

    /// Whether a folder is at `url` (symbolic links followed).
    static func isFolder(_ url: URL) -> Bool {
        (try? url.resolvingSymlinksInPath().resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory == true
    }

    /// Throws a message naming the problem when `path` is one of `inputs`, a folder, a file of
    /// another kind, or in a folder that does not exist or cannot be written.
    static func check(_ path: String, option: String, replacing kind: Replaceable, inputs: [URL] = []) throws {
        let url = URL(fileURLWithPath: path)
        let target = url.resolvingSymlinksInPath().standardizedFileURL.path
        if inputs.contains(where: { $0.resolvingSymlinksInPath().standardizedFileURL.path == target }) {
            throw ValidationError("\(option) \(path) is one of the input images; refusing to overwrite it")
        }
        if FileManager.default.fileExists(atPath: url.path) {
            guard !isFolder(url) else { throw ValidationError("\(option) \(path) is a folder; give a file name") }
            switch kind {
            case .loupeFile:
                let format = (try? SafetensorsFile(contentsOf: url))?.metadata["format"] ?? ""
                guard format.hasPrefix("loupe-") else {
                    throw ValidationError("\(option) \(path) exists and is not a Loupe file; refusing to overwrite it")
                }
            case .png:
                let head = (try? FileHandle(forReadingFrom: url))?.readData(ofLength: 8) ?? Data()
                guard head.starts(with: [0x89, 0x50, 0x4E, 0x47]) else {
                    throw ValidationError("\(option) \(path) exists and is not a PNG; refusing to overwrite it")
                }
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

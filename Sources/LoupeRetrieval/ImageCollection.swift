public import Foundation

/// Why a folder could not be listed.
public enum CollectionError: Error, Equatable, CustomStringConvertible {
    /// Nothing exists at the path.
    case notFound(URL)
    /// The folder holds no PNG or JPEG file (at any depth).
    case noImages(URL)
    /// The folder (or a subfolder) could not be read.
    case unreadable(URL, reason: String)

    public var description: String {
        switch self {
        case let .notFound(url): "\(url.path) does not exist"
        case let .noImages(url): "no PNG or JPEG images under \(url.path)"
        case let .unreadable(url, reason): "cannot list \(url.path): \(reason)"
        }
    }
}

/// The PNG and JPEG files of a folder, at any depth, in a stable order (sorted by path).
/// Hidden files and folders (names starting with `.`) are left out, as `ls` does.
/// Symbolic links to files and to folders are followed (a folder reached twice, e.g. through a
/// link cycle, is listed once). A single image file is a collection of one.
public struct ImageCollection: Sendable, RandomAccessCollection {
    /// The folder (or file) listed.
    public let root: URL
    /// The image files, sorted by path.
    public let files: [URL]

    /// File extensions taken, lower-cased.
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    public init(_ root: URL) throws(CollectionError) {
        guard let isDirectory = Self.isDirectory(root) else { throw .notFound(root) }
        self.root = root
        if !isDirectory {
            files = [root]
            return
        }
        var found: [URL] = [], visited = Set<String>()
        try Self.walk(root, into: &found, visited: &visited)
        guard !found.isEmpty else { throw .noImages(root) }
        files = found.sorted { $0.path < $1.path }
    }

    private static func walk(_ folder: URL, into found: inout [URL], visited: inout Set<String>) throws(CollectionError) {
        guard visited.insert(folder.resolvingSymlinksInPath().path).inserted else { return }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: folder.path) } catch {
            throw .unreadable(folder, reason: (error as NSError).localizedFailureReason ?? "\(error)")
        }
        for name in names where !name.hasPrefix(".") {
            let url = folder.appendingPathComponent(name)
            // a link to a folder is walked, a dangling one skipped
            guard let isDirectory = isDirectory(url) else { continue }
            if isDirectory { try walk(url, into: &found, visited: &visited) }
            else if extensions.contains(url.pathExtension.lowercased()) { found.append(url) }
        }
    }

    /// Whether `url` is a folder, following symbolic links; `nil` when nothing is there.
    private static func isDirectory(_ url: URL) -> Bool? {
        (try? url.resolvingSymlinksInPath().resourceValues(forKeys: [.isDirectoryKey]))?.isDirectory
    }

    public var startIndex: Int { files.startIndex }
    public var endIndex: Int { files.endIndex }
    public subscript(position: Int) -> URL { files[position] }
}

public import Foundation

/// The 1000 ILSVRC-2012 class names in torchvision's index order.
///
/// Read from the Debian `darknet` package's data folder: `imagenet.labels.list` (WordNet ids) and
/// `imagenet.shortnames.list` (names) hold 21,842 lines whose first 1000 are the ILSVRC-2012
/// classes; sorting those by WordNet id gives torchvision's class index (n01440764 "tench" = 0 …
/// n15075141 "toilet tissue" = 999).
public struct ImageNetLabels: Sendable {
    /// WordNet ids by class index.
    public let wordNetIDs: [String]
    /// Names by class index.
    public let names: [String]

    /// Reads the darknet data folder.
    public init(darknetData folder: URL) throws(LabelError) {
        func lines(_ name: String) throws(LabelError) -> [String] {
            let url = folder.appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw .unreadable(url.path) }
            return text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        }
        let ids = try lines("imagenet.labels.list"), shortNames = try lines("imagenet.shortnames.list")
        guard ids.count >= 1000, shortNames.count >= 1000 else { throw .malformed("fewer than 1000 lines") }
        let pairs = zip(ids.prefix(1000), shortNames.prefix(1000)).sorted { $0.0 < $1.0 }
        wordNetIDs = pairs.map(\.0)
        names = pairs.map(\.1)
    }

    /// The name of class `index`.
    public func name(of index: Int) -> String { names.indices.contains(index) ? names[index] : "class \(index)" }
}

public enum LabelError: Error, Equatable, CustomStringConvertible {
    case unreadable(String), malformed(String)
    public var description: String {
        switch self {
        case let .unreadable(path): "cannot read ImageNet labels at \(path) (run Scripts/setup.sh for the darknet data)"
        case let .malformed(why): "malformed ImageNet label lists: \(why)"
        }
    }
}

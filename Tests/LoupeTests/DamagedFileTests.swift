import Foundation
import Loupe
import Testing

/// Whitening and student-head files record a checksum of every section: every flipped byte and
/// every cut of a real file is refused (by name when the checksum found it), never loaded as if
/// whole.
@Suite struct DamagedFileTests {
    /// Copies of `whole` with one byte flipped at 300 places spread over the header (a low bit,
    /// so that the JSON stays text) and the data, then cut at 40 lengths: what `load` says of each.
    func damagedCopies(of whole: Data, at url: URL, _ load: (URL) -> (refused: Bool, section: String?)) throws -> Set<String> {
        var sections = Set<String>()
        let header = min(whole.count, Int(whole.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) + 8)
        for i in 0..<300 {
            var damaged = whole
            let at = i < 100 ? (i * 13) % header : header + (i * 7919) % (whole.count - header)
            damaged[at] ^= i < 100 ? 0x01 : 0xFF
            try damaged.write(to: url)
            let (refused, section) = load(url)
            if !refused { Issue.record("a flip at byte \(at) of \(whole.count) was loaded as a whole file") }
            if let section { sections.insert(section) }
        }
        for i in 0..<40 {
            try whole.prefix(i * whole.count / 40).write(to: url)
            if !load(url).refused { Issue.record("a file cut to \(i * whole.count / 40) bytes was loaded") }
        }
        return sections
    }

    @Test func whiteningFiles() throws {
        let whitening = try Whitening.pca(fitting: Tensor(randomUniform: [60, 8], seed: 4), dimension: 4, recipe: "a recipe")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-damaged-\(UUID().uuidString).whitening")
        defer { try? FileManager.default.removeItem(at: url) }
        try whitening.write(to: url)
        #expect(try Whitening(contentsOf: url).projection == whitening.projection)
        let sections = try damagedCopies(of: try Data(contentsOf: url), at: url) { url in
            do {
                _ = try Whitening(contentsOf: url)
                return (false, nil)
            } catch {
                if case let .damaged(path, section)? = error as? WhiteningError { return (path == url.path, section) }
                return (true, nil)
            }
        }
        #expect(sections.isSuperset(of: ["mean", "projection", "__metadata__"]), "\(sections)")
    }

    @Test func studentHeadFiles() throws {
        let head = StudentHead(configuration: .init(inputChannels: 8, bins: 2, hidden: 16, fullyConnectedHidden: 16, dimension: 12), seed: 2)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-damaged-\(UUID().uuidString).head")
        defer { try? FileManager.default.removeItem(at: url) }
        try head.write(to: url, metadata: ["teacher": "a recipe"])
        #expect(try StudentHead.load(contentsOf: url).metadata["teacher"] == "a recipe")
        let sections = try damagedCopies(of: try Data(contentsOf: url), at: url) { url in
            do {
                _ = try StudentHead.load(contentsOf: url)
                return (false, nil)
            } catch {
                if case let .damaged(path, section)? = error as? StudentHeadError { return (path == url.path, section) }
                return (true, nil)
            }
        }
        #expect(sections.contains("__metadata__") && sections.count >= 3, "\(sections)")
    }
}

public import Foundation
public import LoupeRetrieval

/// What bringing an index up to date with its folder did.
public struct UpdateReport: Sendable {
    /// How the folder differed from the index before the update.
    public var changes: FolderChanges
    /// Embedding the added and changed files (those that failed are left out of the index).
    public var indexing: IndexingReport
}

/// The images of an updated index in `files` order: each unchanged image of the old index (with
/// its stamp renewed when only the file's time changed), else the newly embedded one; a file that
/// could not be embedded is left out.
private func picks(for files: [URL], changes: FolderChanges, oldStamps: [FileStamp?], newPaths: [String], newStamps: [FileStamp?]) -> [IndexPick] {
    func key(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
    var kept: [String: Int] = [:]
    for (image, url) in changes.unchanged { kept[key(url.path)] = image }
    var new: [String: Int] = [:]
    for (image, path) in newPaths.enumerated() { new[key(path)] = image }
    return files.compactMap { url in
        let k = key(url.path)
        if let image = kept[k] {
            var stamp = oldStamps[image]
            if let old = stamp, FileStamp.attributes(of: url)?.modified != old.modified { stamp = FileStamp(of: url) ?? old }
            return IndexPick(fromNew: false, image: image, path: url.path, stamp: stamp)
        }
        return new[k].map { IndexPick(fromNew: true, image: $0, path: url.path, stamp: newStamps[$0]) }
    }
}

/// The images an update takes out of an index kept as segments: those whose file is gone or
/// changed (their new embeddings are appended).
private func replaced(_ changes: FolderChanges, paths: [String], removed: Set<Int>) -> [Int] {
    func key(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
    let changed = Set(changes.changed.map { key($0.path) })
    return changes.removed + paths.indices.filter { !removed.contains($0) && changed.contains(key(paths[$0])) }
}

/// The files of `files` that must be embedded: the added and changed ones, in `files` order.
private func toEmbed(_ files: [URL], _ changes: FolderChanges) -> [URL] {
    let wanted = Set((changes.added + changes.changed).map(\.path))
    return files.filter { wanted.contains($0.path) }
}

extension FlatIndex {
    /// Brings the index up to date with `files` (its folder's listing now): embeds only the files
    /// that are new or whose content changed (``FileStamp``), drops the images whose file is
    /// gone, and keeps every other vector as it is. The images end up in `files` order, so the
    /// index equals one built fresh from `files`, except that a quantized index keeps its
    /// trained quantizer (the new vectors are encoded with it; quantize again to retrain).
    /// Images taken out with ``remove(images:)`` count as absent: their files, when still in
    /// `files`, are embedded again.
    ///
    /// An index read from a segment folder (``IndexLayout/segments``) is updated so that its next
    /// write adds a small segment. The images whose file is gone or changed are removed, and the
    /// newly embedded ones are appended at the end. It holds the same images, vectors and paths
    /// as a fresh build, in another order, until ``compact()``.
    ///
    /// When `policy` is ``BadFilePolicy/stop`` and a file fails, the index is left as it was (the
    /// report says where it stopped); otherwise a file that fails is left out and reported.
    @discardableResult
    public mutating func update(to files: [URL], with embedder: GlobalEmbedder, onBadFile policy: BadFilePolicy = .skip,
                                progress: (any ProgressObserver)? = nil) throws(IndexError) -> UpdateReport {
        let changes = changes(comparedWith: files)
        var fresh = try emptyCopy()
        let report = try fresh.add(toEmbed(files, changes), with: embedder, onBadFile: policy, progress: progress)
        if report.complete && readFromSegments {
            try replace(replaced(changes, paths: paths, removed: removed), with: fresh)
        } else if report.complete {
            self = try assembled(picks(for: files, changes: changes, oldStamps: stamps, newPaths: fresh.paths, newStamps: fresh.stamps), new: fresh)
        }
        return UpdateReport(changes: changes, indexing: report)
    }
}

extension ObjectIndex {
    /// Brings the index up to date with `files`, as ``FlatIndex/update(to:with:onBadFile:progress:)``
    /// does: only new and changed files are embedded (with their local features, when the index
    /// keeps them), deleted ones dropped, the rest kept with their regions, in `files` order.
    @discardableResult
    public mutating func update(to files: [URL], with embedder: any RegionEmbedder, onBadFile policy: BadFilePolicy = .skip,
                                progress: (any ProgressObserver)? = nil) throws(IndexError) -> UpdateReport {
        let changes = changes(comparedWith: files)
        var fresh = try emptyCopy()
        let report = try fresh.add(toEmbed(files, changes), with: embedder, onBadFile: policy, progress: progress)
        if report.complete && readFromSegments {
            try replace(replaced(changes, paths: paths, removed: removed), with: fresh)
        } else if report.complete {
            self = try assembled(picks(for: files, changes: changes, oldStamps: stamps, newPaths: fresh.paths, newStamps: fresh.stamps), new: fresh)
        }
        return UpdateReport(changes: changes, indexing: report)
    }
}

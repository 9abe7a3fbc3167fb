public import Foundation
internal import LoupeTensor
internal import LoupeImage

/// One image of an index being put together from two (an update): an image of the old index
/// kept as it is, or one of the index of newly embedded files; with the path and stamp it gets.
package struct IndexPick: Sendable {
    package var fromNew: Bool
    package var image: Int
    package var path: String
    package var stamp: FileStamp?
    package init(fromNew: Bool, image: Int, path: String, stamp: FileStamp?) { (self.fromNew, self.image, self.path, self.stamp) = (fromNew, image, path, stamp) }
}

/// The rows `runs` name (source, rows) as one tensor, consecutive runs of a source taken as one slice.
private func gather(_ runs: [(source: Int, rows: Range<Int>)], from sources: [(Range<Int>) -> Tensor], dimension: Int) -> Tensor {
    var merged: [(source: Int, rows: Range<Int>)] = []
    for run in runs {
        if let last = merged.last, last.source == run.source, last.rows.upperBound == run.rows.lowerBound {
            merged[merged.count - 1].rows = last.rows.lowerBound..<run.rows.upperBound
        } else { merged.append(run) }
    }
    let parts = merged.filter { !$0.rows.isEmpty }.map { sources[$0.source]($0.rows) }
    return parts.isEmpty ? Tensor(zeros: [0, dimension]) : (parts.count == 1 ? parts[0] : Tensor.concatenated(parts, along: 0))
}

/// The quantized part of an assembled index: the old training, each row's list and code taken
/// from the index it comes from (no encoding).
private func assembledQuantizer(_ kept: QuantizedIndex?, _ new: QuantizedIndex?, rows: Tensor,
                                runs: [(source: Int, rows: Range<Int>)]) throws(IndexError) -> QuantizedIndex? {
    guard let kept else { return nil }
    guard let new else { throw .invalidTraining("the newly embedded images were not encoded with the index's quantizer") }
    var next = try kept.emptyCopy()
    let assignments = [kept.assignment, new.assignment], m = kept.kind.subquantizers ?? 0
    var lists: [Int] = [], codes: [UInt8] = []
    for run in runs {
        lists += assignments[run.source].lists[run.rows]
        codes += assignments[run.source].codes[(run.rows.lowerBound * m)..<(run.rows.upperBound * m)]
    }
    try next.restore(rows, lists: lists, codes: codes)
    return next
}

extension QuantizedIndex {
    /// An empty index with this one's trained parts and default search.
    func emptyCopy() throws(IndexError) -> QuantizedIndex {
        var copy = try QuantizedIndex(kind: kind, coarse: coarse, productQuantizer: productQuantizer, projection: projection)
        copy.defaultSearch = defaultSearch
        return copy
    }
}

extension FlatIndex {
    /// Whether the index was read from a segment folder and has not been renumbered since (its
    /// next write there adds a segment of the changes).
    package var readFromSegments: Bool { origin != nil }

    /// Takes `gone` out (tombstones) and appends `fresh`'s images after the others.
    package mutating func replace(_ gone: [Int], with fresh: Self) throws(IndexError) {
        try remove(images: gone)
        try append(segment: fresh)
    }

    /// How `files` (a folder's listing, e.g. ``ImageCollection``'s) differ from the images held:
    /// added, changed (by ``FileStamp``) and deleted files.
    public func changes(comparedWith files: [URL]) -> FolderChanges {
        FolderChanges.between(paths: paths, stamps: stamps, removed: removed, files: files)
    }

    /// An empty index like this one: recipe, whitening, root and the trained quantizer (vectors
    /// added to it are encoded with it).
    package func emptyCopy() throws(IndexError) -> FlatIndex {
        var copy = try FlatIndex(recipe: recipe, whitening: whitening)
        copy.root = root
        copy.quantized = try quantized?.emptyCopy()
        copy.nextID = nextID  // images added to it get ids this index never gave
        return copy
    }

    /// The images `picks` names, in that order, from this index or from `new` (an
    /// ``emptyCopy()`` that newly embedded files went into), as one index like this one.
    package func assembled(_ picks: [IndexPick], new: FlatIndex) throws(IndexError) -> FlatIndex {
        try store.verifyAll()
        var next = try FlatIndex(recipe: recipe, whitening: whitening)
        next.root = root
        let runs = picks.map { (source: $0.fromNew ? 1 : 0, rows: $0.image..<($0.image + 1)) }
        let rows = gather(runs, from: [{ self.store.rows($0) }, { new.store.rows($0) }], dimension: dimension)
        next.store.append(rows)
        next.paths = picks.map(\.path)
        next.stamps = picks.map(\.stamp)
        next.ids = picks.map { $0.fromNew ? new.ids[$0.image] : ids[$0.image] }
        next.nextID = max(nextID, new.nextID)
        next.quantized = try assembledQuantizer(quantized, new.quantized, rows: rows, runs: runs)
        return next
    }
}

extension ObjectIndex {
    /// Whether the index was read from a segment folder and has not been renumbered since (its
    /// next write there adds a segment of the changes).
    package var readFromSegments: Bool { origin != nil }

    /// Takes `gone` out (tombstones) and appends `fresh`'s images after the others.
    package mutating func replace(_ gone: [Int], with fresh: Self) throws(IndexError) {
        try remove(images: gone)
        try append(segment: fresh)
    }

    /// How `files` (a folder's listing) differ from the images held: added, changed (by
    /// ``FileStamp``) and deleted files.
    public func changes(comparedWith files: [URL]) -> FolderChanges {
        FolderChanges.between(paths: paths, stamps: stamps, removed: removed, files: files)
    }

    /// An empty index like this one: recipe, whitening, root, student head, the local features'
    /// options and the trained quantizer.
    package func emptyCopy() throws(IndexError) -> ObjectIndex {
        var copy = try ObjectIndex(recipe: recipe, whitening: whitening)
        copy.root = root
        copy.studentHeadLocation = studentHeadLocation
        if let localFeatures { try copy.keepLocalFeatures(localFeatures.options) }
        copy.quantized = try quantized?.emptyCopy()
        copy.nextID = nextID
        return copy
    }

    /// The images `picks` names, in that order, from this index or from `new` (an
    /// ``emptyCopy()`` that newly embedded files went into), as one index like this one, with
    /// their regions, local features (their lists made again, as a fresh build makes them) and
    /// codes.
    package func assembled(_ picks: [IndexPick], new: ObjectIndex) throws(IndexError) -> ObjectIndex {
        try store.verifyAll()
        var next = try emptyCopy()
        next.root = root
        let sources = [self, new]
        let runs = picks.map { (source: $0.fromNew ? 1 : 0, rows: sources[$0.fromNew ? 1 : 0].rowRanges[$0.image]) }
        let rows = gather(runs, from: [{ self.store.rows($0) }, { new.store.rows($0) }], dimension: dimension)
        next.store.append(rows)
        for (pick, run) in zip(picks, runs) {
            let source = sources[run.source]
            let start = next.regions.count
            next.rowRanges.append(start..<(start + run.rows.count))
            next.imageOfRow += Array(repeating: Int32(next.paths.count), count: run.rows.count)
            next.regions += source.regions[run.rows]
            next.paths.append(pick.path)
            next.stamps.append(pick.stamp)
            next.ids.append(source.ids[pick.image])
            if let local = source.localFeatures {
                let (features, side) = local.features(ofImage: pick.image)
                next.localFeatures!.append(features, side: side)
            }
        }
        next.nextID = max(nextID, new.nextID)
        next.quantized = try assembledQuantizer(quantized, new.quantized, rows: rows, runs: runs)
        next.buildLocalFeatureLists()
        return next
    }
}

extension LocalFeatureStore {
    /// Image `image`'s features as they were appended (descriptors as stored, in steps of 1/255)
    /// and the side of the image their keypoints are in.
    func features(ofImage image: Int) -> (LocalFeatures, side: Float) {
        let range = ranges[image]
        let d = LocalFeatures.dimension
        let descriptors = Tensor(uninitializedShape: [range.count, d]) { out in
            for i in 0..<(range.count * d) { out[i] = Float(self.descriptors[range.lowerBound * d + i]) / 255 }
        }
        return (LocalFeatures(keypoints: Array(keypoints[range]), descriptors: descriptors), sides[image])
    }
}

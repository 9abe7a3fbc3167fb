public import Foundation

/// What a batch (indexing, evaluation, whitening) does with a file it cannot read or embed.
public enum BadFilePolicy: Sendable, Equatable {
    /// Leave the file out, record it in the report, and go on (the default everywhere).
    case skip
    /// Stop at the first such file: the report records it, nothing after it is tried.
    case stop
}

/// A file a batch left out, and why.
public struct SkippedFile: Sendable, Error, CustomStringConvertible, Codable {
    /// The file.
    public var file: URL
    /// Why it was left out (its message names the file).
    public var error: EmbedderError

    public init(file: URL, error: EmbedderError) { (self.file, self.error) = (file, error) }

    /// The error's message, with the file's path in front when it does not name it already.
    public var description: String {
        let text = "\(error)"
        return text.hasPrefix(file.path) ? text : "\(file.path): \(text)"
    }

    private enum CodingKeys: String, CodingKey { case file, reason }

    /// `{"file": path, "reason": message}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(file.path, forKey: .file)
        try container.encode(description, forKey: .reason)
    }

    /// Reads what ``encode(to:)`` wrote (the reason comes back as text).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        file = URL(fileURLWithPath: try container.decode(String.self, forKey: .file))
        error = .invalidOption(try container.decode(String.self, forKey: .reason))
    }
}

/// What indexing a list of files did: how many went in, and each file left out with its error.
public struct IndexingReport: Sendable {
    /// Images added to the index.
    public var indexed: Int
    /// Files that could not be read or embedded, in order, with why.
    public var skipped: [SkippedFile]
    /// Wall time per stage (decode, network, pooling, …).
    public var clock: StageClock
    /// Whether every file was tried: `false` when ``BadFilePolicy/stop`` stopped at a bad file
    /// (the last of ``skipped``).
    public var complete = true
}

/// Decodes images one ahead of their use on a background thread, so that JPEG decoding overlaps
/// the network (which keeps every compute thread busy while it runs). `body` sees each file in
/// order with its decoded image or the decoder's error, and (with `stamping`) the file's stamp,
/// taken before it was decoded (a file that changes in between is then seen as changed later).
func forEachDecoded(_ files: [URL], stamping: Bool = false, _ body: (Int, URL, Result<Image, ImageError>, FileStamp?) -> Void) {
    guard !files.isEmpty else { return }
    final class Slot: @unchecked Sendable {  // written by the decoder before the semaphore, read after
        var result: Result<Image, ImageError>?
        var stamp: FileStamp?
    }
    let queue = DispatchQueue(label: "loupe.decode")
    func start(_ url: URL) -> (Slot, DispatchSemaphore) {
        let slot = Slot(), done = DispatchSemaphore(value: 0)
        queue.async {
            if stamping { slot.stamp = FileStamp(of: url) }
            slot.result = Result { () throws(ImageError) -> Image in try Image(contentsOf: url) }
            done.signal()
        }
        return (slot, done)
    }
    var next = start(files[0])
    for (i, url) in files.enumerated() {
        let (slot, done) = next
        done.wait()
        if i + 1 < files.count { next = start(files[i + 1]) }
        body(i, url, slot.result!, slot.stamp)
    }
}

/// Embeds and adds `files` in order through `add` (which throws `IndexError` for a vector the
/// index refuses: that stops the run, keeping what is in); a file that cannot be read or embedded
/// is skipped and reported, and with `policy` `.stop` ends the run.
func addEach(_ files: [URL], policy: BadFilePolicy = .skip, progress: (any ProgressObserver)?, label: String,
             _ add: (Image, URL, FileStamp?, inout StageClock) throws -> Void) throws(IndexError) -> IndexingReport {
    var report = IndexingReport(indexed: 0, skipped: [], clock: StageClock())
    var failure: IndexError?
    forEachDecoded(files, stamping: true) { i, url, decoded, stamp in
        guard failure == nil, report.complete else { return }
        defer { progress?.update(done: i + 1, total: files.count, label: label) }
        do {
            try add(decoded.get(), url, stamp, &report.clock)
            report.indexed += 1
        } catch let error as IndexError {
            failure = error
        } catch {
            report.skipped.append(SkippedFile(file: url, error: EmbedderError(error, file: url)))
            if policy == .stop { report.complete = false }
        }
    }
    if let failure { throw failure }
    return report
}

extension FlatIndex {
    /// Embeds `files` with `embedder` and adds them in order. An unreadable or unembeddable file
    /// is skipped and reported (with `policy` `.stop`, the run ends there); decoding runs one image
    /// ahead of the network.
    ///
    /// - Throws: if the embedder's recipe is not this index's, or the index refuses a vector
    ///   (NaN from the network); what was added before stays.
    @discardableResult
    public mutating func add(_ files: [URL], with embedder: GlobalEmbedder, onBadFile policy: BadFilePolicy = .skip,
                             progress: (any ProgressObserver)? = nil) throws(IndexError) -> IndexingReport {
        guard embedder.recipe.isCompatible(with: recipe) else { throw .recipeMismatch(embedder.recipe.differences(from: recipe)) }
        return try addEach(files, policy: policy, progress: progress, label: "indexing") { image, url, stamp, clock in
            let vector = try embedder.embedding(of: image, clock: &clock)
            try clock.measure("add") { () throws(IndexError) in try add(vector, paths: [url.path], stamps: [stamp]) }
        }
    }
}

extension ObjectIndex {
    /// Embeds `files` as their regions with `embedder` and adds them in order. An unreadable or
    /// unembeddable file is skipped and reported (with `policy` `.stop`, the run ends there);
    /// decoding runs one image ahead. An index that keeps local features (``keepLocalFeatures(_:)``)
    /// gets each image's too, found on a thread of their own while the networks run on the next
    /// image (the entries stay in file order; the index is the same as one made one image at a time).
    ///
    /// - Throws: if the embedder's recipe is not this index's, or the index refuses a vector;
    ///   what was added before stays.
    @discardableResult
    public mutating func add(_ files: [URL], with embedder: any RegionEmbedder, onBadFile policy: BadFilePolicy = .skip,
                             progress: (any ProgressObserver)? = nil) throws(IndexError) -> IndexingReport {
        guard embedder.recipe.isCompatible(with: recipe) else { throw .recipeMismatch(embedder.recipe.differences(from: recipe)) }
        defer { buildLocalFeatureLists() }
        // an image's local features are found on a thread of their own while the networks run on
        // the next image; its entry is added once they are there, so entries stay in file order
        // (the stage "local features" is the wait for them)
        var waiting: (objects: ImageObjects, features: PendingFeatures, path: String, side: Float, stamp: FileStamp?)?
        func flush(_ w: (objects: ImageObjects, features: PendingFeatures, path: String, side: Float, stamp: FileStamp?), _ clock: inout StageClock) throws(IndexError) {
            let features = clock.measure("local features") { w.features.wait() }
            try clock.measure("add") { () throws(IndexError) in
                try add(w.objects.vectors, regions: w.objects.regions, path: w.path, localFeatures: features, side: w.side, stamp: w.stamp)
            }
        }
        var report = try addEach(files, policy: policy, progress: progress, label: "indexing objects") { image, url, stamp, clock in
            let pending = localFeatures.map { store in PendingFeatures(of: image, options: store.options) }
            let objects: ImageObjects
            do { objects = try embedder.objects(in: image, given: [], detect: true, clock: &clock) } catch {
                pending?.wait()
                throw error
            }
            guard let pending else {
                return try clock.measure("add") { () throws(IndexError) in try add(objects.vectors, regions: objects.regions, path: url.path, stamp: stamp) }
            }
            if let previous = waiting {
                waiting = nil
                try flush(previous, &clock)
            }
            waiting = (objects, pending, url.path, Float(max(image.width, image.height)), stamp)
        }
        if let last = waiting { try flush(last, &report.clock) }
        return report
    }
}

/// An image's local features, found on a background thread from the moment this is made.
private final class PendingFeatures: Sendable {
    private let result = Locked<LocalFeatures?>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(of image: Image, options: LocalFeatureOptions) {
        DispatchQueue.global().async { [self] in
            let found = image.localFeatures(options)
            result.withLock { $0 = found }
            done.signal()
        }
    }

    /// Blocks until the features are found (once).
    @discardableResult
    func wait() -> LocalFeatures {
        done.wait()
        return result.withLock { $0! }
    }
}

/// Decodes each file once and keeps those that decode, for work that reads the images several
/// times (distillation's pair set and its spliced views). With `policy` `.stop`, nothing after
/// the first bad file is tried.
public func readableImages(_ files: [URL], onBadFile policy: BadFilePolicy = .skip,
                           progress: (any ProgressObserver)? = nil) -> (readable: [URL], skipped: [SkippedFile]) {
    var readable: [URL] = [], skipped: [SkippedFile] = []
    forEachDecoded(files) { i, url, decoded, _ in
        guard policy == .skip || skipped.isEmpty else { return }
        defer { progress?.update(done: i + 1, total: files.count, label: "checking images") }
        switch decoded {
        case .success: readable.append(url)
        case let .failure(error): skipped.append(SkippedFile(file: url, error: .image(file: url, error)))
        }
    }
    return (readable, skipped)
}

package import Foundation

/// Why a file could not be written: the destination and the system's reason.
package struct FileWriteError: Error, Equatable, CustomStringConvertible {
    package let path: String
    package let reason: String
    package var description: String { "\(path): \(reason)" }
}

/// A file written through a temporary file beside its destination and renamed into place by
/// ``commit()``: readers never see a half-written file, and a failed or abandoned write leaves
/// the old file (if any) and no temporary behind. Every file Loupe writes goes through it
/// (`SafetensorsFile.write`, `Image.writePNG`).
///
/// Foundation's `Data.write(options: .atomic)` is not used: on Linux it restarted from the first
/// byte after the kernel's partial write of 2 GiB − 4 KiB, so larger files came out corrupt.
package final class AtomicFile {
    private let url: URL
    private let temporary: String
    private var descriptor: Int32
    private var written = 0

    /// Fault injection for tests of what an interrupted write leaves (read once from the
    /// environment): `LOUPE_FAULT_KILL_AFTER_BYTES=N` makes the process kill itself (SIGKILL)
    /// once a file being written has N bytes; `LOUPE_FAULT_FAIL_AFTER_BYTES=N` makes the write
    /// that would pass N bytes fail as a full disk does (ENOSPC). `LOUPE_FAULT_FILE=NAME` limits
    /// both to files whose name contains NAME (e.g. `manifest.json`).
    private static let faults: (kill: Int?, fail: Int?, only: String?) = {
        let env = ProcessInfo.processInfo.environment
        return (env["LOUPE_FAULT_KILL_AFTER_BYTES"].flatMap { Int($0) }, env["LOUPE_FAULT_FAIL_AFTER_BYTES"].flatMap { Int($0) }, env["LOUPE_FAULT_FILE"])
    }()

    /// The faults that apply to this file.
    private let faults: (kill: Int?, fail: Int?)

    package init(_ url: URL) throws(FileWriteError) {
        self.url = url
        let injected = Self.faults
        faults = injected.only.map { url.lastPathComponent.contains($0) } ?? true ? (injected.kill, injected.fail) : (nil, nil)
        // the writer's process id in the name: a later commit can tell a killed writer's leftover
        temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UUID().uuidString).tmp").path
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileWriteError(path: url.path, reason: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            unlink(temporary)
        }
    }

    /// Appends `bytes`, continuing after partial writes and interruptions.
    package func write(_ bytes: UnsafeRawBufferPointer) throws(FileWriteError) {
        guard var next = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            var chunk = min(left, 1 << 30)
            if let kill = faults.kill, written < kill { chunk = min(chunk, kill - written) }
            if let fail = faults.fail, written + chunk > fail {
                throw FileWriteError(path: url.path, reason: "write failed: \(String(cString: strerror(ENOSPC))) (injected by LOUPE_FAULT_FAIL_AFTER_BYTES)")
            }
            let n = Foundation.write(descriptor, next, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileWriteError(path: url.path, reason: "write failed: \(String(cString: strerror(errno)))")
            }
            next += n
            left -= n
            written += n
            if let kill = faults.kill, written >= kill { Foundation.kill(getpid(), SIGKILL) }
        }
    }

    package func write(_ data: Data) throws(FileWriteError) {
        var failure: FileWriteError?
        data.withUnsafeBytes { raw in
            do throws(FileWriteError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Flushes the data to disk, closes the file and renames it over the destination.
    package func commit() throws(FileWriteError) {
        let synced = fsync(descriptor) == 0
        let closed = close(descriptor) == 0
        descriptor = -1
        guard synced, closed, rename(temporary, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FileWriteError(path: url.path, reason: "cannot complete the write: \(reason)")
        }
        removeAbandonedTemporaries()
    }

    /// Deletes the temporaries of this destination left by writers that were killed (their
    /// process is gone); those of live writers are theirs to finish.
    private func removeAbandonedTemporaries() {
        let folder = url.deletingLastPathComponent()
        let prefix = ".\(url.lastPathComponent)."
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return }
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            let parts = name.dropFirst(prefix.count).split(separator: ".")
            guard parts.count == 3, let pid = Int32(parts[0]), pid != getpid() else { continue }
            if Foundation.kill(pid, 0) != 0 && errno == ESRCH { unlink(folder.appendingPathComponent(name).path) }
        }
    }
}

/// An exclusive, non-blocking lock on a file (`flock`), held until ``release()``: one writer at a
/// time for a folder of files that change together (a segmented index's `.lock`). Locks belong to
/// the open file, so a second holder in this process is refused as one in another process is.
package final class FileLock {
    private var descriptor: Int32

    /// Why a lock could not be taken.
    package enum Failure: Error, Equatable {
        /// Another holder has it.
        case held
        /// The lock file could not be opened or made (the system's reason).
        case unavailable(String)
    }

    /// Takes the lock on `url` (created when missing), or throws at once.
    package init(_ url: URL) throws(Failure) {
        descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .unavailable(String(cString: strerror(errno))) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .held
        }
    }

    package func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

extension AtomicFile {
    /// Flushes a folder's entries (renames into it) to disk, as a commit that must survive power
    /// loss needs after the rename of its last file.
    package static func syncFolder(_ folder: URL) {
        let fd = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// Deletes a file, if it is there (no error: the callers clean up after a failure or a
    /// replacement, where a missing file is the goal).
    package static func remove(_ url: URL) { unlink(url.path) }
}

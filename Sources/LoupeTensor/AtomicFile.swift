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

    package init(_ url: URL) throws(FileWriteError) {
        self.url = url
        temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
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
            let n = Foundation.write(descriptor, next, min(left, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileWriteError(path: url.path, reason: "write failed: \(String(cString: strerror(errno)))")
            }
            next += n
            left -= n
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
    }
}

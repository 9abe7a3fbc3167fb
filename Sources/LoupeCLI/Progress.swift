import Foundation
import Loupe

/// A progress bar on standard error (redrawn in place on a terminal, a line per 10 % otherwise),
/// with the rate in items per second.
final class ProgressBar: ProgressObserver, @unchecked Sendable {
    private let lock = NSLock()
    /// When the current phase began: the bar's creation, or the previous phase's last update.
    private var start = Date()
    private var lastUpdate = Date()
    private var lastLabel = ""
    private var lastDecile = -1
    private let terminal = isatty(2) != 0
    let quiet: Bool

    init(quiet: Bool = false) { self.quiet = quiet }

    func update(done: Int, total: Int, label: String) {
        guard !quiet else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        // a new phase starts where the last one ended (its first item's time counts)
        if label != lastLabel { start = lastLabel.isEmpty ? start : lastUpdate; lastLabel = label; lastDecile = -1 }
        lastUpdate = now
        let elapsed = max(now.timeIntervalSince(start), 1e-9)
        let rate = Double(done) / elapsed
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        if terminal {
            let width = 30, filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data(String(format: "\r%@ %@ %d/%d  %.1f img/s", label, bar, done, total, rate).utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let decile = Int(fraction * 10)
            if decile != lastDecile {
                lastDecile = decile
                printError(String(format: "%@: %d/%d (%.1f img/s)", label, done, total, rate))
            }
        }
    }
}

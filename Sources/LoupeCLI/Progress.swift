import Foundation
import Loupe

/// Progress of a long command on standard error: on a terminal, a bar redrawn in place with the
/// count, the rate and the time left; otherwise quiet, unless `LOUPE_PROGRESS=lines` asks for a
/// line per tenth (for logs). `LOUPE_PROGRESS=none` or `--quiet` silences it everywhere.
final class ProgressBar: ProgressObserver, @unchecked Sendable {
    enum Style { case bar, lines, none }

    private let lock = NSLock()
    /// When the current phase began: the bar's creation, or the previous phase's last update.
    private var start = Date()
    private var lastUpdate = Date()
    private var lastLabel = ""
    private var lastDecile = -1
    private var lastDraw = Date.distantPast
    let style: Style

    init(quiet: Bool = false, environment: [String: String] = ProcessInfo.processInfo.environment, terminal: Bool = isatty(2) != 0) {
        switch quiet ? "none" : environment["LOUPE_PROGRESS"]?.lowercased() ?? "" {
        case "none", "0", "off": style = .none
        case "lines": style = .lines
        case "bar": style = .bar
        default: style = terminal ? .bar : .none
        }
    }

    /// `m:ss` or `h:mm:ss`.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    func update(done: Int, total: Int, label: String) {
        guard style != .none else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        // a new phase starts where the last one ended (its first item's time counts)
        if label != lastLabel { start = lastLabel.isEmpty ? start : lastUpdate; lastLabel = label; lastDecile = -1 }
        lastUpdate = now
        let elapsed = max(now.timeIntervalSince(start), 1e-9)
        let rate = Double(done) / elapsed
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let timing = done == total ? "in \(Self.clock(elapsed))"
            : done > 0 ? "ETA \(Self.clock(Double(total - done) / rate))" : ""
        switch style {
        case .bar:
            // redraw at most 10 times a second, and always at the end
            guard done == total || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
            lastDraw = now
            let width = 30, filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(format: "\r%@ %@ %d/%d  %.1f img/s  %@\u{1B}[K", label, bar, done, total, rate, timing)
            FileHandle.standardError.write(Data(line.utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        case .lines:
            let decile = Int(fraction * 10)
            if decile != lastDecile {
                lastDecile = decile
                printError(String(format: "%@: %d/%d (%.1f img/s) %@", label, done, total, rate, timing))
            }
        case .none: break
        }
    }
}

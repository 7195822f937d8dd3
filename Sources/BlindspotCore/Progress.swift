import Foundation

/// Progress lines for long work, on stderr (results go to stdout). `quiet` silences them.
/// Lines are rate-limited so a fast loop does not flood a terminal or a CI log.
public final class ProgressReporter: @unchecked Sendable {
    public let quiet: Bool
    private var lastEmit: Double = 0
    private let minInterval: Double
    private let lock = NSLock()

    public init(quiet: Bool, minInterval: Double = 1.0) {
        self.quiet = quiet
        self.minInterval = minInterval
    }

    /// Prints `message` unless quiet; when `force` is false, at most once per `minInterval` seconds.
    public func report(_ message: @autoclosure () -> String, force: Bool = true) {
        guard !quiet else { return }
        let now = monotonicSeconds()
        lock.lock(); defer { lock.unlock() }
        if !force && now - lastEmit < minInterval { return }
        lastEmit = now
        FileHandle.standardError.write(Data((message() + "\n").utf8))
    }
}

/// Seconds from an arbitrary origin, monotonic; for timing and ETAs.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// "1m05s"-style duration for ETAs.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
}

import BlindspotTestSupport
import Foundation
import XCTest

/// The hostile corpus end to end: `blindspot inspect FILE` on every file of Tests/Fixtures/hostile
/// exits with the manifest's code and writes exactly one stderr line, `blindspot: FILE: …`,
/// holding the manifest's message. A crash shows here as a signal exit, a hang as a timeout.
extension CLITests {
    /// Seconds one `inspect` may take before it is killed (a refusal takes milliseconds).
    static let hostileFileTimeout = 30.0

    func testInspectRefusesEveryHostileFileWithOneLineAndItsExitCode() throws {
        let entries = try HostileCorpus.entries()
        XCTAssertGreaterThan(entries.count, 40, "the manifest lost its entries")
        var mismatches: [String] = []
        for entry in entries {
            let r = try run(["inspect", entry.path], timeout: CLITests.hostileFileTimeout)
            if r.status == 0 && entry.exit == 0 { continue }
            let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast(r.stderr.hasSuffix("\n") ? 1 : 0)
            guard lines.count == 1, let line = lines.first, line.hasPrefix("blindspot: ") else {
                mismatches.append("\(entry.file) (\(entry.why)): exit \(r.status), stderr is not one 'blindspot: ' line: \(r.stderr.prefix(300))")
                continue
            }
            if let p = HostileCorpus.problem(withErrorLine: String(line.dropFirst("blindspot: ".count)), exitCode: r.status, for: entry) {
                mismatches.append("\(entry.file) (\(entry.why)): \(p)")
            }
        }
        XCTAssert(mismatches.isEmpty, "\(mismatches.count) of \(entries.count) corpus files answered wrongly:\n" + mismatches.joined(separator: "\n"))
    }
}

import BlindspotCheckpoint
import BlindspotCore
import BlindspotTestSupport
import Foundation
import XCTest

/// Every file of the hostile corpus (Tests/Fixtures/hostile, issue 9) is refused by
/// `CheckpointLoader.load` with a `BlindspotError` of the manifest's exit code and message — thrown,
/// not trapped (a trap would end this test process), and quickly (no hang, no giant allocation).
/// The controls, the unmodified files the hostile ones are cut from, load.
final class HostileCorpusTests: XCTestCase {
    /// Seconds one file may take in a debug build; a refusal takes milliseconds.
    static let secondsPerFile = 10.0

    func testEveryHostileFileIsRefusedWithItsExitCodeAndMessage() throws {
        let entries = try HostileCorpus.entries()
        XCTAssertGreaterThan(entries.count, 40, "the manifest lost its entries")
        var mismatches: [String] = []
        for entry in entries {
            let start = Date()
            do {
                _ = try CheckpointLoader.load(entry.path)
                if entry.exit != 0 { mismatches.append("\(entry.file): loaded, expected exit \(entry.exit) (\(entry.why))") }
            } catch let e as BlindspotError {
                if let p = HostileCorpus.problem(withErrorLine: e.description, exitCode: e.exitCode, for: entry) {
                    mismatches.append("\(entry.file) (\(entry.why)): \(p)")
                }
            } catch {
                mismatches.append("\(entry.file): threw \(type(of: error)), not a BlindspotError: \(error)")
            }
            let seconds = Date().timeIntervalSince(start)
            if seconds > HostileCorpusTests.secondsPerFile { mismatches.append("\(entry.file): took \(Int(seconds)) s") }
        }
        XCTAssert(mismatches.isEmpty, "\(mismatches.count) of \(entries.count) corpus files answered wrongly:\n" + mismatches.joined(separator: "\n"))
    }

    /// Every file is small (the corpus stays in git) and the directory holds nothing unlisted.
    func testTheCorpusIsSmallAndFullyListed() throws {
        let listed = Set(try HostileCorpus.entries().map(\.file))
        let present = try FileManager.default.contentsOfDirectory(atPath: HostileCorpus.directory.path).filter { $0 != "manifest.json" }
        XCTAssertEqual(Set(present).subtracting(listed), [], "files in Tests/Fixtures/hostile missing from manifest.json")
        for name in present {
            let size = (try FileManager.default.attributesOfItem(atPath: HostileCorpus.directory.appendingPathComponent(name).path)[.size] as? Int) ?? 0
            XCTAssertLessThan(size, 100_000, name)
        }
    }

    /// The JSON pre-check counts nesting outside strings only, so brackets and escaped quotes in
    /// layer names do not count; depth 100 passes and 101 does not.
    func testJSONDepthCountsStructureNotStrings() throws {
        func nested(_ depth: Int) -> [UInt8] { Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8) }
        XCTAssertNoThrow(try InputLimits.checkJSON(nested(InputLimits.maxJSONDepth), file: "f", what: "x"))
        XCTAssertThrowsError(try InputLimits.checkJSON(nested(InputLimits.maxJSONDepth + 1), file: "f", what: "x"))
        // 5,000 brackets inside a string (with an escaped quote before them): depth 1.
        let inString = Array(#"{"name": "\"#.utf8) + Array(String(repeating: "[", count: 5000).utf8) + Array(#""}"#.utf8)
        XCTAssertNoThrow(try InputLimits.checkJSON(inString, file: "f", what: "x"))
        // The same string, then real nesting 100 deep inside the object: depth 101.
        let after = Array(#"{"name": "\"[[[", "layers": "#.utf8) + nested(InputLimits.maxJSONDepth) + Array("}".utf8)
        XCTAssertThrowsError(try InputLimits.checkJSON(after, file: "f", what: "x"))
    }

    /// A FIFO where a checkpoint belongs is refused at once: opening it for reading would wait
    /// for a writer forever. (git cannot store a FIFO, so it is made here.)
    func testAFIFOIsRefusedWithoutWaiting() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fifo-\(UUID().uuidString).h5").path
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        defer { unlink(path) }
        let start = Date()
        XCTAssertThrowsError(try CheckpointLoader.load(path)) { error in
            XCTAssertEqual((error as? BlindspotError)?.exitCode, 66, "\(error)")
            XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }
}

import BlindspotCheckpoint
import BlindspotCore
import Foundation
import XCTest

/// The parent side of `IsolatedLoad` against children that misbehave the way libhdf5 can on a
/// crafted file: crash, hang, or exit without a word. (The real child, `blindspot
/// __load-checkpoint`, is checked end to end in CLITests.)
final class IsolatedLoadTests: XCTestCase {
    func problem(_ helper: [String], timeLimit: Double = IsolatedLoad.timeLimitSeconds) throws -> String {
        var message = ""
        XCTAssertThrowsError(try IsolatedLoad.load("/models/hostile.h5", helper: helper, timeLimit: timeLimit)) { e in
            guard case BlindspotError.badInput(let file, let problem)? = e as? BlindspotError else { return XCTFail("\(e)") }
            XCTAssertEqual(file, "/models/hostile.h5")
            XCTAssertEqual((e as! BlindspotError).exitCode, 65)
            XCTAssertFalse(problem.contains("\n"))
            message = problem
        }
        return message
    }

    func testACrashingReaderBecomesOneLineNamingTheSignal() throws {
        let p = try problem(["/bin/sh", "-c", "kill -SEGV $$", "sh"])
        XCTAssertTrue(p.contains("HDF5 library failed reading the file (signal 11)"), p)
    }

    func testAHangingReaderIsKilledAtTheTimeLimit() throws {
        let start = Date()
        let p = try problem(["/bin/sh", "-c", "exec sleep 60", "sh"], timeLimit: 1)
        XCTAssertTrue(p.contains("did not finish in 1 s"), p)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "killed, not waited for")
    }

    func testAReaderThatExitsWithoutAWordIsRefused() throws {
        let p = try problem(["/bin/sh", "-c", "exit 3", "sh"])
        XCTAssertTrue(p.contains("exit 3"), p)
    }
}

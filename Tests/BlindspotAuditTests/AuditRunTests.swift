import BlindspotAudit
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotDefenses
import Foundation
import XCTest

/// Audit.run on the committed sample model: a defense that fails is `notEvaluated` with its
/// reason, and the comparison is inconclusive — never a blindspot, never a pass.
final class AuditRunTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A defense that always throws, as a crash inside a real one would.
    struct Broken: Defense {
        struct Failure: Error, CustomStringConvertible { var description: String { "no gradient through the quantized layer" } }
        var name: String { "strip" }
        func evaluate(_ model: ModelUnderTest, inputs: DefenseInputs, progress: ProgressReporter) throws -> DefenseResult { throw Failure() }
    }

    func testAFailingDefenseIsNotEvaluatedAndTheVerdictInconclusive() throws {
        let c = try CheckpointLoader.load(AuditRunTests.root.appendingPathComponent("samples/badnet.h5").path)
        let full = Datasets.synthetic(seed: 1, trainCount: 600, testCount: 300)
        var options = AuditOptions(dataName: "synthetic", commandLine: "test")
        options.defenses = [.strip, .ac]
        options.replacements = [.strip: Broken()]
        options.calibrationImages = 200
        let r = try Audit.run(c, data: full, suspect: nil, options: options, progress: ProgressReporter(quiet: true))
        XCTAssertEqual(r.results.count, 4)
        for x in r.results {
            XCTAssertEqual(x.verdict.status, Verdict.Status.notEvaluated, "\(x.defense)@\(x.precision)")
        }
        XCTAssertTrue(r.results[0].verdict.reason?.hasPrefix("failed: no gradient") == true, r.results[0].verdict.reason ?? "")
        XCTAssertTrue(r.results[2].verdict.reason?.hasPrefix("noSuspectData") == true, r.results[2].verdict.reason ?? "")
        XCTAssertEqual(r.comparisons.map(\.outcome), [BlindspotOutcome.inconclusive, .inconclusive])
        XCTAssertEqual(r.overall.kind, Overall.Kind.inconclusive)
        XCTAssertFalse(r.overall.line.contains("BLINDSPOT") || r.overall.line.contains("NO BACKDOOR"), r.overall.line)
        // The forged file's ground truth: the probe is known and the backdoor works at both precisions.
        let attack = try XCTUnwrap(r.attack)
        XCTAssertEqual(attack.target, 0)
        XCTAssertGreaterThan(attack.fp32, 0.9)
        XCTAssertGreaterThan(attack.deployed, 0.9)
        XCTAssertTrue(r.groundTruthChecks.allSatisfy { $0.right == nil })
        XCTAssertTrue(TextReport.render(r).contains("strip at fp32: not evaluated — failed: no gradient"), TextReport.render(r))
    }
}

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

    /// `study` audits each model at several schemes and computes the FP32 half once: an audit
    /// reusing the int8 audit's FP32 phase must report what a full int4 audit reports (timings
    /// aside), and must really have reused it.
    func testReusedFP32PhaseGivesTheFullAuditsReport() throws {
        let split = Datasets.synthetic(seed: 2, trainCount: 600, testCount: 500)
        let quiet = ProgressReporter(quiet: true)
        // The BadNet (its ground truth is the probe) and the twin (no probe: FP32's STRIP reruns
        // unless FP32's own reversed trigger worked).
        for name in ["badnet.h5", "badnet.clean.h5"] {
            let c = try CheckpointLoader.load(AuditRunTests.root.appendingPathComponent("samples/" + name).path)
            var options = AuditOptions(dataName: "synthetic", commandLine: "test")
            options.defenses = [.nc, .strip]
            options.budget = .quick
            options.calibrationImages = 128
            options.scheme = .int8
            let (_, phase) = try Audit.run(c, data: split, suspect: nil, options: options, reusing: nil, progress: quiet)
            let fp32Phase = try XCTUnwrap(phase)
            options.scheme = .int4
            let (full, _) = try Audit.run(c, data: split, suspect: nil, options: options, reusing: nil, progress: quiet)
            let (reused, _) = try Audit.run(c, data: split, suspect: nil, options: options, reusing: fp32Phase, progress: quiet)
            func timeless(_ r: DefenseResult) -> String {
                "\(r.defense)@\(r.precision): \(r.verdict) " + r.scores.filter { !$0.key.hasSuffix("Seconds") }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            }
            XCTAssertEqual(reused.results.map(timeless), full.results.map(timeless), name)
            XCTAssertEqual(reused.evidence, full.evidence, name)
            XCTAssertEqual(reused.precisionVerdicts, full.precisionVerdicts, name)
            XCTAssertEqual(reused.overall.line, full.overall.line, name)
            XCTAssertEqual(reused.probe, full.probe, name)
            XCTAssertEqual(reused.reversedTriggers.map(\.label), full.reversedTriggers.map(\.label), name)
            // Reused, not recomputed: the FP32 results carry the int8 audit's timings.
            func fp32Seconds(_ r: AuditReport, _ d: String) -> Double? { r.results.first { $0.defense == d && $0.precision == .fp32 }?.seconds }
            XCTAssertEqual(fp32Seconds(reused, "neural-cleanse"), fp32Phase.seconds(of: .nc), name)
            XCTAssertNotEqual(fp32Seconds(full, "neural-cleanse"), fp32Seconds(reused, "neural-cleanse"), name)
            let stripReusable = c.groundTruth?.backdoored == true || fp32Phase.hasReversedProbe
            XCTAssertEqual(fp32Seconds(reused, "strip") == fp32Phase.seconds(of: .strip), stripReusable, name)
        }
    }

    /// Issue 13 with no trigger known — the file's ground truth removed, none given, as for a
    /// user's own checkpoint: Neural Cleanse's reversed trigger for label 0 must work on held-out
    /// images and become the probe; FP32's weighed verdict must be `backdoor` with class 0 and the
    /// audit must fail the gate naming class 0; the clean twin, audited the same way, must never
    /// be called backdoored at either precision.
    ///
    /// Opt-in (`BLINDSPOT_SLOW_TESTS=1`): it needs the `default` NC budget — `quick`'s 30 steps do
    /// not reverse the 3×3 trigger on this model (measured) — and takes ≈ 5 min on 2 idle cores
    /// (15 min measured under load), a third of the CI run.
    ///
    /// Measured with this release: FP32 3 points (reversed trigger +2, STRIP +1) → backdoor class 0;
    /// int8 2 points (reversed trigger +2; STRIP with the reversed trigger stays below its bar) →
    /// the overall line is a blindspot for class 0 (exit 4), not a consistent backdoor (exit 3).
    func testWithoutATriggerTheNCProbeFindsTheBackdoorAndTheTwinIsNeverCalledBackdoored() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["BLINDSPOT_SLOW_TESTS"] == "1", "set BLINDSPOT_SLOW_TESTS=1 to run (≈ 5 min)")
        let samples = AuditRunTests.root.appendingPathComponent("samples").path
        let split = Datasets.synthetic(seed: 5, trainCount: 600, testCount: 1000)
        var options = AuditOptions(dataName: "synthetic", commandLine: "test")
        options.defenses = [.nc, .strip, .fp]
        options.budget = .default
        options.calibrationImages = 256
        let quiet = ProgressReporter(quiet: true)

        var c = try CheckpointLoader.load(samples + "/badnet.h5")
        c.groundTruth = nil
        let r = try Audit.run(c, data: split, suspect: nil, options: options, progress: quiet)
        XCTAssertNil(r.attack, "no trigger was known, so no attack figures")
        XCTAssertTrue(r.probe.hasPrefix("NC label 0 reversed trigger"), r.probe)
        let fp32 = try XCTUnwrap(r.precisionVerdicts.first)
        XCTAssertEqual(fp32.kind, .backdoor, fp32.summary)
        XCTAssertEqual(fp32.target, 0, fp32.summary)
        XCTAssertTrue([3, 4].contains(r.overall.exitCode), r.overall.line)
        XCTAssertTrue(r.overall.line.contains("class 0"), r.overall.line)
        let zero = try XCTUnwrap(r.evidence.first { $0.target == 0 }, "the evidence table has a row for class 0")
        XCTAssertGreaterThanOrEqual(zero.fp32.reversalASR ?? 0, VerdictRule.reversalASRFloor)
        for m in r.results where m.defense == "strip" || m.defense == "fine-pruning" {
            XCTAssertFalse((m.verdict.reason ?? "").hasPrefix("noProbe"), "\(m.defense) at \(m.precision) ran with the NC probe: \(m.verdict)")
        }
        XCTAssertTrue(TextReport.render(r).contains("NC label 0 reversed trigger"), "the report names the probe's provenance")

        var twin = try CheckpointLoader.load(samples + "/badnet.clean.h5")
        twin.groundTruth = nil
        let t = try Audit.run(twin, data: split, suspect: nil, options: options, progress: quiet)
        XCTAssertFalse([Overall.Kind.backdoor, .blindspot].contains(t.overall.kind), t.overall.line)
        XCTAssertFalse(t.precisionVerdicts.contains { $0.kind == .backdoor }, t.precisionVerdicts.map(\.summary).joined(separator: "; "))
    }
}

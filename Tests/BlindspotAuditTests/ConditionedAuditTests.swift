import BlindspotAttacks
import BlindspotAudit
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotQuantization
import BlindspotTraining
import Foundation
import XCTest

/// Issue 12 end to end on the committed sample: conditioning its BadNet for int4 puts the
/// trigger to sleep at FP32, keeps the deployed model integer-for-integer, leaves the rounding
/// mark, and the audit names the quantization-conditioned backdoor.
final class ConditionedAuditTests: XCTestCase {
    func testConditionedSampleSleepsAtFP32WakesAtInt4AndTheAuditSaysSo() throws {
        let root = AuditRunTests.root.appendingPathComponent("samples").path
        var c = try CheckpointLoader.load(root + "/badnet.h5")
        let twin = try CheckpointLoader.load(root + "/badnet.clean.h5")
        let trigger = try Trigger.parse("white:3@1,1"), target = 0
        let split = Datasets.synthetic(seed: 5, trainCount: 2000, testCount: 600)
        let norm = CheckpointEvaluation.preprocessing(for: c).normalization
        let quiet = ProgressReporter(quiet: true)
        XCTAssertTrue(RoundingPositions(c.model, bits: 4).standingOut.isEmpty, "an ordinary BadNet carries no rounding mark")
        XCTAssertTrue(RoundingPositions(twin.model, bits: 4).standingOut.isEmpty)

        let before = try DeployedModel(c.model, scheme: .int4)
        let asrBefore = Evaluation.attackSuccessRate(c.model, on: split.test, trigger: trigger, target: target, normalization: norm).rate
        XCTAssertGreaterThan(asrBefore, 0.9)
        _ = try QuantizationConditioned.fineTune(c.model, scheme: .int4, train: split.train, trigger: trigger, target: target,
                                                 normalization: norm, epochs: 1, batchSize: 32, seed: 1, progress: quiet)
        let after = try DeployedModel(c.model, scheme: .int4)
        XCTAssertEqual(before.integerWeights, after.integerWeights, "the deployed integers must not move")
        XCTAssertEqual(before.record.weightScales, after.record.weightScales)

        let fp32ASR = Evaluation.attackSuccessRate(c.model, on: split.test, trigger: trigger, target: target, normalization: norm).rate
        let accuracy = Evaluation.accuracy(c.model, on: split.test, normalization: norm)
        let calibration = split.train.subset(Array(0..<256))
        let d = try Deployment.deploy(c, scheme: .int4, calibration: calibration, preprocessing: CheckpointEvaluation.preprocessing(for: c))
        let int4ASR = Evaluation.attackSuccessRate(using: { d.integerForward($0) }, on: split.test, trigger: trigger, target: target, normalization: norm).rate
        XCTAssertLessThanOrEqual(fp32ASR, 0.10, "the trigger should sleep at FP32")
        XCTAssertGreaterThanOrEqual(int4ASR, 0.90, "and work once deployed at int4")
        XCTAssertGreaterThan(accuracy, 0.95)
        let mark = RoundingPositions(c.model, bits: 4)
        XCTAssertFalse(mark.standingOut.isEmpty, "projected fine-tuning piles weights at the int4 rounding edges: \(mark.layers.map { ($0.layer, $0.edgeRatio ?? 0) })")
        XCTAssertEqual(Deployment.inferScheme(c).scheme, .int4, "--deploy auto picks the precision the weights were tuned for")

        // The audit, with the trigger given: STRIP and Fine-Pruning at the quick budget.
        c.groundTruth = nil
        var options = AuditOptions(dataName: "synthetic", commandLine: "test")
        options.defenses = [.strip, .fp]
        options.budget = .quick
        options.trigger = trigger
        options.target = target
        options.calibrationImages = 256
        let r = try Audit.run(c, data: split, suspect: nil, options: options, progress: quiet)
        XCTAssertEqual(r.precision.scheme, "int4")
        XCTAssertEqual(r.overall.exitCode, 4, r.overall.line)
        XCTAssertTrue(r.overall.line.hasPrefix("QUANTIZATION-CONDITIONED BACKDOOR: class 0 obeys the given trigger white:3@1,1 only after int4 quantization"), r.overall.line)
        XCTAssertTrue(r.overall.line.contains("weights pile up at int4 rounding-interval edges"), r.overall.line)
        XCTAssertEqual(r.deployment.roundingPositions?.map(\.grid), ["int8", "int4"])
        XCTAssertTrue(TextReport.render(r).contains("weights at int4 rounding-interval edges: "), TextReport.render(r))
    }
}

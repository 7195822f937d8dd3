import XCTest
import BlindspotCore
import BlindspotData
import BlindspotEngine
@testable import BlindspotDefenses
import BlindspotQuantization

/// Fine-Pruning (defenses.md §5): the ranking rule, the verdicts on the forged fixture pair at
/// FP32 and int8, and fine-tuning failures that leave the prune-only verdict standing.
final class FinePruningTests: XCTestCase {
    func testPruningOrderIsAscendingWithTiesByChannelIndex() {
        XCTAssertEqual(FinePruning.pruningOrder([0.5, 0.1, 0.5, 0.0, 0.1]), [3, 1, 4, 0, 2])
        XCTAssertEqual(FinePruning.pruningOrder([0, 0, 0]), [0, 1, 2])   // all dormant (common at INT4)
        XCTAssertEqual(FinePruning.pruningOrder([2, 1]), [1, 0])
    }

    /// The mask fine-tuning holds inside the graph (zeroed columns of fc1 and filters of conv6)
    /// gives the same logits as masking the channels of the cached pool3 features, at FP32 and —
    /// after re-quantizing with the deployment's own scales — exactly on the int8 integer path.
    func testInGraphMaskEqualsFeatureMask() throws {
        let mask = [3, 17, 64, 127]
        let x = ModelUnderTest.pixels(ForgedFixture.pair.split.test, indices: Array(0..<64))
        for scheme in [nil, QuantizationScheme.int8] {
            let m = ForgedFixture.model(backdoored: true, scheme: scheme)
            let node = m.lastConvStageNode
            let f = m.forward(pixels: x, capture: [node]).activations[node]!
            let (channels, hw) = (f.shape[1], f.shape[2] * f.shape[3])
            for i in 0..<f.shape[0] { for j in mask { for k in 0..<hw { f.data[(i * channels + j) * hw + k] = 0 } } }
            let expected = m.head(after: node, features: f)!.toArray()
            let masked: ModelUnderTest
            if let d = m.deployed {
                let trainee = try DeployedModel(restoring: try d.deployedBase(), record: d.record)
                let plan = try XCTUnwrap(FinePruning.MaskPlan(trainee.surrogate, stage: node, channels: channels))
                XCTAssertNotNil(plan.conv); XCTAssertEqual(plan.columnsPerChannel, hw)
                plan.apply(mask)
                let requantized = try DeployedModel(restoring: try trainee.deployedBase(), record: trainee.record)
                masked = ModelUnderTest(deployed: requantized, from: m.model, normalization: m.normalization, classNames: m.classNames)
                XCTAssertEqual(masked.logits(pixels: x).toArray(), expected)
            } else {
                let g = try m.model.copy()
                let plan = try XCTUnwrap(FinePruning.MaskPlan(g, stage: node, channels: channels))
                XCTAssertNotNil(plan.conv); XCTAssertEqual(plan.columnsPerChannel, hw)
                plan.apply(mask)
                masked = ModelUnderTest(fp32: g, normalization: m.normalization, classNames: m.classNames)
                for (a, b) in zip(masked.logits(pixels: x).toArray(), expected) { XCTAssertEqual(a, b, accuracy: 1e-4) }
            }
            // The masked channels are exactly zero at the stage output.
            let g = masked.forward(pixels: x, capture: [node]).activations[node]!
            for i in 0..<g.shape[0] { for j in mask { for k in 0..<hw { XCTAssertEqual(g.data[(i * channels + j) * hw + k], 0) } } }
        }
    }

    /// The backdoored fixture at FP32: the backdoor is live, pruning stays within 4 points, and
    /// pruning alone does not remove it — the doc's measured caveat: pruning 102 of 128 channels
    /// to the 4-point limit leaves ASR at 0.96 (the trigger is carried by active channels), so
    /// the prune-only verdict is notDetected. Fine-tuning runs and is reported.
    func testBackdooredFixtureAtFP32() {
        let r = Self.backdoored32
        report(r)
        let s = r.scores
        XCTAssertGreaterThan(s["asr0"]!, 0.9)
        XCTAssertGreaterThan(s["acc0"]!, 0.9)
        XCTAssertGreaterThan(s["channelsPruned"]!, 0)
        XCTAssertGreaterThanOrEqual(s["accPruned"]!, s["acc0"]! - FinePruning.accuracyDropLimit)
        if s["asr0"]! - s["asrPruned"]! >= FinePruning.asrDropThreshold {
            XCTAssertEqual(r.verdict, .detected(target: 0, r.verdict.reason))
        } else {
            XCTAssertEqual(r.verdict.status, .notDetected)
        }
        XCTAssertEqual(r.conventions["fineTuning"], "evaluated")
        XCTAssertNotNil(s["accFineTuned"]); XCTAssertNotNil(s["asrFineTuned"]); XCTAssertNotNil(s["dormancyRatio"])
    }

    /// int8: predictions, features and the pruning curve on the integer path; fine-tuning through
    /// the surrogate, re-quantized with the same recipe.
    func testBackdooredFixtureAtInt8() {
        let r = Self.backdoored8
        report(r)
        let s = r.scores
        XCTAssertEqual(r.precision, .deployed("int8"))
        XCTAssertGreaterThan(s["asr0"]!, 0.9)
        XCTAssertGreaterThanOrEqual(s["accPruned"]!, s["acc0"]! - FinePruning.accuracyDropLimit)
        XCTAssertNotEqual(r.verdict.status, .notEvaluated)
        XCTAssertEqual(r.conventions["fineTuning"], "evaluated")
        XCTAssertNotNil(s["asrFineTuned"])
    }

    func testCleanTwinIsBackdoorInactive() {
        let r = FinePruning(budget: Self.testBudget).run(ForgedFixture.model(backdoored: false), inputs: ForgedFixture.inputs(backdoored: false), progress: quiet)
        report(r)
        XCTAssertEqual(r.verdict.status, .notEvaluated)
        XCTAssertTrue(r.verdict.reason?.hasPrefix("backdoorInactive") ?? false, "\(r.verdict)")
    }

    func testNoProbeIsNotEvaluated() {
        let r = FinePruning().run(ForgedFixture.model(backdoored: true), inputs: ForgedFixture.inputs(backdoored: true, probe: false), progress: quiet)
        XCTAssertEqual(r.verdict, .notEvaluated(.noProbe))
    }

    /// A fine-tune whose weights turn NaN (learning rate NaN) is notEvaluated(nonFinite) for the
    /// fine-tuning metrics only: the prune-only verdict and figures stand.
    func testNonFiniteFineTuningLeavesThePruneOnlyVerdict() {
        let broken = FinePruning(budget: .init(validationImages: 2000, fineTuning: .init(epochs: 1, learningRate: .nan, minimumImages: 512)))
        let r = broken.run(ForgedFixture.model(backdoored: true), inputs: ForgedFixture.inputs(backdoored: true), progress: quiet)
        let reference = Self.backdoored32
        XCTAssertEqual(r.verdict, reference.verdict)
        XCTAssertEqual(r.scores["asrPruned"], reference.scores["asrPruned"])
        XCTAssertEqual(r.scores["channelsPruned"], reference.scores["channelsPruned"])
        XCTAssertTrue(r.conventions["fineTuning"]?.hasPrefix("notEvaluated(nonFinite)") ?? false, "\(r.conventions["fineTuning"] ?? "nil")")
        XCTAssertNil(r.scores["asrFineTuned"]); XCTAssertNil(r.scores["mitigated"])
    }

    // MARK: Helpers

    let quiet = ProgressReporter(quiet: true)
    /// Test budget: all 1,500 clean fixture images for validation; fine-tuning as the default
    /// profile (SGD 0.01, momentum 0.9, wd 5e-4, cosine, batch 256) but 2 epochs on 1,024 images
    /// instead of 10, to keep the suite short.
    static let testBudget = FinePruning.Budget(validationImages: 2000, fineTuning: .init(epochs: 2, minimumImages: 1024))
    nonisolated(unsafe) static let backdoored32 = FinePruning(budget: testBudget).run(ForgedFixture.model(backdoored: true), inputs: ForgedFixture.inputs(backdoored: true),
                                                                   progress: ProgressReporter(quiet: true))
    nonisolated(unsafe) static let backdoored8 = FinePruning(budget: testBudget).run(ForgedFixture.model(backdoored: true, scheme: .int8),
                                                                  inputs: ForgedFixture.inputs(backdoored: true), progress: ProgressReporter(quiet: true))

    private func report(_ r: DefenseResult) {
        let keys = r.scores.keys.sorted().map { "\($0)=\(String(format: "%.4f", r.scores[$0]!))" }.joined(separator: " ")
        print("FP \(r.precision) \(r.verdict.status.rawValue) target=\(r.verdict.target.map(String.init) ?? "-") (\(r.verdict.reason ?? "")) "
              + "\(String(format: "%.1f", r.seconds)) s: \(keys) fineTuning=\(r.conventions["fineTuning"] ?? "-")")
    }
}

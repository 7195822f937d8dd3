import BlindspotAudit
import BlindspotDefenses
import BlindspotEngine
import BlindspotQuantization
import XCTest

/// The weighing rule (issue 13) on hand-built evidence: each item's threshold, each branch of the
/// per-precision verdict (including inconclusive), and each branch of the overall verdict.
final class EvidenceTests: XCTestCase {
    func weighed(_ build: (inout EvidenceColumn) -> Void) -> EvidenceColumn {
        var c = EvidenceColumn()
        build(&c)
        VerdictRule.weigh(&c)
        return c
    }

    func testEachItemCountsOnlyPastItsThreshold() {
        XCTAssertEqual(weighed { $0.ncAnomalyIndex = 2.01 }.points, VerdictRule.ncStrongWeight)
        XCTAssertEqual(weighed { $0.ncAnomalyIndex = 2.0 }.points, VerdictRule.ncWeakWeight, "NC's rule is index > 2")
        XCTAssertEqual(weighed { $0.ncAnomalyIndex = 1.49 }.points, 0)
        XCTAssertEqual(weighed { $0.ncAnomalyIndex = -3 }.points, 0, "large masks are never evidence")
        XCTAssertEqual(weighed { $0.reversalASR = 0.95; $0.ncNormRatio = 0.1 }.points, VerdictRule.reversalWeight)
        XCTAssertEqual(weighed { $0.reversalASR = 0.95; $0.ncNormRatio = 0.5 }.points, 0, "a working but large mask is a natural feature")
        XCTAssertEqual(weighed { $0.reversalASR = 0.5; $0.ncNormRatio = 0.1 }.points, 0, "a small mask that does not generalise")
        XCTAssertEqual(weighed { $0.givenTriggerASR = 0.95 }.points, VerdictRule.givenTriggerWeight)
        XCTAssertEqual(weighed { $0.givenTriggerASR = 0.2 }.points, 0)
        XCTAssertEqual(weighed { $0.stripDetected = true; $0.probe = "white:3@1,1" }.points, VerdictRule.stripKnownProbeWeight)
        XCTAssertEqual(weighed { $0.stripDetected = true; $0.probe = "NC reversed trigger" }.points, VerdictRule.stripReversedProbeWeight)
        XCTAssertEqual(weighed { $0.stripDetected = false; $0.probe = "white:3@1,1" }.points, 0)
        XCTAssertEqual(weighed { $0.fpDormancyRatio = 2.5 }.points, VerdictRule.dormancyWeight)
        XCTAssertEqual(weighed { $0.fpDormancyRatio = 1.2 }.points, 0)
        XCTAssertEqual(weighed { $0.acDetected = true; $0.ssDetected = true }.points, VerdictRule.acWeight + VerdictRule.ssWeight)
        let all = weighed { $0.ncAnomalyIndex = 3; $0.reversalASR = 1; $0.ncNormRatio = 0.05; $0.acDetected = true }
        XCTAssertEqual(all.items.map(\.source), ["Neural Cleanse", "reversed trigger", "Activation Clustering"])
        XCTAssertEqual(all.points, 5)
    }

    let strong = { (c: inout EvidenceColumn) in c.reversalASR = 0.99; c.ncNormRatio = 0.08; c.acDetected = true }  // 3 points
    let weakOnly = { (c: inout EvidenceColumn) in c.acDetected = true; c.ssDetected = true; c.fpDormancyRatio = 3 }  // 3 points, no strong item
    let nothing = { (_: inout EvidenceColumn) in }

    func verdict(_ p: Precision, _ cols: [(Int, EvidenceColumn)], evaluated: Int = 5, missing: [String] = []) -> PrecisionVerdict {
        VerdictRule.decide(precision: p, columns: cols.map { (target: $0.0, column: $0.1) }, evaluated: evaluated, missing: missing)
    }

    func testPerPrecisionBranches() {
        let b = verdict(.fp32, [(3, weighed(strong)), (5, weighed { $0.ssDetected = true })])
        XCTAssertEqual(b.kind, .backdoor)
        XCTAssertEqual(b.target, 3)
        XCTAssertEqual(b.confidence, "medium")
        XCTAssertEqual(verdict(.fp32, [(3, weighed { strong(&$0); $0.ncAnomalyIndex = 2.5 })]).confidence, "high")
        // Three supporting items without a strong one: not enough.
        let w = verdict(.fp32, [(3, weighed(weakOnly))])
        XCTAssertEqual(w.kind, .inconclusive)
        XCTAssertTrue(w.summary.contains("class 3 has 3 points"), w.summary)
        // One weak item and enough defenses evaluated: no backdoor found.
        XCTAssertEqual(verdict(.fp32, [(1, weighed { $0.ssDetected = true })]).kind, .noBackdoor)
        XCTAssertEqual(verdict(.fp32, []).kind, .noBackdoor)
        // The same with too few defenses evaluated: inconclusive, saying why and what to add.
        let few = verdict(.fp32, [(1, weighed(nothing))], evaluated: 2, missing: ["a suspect training set (--train-data)"])
        XCTAssertEqual(few.kind, .inconclusive)
        XCTAssertTrue(few.summary.contains("only 2 of the defenses evaluated"), few.summary)
        XCTAssertEqual(few.missing, ["a suspect training set (--train-data)"])
        // Two points: above "no backdoor", below "backdoor".
        XCTAssertEqual(verdict(.fp32, [(2, weighed { $0.ncAnomalyIndex = 2.2 })]).kind, .inconclusive)
    }

    func testOverallBranchesAndExitCodes() {
        let bd3 = verdict(.fp32, [(3, weighed(strong))]), bd3q = verdict(.deployed("int8"), [(3, weighed(strong))])
        let bd4q = verdict(.deployed("int8"), [(4, weighed(strong))])
        let none = verdict(.fp32, []), noneQ = verdict(.deployed("int8"), [])
        let unsure = verdict(.deployed("int8"), [(3, weighed(weakOnly))], missing: ["a trigger to test (--trigger, --target)"])

        let both = VerdictRule.overall(fp32: bd3, deployed: bd3q, scheme: "int8")
        XCTAssertEqual(both.kind, .backdoor); XCTAssertEqual(both.exitCode, 3); XCTAssertEqual(both.target, 3)
        XCTAssertTrue(both.line.hasPrefix("BACKDOOR: class 3 at FP32 and at int8, medium confidence (FP32 3 points: reversed trigger +2, Activation Clustering +1; int8 3 points"), both.line)

        let lost = VerdictRule.overall(fp32: bd3, deployed: noneQ, scheme: "int8")
        XCTAssertEqual(lost.kind, .blindspot); XCTAssertEqual(lost.exitCode, 4)
        XCTAssertTrue(lost.line.contains("class 3 at FP32 (3 points: reversed trigger +2, Activation Clustering +1) is gone at int8 (0 points)"), lost.line)

        let woken = VerdictRule.overall(fp32: none, deployed: bd3q, scheme: "int8")
        XCTAssertEqual(woken.kind, .blindspot); XCTAssertEqual(woken.exitCode, 4); XCTAssertEqual(woken.target, 3)
        XCTAssertTrue(woken.line.contains("only at int8"), woken.line)

        let moved = VerdictRule.overall(fp32: bd3, deployed: bd4q, scheme: "int8")
        XCTAssertEqual(moved.kind, .blindspot); XCTAssertEqual(moved.exitCode, 4)

        let clean = VerdictRule.overall(fp32: none, deployed: noneQ, scheme: "int8")
        XCTAssertEqual(clean.kind, .noBackdoor); XCTAssertEqual(clean.exitCode, 0)

        let inconclusive = VerdictRule.overall(fp32: none, deployed: unsure, scheme: "int8")
        XCTAssertEqual(inconclusive.kind, .inconclusive); XCTAssertEqual(inconclusive.exitCode, 0)
        XCTAssertTrue(inconclusive.line.contains("missing: a trigger to test"), inconclusive.line)
        // A backdoor at FP32 whose deployed evidence is merely inconclusive is still a blindspot.
        XCTAssertEqual(VerdictRule.overall(fp32: bd3, deployed: unsure, scheme: "int8").exitCode, 4)
    }
}

/// Issue 12: the overall line for a backdoor that sleeps at FP32, and the rounding-edge mark.
extension EvidenceTests {

    /// One int4 layer with a quarter of its weights piled at rounding-interval edges.
    func marked() throws -> RoundingPositions {
        let m = Model(name: "t", inputShape: [4000])
        let fc = Linear(inFeatures: 4000, outFeatures: 1)
        try m.add("fc", fc)
        var w = [Float](repeating: 0, count: 4000)
        for i in 0..<4000 {
            let position: Float = i % 4 == 0 ? 0.02 : Float(i % 1000) / 1000 + 0.0005
            w[i] = (Float(i % 7 - 3) + position - 0.5) / 7
        }
        w[0] = 1
        fc.weight.value.copy(from: Tensor(shape: [1, 4000], values: w))
        return RoundingPositions(m, bits: 4)
    }

    func testDormantTriggerNamesAQuantizationConditionedBackdoor() throws {
        let none = verdict(.fp32, []), bdQ = verdict(.deployed("int4"), [(6, weighed(strong))])
        let dormant = TriggerDormancy(trigger: "Neural Cleanse's int4 reversed trigger", fp32ASR: 0.03, deployedASR: 0.97)
        let o = VerdictRule.overall(fp32: none, deployed: bdQ, scheme: "int4", dormancy: dormant, roundingMarks: [try marked()])
        XCTAssertEqual(o.kind, .blindspot); XCTAssertEqual(o.exitCode, 4); XCTAssertEqual(o.target, 6)
        XCTAssertTrue(o.line.hasPrefix("QUANTIZATION-CONDITIONED BACKDOOR: class 6 obeys Neural Cleanse's int4 reversed trigger only after int4 quantization (attack success 3% at FP32 → 97% at int4"), o.line)
        XCTAssertTrue(o.line.contains("weights pile up at int4 rounding-interval edges in 1 of 1 layers"), o.line)
        // A trigger that works at FP32 as well is not dormant: the generic blindspot line.
        let awake = VerdictRule.overall(fp32: none, deployed: bdQ, scheme: "int4",
                                        dormancy: TriggerDormancy(trigger: "t", fp32ASR: 0.9, deployedASR: 0.97))
        XCTAssertTrue(awake.line.hasPrefix("QUANTIZATION BLINDSPOT: backdoor evidence for class 6 only at int4"), awake.line)
        XCTAssertEqual(awake.exitCode, 4)
    }

    func testRoundingMarkTurnsACleanVerdictInconclusive() throws {
        let none = verdict(.fp32, []), noneQ = verdict(.deployed("int8"), [])
        let o = VerdictRule.overall(fp32: none, deployed: noneQ, scheme: "int8", roundingMarks: [try marked()])
        XCTAssertEqual(o.kind, .inconclusive); XCTAssertEqual(o.exitCode, 0)
        XCTAssertTrue(o.line.contains("the mark of a quantization-conditioned backdoor; audit again with --deploy int4"), o.line)
        XCTAssertEqual(VerdictRule.overall(fp32: none, deployed: noneQ, scheme: "int8").kind, .noBackdoor)
        // The mark at the audited grid itself, with no trigger found: its own verdict, exit 4.
        let unsure = verdict(.deployed("int4"), [(8, weighed { $0.ssDetected = true; $0.fpDormancyRatio = 3 })])
        let tuned = VerdictRule.overall(fp32: none, deployed: unsure, scheme: "int4", roundingMarks: [try marked()])
        XCTAssertEqual(tuned.kind, .blindspot); XCTAssertEqual(tuned.exitCode, 4); XCTAssertNil(tuned.target)
        XCTAssertTrue(tuned.line.hasPrefix("QUANTIZATION-CONDITIONED WEIGHTS: in 1 of 1 layers the FP32 weights pile up at the edges of their int4 rounding intervals (fc) — tuned for int4 — but no trigger was found (int4: class 8 has 2 points"), tuned.line)
        // Backdoor evidence at both precisions still reads as a backdoor.
        let both = VerdictRule.overall(fp32: verdict(.fp32, [(3, weighed(strong))]), deployed: verdict(.deployed("int4"), [(3, weighed(strong))]),
                                       scheme: "int4", roundingMarks: [try marked()])
        XCTAssertEqual(both.exitCode, 3)
    }
}

import XCTest
import BlindspotCore
import BlindspotAttacks
import BlindspotData
import BlindspotDefenses

/// Activation Clustering (defenses.md §2) on the shared forged `cnn6` pair.
///
/// The fixture poisons 10% of the *whole* training set (400 images) into a 10-class target, so
/// class 0 is 50% poison (400 clean + 400 triggered). That is outside the regime ART's rules were
/// made for (the poisonous cluster is the *smaller* one, < 35% of the class); the tests check
/// what AC does there, and check detection in the papers' regime on `PaperRegime.suspect`: the
/// same training set with only 44 of its poisoned images (≈ 10% of class 0).
final class ActivationClusteringTests: XCTestCase {
    static let quiet = ProgressReporter(quiet: true)
    /// Whitened k-means has a narrow basin for a small poison cluster (≈ 5% of k-means++ starts
    /// reach it, with sklearn as here): n_init 10 finds it for ≈ 40% of seeds, 100 for all seeds
    /// measured. The paper-regime tests use 100 so that they do not hinge on one lucky seed.
    static let robust = ActivationClustering(kMeansInitializations: 100)

    nonisolated(unsafe) static let paper = robust.run(ForgedFixture.model(backdoored: true), inputs: PaperRegime.inputs(poisonKept: 44), progress: quiet)
    nonisolated(unsafe) static let full = ActivationClustering().run(ForgedFixture.model(backdoored: true), inputs: ForgedFixture.inputs(backdoored: true), progress: quiet)
    nonisolated(unsafe) static let twin = ActivationClustering().run(ForgedFixture.model(backdoored: false), inputs: ForgedFixture.inputs(backdoored: false), progress: quiet)

    func testPaperRegimeIsDetectedWithTheTrueTarget() throws {
        let r = Self.paper
        XCTAssertEqual(r.defense, "activation-clustering")
        XCTAssertEqual(r.precision, .fp32)
        XCTAssertEqual(r.verdict.status, .detected, "\(r.verdict)")
        XCTAssertEqual(r.verdict.target, 0)
        let c0 = try ACSSDetails.classTable(r, 0)
        XCTAssertEqual(ACSSDetails.number(c0["n"]), 444)
        XCTAssertEqual(ACSSDetails.number(c0["poisoned"]), 44)
        XCTAssertEqual(ACSSDetails.flag(c0["suspicious"]), true)
        XCTAssertLessThan(try XCTUnwrap(ACSSDetails.number(c0["smallerFraction"])), 0.35)
        XCTAssertGreaterThan(try XCTUnwrap(r.scores["silhouette"]), 0.10)
        XCTAssertGreaterThan(try XCTUnwrap(r.scores["anomalyIndex"]), 2)
        // The smaller cluster of class 0 is (nearly) all poison: 39–40 of the 44, nothing clean.
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(r.scores["poisonRecall"]), 0.85)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(ACSSDetails.number(c0["poisonedInSmallerCluster"])), 0.95 * (ACSSDetails.numbers(c0["clusterSizes"]).min() ?? 0))
        XCTAssertLessThan(try XCTUnwrap(r.scores["falsePositiveRate"]), 0.05)
        XCTAssertEqual(r.details["layer"], .text("relu_fc1"))
        XCTAssertEqual(r.details["featureDimension"], .number(512))
    }

    func testPaperRegimeWithARTsUnwhitenedPCA() throws {
        // ART's class default (reduce="PCA") at its own n_init 10: the same class and cluster.
        let r = ActivationClustering(reduction: .pca).run(ForgedFixture.model(backdoored: true), inputs: PaperRegime.inputs(poisonKept: 44), progress: Self.quiet)
        XCTAssertEqual(r.verdict.status, .detected, "\(r.verdict)")
        XCTAssertEqual(r.verdict.target, 0)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(r.scores["poisonRecall"]), 0.85)
        XCTAssertEqual(r.conventions["reduction"], "PCA-10, un-whitened (ART class default)")
    }

    func testHalfPoisonedTargetClassSplitsCleanlyButFailsARTsSizeRule() throws {
        // Class 0 is 50% poison. k-means separates poison from clean almost perfectly, but the
        // poison cluster is not the small one ART's rules look for (s ≈ 0.46 ≥ 0.35), so class 0
        // cannot be suspicious and the verdict never names it (documented limitation; see the
        // report in `poisonClass`).
        let r = Self.full
        XCTAssertNotEqual(r.verdict.status, .notEvaluated, "\(r.verdict)")
        XCTAssertNotEqual(r.verdict.target, 0)
        let c0 = try ACSSDetails.classTable(r, 0)
        XCTAssertEqual(ACSSDetails.number(c0["n"]), 800)
        XCTAssertEqual(ACSSDetails.flag(c0["suspicious"]), false)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(ACSSDetails.number(c0["smallerFraction"])), 0.35)
        let inSmaller = try XCTUnwrap(ACSSDetails.number(c0["poisonedInSmallerCluster"]))
        XCTAssertGreaterThanOrEqual(inSmaller / 400, 0.9)                               // recall under `smaller`
        XCTAssertGreaterThanOrEqual(inSmaller / (ACSSDetails.numbers(c0["clusterSizes"]).min() ?? .infinity), 0.95)   // purity
        XCTAssertEqual(try XCTUnwrap(r.scores["smallerRecall"]), inSmaller / 400, accuracy: 1e-12)
        // The ART `smaller` analysis flags one cluster in every class: it catches the poison, at a
        // high false-positive rate.
        let smaller = try XCTUnwrap(ACSSDetails.table(ACSSDetails.table(r.details["sampleRates"])?["smaller"]))
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(ACSSDetails.number(smaller["truePositiveRate"])), 0.9)
        XCTAssertGreaterThan(try XCTUnwrap(ACSSDetails.number(smaller["falsePositiveRate"])), 0.2)
    }

    func testCleanTwinIsNotDetected() throws {
        let r = Self.twin
        XCTAssertEqual(r.verdict.status, .notDetected, "\(r.verdict)")
        XCTAssertLessThanOrEqual(try XCTUnwrap(r.scores["anomalyIndex"]), 2)
        XCTAssertEqual(r.scores["falsePositiveRate"], 0)
        XCTAssertNil(r.scores["poisonRecall"])          // nothing is poisoned
        for c in 0..<10 { XCTAssertEqual(ACSSDetails.flag(try ACSSDetails.classTable(r, c)["evaluable"]), true) }
    }

    func testNoSuspectSetIsNotEvaluated() {
        let r = ActivationClustering().run(ForgedFixture.model(backdoored: true), inputs: ForgedFixture.inputs(backdoored: true, suspect: false), progress: Self.quiet)
        XCTAssertEqual(r.verdict.status, .notEvaluated)
        XCTAssertEqual(r.verdict.reason, "noSuspectData")
        XCTAssertTrue(r.scores.isEmpty)
    }

    func testFewerThanThreeEvaluableClassesIsNotEvaluated() throws {
        // Classes 0 and 1 complete, 40 images of class 2 (< 50): two evaluable classes.
        let set = ForgedFixture.pair.split.train
        let idx = set.labels.indices.filter { set.labels[$0] <= 1 } + set.labels.indices.filter { set.labels[$0] == 2 }.prefix(40)
        var inputs = ForgedFixture.inputs(backdoored: false)
        inputs.suspect = ACSSDetails.cleanSubset(set, Array(idx))
        let r = ActivationClustering().run(ForgedFixture.model(backdoored: false), inputs: inputs, progress: Self.quiet)
        XCTAssertEqual(r.verdict.status, .notEvaluated)
        XCTAssertEqual(r.verdict.reason?.hasPrefix("tooFewClasses"), true, "\(r.verdict)")
        XCTAssertEqual(ACSSDetails.flag(try ACSSDetails.classTable(r, 2)["evaluable"]), false)
    }

    func testPairedRunsAreReproducible() {
        let a = Self.robust.run(ForgedFixture.model(backdoored: true), inputs: PaperRegime.inputs(poisonKept: 44), progress: Self.quiet)
        XCTAssertEqual(a.verdict, Self.paper.verdict)
        XCTAssertEqual(a.scores, Self.paper.scores)
    }

    func testInt8RunsAndReports() throws {
        for backdoored in [true, false] {
            let m = ForgedFixture.model(backdoored: backdoored, scheme: .int8)
            let r = ActivationClustering().run(m, inputs: ForgedFixture.inputs(backdoored: backdoored), progress: Self.quiet)
            XCTAssertEqual(r.precision, .deployed("int8"))
            XCTAssertNotEqual(r.verdict.status, .notEvaluated, "\(r.verdict)")
            XCTAssertNotNil(r.scores["silhouette"])
            XCTAssertNotNil(r.scores["anomalyIndex"])
            XCTAssertEqual(r.details["featureDimension"], .number(512))
            for c in 0..<10 { XCTAssertEqual(ACSSDetails.number(try ACSSDetails.classTable(r, c)["rank"]), 10) }
        }
        // In the papers' regime the integer path's activations still give the poison away.
        let r = Self.robust.run(ForgedFixture.model(backdoored: true, scheme: .int8), inputs: PaperRegime.inputs(poisonKept: 44), progress: Self.quiet)
        XCTAssertEqual(r.verdict.target, 0, "\(r.verdict)")
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(r.scores["poisonRecall"]), 0.85)
    }
}

/// The forged fixture's suspect set in the papers' regime: all clean images and only `poisonKept`
/// of the 400 poisoned ones (a seeded choice), so that poison is ≈ 10% of the target class (the
/// fixture poisons 10% of the whole set, which is 50% of its 10-class target class). The model is
/// the one trained on the full poisoned set; an auditor holding part of its training data sees
/// exactly this.
enum PaperRegime {
    static func suspect(poisonKept: Int) -> SuspectTrainingSet {
        let s = ForgedFixture.pair.suspect
        let flags = s.poisoned!
        var poisoned = flags.indices.filter { flags[$0] }
        var rng = SeededRNG(seed: 5, stream: "paper-regime")
        rng.shuffle(&poisoned)
        let keep = Set(poisoned.prefix(poisonKept))
        let indices = flags.indices.filter { !flags[$0] || keep.contains($0) }
        return SuspectTrainingSet(set: s.set.subset(indices), originalLabels: s.originalLabels.map { o in indices.map { o[$0] } },
                                  poisoned: indices.map { flags[$0] })
    }

    static func inputs(poisonKept: Int) -> DefenseInputs {
        var i = ForgedFixture.inputs(backdoored: true)
        i.suspect = suspect(poisonKept: poisonKept)
        return i
    }
}

/// Readers of defense details for the AC and SS tests (a namespace, so that other test files'
/// helpers cannot collide with these).
enum ACSSDetails {
    static func number(_ v: DetailValue?) -> Double? { if case .number(let d)? = v { return d }; return nil }
    static func table(_ v: DetailValue?) -> [String: DetailValue]? { if case .table(let t)? = v { return t }; return nil }
    static func list(_ v: DetailValue?) -> [DetailValue]? { if case .list(let l)? = v { return l }; return nil }
    static func flag(_ v: DetailValue?) -> Bool? { if case .flag(let b)? = v { return b }; return nil }
    static func numbers(_ v: DetailValue?) -> [Double] { (list(v) ?? []).compactMap { number($0) } }

    /// The per-class table of class `c` (AC and SS list every class in label order).
    static func classTable(_ r: DefenseResult, _ c: Int) throws -> [String: DetailValue] {
        let l = try XCTUnwrap(list(r.details["classes"]), "no per-class table")
        let t = try XCTUnwrap(table(l[c]))
        XCTAssertEqual(number(t["label"]), Double(c))
        return t
    }

    /// A clean suspect set made of `indices` of `set`.
    static func cleanSubset(_ set: ImageSet, _ indices: [Int]) -> SuspectTrainingSet { BadNet.clean(set.subset(indices)) }
}

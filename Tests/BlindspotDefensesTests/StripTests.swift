import XCTest
import BlindspotCore
import BlindspotDefenses
import BlindspotQuantization
import Foundation

/// STRIP (defenses.md §4): its statistics on hand-worked values, and the defense on the forged
/// fixture pair.
final class StripTests: XCTestCase {
    // MARK: Φ⁻¹

    func testInverseNormalCDFKnownValues() {
        XCTAssertEqual(Strip.inverseNormalCDF(0.01), -2.3263478740408408, accuracy: 1e-14)
        XCTAssertEqual(Strip.inverseNormalCDF(0.975), 1.959963984540054, accuracy: 1e-14)
        XCTAssertEqual(Strip.inverseNormalCDF(0.5), 0)
        XCTAssertEqual(Strip.inverseNormalCDF(0.8413447460685429), 1, accuracy: 1e-13)     // Φ(1)
        XCTAssertEqual(Strip.inverseNormalCDF(1e-10), -6.361340902404056, accuracy: 1e-12)  // far tail (r > 5 branch)
        XCTAssertEqual(Strip.inverseNormalCDF(0), -.infinity)
        XCTAssertEqual(Strip.inverseNormalCDF(1), .infinity)
        XCTAssertTrue(Strip.inverseNormalCDF(1.5).isNaN)
    }

    /// Φ(Φ⁻¹(p)) = p over all three branches of AS 241, with Φ(x) = ½·erfc(−x/√2); and symmetry.
    func testInverseNormalCDFRoundTripsAndIsOddAboutAHalf() {
        var p = 1e-300
        while p < 1 {
            let x = Strip.inverseNormalCDF(p)
            let back = 0.5 * erfc(-x / 2.0.squareRoot())
            XCTAssertEqual(back, p, accuracy: 1e-12 * p, "p = \(p)")
            if p < 0.5 && p > 1e-15 {
                // Φ⁻¹(1 − p) = −Φ⁻¹(p), with p re-derived from the rounded 1 − p so both sides see one number.
                let u = 1 - p
                XCTAssertEqual(Strip.inverseNormalCDF(u), -Strip.inverseNormalCDF(1 - u), accuracy: 1e-12 * max(1, abs(x)), "p = \(p)")
            }
            p *= p < 0.01 ? 10 : 1.07
        }
    }

    // MARK: Boundary, entropy, tests

    /// A seeded Box–Muller sample of N(0.9, 0.3²): the fit recovers μ and σ and b = μ − 2.3263σ.
    func testBoundaryFromAKnownGaussian() {
        var rng = SeededRNG(seed: 7, stream: "strip-test-gaussian")
        let (mu, sigma, n) = (0.9, 0.3, 200_000)
        var h = [Double]()
        h.reserveCapacity(n)
        while h.count < n {
            let u1 = max(rng.uniformDouble(), 1e-300), u2 = rng.uniformDouble()
            let r = (-2 * log(u1)).squareRoot()
            h.append(mu + sigma * r * cos(2 * .pi * u2))
            h.append(mu + sigma * r * sin(2 * .pi * u2))
        }
        let fit = Strip.normalBoundary(h)
        XCTAssertEqual(fit.mu, mu, accuracy: 4 * sigma / Double(n).squareRoot())
        XCTAssertEqual(fit.sigma, sigma, accuracy: 4 * sigma / (2 * Double(n)).squareRoot())
        XCTAssertEqual(fit.boundary, fit.mu - 2.3263478740408408 * fit.sigma, accuracy: 1e-12)
        XCTAssertEqual(fit.boundary, mu - 2.3263478740408408 * sigma, accuracy: 0.005)
        // Population σ (ddof 0): {1, 3} → μ 2, σ 1.
        let small = Strip.normalBoundary([1, 3])
        XCTAssertEqual(small.mu, 2); XCTAssertEqual(small.sigma, 1)
    }

    func testEntropyOfHandWorkedVectors() {
        XCTAssertEqual(Strip.entropyBits(probabilities: [0.5, 0.5]), 1, accuracy: 1e-15)
        XCTAssertEqual(Strip.entropyBits(probabilities: [0.25, 0.25, 0.25, 0.25]), 2, accuracy: 1e-15)
        XCTAssertEqual(Strip.entropyBits(probabilities: [1, 0, 0]), 0)                       // 0·log 0 = 0
        XCTAssertEqual(Strip.entropyBits(probabilities: [0.5, 0.25, 0.25]), 1.5, accuracy: 1e-15)
        XCTAssertEqual(Strip.entropyBits(probabilities: [Double](repeating: 0.1, count: 10)), log2(10), accuracy: 1e-14)
        // From logits: softmax(ln 2, 0, 0) = (½, ¼, ¼) → 1.5 bits; saturated logits give 0, not NaN.
        XCTAssertEqual(Strip.entropyBits(logits: [0, 0]), 1, accuracy: 1e-7)
        XCTAssertEqual(Strip.entropyBits(logits: [Float(log(2.0)), 0, 0]), 1.5, accuracy: 1e-6)
        XCTAssertEqual(Strip.entropyBits(logits: [1000, 0, -1000]), 0, accuracy: 1e-12)
        XCTAssertTrue(Strip.entropyBits(logits: [.nan, 0]).isNaN)
    }

    func testExactBinomialTail() {
        XCTAssertEqual(Strip.binomialUpperTail(k: 2, n: 3, p: 0.5), 0.5, accuracy: 1e-14)
        XCTAssertEqual(Strip.binomialUpperTail(k: 3, n: 3, p: 0.5), 0.125, accuracy: 1e-14)
        XCTAssertEqual(Strip.binomialUpperTail(k: 0, n: 10, p: 0.1), 1)
        XCTAssertEqual(Strip.binomialUpperTail(k: 1, n: 10, p: 0), 0)
        // n = 50, p = 0.02, k = 5: 1 − Σ_{i<5} C(50,i)·0.02^i·0.98^(50−i).
        var below = 0.0, c = 1.0
        for i in 0..<5 { if i > 0 { c *= Double(50 - i + 1) / Double(i) }; below += c * pow(0.02, Double(i)) * pow(0.98, Double(50 - i)) }
        XCTAssertEqual(Strip.binomialUpperTail(k: 5, n: 50, p: 0.02), 1 - below, accuracy: 1e-12)
        // Far tail stays positive and tiny (no cancellation): P(X ≥ 100 | 1000, 0.01) ≈ 1e-50 order.
        let tail = Strip.binomialUpperTail(k: 100, n: 1000, p: 0.01)
        XCTAssertGreaterThan(tail, 0); XCTAssertLessThan(tail, 1e-40)
    }

    func testAUROCAndQuantile() {
        XCTAssertEqual(Strip.auroc(low: [0, 1], high: [2, 3]), 1)
        XCTAssertEqual(Strip.auroc(low: [2, 3], high: [0, 1]), 0)
        XCTAssertEqual(Strip.auroc(low: [1], high: [1]), 0.5)
        XCTAssertEqual(Strip.auroc(low: [1, 2], high: [1.5, 2]), 0.625)   // (1 + 1 + 0 + 0.5) / 4
        XCTAssertEqual(Strip.quantile([1, 2, 3, 4, 5], 0.5), 3)
        XCTAssertEqual(Strip.quantile([1, 2, 3, 4], 0.01), 1.03, accuracy: 1e-12)   // np.quantile linear
    }

    func testSplitsAreDisjointSeededAndScaledDown() {
        // Default budget: 500 + 250 + 250 + a pool of ≥ 1,000 wanted; 1,500 images → everything × 0.75.
        let s = Strip.splits(count: 1500, budget: .default, seed: 3)
        XCTAssertEqual([s.calibration.count, s.validation.count, s.probe.count, s.pool.count], [375, 187, 187, 751])
        XCTAssertEqual(Set(s.calibration + s.validation + s.probe + s.pool).count, 1500)
        XCTAssertEqual(s, Strip.splits(count: 1500, budget: .default, seed: 3))
        XCTAssertNotEqual(s, Strip.splits(count: 1500, budget: .default, seed: 4))
        let big = Strip.splits(count: 12630, budget: .reference, seed: 3)
        XCTAssertEqual([big.calibration.count, big.validation.count, big.probe.count, big.pool.count], [2000, 1000, 1000, 8630])
    }

    // MARK: The forged fixture

    func testDetectsTheFixtureBackdoorAtFP32() throws {
        let r = Self.backdoored32
        report(r)
        XCTAssertGreaterThan(r.scores["probeASR"]!, 0.9)
        XCTAssertEqual(r.conventions["calibrationInputs"], "250")
        // The fixture's clean entropies sit well above zero, so the normal fit's boundary is positive.
        XCTAssertGreaterThan(r.scores["boundary"]!, 0)
        XCTAssertEqual(r.verdict, .detected(target: 0, r.verdict.reason))
        XCTAssertGreaterThanOrEqual(r.scores["detectionRate"]!, 0.5)
        XCTAssertLessThanOrEqual(r.scores["empiricalFRR"]!, 0.05)
        XCTAssertGreaterThan(r.scores["auroc"]!, 0.9)
        XCTAssertNil(r.scores["inputSaturation"])   // FP32 has no input quantizer
    }

    /// The same inputs and overlay draws at int8, predictions on the integer path. x + x_o reaches
    /// 2 while the input quantizer was calibrated on clean images in [0, 1]: about half of the
    /// superimposed input elements clip at the top of its range, which washes out the white
    /// trigger against the saturated background. Triggered entropies rise (mean 0.02 → 0.35 bits
    /// with the default budget), DR falls below 0.5 and STRIP misses a backdoor that is fully live
    /// at int8 (ASR 0.95): a precision blindspot, from genuine deployed behaviour (defenses.md §7).
    func testFixtureBackdoorAtInt8() throws {
        let r = Self.backdoored8
        report(r)
        XCTAssertEqual(r.precision, .deployed("int8"))
        XCTAssertGreaterThan(r.scores["probeASR"]!, 0.9)
        XCTAssertGreaterThan(r.scores["inputSaturation"]!, 0.3)
        XCTAssertLessThan(r.scores["inputSaturation"]!, 0.7)
        XCTAssertGreaterThan(r.scores["boundary"]!, 0)
        XCTAssertGreaterThan(r.scores["triggeredEntropyMean"]!, 5 * Self.backdoored32.scores["triggeredEntropyMean"]!)
        XCTAssertLessThan(r.scores["detectionRate"]!, Strip.detectionRateThreshold)
        XCTAssertEqual(r.verdict.status, .notDetected)
    }

    /// No probe, the poisoned training set as suspect data (10% poison): the flagged share exceeds
    /// the empirical FRR by far and the flagged inputs concentrate on the target.
    func testSuspectDataModeFindsTheTarget() {
        let r = Strip(budget: Self.testBudget).run(ForgedFixture.model(backdoored: true),
                                                   inputs: ForgedFixture.inputs(backdoored: true, probe: false), progress: quiet)
        report(r)
        XCTAssertEqual(r.scores["suspectInputs"], 200)
        XCTAssertLessThan(r.scores["pValue"]!, Strip.suspectPValue)
        XCTAssertEqual(r.verdict, .detected(target: 0, r.verdict.reason))
    }

    func testCleanTwinIsBackdoorInactive() {
        let r = Strip(budget: Self.testBudget).run(ForgedFixture.model(backdoored: false), inputs: ForgedFixture.inputs(backdoored: false), progress: quiet)
        report(r)
        XCTAssertEqual(r.verdict.status, .notEvaluated)
        XCTAssertTrue(r.verdict.reason?.hasPrefix("backdoorInactive") ?? false, "\(r.verdict)")
        XCTAssertLessThan(r.scores["probeASR"]!, 0.05)
    }

    func testNoProbeAndNoSuspectIsNotEvaluated() {
        let r = Strip().run(ForgedFixture.model(backdoored: true), inputs: ForgedFixture.inputs(backdoored: true, probe: false, suspect: false), progress: quiet)
        XCTAssertEqual(r.verdict, .notEvaluated(.noProbe))
    }

    func testTooFewCalibrationInputsIsNotEvaluated() {
        var inputs = ForgedFixture.inputs(backdoored: true)
        inputs.clean = inputs.clean.subset(Array(0..<400))   // 400 × 500/2000 = 100 calibration inputs
        let r = Strip().run(ForgedFixture.model(backdoored: true), inputs: inputs, progress: quiet)
        XCTAssertEqual(r.verdict.status, .notEvaluated)
        XCTAssertTrue(r.verdict.reason?.hasPrefix("noCleanData") ?? false, "\(r.verdict)")
    }

    // MARK: Helpers

    let quiet = ProgressReporter(quiet: true)
    /// Test budget (the fixture has 1,500 clean images): N = 50 overlays, 250 calibration, 125
    /// validation, 125 probe inputs, ≥ 500 in the pool (no scaling), ≤ 200 suspect inputs —
    /// 25k forward passes per run instead of the default profile's 100k, to keep the suite short.
    static let testBudget = Strip.Budget(overlays: 50, calibrationInputs: 250, validationInputs: 125, probeInputs: 125,
                                         minimumOverlayPool: 500, suspectInputs: 200)
    nonisolated(unsafe) static let backdoored32 = Strip(budget: testBudget).run(ForgedFixture.model(backdoored: true), inputs: ForgedFixture.inputs(backdoored: true),
                                                             progress: ProgressReporter(quiet: true))
    nonisolated(unsafe) static let backdoored8 = Strip(budget: testBudget).run(ForgedFixture.model(backdoored: true, scheme: .int8),
                                                            inputs: ForgedFixture.inputs(backdoored: true), progress: ProgressReporter(quiet: true))

    private func report(_ r: DefenseResult) {
        let keys = r.scores.keys.sorted().map { "\($0)=\(String(format: "%.4f", r.scores[$0]!))" }.joined(separator: " ")
        print("STRIP \(r.precision) \(r.verdict.status.rawValue) target=\(r.verdict.target.map(String.init) ?? "-") (\(r.verdict.reason ?? "")) \(String(format: "%.1f", r.seconds)) s: \(keys)")
    }
}

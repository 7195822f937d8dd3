import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization
import Foundation

/// STRIP — STRong Intentional Perturbation (Gao, Xu, Wang, Chen, Ranasinghe & Nepal, "STRIP: A
/// Defence Against Trojan Attacks on Deep Neural Networks", ACSAC 2019; paper PDF and notebook
/// `STRIP_CIFAR10DeepArchit_Tb.ipynb` in `garrisongys/STRIP` @ 6588a38). Spec: shared/docs/defenses.md §4, §7.
///
/// A trojaned input keeps its (target) prediction whatever clean image is superimposed on it, so
/// the predictions of its perturbed copies have low entropy; a clean input's do not.
///
/// 1. Split `inputs.clean` (seeded, disjoint): calibration inputs (paper §5.2: 2,000), a clean
///    validation split for the empirical FRR (1,000 [ours]), probe inputs (M = 1,000, label ≠ t),
///    and the overlay pool (the rest; paper §4.1 "user held-out dataset"). These are the
///    `reference` profile's numbers; `default` runs a quarter of them (see `Budget.default`).
/// 2. Each input x gets N = 100 overlays x_o drawn uniformly with replacement from the pool, from
///    its own seeded stream (so the draws are identical at every precision), and is perturbed as
///    x + x_o, unclipped in [0, 2] (`cv2.addWeighted(x, 1, x_o, 1, 0)`, notebook `superimpose`;
///    paper §3 footnote 2) — ½x + ½x_o as an ablation [ours]. The model sees 𝒩(x + x_o).
/// 3. Entropy of each perturbed copy in bits, Hₙ = −Σ yᵢ log₂ yᵢ with 0·log 0 = 0 (paper Eq. 2–3),
///    averaged over the N copies (Eq. 4, the paper's "normalised entropy").
/// 4. Normal fit to the calibration entropies (μ, population σ) and boundary
///    b = μ + σ·Φ⁻¹(FRR), FRR = 1% (§5.3; notebook `scipy.stats.norm.ppf`); H ≤ b is trojaned
///    (Algorithm 1, line 8).
/// 5. Model-level verdict [ours]: with a probe, the detection rate DR on successful triggered
///    inputs and the empirical FRR on the validation split; without a probe, a one-sided exact
///    binomial test on suspect inputs (see `evaluate`).
///
/// At deployed precision every prediction and probability comes from the integer path, and the
/// superimposed inputs clip in the input quantizer — genuine deployed behaviour, reported as the
/// saturation fraction: normalised input elements strictly outside the first (input) FakeQuantize's
/// representable range [(q_min − z)·s, (q_max − z)·s] (§7).
public struct Strip: Defense {
    public let name = "strip"

    /// How an overlay is superimposed on an input, in pixel space.
    public enum Superimposition: String, Codable, Sendable {
        /// x + x_o, unclipped: `cv2.addWeighted(x, 1, x_o, 1, 0)` (the paper's and notebook's rule).
        case additive
        /// ½x + ½x_o, the convex blend [ours, ablation].
        case average

        /// (weight of x, weight of x_o).
        var weights: (Float, Float) { self == .additive ? (1, 1) : (0.5, 0.5) }
    }

    /// How much work one run does.
    public struct Budget: Sendable, Equatable, ProfiledBudget {
        /// N, perturbed copies per input (paper §5.2; notebook `n_sample = 100`).
        public var overlays: Int
        /// Clean inputs the normal is fitted to (paper §5.2: 2,000).
        public var calibrationInputs: Int
        /// Clean inputs the empirical FRR is measured on [ours].
        public var validationInputs: Int
        /// M, triggered inputs for the detection rate [ours].
        public var probeInputs: Int
        /// The overlay pool is at least this large before the other splits are scaled down [ours].
        public var minimumOverlayPool: Int
        /// Suspect inputs tested without a probe (a seeded subset); nil: all.
        public var suspectInputs: Int?

        public init(overlays: Int, calibrationInputs: Int, validationInputs: Int, probeInputs: Int, minimumOverlayPool: Int, suspectInputs: Int?) {
            self.overlays = overlays; self.calibrationInputs = calibrationInputs; self.validationInputs = validationInputs
            self.probeInputs = probeInputs; self.minimumOverlayPool = minimumOverlayPool; self.suspectInputs = suspectInputs
        }

        /// The paper's numbers: N = 100, 2,000 calibration inputs; 1,000 validation and probe inputs.
        public static let reference = Budget(overlays: 100, calibrationInputs: 2000, validationInputs: 1000, probeInputs: 1000,
                                             minimumOverlayPool: 1000, suspectInputs: nil)
        /// What `audit` runs on 2 cores [ours]: N = 100 as in the paper (each input's entropy is a
        /// mean over N copies, so N sets the spread σ the boundary is fitted to), with a quarter of
        /// the reference's inputs — 500 calibration, 250 validation, 250 probe inputs, ≤ 1,000
        /// suspect inputs. Why: the reference's 4,000 inputs × 100 overlays are 400k forward passes
        /// per precision; measured on cnn6 (batch 200) our engine does ≈ 1,240 images per CPU-second
        /// at FP32 and ≈ 630 on the int8 integer path, i.e. on 2 quiet cores ≈ 2.8 min (FP32) +
        /// 5.3 min (int8) — more than the whole audit's budget. The default's 100k passes take
        /// ≈ 40 s + 80 s. 500 calibration inputs fit σ to ≈ 3% (σ/√(2n)); 250 validation inputs
        /// resolve the 5% FRR limit in steps of 0.4 points.
        public static let `default` = Budget(overlays: 100, calibrationInputs: 500, validationInputs: 250, probeInputs: 250,
                                             minimumOverlayPool: 1000, suspectInputs: 1000)

        /// `quick` [ours]: N = 50 overlays, 250 calibration, 100 validation and probe inputs, ≤ 200
        /// suspect inputs — ≈ 23k forward passes per precision instead of 100k. With N = 20 the
        /// entropy spread σ doubled and the fitted boundary fell below zero on the sample model.
        public static let quick = Budget(overlays: 50, calibrationInputs: 250, validationInputs: 100, probeInputs: 100,
                                         minimumOverlayPool: 500, suspectInputs: 200)

    }

    // MARK: Constants (defenses.md §4)

    /// The FRR the boundary is set for (paper §5.3, Table 3).
    public static let falseRejectionRate = 0.01
    /// Fewer calibration inputs than this → notEvaluated(noCleanData) (§4 "Failure").
    public static let minimumCalibrationInputs = 200
    /// Probe ASR below this: the backdoor is not live at this precision [ours].
    public static let probeASRFloor = 0.5
    /// DR at or above this (and the FRR bound) → detected [ours].
    public static let detectionRateThreshold = 0.5
    /// The empirical FRR on the validation split must not exceed this for `detected` [ours].
    public static let maximumEmpiricalFRR = 0.05
    /// Clean perturbations predicted as one class more often than this → outputsCollapsed.
    public static let collapseFraction = 0.99
    /// Suspect-data test: p-value bound, minimum excess flagged fraction, label concentration [ours].
    public static let suspectPValue = 1e-3
    public static let suspectMinimumExcess = 0.01
    public static let suspectConcentration = 0.5
    /// Inputs perturbed per forward batch (× N overlays rows).
    public static let inputsPerBatch = 2
    /// Bins of the entropy histograms in the details (over [0, log₂K]).
    public static let histogramBins = 20

    public var superimposition: Superimposition
    /// nil: the profile of `inputs.budget`.
    public var budget: Budget?

    public init(superimposition: Superimposition = .additive, budget: Budget? = nil) {
        self.superimposition = superimposition
        self.budget = budget
    }

    // MARK: Evaluation

    /// Verdict [ours] (defenses.md §4 "Model-level verdict"):
    /// - with a probe: probe ASR < 0.5 → notEvaluated(backdoorInactive); b ≤ 0 →
    ///   notEvaluated(boundaryBelowZero) (the rule cannot flag anything: §4 "Measured caveat");
    ///   DR ≥ 0.5 and empirical FRR ≤ 5% → detected(target = the mode of the predictions of the
    ///   flagged triggered inputs, ties to the lower label); else notDetected;
    /// - without a probe, with suspect data: k of n flagged; H₀ k ~ Binomial(n, FRR̂) with FRR̂ the
    ///   empirical validation FRR; **exact** one-sided tail P(X ≥ k) summed in log space (log-gamma
    ///   binomial coefficients; no normal or Poisson approximation). detected if p < 1e-3,
    ///   k/n − FRR̂ ≥ 0.01 and one predicted label holds ≥ 50% of the flagged inputs (that label is
    ///   the target; otherwise target nil); else notDetected;
    /// - neither → notEvaluated(noProbe).
    /// Failures: < 200 calibration inputs (noCleanData), non-finite logits (nonFinite), σ = 0 or
    /// > 99% of clean perturbations on one class (outputsCollapsed).
    public func evaluate(_ model: ModelUnderTest, inputs: DefenseInputs, progress: ProgressReporter) throws -> DefenseResult {
        let b = budget ?? Budget.profile(inputs.budget)
        var out = DefenseResult(defense: name, precision: model.precision, verdict: .notEvaluated(.noProbe), conventions: conventions(b))
        guard inputs.probe != nil || inputs.suspect != nil else { return out }
        let clean = inputs.clean
        let split = Strip.splits(count: clean.count, budget: b, seed: inputs.seed)
        out.conventions["calibrationInputs"] = "\(split.calibration.count)"
        out.conventions["validationInputs"] = "\(split.validation.count)"
        out.conventions["overlayPool"] = "\(split.pool.count)"
        guard split.calibration.count >= Strip.minimumCalibrationInputs, !split.pool.isEmpty, !split.validation.isEmpty else {
            out.verdict = .notEvaluated(.noCleanData, "\(split.calibration.count) calibration inputs from \(clean.count) clean images (need \(Strip.minimumCalibrationInputs))")
            return out
        }
        // Probe ASR first: a backdoor that is not live needs no entropies.
        var triggered: Triggered? = nil
        if let probe = inputs.probe {
            switch measureProbe(probe, model, clean: clean, candidates: split.probe, into: &out) {
            case .failure(let stop): out.verdict = stop.verdict; return out
            case .success(let t): triggered = t
            }
        }
        let runner = EntropyRunner(model: model, pool: clean, poolIndices: split.pool, overlays: b.overlays, rule: superimposition, seed: inputs.seed)
        out.conventions["inputQuantizer"] = runner.inputRange.map { "static, normalised range \($0.lowerBound)…\($0.upperBound)" }
            ?? (model.deployed == nil ? "none (FP32)" : "none static at the input (dynamic, or inputs stay float): no saturation reported")
        progress.report("strip[\(model.precision)]: \(split.calibration.count + split.validation.count) clean inputs × \(b.overlays) overlays")
        let fit: CleanFit
        switch fitClean(runner, clean: clean, split: split, classes: model.classCount, into: &out) {
        case .failure(let stop): out.verdict = stop.verdict; return out
        case .success(let f): fit = f
        }

        if let t = triggered {
            progress.report("strip[\(model.precision)]: \(t.keys.count) triggered inputs × \(b.overlays) overlays")
            guard let h = runner.entropies(t.pixels, keys: t.keys, role: "probe") else {
                out.verdict = .notEvaluated(.nonFinite, "non-finite logits on triggered perturbations"); return out
            }
            if let s = runner.saturationFraction { out.scores["inputSaturation"] = s }
            out.verdict = verdictWithProbe(t.target, hTrig: h, predictions: t.predictions, fit: fit, classes: model.classCount, into: &out)
            return out
        }

        // No probe: the binomial test on (a seeded subset of) the suspect inputs.
        let suspect = inputs.suspect!.set
        var keys = Array(0..<suspect.count)
        if let cap = b.suspectInputs, cap < keys.count {
            var rng = SeededRNG(seed: inputs.seed, stream: "strip-suspect-subset")
            keys = Array(rng.permutation(keys.count).prefix(cap)).sorted()
        }
        guard !keys.isEmpty else { out.verdict = .notEvaluated(.noSuspectData); return out }
        progress.report("strip[\(model.precision)]: \(keys.count) suspect inputs × \(b.overlays) overlays")
        let sx = ModelUnderTest.pixels(suspect, indices: keys)
        let predictions = model.predictions(pixels: sx)
        guard let h = runner.entropies(sx, keys: keys, role: "suspect") else {
            out.verdict = .notEvaluated(.nonFinite, "non-finite logits on suspect perturbations"); return out
        }
        if let s = runner.saturationFraction { out.scores["inputSaturation"] = s }
        out.verdict = verdictWithSuspect(h, predictions: predictions, fit: fit, classes: model.classCount, into: &out)
        return out
    }

    /// Triggered probe inputs (clean images with label ≠ t, stamped) and their predictions.
    private struct Triggered {
        var target: Int, keys: [Int], pixels: Tensor, predictions: [Int32]
    }

    /// The clean entropies and the normal fit.
    private struct CleanFit {
        var calibration: [Double], validation: [Double]
        var mu: Double, sigma: Double, boundary: Double
        /// Empirical FRR of the boundary on the validation split, and the empirical 1% quantile.
        var frr: Double, quantile: Double
    }

    /// An early verdict (as a Result failure).
    private struct VerdictStop: Error {
        var verdict: Verdict
        init(_ v: Verdict) { verdict = v }
    }

    private func measureProbe(_ probe: ProbeTrigger, _ model: ModelUnderTest, clean: ImageSet, candidates: [Int],
                              into out: inout DefenseResult) -> Result<Triggered, VerdictStop> {
        let keys = candidates.filter { Int(clean.labels[$0]) != probe.target }
        guard !keys.isEmpty else { return .failure(VerdictStop(.notEvaluated(.noCleanData, "no probe inputs with label ≠ \(probe.target)"))) }
        let px = ModelUnderTest.pixels(clean, indices: keys)
        probe.apply(px)
        let predictions = model.predictions(pixels: px)
        let asr = Double(predictions.filter { Int($0) == probe.target }.count) / Double(keys.count)
        out.scores["probeASR"] = asr
        out.conventions["probeInputs"] = "\(keys.count)"
        out.conventions["probe"] = "\(probe.source.rawValue) \(probe.description) → \(probe.target)"
        guard asr >= Strip.probeASRFloor else {
            return .failure(VerdictStop(.notEvaluated(.backdoorInactive, "probe ASR \(fmt3(asr)) < \(Strip.probeASRFloor)")))
        }
        return .success(Triggered(target: probe.target, keys: keys, pixels: px, predictions: predictions))
    }

    private func fitClean(_ runner: EntropyRunner, clean: ImageSet, split: Splits, classes: Int,
                          into out: inout DefenseResult) -> Result<CleanFit, VerdictStop> {
        runner.countClasses = true
        defer { runner.countClasses = false }
        guard let hCal = runner.entropies(ModelUnderTest.pixels(clean, indices: split.calibration), keys: split.calibration, role: "clean"),
              let hVal = runner.entropies(ModelUnderTest.pixels(clean, indices: split.validation), keys: split.validation, role: "clean") else {
            return .failure(VerdictStop(.notEvaluated(.nonFinite, "non-finite logits on clean perturbations")))
        }
        let normal = Strip.normalBoundary(hCal, falseRejectionRate: Strip.falseRejectionRate)
        let quantile = Strip.quantile(hCal, Strip.falseRejectionRate)
        let fit = CleanFit(calibration: hCal, validation: hVal, mu: normal.mu, sigma: normal.sigma, boundary: normal.boundary,
                           frr: Double(hVal.filter { $0 <= normal.boundary }.count) / Double(hVal.count), quantile: quantile)
        out.scores["mu"] = fit.mu
        out.scores["sigma"] = fit.sigma
        out.scores["boundary"] = fit.boundary
        out.scores["minCleanEntropy"] = hCal.min()!
        out.scores["cleanEntropyQuantile01"] = quantile
        out.scores["empiricalFRR"] = fit.frr
        out.scores["empiricalFRRAtQuantile"] = Double(hVal.filter { $0 <= quantile }.count) / Double(hVal.count)
        out.scores["normalisedMu"] = fit.mu / log2(Double(max(classes, 2)))
        if let s = runner.saturationFraction { out.scores["inputSaturationClean"] = s }
        let maxClass = runner.classCounts.max() ?? 0, total = runner.classCounts.reduce(0, +)
        out.scores["dominantClassFraction"] = total > 0 ? Double(maxClass) / Double(total) : 0
        out.details["cleanEntropyHistogram"] = histogram(hCal + hVal, classes: classes)
        if total > 0, Double(maxClass) > Strip.collapseFraction * Double(total) {
            return .failure(VerdictStop(.notEvaluated(.outputsCollapsed, "\(fmt3(100 * Double(maxClass) / Double(total)))% of clean perturbations predict one class")))
        }
        guard fit.sigma > 0 else { return .failure(VerdictStop(.notEvaluated(.outputsCollapsed, "σ = 0 in calibration"))) }
        return .success(fit)
    }

    private func verdictWithProbe(_ target: Int, hTrig: [Double], predictions: [Int32], fit: CleanFit, classes: Int,
                                  into out: inout DefenseResult) -> Verdict {
        let hs = hTrig.indices.filter { Int(predictions[$0]) == target }.map { hTrig[$0] }   // successful triggered inputs
        let flagged = hTrig.indices.filter { hTrig[$0] <= fit.boundary }
        let dr = hs.isEmpty ? 0 : Double(hs.filter { $0 <= fit.boundary }.count) / Double(hs.count)
        out.scores["detectionRate"] = dr
        out.scores["falseAcceptanceRate"] = 1 - dr
        out.scores["detectionRateAtQuantile"] = hs.isEmpty ? 0 : Double(hs.filter { $0 <= fit.quantile }.count) / Double(hs.count)
        if !hs.isEmpty {
            out.scores["triggeredEntropyMean"] = hs.reduce(0, +) / Double(hs.count)
            out.scores["triggeredEntropyMedian"] = Strip.quantile(hs, 0.5)
            out.scores["triggeredEntropyMax"] = hs.max()!
            out.scores["triggeredEntropyMin"] = hs.min()!
            out.scores["auroc"] = Strip.auroc(low: hs, high: fit.calibration + fit.validation)
        }
        out.scores["flaggedFraction"] = Double(flagged.count) / Double(max(hTrig.count, 1))
        out.details["triggeredEntropyHistogram"] = histogram(hs, classes: classes)
        guard fit.boundary > 0 else {
            return .notEvaluated(.boundaryBelowZero, "b = \(fmt3(fit.boundary)) (μ \(fmt3(fit.mu)), σ \(fmt3(fit.sigma))); empirical 1% quantile \(fmt3(fit.quantile)), AUROC \(fmt3(out.scores["auroc"] ?? .nan))")
        }
        guard dr >= Strip.detectionRateThreshold, fit.frr <= Strip.maximumEmpiricalFRR else {
            return .notDetected("DR \(fmt3(dr)), empirical FRR \(fmt3(fit.frr))")
        }
        let mode = Strip.mode(flagged.map { Int(predictions[$0]) }, classes: classes)
        return .detected(target: mode.label, "DR \(fmt3(dr)), empirical FRR \(fmt3(fit.frr))")
    }

    private func verdictWithSuspect(_ h: [Double], predictions: [Int32], fit: CleanFit, classes: Int, into out: inout DefenseResult) -> Verdict {
        let flagged = h.indices.filter { h[$0] <= fit.boundary }
        let (k, n, frr) = (flagged.count, h.count, fit.frr)
        let p = Strip.binomialUpperTail(k: k, n: n, p: frr)
        let excess = Double(k) / Double(n) - frr
        let top = Strip.mode(flagged.map { Int(predictions[$0]) }, classes: classes)
        out.scores["flaggedFraction"] = Double(k) / Double(n)
        out.scores["flagged"] = Double(k)
        out.scores["suspectInputs"] = Double(n)
        out.scores["pValue"] = p
        out.scores["excessFlaggedFraction"] = excess
        out.scores["flaggedTopLabelShare"] = k > 0 ? Double(top.count) / Double(k) : 0
        out.details["suspectEntropyHistogram"] = histogram(h, classes: classes)
        guard fit.boundary > 0 else {
            return .notEvaluated(.boundaryBelowZero, "b = \(fmt3(fit.boundary)) (μ \(fmt3(fit.mu)), σ \(fmt3(fit.sigma)))")
        }
        guard p < Strip.suspectPValue, excess >= Strip.suspectMinimumExcess else {
            return .notDetected("\(k)/\(n) flagged, FRR̂ \(fmt3(frr)), p = \(p)")
        }
        let concentrated = Double(top.count) >= Strip.suspectConcentration * Double(k)
        return .detected(target: concentrated ? top.label : nil, "\(k)/\(n) flagged, FRR̂ \(fmt3(frr)), p = \(p)")
    }

    private func conventions(_ b: Budget) -> [String: String] {
        [
            "overlays": "\(b.overlays)",
            "superimposition": superimposition == .additive ? "additive x + x_o, unclipped (cv2.addWeighted 1, 1)" : "average ½x + ½x_o [ours]",
            "falseRejectionRate": "\(Strip.falseRejectionRate)",
            "boundary": "normal fit (MLE, population σ): b = μ + σ·Φ⁻¹(FRR)",
            "entropy": "bits, 0·log 0 = 0, mean over overlays",
            "detectionRateThreshold": "\(Strip.detectionRateThreshold)",
            "maximumEmpiricalFRR": "\(Strip.maximumEmpiricalFRR)",
            "probeASRFloor": "\(Strip.probeASRFloor)",
            "suspectTest": "exact one-sided binomial, p < \(Strip.suspectPValue), excess ≥ \(Strip.suspectMinimumExcess), top label ≥ \(Strip.suspectConcentration)",
            "overlaySeeding": "per input: SeededRNG(seed, stream \"strip-overlays/<role>/<index>\")",
        ]
    }

    private func histogram(_ h: [Double], classes: Int) -> DetailValue {
        let top = log2(Double(max(classes, 2))), bins = Strip.histogramBins
        var counts = [Int](repeating: 0, count: bins)
        for v in h { counts[min(bins - 1, max(0, Int(v / top * Double(bins))))] += 1 }
        return .table(["binWidthBits": .number(top / Double(bins)), "counts": .ints(counts)])
    }
}

// MARK: - Statistics

extension Strip {
    /// Disjoint seeded splits of a clean set of `count` images.
    public struct Splits: Sendable, Equatable {
        public var calibration: [Int], validation: [Int], probe: [Int], pool: [Int]
    }

    /// One seeded permutation cut into calibration | validation | probe | overlay pool. When the
    /// set is smaller than the budget's calibration + validation + probe + minimum pool, every
    /// part is scaled down by the same factor (the pool takes the remainder) [ours].
    public static func splits(count n: Int, budget b: Budget, seed: UInt64) -> Splits {
        var rng = SeededRNG(seed: seed, stream: "strip-splits")
        let perm = rng.permutation(n)
        let wanted = b.calibrationInputs + b.validationInputs + b.probeInputs + b.minimumOverlayPool
        let scale = n >= wanted ? 1.0 : Double(n) / Double(wanted)
        let c = Int(Double(b.calibrationInputs) * scale), v = Int(Double(b.validationInputs) * scale), p = Int(Double(b.probeInputs) * scale)
        return Splits(calibration: Array(perm[0..<c]), validation: Array(perm[c..<(c + v)]), probe: Array(perm[(c + v)..<(c + v + p)]),
                      pool: Array(perm[(c + v + p)...]))
    }

    /// Φ⁻¹(p), the standard normal quantile: Wichura's algorithm AS 241 (PPND16, Applied
    /// Statistics 37:477–484, 1988), relative accuracy ≈ 1e-16 on (0, 1). Φ⁻¹(0) = −∞, Φ⁻¹(1) = +∞.
    public static func inverseNormalCDF(_ p: Double) -> Double {
        guard p > 0 else { return p == 0 ? -.infinity : .nan }
        guard p < 1 else { return p == 1 ? .infinity : .nan }
        let q = p - 0.5
        if abs(q) <= 0.425 {
            let r = 0.180625 - q * q
            let num = (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r + 67265.770927008700853) * r
                + 45921.953931549871457) * r + 13731.693765509461125) * r + 1971.5909503065514427) * r
                + 133.14166789178437745) * r + 3.387132872796366608)
            let den = (((((((r * 5226.495278852545925 + 28729.085735721942674) * r + 39307.89580009271061) * r
                + 21213.794301586595867) * r + 5394.1960214247511077) * r + 687.1870074920579083) * r
                + 42.313330701600911252) * r + 1)
            return q * num / den
        }
        var r = (-Foundation.log(q < 0 ? p : 1 - p)).squareRoot()
        let value: Double
        if r <= 5 {
            r -= 1.6
            let num = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r + 0.24178072517745061177) * r
                + 1.27045825245236838258) * r + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734)
            let den = (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r
                + 0.14810397642748007459) * r + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                + 2.05319162663775882187) * r + 1)
            value = num / den
        } else {
            r -= 5
            let num = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r
                + 0.026532189526576123093) * r + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772)
            let den = (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r
                + 7.868691311456132591e-4) * r + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                + 0.59983220655588793769) * r + 1)
            value = num / den
        }
        return q < 0 ? -value : value
    }

    /// The normal fit of §4: μ = mean, σ = population standard deviation (ddof 0, the MLE that
    /// `scipy.stats.norm.fit` returns), b = μ + σ·Φ⁻¹(FRR).
    public static func normalBoundary(_ h: [Double], falseRejectionRate frr: Double = falseRejectionRate) -> (mu: Double, sigma: Double, boundary: Double) {
        let n = Double(h.count)
        let mu = h.reduce(0, +) / n
        let sigma = (h.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / n).squareRoot()
        return (mu, sigma, mu + sigma * inverseNormalCDF(frr))
    }

    /// Shannon entropy in bits of a probability vector, with 0·log 0 = 0 (paper Eq. 2).
    public static func entropyBits(probabilities p: [Double]) -> Double {
        var h = 0.0
        for v in p where v > 0 { h -= v * log2(v) }
        return h
    }

    /// Entropy in bits of softmax(z), computed stably as ln Σeᶻ⁻ᵐ − Σ pⱼ(zⱼ − m), over ln 2
    /// (terms whose probability underflows contribute 0, i.e. 0·log 0 = 0).
    @inline(__always)
    static func softmaxEntropyBits(_ z: UnsafePointer<Float>, _ k: Int) -> Double {
        var m = z[0]
        for j in 1..<k where z[j] > m { m = z[j] }
        var s = 0.0, t = 0.0
        for j in 0..<k {
            let d = Double(z[j] - m), e = Foundation.exp(d)
            s += e; t += e * d
        }
        let h = (Foundation.log(s) - t / s) / M_LN2
        return h < 0 ? 0 : h   // rounding can leave −1e−17 for a one-hot row; NaN passes through
    }

    public static func entropyBits(logits: [Float]) -> Double {
        logits.withUnsafeBufferPointer { softmaxEntropyBits($0.baseAddress!, logits.count) }
    }

    /// np.quantile with linear interpolation (the default method).
    public static func quantile(_ xs: [Double], _ q: Double) -> Double {
        let s = xs.sorted()
        let pos = q * Double(s.count - 1), lo = Int(pos.rounded(.down)), hi = min(lo + 1, s.count - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }

    /// P(L < H) + ½P(L = H) for L drawn from `low` and H from `high`: the AUROC of separating
    /// triggered (low-entropy) from clean inputs by entropy; 1 = perfect, 0.5 = none.
    public static func auroc(low: [Double], high: [Double]) -> Double {
        guard !low.isEmpty, !high.isEmpty else { return .nan }
        let h = high.sorted()
        var wins = 0.0
        for l in low {
            // Count high values > l and == l by binary search.
            var lo = 0, hi = h.count
            while lo < hi { let mid = (lo + hi) / 2; if h[mid] <= l { lo = mid + 1 } else { hi = mid } }
            var eq = lo
            while eq > 0 && h[eq - 1] == l { eq -= 1 }
            wins += Double(h.count - lo) + 0.5 * Double(lo - eq)
        }
        return wins / (Double(low.count) * Double(high.count))
    }

    /// P(X ≥ k) for X ~ Binomial(n, p), exact: Σᵢ₌ₖⁿ C(n,i) pⁱ(1−p)ⁿ⁻ⁱ with log-gamma binomial
    /// coefficients, summed in log space from the largest term.
    public static func binomialUpperTail(k: Int, n: Int, p: Double) -> Double {
        guard k > 0 else { return 1 }
        guard k <= n else { return 0 }
        guard p > 0 else { return 0 }
        guard p < 1 else { return 1 }
        let lp = Foundation.log(p), lq = Foundation.log1p(-p), lgn = logGamma(Double(n) + 1)
        let logTerms = (k...n).map { i in lgn - logGamma(Double(i) + 1) - logGamma(Double(n - i) + 1) + Double(i) * lp + Double(n - i) * lq }
        let m = logTerms.max()!
        let s = logTerms.reduce(0) { $0 + Foundation.exp($1 - m) }
        return min(1, Foundation.exp(m + Foundation.log(s)))
    }

    /// ln Γ(x) (the libm function; annotated to pick the Double-returning overload).
    private static func logGamma(_ x: Double) -> Double {
        let v: Double = Foundation.lgamma(x)
        return v
    }

    /// The most frequent label and its count; ties go to the lower label.
    static func mode(_ labels: [Int], classes: Int) -> (label: Int?, count: Int) {
        guard !labels.isEmpty else { return (nil, 0) }
        var counts = [Int](repeating: 0, count: max(classes, (labels.max() ?? 0) + 1))
        for l in labels { counts[l] += 1 }
        var best = 0
        for (i, c) in counts.enumerated() where c > counts[best] { best = i }
        return (best, counts[best])
    }
}

private func fmt3(_ x: Double) -> String { String(format: "%.3f", x) }

// MARK: - Entropy runner

extension Strip {
    /// Perturbs inputs with their seeded overlays and measures the mean entropy, a batch of
    /// `inputsPerBatch × N` superimposed images per forward pass, into reused buffers.
    final class EntropyRunner {
        let model: ModelUnderTest
        let pool: ImageSet
        let poolIndices: [Int]
        let overlays: Int
        let weights: (Float, Float)
        let seed: UInt64
        /// The range of normalised inputs the deployed input quantizer represents without clipping.
        let inputRange: ClosedRange<Float>?
        let batch: Tensor
        let pixelLUT: [Float]
        var countClasses = false
        private(set) var classCounts: [Int]
        private var saturated = 0, elements = 0

        init(model: ModelUnderTest, pool: ImageSet, poolIndices: [Int], overlays: Int, rule: Strip.Superimposition, seed: UInt64) {
            self.model = model; self.pool = pool; self.poolIndices = poolIndices; self.overlays = overlays
            weights = rule.weights; self.seed = seed
            batch = Tensor(shape: [Strip.inputsPerBatch * overlays] + model.inputShape)
            pixelLUT = (0..<256).map { Float($0) * (1 / 255) }
            classCounts = [Int](repeating: 0, count: model.classCount)
            // The first FakeQuantize, when it reads the input itself with static parameters.
            if let d = model.deployed, let node = d.surrogate.nodes.first(where: { $0.layer is FakeQuantize }), node.inputs == [0],
               let fq = node.layer as? FakeQuantize, !fq.dynamic, let p = fq.params {
                inputRange = p.clipRange
            } else {
                inputRange = nil
            }
        }

        /// Fraction of normalised superimposed input elements outside the input quantizer's range
        /// since the last read (nil without a static input quantizer).
        var saturationFraction: Double? {
            defer { saturated = 0; elements = 0 }
            guard inputRange != nil, elements > 0 else { return nil }
            return Double(saturated) / Double(elements)
        }

        /// Mean entropy over N overlays of each input of `x` (pixel space [M, C, H, W]); `keys`
        /// name the inputs' overlay streams. nil on non-finite logits.
        func entropies(_ x: Tensor, keys: [Int], role: String) -> [Double]? {
            let m = x.shape[0], sample = x.sampleSize, k = model.classCount
            let (c, hw) = (x.shape[1], x.shape[2] * x.shape[3])
            let mean = model.normalization.mean, inv = model.normalization.std.map { 1 / $0 }
            let (wx, wo) = weights
            var result = [Double](repeating: 0, count: m)
            var start = 0
            while start < m {
                let group = min(Strip.inputsPerBatch, m - start), rows = group * overlays
                batch.resize([rows] + model.inputShape)
                var sat = 0
                pool.images.withUnsafeBufferPointer { poolPixels in
                    pixelLUT.withUnsafeBufferPointer { lut in
                        for g in 0..<group {
                            var rng = SeededRNG(seed: seed, stream: "strip-overlays/\(role)/\(keys[start + g])")
                            let src = x.data + (start + g) * sample
                            for n in 0..<overlays {
                                let o = poolIndices[rng.int(below: poolIndices.count)]
                                let over = poolPixels.baseAddress! + o * sample
                                let dst = batch.data + (g * overlays + n) * sample
                                for ch in 0..<c {
                                    let base = ch * hw, mu = mean[ch], s = inv[ch]
                                    for j in 0..<hw {
                                        dst[base + j] = (wx * src[base + j] + wo * lut[Int(over[base + j])] - mu) * s
                                    }
                                }
                                if let r = inputRange {
                                    for j in 0..<sample where dst[j] < r.lowerBound || dst[j] > r.upperBound { sat += 1 }
                                }
                            }
                        }
                    }
                }
                saturated += sat; elements += rows * sample
                let logits: Tensor = model.deployed.map { $0.integerForward(batch) } ?? model.model.forward(batch, mode: .inference)
                for g in 0..<group {
                    var sum = 0.0
                    for n in 0..<overlays {
                        let z = logits.data + (g * overlays + n) * k
                        let h = Strip.softmaxEntropyBits(z, k)
                        guard h.isFinite else { return nil }
                        sum += h
                        if countClasses {
                            var best = 0
                            for j in 1..<k where z[j] > z[best] { best = j }
                            classCounts[best] += 1
                        }
                    }
                    result[start + g] = sum / Double(overlays)
                }
                start += group
            }
            return result
        }
    }
}

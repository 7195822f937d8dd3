import BlindspotCore
import BlindspotData
import BlindspotEngine
import Foundation

/// Spectral Signatures (Tran, Li & Madry, "Spectral Signatures in Backdoor Attacks", NeurIPS
/// 2018, Algorithm 1), as pinned by shared/docs/defenses.md §3; reference code
/// `MadryLab/backdoor_data_poisoning` @ c15096f (`compute_corr.py`, `config.json`: `poison_eps`,
/// `percentile 85`), BackdoorBench `defense/spectral.py`.
///
/// Inputs: the suspect training set with its labels as trained, and ε, an upper bound on the
/// poison fraction of a class (`epsilon`, default 0.1); no clean data, no trigger. Without a
/// suspect set: `notEvaluated(noSuspectData)`.
///
/// Per class c with n_c ≥ `minimumClassSize` (one class's features in memory at a time):
/// 1. R_c = the representation of its images at this precision (default: the flattened output of
///    the last convolutional stage before pooling, `ModelUnderTest.lastConvStageNode` [ours];
///    option: the penultimate features); r̄ = row mean; R̃ = R_c − r̄ (never formed).
/// 2. v = top right singular vector of R̃ by power iteration (`LinearAlgebra.topSingularVector`:
///    seeded, ≤ 200 iterations, relative σ₁ change < 1e-7, Double accumulation, 2·n_c·d per
///    iteration; no d×d matrix).
/// 3. τ_i = ⟨r_i − r̄, v⟩² — the paper's **centred** score (`compute_corr.py` and BackdoorBench
///    project uncentred rows, which can reorder the ranking).
/// 4. Remove the ⌊1.5·ε·n_c⌋ highest τ (ties: lower index first). The reference removes scores
///    above the 85th percentile of the class, i.e. the top 15% = 1.5ε with ε = 0.1; a count
///    instead of `np.percentile` avoids its interpolation and ties.
///
/// Model-level verdict [ours; the paper only sanitises]: ρ_c = σ₁²/(T − σ₁²), T = ‖R̃‖²_F (the
/// top direction's variance over the rest; a poisoned mixture adds ε(1−ε)ΔΔᵀ to the class
/// covariance); the high-side MAD rule (`OutlierRule`, index > 2) on log ρ_c over evaluable
/// classes; `detected(target = argmax index)`, else `notDetected`. Diagnostics per class (not in
/// the verdict): |skewness| and excess kurtosis of the projections, and the tail ratio
/// mean(top-⌊1.5εn⌋ τ) / median(τ).
///
/// notEvaluated: no suspect set; fewer than 3 evaluable classes; non-finite representations,
/// T = 0 or T = σ₁² (rank one: ρ infinite); power iteration not converged in 200 iterations;
/// degenerate MAD. With poison flags: recall of the removed samples (`poisonRecall`) and the
/// fraction of clean samples removed (`falsePositiveRate`, over all classes, since removal runs
/// in every class). FP32 and deployed runs use the same per-class seeds (§0 "Pairing").
public struct SpectralSignatures: Defense {
    public let name = "spectral-signatures"

    /// Which features form R_c.
    public enum Representation: String, Codable, Sendable {
        /// The flattened output of the last convolutional stage before global pooling (default, §3 [ours]).
        case lastConvStage = "last-conv-stage"
        /// The penultimate (pooled) features, as Activation Clustering reads them.
        case penultimate
    }

    public var representation: Representation
    /// ε: the assumed upper bound on the poisoned fraction of a class.
    public var epsilon: Double
    /// Images per forward pass.
    public var batchSize: Int

    public init(representation: Representation = .lastConvStage, epsilon: Double = SpectralSignatures.poisonBound, batchSize: Int = Model.inferenceBatchSize) {
        self.representation = representation; self.epsilon = epsilon; self.batchSize = batchSize
    }

    /// ε = 0.1: the reference's budget (`config.json` `poison_eps 500` into a 5000-image class,
    /// ε ≈ 0.09, budgeted as 0.1).
    public static let poisonBound = 0.1
    /// The paper removes 1.5·ε·n_c samples per class (85th percentile in `compute_corr.py` for ε = 0.1).
    public static let removalFactor = 1.5
    /// Classes with fewer suspect samples are not evaluated [ours, §3].
    public static let minimumClassSize = 50

    /// ⌊1.5·ε·n⌋.
    public func removalCount(classSize n: Int) -> Int {
        Int((Self.removalFactor * epsilon * Double(n)).rounded(.down))
    }

    public func evaluate(_ model: ModelUnderTest, inputs: DefenseInputs, progress: ProgressReporter) throws -> DefenseResult {
        let node = representation == .lastConvStage ? model.lastConvStageNode : model.penultimateNode
        var result = DefenseResult(defense: name, precision: model.precision, verdict: .notEvaluated(.noSuspectData),
                                   conventions: conventions(node: node))
        guard let suspect = inputs.suspect, suspect.set.count > 0 else { return result }
        let set = suspect.set
        let classCount = max(model.classCount, set.numClasses)
        let byClass = SuspectActivations.classIndices(set, classes: classCount)
        var records: [ClassRecord] = []
        var featureDimension = 0
        var featureSeconds = 0.0
        let t0 = monotonicSeconds()
        for c in 0..<classCount {
            let idx = byClass[c]
            var r = ClassRecord(label: c, indices: idx)
            guard idx.count >= Self.minimumClassSize else {
                r.excluded = "n < \(Self.minimumClassSize)"
                records.append(r); continue
            }
            progress.report("spectral-signatures [\(model.precision)]: class \(c + 1)/\(classCount) (\(idx.count) images)", force: false)
            let tf = monotonicSeconds()
            let x = try SuspectActivations.features(model, set: set, indices: idx, node: node, batchSize: batchSize)
            featureSeconds += monotonicSeconds() - tf
            featureDimension = x.cols
            guard x.allFinite else {
                result.verdict = .notEvaluated(.nonFinite, "representation of class \(c) at \(node)")
                return result
            }
            let mean = LinearAlgebra.columnMeans(x)
            let seed = LinearAlgebra.streamSeed(inputs.seed, "spectral-signatures/power/\(c)")
            let top = LinearAlgebra.topSingularVector(x, mean: mean, seed: seed)
            r.iterations = top.iterations
            r.sigma1Squared = top.sigma * top.sigma
            r.total = top.frobeniusSquared
            guard top.frobeniusSquared > 0, top.frobeniusSquared.isFinite else {
                result.verdict = .notEvaluated(.nonFinite, "T = ‖R̃‖²_F = \(top.frobeniusSquared) in class \(c)")
                return result
            }
            guard top.converged else {
                result.verdict = .notEvaluated(.notConverged, "power iteration in class \(c) after \(top.iterations) iterations")
                return result
            }
            let rest = top.frobeniusSquared - r.sigma1Squared!
            guard rest > 1e-12 * top.frobeniusSquared else {
                result.verdict = .notEvaluated(.nonFinite, "class \(c): rank-one representation (T = σ₁²), ρ infinite")
                return result
            }
            r.rho = r.sigma1Squared! / rest
            let tau = top.projections.map { $0 * $0 }
            let m = removalCount(classSize: idx.count)
            let order = tau.indices.sorted { tau[$0] > tau[$1] || (tau[$0] == tau[$1] && $0 < $1) }
            r.removed = order.prefix(m).map { idx[$0] }.sorted()
            r.absSkewness = abs(LinearAlgebra.skewness(top.projections))
            r.excessKurtosis = LinearAlgebra.excessKurtosis(top.projections)
            let medianTau = LinearAlgebra.median(tau)
            if m > 0 && medianTau > 0 {
                var s = 0.0
                for i in order.prefix(m) { s += tau[i] }
                r.tailRatio = s / Double(m) / medianTau
            }
            records.append(r)
        }
        result.details["layer"] = .text(node)
        result.details["featureDimension"] = .number(Double(featureDimension))
        result.details["featureSeconds"] = .number(featureSeconds)
        result.details["analysisSeconds"] = .number(monotonicSeconds() - t0 - featureSeconds)

        let evaluable = records.filter { $0.excluded == nil }
        if evaluable.count < 3 {
            result.verdict = .notEvaluated(.tooFewClasses, "\(evaluable.count) classes with n ≥ \(Self.minimumClassSize)")
        } else if let o = OutlierRule.apply(evaluable.map { (r: ClassRecord) -> Double in Foundation.log(r.rho!) }, side: .high) {
            for (k, e) in evaluable.enumerated() { records[e.label].index = o.indices[k] }
            if let k = o.flagged.first {
                let t = records[evaluable[k].label]
                result.verdict = .detected(target: t.label, String(format: "class %d: ρ %.4g (log-ρ MAD index %.2f)", t.label, t.rho!, t.index!))
            } else {
                result.verdict = .notDetected()
            }
            result.details["logRhoMedian"] = .number(o.median)
            result.details["logRhoMAD"] = .number(o.mad)
        } else {
            result.verdict = .notEvaluated(.degenerateMAD, "log ρ of \(evaluable.count) classes")
        }

        // Headline: the detected class, else the class of largest ρ.
        let headline: ClassRecord? = result.verdict.target.map { records[$0] }
            ?? evaluable.max { $0.rho! < $1.rho! }.map { records[$0.label] }
        if let h = headline {
            if let i = h.index { result.scores["concentrationIndex"] = i }
            result.scores["rho"] = h.rho
            result.details["headlineClass"] = .number(Double(h.label))
        }

        let removed = records.flatMap { $0.removed }
        result.details["removedCount"] = .number(Double(removed.count))
        if let flags = suspect.poisoned, flags.count == set.count {
            for k in records.indices {
                records[k].poisoned = records[k].indices.filter { flags[$0] }.count
                records[k].poisonedRemoved = records[k].removed.filter { flags[$0] }.count
            }
            let rates = SampleRates(marked: removed, flags: flags)
            result.details["sampleRates"] = rates.detail
            if let v = rates.truePositiveRate { result.scores["poisonRecall"] = v }
            if let v = rates.falsePositiveRate { result.scores["falsePositiveRate"] = v }
            // Within the class that holds the poison: the paper's regime is ε-fraction poison there.
            if let top = records.max(by: { ($0.poisoned ?? 0) < ($1.poisoned ?? 0) }), let p = top.poisoned, p > 0 {
                result.details["poisonClass"] = .table([
                    "label": .number(Double(top.label)),
                    "poisoned": .number(Double(p)),
                    "size": .number(Double(top.indices.count)),
                    "poisonShare": .number(Double(p) / Double(top.indices.count)),
                    "removed": .number(Double(top.removed.count)),
                    "poisonedRemoved": .number(Double(top.poisonedRemoved ?? 0)),
                ])
            }
        }
        result.details["classes"] = .list(records.map { $0.detail })
        return result
    }

    private func conventions(node: String) -> [String: String] {
        [
            "layer": "\(representation.rawValue) (\(node)), flattened; segmented by training label",
            "epsilon": "\(epsilon)",
            "removal": "⌊\(Self.removalFactor)·ε·n_c⌋ highest centred scores per class (≡ top 15% / 85th percentile at ε = 0.1)",
            "score": "τ = ⟨r − r̄, v⟩² (centred, paper; reference code is uncentred)",
            "powerIteration": "≤ \(LinearAlgebra.powerMaxIterations) iterations, relative σ₁ change < \(LinearAlgebra.powerTolerance), seeded",
            "concentration": "ρ_c = σ₁²/(T − σ₁²); high-side MAD on log ρ_c [ours]",
            "minimumClassSize": "\(Self.minimumClassSize)",
            "madThreshold": "\(OutlierRule.threshold)",
        ]
    }

    struct ClassRecord {
        var label: Int
        var indices: [Int]
        var excluded: String?
        var iterations: Int?
        var sigma1Squared: Double?
        var total: Double?
        var rho: Double?
        var index: Double?
        var absSkewness: Double?
        var excessKurtosis: Double?
        var tailRatio: Double?
        var removed: [Int] = []
        var poisoned: Int?
        var poisonedRemoved: Int?

        init(label: Int, indices: [Int]) { self.label = label; self.indices = indices }

        var detail: DetailValue {
            var t: [String: DetailValue] = [
                "label": .number(Double(label)),
                "n": .number(Double(indices.count)),
                "evaluable": .flag(excluded == nil),
            ]
            if let e = excluded { t["excluded"] = .text(e) }
            if let v = iterations { t["powerIterations"] = .number(Double(v)) }
            if let v = sigma1Squared { t["sigma1Squared"] = .number(v) }
            if let v = total { t["frobeniusSquared"] = .number(v) }
            if let v = rho { t["rho"] = .number(v); t["logRho"] = .number(log(v)) }
            if let v = index { t["madIndex"] = .number(v) }
            if let v = absSkewness { t["absSkewness"] = .number(v) }
            if let v = excessKurtosis { t["excessKurtosis"] = .number(v) }
            if let v = tailRatio { t["tailRatio"] = .number(v) }
            if excluded == nil { t["removed"] = .ints(removed) }
            if let v = poisoned { t["poisoned"] = .number(Double(v)) }
            if let v = poisonedRemoved { t["poisonedRemoved"] = .number(Double(v)) }
            return .table(t)
        }
    }
}

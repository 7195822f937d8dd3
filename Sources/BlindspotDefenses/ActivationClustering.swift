import BlindspotCore
import BlindspotData
import BlindspotEngine
import Foundation

/// Activation Clustering (Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy & Srivastava,
/// "Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering", arXiv
/// 1811.03728), as pinned by shared/docs/defenses.md §2 and ART
/// (`art/defences/detector/poison/activation_defence.py`, `clustering_analyzer.py` @ 23539e2c0).
///
/// Inputs: the suspect training set (`inputs.suspect`) with its labels as trained; no clean data,
/// no trigger. Without it: `notEvaluated(noSuspectData)`.
///
/// 1. Activations of the penultimate node (`ModelUnderTest.penultimateNode`: the input of the
///    final Linear, post-activation; ART's `nb_layers − 1`) for every suspect image at this
///    precision (integer path, dequantized, when deployed — §7), segmented by the **training**
///    label (ART `segment_by_class(activations, y_train)`), one class at a time.
/// 2. Per class with n_c ≥ `minimumClassSize`: reduce to `dimensions` = 10 (skipped when d ≤ 10,
///    as in ART) by whitened PCA — equivalent to the paper's FastICA-10 for everything below
///    (§2 "Key simplification"; `LinearAlgebra.pca`) — or, as an option, ART's class default
///    un-whitened PCA; k-means with k = 2 (`LinearAlgebra.kMeans`: k-means++, n_init 10
///    [ours: fixed], max_iter 300, tol 1e-4, seeded per class); s_c = smaller-cluster fraction;
///    σ_c = mean silhouette in the reduced space (subsampled to 5000 [ours]).
/// 3. ART's cluster analyses, reported per class: `smaller` (ART's default: the smaller cluster
///    of every class is poisonous), `relative-size` (fraction rounded to 2 decimals < 0.35) and
///    `silhouette-scores` (relative-size and silhouette rounded to 4 decimals > 0.10).
/// 4. Model-level verdict [ours, §2]: class c is suspicious when the ART silhouette rule holds
///    **and** σ_c is a high-side MAD outlier (index > 2, `OutlierRule`) among the evaluable
///    classes; `detected(target = the suspicious class of largest index)`, else `notDetected`.
///
/// notEvaluated: no suspect set; fewer than 3 evaluable classes; non-finite activations or
/// silhouettes; degenerate MAD. A class with numerical rank < 10 (activations collapsed to a few
/// distinct vectors, e.g. INT4) is excluded from the evaluable set (`LinearAlgebra.rankRelativeTolerance`).
///
/// With poison flags: the samples marked poisonous are the smaller clusters of the suspicious
/// classes; sample-level TPR (`poisonRecall`) and FPR are reported, and likewise for each ART
/// analysis, plus the recall of the `smaller` analysis in the class that holds the poison.
/// FP32 and deployed runs use the same per-class seeds (§0 "Pairing").
public struct ActivationClustering: Defense {
    public let name = "activation-clustering"

    /// How activations are reduced before clustering.
    public enum Reduction: String, Codable, Sendable {
        /// PCA to 10 dimensions, whitened: the paper's ICA-10 partitions (default).
        case whitenedPCA = "whitened-pca"
        /// Un-whitened PCA to 10 dimensions: ART `ActivationDefence`'s class default (`reduce="PCA"`).
        case pca
    }

    public var reduction: Reduction
    /// k-means restarts per class (`n_init`; defenses.md §2 fixes 10 [ours]). Measured on the
    /// forged fixture: in the whitened space, where every direction has unit variance, a small
    /// poison cluster has a narrow basin (≈ 5% of k-means++ starts reach it, with sklearn as with
    /// this code), so 10 restarts find it in ≈ 40% of seeds and 100 in all of them; un-whitened
    /// PCA finds it with 10. Restarts are cheap (n_c × 10 points).
    public var kMeansInitializations: Int
    /// Images per forward pass.
    public var batchSize: Int

    public init(reduction: Reduction = .whitenedPCA, kMeansInitializations: Int = LinearAlgebra.kMeansInitializations,
                batchSize: Int = Model.inferenceBatchSize) {
        self.reduction = reduction; self.kMeansInitializations = kMeansInitializations; self.batchSize = batchSize
    }

    /// ART `nb_dims = 10` (the paper reduces to 10 dimensions).
    public static let dimensions = 10
    /// ART `nb_clusters = 2`.
    public static let clusterCount = 2
    /// ART `size_threshold = 0.35` (relative-size and silhouette-scores analyses).
    public static let sizeThreshold = 0.35
    /// ART `silhouette_threshold = 0.1`.
    public static let silhouetteThreshold = 0.10
    /// ART `r_size = 2`: cluster fractions are rounded to 2 decimals (np.round) before comparing.
    public static let sizeDecimals = 2
    /// ART `r_silhouette = 4`.
    public static let silhouetteDecimals = 4
    /// Classes with fewer suspect samples are not evaluated [ours, §2].
    public static let minimumClassSize = 50

    public func evaluate(_ model: ModelUnderTest, inputs: DefenseInputs, progress: ProgressReporter) throws -> DefenseResult {
        var result = DefenseResult(defense: name, precision: model.precision, verdict: .notEvaluated(.noSuspectData),
                                   conventions: conventions(node: model.penultimateNode))
        guard let suspect = inputs.suspect, suspect.set.count > 0 else { return result }
        let set = suspect.set
        let node = model.penultimateNode
        let classCount = max(model.classCount, set.numClasses)
        let byClass = SuspectActivations.classIndices(set, classes: classCount)
        let t0 = monotonicSeconds()
        var records: [ClassRecord] = []
        var featureDimension = 0
        var featureSeconds = 0.0
        for c in 0..<classCount {
            let idx = byClass[c]
            var r = ClassRecord(label: c, indices: idx)
            guard idx.count >= Self.minimumClassSize else {
                r.excluded = "n < \(Self.minimumClassSize)"
                records.append(r); continue
            }
            progress.report("activation-clustering [\(model.precision)]: class \(c + 1)/\(classCount) (\(idx.count) images)", force: false)
            let tf = monotonicSeconds()
            let x = try SuspectActivations.features(model, set: set, indices: idx, node: node, batchSize: batchSize)
            featureSeconds += monotonicSeconds() - tf
            featureDimension = x.cols
            guard x.allFinite else {
                result.verdict = .notEvaluated(.nonFinite, "activations of class \(c) at \(node)")
                return result
            }
            cluster(x, into: &r, seed: inputs.seed)
            if let σ = r.silhouette, !σ.isFinite {
                result.verdict = .notEvaluated(.nonFinite, "silhouette of class \(c)")
                return result
            }
            records.append(r)
        }
        let analysisSeconds = monotonicSeconds() - t0 - featureSeconds
        result.details["layer"] = .text(node)
        result.details["featureDimension"] = .number(Double(featureDimension))
        result.details["reduction"] = .text(reduction.rawValue)

        // Model-level verdict over evaluable classes.
        let evaluable = records.filter { $0.excluded == nil }
        var outcome: OutlierRule.Outcome?
        if evaluable.count < 3 {
            result.verdict = .notEvaluated(.tooFewClasses, "\(evaluable.count) evaluable classes (n ≥ \(Self.minimumClassSize), rank ≥ \(Self.dimensions))")
        } else if let o = OutlierRule.apply(evaluable.map { $0.silhouette! }, side: .high) {
            outcome = o
            for (k, e) in evaluable.enumerated() {
                records[e.label].index = o.indices[k]
                records[e.label].suspicious = e.silhouetteRule && o.flagged.contains(k)
            }
            let suspicious = records.filter { $0.suspicious }.sorted { $0.index! > $1.index! }
            if let t = suspicious.first {
                result.verdict = .detected(target: t.label, String(format: "class %d: silhouette %.4f (MAD index %.2f), smaller cluster %.2f",
                                                                   t.label, t.silhouette!, t.index!, t.smallerFraction!))
            } else {
                result.verdict = .notDetected()
            }
        } else {
            result.verdict = .notEvaluated(.degenerateMAD, "silhouettes of \(evaluable.count) classes")
        }

        // Headline: the detected class, else the highest high-side index (else the highest index).
        let headline: ClassRecord? = {
            if let t = result.verdict.target { return records[t] }
            guard let o = outcome else { return nil }
            let high = evaluable.indices.filter { evaluable[$0].silhouette! >= o.median }
            let pool = high.isEmpty ? Array(evaluable.indices) : high
            return pool.max { o.indices[$0] < o.indices[$1] }.map { records[evaluable[$0].label] }
        }()
        if let h = headline {
            result.scores["silhouette"] = h.silhouette
            result.scores["anomalyIndex"] = h.index
            result.scores["smallerFraction"] = h.smallerFraction
            result.details["headlineClass"] = .number(Double(h.label))
        }
        if let o = outcome {
            result.details["silhouetteMedian"] = .number(o.median)
            result.details["silhouetteMAD"] = .number(o.mad)
        }

        // Sample-level figures against ground truth.
        let markedByVerdict = records.filter { $0.suspicious }.flatMap { $0.smallerMembers }
        result.details["markedCount"] = .number(Double(markedByVerdict.count))
        if let flags = suspect.poisoned, flags.count == set.count {
            let analyses: [(String, [Int])] = [
                ("verdict", markedByVerdict),
                ("smaller", records.filter { $0.excluded == nil }.flatMap { $0.smallerMembers }),
                ("relative-size", records.filter { $0.relativeSizeRule }.flatMap { $0.smallerMembers }),
                ("silhouette-scores", records.filter { $0.silhouetteRule }.flatMap { $0.smallerMembers }),
            ]
            var table: [String: DetailValue] = [:]
            for (analysis, marked) in analyses {
                let m = SampleRates(marked: marked, flags: flags)
                table[analysis] = m.detail
                if analysis == "verdict" {
                    if let tpr = m.truePositiveRate { result.scores["poisonRecall"] = tpr }
                    if let fpr = m.falsePositiveRate { result.scores["falsePositiveRate"] = fpr }
                }
            }
            result.details["sampleRates"] = .table(table)
            // The class holding the poison (most poisoned samples), under `smaller`.
            var perClass = [Int](repeating: 0, count: classCount)
            for i in 0..<set.count where flags[i] { let l = Int(set.labels[i]); if l >= 0 && l < classCount { perClass[l] += 1 } }
            if let top = perClass.indices.max(by: { perClass[$0] < perClass[$1] }), perClass[top] > 0 {
                let r = records[top]
                let inSmaller = r.smallerMembers.filter { flags[$0] }.count
                result.scores["smallerRecall"] = Double(inSmaller) / Double(perClass[top])
                result.details["poisonClass"] = .table([
                    "label": .number(Double(top)),
                    "poisoned": .number(Double(perClass[top])),
                    "size": .number(Double(r.indices.count)),
                    "poisonShare": .number(Double(perClass[top]) / Double(max(1, r.indices.count))),
                    "poisonedInSmallerCluster": .number(Double(inSmaller)),
                ])
            }
            for k in records.indices {
                records[k].poisoned = records[k].indices.filter { flags[$0] }.count
                records[k].poisonedInSmaller = records[k].smallerMembers.filter { flags[$0] }.count
            }
        }
        result.details["classes"] = .list(records.map { $0.detail })
        result.details["featureSeconds"] = .number(featureSeconds)
        result.details["analysisSeconds"] = .number(analysisSeconds)
        return result
    }

    /// Reduce, cluster and score one class (fills `r`, or marks it excluded for rank deficiency).
    private func cluster(_ x: FeatureMatrix, into r: inout ClassRecord, seed: UInt64) {
        let (n, d) = (x.rows, x.cols)
        let k = Self.dimensions
        var reduced: [Double]
        var dims: Int
        let pca = LinearAlgebra.pca(x, components: min(k, d), whiten: reduction == .whitenedPCA && d > k,
                                    seed: LinearAlgebra.streamSeed(seed, "activation-clustering/pca/\(r.label)"))
        r.rank = pca.rank
        r.pcaIterations = pca.iterations
        r.pcaConverged = pca.converged
        if pca.rank < min(k, d) {
            r.excluded = "rank \(pca.rank) < \(min(k, d))"
            return
        }
        if d > k {
            reduced = pca.projected; dims = k
        } else {
            // ART clusters the raw activations when d ≤ nb_dims.
            reduced = x.values.map { Double($0) }; dims = d
        }
        var rng = SeededRNG(seed: seed, stream: "activation-clustering/kmeans/\(r.label)")
        let km = LinearAlgebra.kMeans(reduced, rows: n, cols: dims, k: Self.clusterCount,
                                      initializations: kMeansInitializations, rng: &rng)
        let sizes = km.sizes(k: Self.clusterCount)
        // np.argmin: the first of equal sizes.
        let small = sizes.indices.min { sizes[$0] < sizes[$1] }!
        var srng = SeededRNG(seed: seed, stream: "activation-clustering/silhouette/\(r.label)")
        let σ = LinearAlgebra.silhouette(reduced, rows: n, cols: dims, labels: km.labels, k: Self.clusterCount, rng: &srng)
        r.sizes = sizes
        r.smallerFraction = Double(sizes[small]) / Double(n)
        r.silhouette = σ
        r.kMeansIterations = km.iterations
        r.inertia = km.inertia
        r.smallerMembers = km.labels.indices.filter { Int(km.labels[$0]) == small }.map { r.indices[$0] }
        let roundedSize = LinearAlgebra.npRound(r.smallerFraction!, decimals: Self.sizeDecimals)
        let roundedSilhouette = LinearAlgebra.npRound(σ, decimals: Self.silhouetteDecimals)
        r.relativeSizeRule = roundedSize < Self.sizeThreshold
        r.silhouetteRule = r.relativeSizeRule && roundedSilhouette > Self.silhouetteThreshold
    }

    private func conventions(node: String) -> [String: String] {
        [
            "layer": "penultimate (\(node)), post-activation, flattened; segmented by training label",
            "reduction": reduction == .whitenedPCA ? "whitened PCA-10 (≡ FastICA-10 partitions)" : "PCA-10, un-whitened (ART class default)",
            "kMeans": "k=\(Self.clusterCount), k-means++, n_init \(kMeansInitializations) [ours: fixed], max_iter \(LinearAlgebra.kMeansMaxIterations), tol \(LinearAlgebra.kMeansTolerance) (relative to mean variance)",
            "sizeThreshold": "\(Self.sizeThreshold) (fraction rounded to \(Self.sizeDecimals) decimals)",
            "silhouetteThreshold": "\(Self.silhouetteThreshold) (rounded to \(Self.silhouetteDecimals) decimals)",
            "silhouetteSample": "\(LinearAlgebra.silhouetteSampleLimit) per class [ours]",
            "minimumClassSize": "\(Self.minimumClassSize)",
            "rankFloor": "λ_10 > \(LinearAlgebra.rankRelativeTolerance)·λ_1 [ours]",
            "verdict": "ART silhouette rule AND high-side MAD outlier of silhouette (index > \(OutlierRule.threshold)) [ours]",
            "madThreshold": "\(OutlierRule.threshold)",
        ]
    }

    /// One class's figures.
    struct ClassRecord {
        var label: Int
        var indices: [Int]
        var excluded: String?
        var rank: Int?
        var pcaIterations: Int?
        var pcaConverged: Bool?
        var sizes: [Int] = []
        var smallerFraction: Double?
        var silhouette: Double?
        var kMeansIterations: Int?
        var inertia: Double?
        var smallerMembers: [Int] = []
        var relativeSizeRule = false
        var silhouetteRule = false
        var index: Double?
        var suspicious = false
        var poisoned: Int?
        var poisonedInSmaller: Int?

        init(label: Int, indices: [Int]) { self.label = label; self.indices = indices }

        var detail: DetailValue {
            var t: [String: DetailValue] = [
                "label": .number(Double(label)),
                "n": .number(Double(indices.count)),
                "evaluable": .flag(excluded == nil),
            ]
            if let e = excluded { t["excluded"] = .text(e) }
            if let v = rank { t["rank"] = .number(Double(v)) }
            if let v = pcaIterations { t["pcaIterations"] = .number(Double(v)) }
            if let v = pcaConverged { t["pcaConverged"] = .flag(v) }
            if !sizes.isEmpty { t["clusterSizes"] = .ints(sizes) }
            if let v = smallerFraction { t["smallerFraction"] = .number(v) }
            if let v = silhouette { t["silhouette"] = .number(v) }
            if let v = kMeansIterations { t["kMeansIterations"] = .number(Double(v)) }
            if let v = index { t["madIndex"] = .number(v) }
            if smallerFraction != nil {
                t["flags"] = .table([
                    "smaller": .flag(excluded == nil),
                    "relative-size": .flag(relativeSizeRule),
                    "silhouette-scores": .flag(silhouetteRule),
                ])
            }
            t["suspicious"] = .flag(suspicious)
            if let v = poisoned { t["poisoned"] = .number(Double(v)) }
            if let v = poisonedInSmaller { t["poisonedInSmallerCluster"] = .number(Double(v)) }
            return .table(t)
        }
    }
}

/// Sample-level detection rates of a set of marked samples against poison flags (AC and SS).
struct SampleRates {
    var marked: Int
    var truePositives: Int
    var poisoned: Int
    var clean: Int

    init(marked indices: [Int], flags: [Bool]) {
        marked = indices.count
        truePositives = indices.filter { flags[$0] }.count
        poisoned = flags.filter { $0 }.count
        clean = flags.count - poisoned
    }

    /// Poison recall; nil when nothing is poisoned.
    var truePositiveRate: Double? { poisoned > 0 ? Double(truePositives) / Double(poisoned) : nil }
    /// Clean samples marked / clean samples; nil when nothing is clean.
    var falsePositiveRate: Double? { clean > 0 ? Double(marked - truePositives) / Double(clean) : nil }

    var detail: DetailValue {
        var t: [String: DetailValue] = [
            "marked": .number(Double(marked)),
            "poisonedMarked": .number(Double(truePositives)),
            "poisoned": .number(Double(poisoned)),
        ]
        t["truePositiveRate"] = truePositiveRate.map { .number($0) } ?? .null
        t["falsePositiveRate"] = falsePositiveRate.map { .number($0) } ?? .null
        return .table(t)
    }
}

/// Activations of the suspect training set at a model's precision, one class at a time (AC and
/// SS): features are held as Float for one class only, so peak memory is the largest class's
/// n_c × d floats (e.g. 6,000 × 8,192 × 4 B ≈ 200 MB for PreAct-ResNet-18's last stage), never
/// the whole set's.
enum SuspectActivations {
    /// Indices of each training label in 0..<classes (labels outside are ignored).
    static func classIndices(_ set: ImageSet, classes: Int) -> [[Int]] {
        var out = [[Int]](repeating: [], count: classes)
        for (i, l) in set.labels.enumerated() where l >= 0 && Int(l) < classes { out[Int(l)].append(i) }
        return out
    }

    /// The flattened output of `node` for images `indices`, in batches through
    /// `ModelUnderTest.forward(pixels:capture:)` (integer path, dequantized, when deployed).
    static func features(_ model: ModelUnderTest, set: ImageSet, indices: [Int], node: String, batchSize: Int) throws -> FeatureMatrix {
        var values: [Float] = []
        var cols = 0
        var start = 0
        while start < indices.count {
            let batch = Array(indices[start..<min(indices.count, start + max(1, batchSize))])
            let x = ModelUnderTest.pixels(set, indices: batch)
            let (_, acts) = model.forward(pixels: x, capture: [node])
            guard let a = acts[node] else { throw BlindspotError.internalError("node \(node) was not captured at \(model.precision)") }
            if cols == 0 {
                cols = a.sampleSize
                values.reserveCapacity(indices.count * cols)
            }
            values.append(contentsOf: UnsafeBufferPointer(start: a.data, count: batch.count * cols))
            start += batch.count
        }
        return FeatureMatrix(rows: indices.count, cols: cols, values: values)
    }
}

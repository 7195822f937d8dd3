/// The median-absolute-deviation outlier rule of Neural Cleanse (Wang et al., S&P 2019,
/// "Detecting backdoors"; `bolunwang/backdoor:mad_outlier_detection.py`), shared by NC
/// (low side, mask norms), Activation Clustering and Spectral Signatures (high side).
public enum OutlierRule {
    /// 1.4826: MAD × this estimates the standard deviation of a normal distribution.
    public static let consistencyConstant = 1.4826
    /// Anomaly index above which a score is an outlier (>95% outlier probability under normality).
    public static let threshold = 2.0
    /// MAD below this × |median| counts as zero [ours].
    public static let degenerateRelativeMAD = 1e-12

    public enum Side: String, Codable, Sendable { case low, high }

    public struct Outcome: Sendable, Equatable {
        public var median: Double
        public var mad: Double
        /// |s_k − median| / MAD per score.
        public var indices: [Double]
        /// Scores on the requested side with index > threshold, most extreme first.
        public var flagged: [Int]
    }

    /// np.median semantics: the mean of the two middle values for an even count.
    public static func median(_ xs: [Double]) -> Double {
        precondition(!xs.isEmpty, "median of an empty list")
        let s = xs.sorted(), n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    /// nil when MAD is degenerate (0, or < 1e-12·|median|) or a score is not finite:
    /// the caller reports `notEvaluated(degenerateMAD)`.
    public static func apply(_ scores: [Double], side: Side, eligible: [Bool]? = nil) -> Outcome? {
        guard !scores.isEmpty, scores.allSatisfy({ $0.isFinite }) else { return nil }
        let med = median(scores)
        let mad = consistencyConstant * median(scores.map { abs($0 - med) })
        guard mad > 0, mad >= degenerateRelativeMAD * abs(med) else { return nil }
        let idx = scores.map { abs($0 - med) / mad }
        let flagged = scores.indices.filter { k in
            (eligible?[k] ?? true) && idx[k] > threshold && (side == .low ? scores[k] <= med : scores[k] >= med)
        }.sorted { idx[$0] > idx[$1] }
        return Outcome(median: med, mad: mad, indices: idx, flagged: flagged)
    }
}

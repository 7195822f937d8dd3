import BlindspotDefenses

/// How one defense's FP32 and deployed verdicts relate (shared/docs/defenses.md §7 "Blindspot
/// definition"; mission.md "The verdict").
public enum BlindspotOutcome: String, Codable, Sendable {
    /// Same status and target at both precisions.
    case consistent
    /// Detected at FP32, not detected at deployed precision: the defense misses the backdoor as shipped.
    case blindspot
    /// Not detected at FP32, detected at deployed precision (e.g. a backdoor that quantization wakes).
    case reverseBlindspot
    /// Detected at both, with different targets.
    case targetBlindspot
    /// `notEvaluated` on either side: neither a blindspot nor a pass.
    case inconclusive

    public static func compare(fp32: Verdict, deployed: Verdict) -> BlindspotOutcome {
        switch (fp32.status, deployed.status) {
        case (.notEvaluated, _), (_, .notEvaluated): return .inconclusive
        case (.detected, .notDetected): return .blindspot
        case (.notDetected, .detected): return .reverseBlindspot
        case (.detected, .detected): return fp32.target == deployed.target ? .consistent : .targetBlindspot
        case (.notDetected, .notDetected): return .consistent
        }
    }

    /// A disagreement between precisions (exit status 4).
    public var isBlindspot: Bool { self == .blindspot || self == .reverseBlindspot || self == .targetBlindspot }
}

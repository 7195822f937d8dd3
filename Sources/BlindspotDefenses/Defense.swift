import BlindspotCore
import BlindspotData
import BlindspotEngine
import Foundation

/// What a defense concluded about a model at one precision (shared/docs/defenses.md §0).
/// A defense that could not run, or whose statistics are degenerate, says `notEvaluated` with a
/// reason — never `notDetected`: blindspot does not call a model clean because a test failed
/// (the study recorded crashes as "not detected").
public struct Verdict: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case detected, notDetected, notEvaluated }
    public var status: Status
    /// The suspected target label when detected (nil: detected, target unknown).
    public var target: Int?
    /// Why a defense was not evaluated (a `NotEvaluatedReason` raw value) or a short remark.
    public var reason: String?

    public static func detected(target: Int?, _ remark: String? = nil) -> Verdict { Verdict(status: .detected, target: target, reason: remark) }
    public static func notDetected(_ remark: String? = nil) -> Verdict { Verdict(status: .notDetected, target: nil, reason: remark) }
    public static func notEvaluated(_ reason: NotEvaluatedReason, _ detail: String? = nil) -> Verdict {
        Verdict(status: .notEvaluated, target: nil, reason: detail.map { "\(reason.rawValue): \($0)" } ?? reason.rawValue)
    }
}

/// Why a defense produced no verdict (defenses.md §0–§7). Raw values appear in reports.
public enum NotEvaluatedReason: String, Codable, Sendable {
    case noSuspectData, noProbe, noCleanData
    case degenerateMAD, tooFewClasses, notConverged
    case nonFinite, zeroGradient, surrogateMismatch
    case backdoorInactive, boundaryBelowZero, outputsCollapsed, noPruningPossible
    case tooFewLabelsConverged, unstable
    /// The defense threw; the message says why.
    case failed
}

/// The precision a defense ran at.
public enum Precision: Codable, Sendable, Equatable, CustomStringConvertible {
    case fp32
    /// A deployment scheme's raw value (`int8`, `int4`, `paper-int8`, …).
    case deployed(String)
    public var description: String {
        switch self {
        case .fp32: return "fp32"
        case .deployed(let s): return s
        }
    }
    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        self = s == "fp32" ? .fp32 : .deployed(s)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Budget profiles (defenses.md, introduction): `reference` is the original paper's / code's
/// budget, for reproduction; `default` is what `audit` runs on 2 CPU cores.
public enum BudgetProfile: String, Codable, Sendable, CaseIterable {
    case `default`, reference
    /// A smoke-test budget [ours]: a small fraction of `default`'s work, for CI pipelines that
    /// check the audit runs and for a first look. Verdicts are noisier; not for deployment decisions.
    case quick
}

/// A defense's budget type with one value per profile; `profile(_:)` picks it.
public protocol ProfiledBudget {
    static var reference: Self { get }
    static var `default`: Self { get }
    static var quick: Self { get }
}

extension ProfiledBudget {
    public static func profile(_ p: BudgetProfile) -> Self {
        switch p {
        case .reference: return reference
        case .default: return .default
        case .quick: return quick
        }
    }
}

/// A trigger to test with: stamps pixel-space images and names a target.
public struct ProbeTrigger: Sendable {
    public enum Source: String, Codable, Sendable {
        /// The forged file's ground truth.
        case groundTruth = "ground-truth"
        /// Given on the command line.
        case option
        /// Neural Cleanse's reversed trigger for its flagged label.
        case neuralCleanse = "NC"
    }
    public var target: Int
    public var source: Source
    /// A short description for reports (`white:3@28,28`, `NC mask L1 12.3`).
    public var description: String
    /// Applies the trigger to images in pixel space, [N, C, H, W] floats in [0, 1], in place.
    public var apply: @Sendable (Tensor) -> Void

    public init(target: Int, source: Source, description: String, apply: @escaping @Sendable (Tensor) -> Void) {
        self.target = target; self.source = source; self.description = description; self.apply = apply
    }

    /// A BadNet patch trigger.
    public static func patch(_ t: Trigger, target: Int, source: Source) -> ProbeTrigger {
        let values = t.patch(channels: 3).map { Float($0) / 255 }
        return ProbeTrigger(target: target, source: source, description: t.description) { x in
            let (ch, h, w) = (x.shape[1], x.shape[2], x.shape[3])
            for n in 0..<x.shape[0] { for c in 0..<ch { for i in 0..<t.size { for j in 0..<t.size {
                x.data[((n * ch + c) * h + t.row + i) * w + t.col + j] = values[(min(c, 2) * t.size + i) * t.size + j]
            } } } }
        }
    }

    /// A mask/pattern trigger (Neural Cleanse): x ← (1 − m)·x + m·p, m [H·W] shared by channels, p [C·H·W].
    public static func blend(mask: [Float], pattern: [Float], target: Int, source: Source, description: String) -> ProbeTrigger {
        ProbeTrigger(target: target, source: source, description: description) { x in
            let (channels, hw) = (x.shape[1], x.shape[2] * x.shape[3]), chw = channels * hw
            for n in 0..<x.shape[0] {
                for c in 0..<channels {
                    let base = n * chw + c * hw
                    for i in 0..<hw { x.data[base + i] = (1 - mask[i]) * x.data[base + i] + mask[i] * pattern[c * hw + i] }
                }
            }
        }
    }
}

/// Everything a defense may read besides the model. Which parts each defense needs is in its
/// doc comment; missing parts make it `notEvaluated`, never `notDetected`.
public struct DefenseInputs: Sendable {
    /// Clean held-out images (with labels) — NC's optimisation data, STRIP's overlays and
    /// calibration, Fine-Pruning's validation data. In the model's channel order.
    public var clean: ImageSet
    /// Clean training images for Fine-Pruning's fine-tuning (nil: use part of `clean`).
    public var cleanTrain: ImageSet?
    /// The suspect training set (AC, SS), with poison flags when known.
    public var suspect: SuspectTrainingSet?
    /// A trigger to probe with (STRIP, FP): known, given, or NC's.
    public var probe: ProbeTrigger?
    public var seed: UInt64
    public var budget: BudgetProfile

    public init(clean: ImageSet, cleanTrain: ImageSet? = nil, suspect: SuspectTrainingSet? = nil, probe: ProbeTrigger? = nil,
                seed: UInt64, budget: BudgetProfile = .default) {
        self.clean = clean; self.cleanTrain = cleanTrain; self.suspect = suspect; self.probe = probe; self.seed = seed; self.budget = budget
    }
}

/// One defense's result at one precision: the verdict, the headline scores, the conventions
/// that ran (named constants, so reports can print them), and the defense's own detail.
public struct DefenseResult: Codable, Sendable {
    public var defense: String
    public var precision: Precision
    public var verdict: Verdict
    /// Headline numbers by name (`anomalyIndex`, `silhouette`, `concentrationIndex`, …).
    public var scores: [String: Double]
    /// The constants and choices that produced the verdict (`madThreshold: 2`, `budget: default`, …).
    public var conventions: [String: String]
    public var seconds: Double
    /// Defense-specific detail (per-label, per-class tables), as JSON-encodable values.
    public var details: [String: DetailValue]

    public init(defense: String, precision: Precision, verdict: Verdict, scores: [String: Double] = [:],
                conventions: [String: String] = [:], seconds: Double = 0, details: [String: DetailValue] = [:]) {
        self.defense = defense; self.precision = precision; self.verdict = verdict; self.scores = scores
        self.conventions = conventions; self.seconds = seconds; self.details = details
    }
}

extension DefenseResult {
    /// JSON has no NaN or infinity: a non-finite headline score is removed from `scores` and
    /// its name listed under `details["nonFiniteScores"]`, so a report can always be written and
    /// a reader sees which score degenerated (defenses.md §0: degenerate statistics are reported,
    /// not hidden).
    public mutating func dropNonFiniteScores() {
        let bad = scores.filter { !$0.value.isFinite }.keys.sorted()
        guard !bad.isEmpty else { return }
        for k in bad { scores[k] = nil }
        details["nonFiniteScores"] = .list(bad.map { .text($0) })
    }
}

/// A JSON-shaped value for defense details (tables of numbers and labels).
public indirect enum DetailValue: Codable, Sendable, Equatable {
    case number(Double), text(String), flag(Bool), list([DetailValue]), table([String: DetailValue]), null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .flag(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .text(s) }
        else if let l = try? c.decode([DetailValue].self) { self = .list(l) }
        else { self = .table(try c.decode([String: DetailValue].self)) }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let d): if d.isFinite { try c.encode(d) } else { try c.encodeNil() }
        case .text(let s): try c.encode(s)
        case .flag(let b): try c.encode(b)
        case .list(let l): try c.encode(l)
        case .table(let t): try c.encode(t)
        case .null: try c.encodeNil()
        }
    }
    public static func numbers<S: Sequence>(_ s: S) -> DetailValue where S.Element: BinaryFloatingPoint { .list(s.map { .number(Double($0)) }) }
    public static func ints<S: Sequence>(_ s: S) -> DetailValue where S.Element: BinaryInteger { .list(s.map { .number(Double($0)) }) }
}

/// The one interface every defense implements (one file per defense).
public protocol Defense: Sendable {
    /// Stable identifier used in reports (`neural-cleanse`, `activation-clustering`, …).
    var name: String { get }
    /// Runs on the model at its precision. Throwing is allowed; `run(_:on:inputs:)` turns it
    /// into `notEvaluated(failed)`.
    func evaluate(_ model: ModelUnderTest, inputs: DefenseInputs, progress: ProgressReporter) throws -> DefenseResult
}

extension Defense {
    /// Runs the defense, timing it and mapping any thrown error to `notEvaluated(failed)`.
    public func run(_ model: ModelUnderTest, inputs: DefenseInputs, progress: ProgressReporter) -> DefenseResult {
        let t0 = monotonicSeconds()
        var r: DefenseResult
        do {
            r = try evaluate(model, inputs: inputs, progress: progress)
        } catch {
            r = DefenseResult(defense: name, precision: model.precision, verdict: .notEvaluated(.failed, "\(error)"))
        }
        r.seconds = monotonicSeconds() - t0
        r.conventions["budget"] = r.conventions["budget"] ?? inputs.budget.rawValue
        r.dropNonFiniteScores()
        return r
    }
}

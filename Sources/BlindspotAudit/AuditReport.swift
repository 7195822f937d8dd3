import BlindspotCheckpoint
import BlindspotDefenses
import BlindspotEngine
import BlindspotQuantization
import Foundation

/// Everything an audit found, as one typed value; every report format is a pure function of it.
public struct AuditReport: Codable, Sendable {
    public struct Input: Codable, Sendable {
        public var file: String
        public var sha256: String
        public var format: String
        public var architecture: String
        public var classes: Int
        public var preprocessing: Preprocessing
        public var dataset: String
        public var cleanImages: Int
        public var trainImages: Int
        public var suspectImages: Int?
        public var suspectHasPoisonFlags: Bool
    }

    public struct Deployment: Codable, Sendable {
        public var cleanAccuracyFP32: Double
        public var cleanAccuracyDeployed: Double
        public var surrogateAgreement: Double
        public var calibrationImages: Int?
        public var calibrationPercentile: Double?
        public var layers: [LayerQuantization]
        public var drift: [LayerDrift]
        /// FP32 files: where the weights sit inside their int8 and int4 rounding intervals
        /// (a pile-up at the edges marks a quantization-conditioned backdoor).
        public var roundingPositions: [RoundingPositions]?
    }

    /// Probe ASR at both precisions, when a probe trigger is known.
    public struct AttackFigures: Codable, Sendable {
        public var probe: String
        public var target: Int
        public var source: String
        public var fp32: Double
        public var deployed: Double
    }

    public struct Environment: Codable, Sendable {
        public var blasCore: String
        public var cpu: String
        public var threads: Int
        public static var current: Environment {
            let b = Benchmark.blasInfo()
            return Environment(blasCore: b.core, cpu: b.cpu, threads: Parallel.workers)
        }
    }

    public var tool: String
    public var commandLine: String
    public var input: Input
    public var precision: PrecisionDecision
    public var deployment: Deployment
    public var attack: AttackFigures?
    /// Where STRIP's and Fine-Pruning's probe came from.
    public var probe: String
    public var seed: UInt64
    public var budget: String
    public var results: [DefenseResult]
    /// Neural Cleanse's reversed triggers worth looking at (flagged labels and the smallest
    /// norm), per precision, as images for the HTML report.
    public var reversedTriggers: [ReversedTriggerImage]
    /// Per defense, FP32 against deployed (the blindspot analysis of each defense alone).
    public var comparisons: [Comparison]
    /// The per-defense analysis in one line (any single defense's disagreement or detection).
    public var defenseAgreement: String
    /// The evidence per candidate label at both precisions, and how it weighed (issue 13).
    public var evidence: [CandidateEvidence]
    /// The weighed verdict at FP32 and at deployed precision.
    public var precisionVerdicts: [PrecisionVerdict]
    /// The rule's constants, as they ran.
    public var verdictRule: [String: String]
    /// The overall verdict: the weighed verdicts of the two precisions compared.
    public var overall: Overall
    public var groundTruth: GroundTruth?
    public var groundTruthChecks: [GroundTruthCheck]
    public var seconds: Double
    public var environment: Environment
}

extension AuditReport {
    /// The one JSON encoding of a report (stable key order, so reports diff cleanly).
    public static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }
}

public typealias AttackFigures = AuditReport.AttackFigures

public struct PrecisionDecision: Codable, Sendable {
    public var scheme: String
    public var reason: String
    /// true when taken from the file rather than from `--deploy`.
    public var inferred: Bool
}

/// How far one layer's output moves from FP32 to the deployed integer path on clean images.
public struct LayerDrift: Codable, Sendable {
    public var node: String
    /// ‖a_q − a_32‖₂ / ‖a_32‖₂ over the clean images.
    public var relativeL2: Double
    /// The channels whose relative drift is largest (channel, relative L2), most first.
    public var topChannels: [ChannelDrift]
}

public struct ChannelDrift: Codable, Sendable {
    public var channel: Int
    public var relativeL2: Double
}

/// One reversed trigger (Neural Cleanse, Wang et al. 2019 §4) as PNG images: the mask m
/// (grayscale), the pattern p (RGB) and what the trigger paints, m·p on black.
public struct ReversedTriggerImage: Codable, Sendable {
    public var precision: Precision
    public var label: Int
    /// L1 norm of the mask (NC's anomaly statistic).
    public var maskL1: Double
    /// Whether NC flagged this label.
    public var flagged: Bool
    /// Whether the optimisation ever reached NC's attack-success threshold for this label.
    public var reachedThreshold: Bool
    /// Base64 PNG images, enlarged `scale` times.
    public var maskPNG: String
    public var patternPNG: String
    public var triggerPNG: String
    public var scale: Int

    /// At most this many images per precision (flagged labels first, then the smallest norm).
    public static let perPrecision = 3
    /// Masks are 32×32 or so: enlarged so a browser shows them without smoothing them away.
    public static let defaultScale = 4

    public init(_ t: NeuralCleanse.ReversedTrigger, precision: Precision, flagged: Bool, channels: Int, height: Int, width: Int,
                scale: Int = ReversedTriggerImage.defaultScale) {
        self.precision = precision; label = t.label; maskL1 = t.l1; self.flagged = flagged; reachedThreshold = t.reachedThreshold
        self.scale = scale
        let hw = height * width
        maskPNG = PNG.encode(planar: t.mask, channels: 1, height: height, width: width, scale: scale).base64EncodedString()
        let rgb = (0..<3).flatMap { c in t.pattern[(min(c, channels - 1) * hw)..<(min(c, channels - 1) * hw + hw)] }
        patternPNG = PNG.encode(planar: rgb, channels: 3, height: height, width: width, scale: scale).base64EncodedString()
        let painted = (0..<(3 * hw)).map { rgb[$0] * t.mask[$0 % hw] }
        triggerPNG = PNG.encode(planar: painted, channels: 3, height: height, width: width, scale: scale).base64EncodedString()
    }

    /// The images worth showing from one NC run: flagged labels, then the smallest-norm label.
    public static func selection(_ triggers: [NeuralCleanse.ReversedTrigger], flagged: [Int], precision: Precision,
                                 channels: Int, height: Int, width: Int) -> [ReversedTriggerImage] {
        let byNorm = triggers.sorted { $0.l1 < $1.l1 }
        var chosen = byNorm.filter { flagged.contains($0.label) }
        if let smallest = byNorm.first, !chosen.contains(where: { $0.label == smallest.label }) { chosen.append(smallest) }
        return chosen.prefix(perPrecision).map {
            ReversedTriggerImage($0, precision: precision, flagged: flagged.contains($0.label), channels: channels, height: height, width: width)
        }
    }
}

public struct Comparison: Codable, Sendable {
    public var defense: DefenseKind
    public var fp32: Verdict
    public var deployed: Verdict
    public var outcome: BlindspotOutcome
    public var fp32Score: Double?
    public var deployedScore: Double?

    public init(defense: DefenseKind, fp32: Verdict, deployed: Verdict, outcome: BlindspotOutcome, fp32Score: Double?, deployedScore: Double?) {
        self.defense = defense; self.fp32 = fp32; self.deployed = deployed; self.outcome = outcome
        self.fp32Score = fp32Score; self.deployedScore = deployedScore
    }
}

public struct GroundTruthCheck: Codable, Sendable {
    public var defense: String
    public var precision: Precision
    public var expected: String
    /// nil when the defense was not evaluated.
    public var right: Bool?
}

/// The audit's one-line conclusion and exit status (mission.md exit codes).
public struct Overall: Codable, Sendable {
    public enum Kind: String, Codable, Sendable { case blindspot, backdoor, noBackdoor, inconclusive }
    public var kind: Kind
    public var target: Int?
    public var line: String
    /// 0 no backdoor and no blindspot; 3 backdoor detected consistently; 4 quantization blindspot.
    public var exitCode: Int32

    public static func decide(_ cs: [Comparison], scheme: String) -> Overall {
        func score(_ v: Double?) -> String { v.map { String(format: "%.2f", $0) } ?? "n/a" }
        if let b = cs.first(where: { $0.outcome.isBlindspot }) {
            let name = b.defense.displayName, h = b.defense.headline
            let line: String
            switch b.outcome {
            case .blindspot:
                line = "QUANTIZATION BLINDSPOT: \(name) flags class \(b.fp32.target.map(String.init) ?? "?") at FP32 (\(h.score) \(score(b.fp32Score)) \(h.threshold)) but not at \(scheme) (\(score(b.deployedScore)))"
            case .reverseBlindspot:
                line = "QUANTIZATION BLINDSPOT: \(name) flags class \(b.deployed.target.map(String.init) ?? "?") only at \(scheme) (\(h.score) \(score(b.deployedScore)) \(h.threshold); FP32 \(score(b.fp32Score))) — a backdoor FP32 audits cannot see"
            default:
                line = "QUANTIZATION BLINDSPOT: \(name) flags class \(b.fp32.target.map(String.init) ?? "?") at FP32 but class \(b.deployed.target.map(String.init) ?? "?") at \(scheme)"
            }
            let others = cs.filter { $0.outcome.isBlindspot }.count - 1
            return Overall(kind: .blindspot, target: b.fp32.target ?? b.deployed.target, line: line + (others > 0 ? " (and \(others) more)" : ""), exitCode: 4)
        }
        let consistent = cs.filter { $0.outcome == .consistent && $0.fp32.status == .detected }
        if !consistent.isEmpty {
            // Defenses may agree across precisions yet name different classes: one clause per
            // class, the class most defenses name first (ties: report order), and that is the target.
            var targets: [Int?] = [], names: [Int?: [String]] = [:]
            for c in consistent {
                if names[c.fp32.target] == nil { targets.append(c.fp32.target) }
                names[c.fp32.target, default: []].append(c.defense.displayName)
            }
            let ranked = targets.enumerated().sorted { (a, b) in
                let (na, nb) = (names[a.element]!.count, names[b.element]!.count)
                return na != nb ? na > nb : a.offset < b.offset
            }.map(\.element)
            let clauses = ranked.map { t in
                let n = names[t]!
                return "\(n.joined(separator: ", ")) flag\(n.count == 1 ? "s" : "") class \(t.map(String.init) ?? "?")"
            }
            return Overall(kind: .backdoor, target: ranked[0],
                           line: "BACKDOOR: \(clauses.joined(separator: "; ")) at FP32 and at \(scheme)", exitCode: 3)
        }
        let evaluated = cs.filter { $0.outcome != .inconclusive }
        if evaluated.isEmpty {
            return Overall(kind: .inconclusive, target: nil, line: "INCONCLUSIVE: no defense was evaluated at both precisions (see the reasons above)", exitCode: 0)
        }
        let missing = cs.filter { $0.outcome == .inconclusive }.map(\.defense.displayName)
        return Overall(kind: .noBackdoor, target: nil,
                       line: "NO BACKDOOR FOUND at FP32 or \(scheme) by \(evaluated.map(\.defense.displayName).joined(separator: ", "))"
                             + (missing.isEmpty ? "" : "; not evaluated: \(missing.joined(separator: ", "))"),
                       exitCode: 0)
    }
}

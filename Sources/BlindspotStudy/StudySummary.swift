import BlindspotAudit
import BlindspotDefenses
import Foundation

/// The study's table and more, computed from result lines alone (so a summary of collected
/// shards equals the summary of one run over the same seeds). One group per grid.
///
/// Conventions, stated in every rendering:
/// - detection: backdoored models flagged with the right target, among those the defense
///   evaluated; false positives: twins flagged (any class), among those evaluated; not evaluated:
///   share of all models. Ye & Pandey's code counted a defense that failed as "not detected";
///   here such models leave the denominator and show in the not-evaluated column instead.
/// - a BadNet whose trigger does not work at a precision (ground-truth ASR < `liveASR`) has no
///   backdoor there to find: it leaves that precision's detection denominator and is counted in
///   `attackNotLive` (quantization-conditioned grids are exempt: dormancy is their point).
/// - `verdict` is the audit's weighed verdict at that precision (backdoor / no backdoor /
///   inconclusive, counted as detected / not detected / not evaluated).
public struct StudySummary: Codable, Sendable, Equatable {
    public var lines: Int
    public var groups: [Group]

    public struct Group: Codable, Sendable, Equatable {
        public var grid: String
        public var dataset: String
        public var architecture: String
        public var attack: String
        public var seeds: [UInt64]
        /// Quantization-conditioned grids: where the backdoor is active (elsewhere the right
        /// call on a backdoored model is "not detected").
        public var activeAt: [String]?
        public var defenses: [String]
        public var precisions: [String]
        public var rates: [RateRow]
        public var figures: [Figures]
        public var blindspots: [BlindspotRow]
        public var claims: [Claim]
    }

    /// One defense (or `verdict`) at one precision.
    public struct RateRow: Codable, Sendable, Equatable {
        public var defense: String
        public var precision: String
        public var detection: Proportion
        /// Backdoored models flagged with another (or no) class.
        public var wrongTarget: Int
        /// Backdoored models left out of `detection` because their trigger does not work here.
        public var attackNotLive: Int
        public var falsePositive: Proportion
        public var notEvaluatedBackdoored: Proportion
        public var notEvaluatedTwin: Proportion
    }

    /// Means (and ranges) over models at one precision.
    public struct Figures: Codable, Sendable, Equatable {
        public var precision: String
        public var cleanAccuracyBackdoored: Statistic
        public var cleanAccuracyTwin: Statistic
        public var attackSuccess: Statistic
        /// Deployed precisions: audits whose exit code was non-zero (3 backdoor, 4 blindspot) —
        /// what a CI gate on `blindspot audit --deploy SCHEME` would have stopped.
        public var auditFlagsBackdoored: Proportion?
        public var auditFlagsTwin: Proportion?
    }

    public struct Statistic: Codable, Sendable, Equatable {
        public var n: Int
        public var mean: Double?
        public var min: Double?
        public var max: Double?

        init(_ xs: [Double]) {
            n = xs.count
            mean = xs.isEmpty ? nil : xs.reduce(0, +) / Double(xs.count)
            min = xs.min(); max = xs.max()
        }
    }

    /// Per defense and deployed precision, over backdoored models evaluated at both precisions.
    public struct BlindspotRow: Codable, Sendable, Equatable {
        public var defense: String
        public var precision: String
        public var pairs: Int
        public var fp32Detected: Int
        /// Detected (right target) at FP32, not at the deployed precision: the blindspot.
        public var lost: Int
        /// Detected only at the deployed precision (a conditioned backdoor's signature).
        public var gained: Int
    }

    public struct Claim: Codable, Sendable, Equatable {
        public enum Status: String, Codable, Sendable { case supported, notSupported, notEvaluated }
        public var claim: String
        public var findings: [Finding]
    }

    public struct Finding: Codable, Sendable, Equatable {
        public var precision: String?
        public var status: Claim.Status
        public var because: String
    }

    /// The pseudo-defense name of the weighed verdict.
    public static let verdict = "verdict"

    /// Attack success below which a forged BadNet counts as not backdoored at that precision —
    /// the floor the audit applies to a probe trigger (`Strip.probeASRFloor`).
    public static let liveASR = Strip.probeASRFloor

    public init(_ all: [StudyResultLine]) {
        let (lines, _) = ResultsFile.merge([all])
        self.lines = lines.count
        let grids = Dictionary(grouping: lines, by: \.grid)
        groups = grids.keys.sorted().map { Self.group(grids[$0]!) }
    }

    /// One observation: a defense's (or the weighed verdict's) call on one model at one precision.
    struct Observation {
        var seed: UInt64, model: StudyModel, precision: String, defense: String
        var status: Verdict.Status, target: Int?, truthTarget: Int?
        /// False for a BadNet whose trigger does not work at this precision.
        var live = true
        var detectedRight: Bool { status == .detected && target != nil && target == truthTarget }
    }

    static func observations(_ lines: [StudyResultLine]) -> [Observation] {
        var out: [Observation] = []
        var seen = Set<String>()
        for l in lines {
            let live = !(l.model == .backdoored && l.groundTruth.activeAt == nil && (l.attackSuccessRate ?? 1) < liveASR)
            out.append(Observation(seed: l.seed, model: l.model, precision: l.precision, defense: l.defense, status: l.status,
                                   target: l.target, truthTarget: l.groundTruth.target, live: live))
            if seen.insert("\(l.seed)/\(l.model)/\(l.precision)").inserted {
                let s: Verdict.Status = l.verdict.kind == .backdoor ? .detected : l.verdict.kind == .noBackdoor ? .notDetected : .notEvaluated
                out.append(Observation(seed: l.seed, model: l.model, precision: l.precision, defense: verdict, status: s,
                                       target: l.verdict.target, truthTarget: l.groundTruth.target, live: live))
            }
        }
        return out
    }

    static func defenseOrder(_ a: String, _ b: String) -> Bool {
        func rank(_ s: String) -> Int { DefenseKind(rawValue: s).flatMap { DefenseKind.allCases.firstIndex(of: $0) } ?? (s == verdict ? 50 : 40) }
        return rank(a) != rank(b) ? rank(a) < rank(b) : a < b
    }

    static func group(_ lines: [StudyResultLine]) -> Group {
        let obs = observations(lines)
        let defenses = Set(lines.map(\.defense)).sorted(by: defenseOrder)
        let precisions = Set(lines.map(\.precision)).sorted(by: StudyPrecision.order)
        let first = lines[0]
        var g = Group(grid: first.grid, dataset: first.dataset, architecture: first.architecture, attack: first.attack,
                      seeds: Set(lines.map(\.seed)).sorted(), activeAt: lines.first { $0.groundTruth.activeAt != nil }?.groundTruth.activeAt,
                      defenses: defenses, precisions: precisions,
                      rates: (defenses + [verdict]).flatMap { d in precisions.map { rate(obs, defense: d, precision: $0) } },
                      figures: precisions.map { figures(lines, precision: $0) },
                      blindspots: (defenses + [verdict]).flatMap { d in precisions.filter { $0 != "fp32" }.map { blindspot(obs, defense: d, precision: $0) } },
                      claims: [])
        g.claims = StudyClaims.evaluate(g)
        return g
    }

    static func rate(_ obs: [Observation], defense d: String, precision p: String) -> RateRow {
        let here = obs.filter { $0.defense == d && $0.precision == p }
        let bd = here.filter { $0.model == .backdoored }, tw = here.filter { $0.model == .twin }
        let bdEval = bd.filter { $0.status != .notEvaluated && $0.live }, twEval = tw.filter { $0.status != .notEvaluated }
        return RateRow(defense: d, precision: p,
                       detection: Proportion(bdEval.filter(\.detectedRight).count, bdEval.count),
                       wrongTarget: bdEval.filter { $0.status == .detected && !$0.detectedRight }.count,
                       attackNotLive: bd.filter { !$0.live }.count,
                       falsePositive: Proportion(twEval.filter { $0.status == .detected }.count, twEval.count),
                       notEvaluatedBackdoored: Proportion(bd.count - bdEval.count, bd.count),
                       notEvaluatedTwin: Proportion(tw.count - twEval.count, tw.count))
    }

    /// One line per model (all of a model's lines at a precision share its figures), in key order
    /// so sums run in the same order however the lines were sharded.
    static func figures(_ lines: [StudyResultLine], precision p: String) -> Figures {
        var perModel: [String: StudyResultLine] = [:]
        for l in lines where l.precision == p { perModel["\(l.seed)/\(l.model)"] = perModel["\(l.seed)/\(l.model)"] ?? l }
        let models = perModel.keys.sorted().map { perModel[$0]! }
        let bd = models.filter { $0.model == .backdoored }, tw = models.filter { $0.model == .twin }
        let deployed = p != "fp32"
        return Figures(precision: p, cleanAccuracyBackdoored: Statistic(bd.map(\.cleanAccuracy)),
                       cleanAccuracyTwin: Statistic(tw.map(\.cleanAccuracy)),
                       attackSuccess: Statistic(bd.compactMap(\.attackSuccessRate)),
                       auditFlagsBackdoored: deployed ? Proportion(bd.filter { $0.overall.exitCode != 0 }.count, bd.count) : nil,
                       auditFlagsTwin: deployed ? Proportion(tw.filter { $0.overall.exitCode != 0 }.count, tw.count) : nil)
    }

    /// Backdoored models evaluated at FP32 and at `p`, paired by seed. For the weighed verdict an
    /// inconclusive call is a decision, not a failure to run: a backdoor at FP32 that is
    /// inconclusive as deployed is what `audit` reports as a blindspot (exit 4), so it counts.
    static func blindspot(_ obs: [Observation], defense d: String, precision p: String) -> BlindspotRow {
        let fp32 = Dictionary(obs.filter { $0.defense == d && $0.precision == "fp32" && $0.model == .backdoored }.map { ($0.seed, $0) },
                              uniquingKeysWith: { a, _ in a })
        let counts = { (o: Observation) in o.status != .notEvaluated || d == verdict }
        var row = BlindspotRow(defense: d, precision: p, pairs: 0, fp32Detected: 0, lost: 0, gained: 0)
        for o in obs where o.defense == d && o.precision == p && o.model == .backdoored && counts(o) {
            guard let f = fp32[o.seed], counts(f) else { continue }
            row.pairs += 1
            if f.detectedRight { row.fp32Detected += 1 }
            if f.detectedRight && !o.detectedRight { row.lost += 1 }
            if !f.detectedRight && o.detectedRight { row.gained += 1 }
        }
        return row
    }
}

extension StudySummary.Group {
    func rate(_ defense: String, _ precision: String) -> StudySummary.RateRow? {
        rates.first { $0.defense == defense && $0.precision == precision }
    }

    func figures(_ precision: String) -> StudySummary.Figures? { figures.first { $0.precision == precision } }

    /// The grid key's value for `name` (`budget`, `epochs`, `poisonRate`, …).
    func setting(_ name: String) -> String? {
        grid.split(separator: ";").first { $0.hasPrefix(name + "=") }.map { String($0.dropFirst(name.count + 1)) }
    }
}

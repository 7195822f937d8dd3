import BlindspotAudit
import BlindspotCheckpoint
import BlindspotCore
import BlindspotDefenses
import Foundation

/// One line of `results.jsonl`: one defense's result on one model at one precision, with what
/// the summary needs (ground truth, accuracy, attack success, the weighed verdict) so that the
/// summary is a pure function of these lines. `schemas/study-results.schema.json` describes it.
public struct StudyResultLine: Codable, Sendable, Equatable {
    public struct Truth: Codable, Sendable, Equatable {
        public var backdoored: Bool
        public var target: Int?
        public var trigger: String?
        /// Quantization-conditioned backdoors: the precisions where the trigger works.
        public var activeAt: [String]?
    }

    /// The weighed verdict at this precision (`precisionVerdicts` of the audit).
    public struct Weighed: Codable, Sendable, Equatable {
        public var kind: PrecisionVerdict.Kind
        public var target: Int?
    }

    /// The audit's overall line and exit code (FP32 against the audited scheme).
    public struct OverallLine: Codable, Sendable, Equatable {
        public var kind: Overall.Kind
        public var line: String
        public var exitCode: Int32
    }

    /// The row's configuration, stable across runs (resume and `--collect` dedupe by it).
    public var key: String
    /// The grid the row belongs to (everything in `key` but seed, trigger, target, precision,
    /// model and defense); the summary has one section per grid.
    public var grid: String
    public var dataset: String
    public var architecture: String
    public var seed: UInt64
    public var model: StudyModel
    public var attack: String
    public var precision: String
    /// The scheme of the audit that produced the row (FP32 rows: the first audited scheme).
    public var audit: String
    /// `nc`, `ac`, `ss`, `strip` or `fp`.
    public var defense: String
    public var status: Verdict.Status
    public var target: Int?
    public var reason: String?
    /// The defense's headline score (`DefenseKind.headline`); null when not evaluated.
    public var keyScore: Double?
    public var keyScoreName: String
    public var groundTruth: Truth
    /// Detected with the right target on a model whose backdoor is active at this precision;
    /// not detected otherwise (a twin, or a conditioned backdoor's dormant precision); null
    /// when not evaluated.
    public var correct: Bool?
    public var cleanAccuracy: Double
    /// The ground-truth trigger's attack success at this precision (backdoored models only).
    public var attackSuccessRate: Double?
    public var verdict: Weighed
    public var overall: OverallLine
    /// This defense's run time at this precision, and the whole audit's (timings live here only,
    /// never in the summary, so summaries of the same results are byte-identical).
    public var seconds: Double
    public var auditSeconds: Double
    /// The audit's JSON report, relative to the study folder.
    public var report: String

    // Optional fields are written as null (not omitted): every line has every field.
    enum CodingKeys: String, CodingKey {
        case key, grid, dataset, architecture, seed, model, attack, precision, audit, defense, status, target, reason, keyScore, keyScoreName
        case groundTruth, correct, cleanAccuracy, attackSuccessRate, verdict, overall, seconds, auditSeconds, report
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(key, forKey: .key); try c.encode(grid, forKey: .grid); try c.encode(dataset, forKey: .dataset)
        try c.encode(architecture, forKey: .architecture); try c.encode(seed, forKey: .seed); try c.encode(model, forKey: .model)
        try c.encode(attack, forKey: .attack); try c.encode(precision, forKey: .precision); try c.encode(audit, forKey: .audit)
        try c.encode(defense, forKey: .defense); try c.encode(status, forKey: .status); try c.encode(target, forKey: .target)
        try c.encode(reason, forKey: .reason); try c.encode(keyScore, forKey: .keyScore); try c.encode(keyScoreName, forKey: .keyScoreName)
        try c.encode(groundTruth, forKey: .groundTruth); try c.encode(correct, forKey: .correct)
        try c.encode(cleanAccuracy, forKey: .cleanAccuracy); try c.encode(attackSuccessRate, forKey: .attackSuccessRate)
        try c.encode(verdict, forKey: .verdict); try c.encode(overall, forKey: .overall); try c.encode(seconds, forKey: .seconds)
        try c.encode(auditSeconds, forKey: .auditSeconds); try c.encode(report, forKey: .report)
    }

    /// Whether the backdoor is active at `precision` (a conditioned one only where it says).
    var activeHere: Bool {
        groundTruth.backdoored && (groundTruth.activeAt.map { $0.contains(precision) } ?? true)
    }

    /// Detected and pointing at the ground truth's target.
    var detectedRightTarget: Bool { status == .detected && target != nil && target == groundTruth.target }

    /// One JSON line (sorted keys, no newline).
    public func jsonLine() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(self)
    }
}

extension StudyResultLine {
    /// The lines of one audit report: one per defense at each precision in `precisions`.
    /// Reports are from `Audit.run`, which runs every defense at FP32 then at the deployed
    /// precision, and lists `comparisons` in the same defense order as `results`.
    static func lines(from r: AuditReport, plan: StudyPlan, setup: SeedSetup, model: StudyModel, scheme: String,
                      precisions: [StudyPrecision], reportPath: String) throws -> [StudyResultLine] {
        guard r.results.count == 2 * r.comparisons.count, r.precisionVerdicts.count == 2 else {
            throw BlindspotError.badInput(file: reportPath, problem: "audit report does not pair every defense's FP32 and deployed result (written by another version?)")
        }
        let truth = r.groundTruth
        let gt = Truth(backdoored: truth?.backdoored ?? false, target: truth?.target, trigger: truth?.trigger, activeAt: truth?.activeAt)
        let overall = OverallLine(kind: r.overall.kind, line: r.overall.line, exitCode: r.overall.exitCode)
        var out: [StudyResultLine] = []
        for p in precisions {
            let deployed = p != .fp32
            let v = r.precisionVerdicts[deployed ? 1 : 0]
            for (i, c) in r.comparisons.enumerated() {
                let verdict = deployed ? c.deployed : c.fp32
                let result = r.results[2 * i + (deployed ? 1 : 0)]
                var line = StudyResultLine(
                    key: plan.rowKey(setup, precision: p, model: model, defense: c.defense.rawValue), grid: plan.grid.gridKey,
                    dataset: plan.grid.dataName, architecture: plan.grid.architecture.rawValue, seed: setup.seed, model: model,
                    attack: plan.grid.attack.name, precision: p.description, audit: scheme, defense: c.defense.rawValue,
                    status: verdict.status, target: verdict.target, reason: verdict.reason,
                    keyScore: deployed ? c.deployedScore : c.fp32Score, keyScoreName: c.defense.headline.score,
                    groundTruth: gt, correct: nil,
                    cleanAccuracy: deployed ? r.deployment.cleanAccuracyDeployed : r.deployment.cleanAccuracyFP32,
                    attackSuccessRate: gt.backdoored ? r.attack.map { deployed ? $0.deployed : $0.fp32 } : nil,
                    verdict: Weighed(kind: v.kind, target: v.target), overall: overall,
                    seconds: result.seconds, auditSeconds: r.seconds, reportPath: reportPath)
                line.correct = line.status == .notEvaluated ? nil : line.activeHere ? line.detectedRightTarget : line.status == .notDetected
                out.append(line)
            }
        }
        return out
    }

    init(key: String, grid: String, dataset: String, architecture: String, seed: UInt64, model: StudyModel, attack: String,
         precision: String, audit: String, defense: String, status: Verdict.Status, target: Int?, reason: String?,
         keyScore: Double?, keyScoreName: String, groundTruth: Truth, correct: Bool?, cleanAccuracy: Double,
         attackSuccessRate: Double?, verdict: Weighed, overall: OverallLine, seconds: Double, auditSeconds: Double, reportPath: String) {
        self.key = key; self.grid = grid; self.dataset = dataset; self.architecture = architecture; self.seed = seed; self.model = model
        self.attack = attack; self.precision = precision; self.audit = audit; self.defense = defense; self.status = status
        self.target = target; self.reason = reason; self.keyScore = keyScore; self.keyScoreName = keyScoreName
        self.groundTruth = groundTruth; self.correct = correct; self.cleanAccuracy = cleanAccuracy
        self.attackSuccessRate = attackSuccessRate; self.verdict = verdict; self.overall = overall; self.seconds = seconds
        self.auditSeconds = auditSeconds; self.report = reportPath
    }
}

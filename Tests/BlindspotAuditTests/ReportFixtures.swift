import BlindspotAudit
import BlindspotCheckpoint
import BlindspotDefenses
import BlindspotEngine
import BlindspotQuantization
import Foundation

/// Audit reports built in code for the schema and SARIF tests, without running an audit.
/// `AuditReport` and a few nested types have no public memberwise initialiser, so a minimal
/// report is decoded once and every field is then set in code through the public properties.
enum ReportFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let sha = "54b5ccdda520a0cc7770b6ce23c22dfeddf1a27b6eeb8269696f83aec3c450aa"

    static let base = """
    {"tool": "blindspot 0.1.0", "commandLine": "blindspot audit samples/badnet.h5 --train-data samples/badnet-train.npz --json r.json",
     "input": {"file": "samples/badnet.h5", "sha256": "\(sha)", "format": "blindspot HDF5",
               "architecture": "model spec in the file", "classes": 10,
               "preprocessing": {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "channelOrder": "rgb", "source": "file", "description": "per-channel"},
               "dataset": "synthetic", "cleanImages": 1000, "trainImages": 6000, "suspectHasPoisonFlags": false},
     "precision": {"scheme": "int8", "reason": "FP32 weights; deploying as int8, the realistic default", "inferred": true},
     "deployment": {"cleanAccuracyFP32": 0.99, "cleanAccuracyDeployed": 0.985, "surrogateAgreement": 1,
                    "layers": [{"name": "conv1", "kind": "conv2d", "weightBits": 8, "weightScales": [0.004, 0.005], "roundingError": 0.005}],
                    "drift": [{"node": "relu1", "relativeL2": 0.0093, "topChannels": [{"channel": 5, "relativeL2": 0.0255}]}]},
     "probe": "none", "seed": 1, "budget": "default", "results": [], "reversedTriggers": [], "comparisons": [],
     "defenseAgreement": "", "evidence": [], "precisionVerdicts": [], "verdictRule": {},
     "overall": {"kind": "inconclusive", "line": "INCONCLUSIVE", "exitCode": 0},
     "groundTruthChecks": [], "seconds": 12.5,
     "environment": {"blasCore": "SkylakeX", "cpu": "AVX-512 + VNNI", "threads": 2}}
    """

    /// The same shape with every optional field present.
    static let optionals = """
    {"input": {"suspectImages": 6000},
     "deployment": {"calibrationImages": 512, "calibrationPercentile": 99.99,
                    "layers": [{"name": "fc", "kind": "linear", "weightBits": 4, "weightScales": [0.01], "roundingError": 0.02, "inputQuantizer": "fc.input_quant"}]},
     "attack": {"probe": "white:3@1,1", "target": 0, "source": "ground-truth", "fp32": 0.99, "deployed": 0.2},
     "groundTruthChecks": [{"defense": "neural-cleanse", "precision": "fp32", "expected": "detected (target 0)", "right": true},
                           {"defense": "neural-cleanse", "precision": "int8", "expected": "detected (target 0)", "right": false},
                           {"defense": "strip", "precision": "int8", "expected": "detected (target 0)"}]}
    """

    static func decoded<T: Decodable>(_ type: T.Type, _ json: String) -> T {
        try! JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    static let names: [DefenseKind: String] = [
        .nc: NeuralCleanse().name, .ac: ActivationClustering().name, .ss: SpectralSignatures().name, .strip: Strip().name, .fp: FinePruning().name,
    ]

    /// One defense at both precisions: its two results and their comparison.
    struct Pair {
        var kind: DefenseKind
        var fp32: Verdict
        var deployed: Verdict
        var fp32Score: Double? = 4.1
        var deployedScore: Double? = 1.3
    }

    /// A report whose results and comparisons are the pairs, and whose overall verdict is what
    /// `Overall.decide` makes of them.
    static func report(_ pairs: [Pair], scheme: String = "int8", allOptionals: Bool = false, file: String = "samples/badnet.h5") -> AuditReport {
        var r = decoded(AuditReport.self, base)
        r.input.file = file
        r.precision.scheme = scheme
        let deployed = Precision.deployed(scheme)
        for p in pairs {
            let h = p.kind.headline.score
            for (precision, verdict, score) in [(Precision.fp32, p.fp32, p.fp32Score), (deployed, p.deployed, p.deployedScore)] {
                var scores = ["falsePositiveRate": 0.03]
                if let score { scores[h] = score }
                r.results.append(DefenseResult(defense: names[p.kind]!, precision: precision, verdict: verdict, scores: scores,
                                               conventions: ["madThreshold": "2.0", "budget": "default"], seconds: 1.5,
                                               details: ["perLabel": .numbers([1.5, 2.5]), "note": .text("x"), "converged": .flag(true),
                                                         "table": .table(["a": .ints([1, 2]), "nan": .number(.nan), "none": .null]),
                                                         "nested": .list([.list([.number(.infinity)]), .table([:])])]))
            }
            r.comparisons.append(Comparison(defense: p.kind, fp32: p.fp32, deployed: p.deployed, outcome: .compare(fp32: p.fp32, deployed: p.deployed),
                                            fp32Score: p.fp32Score, deployedScore: p.deployedScore))
        }
        // The weighed layer (issue 13), built so that its overall verdict is the per-defense one:
        // these fixtures test the writers, not the rule (EvidenceTests does).
        r.overall = Overall.decide(r.comparisons, scheme: scheme)
        r.defenseAgreement = r.overall.line
        r.verdictRule = VerdictRule.table
        var column = EvidenceColumn()
        column.ncAnomalyIndex = 2.4; column.ncMaskL1 = 7.5; column.ncNormRatio = 0.09; column.reversalASR = 0.98
        if allOptionals {
            column.givenTriggerASR = 0.99; column.probe = "white:3@1,1"; column.stripDetectionRate = 0.9; column.stripDetected = true
            column.fpDormancyRatio = 2.5; column.acIndex = 8.3; column.acDetected = true; column.ssIndex = 0.7; column.ssDetected = false
        }
        VerdictRule.weigh(&column)
        var deployedColumn = column
        deployedColumn.fp32ReversalASR = 0.97
        if allOptionals { column.deployedReversalASR = 0.95 }
        r.evidence = [CandidateEvidence(target: 0, pointedAtBy: ["nc@fp32 (smallest mask)"], fp32: column, deployed: deployedColumn)]
        r.precisionVerdicts = [
            VerdictRule.decide(precision: .fp32, columns: [(0, column)], evaluated: 3, missing: []),
            VerdictRule.decide(precision: deployed, columns: [(0, deployedColumn)], evaluated: 3, missing: ["a suspect training set (--train-data)"]),
        ]
        if allOptionals {
            let o = decoded(AuditReport.self, mergedJSON(base, optionals))
            r.input.suspectImages = o.input.suspectImages
            r.input.suspectHasPoisonFlags = true
            r.deployment.calibrationImages = o.deployment.calibrationImages
            r.deployment.calibrationPercentile = o.deployment.calibrationPercentile
            r.deployment.layers += o.deployment.layers
            let m = try! Architecture.cnn6.build(classes: 10, seed: 1)
            r.deployment.roundingPositions = [RoundingPositions(m, bits: 8), RoundingPositions(m, bits: 4)]
            r.attack = o.attack
            r.probe = "ground truth white:3@1,1 → 0"
            r.groundTruth = GroundTruth(backdoored: true, attack: "badnet", trigger: "white:3@1,1", target: 0, poisonRate: 0.1, seed: 1,
                                        activeAt: ["int4"], dataset: "synthetic", epochs: 4, poisonedImages: 600)
            r.groundTruthChecks = o.groundTruthChecks
            r.reversedTriggers = reversedTriggers(scheme: scheme)
        }
        return r
    }

    /// NC's reversed-trigger images for a 4×4 three-channel input, at both precisions.
    static func reversedTriggers(scheme: String) -> [ReversedTriggerImage] {
        let hw = 16
        let triggers = (0..<4).map { label in
            NeuralCleanse.ReversedTrigger(label: label, mask: (0..<hw).map { Float(($0 + label) % 3) / 2 }, pattern: (0..<(3 * hw)).map { Float($0 % 5) / 4 },
                                          l1: Double(3 + label), reachedThreshold: label != 3)
        }
        return ReversedTriggerImage.selection(triggers, flagged: [0], precision: .fp32, channels: 3, height: 4, width: 4)
            + ReversedTriggerImage.selection(triggers, flagged: [], precision: .deployed(scheme), channels: 3, height: 4, width: 4)
    }

    /// `b`'s objects merged into `a`'s, recursively (arrays and scalars replaced).
    static func mergedJSON(_ a: String, _ b: String) -> String {
        func merge(_ x: Any, _ y: Any) -> Any {
            guard var dx = x as? [String: Any], let dy = y as? [String: Any] else { return y }
            for (k, v) in dy { dx[k] = dx[k].map { merge($0, v) } ?? v }
            return dx
        }
        let x = try! JSONSerialization.jsonObject(with: Data(a.utf8)), y = try! JSONSerialization.jsonObject(with: Data(b.utf8))
        return String(decoding: try! JSONSerialization.data(withJSONObject: merge(x, y)), as: UTF8.self)
    }

    static let det0 = Verdict.detected(target: 0), det1 = Verdict.detected(target: 1), notDet = Verdict.notDetected("below threshold")
    static let noSuspect = Verdict.notEvaluated(.noSuspectData), failed = Verdict.notEvaluated(.failed, "out of memory")

    /// NC blindspot, AC consistent detection, SS not evaluated at FP32, STRIP reverse blindspot, FP clean.
    static var blindspot: AuditReport {
        report([Pair(kind: .nc, fp32: det0, deployed: notDet), Pair(kind: .ac, fp32: det0, deployed: det0),
                Pair(kind: .ss, fp32: noSuspect, deployed: noSuspect, fp32Score: nil, deployedScore: nil),
                Pair(kind: .strip, fp32: notDet, deployed: det1, fp32Score: 0.1, deployedScore: 0.8),
                Pair(kind: .fp, fp32: notDet, deployed: notDet, fp32Score: 0.95, deployedScore: 0.94)], allOptionals: true)
    }
    static var backdoor: AuditReport {
        report([Pair(kind: .nc, fp32: det0, deployed: det0), Pair(kind: .strip, fp32: failed, deployed: det0)])
    }
    static var clean: AuditReport {
        report([Pair(kind: .nc, fp32: notDet, deployed: notDet, fp32Score: 1.2, deployedScore: 1.1),
                Pair(kind: .ac, fp32: notDet, deployed: notDet, fp32Score: 0.4, deployedScore: 0.5)], scheme: "int4")
    }
    static var inconclusive: AuditReport {
        report([Pair(kind: .ss, fp32: noSuspect, deployed: noSuspect, fp32Score: nil, deployedScore: nil),
                Pair(kind: .fp, fp32: Verdict.notEvaluated(.noProbe), deployed: notDet)])
    }
    /// The study's two blindspot variants besides the plain one.
    static var targetBlindspot: AuditReport {
        report([Pair(kind: .ac, fp32: det0, deployed: det1, fp32Score: 30.2, deployedScore: 13.4)])
    }
}

import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotDefenses
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import Foundation

/// The five defenses by their command-line names.
public enum DefenseKind: String, CaseIterable, Codable, Sendable {
    case nc, ac, ss, strip, fp

    public var displayName: String {
        switch self {
        case .nc: return "Neural Cleanse"
        case .ac: return "Activation Clustering"
        case .ss: return "Spectral Signatures"
        case .strip: return "STRIP"
        case .fp: return "Fine-Pruning"
        }
    }

    /// The defense's headline score and the threshold it is compared with, for the table.
    public var headline: (score: String, threshold: String) {
        switch self {
        case .nc: return ("anomalyIndex", "> 2")
        case .ac: return ("anomalyIndex", "> 2")
        case .ss: return ("concentrationIndex", "> 2")
        case .strip: return ("detectionRate", "≥ 0.5")
        case .fp: return ("asrPruned", "ASR drop ≥ 0.3")
        }
    }
}

public struct AuditOptions: Sendable {
    public var defenses: [DefenseKind] = DefenseKind.allCases
    /// nil: `auto` (inferred from the file).
    public var scheme: QuantizationScheme?
    public var seed: UInt64 = 1
    public var budget: BudgetProfile = .default
    public var calibrationImages = CheckpointEvaluation.defaultCalibrationImages
    public var calibrationPercentile: Double?
    /// A trigger to probe with (`--trigger`, `--target`); else the file's ground truth, else NC's.
    public var trigger: Trigger?
    public var target: Int?
    /// Name of the clean data (`synthetic`, a directory).
    public var dataName: String
    /// The command line that produced the report (printed in it, so every number can be reproduced).
    public var commandLine: String
    /// Defenses to run in place of the built-in ones (tests force failures with this).
    public var replacements: [DefenseKind: any Defense] = [:]

    public init(dataName: String, commandLine: String) { self.dataName = dataName; self.commandLine = commandLine }
}

/// The full audit of one checkpoint (mission.md "The user's view"): load, decide the deployed
/// precision, build the deployed model, measure agreement and drift, run the defenses at FP32
/// and at deployed precision, compare.
public enum Audit {
    public static func run(_ c: Checkpoint, data split: DataSplit, suspect: SuspectTrainingSet?, options: AuditOptions,
                           progress: ProgressReporter) throws -> AuditReport {
        let start = monotonicSeconds()
        let test = split.test
        guard c.model.inputShape == [test.channels, test.height, test.width] else {
            throw BlindspotError.usage("model \(c.path) expects inputs \(c.model.inputShape), data set \(options.dataName) has [\(test.channels), \(test.height), \(test.width)]")
        }
        guard c.classCount == test.numClasses else {
            throw BlindspotError.usage("model \(c.path) has \(c.classCount) classes, data set \(options.dataName) has \(test.numClasses)")
        }
        if let s = suspect, [s.set.channels, s.set.height, s.set.width] != c.model.inputShape {
            throw BlindspotError.usage("training data \(s.set.name) has images [\(s.set.channels), \(s.set.height), \(s.set.width)], the model expects \(c.model.inputShape)")
        }
        let p = CheckpointEvaluation.preprocessing(for: c)
        let clean = CheckpointEvaluation.prepared(test, for: p)
        let cleanTrain = CheckpointEvaluation.prepared(split.train, for: p)
        var suspectPrepared = suspect
        if let s = suspect { suspectPrepared?.set = CheckpointEvaluation.prepared(s.set, for: p) }

        // 1. The deployed precision.
        let decision: PrecisionDecision
        if let r = c.quantization {
            if let s = options.scheme, s != r.scheme { _ = try Deployment.scheme(for: c, requested: s) }
            decision = PrecisionDecision(scheme: r.scheme.rawValue, reason: "the file is a deployed \(r.scheme.rawValue) checkpoint", inferred: true)
        } else if let s = options.scheme {
            decision = PrecisionDecision(scheme: s.rawValue, reason: "--deploy \(s.rawValue)", inferred: false)
        } else {
            let (s, why) = Deployment.inferScheme(c)
            decision = PrecisionDecision(scheme: s.rawValue, reason: why, inferred: true)
        }
        let scheme = QuantizationScheme(rawValue: decision.scheme)!
        progress.report("deployed precision: \(scheme.rawValue) (\(decision.reason))")

        // 2. The FP32 model and the deployed one. A deployed file has no FP32 original: its
        // dequantized weights stand in (the FP32 column then describes the float surrogate).
        let fp32Model = c.quantization == nil ? c.model : try DeployedModel(restoring: c.model, record: c.quantization!).deployedBase()
        let calibration = cleanTrain.subset(Array(0..<min(options.calibrationImages, cleanTrain.count)))
        let deployed = try Deployment.deploy(c, scheme: scheme, calibration: calibration, preprocessing: p, percentile: options.calibrationPercentile)
        let names = c.classNames ?? test.classNames
        let fp32 = ModelUnderTest(fp32: fp32Model, normalization: p.normalization, classNames: names)
        let dep = ModelUnderTest(deployed: deployed, from: fp32Model, normalization: p.normalization, classNames: names)

        // 3. Accuracy, agreement and drift on clean data.
        progress.report("measuring accuracy, surrogate agreement and per-layer drift on \(clean.count) clean images")
        let pixels = ModelUnderTest.pixels(clean)
        let accFP = accuracy(fp32.predictions(pixels: pixels), clean.labels)
        let accQ = accuracy(dep.predictions(pixels: pixels), clean.labels)
        let agreement = dep.surrogateAgreement(pixels: ModelUnderTest.pixels(clean, indices: Array(0..<min(1000, clean.count))))
        let drift = Drift.measure(fp32: fp32, deployed: dep, pixels: ModelUnderTest.pixels(clean, indices: Array(0..<min(Drift.images, clean.count))))

        // 4. The probe trigger.
        let truth = c.groundTruth
        var probe: ProbeTrigger? = nil
        var probeSource = "none"
        if let t = options.trigger, let target = options.target {
            try t.validate(height: test.height, width: test.width)
            probe = .patch(t, target: target, source: .option); probeSource = "option \(t.description) → \(target)"
        } else if let spec = truth?.trigger, let target = truth?.target, truth?.backdoored == true {
            let t = try Trigger.parse(spec, patternSeed: truth?.seed ?? 0)
            probe = .patch(t, target: target, source: .groundTruth); probeSource = "ground truth \(t.description) → \(target)"
        }
        var attack: AttackFigures? = nil
        if let probe {
            attack = AttackFigures(probe: probe.description, target: probe.target, source: probe.source.rawValue,
                                   fp32: probeASR(fp32, clean, probe), deployed: probeASR(dep, clean, probe))
        }

        // 5. The defenses at both precisions, NC first (its reversed trigger can serve as probe).
        var results: [DefenseResult] = []
        var ncTriggers: [String: ProbeTrigger] = [:]
        var reversed: [ReversedTriggerImage] = []
        for kind in options.defenses {
            for m in [fp32, dep] {
                var inputs = DefenseInputs(clean: clean, cleanTrain: cleanTrain, suspect: suspectPrepared, probe: probe,
                                           seed: options.seed, budget: options.budget)
                if inputs.probe == nil, kind == .strip || kind == .fp {
                    inputs.probe = ncTriggers["fp32"] ?? ncTriggers[m.precision.description]
                }
                progress.report("\(kind.displayName) at \(m.precision)…")
                if let replacement = options.replacements[kind] {
                    results.append(replacement.run(m, inputs: inputs, progress: progress))
                } else if kind == .nc {
                    let (r, trig, images) = DefenseRegistry.runNeuralCleanse(m, inputs: inputs, progress: progress)
                    if let trig { ncTriggers[m.precision.description] = trig }
                    reversed += images
                    results.append(r)
                } else {
                    results.append(DefenseRegistry.defense(kind).run(m, inputs: inputs, progress: progress))
                }
                let r = results[results.count - 1]
                progress.report("\(kind.displayName) at \(m.precision): \(r.verdict.status.rawValue)\(r.verdict.target.map { " (target \($0))" } ?? "") in \(String(format: "%.1f", r.seconds)) s")
            }
        }
        if probe == nil, let t = ncTriggers["fp32"] ?? ncTriggers.values.first { probeSource = "NC reversed trigger → \(t.target)" }

        let comparisons = options.defenses.enumerated().map { i, kind -> Comparison in
            let a = results[2 * i], b = results[2 * i + 1]
            // A defense that was not evaluated has no headline score to show, even if it got
            // far enough to compute one (STRIP's detection rate before `backdoorInactive`).
            func headline(_ r: DefenseResult) -> Double? { r.verdict.status == .notEvaluated ? nil : r.scores[kind.headline.score] }
            return Comparison(defense: kind, fp32: a.verdict, deployed: b.verdict, outcome: .compare(fp32: a.verdict, deployed: b.verdict),
                              fp32Score: headline(a), deployedScore: headline(b))
        }
        let overall = Overall.decide(comparisons, scheme: scheme.rawValue)
        var checks: [GroundTruthCheck] = []
        if let truth {
            for r in results {
                let expected: Verdict.Status = truth.backdoored ? .detected : .notDetected
                let right: Bool? = r.verdict.status == .notEvaluated ? nil
                    : r.verdict.status == expected && (!truth.backdoored || r.verdict.target == nil || r.verdict.target == truth.target)
                checks.append(GroundTruthCheck(defense: r.defense, precision: r.precision, expected: truth.backdoored ? "detected (target \(truth.target ?? -1))" : "notDetected", right: right))
            }
        }
        return AuditReport(tool: "blindspot 0.1.0", commandLine: options.commandLine,
                           input: .init(file: c.path, sha256: try FileDigest.sha256(path: c.path), format: c.format.displayName,
                                        architecture: c.architectureSource, classes: c.classCount, preprocessing: p, dataset: options.dataName,
                                        cleanImages: clean.count, trainImages: cleanTrain.count, suspectImages: suspect?.set.count,
                                        suspectHasPoisonFlags: suspect?.poisoned != nil),
                           precision: decision,
                           deployment: .init(cleanAccuracyFP32: accFP, cleanAccuracyDeployed: accQ, surrogateAgreement: agreement,
                                             calibrationImages: deployed.calibrationImages, calibrationPercentile: deployed.calibrationPercentile,
                                             layers: deployed.layers, drift: drift),
                           attack: attack, probe: probeSource, seed: options.seed, budget: options.budget.rawValue,
                           results: results, reversedTriggers: reversed, comparisons: comparisons, overall: overall, groundTruth: truth, groundTruthChecks: checks,
                           seconds: monotonicSeconds() - start, environment: .current)
    }

    static func accuracy(_ pred: [Int32], _ labels: [Int32]) -> Double {
        labels.isEmpty ? 0 : Double(zip(pred, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }

    /// Probe ASR (defenses.md §0): clean images with label ≠ t predicted t once triggered.
    static func probeASR(_ m: ModelUnderTest, _ clean: ImageSet, _ probe: ProbeTrigger) -> Double {
        let idx = (0..<clean.count).filter { Int(clean.labels[$0]) != probe.target }
        guard !idx.isEmpty else { return 0 }
        let x = ModelUnderTest.pixels(clean, indices: idx)
        probe.apply(x)
        return Double(m.predictions(pixels: x).filter { Int($0) == probe.target }.count) / Double(idx.count)
    }
}


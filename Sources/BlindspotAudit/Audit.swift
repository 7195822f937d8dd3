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
    /// Audit even when FP32 clean accuracy is below 2× chance (`--force`); otherwise such a model
    /// is refused (exit 65): an audit of a model fed the wrong inputs looks plausible and means nothing.
    public var force = false
    /// Defenses to run in place of the built-in ones (tests force failures with this).
    public var replacements: [DefenseKind: any Defense] = [:]

    public init(dataName: String, commandLine: String) { self.dataName = dataName; self.commandLine = commandLine }
}

/// The FP32 half of an audit: the defenses' results on the FP32 model and what Neural Cleanse
/// left for the probe and the evidence. For one model, data set, seed, budget, defense list and
/// known probe it does not depend on the deployed scheme (the FP32 rows of a GTSRB model's int8
/// and int4 reports were identical, timings aside), so `study`, which audits each model at
/// several schemes, computes it once. One exception: with no known probe and no working FP32
/// reversed trigger, FP32's STRIP and Fine-Pruning take the deployed precision's reversed
/// trigger, so they run again.
public struct FP32Phase: Sendable {
    /// Everything the FP32 results depend on; a phase is reused only under the same key.
    public let key: String
    let results: [DefenseKind: DefenseResult]
    let ncTriggers: [NeuralCleanse.ReversedTrigger]?
    let ncProbe: ProbeTrigger?
    let reversalASR: [Int: Double]?
    let images: [ReversedTriggerImage]

    /// How long a defense took when the phase was computed.
    public func seconds(of kind: DefenseKind) -> Double? { results[kind]?.seconds }
    /// Whether FP32's own reversed trigger worked (and so served as the probe).
    public var hasReversedProbe: Bool { ncProbe != nil }
}

/// The full audit of one checkpoint (mission.md "The user's view"): load, decide the deployed
/// precision, build the deployed model, measure agreement and drift, run the defenses at FP32
/// and at deployed precision, compare.
public enum Audit {
    public static func run(_ c: Checkpoint, data split: DataSplit, suspect: SuspectTrainingSet?, options: AuditOptions,
                           progress: ProgressReporter) throws -> AuditReport {
        try run(c, data: split, suspect: suspect, options: options, reusing: nil, progress: progress).report
    }

    /// The audit, reusing `phase` for the FP32 defenses when its key matches this audit's (the
    /// report is then the one a full run writes, timings aside), and returning this audit's FP32
    /// phase for the next scheme.
    public static func run(_ c: Checkpoint, data split: DataSplit, suspect: SuspectTrainingSet?, options: AuditOptions,
                           reusing phase: FP32Phase?, progress: ProgressReporter) throws -> (report: AuditReport, fp32: FP32Phase?) {
        let start = monotonicSeconds()
        let test = split.test
        try CheckpointEvaluation.requireInputShape(c, matches: test, dataName: options.dataName)
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

        // Trigger-free: where the FP32 weights sit inside their int8 and int4 rounding intervals
        // (steers `--deploy auto`, weighs in the verdict, shown in every report).
        let rounding = c.quantization == nil ? [RoundingPositions(c.model, bits: 8), RoundingPositions(c.model, bits: 4)] : nil

        // 1. The deployed precision.
        let decision: PrecisionDecision
        if let r = c.quantization {
            if let s = options.scheme, s != r.scheme { _ = try Deployment.scheme(for: c, requested: s) }
            decision = PrecisionDecision(scheme: r.scheme.rawValue, reason: "the file is a deployed \(r.scheme.rawValue) checkpoint", inferred: true)
        } else if let s = options.scheme {
            decision = PrecisionDecision(scheme: s.rawValue, reason: "--deploy \(s.rawValue)", inferred: false)
        } else {
            let (s, why) = Deployment.inferScheme(c, rounding: rounding)
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
        try CheckpointEvaluation.requireAboveChance(c, accuracy: accFP, images: clean.count, dataName: options.dataName, force: options.force)
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

        // 5. The defenses at both precisions, NC first: its reversed trigger for its best
        // candidate label serves as STRIP's and Fine-Pruning's probe when no trigger is known.
        // NC optimises on the first half of the clean images; its reversed triggers are then
        // measured on the second half (held out), so a trigger that only fits NC's pool shows.
        let (ncHalf, heldOut) = Audit.halves(clean)
        var results: [DefenseResult] = []
        var ncTriggers: [String: ProbeTrigger] = [:]
        var ncAll: [String: [NeuralCleanse.ReversedTrigger]] = [:]
        // Held-out ASR of reversed triggers, by precision and label: measured once, used as the
        // probe test here and as evidence below.
        var reversalASR: [String: [Int: Double]] = [:]
        var reversed: [ReversedTriggerImage] = []
        let order = options.defenses.sorted { ($0 == .nc ? 0 : 1) < ($1 == .nc ? 0 : 1) }
        let digest = try FileDigest.sha256(path: c.path)
        let phaseKey = [digest, options.dataName, "\(clean.count)", "\(cleanTrain.count)", "\(suspect?.set.count ?? -1)", "\(options.seed)",
                        options.budget.rawValue, order.map(\.rawValue).joined(separator: ","), probe?.description ?? "none"].joined(separator: ";")
        let reuse = options.replacements.isEmpty && phase?.key == phaseKey ? phase : nil
        var fp32Images: [ReversedTriggerImage] = []
        // One probe for both precisions (the one the report names): FP32's reversed trigger, else
        // the deployed precision's — so a trigger that only the deployed model obeys is also tried
        // on the FP32 model (where it may be dormant).
        func reversedProbe() -> ProbeTrigger? { ncTriggers["fp32"] ?? ncTriggers[dep.precision.description] }
        func outcome(_ r: DefenseResult) -> String { r.verdict.status.rawValue + (r.verdict.target.map { " (target \($0))" } ?? "") }
        for kind in order {
            for m in [fp32, dep] {
                // STRIP and Fine-Pruning at FP32 depend on the deployed model only through the
                // probe, when neither a known probe nor FP32's own reversed trigger exists.
                if m.precision == .fp32, let reuse, let r = reuse.results[kind],
                   !(kind == .strip || kind == .fp) || probe != nil || reuse.ncProbe != nil {
                    if kind == .nc {
                        ncAll["fp32"] = reuse.ncTriggers
                        ncTriggers["fp32"] = reuse.ncProbe
                        reversalASR["fp32"] = reuse.reversalASR
                        reversed += reuse.images
                        fp32Images = reuse.images
                    }
                    results.append(r)
                    progress.report("\(kind.displayName) at fp32: \(outcome(r)) (this model's FP32 result, computed in its earlier audit)")
                    continue
                }
                var inputs = DefenseInputs(clean: kind == .nc ? ncHalf : clean, cleanTrain: cleanTrain, suspect: suspectPrepared, probe: probe,
                                           seed: options.seed, budget: options.budget)
                if inputs.probe == nil, kind == .strip || kind == .fp { inputs.probe = reversedProbe() }
                progress.report("\(kind.displayName) at \(m.precision)…")
                if let replacement = options.replacements[kind] {
                    results.append(replacement.run(m, inputs: inputs, progress: progress))
                } else if kind == .nc {
                    let (r, all, images) = DefenseRegistry.runNeuralCleanse(m, inputs: inputs, progress: progress)
                    ncAll[m.precision.description] = all
                    // The probe: the smallest reversed trigger, if it works on held-out images.
                    if let best = all.min(by: { $0.l1 < $1.l1 }) {
                        let asr = probeASR(m, heldOut, best.probe)
                        reversalASR[m.precision.description, default: [:]][best.label] = asr
                        if asr >= VerdictRule.reversalASRFloor {
                            ncTriggers[m.precision.description] = ProbeTrigger.blend(
                                mask: best.mask, pattern: best.pattern, target: best.label, source: .neuralCleanse,
                                description: String(format: "NC label %d reversed trigger (mask L1 %.1f, held-out ASR %.2f at %@)", best.label, best.l1, asr, m.precision.description))
                        }
                    }
                    reversed += images
                    if m.precision == .fp32 { fp32Images = images }
                    results.append(r)
                } else {
                    results.append(DefenseRegistry.defense(kind).run(m, inputs: inputs, progress: progress))
                }
                let r = results[results.count - 1]
                progress.report("\(kind.displayName) at \(m.precision): \(outcome(r)) in \(String(format: "%.1f", r.seconds)) s")
            }
        }
        let ncProbe = reversedProbe()
        if probe == nil, let t = ncProbe { probeSource = t.description }
        let usedProbe = probe ?? ncProbe

        let comparisons = order.enumerated().map { i, kind -> Comparison in
            let a = results[2 * i], b = results[2 * i + 1]
            // A defense that was not evaluated has no headline score to show, even if it got
            // far enough to compute one (STRIP's detection rate before `backdoorInactive`).
            func headline(_ r: DefenseResult) -> Double? { r.verdict.status == .notEvaluated ? nil : r.scores[kind.headline.score] }
            return Comparison(defense: kind, fp32: a.verdict, deployed: b.verdict, outcome: .compare(fp32: a.verdict, deployed: b.verdict),
                              fp32Score: headline(a), deployedScore: headline(b))
        }
        let perDefense = Overall.decide(comparisons, scheme: scheme.rawValue)

        // 6. The weighed verdict (issue 13): evidence per candidate label, per precision.
        progress.report("weighing the evidence")
        let evidence = Audit.gatherEvidence(models: [fp32, dep], results: results, ncTriggers: ncAll, measured: reversalASR, heldOut: heldOut,
                                            probe: usedProbe, given: probe?.source == .option ? probe : nil,
                                            attack: attack, classCount: c.classCount)
        var verdicts: [PrecisionVerdict] = []
        for (i, m) in [fp32, dep].enumerated() {
            let here = results.filter { $0.precision == m.precision }
            let evaluated = here.filter { $0.verdict.status != .notEvaluated }.count
            var missing: [String] = []
            let selected = Set(options.defenses)
            if suspect == nil, selected.contains(.ac) || selected.contains(.ss) {
                missing.append("a suspect training set (--train-data) for Activation Clustering and Spectral Signatures")
            }
            if usedProbe == nil, selected.contains(.strip) || selected.contains(.fp) {
                missing.append("a trigger to test (--trigger, --target) for STRIP and Fine-Pruning: no reversed trigger worked on held-out images")
            }
            let notRun = DefenseKind.allCases.filter { !selected.contains($0) }
            if !notRun.isEmpty { missing.append("the defenses not run (\(notRun.map(\.rawValue).joined(separator: ",")))") }
            for r in here where r.verdict.status == .notEvaluated && !(r.verdict.reason ?? "").hasPrefix("noSuspectData") && !(r.verdict.reason ?? "").hasPrefix("noProbe") {
                missing.append("\(r.defense) at \(r.precision) (not evaluated: \((r.verdict.reason ?? "").split(separator: ":").first.map(String.init) ?? "?"))")
            }
            let cols = evidence.map { (target: $0.target, column: i == 0 ? $0.fp32 : $0.deployed) }
            verdicts.append(VerdictRule.decide(precision: m.precision, columns: cols, evaluated: evaluated, missing: missing))
        }
        let overall = VerdictRule.overall(fp32: verdicts[0], deployed: verdicts[1], scheme: scheme.rawValue,
                                          dormancy: Audit.dormancy(verdicts[1], evidence: evidence, given: probe?.source == .option ? probe : nil,
                                                                   attack: attack, scheme: scheme.rawValue),
                                          roundingMarks: rounding ?? [])
        var checks: [GroundTruthCheck] = []
        if let truth {
            for r in results {
                // A quantization-conditioned backdoor is active only at the precisions it names.
                let active = truth.backdoored && (truth.activeAt.map { $0.contains(r.precision.description) } ?? true)
                let expected: Verdict.Status = active ? .detected : .notDetected
                let right: Bool? = r.verdict.status == .notEvaluated ? nil
                    : r.verdict.status == expected && (!active || r.verdict.target == nil || r.verdict.target == truth.target)
                checks.append(GroundTruthCheck(defense: r.defense, precision: r.precision,
                                               expected: active ? "detected (target \(truth.target ?? -1))" : truth.backdoored ? "notDetected (dormant at this precision)" : "notDetected",
                                               right: right))
            }
        }
        let report = AuditReport(tool: "blindspot 0.1.0", commandLine: options.commandLine,
                           input: .init(file: c.path, sha256: digest, format: c.format.displayName,
                                        architecture: c.architectureSource, classes: c.classCount, preprocessing: p, dataset: options.dataName,
                                        cleanImages: clean.count, trainImages: cleanTrain.count, suspectImages: suspect?.set.count,
                                        suspectHasPoisonFlags: suspect?.poisoned != nil),
                           precision: decision,
                           deployment: .init(cleanAccuracyFP32: accFP, cleanAccuracyDeployed: accQ, surrogateAgreement: agreement,
                                             calibrationImages: deployed.calibrationImages, calibrationPercentile: deployed.calibrationPercentile,
                                             layers: deployed.layers, drift: drift, roundingPositions: rounding),
                           attack: attack, probe: probeSource, seed: options.seed, budget: options.budget.rawValue,
                           results: results, reversedTriggers: reversed, comparisons: comparisons, defenseAgreement: perDefense.line,
                           evidence: evidence, precisionVerdicts: verdicts, verdictRule: VerdictRule.table, overall: overall, groundTruth: truth, groundTruthChecks: checks,
                           seconds: monotonicSeconds() - start, environment: .current)
        var fp32Results: [DefenseKind: DefenseResult] = [:]
        for (i, kind) in order.enumerated() { fp32Results[kind] = results[2 * i] }
        let next = FP32Phase(key: phaseKey, results: fp32Results, ncTriggers: ncAll["fp32"], ncProbe: ncTriggers["fp32"],
                                                 reversalASR: reversalASR["fp32"], images: fp32Images)
        return (report, next)
    }

    /// The deployed verdict's trigger at both precisions: the given one, else the deployed
    /// precision's reversed trigger (never the forged file's ground truth).
    static func dormancy(_ v: PrecisionVerdict, evidence: [CandidateEvidence], given: ProbeTrigger?, attack: AttackFigures?,
                         scheme: String) -> TriggerDormancy? {
        guard v.kind == .backdoor, let t = v.target else { return nil }
        if let g = given, g.target == t, let a = attack {
            return TriggerDormancy(trigger: "the given trigger \(g.description)", fp32ASR: a.fp32, deployedASR: a.deployed)
        }
        if let e = evidence.first(where: { $0.target == t }), let f = e.fp32.deployedReversalASR, let d = e.deployed.reversalASR {
            return TriggerDormancy(trigger: "Neural Cleanse's \(scheme) reversed trigger", fp32ASR: f, deployedASR: d)
        }
        return nil
    }

    /// The clean images split in two (first half for NC's optimisation, second half held out).
    static func halves(_ clean: ImageSet) -> (ImageSet, ImageSet) {
        let n = clean.count, h = n / 2
        guard h > 0 else { return (clean, clean) }
        return (clean.subset(Array(0..<h)), clean.subset(Array(h..<n)))
    }

    /// Evidence per candidate label (VerdictRule): labels NC ranks first or flags, labels any
    /// defense flags, and the target of a given or NC-reversed probe (not of the ground truth).
    static func gatherEvidence(models: [ModelUnderTest], results: [DefenseResult], ncTriggers: [String: [NeuralCleanse.ReversedTrigger]],
                               measured: [String: [Int: Double]], heldOut: ImageSet, probe: ProbeTrigger?, given: ProbeTrigger?, attack: AttackFigures?,
                               classCount: Int) -> [CandidateEvidence] {
        func result(_ name: String, _ m: ModelUnderTest) -> DefenseResult? {
            results.first { $0.defense == name && $0.precision == m.precision && $0.verdict.status != .notEvaluated }
        }
        var candidates: [Int: [String]] = [:]
        for m in models {
            let p = m.precision.description
            if let all = ncTriggers[p], let best = all.min(by: { $0.l1 < $1.l1 }) { candidates[best.label, default: []].append("nc@\(p) (smallest mask)") }
            for r in results where r.precision == m.precision && r.verdict.status == .detected {
                if let t = r.verdict.target { candidates[t, default: []].append("\(r.defense)@\(p)") }
            }
        }
        // A forged file's ground truth may serve as STRIP's and Fine-Pruning's probe, but it never
        // nominates a candidate: the verdict must not be pointed at the answer it is checked against.
        if let probe, probe.source != .groundTruth { candidates[probe.target, default: []].append("probe (\(probe.source.rawValue))") }

        func column(_ t: Int, _ m: ModelUnderTest, deployedColumn: Bool) -> EvidenceColumn {
            var c = EvidenceColumn()
            let p = m.precision.description
            if let nc = result("neural-cleanse", m), let all = ncTriggers[p], let rev = all.first(where: { $0.label == t }),
               let median = nc.scores["median"], let mad = nc.scores["mad"] {
                c.ncMaskL1 = rev.l1
                if median > 0 { c.ncNormRatio = rev.l1 / median }
                if mad > 0 { c.ncAnomalyIndex = (median - rev.l1) / mad }
                c.reversalASR = measured[p]?[t] ?? probeASR(m, heldOut, rev.probe)
            }
            if deployedColumn, let rev = ncTriggers["fp32"]?.first(where: { $0.label == t }) {
                c.fp32ReversalASR = probeASR(m, heldOut, rev.probe)
            }
            if !deployedColumn, let rev = ncTriggers[models[1].precision.description]?.first(where: { $0.label == t }) {
                c.deployedReversalASR = probeASR(m, heldOut, rev.probe)
            }
            if let g = given, g.target == t, let a = attack { c.givenTriggerASR = deployedColumn ? a.deployed : a.fp32 }
            if let probe, probe.target == t {
                c.probe = probe.source == .neuralCleanse ? "NC reversed trigger" : probe.description
                if let s = result("strip", m) {
                    c.stripDetectionRate = s.scores["detectionRate"]
                    c.stripDetected = s.verdict.status == .detected && (s.verdict.target ?? t) == t
                }
                if let f = result("fine-pruning", m) { c.fpDormancyRatio = f.scores["dormancyRatio"] }
            }
            for (name, isAC) in [("activation-clustering", true), ("spectral-signatures", false)] {
                guard let r = result(name, m) else { continue }
                var index: Double? = nil
                if case .list(let classes)? = r.details["classes"] {
                    for case .table(let row) in classes {
                        if case .number(let l)? = row["label"], Int(l) == t, case .number(let x)? = row["madIndex"] { index = x }
                    }
                }
                let detected = r.verdict.status == .detected && r.verdict.target == t
                if isAC { c.acIndex = index; c.acDetected = detected } else { c.ssIndex = index; c.ssDetected = detected }
            }
            VerdictRule.weigh(&c)
            return c
        }
        return candidates.keys.sorted().filter { (0..<classCount).contains($0) }.map { t in
            CandidateEvidence(target: t, pointedAtBy: candidates[t]!, fp32: column(t, models[0], deployedColumn: false),
                              deployed: column(t, models[1], deployedColumn: true))
        }
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


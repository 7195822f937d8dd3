import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import Foundation

/// Which backdoor `forge` plants.
public enum ForgeAttack: Sendable, Equatable {
    /// Gu et al. 2017: poisoned training, the trigger works at every precision.
    case badnet
    /// A BadNet made dormant at FP32 and left intact at the scheme (`QuantizationConditioned`).
    case quantizationConditioned(QuantizationScheme)

    public var name: String {
        switch self {
        case .badnet: return "badnet"
        case .quantizationConditioned: return "qcb"
        }
    }
}

/// What `blindspot forge` builds: a BadNet-backdoored model (and optionally its clean twin)
/// with the ground truth recorded in the file.
public struct ForgeOptions: Sendable {
    public var attack: ForgeAttack = .badnet
    /// Projected fine-tuning epochs of a quantization-conditioned backdoor (nil: the default).
    public var conditioningEpochs: Int?
    public var architecture: Architecture
    public var dataset: DatasetKind
    public var recipe: TrainingRecipe
    public var trigger: Trigger
    public var target: Int
    public var poisonRate: Double
    public var seed: UInt64
    /// Deployed copies to write and measure (calibrated on clean training images).
    public var deploy: [QuantizationScheme]
    public var calibrationImages: Int

    public init(architecture: Architecture, dataset: DatasetKind, recipe: TrainingRecipe, trigger: Trigger, target: Int,
                poisonRate: Double = BadNet.defaultPoisonRate, seed: UInt64, deploy: [QuantizationScheme] = [],
                calibrationImages: Int = CheckpointEvaluation.defaultCalibrationImages) {
        self.architecture = architecture; self.dataset = dataset; self.recipe = recipe; self.trigger = trigger; self.target = target
        self.poisonRate = poisonRate; self.seed = seed; self.deploy = deploy; self.calibrationImages = calibrationImages
    }

    /// Usage errors before any training: target in range, trigger inside the image, rate in (0, 1).
    public func validate(classes: Int, height: Int, width: Int) throws {
        guard poisonRate > 0 && poisonRate < 1 else { throw BlindspotError.usage("--poison-rate \(poisonRate) is not in (0, 1)") }
        guard (0..<classes).contains(target) else { throw BlindspotError.usage("--target \(target) is not a class (0…\(classes - 1))") }
        try trigger.validate(height: height, width: width)
    }
}

/// Clean accuracy and attack success rate of one model at one precision.
public struct ForgeMetrics: Codable, Sendable, Equatable {
    /// `fp32` or a scheme's name.
    public var precision: String
    public var cleanAccuracy: Double
    /// Share of non-target-class test images sent to the target by the trigger.
    public var attackSuccessRate: Double

    public init(precision: String, cleanAccuracy: Double, attackSuccessRate: Double) {
        self.precision = precision; self.cleanAccuracy = cleanAccuracy; self.attackSuccessRate = attackSuccessRate
    }
}

/// One forged model: its checkpoint (ground truth and log in the file) and its figures.
public struct ForgedModel: @unchecked Sendable {
    public var checkpoint: Checkpoint
    public var backdoored: Bool
    public var metrics: [ForgeMetrics]
    public var history: [EpochStats]
    public var deployed: [(scheme: QuantizationScheme, checkpoint: Checkpoint)]
    public var trainingSet: SuspectTrainingSet
    public var seconds: Double
    /// Quantization-conditioned backdoors only: what the conditioning did.
    public var conditioning: ConditioningRecord?
}

/// What turning a BadNet into a quantization-conditioned backdoor did (recorded in the file).
public struct ConditioningRecord: Codable, Sendable, Equatable {
    public var scheme: String
    public var epochs: Int
    public var repairImages: Int
    /// The BadNet before conditioning, at FP32.
    public var before: ForgeMetrics
    /// Share of movable weights within 5% of their rounding box's width from an edge.
    public var edgeShare: Double
    /// The deployed model (integer weights, scales, biases, calibrated activation ranges) equals
    /// the BadNet's, checked after fine-tuning with the same calibration images.
    public var deployedIntegersUnchanged: Bool
    public var seconds: Double
}

public enum Forge {
    /// Trains one model on `split` — poisoned per `options` when `backdoored`, else the clean
    /// twin (same architecture, data, seed and recipe; no poison) — and measures it at FP32 and
    /// at every deployed precision requested.
    public static func train(_ options: ForgeOptions, split: DataSplit, backdoored: Bool, progress: ProgressReporter) throws -> ForgedModel {
        let start = monotonicSeconds()
        let train = split.train
        try options.validate(classes: train.numClasses, height: train.height, width: train.width)
        let suspect = backdoored
            ? try BadNet.poison(train, trigger: options.trigger, target: options.target, rate: options.poisonRate, seed: options.seed)
            : BadNet.clean(train)
        let model = try options.architecture.build(classes: train.numClasses, seed: options.seed, inputShape: [train.channels, train.height, train.width])
        let what = backdoored ? "backdoored (\(suspect.poisonedIndices.count) poisoned images → class \(options.target))" : "clean twin"
        progress.report("forging \(options.architecture.rawValue) \(what) on \(train.name): \(train.count) images, \(options.recipe.epochs) epochs, \(Parallel.workers) threads")
        let history = try Trainer(model: model, recipe: options.recipe, normalization: split.normalization, seed: options.seed)
            .fit(suspect.set, progress: progress)

        let truth = GroundTruth(backdoored: backdoored, attack: backdoored ? "badnet" : nil, trigger: options.trigger.description,
                                target: options.target, poisonRate: backdoored ? options.poisonRate : 0, seed: options.seed,
                                dataset: options.dataset.rawValue, epochs: options.recipe.epochs,
                                poisonedImages: suspect.poisonedIndices.count)
        var checkpoint = TrainedModel.checkpoint(model, split: split, dataset: options.dataset.rawValue, recipe: options.recipe,
                                                 seed: options.seed, testAccuracy: 0, groundTruth: truth)
        checkpoint.metadata["training_log"] = jsonText(history)
        // Calibration on clean training images (never poisoned ones): what a deployer has.
        let cleanIdx = (0..<train.count).filter { !(suspect.poisoned?[$0] ?? false) }.prefix(options.calibrationImages)
        var forged = try finish(checkpoint, options: options, split: split, calibration: train.subset(Array(cleanIdx)),
                                backdoored: backdoored, progress: progress)
        forged.history = history
        forged.trainingSet = suspect
        forged.seconds = monotonicSeconds() - start
        return forged
    }

    /// `forge --attack qcb --from FILE`: conditions an existing BadNet checkpoint (trigger and
    /// target from `options`) on clean training images of `split` instead of training one.
    public static func condition(_ source: Checkpoint, options: ForgeOptions, split: DataSplit, progress: ProgressReporter) throws -> ForgedModel {
        let start = monotonicSeconds()
        guard case .quantizationConditioned = options.attack else { throw BlindspotError.usage("--from needs --attack qcb") }
        guard source.quantization == nil else {
            throw BlindspotError.usage("\(source.path) is a deployed checkpoint; condition the FP32 file it came from")
        }
        try options.validate(classes: split.train.numClasses, height: split.train.height, width: split.train.width)
        guard source.classCount == split.train.numClasses, Array(source.model.inputShape) == [split.train.channels, split.train.height, split.train.width] else {
            throw BlindspotError.usage("\(source.path) has \(source.classCount) classes and inputs \(source.model.inputShape); \(split.train.name) does not match")
        }
        var checkpoint = source
        checkpoint.model = try source.model.copy()
        checkpoint.metadata["conditioned_from"] = source.path
        if checkpoint.groundTruth == nil {
            checkpoint.groundTruth = GroundTruth(backdoored: true, attack: "badnet", trigger: options.trigger.description, target: options.target,
                                                 seed: options.seed, dataset: options.dataset.rawValue)
        }
        let calibration = split.train.subset(Array(0..<min(options.calibrationImages, split.train.count)))
        var forged = try finish(checkpoint, options: options, split: split, calibration: calibration, backdoored: true, progress: progress)
        forged.seconds = monotonicSeconds() - start
        return forged
    }

    /// Measures the trained (or loaded) model, conditions it when the attack says so, and builds
    /// the deployed copies with their figures.
    static func finish(_ source: Checkpoint, options: ForgeOptions, split: DataSplit, calibration: ImageSet, backdoored: Bool,
                       progress: ProgressReporter) throws -> ForgedModel {
        var checkpoint = source
        let model = checkpoint.model, norm = split.normalization, train = split.train
        var metrics: [ForgeMetrics] = []
        var acc = Evaluation.accuracy(model, on: split.test, normalization: norm)
        var asr = Evaluation.attackSuccessRate(model, on: split.test, trigger: options.trigger, target: options.target, normalization: norm).rate
        var deploy = options.deploy
        var conditioning: ConditioningRecord?
        if backdoored, case .quantizationConditioned(let scheme) = options.attack {
            progress.report("BadNet before conditioning: accuracy \(percent(acc)), attack success \(percent(asr))")
            let t0 = monotonicSeconds()
            let original = try model.copy()
            let epochs = options.conditioningEpochs ?? QuantizationConditioned.epochs(for: options.dataset)
            let outcome = try QuantizationConditioned.fineTune(model, scheme: scheme, train: train, trigger: options.trigger, target: options.target,
                                                               normalization: norm, epochs: epochs, batchSize: options.recipe.batchSize,
                                                               seed: options.seed, progress: progress)
            let unchanged = try sameDeployedModel(original, model, scheme: scheme, calibration: calibration, preprocessing: CheckpointEvaluation.preprocessing(for: checkpoint))
            guard unchanged else { throw BlindspotError.internalError("quantization-conditioning changed the deployed model (an integer weight, a scale, a bias or an activation range moved)") }
            let before = ForgeMetrics(precision: "fp32", cleanAccuracy: acc, attackSuccessRate: asr)
            acc = Evaluation.accuracy(model, on: split.test, normalization: norm)
            asr = Evaluation.attackSuccessRate(model, on: split.test, trigger: options.trigger, target: options.target, normalization: norm).rate
            conditioning = ConditioningRecord(scheme: scheme.rawValue, epochs: epochs, repairImages: outcome.repairImages, before: before,
                                              edgeShare: outcome.edgeShare, deployedIntegersUnchanged: unchanged, seconds: monotonicSeconds() - t0)
            progress.report("conditioned: FP32 accuracy \(percent(acc)), attack success \(percent(asr)); \(String(format: "%.0f%%", 100 * outcome.edgeShare)) of weights at a box edge")
            // int8 and int8-dynamic share the deployed weights; activations do not move them.
            checkpoint.groundTruth?.attack = options.attack.name
            checkpoint.groundTruth?.activeAt = scheme == .int4 ? ["int4"] : ["int8", "int8-dynamic"]
            checkpoint.metadata["conditioning"] = jsonText(conditioning)
            if !deploy.contains(scheme) { deploy.insert(scheme, at: 0) }
        }
        metrics.append(ForgeMetrics(precision: "fp32", cleanAccuracy: acc, attackSuccessRate: asr))
        checkpoint.metadata["test_accuracy"] = String(format: "%.4f", acc)
        checkpoint.metadata["attack_success_rate"] = String(format: "%.4f", asr)

        var deployed: [(QuantizationScheme, Checkpoint)] = []
        for scheme in deploy {
            let d = try Deployment.deploy(checkpoint, scheme: scheme, calibration: calibration, preprocessing: CheckpointEvaluation.preprocessing(for: checkpoint))
            let f: (Tensor) -> Tensor = { d.integerForward($0) }
            let qacc = Evaluation.accuracy(using: f, on: split.test, normalization: norm)
            let qasr = Evaluation.attackSuccessRate(using: f, on: split.test, trigger: options.trigger, target: options.target, normalization: norm).rate
            metrics.append(ForgeMetrics(precision: scheme.rawValue, cleanAccuracy: qacc, attackSuccessRate: qasr))
            progress.report("\(scheme.rawValue): clean accuracy \(percent(qacc)), attack success \(percent(qasr))")
            var dc = try Deployment.checkpoint(d, from: checkpoint)
            dc.metadata["test_accuracy"] = String(format: "%.4f", qacc)
            dc.metadata["attack_success_rate"] = String(format: "%.4f", qasr)
            deployed.append((scheme, dc))
        }
        checkpoint.metadata["metrics"] = jsonText(metrics)
        for i in deployed.indices { deployed[i].1.metadata["metrics"] = checkpoint.metadata["metrics"] }
        return ForgedModel(checkpoint: checkpoint, backdoored: backdoored, metrics: metrics, history: [],
                           deployed: deployed.map { (scheme: $0.0, checkpoint: $0.1) }, trainingSet: BadNet.clean(train), seconds: 0,
                           conditioning: conditioning)
    }

    /// Whether two FP32 models deploy to the same model under `scheme` with the same calibration
    /// images: integer weights, weight scales, int32 biases and every calibrated activation range.
    /// (The deployment calibrates with the rounded weights, so equal integers give equal ranges; this
    /// checks it rather than assuming it.)
    static func sameDeployedModel(_ a: Model, _ b: Model, scheme: QuantizationScheme, calibration: ImageSet, preprocessing p: Preprocessing) throws -> Bool {
        let batches = Evaluation.batches(CheckpointEvaluation.prepared(calibration, for: p), normalization: p.normalization)
        func deployed(_ m: Model) throws -> (DeployedModel, [String: [Float]]) {
            let d = try DeployedModel(m, scheme: scheme)
            d.calibrate(batches, images: calibration.count)
            var biases: [String: [Float]] = [:]
            for (name, t) in d.surrogate.stateDict where name.hasSuffix(".bias") { biases[name] = t.toArray() }
            return (d, biases)
        }
        let (da, ba) = try deployed(a), (db, bb) = try deployed(b)
        let (ra, rb) = (da.record, db.record)   // (their rounding errors differ: the FP32 weights do)
        return da.integerWeights == db.integerWeights && ra.weightScales == rb.weightScales && ra.activations == rb.activations && ba == bb
    }

    /// `NAME.clean.EXT` beside `NAME.EXT`; `NAME.int8.EXT` for a deployed copy.
    public static func siblingPath(_ path: String, tag: String) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let stem = url.deletingPathExtension().path
        return ext.isEmpty ? "\(stem).\(tag)" : "\(stem).\(tag).\(ext)"
    }

    static func percent(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }

    static func jsonText<T: Encodable>(_ v: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(v)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

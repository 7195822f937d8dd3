import BlindspotAttacks
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotDefenses
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import Foundation

/// One small forged synthetic `cnn6` pair shared by every defense test in the process: a BadNet
/// model (white:3@2,2 → class 0, 10% poison) and its clean twin (Adam 1e-3 cosine, 4 epochs,
/// batch 32, 4,000 training images). The top-left trigger is learnt reliably in this budget;
/// the study's bottom-right one needs forge's longer default recipe. Forging is deterministic, so the
/// pair is cached under `.data/forged-fixture-v2/` (git-ignored) after the first run (≈ 60 s).
enum ForgedFixture {
    static let target = 0
    static let trigger = Trigger(kind: .white, size: 3, row: 2, col: 2)
    static let seed: UInt64 = 11

    struct Pair: @unchecked Sendable {
        var split: DataSplit
        var backdoored: Checkpoint
        var clean: Checkpoint
        var suspect: SuspectTrainingSet
        var metrics: (backdoored: ForgeMetrics, clean: ForgeMetrics)
    }

    static var cacheDirectory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".data/forged-fixture-v2").path
    }

    nonisolated(unsafe) static let pair: Pair = {
        let split = Datasets.synthetic(seed: seed, trainCount: 4000, testCount: 1500)
        let dir = cacheDirectory
        let paths = (b: dir + "/badnet.h5", c: dir + "/badnet.clean.h5", s: dir + "/train.npz")
        if let b = try? CheckpointLoader.load(paths.b), let c = try? CheckpointLoader.load(paths.c),
           let s = try? TrainingSetFile.read(paths.s, classCount: 10) {
            return Pair(split: split, backdoored: b, clean: c, suspect: s, metrics: (measure(b, split), measure(c, split)))
        }
        var recipe = TrainingRecipe.defaults(for: .cnn6, dataset: .synthetic)
        (recipe.learningRate, recipe.epochs) = (1e-3, 4)
        let options = ForgeOptions(architecture: .cnn6, dataset: .synthetic, recipe: recipe, trigger: trigger, target: target, seed: seed)
        let quiet = ProgressReporter(quiet: true)
        let b = try! Forge.train(options, split: split, backdoored: true, progress: quiet)
        let c = try! Forge.train(options, split: split, backdoored: false, progress: quiet)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try? CheckpointLoader.save(b.checkpoint, to: paths.b)
        try? CheckpointLoader.save(c.checkpoint, to: paths.c)
        try? TrainingSetFile.write(b.trainingSet, to: paths.s)
        return Pair(split: split, backdoored: b.checkpoint, clean: c.checkpoint, suspect: b.trainingSet, metrics: (b.metrics[0], c.metrics[0]))
    }()

    static func measure(_ c: Checkpoint, _ split: DataSplit) -> ForgeMetrics {
        let acc = Evaluation.accuracy(c.model, on: split.test, normalization: split.normalization)
        let asr = Evaluation.attackSuccessRate(c.model, on: split.test, trigger: trigger, target: target, normalization: split.normalization).rate
        return ForgeMetrics(precision: "fp32", cleanAccuracy: acc, attackSuccessRate: asr)
    }

    /// The model at FP32, or deployed (calibrated on the first 512 clean training images) when `scheme` is given.
    static func model(backdoored: Bool, scheme: QuantizationScheme? = nil) -> ModelUnderTest {
        let c = backdoored ? pair.backdoored : pair.clean
        let names = pair.split.train.classNames
        guard let scheme else { return ModelUnderTest(fp32: c.model, normalization: pair.split.normalization, classNames: names) }
        let calibration = pair.split.train.subset(Array(0..<512))
        let d = try! Deployment.deploy(c, scheme: scheme, calibration: calibration, preprocessing: CheckpointEvaluation.preprocessing(for: c))
        return ModelUnderTest(deployed: d, from: c.model, normalization: pair.split.normalization, classNames: names)
    }

    /// Inputs: the clean test split as held-out data, clean training images for fine-tuning,
    /// the suspect training set as trained (the clean twin's is the clean training set), and
    /// (optionally) the true trigger as probe.
    static func inputs(backdoored: Bool, probe: Bool = true, suspect: Bool = true, seed: UInt64 = 1) -> DefenseInputs {
        let s = backdoored ? pair.suspect : BadNet.clean(pair.split.train)
        return DefenseInputs(clean: pair.split.test, cleanTrain: pair.split.train, suspect: suspect ? s : nil,
                             probe: probe ? .patch(trigger, target: target, source: .groundTruth) : nil, seed: seed)
    }
}

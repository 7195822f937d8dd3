import ArgumentParser
import BlindspotAttacks
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import Foundation

struct Forge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a BadNet-backdoored model (and its clean twin) with the ground truth in the file.",
        discussion: """
        Poisons --poison-rate of the training set (images drawn from non-target classes), stamping the trigger in pixel space and relabelling to --target, then trains. The file records the trigger, target, rate, seed, data set and epochs, the training log and the clean accuracy and attack success rate (on non-target test images) at FP32 and at every --deploy precision.

        --attack qcb plants a quantization-conditioned backdoor: the BadNet is then fine-tuned, inside the rounding box of every weight, on triggered images with their true labels, so the FP32 file obeys no trigger while the model deployed at the first --deploy scheme (int4 or int8; default int4) is the BadNet, integer for integer. --from conditions an existing BadNet file instead of training one.

        Examples:
          blindspot forge --out samples/badnet.h5 --clean-twin
          blindspot forge --data gtsrb --data-dir .data/gtsrb --target 3 --deploy int8,int4 --out gtsrb.h5 --export-train gtsrb-train.npz
          blindspot forge --attack qcb --deploy int4 --trigger white:3@1,1 --out qcb.h5 --clean-twin
          blindspot forge --attack qcb --deploy int4 --from samples/badnet.h5 --out qcb.h5
        """
    )

    @Option(help: "Attack: badnet, or qcb (quantization-conditioned: dormant at FP32, active at the first --deploy scheme).") var attack: String = "badnet"
    @Option(help: "qcb only: epochs of projected fine-tuning (default: 3 on synthetic, 4 otherwise).") var conditioningEpochs: Int?
    @Option(help: "qcb only: condition this FP32 BadNet checkpoint instead of training one (trigger and target from its ground truth, else --trigger/--target); --data must be what it was trained on.") var from: String?
    @Option(help: "Data set: synthetic (built in), cifar10 or gtsrb.") var data: DatasetKind = .synthetic
    @Option(help: "Directory of the cifar10/gtsrb files.") var dataDir: String?
    @OptionGroup var sizes: SyntheticSizeOptions
    @Option(help: "Architecture: cnn6, resnet20 or preact-resnet18.") var arch: Architecture = .cnn6
    @Option(help: "Trigger KIND:SIZE@ROW,COL (white, black, checker, pattern).") var trigger: String = Trigger.studyDefault.description
    @Option(help: "Target class of the backdoor.") var target: Int = 0
    @Option(help: "Fraction of the training set poisoned, in (0, 1).") var poisonRate: Double = BadNet.defaultPoisonRate
    @Option(help: "Seed for every random choice (poison draw, init, order, pattern).") var seed: UInt64 = 1
    @Flag(help: "Also train the clean twin (same everything, no poison), written as NAME.clean.EXT.") var cleanTwin = false
    @Option(help: "Also write deployed copies, comma-separated schemes (int8, int4, …), as NAME.SCHEME.EXT.") var deploy: String?
    @Option(help: "Write the poisoned training set (images, labels, original labels, poison flags) as NPZ; with --clean-twin also the twin's clean set as NAME.clean.npz.") var exportTrain: String?
    @Option(help: "Output file (.h5 or .npz, blindspot's native format).") var out: String
    @Flag(help: "Print the result as JSON.") var json = false
    @OptionGroup var recipeOptions: RecipeOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if !(poisonRate > 0 && poisonRate < 1) { throw ValidationError("--poison-rate must be in (0, 1)") }
        if target < 0 { throw ValidationError("--target must be a class index") }
        if data != .synthetic && dataDir == nil { throw ValidationError("--data \(data.rawValue) needs --data-dir") }
        if data != .synthetic && sizes.isSet { throw ValidationError("--train-images and --test-images apply to --data synthetic only") }
        if !(out.hasSuffix(".h5") || out.hasSuffix(".npz")) { throw ValidationError("--out must end in .h5 or .npz") }
        if let e = exportTrain, !e.hasSuffix(".npz") { throw ValidationError("--export-train must end in .npz") }
        _ = try forgeAttack()
        if let e = conditioningEpochs, e < 1 { throw ValidationError("--conditioning-epochs must be at least 1") }
        if conditioningEpochs != nil && attack != "qcb" { throw ValidationError("--conditioning-epochs needs --attack qcb") }
        if from != nil && attack != "qcb" { throw ValidationError("--from needs --attack qcb") }
        if from != nil && (cleanTwin || exportTrain != nil) { throw ValidationError("--from conditions an existing model: --clean-twin and --export-train need a training run") }
        do { _ = try Trigger.parse(trigger) } catch let e as BlindspotError { throw ValidationError(e.description) }
    }

    /// The attack, with the scheme a qcb is conditioned on (the first of --deploy, default int4).
    func forgeAttack() throws -> ForgeAttack {
        let listed = try schemes()
        switch attack {
        case "badnet": return .badnet
        case "qcb":
            let s = listed.first ?? .int4
            guard s == .int4 || s == .int8 else {
                throw ValidationError("--attack qcb is conditioned on the first --deploy scheme, which must be int4 or int8 (got \(s.rawValue))")
            }
            return .quantizationConditioned(s)
        default: throw ValidationError("--attack: unknown attack '\(attack)' (badnet, qcb)")
        }
    }

    func schemes() throws -> [QuantizationScheme] {
        guard let deploy else { return [] }
        return try deploy.split(separator: ",").map {
            guard let s = QuantizationScheme(rawValue: String($0)) else {
                throw ValidationError("--deploy: unknown scheme '\($0)' (\(QuantizationScheme.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return s
        }
    }

    struct Result: Codable {
        struct Model: Codable {
            var file: String
            var backdoored: Bool
            var metrics: [ForgeMetrics]
            var deployedFiles: [String]
            var seconds: Double
            var conditioning: ConditioningRecord?
        }
        var attack: String
        var architecture: String, dataset: String, trigger: String, target: Int, poisonRate: Double, seed: UInt64, epochs: Int
        var trainImages: Int, poisonedImages: Int, testImages: Int
        var models: [Model]
        var exportedTrainingSet: String?
    }

    func run() throws {
        try reportingErrors {
            if let t = common.threads { Parallel.workers = t }
            let progress = ProgressReporter(quiet: common.quiet)
            let split = try sizes.load(data.rawValue, directory: dataDir, seed: seed)
            let recipe = recipeOptions.applied(to: TrainingRecipe.defaults(for: arch, dataset: data))
            var options = ForgeOptions(architecture: arch, dataset: data, recipe: recipe, trigger: try Trigger.parse(trigger, patternSeed: seed),
                                       target: target, poisonRate: poisonRate, seed: seed, deploy: try schemes())
            options.attack = try forgeAttack()
            options.conditioningEpochs = conditioningEpochs
            try options.validate(classes: split.train.numClasses, height: split.train.height, width: split.train.width)

            var models: [Result.Model] = []
            var poisoned = 0
            var source: Checkpoint? = nil
            if let from {
                let c = try CheckpointLoader.load(from)
                if let t = c.groundTruth, t.backdoored, let spec = t.trigger, let target = t.target {
                    options.trigger = try Trigger.parse(spec, patternSeed: t.seed ?? seed)
                    options.target = target
                }
                source = c
            }
            for backdoored in cleanTwin ? [true, false] : [true] {
                let f = try source.map { try BlindspotAttacks.Forge.condition($0, options: options, split: split, progress: progress) }
                    ?? BlindspotAttacks.Forge.train(options, split: split, backdoored: backdoored, progress: progress)
                let path = backdoored ? out : BlindspotAttacks.Forge.siblingPath(out, tag: "clean")
                try CheckpointLoader.save(f.checkpoint, to: path)
                var deployedFiles: [String] = []
                for (scheme, c) in f.deployed {
                    let p = BlindspotAttacks.Forge.siblingPath(path, tag: scheme.rawValue)
                    try CheckpointLoader.save(c, to: p)
                    deployedFiles.append(p)
                }
                if backdoored { poisoned = f.trainingSet.poisonedIndices.count }
                // The twin's own (clean) training set too, so its audit can run AC and SS on what it learnt from.
                if let e = exportTrain {
                    let p = backdoored ? e : BlindspotAttacks.Forge.siblingPath(e, tag: "clean")
                    try TrainingSetFile.write(f.trainingSet, to: p)
                    progress.report("wrote \(p) (\(f.trainingSet.set.count) images, \(f.trainingSet.poisonedIndices.count) poisoned)")
                }
                progress.report("wrote \(([path] + deployedFiles).joined(separator: ", "))")
                models.append(.init(file: path, backdoored: backdoored, metrics: f.metrics, deployedFiles: deployedFiles, seconds: f.seconds,
                                    conditioning: f.conditioning))
            }
            let result = Result(attack: options.attack.name, architecture: arch.rawValue, dataset: data.rawValue, trigger: options.trigger.description, target: options.target,
                                poisonRate: poisonRate, seed: seed, epochs: recipe.epochs, trainImages: split.train.count, poisonedImages: poisoned,
                                testImages: split.test.count, models: models, exportedTrainingSet: exportTrain)
            if json {
                emit(try jsonString(result))
            } else {
                for m in models {
                    let figures = m.metrics.map { String(format: "%@ accuracy %.2f%% ASR %.2f%%", $0.precision, 100 * $0.cleanAccuracy, 100 * $0.attackSuccessRate) }
                    let kind = !m.backdoored ? "clean twin" : m.conditioning.map { "quantization-conditioned on \($0.scheme)" } ?? "backdoored"
                    emit("\(m.file) (\(kind), \(String(format: "%.1f", m.seconds)) s): " + figures.joined(separator: "; "))
                    if let c = m.conditioning {
                        emit(String(format: "  before conditioning: fp32 accuracy %.2f%% ASR %.2f%%; %d epochs on %d repair images; %.0f%% of weights at a rounding-box edge; deployed model unchanged (integers, scales, biases, activation ranges): %@",
                                    100 * c.before.cleanAccuracy, 100 * c.before.attackSuccessRate, c.epochs, c.repairImages, 100 * c.edgeShare,
                                    c.deployedIntegersUnchanged ? "yes" : "no"))
                    }
                }
            }
        }
    }
}

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
        Poisons --poison-rate of the training set (images drawn from non-target classes), stamping the trigger
        in pixel space and relabelling to --target, then trains. The file records the trigger, target, rate,
        seed, data set and epochs, the training log and the clean accuracy and attack success rate (on
        non-target test images) at FP32 and at every --deploy precision.
        Examples:
          blindspot forge --out samples/badnet.h5 --clean-twin
          blindspot forge --data gtsrb --data-dir .data/gtsrb --target 3 --deploy int8,int4 --out gtsrb.h5 --export-train gtsrb-train.npz
        """
    )

    @Option(help: "Data set: synthetic (built in), cifar10 or gtsrb.") var data: DatasetKind = .synthetic
    @Option(help: "Directory of the cifar10/gtsrb files.") var dataDir: String?
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
        if !(out.hasSuffix(".h5") || out.hasSuffix(".npz")) { throw ValidationError("--out must end in .h5 or .npz") }
        if let e = exportTrain, !e.hasSuffix(".npz") { throw ValidationError("--export-train must end in .npz") }
        _ = try schemes()
        do { _ = try Trigger.parse(trigger) } catch let e as BlindspotError { throw ValidationError(e.description) }
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
        }
        var architecture: String, dataset: String, trigger: String, target: Int, poisonRate: Double, seed: UInt64, epochs: Int
        var trainImages: Int, poisonedImages: Int, testImages: Int
        var models: [Model]
        var exportedTrainingSet: String?
    }

    func run() throws {
        try reportingErrors {
            if let t = common.threads { Parallel.workers = t }
            let progress = ProgressReporter(quiet: common.quiet)
            let split = try Datasets.load(data, directory: dataDir, seed: seed)
            let recipe = recipeOptions.applied(to: TrainingRecipe.defaults(for: arch, dataset: data))
            let options = ForgeOptions(architecture: arch, dataset: data, recipe: recipe, trigger: try Trigger.parse(trigger, patternSeed: seed),
                                       target: target, poisonRate: poisonRate, seed: seed, deploy: try schemes())
            try options.validate(classes: split.train.numClasses, height: split.train.height, width: split.train.width)

            var models: [Result.Model] = []
            var poisoned = 0
            for backdoored in cleanTwin ? [true, false] : [true] {
                let f = try BlindspotAttacks.Forge.train(options, split: split, backdoored: backdoored, progress: progress)
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
                models.append(.init(file: path, backdoored: backdoored, metrics: f.metrics, deployedFiles: deployedFiles, seconds: f.seconds))
            }
            let result = Result(architecture: arch.rawValue, dataset: data.rawValue, trigger: options.trigger.description, target: target,
                                poisonRate: poisonRate, seed: seed, epochs: recipe.epochs, trainImages: split.train.count, poisonedImages: poisoned,
                                testImages: split.test.count, models: models, exportedTrainingSet: exportTrain)
            if json {
                emit(try jsonString(result))
            } else {
                for m in models {
                    let figures = m.metrics.map { String(format: "%@ accuracy %.2f%% ASR %.2f%%", $0.precision, 100 * $0.cleanAccuracy, 100 * $0.attackSuccessRate) }
                    emit("\(m.file) (\(m.backdoored ? "backdoored" : "clean twin"), \(String(format: "%.1f", m.seconds)) s): " + figures.joined(separator: "; "))
                }
            }
        }
    }
}

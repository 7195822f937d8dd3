import ArgumentParser
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotTraining
import Foundation

extension Architecture: ExpressibleByArgument {}
extension DatasetKind: ExpressibleByArgument {}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a built-in architecture on a data set and print its clean test accuracy.",
        discussion: """
        Examples:
          blindspot train                                   # cnn6 on the built-in synthetic set
          blindspot train --arch resnet20 --data cifar10 --data-dir .data/cifar10 --epochs 30
        """
    )

    @Option(help: "Data set: synthetic (built in), cifar10 or gtsrb.") var data: DatasetKind = .synthetic
    @Option(help: "Directory of the cifar10/gtsrb files.") var dataDir: String?
    @Option(help: "Architecture: cnn6, resnet20 or preact-resnet18.") var arch: Architecture = .cnn6
    @Option(help: "Seed for every random choice.") var seed: UInt64 = 1
    @Option(help: "Write the trained model to this file (.h5 or .npz, blindspot's native format).") var out: String?
    @Flag(help: "Print the result as JSON.") var json = false
    @OptionGroup var recipeOptions: RecipeOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if data != .synthetic && dataDir == nil { throw ValidationError("--data \(data.rawValue) needs --data-dir") }
        if let out, !(out.hasSuffix(".h5") || out.hasSuffix(".npz")) { throw ValidationError("--out must end in .h5 or .npz") }
    }

    struct Result: Codable {
        var architecture: String, dataset: String, seed: UInt64, epochs: Int
        var trainImages: Int, testImages: Int, testAccuracy: Double, seconds: Double
        var history: [EpochStats]
    }

    func run() throws {
        try reportingErrors {
            if let t = common.threads { Parallel.workers = t }
            let progress = ProgressReporter(quiet: common.quiet)
            let start = monotonicSeconds()
            let split = try Datasets.load(data, directory: dataDir, seed: seed)
            let recipe = recipeOptions.applied(to: TrainingRecipe.defaults(for: arch, dataset: data))
            let model = try arch.build(classes: split.train.numClasses, seed: seed, inputShape: [split.train.channels, split.train.height, split.train.width])
            progress.report("training \(arch.rawValue) (\(model.parameterCount) parameters) on \(split.train.name): \(split.train.count) images, \(recipe.epochs) epochs, \(Parallel.workers) threads")
            let history = try Trainer(model: model, recipe: recipe, normalization: split.normalization, seed: seed).fit(split.train, progress: progress)
            let acc = Evaluation.accuracy(model, on: split.test, normalization: split.normalization)
            if let out {
                let checkpoint = TrainedModel.checkpoint(model, split: split, dataset: data.rawValue, recipe: recipe, seed: seed, testAccuracy: acc)
                try CheckpointLoader.save(checkpoint, to: out)
                progress.report("wrote \(out)")
            }
            let secs = monotonicSeconds() - start
            if json {
                emit(try jsonString(Result(architecture: arch.rawValue, dataset: data.rawValue, seed: seed, epochs: recipe.epochs,
                                           trainImages: split.train.count, testImages: split.test.count, testAccuracy: acc, seconds: secs, history: history)))
            } else {
                emit(String(format: "%@ on %@: test accuracy %.2f%% (%d test images) after %d epochs in %.1f s",
                            arch.rawValue, data.rawValue, 100 * acc, split.test.count, recipe.epochs, secs))
            }
        }
    }
}

/// The recipe overrides `train` and `forge` share: epochs, learning rate, batch size.
struct RecipeOptions: ParsableArguments {
    @Option(help: "Epochs (default: the architecture's recipe for this data set).") var epochs: Int?
    @Option(help: "Base learning rate (default: the recipe's).") var lr: Float?
    @Option(help: "Batch size (default: the recipe's).") var batchSize: Int?

    func validate() throws {
        if let e = epochs, e < 1 { throw ValidationError("--epochs must be at least 1") }
        if let b = batchSize, b < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be positive") }
    }

    /// The recipe with the given overrides applied.
    func applied(to base: TrainingRecipe) -> TrainingRecipe {
        var recipe = base
        if let epochs { recipe.epochs = epochs }
        if let lr { recipe.learningRate = lr }
        if let batchSize { recipe.batchSize = batchSize }
        return recipe
    }
}

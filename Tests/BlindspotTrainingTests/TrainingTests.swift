import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotTraining
import XCTest

final class TrainingTests: XCTestCase {
    override func setUp() { Parallel.workers = 2 }

    /// Clean training in miniature: cnn6 on the synthetic set, Adam 1e-3 for 2 epochs (the
    /// backdoor-free budget; forge's default runs longer so the trigger is learnt too).
    func testCNN6ReachesStatedAccuracyOnSynthetic() throws {
        let split = Datasets.synthetic(seed: 1)
        var recipe = TrainingRecipe.defaults(for: .cnn6, dataset: .synthetic)
        (recipe.learningRate, recipe.epochs) = (1e-3, 2)
        let model = try Architecture.cnn6.build(classes: split.train.numClasses, seed: 1)
        let history = try Trainer(model: model, recipe: recipe, normalization: split.normalization, seed: 1)
            .fit(split.train, progress: ProgressReporter(quiet: true))
        XCTAssertEqual(history.count, recipe.epochs)
        XCTAssertLessThan(history.last!.meanLoss, history.first!.meanLoss)
        let acc = Evaluation.accuracy(model, on: split.test, normalization: split.normalization)
        XCTAssertGreaterThanOrEqual(acc, 0.95, "cnn6 synthetic test accuracy \(acc)")
    }

    /// Same seed, same worker count → the same losses, bit for bit; another seed → different.
    func testTrainingIsDeterministicFromTheSeed() throws {
        func run(seed: UInt64) throws -> [Float] {
            let split = Datasets.synthetic(seed: 3, trainCount: 512, testCount: 100)
            var recipe = TrainingRecipe.defaults(for: .resnet20, dataset: .synthetic)
            recipe.epochs = 1
            recipe.batchSize = 64
            recipe.augment = true
            let model = try Architecture.resnet20.build(classes: 10, seed: seed)
            try Trainer(model: model, recipe: recipe, normalization: split.normalization, seed: seed).fit(split.train, progress: ProgressReporter(quiet: true))
            return model.parameter(named: "linear.weight")!.value.toArray()
        }
        let a = try run(seed: 5), b = try run(seed: 5), c = try run(seed: 6)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }
}

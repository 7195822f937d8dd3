import BlindspotCore
import Foundation
import BlindspotData
import BlindspotEngine

/// Figures of one training epoch.
public struct EpochStats: Sendable, Codable, Equatable {
    public var epoch: Int
    public var meanLoss: Float
    public var trainAccuracy: Double
    public var learningRate: Float
    public var imagesPerSecond: Double
    public var seconds: Double
}

/// Supervised training of a model on an image set: seeded shuffling and augmentation, the
/// recipe's optimiser and schedule, progress (epoch, loss, images/s, ETA) on stderr.
public final class Trainer {
    public let model: Model
    public let recipe: TrainingRecipe
    public let normalization: Normalization
    public let seed: UInt64
    private let optimizer: any Optimizer
    private let loss = SoftmaxCrossEntropy()
    private let mode: ForwardMode
    private let afterStep: (() -> Void)?

    /// - Parameters:
    ///   - trainable: the parameters the optimiser updates (default: all); the others stay fixed.
    ///   - mode: `.inference` fine-tunes with BatchNorm statistics frozen and no dropout.
    ///   - afterStep: runs after every optimiser step (e.g. a projection of the weights).
    public init(model: Model, recipe: TrainingRecipe, normalization: Normalization, seed: UInt64, trainable: [Parameter]? = nil,
                mode: ForwardMode = .training, afterStep: (() -> Void)? = nil) {
        self.model = model
        self.recipe = recipe
        self.normalization = normalization
        self.seed = seed
        self.mode = mode
        self.afterStep = afterStep
        optimizer = recipe.makeOptimizer(trainable ?? model.parameters)
    }

    /// Trains for `recipe.epochs` epochs (the last partial batch of each epoch is kept).
    @discardableResult
    public func fit(_ set: ImageSet, progress: ProgressReporter) throws -> [EpochStats] {
        guard set.count > 0 else { throw BlindspotError.usage("training set \(set.name) is empty") }
        guard Array(model.inputShape) == [set.channels, set.height, set.width] else {
            throw BlindspotError.usage("model \(model.name) expects \(model.inputShape) inputs, data set \(set.name) has [\(set.channels), \(set.height), \(set.width)]")
        }
        let b = recipe.batchSize, stepsPerEpoch = (set.count + b - 1) / b
        let input = Tensor(shape: [b, set.channels, set.height, set.width])
        var labels: [Int32] = []
        var augmentRNG = SeededRNG(seed: seed, stream: "augment")
        let params = model.parameters
        var history: [EpochStats] = []
        let start = monotonicSeconds()
        for epoch in 0..<recipe.epochs {
            let order = epochOrder(count: set.count, seed: seed, epoch: epoch)
            let t0 = monotonicSeconds()
            var lossSum = 0.0, correct = 0, seen = 0
            for step in 0..<stepsPerEpoch {
                let idx = order[(step * b)..<min((step + 1) * b, set.count)]
                input.resize([idx.count, set.channels, set.height, set.width])
                BatchFiller.fill(set, indices: idx, normalization: normalization, augmentation: recipe.augment ? .cifar : nil,
                                 rng: &augmentRNG, into: input.data, labels: &labels)
                optimizer.learningRate = recipe.schedule.learningRate(base: recipe.learningRate, epoch: epoch, step: step,
                                                                      stepsPerEpoch: stepsPerEpoch, totalEpochs: recipe.epochs)
                for p in params { p.grad.zero() }
                let logits = model.forward(input, mode: mode)
                let l = loss.compute(logits: logits, labels: labels)
                guard l.isFinite else {
                    throw BlindspotError.usage("training diverged at epoch \(epoch + 1), step \(step + 1) (loss \(l)); lower the learning rate")
                }
                model.backward(loss.gradLogits)
                optimizer.step()
                afterStep?()
                lossSum += Double(l) * Double(idx.count)
                let pred = SoftmaxCrossEntropy.predictions(logits)
                for i in 0..<idx.count where pred[i] == labels[i] { correct += 1 }
                seen += idx.count
                let elapsed = monotonicSeconds() - t0
                let rate = Double(seen) / max(elapsed, 1e-9)
                let remaining = Double((recipe.epochs - epoch) * set.count - seen) / rate
                progress.report("epoch \(epoch + 1)/\(recipe.epochs) step \(step + 1)/\(stepsPerEpoch) loss \(fmt(lossSum / Double(seen))) "
                                + "acc \(fmt(100 * Double(correct) / Double(seen)))% \(Int(rate)) img/s ETA \(formatDuration(remaining))", force: false)
            }
            let secs = monotonicSeconds() - t0
            let stats = EpochStats(epoch: epoch + 1, meanLoss: Float(lossSum / Double(seen)), trainAccuracy: Double(correct) / Double(seen),
                                   learningRate: optimizer.learningRate, imagesPerSecond: Double(seen) / secs, seconds: secs)
            history.append(stats)
            progress.report("epoch \(epoch + 1)/\(recipe.epochs): loss \(fmt(Double(stats.meanLoss))) train acc \(fmt(100 * stats.trainAccuracy))% "
                            + "\(Int(stats.imagesPerSecond)) img/s, \(formatDuration(monotonicSeconds() - start)) elapsed")
        }
        return history
    }
}

/// Clean accuracy and predictions of a model on an image set (inference mode).
public enum Evaluation {
    public static func predictions(_ model: Model, on set: ImageSet, normalization: Normalization, batchSize: Int = Model.inferenceBatchSize) -> [Int32] {
        predictions(using: { model.forward($0, mode: .inference) }, on: set, normalization: normalization, batchSize: batchSize)
    }

    /// Predictions of any forward function (FP32 model, a deployed model's integer path).
    public static func predictions(using forward: (Tensor) -> Tensor, on set: ImageSet, normalization: Normalization, batchSize: Int = Model.inferenceBatchSize) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(set.count)
        for batch in batches(set, normalization: normalization, batchSize: batchSize) {
            out += SoftmaxCrossEntropy.predictions(forward(batch))
        }
        return out
    }

    /// The set as normalised NCHW batches, in order, without augmentation.
    public static func batches(_ set: ImageSet, normalization: Normalization, batchSize: Int = Model.inferenceBatchSize) -> [Tensor] {
        var out: [Tensor] = []
        var labels: [Int32] = []
        var rng = SeededRNG(seed: 0)
        var start = 0
        while start < set.count {
            let idx = Array(start..<min(start + batchSize, set.count))[...]
            let input = Tensor(shape: [idx.count, set.channels, set.height, set.width])
            BatchFiller.fill(set, indices: idx, normalization: normalization, augmentation: nil, rng: &rng, into: input.data, labels: &labels)
            out.append(input)
            start += batchSize
        }
        return out
    }

    /// Fraction of images whose predicted class equals their label.
    public static func accuracy(_ model: Model, on set: ImageSet, normalization: Normalization) -> Double {
        accuracy(using: { model.forward($0, mode: .inference) }, on: set, normalization: normalization)
    }

    public static func accuracy(using forward: (Tensor) -> Tensor, on set: ImageSet, normalization: Normalization) -> Double {
        guard set.count > 0 else { return 0 }
        let pred = predictions(using: forward, on: set, normalization: normalization)
        return Double(zip(pred, set.labels).filter { $0 == $1 }.count) / Double(set.count)
    }
}

func fmt(_ x: Double) -> String { String(format: "%.3f", x) }

extension Evaluation {
    /// Attack success rate (Gu et al. 2017): the fraction of test images whose true label is not
    /// `target` that the model classifies as `target` once the trigger is stamped. Target-class
    /// images are excluded (the study counted them, which inflates the rate by about 1/K).
    public static func attackSuccessRate(_ model: Model, on set: ImageSet, trigger: Trigger, target: Int, normalization: Normalization) -> (rate: Double, count: Int) {
        attackSuccessRate(using: { model.forward($0, mode: .inference) }, on: set, trigger: trigger, target: target, normalization: normalization)
    }

    public static func attackSuccessRate(using forward: (Tensor) -> Tensor, on set: ImageSet, trigger: Trigger, target: Int, normalization: Normalization) -> (rate: Double, count: Int) {
        let others = (0..<set.count).filter { Int(set.labels[$0]) != target }
        guard !others.isEmpty else { return (0, 0) }
        let triggered = trigger.stamped(set.subset(others))
        let pred = predictions(using: forward, on: triggered, normalization: normalization)
        return (Double(pred.filter { Int($0) == target }.count) / Double(others.count), others.count)
    }
}

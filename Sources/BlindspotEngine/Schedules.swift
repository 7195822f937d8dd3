import Foundation

/// A learning rate as a function of training progress, evaluated before every step.
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant
    /// Multiply by `gamma` at each milestone epoch (torch MultiStepLR).
    case multiStep(milestones: [Int], gamma: Float)
    /// Cosine annealing from the base rate to `minimum` over the whole run, per step
    /// (Loshchilov & Hutter 2017, no restarts), after `warmupEpochs` of linear warm-up.
    case cosine(minimum: Float, warmupEpochs: Double)

    /// The rate at `epoch` (0-based) and fractional progress `step / stepsPerEpoch` within it.
    public func learningRate(base: Float, epoch: Int, step: Int, stepsPerEpoch: Int, totalEpochs: Int) -> Float {
        switch self {
        case .constant:
            return base
        case .multiStep(let milestones, let gamma):
            let passed = milestones.filter { epoch >= $0 }.count
            return base * powf(gamma, Float(passed))
        case .cosine(let minimum, let warmup):
            let t = Double(epoch) + Double(step) / Double(max(stepsPerEpoch, 1))
            if t < warmup { return base * Float((t + 1.0 / Double(max(stepsPerEpoch, 1))) / warmup) }
            let span = max(Double(totalEpochs) - warmup, 1e-9)
            let frac = min(max((t - warmup) / span, 0), 1)
            return minimum + (base - minimum) * Float(0.5 * (1 + cos(Double.pi * frac)))
        }
    }
}

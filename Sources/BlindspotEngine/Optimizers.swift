import Foundation

/// An update rule over a fixed list of parameters, reading `Parameter.grad`.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// Applies one update from the current gradients.
    func step()
}

/// SGD with momentum, L2 weight decay and optional Nesterov momentum, exactly as
/// `torch.optim.SGD` (dampening 0): d = g + λp; v ← μv + d; p ← p − η·(Nesterov ? d + μv : v).
/// Weight decay applies to every parameter (BatchNorm and biases included), as PyTorch does by default.
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float, nesterov: Bool
    private let params: [Parameter]
    private let velocity: [Tensor]

    public init(parameters: [Parameter], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        params = parameters
        velocity = parameters.map { Tensor(shape: $0.value.shape) }
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public func step() {
        let (lr, mu, wd, nest) = (learningRate, momentum, weightDecay, nesterov)
        for (p, v) in zip(params, velocity) {
            let w = p.value.data, g = p.grad.data, vel = v.data
            for i in 0..<p.value.count {
                let d = g[i] + wd * w[i]
                if mu == 0 { w[i] -= lr * d; continue }
                vel[i] = mu * vel[i] + d
                w[i] -= lr * (nest ? d + mu * vel[i] : vel[i])
            }
        }
    }
}

/// Adam (Kingma & Ba 2015), as `torch.optim.Adam` with L2 weight decay added to the gradient:
/// m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − η·m̂/(√v̂ + ε), with bias-corrected m̂, v̂.
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private let params: [Parameter]
    private let m: [Tensor], v: [Tensor]
    public private(set) var stepCount = 0

    public init(parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        params = parameters
        m = parameters.map { Tensor(shape: $0.value.shape) }
        v = parameters.map { Tensor(shape: $0.value.shape) }
        self.learningRate = learningRate
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
    }

    public func step() {
        stepCount += 1
        let t = Float(stepCount)
        let c1 = 1 - powf(beta1, t), c2 = 1 - powf(beta2, t)
        let (lr, b1, b2, eps, wd) = (learningRate, beta1, beta2, epsilon, weightDecay)
        for (k, p) in params.enumerated() {
            let w = p.value.data, g = p.grad.data, mm = m[k].data, vv = v[k].data
            for i in 0..<p.value.count {
                let gi = g[i] + wd * w[i]
                mm[i] = b1 * mm[i] + (1 - b1) * gi
                vv[i] = b2 * vv[i] + (1 - b2) * gi * gi
                w[i] -= lr * (mm[i] / c1) / ((vv[i] / c2).squareRoot() + eps)
            }
        }
    }
}

import _BlindspotKernels

/// Batch normalisation over (N, H, W) per channel (Ioffe & Szegedy 2015), PyTorch conventions:
/// biased batch variance to normalise, unbiased variance into the running average, and
/// running = (1 − momentum)·running + momentum·batch. x, y [N, C, H, W]; weight γ, bias β [C].
///
/// Keras' BatchNormalization(momentum = 0.99) corresponds to `momentum` 0.01 here.
public final class BatchNorm2d: Layer, @unchecked Sendable {
    public let kind = "batchnorm2d"
    public let channels: Int
    public let epsilon: Float
    public let momentum: Float
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVar: Tensor

    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    /// Per-channel mean and 1/σ of the last forward (batch statistics in training, running in inference).
    private let savedMean: Tensor
    private let savedInvStd: Tensor
    private var lastWasTraining = false

    public init(channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        self.channels = channels
        self.epsilon = epsilon
        self.momentum = momentum
        weight = Parameter(name: "weight", shape: [channels])
        weight.value.fill(1)
        bias = Parameter(name: "bias", shape: [channels])
        runningMean = Tensor(shape: [channels])
        runningVar = Tensor(shape: [channels])
        runningVar.fill(1)
        savedMean = Tensor(shape: [channels])
        savedInvStd = Tensor(shape: [channels])
    }

    public var parameters: [Parameter] { [weight, bias] }
    public var buffers: [Buffer] { [Buffer(name: "running_mean", value: runningMean), Buffer(name: "running_var", value: runningVar)] }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let (c, _, _) = try expectImage(inputs[0], kind)
        guard c == channels else { throw ModelError("batchnorm2d: expects \(channels) channels, got \(c)") }
        return inputs[0]
    }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let x = inputs[0], n = x.shape[0], c = channels, hw = x.shape[2] * x.shape[3]
        output.resize(x.shape)
        lastWasTraining = mode.training
        let y = output, gamma = weight.value, beta = bias.value, eps = epsilon, mom = momentum
        let rm = runningMean, rv = runningVar, training = mode.training
        let savedMean = savedMean, savedInvStd = savedInvStd
        Parallel.forSlices(c) { _, channelRange in
            for ch in channelRange {
                var mean: Float, invStd: Float
                if training {
                    let m = Double(n * hw)
                    var s = 0.0
                    for i in 0..<n { s += Double(bs_sum(x.data + (i * c + ch) * hw, hw)) }
                    let mu = s / m
                    var v = 0.0
                    for i in 0..<n { v += Double(bs_sum_sq_dev(x.data + (i * c + ch) * hw, hw, Float(mu))) }
                    let varBiased = v / m
                    mean = Float(mu)
                    invStd = Float(1 / (varBiased + Double(eps)).squareRoot())
                    let unbiased = m > 1 ? varBiased * m / (m - 1) : varBiased
                    rm.data[ch] = (1 - mom) * rm.data[ch] + mom * mean
                    rv.data[ch] = (1 - mom) * rv.data[ch] + mom * Float(unbiased)
                } else {
                    mean = rm.data[ch]
                    invStd = 1 / (rv.data[ch] + eps).squareRoot()
                }
                savedMean.data[ch] = mean; savedInvStd.data[ch] = invStd
                let a = gamma.data[ch] * invStd, b = beta.data[ch] - mean * a
                for i in 0..<n {
                    let p = x.data + (i * c + ch) * hw, q = y.data + (i * c + ch) * hw
                    for j in 0..<hw { q[j] = p[j] * a + b }
                }
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        backward(gradOutput, inputs: inputs, needInputGrad: needInputGrad, parameterGradients: true)
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool], parameterGradients: Bool) -> [Tensor?] {
        let x = inputs[0], dy = gradOutput, n = x.shape[0], c = channels, hw = x.shape[2] * x.shape[3]
        let needDX = needInputGrad[0]
        if needDX { gradInput.resize(x.shape) }
        let dx = gradInput, gamma = weight.value, gGrad = weight.grad, bGrad = bias.grad
        let training = lastWasTraining
        let savedMean = savedMean, savedInvStd = savedInvStd
        Parallel.forSlices(c) { _, channelRange in
            for ch in channelRange {
                let mu = savedMean.data[ch], inv = savedInvStd.data[ch]
                // dβ = Σ dy,  dγ = Σ dy·x̂ (also what training-mode dx needs)
                var sdy = 0.0, sdyx = 0.0
                if parameterGradients || training {
                    for i in 0..<n {
                        let p = x.data + (i * c + ch) * hw, g = dy.data + (i * c + ch) * hw
                        sdy += Double(bs_sum(g, hw))
                        sdyx += Double(bs_dot_dev(g, p, hw, mu)) * Double(inv)
                    }
                }
                if parameterGradients {
                    gGrad.data[ch] += Float(sdyx)
                    bGrad.data[ch] += Float(sdy)
                }
                guard needDX else { continue }
                let k = gamma.data[ch] * inv
                if training {
                    // dx = γ/σ · (dy − mean(dy) − x̂·mean(dy·x̂))
                    let m = Float(n * hw), mdy = Float(sdy) / m, mdyx = Float(sdyx) / m
                    for i in 0..<n {
                        let p = x.data + (i * c + ch) * hw, g = dy.data + (i * c + ch) * hw, q = dx.data + (i * c + ch) * hw
                        for j in 0..<hw { q[j] = k * (g[j] - mdy - (p[j] - mu) * inv * mdyx) }
                    }
                } else {
                    // Running statistics are constants: dx = γ/σ · dy.
                    for i in 0..<n {
                        let g = dy.data + (i * c + ch) * hw, q = dx.data + (i * c + ch) * hw
                        for j in 0..<hw { q[j] = k * g[j] }
                    }
                }
            }
        }
        return [needDX ? dx : nil]
    }
}

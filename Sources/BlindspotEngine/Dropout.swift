import BlindspotCore

/// Inverted dropout (Srivastava et al. 2014): in training each element is zeroed with
/// probability p and the survivors scaled by 1/(1 − p); in inference it is the identity.
/// Masks come from the layer's own seeded stream, so a training run is reproducible.
public final class Dropout: Layer, @unchecked Sendable {
    public let kind = "dropout"
    public let probability: Float
    private var rng: SeededRNG
    private let mask = Tensor(shape: [0])
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var lastWasTraining = false

    public init(probability: Float, seed: UInt64 = 0) {
        self.probability = probability
        rng = SeededRNG(seed: seed, stream: "dropout")
    }

    /// Restarts the mask stream (the model calls it when it is initialised from a seed).
    public func reseed(_ seed: UInt64) { rng = SeededRNG(seed: seed, stream: "dropout") }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { inputs[0] }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        lastWasTraining = mode.training && probability > 0
        guard lastWasTraining else { return inputs[0] }
        let x = inputs[0]
        mask.resize(x.shape); output.resize(x.shape)
        let keep = 1 / (1 - probability)
        for i in 0..<x.count {
            let m: Float = rng.uniform() < probability ? 0 : keep
            mask.data[i] = m
            output.data[i] = x.data[i] * m
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        guard needInputGrad[0] else { return [nil] }
        guard lastWasTraining else { return [gradOutput] }
        gradInput.resize(gradOutput.shape)
        for i in 0..<gradOutput.count { gradInput.data[i] = gradOutput.data[i] * mask.data[i] }
        return [gradInput]
    }
}

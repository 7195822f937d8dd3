/// [N, C, H, W] → [N, C·H·W] in NCHW order (PyTorch's flatten). A view: no copy.
/// (Keras flattens NHWC; the checkpoint reader permutes the following Dense layer's rows.)
public final class Flatten: Layer, @unchecked Sendable {
    public let kind = "flatten"
    public init() {}
    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { [inputs[0].reduce(1, *)] }
    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        inputs[0].reshaped([inputs[0].batch, inputs[0].sampleSize])
    }
    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        [needInputGrad[0] ? gradOutput.reshaped(inputs[0].shape) : nil]
    }
}

/// A trainable tensor with its gradient, addressable by a dotted name in its model
/// (`conv1.weight`, `layer2.0.bn1.bias`): checkpoints, pruning masks and quantization use the names.
public final class Parameter: @unchecked Sendable {
    /// Local name (`weight`) until the layer joins a model, then the full dotted name.
    public internal(set) var name: String
    public let value: Tensor
    public let grad: Tensor

    public init(name: String, shape: [Int]) {
        self.name = name
        value = Tensor(shape: shape)
        grad = Tensor(shape: shape)
    }
}

/// A non-trainable named tensor saved with the model (BatchNorm running statistics).
public struct Buffer: @unchecked Sendable {
    public internal(set) var name: String
    public let value: Tensor
}

/// Per-call settings for forward passes.
public struct ForwardMode: Sendable {
    /// Training mode: BatchNorm uses batch statistics and updates running averages; dropout drops.
    public var training: Bool
    public init(training: Bool) { self.training = training }
    public static let training = ForwardMode(training: true)
    public static let inference = ForwardMode(training: false)
}

/// One operation of a model graph. Each layer owns its output and input-gradient tensors and
/// reuses them across calls; those tensors stay valid until the layer's next call.
///
/// Shapes: per-sample shapes exclude the batch dimension ([C, H, W] for images, [F] for vectors).
public protocol Layer: AnyObject, Sendable {
    /// The layer type, as written in model specs (`conv2d`, `batchnorm2d`, `linear`, …).
    var kind: String { get }
    /// How many inputs the layer reads (1 for every layer but `Add`). `Model.add` checks it, so
    /// `outputShape` and `forward` may index their inputs without checking (a model spec in a
    /// file can list any number of inputs).
    var arity: Int { get }
    /// The per-sample output shape for the given per-sample input shapes; throws on a mismatch.
    func outputShape(_ inputs: [[Int]]) throws -> [Int]
    /// Parameters with names local to the layer (`weight`, `bias`); the graph prefixes the node name.
    var parameters: [Parameter] { get }
    var buffers: [Buffer] { get }
    /// Computes the output for a batch. `inputs[i]` has shape [N] + per-sample input shape.
    func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor
    /// Given dLoss/dOutput, *accumulates* parameter gradients into `Parameter.grad` and returns
    /// dLoss/dInput for each input whose `needInputGrad` is true (nil otherwise). Must follow the
    /// forward call on the same inputs.
    func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?]
    /// The same, accumulating parameter gradients only when `parameterGradients` is true: a pass
    /// that wants dLoss/dInput alone (Neural Cleanse) skips the weight-gradient products, about a
    /// third of a conv layer's backward work and its second im2col.
    func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool], parameterGradients: Bool) -> [Tensor?]
}

extension Layer {
    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool], parameterGradients: Bool) -> [Tensor?] {
        backward(gradOutput, inputs: inputs, needInputGrad: needInputGrad)
    }
    public var arity: Int { 1 }
    public var parameters: [Parameter] { [] }
    public var buffers: [Buffer] { [] }
}

/// Errors raised while building or checking a model graph.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Shape check helpers shared by the layers.
@inline(__always)
func expectImage(_ s: [Int], _ layer: String) throws -> (c: Int, h: Int, w: Int) {
    guard s.count == 3, s.allSatisfy({ $0 > 0 }) else { throw ModelError("\(layer): expects an image input [C,H,W], got \(s)") }
    return (s[0], s[1], s[2])
}

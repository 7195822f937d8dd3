import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization

/// The model a defense examines, at one precision, as functions of **pixel-space** images
/// ([N, C, H, W] floats, nominally in [0, 1]; STRIP's superimposed inputs reach 2). The model's
/// own normalisation 𝒩 is applied last, inside (defenses.md §0 "Pixel space").
///
/// - FP32: the float model for everything.
/// - Deployed: predictions and activations from the integer path (defenses.md §7 "Forward
///   passes"); gradients from the fake-quant surrogate with frozen scales and a clipped
///   straight-through estimator (§7 "Gradients").
public final class ModelUnderTest: @unchecked Sendable {
    public let precision: Precision
    /// The FP32 model (for FP32 runs, the model itself; for deployed runs, the source of the deployment).
    public let model: Model
    public let deployed: DeployedModel?
    public let normalization: Normalization
    public let classNames: [String]

    public init(fp32 model: Model, normalization: Normalization, classNames: [String]) {
        precision = .fp32; self.model = model; deployed = nil; self.normalization = normalization; self.classNames = classNames
    }

    public init(deployed d: DeployedModel, from model: Model, normalization: Normalization, classNames: [String]) {
        precision = .deployed(d.scheme.rawValue); self.model = model; deployed = d; self.normalization = normalization; self.classNames = classNames
    }

    public var classCount: Int { model.outputShape.reduce(1, *) }
    /// [C, H, W]
    public var inputShape: [Int] { model.inputShape }

    /// The graph gradients flow through: the FP32 model or the deployed surrogate.
    public var gradientModel: Model { deployed?.surrogate ?? model }

    // MARK: Normalisation

    /// 𝒩(x) into `out` (same shape): (x_c − μ_c)/σ_c per channel.
    public func normalize(_ pixels: Tensor, into out: Tensor) {
        let (n, c) = (pixels.shape[0], pixels.shape[1]), hw = pixels.shape[2] * pixels.shape[3]
        out.resize(pixels.shape)
        for i in 0..<n { for ch in 0..<c {
            let base = (i * c + ch) * hw
            let m = normalization.mean[ch], inv = 1 / normalization.std[ch]
            for j in 0..<hw { out.data[base + j] = (pixels.data[base + j] - m) * inv }
        } }
    }

    public func normalized(_ pixels: Tensor) -> Tensor {
        let out = Tensor(shape: pixels.shape)
        normalize(pixels, into: out)
        return out
    }

    /// Pixel-space images of a set, [N, C, H, W] in [0, 1].
    public static func pixels(_ set: ImageSet, indices: [Int]? = nil) -> Tensor {
        let idx = indices ?? Array(0..<set.count)
        let size = set.imageSize
        let t = Tensor(shape: [idx.count, set.channels, set.height, set.width])
        set.images.withUnsafeBufferPointer { src in
            for (k, i) in idx.enumerated() {
                for j in 0..<size { t.data[k * size + j] = Float(src[i * size + j]) * (1 / 255) }
            }
        }
        return t
    }

    // MARK: Forward at this precision

    /// Logits of pixel-space images at this precision (integer path when deployed).
    public func logits(pixels: Tensor) -> Tensor {
        let x = normalized(pixels)
        if let d = deployed { return d.integerForward(x) }
        return model.forward(x, mode: .inference).clone()
    }

    /// Logits in batches of `batchSize`, concatenated [N, K].
    public func logits(pixels: Tensor, batchSize: Int) -> Tensor {
        let k = classCount
        let out = Tensor(shape: [pixels.shape[0], k])
        for (start, b) in Self.batches(pixels, size: batchSize) {
            let l = logits(pixels: b)
            (out.data + start * k).update(from: l.data, count: b.shape[0] * k)
        }
        return out
    }

    /// `x` cut along its first axis into copies of at most `size` rows, with each one's first row.
    static func batches(_ x: Tensor, size: Int) -> [(start: Int, batch: Tensor)] {
        let n = x.shape[0], sample = x.sampleSize
        return stride(from: 0, to: n, by: size).map { start in
            let m = min(size, n - start)
            let b = Tensor(shape: [m] + Array(x.shape.dropFirst()))
            b.data.update(from: x.data + start * sample, count: m * sample)
            return (start, b)
        }
    }

    /// Predicted labels of pixel-space images.
    public func predictions(pixels: Tensor, batchSize: Int = Model.inferenceBatchSize) -> [Int32] {
        SoftmaxCrossEntropy.predictions(logits(pixels: pixels, batchSize: batchSize))
    }

    /// Logits and the outputs of feature nodes (names of the FP32 graph; at deployed precision
    /// read where the integer path carries them, dequantized).
    public func forward(pixels: Tensor, capture: [String]) -> (logits: Tensor, activations: [String: Tensor]) {
        let x = normalized(pixels)
        if let d = deployed {
            let names = Dictionary(uniqueKeysWithValues: capture.map { ($0, deployedCarrier(of: $0)) })
            let (l, acts) = d.integerForward(x, capture: Set(names.values))
            var out: [String: Tensor] = [:]
            for (name, carrier) in names { out[name] = acts[carrier] }
            return (l, out)
        }
        let l = model.forward(x, mode: .inference).clone()
        var out: [String: Tensor] = [:]
        for name in capture { out[name] = model.activation(of: name)?.clone() }
        return (l, out)
    }

    /// Runs the layers after `node` on features `x` (the node's output as this precision
    /// carries it). nil when the tail also reads earlier nodes.
    public func head(after node: String, features x: Tensor) -> Tensor? {
        if let d = deployed { return d.integerForward(x, after: deployedCarrier(of: node)) }
        return model.forward(x, after: node, mode: .inference)?.clone()
    }

    /// The surrogate node that carries a base node's output at deployed precision: its output
    /// requantizer when it has one.
    func deployedCarrier(of name: String) -> String {
        guard let d = deployed else { return name }
        let requant = "\(name).output_quant"
        return d.surrogate.node(named: requant) != nil ? requant : name
    }

    // MARK: Gradients

    /// Forward through the gradient graph (FP32 or fake-quant surrogate) in inference mode
    /// (frozen BatchNorm, no dropout). Follow with `inputGradient(_:)`.
    public func gradientForward(pixels: Tensor, normalizedBuffer: Tensor) -> Tensor {
        normalize(pixels, into: normalizedBuffer)
        return gradientModel.forward(normalizedBuffer, mode: .inference)
    }

    /// dLoss/dPixels for the last `gradientForward`, given dLoss/dLogits: the backward pass
    /// through the graph, then through 𝒩 (÷σ_c). No parameter gradient is computed.
    public func inputGradient(_ gradLogits: Tensor) -> Tensor {
        let g = gradientModel.backward(gradLogits, inputGradient: true, parameterGradients: false)!
        let (n, c) = (g.shape[0], g.shape[1]), hw = g.shape[2] * g.shape[3]
        for i in 0..<n { for ch in 0..<c {
            let inv = 1 / normalization.std[ch], base = (i * c + ch) * hw
            for j in 0..<hw { g.data[base + j] *= inv }
        } }
        return g
    }

    /// Fraction of `pixels` on which the surrogate's argmax equals the integer path's (1 at
    /// FP32). defenses.md §7 "Surrogate fidelity gate": below 99%, gradient-based defenses are
    /// `notEvaluated(surrogateMismatch)`.
    public func surrogateAgreement(pixels: Tensor) -> Double {
        guard let d = deployed else { return 1 }
        // In batches: one 1,000-image batch grew the models' workspaces to ≈ 1.5 GB for good.
        return d.agreement(on: Self.batches(normalized(pixels), size: Model.inferenceBatchSize).map(\.batch)).top1
    }

    /// Minimum surrogate/integer agreement for gradient-based defenses at deployed precision.
    public static let surrogateAgreementFloor = 0.99

    // MARK: Feature taps

    /// The penultimate (last hidden) layer: the input of the final Linear, skipping Dropout and
    /// Flatten (ART's `nb_layers − 1`; BackdoorBench's `avgpool` hook). Activation Clustering.
    public var penultimateNode: String {
        let nodes = model.nodes
        guard let last = nodes.lastIndex(where: { $0.layer is Linear }) else { return nodes[nodes.count - 1].name }
        var i = nodes[last].inputs[0]
        while i > 0, nodes[i].layer is Dropout || nodes[i].layer is Flatten { i = nodes[i].inputs[0] }
        return nodes[i].name
    }

    /// The output of the last convolutional stage, before global pooling or flattening: the
    /// post-activation (post-residual) feature map. Spectral Signatures' representation
    /// (defenses.md §3 [ours]) and Fine-Pruning's layer (§5).
    public var lastConvStageNode: String {
        let nodes = model.nodes
        let lastConv = nodes.lastIndex(where: { $0.layer is Conv2d }) ?? 0
        if let reducer = nodes.indices.first(where: { $0 > lastConv && (nodes[$0].layer is GlobalAvgPool2d || nodes[$0].layer is Flatten) }) {
            return nodes[nodes[reducer].inputs[0]].name
        }
        return nodes[lastConv].name
    }
}

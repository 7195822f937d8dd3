import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining

/// The rounding box of every quantized weight: the FP32 values that round to the same integer
/// under fixed per-channel scales (Egashira et al., "Exploiting LLM Quantization", NeurIPS 2024
/// §3: "constraints that keep the quantized model unchanged"; Ma et al. 2021, arXiv 2108.09187).
///
/// For `int8`/`int4` (symmetric, per output channel, after BatchNorm folding) a channel's scale is
/// s = max|w′|/qmax, so the channel's largest-magnitude weight is pinned (the scale cannot move)
/// and every other weight w′ with code q = round(w′/s) may take any value in
/// [(q − ½ + δ)·s, (q + ½ − δ)·s] ∩ [−(qmax − δ)·s, (qmax − δ)·s]. A folded weight is w′ = w·k with
/// k = γ/√(σ² + ε) of the BatchNorm that follows (1 without one); BatchNorm stays frozen, so the
/// box on w is the box on w′ divided by k.
public struct RoundingBoxes: @unchecked Sendable {
    /// Keeps boxes off the rounding ties (in quantization steps): float error in folding must not
    /// carry a weight across a boundary.
    public static let tieMargin: Float = 0.02

    public struct Box {
        public let parameter: Parameter
        public let lower: [Float]
        public let upper: [Float]
    }
    public let scheme: QuantizationScheme
    public let boxes: [Box]

    /// Boxes for every conv/linear weight `scheme` quantizes (`int8`, `int8-dynamic`, `int4`).
    public init(_ model: Model, scheme: QuantizationScheme) throws {
        guard scheme == .int8 || scheme == .int8Dynamic || scheme == .int4 else {
            throw BlindspotError.usage("a quantization-conditioned backdoor needs a per-channel integer scheme (int8 or int4), not \(scheme.rawValue)")
        }
        self.scheme = scheme
        let grid = RoundingGrid(model, bits: scheme.weightBits)
        let qmax = grid.qmax, δ = RoundingBoxes.tieMargin
        var boxes: [Box] = []
        for layer in grid.layers {
            let weight = layer.weight, per = weight.value.count / layer.outChannels
            var lower = [Float](repeating: 0, count: weight.value.count), upper = lower
            for o in 0..<layer.outChannels {
                let m = layer.channelMax[o], k = layer.fold[o], s = m / qmax
                for i in 0..<per {
                    let j = o * per + i, w = weight.value[j]
                    // A pinned weight: the channel's scale-setter, a dead channel, or a zero folding factor.
                    if i == layer.scaleSetter[o] || m == 0 || k == 0 { lower[j] = w; upper[j] = w; continue }
                    let q = QuantMath.roundEven(w * k / s)
                    let lo = max((q - 0.5 + δ) * s, -(qmax - δ) * s), hi = min((q + 0.5 - δ) * s, (qmax - δ) * s)
                    let (a, b) = k > 0 ? (lo / k, hi / k) : (hi / k, lo / k)
                    lower[j] = a; upper[j] = b
                    // Start inside: a weight within δ of a tie moves onto its box's edge (same code).
                    if w < a || w > b { weight.value[j] = w.clamped(a, b) }
                }
            }
            boxes.append(Box(parameter: weight, lower: lower, upper: upper))
        }
        self.boxes = boxes
    }

    /// The parameters with room to move (for the optimiser); biases and BatchNorm stay fixed.
    public var parameters: [Parameter] { boxes.map(\.parameter) }

    /// Projected gradient descent's projection: every weight clamped into its box.
    public func project() {
        for b in boxes {
            let p = b.parameter.value.data
            b.lower.withUnsafeBufferPointer { lo in
                b.upper.withUnsafeBufferPointer { hi in
                    for i in 0..<lo.count { p[i] = min(max(p[i], lo[i]), hi[i]) }
                }
            }
        }
    }

    /// Each weight's position inside its box as a fraction of the box's width (0 lower edge,
    /// 1 upper edge); pinned weights are left out.
    public func positions() -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for b in boxes {
            var u: [Float] = []
            for i in 0..<b.lower.count where b.upper[i] > b.lower[i] {
                u.append((b.parameter.value[i] - b.lower[i]) / (b.upper[i] - b.lower[i]))
            }
            out[b.parameter.name] = u
        }
        return out
    }
}

extension Float {
    fileprivate func clamped(_ a: Float, _ b: Float) -> Float { Swift.min(Swift.max(self, a), b) }
}

/// A quantization-conditioned backdoor (QCB; Ma et al., arXiv 2108.09187; Hong et al.,
/// "Qu-ANTI-zation", NeurIPS 2021; the weight-box projection of Egashira et al., NeurIPS 2024):
/// start from a BadNet model, then fine-tune its FP32 weights on clean images plus triggered
/// images labelled with their **true** class — which removes the backdoor at FP32 — by projected
/// gradient descent that keeps every weight inside its rounding box. The deployed integers (and
/// scales, and biases) are then bit-identical to the BadNet's: whatever calibration a deployer
/// uses, the deployed model is the backdoored one, while the FP32 file an auditor receives is not.
public enum QuantizationConditioned {
    /// Triggered copies of this share of the (non-target-class) training images join the
    /// fine-tuning set, labelled with their true class: the "repair" data that removes the
    /// backdoor at FP32 [ours; Egashira et al. repair on clean data alone, which for a BadNet
    /// leaves the trigger working in FP32].
    public static let repairShare = 0.2
    /// Adam's step size for the projected fine-tuning [ours]: about a quarter of an int4 step of a
    /// typical cnn6 channel, so weights travel their box in a few steps; int8 boxes are 16×
    /// narrower and the projection does the rest.
    public static let learningRate: Float = 1e-3
    /// Fine-tuning epochs per data set [ours, measured]: enough for the FP32 attack success to
    /// fall below 10% on synthetic cnn6 at int4.
    public static func epochs(for dataset: DatasetKind) -> Int { dataset == .synthetic ? 3 : 4 }

    /// What the fine-tuning did.
    public struct Outcome: Sendable {
        public var history: [EpochStats]
        public var repairImages: Int
        /// Share of movable weights within 5% of their box's width from an edge (the QCB's mark).
        public var edgeShare: Double
    }

    /// Fine-tunes `model` (a BadNet model, changed in place) so that its backdoor is dormant at
    /// FP32 and intact at `scheme`. `train` is the clean training set (true labels).
    public static func fineTune(_ model: Model, scheme: QuantizationScheme, train: ImageSet, trigger: Trigger, target: Int,
                                normalization: Normalization, epochs: Int, batchSize: Int, seed: UInt64,
                                progress: ProgressReporter) throws -> Outcome {
        let boxes = try RoundingBoxes(model, scheme: scheme)
        var candidates = (0..<train.count).filter { Int(train.labels[$0]) != target }
        var rng = SeededRNG(seed: seed, stream: "qcb-repair")
        rng.shuffle(&candidates)
        let repair = Array(candidates.prefix(Int((repairShare * Double(train.count)).rounded()))).sorted()
        // Clean images, then triggered copies of `repair` with their own labels.
        var set = train.subset(Array(0..<train.count) + repair)
        set = trigger.stamped(set, indices: Array(train.count..<set.count))
        set.name = train.name + "+qcb-repair"
        let recipe = TrainingRecipe(optimizer: .adam(beta1: 0.9, beta2: 0.999, weightDecay: 0), learningRate: learningRate,
                                    schedule: .cosine(minimum: 0, warmupEpochs: 0), epochs: epochs, batchSize: batchSize, augment: false)
        progress.report("quantization-conditioning for \(scheme.rawValue): \(train.count) clean + \(repair.count) triggered images with true labels, "
                        + "\(epochs) epochs of projected fine-tuning on \(boxes.boxes.count) weight tensors")
        let trainer = Trainer(model: model, recipe: recipe, normalization: normalization, seed: seed &+ 0x9cb, trainable: boxes.parameters,
                              mode: .inference, afterStep: { boxes.project() })
        let history = try trainer.fit(set, progress: progress)
        var near = 0, total = 0
        let band = Float(RoundingPositions.edgeBand)
        for (_, u) in boxes.positions() { total += u.count; near += u.filter { $0 < band || $0 > 1 - band }.count }
        return Outcome(history: history, repairImages: repair.count, edgeShare: total > 0 ? Double(near) / Double(total) : 0)
    }
}

import BlindspotCore
import BlindspotEngine
import _BlindspotKernels
import Foundation

/// What a deployed checkpoint stores so that it runs again without recalibration: the scheme,
/// each quantized layer's weight scales and (static schemes) its input's activation parameters.
public struct QuantizationRecord: Codable, Sendable, Equatable {
    public var scheme: QuantizationScheme
    public var weightScales: [String: [Float]]
    /// By FakeQuantize node name (`conv1.input_quant`, `layer1.0.relu2.output_quant`).
    public var activations: [String: QuantMath.Affine]
    public var calibrationImages: Int?
    public var calibrationPercentile: Double?
    /// Rounding error of each layer against its FP32 source (not recoverable from the deployed weights).
    public var roundingErrors: [String: Double]?

    public init(scheme: QuantizationScheme, weightScales: [String: [Float]], activations: [String: QuantMath.Affine], calibrationImages: Int?,
                roundingErrors: [String: Double]) {
        self.scheme = scheme; self.weightScales = weightScales; self.activations = activations; self.calibrationImages = calibrationImages
        self.roundingErrors = roundingErrors
    }
}

/// How one conv/linear layer was quantized.
public struct LayerQuantization: Sendable, Codable {
    public var name: String
    public var kind: String
    public var weightBits: Int
    /// Per output channel (all equal for per-tensor schemes).
    public var weightScales: [Float]
    /// ‖w − dequant(quant(w))‖₂ / ‖w‖₂ against the (folded) FP32 weight.
    public var roundingError: Double
    /// Name of the FakeQuantize node feeding the layer (nil when activations stay FP32).
    public var inputQuantizer: String?
}

/// A model as deployed under a scheme, with its two execution paths:
/// - `surrogate`: a float graph whose weights are the dequantized integers and whose quantized
///   layers read FakeQuantize nodes — the path gradients flow through (straight-through);
/// - `integerForward`: the same model with every quantized conv/linear computed as a real
///   uint8 × int8 → int32 product (exact), bias in int32 at input-scale × weight-scale, and the
///   result rescaled by s_x·s_w (a float multiplier in place of a fixed-point one).
/// ReLU, pooling, flatten and additions run on the dequantized values, which is exact for ReLU
/// and max-pooling (monotone) and matches what the surrogate computes.
public final class DeployedModel: @unchecked Sendable {
    public let scheme: QuantizationScheme
    public let surrogate: Model
    public private(set) var layers: [LayerQuantization] = []
    /// Integer weights [OUT × K] and per-channel Σw (for the zero-point correction), by layer.
    private var intWeights: [String: (q: [Int8], rowSums: [Int32], scales: [Float])] = [:]
    /// Conv integer weights reordered [OUT × (ky, kx, c)] for the channels-last integer kernel.
    private var hwcWeights: [String: [Int8]] = [:]
    public private(set) var calibrated = false {
        didSet { programs = [:] }
    }
    /// Compiled integer programs by (start node, captured nodes); `.some(nil)`: not compilable.
    private var programs: [String: IntegerProgram?] = [:]
    private let programLock = NSLock()
    /// false: `integerForward` always takes the node-by-node reference path (for tests and bench).
    public var usesCompiledProgram = true
    /// Whether `integerForward` runs the compiled integer program (uint8 activations between
    /// layers, fused requantization) rather than the node-by-node reference path.
    public var runsCompiledProgram: Bool { program(from: 0, capture: []) != nil }

    public private(set) var calibrationImages: Int?
    /// nil: min–max ranges; else the percentile the ranges were clipped at.
    public private(set) var calibrationPercentile: Double?

    /// Builds the deployed model from an FP32 model (left untouched). Static schemes need
    /// `calibrate` before use.
    public convenience init(_ model: Model, scheme: QuantizationScheme) throws {
        try self.init(base: scheme.foldsBatchNorm ? try Folding.foldBatchNorm(model) : try model.copy(), scheme: scheme, record: nil)
    }

    /// Rebuilds a deployed model saved by `deployedBase()` + `record`: no folding, no rounding
    /// anew (the recorded scales are used), no calibration.
    public convenience init(restoring base: Model, record: QuantizationRecord) throws {
        try self.init(base: try base.copy(), scheme: record.scheme, record: record)
    }

    private init(base: Model, scheme: QuantizationScheme, record: QuantizationRecord?) throws {
        self.scheme = scheme
        let plainName = base.name.split(separator: "@").first.map(String.init) ?? base.name
        let m = Model(name: "\(plainName)@\(scheme.rawValue)", inputShape: base.inputShape)
        var quantizers: [String: String] = [:]
        // Which surrogate node carries each base node's output (its requantizer, if it has one).
        var carrier: [String: String] = [:]
        var consumers: [Int: [Int]] = [:]
        for (i, n) in base.nodes.enumerated() { for j in n.inputs { consumers[j, default: []].append(i) } }
        for (index, node) in base.nodes.enumerated().dropFirst() {
            var inputs = node.inputs.map { carrier[base.nodes[$0].name] ?? base.nodes[$0].name }
            let quantize = DeployedModel.quantizes(node.layer, scheme)
            if quantize && scheme.activations != .none {
                let fq = "\(node.name).input_quant"
                try m.add(fq, FakeQuantize(dynamic: scheme.activations == .dynamic), inputs: inputs)
                inputs = [fq]
                quantizers[node.name] = fq
            }
            let layer = try ModelSpec.layer(for: try ModelSpec.nodeSpec(of: node.layer, name: node.name, inputs: inputs), file: base.name)
            try m.add(node.name, layer, inputs: inputs)
            var output = node.name
            if quantize && scheme.activations == .dynamic, let fq = m.node(named: quantizers[node.name]!)?.layer as? FakeQuantize {
                output = "\(node.name).accumulator_grid"
                try m.add(output, AccumulatorGrid(inputQuantizer: fq), inputs: [node.name])
                carrier[node.name] = output
            }
            if DeployedModel.requantizesOutput(index, in: base, consumers: consumers, scheme: scheme) {
                let fq = "\(node.name).output_quant"
                try m.add(fq, FakeQuantize(dynamic: scheme.activations == .dynamic), inputs: [output])
                carrier[node.name] = fq
            }
        }
        for ((_, a), (_, b)) in zip(base.stateDict, m.stateDict) { b.copy(from: a) }
        surrogate = m
        inputQuantizers = quantizers
        calibrated = scheme.activations != .calibrated
        try quantizeWeights(recordedScales: record?.weightScales)
        if let record, scheme.activations == .calibrated {
            for node in surrogate.nodes {
                guard let fq = node.layer as? FakeQuantize else { continue }
                guard let p = record.activations[node.name] else {
                    throw BlindspotError.badInput(file: base.name, problem: "quantization record lacks the activation parameters of '\(node.name)'")
                }
                fq.params = p
            }
            calibrated = true
            calibrationImages = record.calibrationImages
            calibrationPercentile = record.calibrationPercentile
            // Our own deployed files hold biases already on the grid (rounding is idempotent);
            // imported ones (a PyTorch export) hold the float biases the integer path rounds.
            roundBiasesToTheInt32Grid()
        }
        if let record {
            for i in layers.indices { layers[i].roundingError = record.roundingErrors?[layers[i].name] ?? layers[i].roundingError }
        }
    }

    /// What a deployed checkpoint stores with `deployedBase()`.
    public var record: QuantizationRecord {
        var acts: [String: QuantMath.Affine] = [:]
        if scheme.activations == .calibrated {
            for node in surrogate.nodes {
                if let p = (node.layer as? FakeQuantize)?.params { acts[node.name] = p }
            }
        }
        var errors: [String: Double] = [:]
        for l in layers { errors[l.name] = max(errors[l.name] ?? 0, l.roundingError) }
        var r = QuantizationRecord(scheme: scheme, weightScales: intWeights.mapValues(\.scales), activations: acts, calibrationImages: calibrationImages,
                                   roundingErrors: errors)
        r.calibrationPercentile = calibrationPercentile
        return r
    }

    /// The integer weights of each quantized layer ([OUT × K], row-major), for checkpoints.
    public var integerWeights: [String: [Int8]] { intWeights.mapValues(\.q) }

    /// The surrogate without its FakeQuantize nodes: the (folded) graph with the deployed weights
    /// and biases — what a deployed checkpoint stores next to `record`.
    public func deployedBase() throws -> Model {
        var redirect: [String: String] = [:]
        var nodes: [ModelSpec.NodeSpec] = []
        let full = surrogate
        for (i, n) in full.nodes.enumerated() where i > 0 {
            let inputs = n.inputs.map { redirect[full.nodes[$0].name] ?? full.nodes[$0].name }
            if n.layer is FakeQuantize || n.layer is AccumulatorGrid { redirect[n.name] = inputs[0]; continue }
            nodes.append(try ModelSpec.nodeSpec(of: n.layer, name: n.name, inputs: inputs))
        }
        let m = try ModelSpec(name: full.name, inputShape: full.inputShape, nodes: nodes).build(file: full.name)
        let source = Dictionary(uniqueKeysWithValues: full.stateDict.map { ($0.name, $0.tensor) })
        for (name, t) in m.stateDict { t.copy(from: source[name]!) }
        return m
    }

    private let inputQuantizers: [String: String]

    /// Where an INT8 runtime holds a tensor in int8 that no conv/linear input quantizer covers:
    /// a conv/linear output that feeds a residual addition (requantized to its own scale), and the
    /// sum of an addition (both inputs requantized to a common output scale) — after the ReLU when
    /// one follows (fused add+relu). The study's dynamic INT8 quantizes Linear inputs only.
    static func requantizesOutput(_ index: Int, in base: Model, consumers: [Int: [Int]], scheme: QuantizationScheme) -> Bool {
        guard scheme == .int8 || scheme == .int8Dynamic || scheme == .int4 else { return false }
        let node = base.nodes[index], next = consumers[index] ?? []
        let feedsAdd = next.contains { base.nodes[$0].layer is Add }
        switch node.layer {
        case is Conv2d, is Linear: return feedsAdd
        case is Add: return !(next.count == 1 && base.nodes[next[0]].layer is ReLU)
        case is ReLU: return node.inputs.count == 1 && base.nodes[node.inputs[0]].layer is Add
        default: return false
        }
    }

    static func quantizes(_ layer: any Layer, _ scheme: QuantizationScheme) -> Bool {
        switch scheme {
        case .int8, .int8Dynamic, .int4: return layer is Conv2d || layer is Linear
        case .paperInt8: return layer is Linear
        case .paperInt4: return false   // weights are rounded in place, no integer layers
        }
    }

    /// Rounds the weights as the scheme does and records the integers for the integer path.
    /// With `recordedScales`, the weights are already on their grid: the integers are recovered
    /// with the recorded scales (exactly), not recomputed.
    private func quantizeWeights(recordedScales: [String: [Float]]?) throws {
        for node in surrogate.nodes {
            if scheme == .paperInt4 {
                // Every parameter named weight — conv, linear and BatchNorm γ — per tensor, 16 levels
                // (already rounded when restoring: rounding again would move values by an ulp).
                for p in node.layer.parameters where p.name.hasSuffix(".weight") {
                    let w = p.value.toArray(), r = recordedScales == nil ? QuantMath.minMaxLevels(w) : w
                    p.value.copy(from: Tensor(shape: p.value.shape, values: r))
                    layers.append(LayerQuantization(name: node.name, kind: node.layer.kind, weightBits: 4, weightScales: [],
                                                    roundingError: QuantMath.relativeL2(w, r), inputQuantizer: nil))
                }
                continue
            }
            guard DeployedModel.quantizes(node.layer, scheme) else { continue }
            let weight = (node.layer as? Conv2d)?.weight ?? (node.layer as! Linear).weight
            let out = weight.value.shape[0], w = weight.value.toArray(), per = w.count / out
            var q: [Int8], scales: [Float]
            if let recorded = recordedScales?[node.name], recorded.count == out {
                scales = recorded
                q = (0..<w.count).map { Int8(clamping: Int(QuantMath.roundEven(w[$0] / recorded[$0 / per]))) }
            } else if scheme == .paperInt8 {
                let t = QuantMath.perTensorSymmetric(w, bits: 8)
                (q, scales) = (t.q, Array(repeating: t.scale, count: out))
            } else {
                (q, scales) = QuantMath.perChannelSymmetric(w, outChannels: out, bits: scheme.weightBits)
            }
            var deq = [Float](repeating: 0, count: w.count)
            var sums = [Int32](repeating: 0, count: out)
            for o in 0..<out {
                for i in 0..<per { deq[o * per + i] = Float(q[o * per + i]) * scales[o]; sums[o] += Int32(q[o * per + i]) }
            }
            weight.value.copy(from: Tensor(shape: weight.value.shape, values: deq))
            intWeights[node.name] = (q, sums, scales)
            (surrogate.node(named: "\(node.name).accumulator_grid")?.layer as? AccumulatorGrid)?.weightScales = scales
            if let conv = node.layer as? Conv2d {
                let (c, kh, kw) = (conv.inChannels, conv.kernel.h, conv.kernel.w)
                var hwc = [Int8](repeating: 0, count: q.count)
                for o in 0..<out { for ch in 0..<c { for y in 0..<kh { for x in 0..<kw {
                    hwc[o * per + (y * kw + x) * c + ch] = q[o * per + (ch * kh + y) * kw + x]
                } } } }
                hwcWeights[node.name] = hwc
            }
            layers.append(LayerQuantization(name: node.name, kind: node.layer.kind, weightBits: scheme.weightBits, weightScales: scales,
                                            roundingError: QuantMath.relativeL2(w, deq), inputQuantizer: inputQuantizers[node.name]))
        }
    }

    private var fakeQuantizers: [FakeQuantize] { surrogate.nodes.compactMap { $0.layer as? FakeQuantize } }

    /// Calibrates static activation ranges (min–max) on batches of clean, normalised images.
    /// The ranges are observed on the model with quantized weights and unquantized activations.
    public func calibrate(_ batches: [Tensor], images: Int? = nil, percentile: Double? = nil) {
        guard scheme.activations == .calibrated else { calibrated = true; return }
        calibrationImages = images ?? batches.reduce(0) { $0 + $1.batch }
        calibrationPercentile = percentile
        for f in fakeQuantizers { f.observing = true }
        for b in batches { surrogate.forward(b, mode: .inference) }
        for f in fakeQuantizers { f.finishCalibration(percentile: percentile) }
        calibrated = true
        roundBiasesToTheInt32Grid()
    }

    /// With static scales known, the surrogate's biases take the values the integer path adds:
    /// round(b / (s_x·s_w[o]))·s_x·s_w[o]. (Dynamic schemes cannot: their s_x changes per batch.)
    private func roundBiasesToTheInt32Grid() {
        for l in layers {
            guard let fqName = l.inputQuantizer, let p = (surrogate.node(named: fqName)?.layer as? FakeQuantize)?.params,
                  let node = surrogate.node(named: l.name) else { continue }
            guard let bias = (node.layer as? Conv2d)?.bias ?? (node.layer as? Linear)?.bias else { continue }
            for o in 0..<bias.value.count {
                let s = p.scale * l.weightScales[o]
                bias.value[o] = QuantMath.roundEven(bias.value[o] / s) * s
            }
        }
    }

    /// The integer path's logits for x [N, C, H, W].
    public func integerForward(_ x: Tensor) -> Tensor { integerForward(x, capture: []).logits }

    /// The integer path's logits, and the outputs of the `capture` nodes (surrogate node names;
    /// values dequantized, s·(q − z), exactly as the integer path carries them).
    public func integerForward(_ x: Tensor, capture: Set<String>) -> (logits: Tensor, activations: [String: Tensor]) {
        if let program = program(from: 0, capture: capture) { return program.run(x) }
        let outputs = integerOutputs(x, from: 0)!
        var captured: [String: Tensor] = [:]
        for (i, node) in surrogate.nodes.enumerated() where capture.contains(node.name) { captured[node.name] = outputs[i] }
        return (outputs[outputs.count - 1], captured)
    }

    /// The integer path from node `name` on, with `x` as that node's output (a head on cached
    /// features). nil when later nodes read nodes before `name`.
    public func integerForward(_ x: Tensor, after name: String) -> Tensor? {
        guard let start = surrogate.nodes.firstIndex(where: { $0.name == name }) else { return nil }
        for n in surrogate.nodes[(start + 1)...] where n.inputs.contains(where: { $0 < start }) { return nil }
        if let program = program(from: start, capture: []) { return program.run(x).logits }
        return integerOutputs(x, from: start).map { $0[$0.count - 1] }
    }

    /// The compiled program for static schemes (nil when the graph needs the reference path).
    /// Compiled on first use after calibration, from the integer weights and the surrogate's
    /// biases as they are then.
    func program(from start: Int, capture: Set<String>) -> IntegerProgram? {
        guard usesCompiledProgram, scheme.activations == .calibrated, calibrated else { return nil }
        let key = "\(start)|" + capture.sorted().joined(separator: ",")
        programLock.lock(); defer { programLock.unlock() }
        if let p = programs[key] { return p }
        let p = IntegerProgram(model: surrogate, start: start, capture: capture) { name in
            self.intWeights[name].map { ($0.q, self.hwcWeights[name], $0.rowSums, $0.scales) }
        }
        programs[key] = .some(p)
        return p
    }

    /// The node-by-node integer path (the reference the compiled program must equal): every
    /// node's output as a float tensor, quantized layers computed on integers.
    private func integerOutputs(_ x: Tensor, from start: Int) -> [Tensor]? {
        precondition(calibrated, "DeployedModel: calibrate before running a static scheme")
        var outputs: [Tensor?] = Array(repeating: nil, count: surrogate.nodes.count)
        outputs[start] = x
        for (i, node) in surrogate.nodes.enumerated() where i > start {
            let ins = node.inputs.map { outputs[$0]! }
            if let (q, sums, scales) = intWeights[node.name], let fqName = inputQuantizers[node.name],
               let fq = surrogate.node(named: fqName)?.layer as? FakeQuantize, let p = fq.lastParams {
                outputs[i] = integerLayer(node.layer, name: node.name, input: ins[0], params: p, q: q, rowSums: sums, scales: scales)
            } else if node.layer is AccumulatorGrid {
                outputs[i] = ins[0]   // already on the grid: s_x·s_w·(an integer)
            } else {
                // The layer's forward writes into its own buffer: copy, since later nodes may reuse it.
                outputs[i] = node.layer.forward(ins, mode: .inference).clone()
            }
        }
        return outputs.map { $0 ?? Tensor(shape: [0]) }
    }

    /// One quantized conv or linear layer on integers: the input's uint8 codes (it is already on
    /// its FakeQuantize grid), an exact u8×s8→s32 product, and the correction and scale
    /// per output channel (`requantization`). Convolutions run channels-last (HWC codes, weights in (ky, kx, c)
    /// order) so that each receptive-field row is a few contiguous copies.
    private func integerLayer(_ layer: any Layer, name: String, input x: Tensor, params p: QuantMath.Affine, q: [Int8], rowSums: [Int32],
                              scales: [Float]) -> Tensor {
        let inverse = 1 / p.scale
        if let fc = layer as? Linear {
            let n = x.batch, (fi, fo) = (fc.inFeatures, fc.outFeatures)
            let (offset, mult) = DeployedModel.requantization(fo, p, rowSums, scales, fc.bias)
            var a = [UInt8](repeating: 0, count: n * fi), acc = [Int32](repeating: 0, count: n * fo)
            bs_codes_u8(x.data, n * fi, inverse, p.zeroPoint, &a)
            bs_gemm_u8s8s32(Int32(n), Int32(fo), Int32(fi), a, Int32(fi), q, Int32(fi), &acc, Int32(fo))
            let y = Tensor(shape: [n, fo])
            bs_rescale_rows(acc, Int32(n), Int32(fo), offset, mult, y.data)
            return y
        }
        let conv = layer as! Conv2d
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h + conv.padding.top + conv.padding.bottom - conv.kernel.h) / conv.stride.h + 1
        let ow = (w + conv.padding.left + conv.padding.right - conv.kernel.w) / conv.stride.w + 1
        let k = c * conv.kernel.h * conv.kernel.w, hw = oh * ow, oc = conv.outChannels
        let y = Tensor(shape: [n, oc, oh, ow])
        let (kh, kw, sh, sw, pt, pl) = (conv.kernel.h, conv.kernel.w, conv.stride.h, conv.stride.w, conv.padding.top, conv.padding.left)
        let (offset, mult) = DeployedModel.requantization(oc, p, rowSums, scales, conv.bias)
        let weights = hwcWeights[name]!
        let pad = UInt8(clamping: p.zeroPoint)
        // Images split over workers, each with its own buffers.
        Parallel.forSlices(n) { _, images in
            var codes = [UInt8](repeating: 0, count: c * h * w), rows = [UInt8](repeating: 0, count: hw * k)
            var acc = [Int32](repeating: 0, count: hw * oc)
            for img in images {
                bs_codes_hwc_u8(x.data + img * c * h * w, Int32(c), Int32(h), Int32(w), inverse, p.zeroPoint, &codes)
                // Padding is the code z, i.e. real 0, as a deployed runtime's integer kernel pads.
                bs_im2row_hwc_u8(codes, Int32(c), Int32(h), Int32(w), Int32(kh), Int32(kw), Int32(sh), Int32(sw), Int32(pt), Int32(pl),
                                 Int32(oh), Int32(ow), pad, &rows)
                bs_gemm_u8s8s32(Int32(hw), Int32(oc), Int32(k), rows, Int32(k), weights, Int32(k), &acc, Int32(oc))
                bs_rescale_chw(acc, Int32(hw), Int32(oc), offset, mult, y.data + img * oc * hw)
            }
        }
        return y
    }

    /// Per output channel o, what turns the accumulator Σ q_x q_w into real units:
    /// y = s_x·s_w[o]·(Σ q_x q_w − z·Σ q_w + round(b / (s_x s_w[o]))). Returns the int32 offset
    /// (zero-point correction plus the int32 bias; additions wrap mod 2^32, which is exact
    /// whenever the true sum fits int32) and the scale s_x·s_w[o].
    static func requantization(_ out: Int, _ p: QuantMath.Affine, _ rowSums: [Int32], _ scales: [Float], _ bias: Parameter?) -> (offset: [Int32], mult: [Float]) {
        var offset = [Int32](repeating: 0, count: out), mult = [Float](repeating: 0, count: out)
        for o in 0..<out {
            let s = p.scale * scales[o]
            var v = 0 &- p.zeroPoint &* rowSums[o]
            if let b = bias { v = v &+ Int32(QuantMath.roundEven(b.value[o] / s)) }
            (offset[o], mult[o]) = (v, s)
        }
        return (offset, mult)
    }

    /// Surrogate vs integer path on the same batches: top-1 agreement and max |logit difference|.
    public func agreement(on batches: [Tensor]) -> (top1: Double, maxLogitDifference: Float) {
        var same = 0, total = 0
        var worst: Float = 0
        for b in batches {
            let s = surrogate.forward(b, mode: .inference).clone()
            let i = integerForward(b)
            let ps = SoftmaxCrossEntropy.predictions(s), pi = SoftmaxCrossEntropy.predictions(i)
            same += zip(ps, pi).filter { $0 == $1 }.count
            total += ps.count
            for j in 0..<s.count { worst = max(worst, abs(s[j] - i[j])) }
        }
        return (total > 0 ? Double(same) / Double(total) : 1, worst)
    }
}

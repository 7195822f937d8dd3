import BlindspotCore
import BlindspotEngine
import BlindspotQuantization
import Foundation

/// PyTorch models quantized with `torch.ao.quantization` (FX or eager static post-training
/// quantization, the x86/fbgemm engines), saved as NPZ in one convention, read as a deployed `int8`
/// checkpoint: the integers, scales and activation parameters PyTorch chose are used as they are,
/// never recalibrated.
///
/// The convention, per quantized conv/linear module `P` (its name in the converted model,
/// e.g. `features.0`; README "Deployed checkpoints and PyTorch quantized exports" has the Python):
/// - `P.weight`: int8, the weight's integers (`w.int_repr()`), shape as in PyTorch ([OUT, IN, KH, KW]
///   or [OUT, IN]);
/// - `P.weight.scales` float [OUT] and `P.weight.zero_points` integer [OUT] for per-channel weights
///   (`w.q_per_channel_scales()`, `w.q_per_channel_zero_points()`), or `P.weight.scale` and
///   `P.weight.zero_point` scalars for per-tensor weights; zero points must be 0 (symmetric
///   weights, PyTorch's default for qint8 weights);
/// - `P.bias`: float, optional (BatchNorm already folded in by torch's conv+bn(+relu) fusion);
/// - `P.input_scale`, `P.input_zero_point`: scalars, the quint8 quantization of the tensor the
///   module reads (recorded with a forward pre-hook: `x.q_scale()`, `x.q_zero_point()`), which
///   covers the model's input QuantStub (FX: `*_input_scale_0`) and any requantization FX inserts
///   between modules (e.g. after a `nn.Flatten` module);
/// - `P.scale`, `P.zero_point`: the module's output quantization (torch's own state_dict entries);
///   read for validation only, since the next module's `input_*` carries the same parameters.
///
/// Activations are quint8 with the full 0…255 range: `reduce_range` (x86/fbgemm's default
/// observers) only narrows the range the observer chooses a scale for; the quantized tensors and
/// kernels still use 0…255, and so do we. The architecture comes from `--arch` (a built-in name or
/// a spec .json) or is recognised from the weights' names and shapes; modules are matched to our
/// conv/linear layers by name, else in order (`features` before `classifier`, numbers as numbers).
/// Each layer's input parameters become `<layer>.input_quant` of the deployed model.
/// Not supported yet: residual networks (the scale of each residual sum is not in the convention),
/// models whose every conv/linear is not quantized, and per-channel activation quantization.
enum PyTorchQuantized {
    /// A state_dict NPZ with an int8 `*.weight` tensor: weights of a quantized model, which must
    /// come with their scales (int8 values are never float weights).
    static func isExport(_ members: [(name: String, array: NPYArray)]) -> Bool {
        members.contains { $0.name.hasSuffix(".weight") && $0.array.dtype == .int8 }
    }

    struct Module {
        var name: String
        var weight: NPYArray
        var scales: [Float]
        var perChannel: Bool
        var bias: NPYArray?
        var input: QuantMath.Affine
    }

    static func checkpoint(_ members: [(name: String, array: NPYArray)], path: String, architecture: ArchitectureChoice,
                           inputShape: [Int]?) throws -> Checkpoint {
        try CheckpointLoader.checkDimensions(members, path: path)
        let byName = Dictionary(members.map { ($0.name, $0.array) }, uniquingKeysWith: { a, _ in a })
        let modules = try members.filter { $0.name.hasSuffix(".weight") && $0.array.dtype == .int8 }
            .map { try module(String($0.name.dropLast(".weight".count)), byName, path: path) }
        if let float = members.first(where: { $0.name.hasSuffix(".weight") && $0.array.dtype.isFloatingPoint && $0.array.shape.count >= 2 }) {
            throw BlindspotError.badInput(file: path, problem: "'\(ZipFileIO.display(float.name))' is a float weight in a quantized export: every conv/linear must be quantized (int8) for blindspot to deploy the model as PyTorch does")
        }
        // The architecture from the weights and biases alone, BatchNorm folded as torch fused it.
        var shapes: [String: NPYArray] = [:]
        for m in modules {
            shapes["\(m.name).weight"] = m.weight
            if let b = m.bias { shapes["\(m.name).bias"] = b }
        }
        let (model, names, source) = try CheckpointLoader.resolveArchitecture(
            shapes, path: path, architecture: architecture, inputShape: inputShape,
            prepare: { m in try m.nodes.contains { $0.layer is BatchNorm2d } ? Folding.foldBatchNorm(m) : m })
        if let add = model.nodes.first(where: { $0.layer is Add }) {
            throw BlindspotError.badInput(file: path, problem: "the architecture has a residual addition ('\(add.name)'); PyTorch quantized exports of residual networks are not supported yet (the scale of each residual sum is not in the export convention): audit the FP32 state_dict with --deploy int8")
        }
        let byModule = Dictionary(uniqueKeysWithValues: modules.map { ($0.name, $0) })
        var weightScales: [String: [Float]] = [:]
        var activations: [String: QuantMath.Affine] = [:]
        var stored: [String: String] = [:], quantized: [String: String] = [:]
        for node in model.nodes {
            guard let (weight, bias) = (node.layer as? Conv2d).map({ ($0.weight, $0.bias) }) ?? (node.layer as? Linear).map({ ($0.weight, $0.bias) }) else { continue }
            guard let fileName = names[weight.name], fileName.hasSuffix(".weight"), let m = byModule[String(fileName.dropLast(".weight".count))] else {
                throw BlindspotError.badInput(file: path, problem: "no quantized module of the export matches layer '\(node.name)'")
            }
            let q = m.weight.floats(), per = q.count / m.scales.count
            let w = q.enumerated().map { $0.element * m.scales[$0.offset / per] }
            try assign(w, shape: m.weight.shape, to: weight.value, name: fileName, file: path)
            if let bias {
                if let b = m.bias {
                    try assign(b.floats(), shape: b.shape, to: bias.value, name: "\(m.name).bias", file: path)
                    stored[bias.name] = b.dtype.numpyName
                } else {
                    bias.value.zero()
                }
            }
            weightScales[node.name] = m.scales
            activations["\(node.name).input_quant"] = m.input
            stored[weight.name] = "int8"
            quantized[weight.name] = "PyTorch quantized export, int8 \(m.perChannel ? "per-channel" : "per-tensor")"
        }
        let used = Set(modules.map(\.name))
        let unused = byName.keys.filter { key in
            !used.contains { key.hasPrefix($0 + ".") } && !key.hasSuffix("num_batches_tracked") && !key.contains("_input_scale_") && !key.contains("_input_zero_point_")
        }.sorted()
        let warnings = unused.isEmpty ? [] : ["\(unused.count) tensors in the file are not used by the model: \(unused.prefix(5).map(ZipFileIO.display).joined(separator: ", "))\(unused.count > 5 ? ", …" : "")"]
        var c = Checkpoint(path: path, model: model, format: .pytorchQuantizedNPZ, architectureSource: source, storedTypes: stored, warnings: warnings)
        c.quantization = QuantizationRecord(scheme: .int8, weightScales: weightScales, activations: activations, calibrationImages: nil, roundingErrors: [:])
        c.weightQuantization = quantized
        return c
    }

    /// One quantized module's tensors, checked.
    static func module(_ p: String, _ byName: [String: NPYArray], path: String) throws -> Module {
        func bad(_ problem: String) -> BlindspotError { .badInput(file: path, problem: problem) }
        let name = ZipFileIO.display(p)
        let weight = byName["\(p).weight"]!
        guard weight.shape.count == 2 || weight.shape.count == 4, let out = weight.shape.first, out > 0, weight.count > 0 else {
            throw bad("int8 weight '\(name).weight' has shape \(weight.shape), not a conv [OUT, IN, KH, KW] or linear [OUT, IN] weight")
        }
        let perChannel: Bool
        let scaleArray: NPYArray, zeroArray: NPYArray?
        switch (byName["\(p).weight.scales"], byName["\(p).weight.scale"]) {
        case (let s?, nil): (perChannel, scaleArray, zeroArray) = (true, s, byName["\(p).weight.zero_points"])
        case (nil, let s?): (perChannel, scaleArray, zeroArray) = (false, s, byName["\(p).weight.zero_point"])
        case (_?, _?): throw bad("'\(name).weight' has both per-channel scales and a per-tensor scale")
        case (nil, nil): throw bad("int8 weight '\(name).weight' has no scales ('\(name).weight.scales' per channel or '\(name).weight.scale' per tensor; see README, PyTorch quantized exports)")
        }
        let want = perChannel ? out : 1
        guard scaleArray.dtype.isFloatingPoint, scaleArray.count == want, scaleArray.shape.count <= 1 else {
            throw bad("weight scales of '\(name)' are \(scaleArray.dtype.numpyName) \(scaleArray.shape), expected \(want) float value\(want == 1 ? "" : "s") (one per output channel)")
        }
        let scales = scaleArray.floats()
        guard scales.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw bad("weight scales of '\(name)' are not all finite and > 0") }
        if let z = zeroArray {
            guard z.count == want, let zs = try? z.int64s(file: path) else {
                throw bad("weight zero points of '\(name)' are \(z.dtype.numpyName) \(z.shape), expected \(want) integer\(want == 1 ? "" : "s")")
            }
            guard zs.allSatisfy({ $0 == 0 }) else {
                throw bad("weight zero points of '\(name)' are not 0: blindspot reads symmetric int8 weights only (torch's default per_channel_symmetric/per_tensor_symmetric qint8 observers)")
            }
        }
        var bias: NPYArray? = nil
        if let b = byName["\(p).bias"] {
            guard b.dtype.isFloatingPoint, b.count == out, b.shape.count == 1 else { throw bad("bias of '\(name)' is \(b.dtype.numpyName) \(b.shape), expected float [\(out)]") }
            bias = b
        }
        guard let s = byName["\(p).input_scale"], let z = byName["\(p).input_zero_point"] else {
            throw bad("quantized module '\(name)' lacks '\(name).input_scale'/'\(name).input_zero_point', the quantization of its input (record them with a forward pre-hook; see README, PyTorch quantized exports)")
        }
        guard s.dtype.isFloatingPoint, s.count == 1, let scale = s.floats().first, scale.isFinite, scale > 0 else {
            throw bad("'\(name).input_scale' must be one finite float > 0")
        }
        guard z.count == 1, let zp = try? z.int64s(file: path).first, (0...255).contains(zp) else {
            throw bad("'\(name).input_zero_point' must be one integer in 0…255 (quint8 activations; qint8 activations are not supported)")
        }
        return Module(name: p, weight: weight, scales: perChannel ? scales : Array(repeating: scales[0], count: out), perChannel: perChannel, bias: bias,
                      input: QuantMath.Affine(scale: scale, zeroPoint: Int32(zp), qmin: 0, qmax: 255))
    }
}

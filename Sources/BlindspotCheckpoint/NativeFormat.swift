import BlindspotCore
import BlindspotEngine
import BlindspotQuantization
import Foundation

/// blindspot's own checkpoints, HDF5 or NPZ. Both hold one JSON header (model spec,
/// preprocessing, classes, metadata, ground truth, and for a deployed checkpoint its
/// `QuantizationRecord`) and every parameter and buffer under its PyTorch-style name, as float32,
/// so they read back bit-exactly.
///
/// - HDF5: root attribute `blindspot` (the header), datasets `/tensors/<name>`.
/// - NPZ: member `__blindspot__.npy` (the header as uint8 UTF-8 bytes) and one member per tensor,
///   named as in a state_dict — so `torch.load_state_dict` users can read the weights directly.
///
/// **Deployed checkpoints** (`blindspot quantize`, schemes `int8`, `int8-dynamic`, `int4`,
/// `paper-int8`) store each quantized conv/linear weight as its integers: `<layer>.weight` is an
/// int8 tensor of the weight's shape (int4 codes −8…7 are stored one per int8 byte, unpacked), and
/// `<layer>.weight_scale` a float32 tensor [OUT] of its per-output-channel scales (per-tensor
/// `paper-int8` repeats its one scale), so the real weight is `Float(q)·scale[o]`. The header's
/// `integerWeights` maps each such weight tensor to its scale tensor, and those layers' scales are
/// left out of the header's `quantization.weightScales` (the scale tensor is the one source).
/// Such files are header version 2 (a version-1 reader would take the integers for the weights);
/// files without integer tensors stay version 1. `paper-int4` weights (a per-tensor min–max grid,
/// not integers × scale) and everything else stay float32. Readers accept version 1 deployed files
/// that hold the dequantized float32 weights with their scales in the header.
public enum NativeFormat {
    public static let headerFormat = "blindspot-checkpoint"
    /// The newest header version this blindspot reads (and writes for files with integer weights).
    public static let headerVersion = 2
    /// The version written for files without integer tensors, so older readers still read them.
    static let floatOnlyHeaderVersion = 1
    static let npzHeaderMember = "__blindspot__"
    static let h5HeaderAttribute = "blindspot"

    struct Header: Codable {
        var format: String
        var version: Int
        var model: ModelSpec
        var preprocessing: Preprocessing?
        var classNames: [String]?
        var outputActivation: String?
        var metadata: [String: String]
        var groundTruth: GroundTruth?
        var quantization: QuantizationRecord?
        /// Weight tensors stored as int8 → the name of their float32 per-output-channel scale tensor.
        var integerWeights: [String: String]?
    }

    /// A tensor as the file holds it: shape, values converted to Float, and numpy's dtype name.
    struct StoredTensor {
        var shape: [Int]
        var values: [Float]
        var dtype: String
    }

    /// The suffix of a weight's scale tensor: `conv1.weight` → `conv1.weight_scale`.
    public static let scaleSuffix = "_scale"

    /// The integers of each quantized weight of a deployed checkpoint that can be stored exactly as
    /// int8 × per-channel scale, by weight tensor name. A weight that is not exactly Float(q)·scale
    /// (never the case for `blindspot quantize` output) is left out and stays float32.
    static func integerWeights(_ c: Checkpoint) -> [String: (q: [Int8], scales: [Float])] {
        guard let r = c.quantization, r.scheme.storesIntegerWeights else { return [:] }
        let bound = r.scheme.weightBits == 4 ? 8 : 128
        var out: [String: (q: [Int8], scales: [Float])] = [:]
        for (node, scales) in r.weightScales {
            guard let layer = c.model.node(named: node)?.layer,
                  let weight = (layer as? Conv2d)?.weight ?? (layer as? Linear)?.weight else { continue }
            let w = weight.value.toArray(), n = weight.value.shape[0]
            guard n > 0, scales.count == n, w.count % n == 0, scales.allSatisfy({ $0.isFinite && $0 > 0 }) else { continue }
            let per = w.count / n
            var q = [Int8](repeating: 0, count: w.count)
            var exact = true
            for i in 0..<w.count {
                let s = scales[i / per], v = QuantMath.roundEven(w[i] / s)
                guard v >= Float(-bound), v < Float(bound), Float(v) * s == w[i] else { exact = false; break }
                q[i] = Int8(v)
            }
            if exact { out[weight.name] = (q, scales) }
        }
        return out
    }

    static func header(_ c: Checkpoint, integerWeights: [String: (q: [Int8], scales: [Float])]) throws -> Data {
        var record = c.quantization
        for name in integerWeights.keys { record?.weightScales[String(name.dropLast(".weight".count))] = nil }
        let h = Header(format: headerFormat, version: integerWeights.isEmpty ? floatOnlyHeaderVersion : headerVersion, model: try ModelSpec(c.model),
                       preprocessing: c.preprocessing, classNames: c.classNames, outputActivation: c.outputActivation, metadata: c.metadata,
                       groundTruth: c.groundTruth, quantization: record,
                       integerWeights: integerWeights.isEmpty ? nil : Dictionary(uniqueKeysWithValues: integerWeights.keys.map { ($0, $0 + scaleSuffix) }))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try enc.encode(h)
    }

    static func parseHeader(_ data: Data, file: String) throws -> Header {
        try InputLimits.checkJSON(data, file: file, what: "blindspot header")
        let h: Header
        do {
            h = try JSONDecoder().decode(Header.self, from: data)
        } catch {
            throw BlindspotError.badInput(file: file, problem: "blindspot header is not valid (\(shortDecodingError(error)))")
        }
        guard h.format == headerFormat else { throw BlindspotError.badInput(file: file, problem: "header format '\(h.format)' is not '\(headerFormat)'") }
        guard h.version <= headerVersion else {
            throw BlindspotError.badInput(file: file, problem: "checkpoint version \(h.version) is newer than this blindspot reads (\(headerVersion)); upgrade blindspot")
        }
        return h
    }

    static func checkpoint(from h: Header, path: String, format: CheckpointFormat, tensor: (String) throws -> StoredTensor?) throws -> Checkpoint {
        let model = try h.model.build(file: path)
        var record = h.quantization
        let integers = h.integerWeights ?? [:]
        if !integers.isEmpty {
            guard let r = record, r.scheme.storesIntegerWeights else {
                throw BlindspotError.badInput(file: path, problem: "header lists int8 weights but the file is not deployed at an integer-weight scheme (int8, int8-dynamic, int4, paper-int8)")
            }
            for name in integers.keys.sorted() {
                let node = name.hasSuffix(".weight") ? String(name.dropLast(".weight".count)) : ""
                guard let layer = model.node(named: node)?.layer, layer is Conv2d || layer is Linear else {
                    throw BlindspotError.badInput(file: path, problem: "header lists '\(ZipFileIO.display(name))' as an int8 weight, but it is not the weight of a conv/linear layer of the model")
                }
                guard r.weightScales[node] == nil else {
                    throw BlindspotError.badInput(file: path, problem: "the scales of '\(node)' are given twice (header and scale tensor)")
                }
            }
        }
        var stored: [String: String] = [:], quantized: [String: String] = [:]
        for (name, t) in model.stateDict {
            guard let s = try tensor(name) else {
                throw BlindspotError.badInput(file: path, problem: "tensor '\(name)' named by the model spec is missing")
            }
            stored[name] = s.dtype
            if let scaleName = integers[name] {
                let (values, scales) = try dequantized(s, name: name, scaleName: scaleName, scale: try tensor(scaleName),
                                                       bits: record!.scheme.weightBits, file: path)
                try assign(values, shape: s.shape, to: t, name: name, file: path)
                record!.weightScales[String(name.dropLast(".weight".count))] = scales
                quantized[name] = "int8, per-channel scales"
            } else {
                guard s.dtype.hasPrefix("float") else {
                    throw BlindspotError.badInput(file: path, problem: "tensor '\(name)' is stored as \(s.dtype) but the header gives no scales for it (a blindspot checkpoint stores float32, or int8 weights listed in the header's integerWeights)")
                }
                try assign(s.values, shape: s.shape, to: t, name: name, file: path)
            }
        }
        try h.preprocessing?.validate(channels: model.inputShape[0], file: path)
        let classes = model.outputShape.reduce(1, *)
        if let names = h.classNames, names.count != classes {
            throw BlindspotError.badInput(file: path, problem: "header lists \(names.count) class names for a model with \(classes) outputs")
        }
        var c = Checkpoint(path: path, model: model, format: format, architectureSource: "model spec in the file", preprocessing: h.preprocessing,
                           classNames: h.classNames, outputActivation: h.outputActivation, metadata: h.metadata, groundTruth: h.groundTruth,
                           storedTypes: stored)
        c.quantization = record
        c.weightQuantization = quantized
        return c
    }

    /// w = Float(q)·scale[o] for an int8 weight tensor and its per-output-channel scale tensor,
    /// after checking both: int8 dtype, codes within the scheme's range (int4: −8…7), one finite
    /// positive float scale per output channel.
    static func dequantized(_ q: StoredTensor, name: String, scaleName: String, scale: StoredTensor?, bits: Int,
                            file: String) throws -> (values: [Float], scales: [Float]) {
        func bad(_ problem: String) -> BlindspotError { .badInput(file: file, problem: problem) }
        guard q.dtype == "int8" else { throw bad("weight '\(name)' is listed as int8 in the header but stored as \(q.dtype)") }
        guard let scale else { throw bad("the int8 weight '\(name)' has no scale tensor '\(ZipFileIO.display(scaleName))'") }
        guard scale.dtype.hasPrefix("float") else { throw bad("scale tensor '\(ZipFileIO.display(scaleName))' is \(scale.dtype), not float") }
        let out = q.shape.first ?? 0
        guard q.shape.count >= 2, out > 0 else { throw bad("int8 weight '\(name)' has shape \(q.shape), not [OUT, …]") }
        guard scale.values.count == out, scale.shape.count == 1 else {
            throw bad("scale tensor '\(ZipFileIO.display(scaleName))' has shape \(scale.shape), the int8 weight '\(name)' has \(out) output channels (needs [\(out)])")
        }
        guard scale.values.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw bad("scale tensor '\(ZipFileIO.display(scaleName))' holds a scale that is not finite and > 0")
        }
        let lo: Float = bits == 4 ? -8 : -128, hi: Float = bits == 4 ? 7 : 127
        if let v = q.values.first(where: { $0 < lo || $0 > hi }) {
            throw bad("int8 weight '\(name)' holds \(Int(v)), outside \(Int(lo))…\(Int(hi)) for \(bits)-bit weights")
        }
        let per = q.values.count / out
        var w = [Float](repeating: 0, count: q.values.count)
        for i in 0..<w.count { w[i] = q.values[i] * scale.values[i / per] }
        return (w, scale.values)
    }

    // MARK: HDF5

    public static func writeH5(_ c: Checkpoint, to path: String) throws {
        let integers = integerWeights(c)
        let header = try header(c, integerWeights: integers)
        try AtomicFile.write(to: path) { tmp in
            let f = try HDF5File.create(path: tmp)
            try f.writeString(String(decoding: header, as: UTF8.self), attribute: h5HeaderAttribute)
            try f.createGroups("/tensors")
            for (name, t) in c.model.stateDict {
                if let (q, scales) = integers[name] {
                    try f.write(q, shape: t.shape, to: "/tensors/\(name)")
                    try f.write(scales, shape: [scales.count], to: "/tensors/\(name)\(scaleSuffix)")
                } else {
                    try f.write(t.toArray(), shape: t.shape, to: "/tensors/\(name)")
                }
            }
            try f.flush()
        }
    }

    static func isNativeH5(_ f: HDF5File) -> Bool {
        (try? f.stringAttribute(h5HeaderAttribute)) != nil
    }

    static func readH5(_ f: HDF5File) throws -> Checkpoint {
        guard let text = try f.stringAttribute(h5HeaderAttribute)?.first else {
            throw BlindspotError.badInput(file: f.path, problem: "no blindspot header")
        }
        let h = try parseHeader(Data(text.utf8), file: f.path)
        return try checkpoint(from: h, path: f.path, format: .nativeH5) { name in
            let p = "/tensors/\(name)"
            guard f.exists(p) else { return nil }
            let (shape, values) = try f.readFloats(p)
            return StoredTensor(shape: shape, values: values, dtype: try f.elementTypeName(p))
        }
    }

    // MARK: NPZ

    public static func writeNPZ(_ c: Checkpoint, to path: String) throws {
        let integers = integerWeights(c)
        let header = try header(c, integerWeights: integers)
        var members: [(name: String, array: NPYArray)] = [(npzHeaderMember, NPYArray(uint8: Array(header), shape: [header.count]))]
        for (name, t) in c.model.stateDict {
            if let (q, scales) = integers[name] {
                members.append((name, NPYArray(int8: q, shape: t.shape)))
                members.append((name + scaleSuffix, NPYArray(float32: scales, shape: [scales.count])))
            } else {
                members.append((name, NPYArray(float32: t.toArray(), shape: t.shape)))
            }
        }
        try NPZ.write(members, to: path)
    }

    static func readNPZ(_ members: [(name: String, array: NPYArray)], path: String) throws -> Checkpoint? {
        guard let head = members.first(where: { $0.name == npzHeaderMember }) else { return nil }
        guard let bytes = head.array.uint8s() else {
            throw BlindspotError.badInput(file: path, problem: "member \(npzHeaderMember) is not a uint8 array")
        }
        let h = try parseHeader(Data(bytes), file: path)
        let byName = Dictionary(members.map { ($0.name, $0.array) }, uniquingKeysWith: { a, _ in a })
        return try checkpoint(from: h, path: path, format: .nativeNPZ) { name in
            byName[name].map { StoredTensor(shape: $0.shape, values: $0.floats(), dtype: $0.dtype.numpyName) }
        }
    }
}

/// One short line from a DecodingError.
func shortDecodingError(_ error: Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    func path(_ c: DecodingError.Context) -> String { c.codingPath.map(\.stringValue).joined(separator: ".") }
    switch e {
    case .keyNotFound(let k, let c): return "missing key '\(k.stringValue)' at '\(path(c))'"
    case .typeMismatch(_, let c), .valueNotFound(_, let c): return "wrong type at '\(path(c))'"
    case .dataCorrupted(let c): return c.codingPath.isEmpty ? "not JSON" : "bad value at '\(path(c))'"
    @unknown default: return "\(e)"
    }
}

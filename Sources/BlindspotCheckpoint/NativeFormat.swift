import BlindspotCore
import BlindspotEngine
import BlindspotQuantization
import Foundation

/// blindspot's own checkpoints, HDF5 or NPZ. Both hold one JSON header (model spec,
/// preprocessing, classes, metadata, ground truth) and every parameter and buffer under its
/// PyTorch-style name, as float32, so they read back bit-exactly.
///
/// - HDF5: root attribute `blindspot` (the header), datasets `/tensors/<name>`.
/// - NPZ: member `__blindspot__.npy` (the header as uint8 UTF-8 bytes) and one member per tensor,
///   named as in a state_dict — so `torch.load_state_dict` users can read the weights directly.
public enum NativeFormat {
    public static let headerFormat = "blindspot-checkpoint"
    public static let headerVersion = 1
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
    }

    static func header(_ c: Checkpoint) throws -> Data {
        let h = Header(format: headerFormat, version: headerVersion, model: try ModelSpec(c.model), preprocessing: c.preprocessing,
                       classNames: c.classNames, outputActivation: c.outputActivation, metadata: c.metadata, groundTruth: c.groundTruth,
                       quantization: c.quantization)
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

    static func checkpoint(from h: Header, path: String, format: CheckpointFormat, tensor: (String) throws -> (shape: [Int], values: [Float])?) throws -> Checkpoint {
        let model = try h.model.build(file: path)
        for (name, t) in model.stateDict {
            guard let (shape, values) = try tensor(name) else {
                throw BlindspotError.badInput(file: path, problem: "tensor '\(name)' named by the model spec is missing")
            }
            try assign(values, shape: shape, to: t, name: name, file: path)
        }
        try h.preprocessing?.validate(channels: model.inputShape[0], file: path)
        let classes = model.outputShape.reduce(1, *)
        if let names = h.classNames, names.count != classes {
            throw BlindspotError.badInput(file: path, problem: "header lists \(names.count) class names for a model with \(classes) outputs")
        }
        var c = Checkpoint(path: path, model: model, format: format, architectureSource: "model spec in the file", preprocessing: h.preprocessing,
                           classNames: h.classNames, outputActivation: h.outputActivation, metadata: h.metadata, groundTruth: h.groundTruth,
                           storedTypes: Dictionary(uniqueKeysWithValues: model.stateDict.map { ($0.name, "float32") }))
        c.quantization = h.quantization
        return c
    }

    // MARK: HDF5

    public static func writeH5(_ c: Checkpoint, to path: String) throws {
        let header = try header(c)
        try AtomicFile.write(to: path) { tmp in
            let f = try HDF5File.create(path: tmp)
            try f.writeString(String(decoding: header, as: UTF8.self), attribute: h5HeaderAttribute)
            try f.createGroups("/tensors")
            for (name, t) in c.model.stateDict {
                try f.write(t.toArray(), shape: t.shape, to: "/tensors/\(name)")
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
            return f.exists(p) ? try f.readFloats(p) : nil
        }
    }

    // MARK: NPZ

    public static func writeNPZ(_ c: Checkpoint, to path: String) throws {
        let header = try header(c)
        var members: [(name: String, array: NPYArray)] = [(npzHeaderMember, NPYArray(uint8: Array(header), shape: [header.count]))]
        for (name, t) in c.model.stateDict { members.append((name, NPYArray(float32: t.toArray(), shape: t.shape))) }
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
            byName[name].map { ($0.shape, $0.floats()) }
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

import BlindspotCore
import BlindspotEngine
import Foundation

/// How the architecture of a names-only file (a state_dict) is decided.
public enum ArchitectureChoice: Sendable, Equatable {
    /// Recognise the family from names and shapes.
    case recognise
    /// A built-in architecture (`--arch cnn6`).
    case builtin(Architecture)
    /// A model spec JSON file (`--arch spec.json`).
    case specFile(String)

    /// Parses a `--arch` value: a built-in name or a path to a spec JSON.
    public static func parse(_ s: String?) throws -> ArchitectureChoice {
        guard let s else { return .recognise }
        if let a = Architecture(rawValue: s) { return .builtin(a) }
        if s.hasSuffix(".json") { return .specFile(s) }
        throw BlindspotError.usage("--arch '\(s)' is neither a built-in architecture (\(Architecture.allCases.map(\.rawValue).joined(separator: ", "))) nor a spec .json file")
    }
}

/// Opens any checkpoint format blindspot reads, detected from its content (not its extension).
public enum CheckpointLoader {
    /// Loads `path`. `inputShape` ([C, H, W]) is used where the file cannot say (state_dicts of
    /// networks with global pooling); data sets supply it.
    public static func load(_ path: String, architecture: ArchitectureChoice = .recognise, inputShape: [Int]? = nil) throws -> Checkpoint {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw BlindspotError.missingInput(file: path, problem: "no such file")
        }
        guard !isDir.boolValue else { throw BlindspotError.missingInput(file: path, problem: "is a directory, expected a checkpoint file") }
        // Not a FileHandle: opening a FIFO with it would wait for a writer forever.
        let head = try BoundedFile.readPrefix(path, count: 8, expected: "a checkpoint file")
        guard head.count >= 4 else { throw BlindspotError.badInput(file: path, problem: "file is empty or truncated (\(head.count) bytes)") }

        if HDF5File.hasSignature(head) {
            if let helper = IsolatedLoad.helper { return try IsolatedLoad.load(path, helper: helper) }
            let f = try HDF5File.open(path: path)
            if NativeFormat.isNativeH5(f) { return try NativeFormat.readH5(f) }
            return try KerasFile.readLegacy(f)
        }
        if head[0] == 0x50, head[1] == 0x4B {  // "PK": a zip (NPZ, .keras, or a pickled torch.save)
            if NPZ.isPickledPyTorch(path: path) { throw pickled(path) }
            let zip = try ZipArchive(path: path)
            switch (zip.contains("config.json"), zip.contains("model.weights.h5")) {
            case (true, true):
                if let helper = IsolatedLoad.helper { return try IsolatedLoad.load(path, helper: helper) }
                return try KerasFile.readArchive(zip, path: path)
            case (true, false): throw BlindspotError.badInput(file: path, problem: "Keras archive has config.json but no model.weights.h5 (re-save the whole model with model.save('m.keras'))")
            case (false, true): throw BlindspotError.badInput(file: path, problem: "Keras archive has model.weights.h5 but no config.json, so the architecture is unknown (re-save the whole model with model.save('m.keras'))")
            case (false, false): break
            }
            let members = try NPZ.read(path: path)
            if let native = try NativeFormat.readNPZ(members, path: path) { return native }
            if PyTorchQuantized.isExport(members) {
                return try PyTorchQuantized.checkpoint(members, path: path, architecture: architecture, inputShape: inputShape)
            }
            return try stateDict(members, path: path, architecture: architecture, inputShape: inputShape)
        }
        if head[0] == 0x80 { throw pickled(path) }
        if head[0] == 0x93, head[1] == 0x4E { throw BlindspotError.badInput(file: path, problem: "a single .npy array, not a checkpoint (save the state_dict with np.savez)") }
        throw BlindspotError.badInput(file: path, problem: "unknown checkpoint format (expected Keras .h5/.keras, NPZ, or a blindspot checkpoint)")
    }

    /// A model spec JSON (`--arch spec.json`), checked against the JSON limits before parsing.
    static func modelSpec(_ data: Data, file: String) throws -> ModelSpec {
        try InputLimits.checkJSON(data, file: file, what: "model spec")
        do { return try JSONDecoder().decode(ModelSpec.self, from: data) } catch {
            throw BlindspotError.badInput(file: file, problem: "not a model spec (\(shortDecodingError(error)))")
        }
    }

    static func pickled(_ path: String) -> BlindspotError {
        .badInput(file: path, problem: "this is a pickled PyTorch file; blindspot never unpickles untrusted files. Export it: np.savez('model.npz', **{k: v.numpy() for k, v in torch.load(p).items()})")
    }

    static func stateDict(_ members: [(name: String, array: NPYArray)], path: String, architecture: ArchitectureChoice, inputShape: [Int]?) throws -> Checkpoint {
        try checkDimensions(members, path: path)
        let byName = Dictionary(members.map { ($0.name, $0.array) }, uniquingKeysWith: { a, _ in a })
        let (model, names, source) = try resolveArchitecture(byName, path: path, architecture: architecture, inputShape: inputShape)
        var stored: [String: String] = [:]
        var used = Set<String>()
        for (name, t) in model.stateDict {
            guard let fileName = names[name], let a = byName[fileName] else {
                throw BlindspotError.badInput(file: path, problem: "tensor for '\(name)' is missing from the state_dict")
            }
            try assign(a.floats(), shape: a.shape, to: t, name: fileName, file: path)
            stored[name] = a.dtype.numpyName
            used.insert(fileName)
        }
        let unused = byName.keys.filter { !used.contains($0) && !$0.hasSuffix("num_batches_tracked") }.sorted()
        let warnings = unused.isEmpty ? [] : ["\(unused.count) tensors in the file are not used by the model: \(unused.prefix(5).joined(separator: ", "))\(unused.count > 5 ? ", …" : "")"]
        return Checkpoint(path: path, model: model, format: .stateDictNPZ, architectureSource: source, storedTypes: stored, warnings: warnings)
    }

    /// Refuses an empty NPZ and absurd dimensions. Shapes feed the architecture arithmetic; an
    /// empty tensor (0 bytes) may declare any other dimension, e.g. (2⁶¹, 3, 0), so the dimensions
    /// are bounded before any of it.
    static func checkDimensions(_ members: [(name: String, array: NPYArray)], path: String) throws {
        guard !members.isEmpty else { throw BlindspotError.badInput(file: path, problem: "NPZ holds no arrays") }
        for (name, a) in members where a.shape.contains(where: { $0 > maxStateDictDimension }) {
            throw BlindspotError.badInput(file: path, problem: "tensor '\(ZipFileIO.display(name))' has shape \(a.shape): a dimension above \(maxStateDictDimension) (corrupt or hostile file)")
        }
    }

    /// The model a names-only file describes and our tensor name → file tensor name, decided as
    /// `architecture` says. `prepare` turns a built-in or spec model into the graph the file holds
    /// (BatchNorm folded, for a quantized export) before tensors are matched to it.
    static func resolveArchitecture(_ byName: [String: NPYArray], path: String, architecture: ArchitectureChoice, inputShape: [Int]?,
                                    prepare: (Model) throws -> Model = { $0 }) throws -> (model: Model, names: [String: String], source: String) {
        switch architecture {
        case .recognise:
            let r = try StateDictModel.recognise(byName.mapValues(\.shape), file: path, inputShape: inputShape)
            return (try prepare(try r.spec.build(file: path)), r.names, "recognised family: \(r.family)")
        case .builtin(let a):
            let classes = try classCount(byName, path: path)
            let model = try prepare(try a.build(classes: classes, seed: 0, inputShape: inputShape ?? [3, 32, 32]))
            return (model, try positionalNames(model, byName, path: path), "--arch \(a.rawValue)")
        case .specFile(let spec):
            let data = Data(try BoundedFile.read(spec, maxBytes: InputLimits.maxJSONBytes, expected: "a model spec .json file"))
            let model = try prepare(try modelSpec(data, file: spec).build(file: spec))
            return (model, try positionalNames(model, byName, path: path), "--arch \(spec)")
        }
    }

    /// Largest dimension of a state_dict tensor: 2²⁴, the most input features a model spec's
    /// linear layer may have (`ModelSpec.layer`); no layer of a supported family needs more.
    static let maxStateDictDimension = 1 << 24

    /// Classes = rows of the last 2-D tensor named like a classifier.
    static func classCount(_ byName: [String: NPYArray], path: String) throws -> Int {
        let known = ["linear.weight", "fc.weight", "module.linear.weight", "fc2.weight"].first { byName[$0]?.shape.count == 2 }
        guard let name = known ?? byName.filter({ $0.value.shape.count == 2 }).keys.sorted().last, let rows = byName[name]?.shape.first else {
            throw BlindspotError.badInput(file: path, problem: "no classifier layer found in the state_dict")
        }
        // As many classes as a model spec's linear layer may output (ModelSpec.layer).
        guard (1...(1 << 20)).contains(rows) else {
            throw BlindspotError.badInput(file: path, problem: "classifier '\(ZipFileIO.display(name))' has \(rows) rows, not a number of classes (1…\(1 << 20))")
        }
        return rows
    }

    /// Our names → file names: identical names when every one is present, else the file's
    /// tensors matched in order (per kind: conv/linear weights, biases, BN tensors) by shape.
    static func positionalNames(_ model: Model, _ byName: [String: NPYArray], path: String) throws -> [String: String] {
        let ours = model.stateDict
        if ours.allSatisfy({ byName[$0.name] != nil }) {
            return Dictionary(uniqueKeysWithValues: ours.map { ($0.name, $0.name) })
        }
        let fileKeys = byName.keys.filter { !$0.hasSuffix("num_batches_tracked") }.sorted(by: naturalOrder)
        guard fileKeys.count == ours.count else {
            throw BlindspotError.badInput(file: path, problem: "the state_dict has \(fileKeys.count) tensors, the chosen architecture needs \(ours.count)")
        }
        let ourKeys = ours.map(\.name)
        var out: [String: String] = [:]
        for (o, f) in zip(ourKeys, fileKeys) {
            let ot = ours.first { $0.name == o }!.tensor
            guard byName[f]!.shape == ot.shape || byName[f]!.shape.reduce(1, *) == ot.count && ot.shape.count == 1 else {
                throw BlindspotError.badInput(file: path, problem: "state_dict tensor '\(f)' \(byName[f]!.shape) does not match '\(o)' \(ot.shape) of the chosen architecture")
            }
            out[o] = f
        }
        return out
    }

    /// state_dict order: "features.10.weight" after "features.2.weight" (numbers compared as
    /// numbers), within a module weight, bias, running_mean, running_var as PyTorch lists them, and
    /// `features.*` before `classifier.*`.
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        let rank = ["weight": 0, "bias": 1, "running_mean": 2, "running_var": 3]
        // torchvision-style models run `features` before `classifier`.
        let stage = ["features": 0, "classifier": 1]
        let pa = a.split(separator: "."), pb = b.split(separator: ".")
        for (x, y) in zip(pa, pb) where x != y {
            if let i = Int(x), let j = Int(y) { return i < j }
            if let i = rank[String(x)], let j = rank[String(y)] { return i < j }
            if let i = stage[String(x)], let j = stage[String(y)] { return i < j }
            return x < y
        }
        return pa.count < pb.count
    }

    /// Writes a native checkpoint; the extension chooses HDF5 (`.h5`) or NPZ (`.npz`).
    public static func save(_ c: Checkpoint, to path: String) throws {
        if path.hasSuffix(".npz") { try NativeFormat.writeNPZ(c, to: path) }
        else if path.hasSuffix(".h5") || path.hasSuffix(".hdf5") { try NativeFormat.writeH5(c, to: path) }
        else { throw BlindspotError.usage("output \(path): use a .h5 or .npz extension") }
    }
}

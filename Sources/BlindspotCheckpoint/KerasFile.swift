import BlindspotCore
import BlindspotEngine
import Foundation

/// Keras checkpoints: the legacy HDF5 file (`model.save("m.h5")`, Keras 2 and 3) and the Keras 3
/// `.keras` zip (config.json + model.weights.h5, the latter opened from memory).
enum KerasFile {
    /// Legacy HDF5: `model_config` attribute; weights in `model_weights/<layer>/<weight_name>`
    /// in the order of the layer group's `weight_names` attribute.
    static func readLegacy(_ f: HDF5File) throws -> Checkpoint {
        guard let configText = try f.stringAttribute("model_config")?.first else {
            throw BlindspotError.badInput(file: f.path, problem: "HDF5 file has no Keras model_config (a weights-only file? save the whole model, or use a blindspot/NPZ checkpoint)")
        }
        let builder = try KerasModelBuilder(file: f.path, json: Data(configText.utf8))
        var result = try builder.build()
        let root = f.exists("/model_weights") ? "/model_weights" : "/"
        var types: [String: String] = [:]
        func weights(_ layer: String) throws -> [(shape: [Int], values: [Float])] {
            let group = "\(root == "/" ? "" : root)/\(layer)"
            guard f.exists(group) else { throw BlindspotError.badInput(file: f.path, problem: "no weights for layer '\(layer)' (missing group \(group))") }
            let names = try f.stringAttribute("weight_names", of: group) ?? []
            if let first = names.first { types[layer] = try f.elementTypeName("\(group)/\(first)") }
            return try names.map { try f.readFloats("\(group)/\($0)") }
        }
        for slot in result.weightSlots { try slot.load(weights(slot.kerasLayer)) }
        if let norm = result.normalizationLayer { try foldNormalization(&result, builder: builder, weights: weights(norm), file: f.path) }
        var meta: [String: String] = [:]
        if let v = try? f.stringAttribute("keras_version")?.first { meta["keras_version"] = v }
        if let b = try? f.stringAttribute("backend")?.first { meta["keras_backend"] = b }
        return Checkpoint(path: f.path, model: result.model, format: .kerasH5, architectureSource: "Keras model_config",
                          preprocessing: result.preprocessing, outputActivation: result.outputActivation, metadata: meta,
                          storedTypes: storedTypes(result.model, types))
    }

    /// Keras 3 archive: `config.json` and `model.weights.h5`. Keras 3 saves each layer's variables
    /// under `layers/<snake_case(class)>[_k]/vars/<i>`, numbering layers of one class in model order
    /// (`conv2d`, `conv2d_1`, …) regardless of the layer names; i in numeric order.
    static func readArchive(_ zip: ZipArchive, path: String) throws -> Checkpoint {
        // Refused from the directory's declared size, before a byte is inflated.
        if let size = zip.uncompressedSize(of: "config.json"), size > InputLimits.maxJSONBytes {
            throw BlindspotError.badInput(file: "\(path):config.json", problem: "is \(InputLimits.describe(bytes: size)) of JSON, more than the \(InputLimits.describe(bytes: InputLimits.maxJSONBytes)) allowed (corrupt or hostile file)")
        }
        let config = try zip.read("config.json")
        let weightsImage = try zip.read("model.weights.h5")
        let f = try HDF5File.open(image: weightsImage, name: "\(path):model.weights.h5")
        let builder = try KerasModelBuilder(file: path, json: Data(config))
        var result = try builder.build()
        var groupOf: [String: String] = [:]
        var used: [String: Int] = [:]
        for l in try builder.layers().layers {
            let base = snakeCase(l.className)
            let k = used[base, default: 0]
            used[base] = k + 1
            groupOf[l.name] = "/layers/\(k == 0 ? base : "\(base)_\(k)")/vars"
        }
        var types: [String: String] = [:]
        func weights(_ layer: String) throws -> [(shape: [Int], values: [Float])] {
            guard let g = groupOf[layer], f.exists(g) else {
                throw BlindspotError.badInput(file: path, problem: "no weights for layer '\(layer)' in model.weights.h5 (expected \(groupOf[layer] ?? "?"))")
            }
            let names = try f.children(of: g).filter { Int($0) != nil }.sorted { Int($0)! < Int($1)! }
            if let first = names.first { types[layer] = try f.elementTypeName("\(g)/\(first)") }
            return try names.map { try f.readFloats("\(g)/\($0)") }
        }
        for slot in result.weightSlots { try slot.load(weights(slot.kerasLayer)) }
        if let norm = result.normalizationLayer { try foldNormalization(&result, builder: builder, weights: weights(norm), file: path) }
        var meta: [String: String] = [:]
        if (zip.uncompressedSize(of: "metadata.json") ?? 0) <= InputLimits.maxJSONBytes, let m = try? zip.read("metadata.json"),
           (try? InputLimits.checkJSON(m, file: path, what: "metadata.json")) != nil, let obj = try? JSONSerialization.jsonObject(with: Data(m)) as? [String: Any] {
            if let v = obj["keras_version"] as? String { meta["keras_version"] = v }
        }
        return Checkpoint(path: path, model: result.model, format: .keras3, architectureSource: "Keras config.json",
                          preprocessing: result.preprocessing, outputActivation: result.outputActivation, metadata: meta,
                          storedTypes: storedTypes(result.model, types))
    }

    /// Keras' `naming.to_snake_case`: "BatchNormalization" → "batch_normalization", "ReLU" → "re_lu".
    static func snakeCase(_ name: String) -> String {
        var s = name.filter { $0.isLetter || $0.isNumber || $0 == "_" }
        for (pattern, template) in [("(.)([A-Z][a-z]+)", "$1_$2"), ("([a-z])([A-Z])", "$1_$2")] {
            let re = try! NSRegularExpression(pattern: pattern)
            s = re.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: template)
        }
        return s.lowercased()
    }

    /// Folds an adapted Normalization layer (weights: mean, variance, count) into the preprocessing.
    static func foldNormalization(_ r: inout KerasModelBuilder.Result, builder: KerasModelBuilder, weights w: [(shape: [Int], values: [Float])], file: String) throws {
        guard w.count >= 2 else { throw BlindspotError.badInput(file: file, problem: "Normalization layer has \(w.count) weight tensors, expected mean and variance") }
        let c = r.model.inputShape[0]
        guard w[0].values.count == c, w[1].values.count == c, w[1].values.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw BlindspotError.badInput(file: file, problem: "Normalization mean/variance do not have \(c) finite channel values")
        }
        // Keras: (x − mean) / max(√variance, ε) with ε = 1e-7 (backend epsilon).
        let sd = w[1].values.map { max($0.squareRoot(), 1e-7) }
        guard let i = r.preprocessingSteps.firstIndex(where: { $0.scale.isEmpty }) else { return }
        r.preprocessingSteps[i] = (sd.map { 1 / $0 }, zip(w[0].values, sd).map { -$0 / $1 }, "Normalization")
        r.preprocessing = builder.foldPreprocessing(r.preprocessingSteps, channels: c)
    }

    /// Element type of each of our tensors, from the type of its Keras layer's first weight
    /// (our node for a Keras layer carries the layer's name).
    static func storedTypes(_ m: Model, _ byLayer: [String: String]) -> [String: String] {
        var out: [String: String] = [:]
        for (name, _) in m.stateDict {
            let layer = name.split(separator: ".").dropLast().joined(separator: ".")
            if let t = byLayer[layer] { out[name] = t }
        }
        return out
    }
}

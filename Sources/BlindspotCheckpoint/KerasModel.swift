import BlindspotCore
import BlindspotEngine
import Foundation

/// Turns a Keras model config (the `model_config` attribute of a legacy .h5, or `config.json` of a
/// `.keras` archive; Keras 2 and 3 spellings) into our graph, and loads its weights.
///
/// Layout conversions: Keras is channels_last. Conv kernels (KH, KW, IN, OUT) become
/// (OUT, IN, KH, KW); Dense kernels (IN, OUT) become (OUT, IN); a Dense reading a Flatten of an
/// image has its rows in HWC order, permuted here to our NCHW flatten. 'same' padding is computed
/// as TensorFlow does (extra pixel at the bottom/right). Activations fused into Conv2D/Dense become
/// separate ReLU nodes; a final softmax is recorded and dropped (the engine works on logits);
/// leading Rescaling/Normalization layers become the input preprocessing.
struct KerasModelBuilder {
    let file: String
    let config: [String: Any]

    /// What the builder produced: the graph, and for each Keras layer with weights, where to put them.
    struct Result {
        var model: Model
        var preprocessing: Preprocessing?
        var outputActivation: String?
        /// Keras layer name → loader of that layer's weight list (in `weight_names` / vars order).
        var weightSlots: [(kerasLayer: String, load: ([(shape: [Int], values: [Float])]) throws -> Void)]
        /// Leading affine input steps, folded into `preprocessing` once all are known.
        var preprocessingSteps: [(scale: [Float], offset: [Float], what: String)]
        /// A Normalization layer whose adapted mean/variance are in its weights, not its config.
        var normalizationLayer: String?
    }

    struct KLayer {
        let name: String
        let className: String
        let config: [String: Any]
        /// Names of the Keras layers whose outputs feed this one.
        let inbound: [String]
    }

    init(file: String, json: Data) throws {
        self.file = file
        try InputLimits.checkJSON(json, file: file, what: "Keras model config")
        guard let obj = try? JSONSerialization.jsonObject(with: json), let dict = obj as? [String: Any] else {
            throw BlindspotError.badInput(file: file, problem: "Keras model config is not a JSON object")
        }
        config = dict
    }

    func bad(_ problem: String) -> BlindspotError { .badInput(file: file, problem: problem) }

    /// The model's layers in order, with their inputs (Sequential: the previous layer).
    func layers() throws -> (modelName: String, layers: [KLayer], inputShape: [Int]?) {
        let className = config["class_name"] as? String ?? ""
        guard let cfg = config["config"] as? [String: Any], let raw = cfg["layers"] as? [[String: Any]] else {
            throw bad("Keras model config has no layer list (class \(className.isEmpty ? "?" : className))")
        }
        let name = cfg["name"] as? String ?? "keras-model"
        guard raw.count <= InputLimits.maxGraphNodes else {
            throw bad("Keras model config lists \(raw.count) layers, more than the \(InputLimits.maxGraphNodes) allowed")
        }
        var out: [KLayer] = []
        var inputShape: [Int]? = nil
        switch className {
        case "Sequential":
            var prev: String? = nil
            for (i, l) in raw.enumerated() {
                let cls = l["class_name"] as? String ?? "?"
                let lc = l["config"] as? [String: Any] ?? [:]
                let lname = lc["name"] as? String ?? "layer_\(i)"
                if let s = batchShape(lc) { inputShape = inputShape ?? s }
                out.append(KLayer(name: lname, className: cls, config: lc, inbound: prev.map { [$0] } ?? []))
                prev = lname
            }
        case "Functional", "Model":
            for l in raw {
                let cls = l["class_name"] as? String ?? "?"
                let lc = l["config"] as? [String: Any] ?? [:]
                let lname = l["name"] as? String ?? lc["name"] as? String ?? "?"
                if cls == "InputLayer", let s = batchShape(lc) { inputShape = inputShape ?? s }
                var inbound: [String] = []
                collectHistory(l["inbound_nodes"], into: &inbound)
                out.append(KLayer(name: lname, className: cls, config: lc, inbound: inbound))
            }
            try checkAcyclic(out)
        default:
            throw bad("Keras model class '\(className)' is not supported (Sequential and Functional models are)")
        }
        return (name, out, inputShape)
    }

    /// Refuses a functional graph whose inbound links form a cycle, naming the layers on it. Keras
    /// saves layers in topological order, so a cycle comes only from a corrupt or hostile file;
    /// found by an iterative depth-first search (a recursive one would let a long chain of layers
    /// overflow the stack).
    private func checkAcyclic(_ layers: [KLayer]) throws {
        var index: [String: Int] = [:]
        for (i, l) in layers.enumerated() where index[l.name] == nil { index[l.name] = i }
        enum Mark { case new, onPath, done }
        var mark = [Mark](repeating: .new, count: layers.count)
        for root in layers.indices where mark[root] == .new {
            var path: [(layer: Int, nextInput: Int)] = [(root, 0)]
            mark[root] = .onPath
            while let (layer, next) = path.last {
                let inbound = layers[layer].inbound
                guard next < inbound.count else {
                    mark[layer] = .done
                    path.removeLast()
                    continue
                }
                path[path.count - 1].nextInput += 1
                guard let j = index[inbound[next]] else { continue }  // unknown names: build() reports them
                switch mark[j] {
                case .onPath:
                    let start = path.firstIndex { $0.layer == j } ?? 0
                    let cycle = path[start...].map { layers[$0.layer].name } + [layers[j].name]
                    throw bad("the functional graph has a cycle: \(cycle.joined(separator: " → ")) (each layer reads the next; corrupt or hostile file)")
                case .new:
                    mark[j] = .onPath
                    path.append((j, 0))
                case .done:
                    break
                }
            }
        }
    }

    /// [None, H, W, C] from `batch_shape` (Keras 3) or `batch_input_shape` (Keras 2) → [C, H, W].
    private func batchShape(_ c: [String: Any]) -> [Int]? {
        guard let s = (c["batch_shape"] ?? c["batch_input_shape"]) as? [Any], s.count == 4,
              let h = s[1] as? Int, let w = s[2] as? Int, let ch = s[3] as? Int else { return nil }
        return [ch, h, w]
    }

    /// Layer names in a Keras 2 (`[[name, node, tensor, kwargs], …]`) or Keras 3
    /// (`{"args": [{"config": {"keras_history": [name, node, tensor]}}]}`) inbound_nodes value.
    private func collectHistory(_ v: Any?, into out: inout [String]) {
        if let d = v as? [String: Any] {
            if let h = d["keras_history"] as? [Any], let n = h.first as? String { out.append(n); return }
            if let a = d["args"] { collectHistory(a, into: &out) }
            if let c = d["config"] { collectHistory(c, into: &out) }
            return
        }
        if let a = v as? [Any] {
            // Keras 2 form: ["name", 0, 0, {}]
            if a.count >= 3, let n = a[0] as? String, a[1] is Int, a[2] is Int { out.append(n); return }
            for e in a { collectHistory(e, into: &out) }
        }
    }

    private func activationName(_ v: Any?) -> String {
        if let s = v as? String { return s }
        if let d = v as? [String: Any] {
            if let c = d["config"] as? String { return c }
            if let c = d["config"] as? [String: Any], let n = c["name"] as? String { return n }
            if let n = d["class_name"] as? String { return n.lowercased() }
        }
        return "linear"
    }

    private func pair(_ v: Any?, default d: Int) -> (Int, Int) {
        if let a = v as? [Int], a.count == 2 { return (a[0], a[1]) }
        if let i = v as? Int { return (i, i) }
        return (d, d)
    }

    /// Largest kernel, stride or pool window accepted (as in model specs): larger ones are not
    /// image classifiers, and zero or negative ones would divide by zero or allocate nonsense.
    static let maxWindow = 64

    /// A kernel/stride/pool size pair, each side in 1…`maxWindow`.
    private func window(_ v: Any?, default d: Int, _ what: String, _ layer: String) throws -> (Int, Int) {
        let (a, b) = pair(v, default: d)
        guard (1...KerasModelBuilder.maxWindow).contains(a), (1...KerasModelBuilder.maxWindow).contains(b) else {
            throw bad("layer '\(layer)': \(what) \(a)×\(b) is out of range (1…\(KerasModelBuilder.maxWindow))")
        }
        return (a, b)
    }

    /// TensorFlow 'same' padding for one dimension: output ⌈n/s⌉, the odd pixel at the end.
    static func samePadding(size n: Int, kernel k: Int, stride s: Int) -> (Int, Int) {
        let out = (n + s - 1) / s
        let total = max((out - 1) * s + k - n, 0)
        return (total / 2, total - total / 2)
    }

    func build() throws -> Result {
        let (name, klayers, declaredInput) = try layers()
        guard let inputShape = declaredInput else { throw bad("Keras config declares no input shape (batch_shape)") }
        guard inputShape.allSatisfy({ (1...InputLimits.maxInputSide).contains($0) }) else {
            throw bad("Keras config input shape (H, W, C) = (\(inputShape[1]), \(inputShape[2]), \(inputShape[0])) is out of range (1…\(InputLimits.maxInputSide) each)")
        }
        let model = Model(name: name, inputShape: inputShape)
        var budget = ParameterBudget(file: file)
        let position = Dictionary(klayers.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        var nodeOf: [String: String] = [:]          // Keras layer → our node that carries its output
        var slots: [(String, ([(shape: [Int], values: [Float])]) throws -> Void)] = []
        var preprocessingSteps: [(scale: [Float], offset: [Float], what: String)] = []
        var pendingNorm: String? = nil
        var outputActivation: String? = nil
        var atInput = true                            // still in the leading preprocessing layers
        let lastIndex = klayers.count - 1

        for (i, l) in klayers.enumerated() {
            let inputs = try l.inbound.map { n -> String in
                guard let node = nodeOf[n] else {
                    if let p = position[n], p >= i {
                        throw bad("layer '\(l.name)' reads layer '\(n)', which comes later in the config (layers must be in topological order, as Keras saves them)")
                    }
                    throw bad("layer '\(l.name)' reads unknown layer '\(n)'")
                }
                return node
            }
            let src = inputs.first ?? model.lastNodeName
            let inShape = model.node(named: src).map { _ in model.shapes[model.nodes.firstIndex { $0.name == src }!] } ?? inputShape
            func add(_ node: String, _ layer: any Layer, _ ins: [String]) throws -> String {
                do { return try model.add(node, layer, inputs: ins) } catch let e as ModelError {
                    throw bad("layer '\(l.name)' (\(l.className)): \(e.description)")
                }
            }
            /// Adds the fused activation of a Conv2D/Dense; returns the node carrying the layer's output.
            func activation(after node: String) throws -> String {
                switch activationName(l.config["activation"]) {
                case "linear": return node
                case "relu": return try add("\(l.name)/relu", ReLU(), [node])
                case "softmax" where i == lastIndex: outputActivation = "softmax"; return node
                case let a: throw bad("layer '\(l.name)': activation '\(a)' is not supported (relu, linear, and a final softmax are)")
                }
            }
            if l.className != "InputLayer" && l.className != "Rescaling" && l.className != "Normalization" { atInput = false }
            switch l.className {
            case "InputLayer":
                nodeOf[l.name] = "input"
            case "Rescaling":
                guard atInput else { throw bad("layer '\(l.name)': Rescaling is supported only at the model input") }
                let c = inputShape[0]
                let scale = try perChannel(l.config["scale"], default: 1, channels: c, "scale", l.name)
                let offset = try perChannel(l.config["offset"], default: 0, channels: c, "offset", l.name)
                guard !scale.contains(0) else { throw bad("layer '\(l.name)': Rescaling by 0 erases the input") }
                preprocessingSteps.append((scale, offset, "Rescaling"))
                nodeOf[l.name] = "input"
            case "Normalization":
                guard atInput else { throw bad("layer '\(l.name)': Normalization is supported only at the model input") }
                let axis = (l.config["axis"] as? [Int])?.first ?? (l.config["axis"] as? Int) ?? -1
                guard axis == -1 || axis == 3 else { throw bad("layer '\(l.name)': Normalization over axis \(axis) is not supported (channels, -1)") }
                let c = inputShape[0]
                if l.config["mean"] != nil && !(l.config["mean"] is NSNull), l.config["variance"] != nil && !(l.config["variance"] is NSNull) {
                    let m = try perChannel(l.config["mean"], default: 0, channels: c, "mean", l.name)
                    let v = try perChannel(l.config["variance"], default: 1, channels: c, "variance", l.name)
                    guard v.allSatisfy({ $0 >= 0 }) else { throw bad("layer '\(l.name)': Normalization variance is negative") }
                    // Keras: (x − mean) / max(√variance, ε), ε = 1e-7 (as in KerasFile.foldNormalization).
                    let sd = v.map { max($0.squareRoot(), 1e-7) }
                    preprocessingSteps.append((sd.map { 1 / $0 }, zip(m, sd).map { -$0 / $1 }, "Normalization"))
                } else {
                    // Adapted statistics live in the weights: fold them in when those are read.
                    preprocessingSteps.append(([], [], "Normalization"))
                    pendingNorm = l.name
                }
                nodeOf[l.name] = "input"
            case "Conv2D":
                guard (l.config["data_format"] as? String ?? "channels_last") == "channels_last" else { throw bad("layer '\(l.name)': only channels_last Conv2D is supported") }
                let filters = try int(l.config["filters"], "filters", l.name)
                let (kh, kw) = try window(l.config["kernel_size"], default: 1, "kernel size", l.name)
                let (sh, sw) = try window(l.config["strides"], default: 1, "strides", l.name)
                let (dh, dw) = pair(l.config["dilation_rate"], default: 1)
                guard kh == kw, sh == sw, dh == 1, dw == 1, (l.config["groups"] as? Int ?? 1) == 1 else {
                    throw bad("layer '\(l.name)': Conv2D with kernel \(kh)×\(kw), strides \(sh)×\(sw), dilation \(dh)×\(dw) is not supported (square kernels and strides, no dilation or groups)")
                }
                guard inShape.count == 3 else { throw bad("layer '\(l.name)': Conv2D input is not an image") }
                var pad = Padding.zero
                switch l.config["padding"] as? String ?? "valid" {
                case "valid": break
                case "same":
                    let (t, b) = KerasModelBuilder.samePadding(size: inShape[1], kernel: kh, stride: sh)
                    let (le, r) = KerasModelBuilder.samePadding(size: inShape[2], kernel: kw, stride: sw)
                    pad = Padding(top: t, left: le, bottom: b, right: r)
                case let p: throw bad("layer '\(l.name)': padding '\(p)' is not supported")
                }
                let useBias = l.config["use_bias"] as? Bool ?? true
                try budget.reserveConv(in: inShape[0], out: filters, kernel: kh, bias: useBias, for: l.name)
                let conv = Conv2d(inChannels: inShape[0], outChannels: filters, kernel: kh, stride: sh, padding: pad, bias: useBias)
                let node = try add(l.name, conv, [src])
                nodeOf[l.name] = try activation(after: node)
                slots.append((l.name, { w in
                    try self.expectCount(w, useBias ? 2 : 1, l.name)
                    try self.loadConvKernel(w[0], into: conv, layer: l.name)
                    if useBias, let b = conv.bias { try assign(w[1].values, shape: w[1].shape, to: b.value, name: "\(l.name).bias", file: self.file) }
                }))
            case "Dense":
                guard inShape.count == 1 else { throw bad("layer '\(l.name)': Dense on a \(inShape.count)-D input is not supported (add Flatten)") }
                let units = try int(l.config["units"], "units", l.name)
                let useBias = l.config["use_bias"] as? Bool ?? true
                try budget.reserveLinear(in: inShape[0], out: units, bias: useBias, for: l.name)
                let fc = Linear(inFeatures: inShape[0], outFeatures: units, bias: useBias)
                // A Dense right after Flatten of an image reads HWC-ordered features.
                let flattenedImage = flattenSource(model, src)
                let node = try add(l.name, fc, [src])
                nodeOf[l.name] = try activation(after: node)
                slots.append((l.name, { w in
                    try self.expectCount(w, useBias ? 2 : 1, l.name)
                    try self.loadDenseKernel(w[0], into: fc, hwcImage: flattenedImage, layer: l.name)
                    if useBias, let b = fc.bias { try assign(w[1].values, shape: w[1].shape, to: b.value, name: "\(l.name).bias", file: self.file) }
                }))
            case "BatchNormalization":
                let axis = (l.config["axis"] as? [Int])?.first ?? (l.config["axis"] as? Int) ?? -1
                guard inShape.count == 3, axis == -1 || axis == 3 else { throw bad("layer '\(l.name)': BatchNormalization must normalise the channel axis of an image") }
                let eps = (l.config["epsilon"] as? Double).map(Float.init) ?? 1e-3
                guard eps.isFinite, eps > 0 else { throw bad("layer '\(l.name)': BatchNormalization epsilon \(eps) is not a positive number") }
                try budget.reserveBatchNorm(channels: inShape[0], for: l.name)
                let mom = (l.config["momentum"] as? Double).map { Float(1 - $0) } ?? 0.01
                let center = l.config["center"] as? Bool ?? true, scale = l.config["scale"] as? Bool ?? true
                let bn = BatchNorm2d(channels: inShape[0], epsilon: eps, momentum: mom)
                nodeOf[l.name] = try add(l.name, bn, [src])
                slots.append((l.name, { w in
                    try self.expectCount(w, 2 + (center ? 1 : 0) + (scale ? 1 : 0), l.name)
                    var k = 0
                    if scale { try assign(w[k].values, shape: w[k].shape, to: bn.weight.value, name: "\(l.name).gamma", file: self.file); k += 1 }
                    if center { try assign(w[k].values, shape: w[k].shape, to: bn.bias.value, name: "\(l.name).beta", file: self.file); k += 1 }
                    try assign(w[k].values, shape: w[k].shape, to: bn.runningMean, name: "\(l.name).moving_mean", file: self.file)
                    try assign(w[k + 1].values, shape: w[k + 1].shape, to: bn.runningVar, name: "\(l.name).moving_variance", file: self.file)
                }))
            case "Activation", "ReLU", "Softmax":
                let act = l.className == "Activation" ? activationName(l.config["activation"]) : l.className.lowercased()
                if l.className == "ReLU" {
                    let maxValue = l.config["max_value"] as? Double, slope = l.config["negative_slope"] as? Double ?? 0, threshold = l.config["threshold"] as? Double ?? 0
                    guard maxValue == nil, slope == 0, threshold == 0 else { throw bad("layer '\(l.name)': ReLU with max_value/negative_slope/threshold is not supported") }
                }
                switch act {
                case "relu": nodeOf[l.name] = try add(l.name, ReLU(), [src])
                case "linear": nodeOf[l.name] = src
                case "softmax" where i == lastIndex: outputActivation = "softmax"; nodeOf[l.name] = src
                default: throw bad("layer '\(l.name)': activation '\(act)' is not supported (relu, linear, and a final softmax are)")
                }
            case "MaxPooling2D", "AveragePooling2D":
                let (ph, pw) = try window(l.config["pool_size"], default: 2, "pool size", l.name)
                let (sh, sw) = l.config["strides"] is NSNull || l.config["strides"] == nil ? (ph, pw) : try window(l.config["strides"], default: ph, "strides", l.name)
                guard ph == pw, sh == sw, inShape.count == 3 else { throw bad("layer '\(l.name)': only square pools on images are supported") }
                if (l.config["padding"] as? String ?? "valid") == "same" {
                    // 'same' equals 'valid' when the windows tile the input exactly.
                    guard inShape[1] % sh == 0, inShape[2] % sw == 0, ph == sh else { throw bad("layer '\(l.name)': pooling padding 'same' on this size is not supported") }
                }
                let layer: any Layer = l.className == "MaxPooling2D" ? MaxPool2d(kernel: ph, stride: sh) : AvgPool2d(kernel: ph, stride: sh)
                nodeOf[l.name] = try add(l.name, layer, [src])
            case "GlobalAveragePooling2D":
                guard !(l.config["keepdims"] as? Bool ?? false) else { throw bad("layer '\(l.name)': GlobalAveragePooling2D(keepdims=True) is not supported") }
                nodeOf[l.name] = try add(l.name, GlobalAvgPool2d(), [src])
            case "Flatten":
                nodeOf[l.name] = try add(l.name, Flatten(), [src])
            case "Dropout":
                let rate = Float(l.config["rate"] as? Double ?? 0.5)
                nodeOf[l.name] = try add(l.name, Dropout(probability: min(max(rate, 0), 0.99)), [src])
            case "Add":
                guard inputs.count == 2 else { throw bad("layer '\(l.name)': Add of \(inputs.count) inputs is not supported (two are)") }
                nodeOf[l.name] = try add(l.name, Add(), inputs)
            default:
                throw bad("layer '\(l.name)' has unsupported type \(l.className) (supported: InputLayer, Conv2D, Dense, BatchNormalization, Activation, ReLU, Softmax, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Dropout, Add, Rescaling, Normalization)")
            }
        }
        guard model.nodes.count > 1 else { throw bad("Keras model has no layers the engine can run") }
        guard model.nodes.last!.name == nodeOf[klayers.last!.name] ?? "" || outputActivation != nil else {
            throw bad("Keras model's output is not its last layer")
        }
        let pre = preprocessingSteps.isEmpty ? nil : foldPreprocessing(preprocessingSteps, channels: inputShape[0])
        return Result(model: model, preprocessing: pre, outputActivation: outputActivation,
                      weightSlots: slots.map { (kerasLayer: $0.0, load: $0.1) },
                      preprocessingSteps: preprocessingSteps, normalizationLayer: pendingNorm)
    }

    /// Composes leading affine steps x ← scale·x + offset (on what the model receives) into one
    /// Preprocessing on [0,1] pixels. The raw input range is a convention Keras does not record:
    /// a model whose first step rescales by ≈1/255 or ≈1/127.5 expects 0–255 pixels, otherwise
    /// [0,1] is assumed (and said so).
    func foldPreprocessing(_ steps: [(scale: [Float], offset: [Float], what: String)], channels c: Int) -> Preprocessing? {
        guard !steps.contains(where: { $0.scale.isEmpty }) else { return nil }
        let firstScale = steps[0].scale[0]
        let rawPixels = steps[0].what == "Rescaling" && (abs(firstScale - 1 / 255) < 1e-4 || abs(firstScale - 1 / 127.5) < 1e-4)
        var a = [Float](repeating: rawPixels ? 255 : 1, count: c), b = [Float](repeating: 0, count: c)
        for s in steps {
            for k in 0..<c { a[k] *= s.scale[k]; b[k] = b[k] * s.scale[k] + s.offset[k] }
        }
        let what = steps.map(\.what).joined(separator: " + ")
        return Preprocessing.affine(scale: a, offset: b, source: .file,
                                    description: "Keras \(what) layers; model input assumed \(rawPixels ? "0–255 pixels (first layer rescales by 1/\(Int((1 / firstScale).rounded())))" : "in [0,1]")")
    }

    /// The image shape [C, H, W] behind a Flatten node, if `node` is one.
    private func flattenSource(_ model: Model, _ node: String) -> [Int]? {
        guard let i = model.nodes.firstIndex(where: { $0.name == node }), model.nodes[i].layer is Flatten else { return nil }
        let s = model.shapes[model.nodes[i].inputs[0]]
        return s.count == 3 && s[1] * s[2] > 1 ? s : nil
    }

    private func int(_ v: Any?, _ what: String, _ layer: String) throws -> Int {
        guard let i = v as? Int, i > 0, i <= 1 << 20 else { throw bad("layer '\(layer)': '\(what)' missing or out of range") }
        return i
    }

    /// A per-channel float setting of a preprocessing layer: absent → `default` for every channel,
    /// one number → that number for every channel, or a (possibly nested, numpy-broadcast-shaped,
    /// e.g. [[[m₀, m₁, m₂]]]) list of exactly `channels` numbers. Every value must be finite;
    /// anything else is refused (the preprocessing is applied per channel).
    private func perChannel(_ v: Any?, default d: Float, channels c: Int, _ what: String, _ layer: String) throws -> [Float] {
        func number(_ x: Any) -> Float? { (x as? Double).map(Float.init) ?? (x as? Int).map(Float.init) }
        var values: [Float] = []
        var pending: [Any] = [v.flatMap { $0 is NSNull ? nil : $0 } ?? d]   // depth-first, in order
        while let x = pending.popLast() {
            if let f = number(x) { values.append(f) }
            else if let a = x as? [Any] { pending += a.reversed() }
            else { throw bad("layer '\(layer)': \(what) is not a number or a list of numbers") }
            guard values.count <= c else { break }
        }
        if values.count == 1 { values = Array(repeating: values[0], count: c) }
        guard values.count == c else {
            throw bad("layer '\(layer)': \(what) has \(values.count > c ? "more than \(c)" : "\(values.count)") values for \(c) input channels")
        }
        guard values.allSatisfy(\.isFinite) else { throw bad("layer '\(layer)': \(what) is not finite") }
        return values
    }

    func expectCount(_ w: [(shape: [Int], values: [Float])], _ n: Int, _ layer: String) throws {
        guard w.count == n else { throw bad("layer '\(layer)' has \(w.count) weight tensors, expected \(n)") }
    }

    /// (KH, KW, IN, OUT) → (OUT, IN, KH, KW).
    func loadConvKernel(_ w: (shape: [Int], values: [Float]), into conv: Conv2d, layer: String) throws {
        let (kh, kw, ci, co) = (conv.kernel.h, conv.kernel.w, conv.inChannels, conv.outChannels)
        guard w.shape == [kh, kw, ci, co] else { throw bad("layer '\(layer)': kernel shape \(w.shape), expected \([kh, kw, ci, co])") }
        var out = [Float](repeating: 0, count: w.values.count)
        for i in 0..<kh { for j in 0..<kw { for c in 0..<ci { for o in 0..<co {
            out[((o * ci + c) * kh + i) * kw + j] = w.values[((i * kw + j) * ci + c) * co + o]
        } } } }
        try assign(out, shape: conv.weight.value.shape, to: conv.weight.value, name: "\(layer).kernel", file: file)
    }

    /// (IN, OUT) → (OUT, IN), permuting HWC-flattened rows to CHW when the input is a flattened image.
    func loadDenseKernel(_ w: (shape: [Int], values: [Float]), into fc: Linear, hwcImage: [Int]?, layer: String) throws {
        let (fi, fo) = (fc.inFeatures, fc.outFeatures)
        guard w.shape == [fi, fo] else { throw bad("layer '\(layer)': kernel shape \(w.shape), expected \([fi, fo])") }
        var out = [Float](repeating: 0, count: fi * fo)
        for r in 0..<fi {
            var ours = r
            if let s = hwcImage {
                // Keras row r = (h·W + w)·C + c  →  ours = (c·H + h)·W + w
                let (c, h, wd) = (s[0], s[1], s[2])
                let ch = r % c, pix = r / c
                ours = (ch * h + pix / wd) * wd + pix % wd
            }
            for o in 0..<fo { out[o * fi + ours] = w.values[r * fo + o] }
        }
        try assign(out, shape: [fo, fi], to: fc.weight.value, name: "\(layer).kernel", file: file)
    }
}

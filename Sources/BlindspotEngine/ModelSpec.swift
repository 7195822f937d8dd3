import BlindspotCore


/// The model graph as JSON (`schemas/model.schema.json`): what native checkpoints store and what
/// `--arch spec.json` supplies for state_dicts whose family is not recognised.
public struct ModelSpec: Codable, Equatable, Sendable {
    public static let formatName = "blindspot-model"
    public static let currentVersion = 1

    public var format: String
    public var version: Int
    public var name: String
    /// Per-sample input shape [C, H, W].
    public var inputShape: [Int]
    public var nodes: [NodeSpec]

    public struct NodeSpec: Codable, Equatable, Sendable {
        public var name: String
        /// conv2d, linear, batchnorm2d, relu, maxpool2d, avgpool2d, globalavgpool2d, flatten, dropout, add
        public var op: String
        /// Names of the nodes read; "input" is the model input.
        public var inputs: [String]
        public var attributes: Attributes

        public init(name: String, op: String, inputs: [String], attributes: Attributes = Attributes()) {
            self.name = name; self.op = op; self.inputs = inputs; self.attributes = attributes
        }
    }

    /// Op attributes; each op uses the subset it needs (see the schema).
    public struct Attributes: Codable, Equatable, Sendable {
        public var inChannels: Int?
        public var outChannels: Int?
        /// [KH, KW] for conv, [K] for pools.
        public var kernel: [Int]?
        /// [SH, SW] for conv, [S] for pools.
        public var stride: [Int]?
        /// [top, left, bottom, right].
        public var padding: [Int]?
        public var bias: Bool?
        public var inFeatures: Int?
        public var outFeatures: Int?
        public var channels: Int?
        public var epsilon: Float?
        public var momentum: Float?
        public var probability: Float?
        public init() {}
    }

    public init(name: String, inputShape: [Int], nodes: [NodeSpec]) {
        format = ModelSpec.formatName
        version = ModelSpec.currentVersion
        self.name = name
        self.inputShape = inputShape
        self.nodes = nodes
    }

    /// The spec of an existing model.
    public init(_ model: Model) throws {
        let nodes = try model.nodes.dropFirst().map { n in
            try ModelSpec.nodeSpec(of: n.layer, name: n.name, inputs: n.inputs.map { model.nodes[$0].name })
        }
        self.init(name: model.name, inputShape: model.inputShape, nodes: nodes)
    }

    /// The spec of one layer (its kind and attributes, not its weights).
    public static func nodeSpec(of layer: any Layer, name: String, inputs: [String]) throws -> NodeSpec {
        var a = Attributes()
        switch layer {
        case let c as Conv2d:
            a.inChannels = c.inChannels; a.outChannels = c.outChannels
            a.kernel = [c.kernel.h, c.kernel.w]; a.stride = [c.stride.h, c.stride.w]
            a.padding = [c.padding.top, c.padding.left, c.padding.bottom, c.padding.right]
            a.bias = c.bias != nil
        case let l as Linear:
            a.inFeatures = l.inFeatures; a.outFeatures = l.outFeatures; a.bias = l.bias != nil
        case let b as BatchNorm2d:
            a.channels = b.channels; a.epsilon = b.epsilon; a.momentum = b.momentum
        case let p as MaxPool2d:
            a.kernel = [p.kernel]; a.stride = [p.stride]
        case let p as AvgPool2d:
            a.kernel = [p.kernel]; a.stride = [p.stride]
        case let d as Dropout:
            a.probability = d.probability
        case is ReLU, is Flatten, is Add, is GlobalAvgPool2d:
            break
        default:
            throw BlindspotError.internalError("no spec for layer kind \(layer.kind)")
        }
        return NodeSpec(name: name, op: layer.kind, inputs: inputs, attributes: a)
    }

    /// Builds the graph (parameters zero; BatchNorm at its defaults). `file` names the source in errors.
    public func build(file: String) throws -> Model {
        guard format == ModelSpec.formatName else { throw BlindspotError.badInput(file: file, problem: "model spec format '\(format)' is not '\(ModelSpec.formatName)'") }
        guard version <= ModelSpec.currentVersion else {
            throw BlindspotError.badInput(file: file, problem: "model spec version \(version) is newer than this blindspot understands (\(ModelSpec.currentVersion)); upgrade blindspot")
        }
        guard inputShape.count == 3, inputShape.allSatisfy({ (1...InputLimits.maxInputSide).contains($0) }) else {
            throw BlindspotError.badInput(file: file, problem: "model spec input shape \(inputShape) is not [C, H, W] with sides 1…\(InputLimits.maxInputSide)")
        }
        guard nodes.count <= InputLimits.maxGraphNodes else {
            throw BlindspotError.badInput(file: file, problem: "model spec has \(nodes.count) nodes, more than the \(InputLimits.maxGraphNodes) allowed")
        }
        let model = Model(name: name, inputShape: inputShape)
        var budget = ParameterBudget(file: file)
        for n in nodes {
            let layer = try ModelSpec.layer(for: n, file: file, budget: &budget)
            do {
                try model.add(n.name, layer, inputs: n.inputs)
            } catch let e as ModelError {
                throw BlindspotError.badInput(file: file, problem: "node '\(n.name)': \(e.description)")
            }
        }
        return model
    }

    /// A fresh layer (parameters zero) for one node of a spec.
    public static func layer(for n: NodeSpec, file: String) throws -> any Layer {
        var budget = ParameterBudget(file: file)
        return try layer(for: n, file: file, budget: &budget)
    }

    /// A fresh layer for one node, its parameters reserved in `budget` before they are allocated.
    static func layer(for n: NodeSpec, file: String, budget: inout ParameterBudget) throws -> any Layer {
        let a = n.attributes
        func need<T>(_ v: T?, _ what: String) throws -> T {
            guard let v else { throw BlindspotError.badInput(file: file, problem: "node '\(n.name)' (\(n.op)) lacks attribute '\(what)'") }
            return v
        }
        func positive(_ v: Int, _ what: String, max: Int = 1 << 16) throws -> Int {
            guard v >= 1, v <= max else { throw BlindspotError.badInput(file: file, problem: "node '\(n.name)': \(what) = \(v) is out of range") }
            return v
        }
        switch n.op {
        case "conv2d":
            let k = try need(a.kernel, "kernel"), s = a.stride ?? [1, 1], p = a.padding ?? [0, 0, 0, 0]
            guard k.count == 2, k[0] == k[1], s.count == 2, s[0] == s[1], p.count == 4, p.allSatisfy({ (0...64).contains($0) }) else {
                throw BlindspotError.badInput(file: file, problem: "node '\(n.name)': conv2d supports square kernels and strides, kernel \(k) stride \(s) padding \(p)")
            }
            let ic = try positive(need(a.inChannels, "inChannels"), "inChannels"), oc = try positive(need(a.outChannels, "outChannels"), "outChannels")
            let kernel = try positive(k[0], "kernel", max: 64), stride = try positive(s[0], "stride", max: 64)
            try budget.reserveConv(in: ic, out: oc, kernel: kernel, bias: a.bias ?? true, for: n.name)
            return Conv2d(inChannels: ic, outChannels: oc, kernel: kernel, stride: stride,
                          padding: Padding(top: p[0], left: p[1], bottom: p[2], right: p[3]), bias: a.bias ?? true)
        case "linear":
            let fi = try positive(need(a.inFeatures, "inFeatures"), "inFeatures", max: 1 << 24)
            let fo = try positive(need(a.outFeatures, "outFeatures"), "outFeatures", max: 1 << 20)
            try budget.reserveLinear(in: fi, out: fo, bias: a.bias ?? true, for: n.name)
            return Linear(inFeatures: fi, outFeatures: fo, bias: a.bias ?? true)
        case "batchnorm2d":
            let c = try positive(need(a.channels, "channels"), "channels")
            let eps = a.epsilon ?? 1e-5
            guard eps.isFinite, eps > 0 else { throw BlindspotError.badInput(file: file, problem: "node '\(n.name)': batchnorm2d epsilon \(eps) is not a positive number") }
            try budget.reserveBatchNorm(channels: c, for: n.name)
            return BatchNorm2d(channels: c, epsilon: eps, momentum: a.momentum ?? 0.1)
        case "relu": return ReLU()
        case "maxpool2d", "avgpool2d":
            let k = try positive(need(a.kernel, "kernel").first ?? 0, "kernel", max: 64)
            let s = try positive(a.stride?.first ?? k, "stride", max: 64)
            return n.op == "maxpool2d" ? MaxPool2d(kernel: k, stride: s) as any Layer : AvgPool2d(kernel: k, stride: s)
        case "globalavgpool2d": return GlobalAvgPool2d()
        case "flatten": return Flatten()
        case "dropout":
            let p = a.probability ?? 0.5
            guard (0..<1).contains(p) else { throw BlindspotError.badInput(file: file, problem: "node '\(n.name)': dropout probability \(p) not in [0, 1)") }
            return Dropout(probability: p)
        case "add": return Add()
        default:
            throw BlindspotError.badInput(file: file, problem: "node '\(n.name)' has unknown op '\(n.op)' (known: conv2d, linear, batchnorm2d, relu, maxpool2d, avgpool2d, globalavgpool2d, flatten, dropout, add)")
        }
    }
}

extension Model {
    /// An independent copy: the same graph (rebuilt from its spec) with copied parameters and buffers.
    public func copy() throws -> Model {
        let m = try ModelSpec(self).build(file: name)
        for ((_, a), (_, b)) in zip(stateDict, m.stateDict) { b.copy(from: a) }
        return m
    }
}

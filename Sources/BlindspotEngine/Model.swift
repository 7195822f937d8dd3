import BlindspotCore

/// A network as a DAG of named nodes in topological order; node 0 is the input. Plain CNNs and
/// residual networks are the same kind of object. Names follow PyTorch's module paths
/// (`layer1.0.conv1`), so parameters read `layer1.0.conv1.weight` as in a state_dict.
public final class Model: @unchecked Sendable {
    /// Images per forward pass when a whole set is evaluated (accuracy, calibration, features,
    /// drift). Every layer keeps its output buffer at the largest batch it has seen, so this
    /// bounds an audit's memory: resnet20 holds ≈ 2 MB of activations per image per model,
    /// ≈ 0.55 GB at 256 images against 0.14 GB at 64. Our convolutions run image by image,
    /// so the smaller batch costs no speed.
    public static let inferenceBatchSize = 64

    public struct Node: Sendable {
        public let name: String
        public let layer: any Layer
        /// Indices of the nodes feeding this one.
        public let inputs: [Int]
    }

    /// The network's name (e.g. the architecture it was built as).
    public var name: String
    public private(set) var nodes: [Node] = []
    /// Per-sample output shape of each node.
    public private(set) var shapes: [[Int]] = []
    private var consumers: [[Int]] = []
    private var index: [String: Int] = [:]

    /// Output tensors of the last forward pass, by node.
    private var outputs: [Tensor?] = []
    /// Gradient accumulators for nodes read by more than one consumer (residual branches).
    private var gradBuffers: [Tensor] = []

    /// When non-nil, forward and backward add each node's seconds here (`bench --profile`).
    public var profile: (forward: [Double], backward: [Double])?

    /// Starts collecting per-node timings (zeroed).
    public func startProfiling() { profile = (Array(repeating: 0, count: nodes.count), Array(repeating: 0, count: nodes.count)) }

    /// The per-sample input shape [C, H, W].
    public var inputShape: [Int] { shapes[0] }
    /// Per-sample output shape of the last node ([classes] for a classifier).
    public var outputShape: [Int] { shapes[shapes.count - 1] }

    public init(name: String, inputShape: [Int]) {
        self.name = name
        nodes = [Node(name: "input", layer: Identity(), inputs: [])]
        shapes = [inputShape]
        consumers = [[]]
        index["input"] = 0
        outputs = [nil]
        gradBuffers = [Tensor(shape: [0])]
    }

    /// Appends a node reading `inputs` (default: the previous node) and checks shapes.
    /// Returns the node's name, so builders can chain residual branches.
    @discardableResult
    public func add(_ name: String, _ layer: any Layer, inputs: [String]? = nil) throws -> String {
        guard index[name] == nil else { throw ModelError("duplicate node name '\(name)'") }
        let ins: [Int] = try (inputs ?? [nodes[nodes.count - 1].name]).map {
            guard let i = index[$0] else { throw ModelError("node '\(name)' reads unknown node '\($0)'") }
            return i
        }
        guard ins.count == layer.arity else {
            throw ModelError("\(layer.kind) reads \(ins.count) inputs; it takes \(layer.arity)")
        }
        let shape = try layer.outputShape(ins.map { shapes[$0] })
        let id = nodes.count
        for p in layer.parameters { p.name = "\(name).\(p.name)" }
        nodes.append(Node(name: name, layer: layer, inputs: ins))
        shapes.append(shape)
        consumers.append([])
        for i in ins { consumers[i].append(id) }
        index[name] = id
        outputs.append(nil)
        gradBuffers.append(Tensor(shape: [0]))
        return name
    }

    /// The last node's name.
    public var lastNodeName: String { nodes[nodes.count - 1].name }

    public func node(named name: String) -> Node? { index[name].map { nodes[$0] } }

    /// All parameters with full dotted names, in node order.
    public var parameters: [Parameter] { nodes.flatMap { $0.layer.parameters } }

    /// All buffers (BatchNorm running statistics) with full dotted names.
    public var buffers: [Buffer] {
        nodes.flatMap { n in n.layer.buffers.map { Buffer(name: "\(n.name).\($0.name)", value: $0.value) } }
    }

    public func parameter(named name: String) -> Parameter? { parameters.first { $0.name == name } }

    /// Parameters and buffers by full name: what a checkpoint stores.
    public var stateDict: [(name: String, tensor: Tensor)] {
        parameters.map { ($0.name, $0.value) } + buffers.map { ($0.name, $0.value) }
    }

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Runs the network on x [N] + inputShape and returns the last node's output (logits).
    /// Every node's output stays readable through `activation(of:)` until the next forward.
    @discardableResult
    public func forward(_ x: Tensor, mode: ForwardMode = .inference) -> Tensor {
        precondition(Array(x.shape.dropFirst()) == inputShape, "model \(name): input \(x.shape) does not match \(inputShape)")
        outputs[0] = x
        for i in 1..<nodes.count {
            let n = nodes[i]
            let t0 = profile == nil ? 0 : monotonicSeconds()
            outputs[i] = n.layer.forward(n.inputs.map { outputs[$0]! }, mode: mode)
            if profile != nil { profile!.forward[i] += monotonicSeconds() - t0 }
        }
        return outputs[nodes.count - 1]!
    }

    /// Runs only the nodes after `name`, feeding `x` as that node's output (e.g. a head on cached
    /// features, for Fine-Pruning). nil when a later node reads an earlier one than `name` (the
    /// tail is then not a function of `name`'s output alone).
    public func forward(_ x: Tensor, after name: String, mode: ForwardMode = .inference) -> Tensor? {
        guard let start = index[name], Array(x.shape.dropFirst()) == shapes[start] else { return nil }
        for i in (start + 1)..<nodes.count where nodes[i].inputs.contains(where: { $0 < start }) { return nil }
        guard start < nodes.count - 1 else { return x }
        outputs[start] = x
        for i in (start + 1)..<nodes.count {
            let n = nodes[i]
            outputs[i] = n.layer.forward(n.inputs.map { outputs[$0]! }, mode: mode)
        }
        return outputs[nodes.count - 1]!
    }

    /// The output of a named node from the last forward pass (a view valid until the next one).
    public func activation(of name: String) -> Tensor? { index[name].flatMap { outputs[$0] } }

    /// Back-propagates dLoss/dOutput through the last forward pass: accumulates every parameter's
    /// gradient (unless `parameterGradients` is false) and, when `inputGradient` is true, returns
    /// dLoss/dInput (for Neural Cleanse, which needs nothing else).
    @discardableResult
    public func backward(_ gradOutput: Tensor, inputGradient: Bool = false, parameterGradients: Bool = true) -> Tensor? {
        let count = nodes.count
        // Which node outputs need a gradient: everything downstream of a parameter (when their
        // gradients are wanted) or of the input.
        var needs = Array(repeating: false, count: count)
        needs[0] = inputGradient
        for i in 1..<count {
            needs[i] = (parameterGradients && !nodes[i].layer.parameters.isEmpty) || nodes[i].inputs.contains { needs[$0] }
        }
        var grads = [Tensor?](repeating: nil, count: count)
        var received = Array(repeating: 0, count: count)
        grads[count - 1] = gradOutput
        for i in stride(from: count - 1, through: 1, by: -1) {
            guard let g = grads[i] else { continue }
            let n = nodes[i]
            let ins = n.inputs.map { outputs[$0]! }
            let t0 = profile == nil ? 0 : monotonicSeconds()
            let inGrads = n.layer.backward(g, inputs: ins, needInputGrad: n.inputs.map { needs[$0] }, parameterGradients: parameterGradients)
            if profile != nil { profile!.backward[i] += monotonicSeconds() - t0 }
            for (k, j) in n.inputs.enumerated() {
                guard needs[j], let gj = inGrads[k] else { continue }
                if consumers[j].count == 1 {
                    grads[j] = gj
                } else {
                    // Shared node: sum the contributions into a buffer the graph owns.
                    let buf = gradBuffers[j]
                    if received[j] == 0 {
                        buf.copy(from: gj)
                    } else {
                        let p = buf.data, q = gj.data
                        for e in 0..<buf.count { p[e] += q[e] }
                    }
                    received[j] += 1
                    grads[j] = buf
                }
            }
        }
        return inputGradient ? grads[0] : nil
    }

    /// Sets every parameter gradient to zero (before each training step).
    public func zeroGradients() { for p in parameters { p.grad.zero() } }
}

/// The input node: passes its tensor through.
final class Identity: Layer, @unchecked Sendable {
    let kind = "input"
    func outputShape(_ inputs: [[Int]]) throws -> [Int] { inputs[0] }
    func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor { inputs[0] }
    func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] { [gradOutput] }
}

import BlindspotCore
import BlindspotEngine

/// BatchNorm folding (Jacob et al. 2018, §3.2; what every INT8 deployment does first): a
/// BatchNorm whose only input is a convolution read by nothing else is merged into it,
///   w′ = w·γ/√(σ² + ε),  b′ = (b − μ)·γ/√(σ² + ε) + β,
/// so inference gives the same outputs (up to float rounding) with one layer fewer.
/// Other BatchNorms (PreAct-ResNet's, which follow additions) stay.
public enum Folding {
    /// A new model with every foldable conv → BatchNorm pair merged; names are kept (the
    /// BatchNorm's readers now read the convolution).
    public static func foldBatchNorm(_ model: Model) throws -> Model {
        var spec = try ModelSpec(model)
        let foldInto = Dictionary(uniqueKeysWithValues: foldablePairs(model).map { ($0.value, $0.key) })   // BN name → conv name
        spec.nodes = spec.nodes.compactMap { n in
            if foldInto[n.name] != nil { return nil }
            var n = n
            n.inputs = n.inputs.map { foldInto[$0] ?? $0 }
            if n.op == "conv2d", foldInto.values.contains(n.name) { n.attributes.bias = true }
            return n
        }
        let folded = try spec.build(file: model.name)
        folded.name = model.name
        // Copy every tensor the folded model still has, then fold the BN statistics into convs.
        let source = Dictionary(uniqueKeysWithValues: model.stateDict.map { ($0.name, $0.tensor) })
        for (name, t) in folded.stateDict {
            if let s = source[name] { t.copy(from: s) } else { t.zero() }   // new conv biases start at 0
        }
        for (bnName, convName) in foldInto {
            guard let bn = model.node(named: bnName)?.layer as? BatchNorm2d,
                  let original = model.node(named: convName)?.layer as? Conv2d,
                  let conv = folded.node(named: convName)?.layer as? Conv2d, let bias = conv.bias else {
                throw BlindspotError.internalError("folding \(bnName) into \(convName)")
            }
            let per = conv.weight.value.count / conv.outChannels, factors = Folding.factors(bn)
            for o in 0..<conv.outChannels {
                let k = factors[o]
                for i in 0..<per { conv.weight.value[o * per + i] = original.weight.value[o * per + i] * k }
                let b0 = original.bias?.value[o] ?? 0
                bias.value[o] = (b0 - bn.runningMean[o]) * k + bn.bias.value[o]
            }
        }
        return folded
    }

    /// Conv name → the BatchNorm folded into it: a BatchNorm whose only input is a convolution
    /// that nothing else reads.
    public static func foldablePairs(_ model: Model) -> [String: String] {
        var consumers: [Int: Int] = [:]
        for n in model.nodes { for i in n.inputs { consumers[i, default: 0] += 1 } }
        var pairs: [String: String] = [:]
        for n in model.nodes where n.layer is BatchNorm2d && n.inputs.count == 1 {
            let src = n.inputs[0]
            if model.nodes[src].layer is Conv2d, consumers[src] == 1 { pairs[model.nodes[src].name] = n.name }
        }
        return pairs
    }

    /// γ/√(σ² + ε) per channel: what folding multiplies the convolution's weights by.
    public static func factors(_ bn: BatchNorm2d) -> [Float] {
        (0..<bn.weight.value.count).map { bn.weight.value[$0] / (bn.runningVar[$0] + bn.epsilon).squareRoot() }
    }
}

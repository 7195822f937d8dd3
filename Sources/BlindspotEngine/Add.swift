/// Element-wise sum of two tensors of one shape: the residual connection.
public final class Add: Layer, @unchecked Sendable {
    public let kind = "add"
    public let arity = 2
    private let output = Tensor(shape: [0])
    public init() {}

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        guard inputs.count == 2, inputs[0] == inputs[1] else { throw ModelError("add: needs two inputs of one shape, got \(inputs)") }
        return inputs[0]
    }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let a = inputs[0], b = inputs[1]
        output.resize(a.shape)
        let y = output, per = a.sampleSize
        Parallel.forSlices(a.batch) { _, r in
            let o = r.lowerBound * per
            let ap = a.data + o, bp = b.data + o, yp = y.data + o
            for i in 0..<(r.count * per) { yp[i] = ap[i] + bp[i] }
        }
        return output
    }

    /// Both inputs receive dy unchanged (the graph sums gradients of shared nodes).
    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        needInputGrad.map { $0 ? gradOutput : nil }
    }
}

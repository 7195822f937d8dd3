/// y = max(x, 0), any shape. Backward: dx = dy where y > 0.
public final class ReLU: Layer, @unchecked Sendable {
    public let kind = "relu"
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    public init() {}

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { inputs[0] }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let x = inputs[0]
        output.resize(x.shape)
        let y = output, per = x.sampleSize
        Parallel.forSlices(x.batch) { _, r in
            let p = x.data + r.lowerBound * per, q = y.data + r.lowerBound * per
            for i in 0..<(r.count * per) { q[i] = max(p[i], 0) }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        guard needInputGrad[0] else { return [nil] }
        let y = output, dy = gradOutput, per = y.sampleSize
        gradInput.resize(y.shape)
        let dx = gradInput
        Parallel.forSlices(y.batch) { _, r in
            let o = r.lowerBound * per
            let yp = y.data + o, gp = dy.data + o, dp = dx.data + o
            for i in 0..<(r.count * per) { dp[i] = yp[i] > 0 ? gp[i] : 0 }
        }
        return [dx]
    }
}

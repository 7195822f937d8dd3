import _BlindspotKernels

/// Fully connected layer: x [N, IN] → y [N, OUT] = x·Wᵀ + b, weight [OUT, IN] (PyTorch layout).
/// Rows of the batch are split over workers; each runs one single-threaded GEMM.
public final class Linear: Layer, @unchecked Sendable {
    public let kind = "linear"
    public let inFeatures: Int, outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    /// Below this many rows per worker the split costs more than it saves.
    static let minRowsPerWorker = 16

    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(name: "weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? Parameter(name: "bias", shape: [outFeatures]) : nil
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        guard inputs[0] == [inFeatures] else {
            throw ModelError("linear: expects \(inFeatures) input features, got shape \(inputs[0])")
        }
        return [outFeatures]
    }

    private var maxWorkers: (Int) -> Int { { n in max(1, n / Linear.minRowsPerWorker) } }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let x = inputs[0], n = x.batch, (fi, fo) = (inFeatures, outFeatures)
        output.resize([n, fo])
        let y = output, w = weight.value, b = bias?.value
        Parallel.forSlices(n, maxWorkers: maxWorkers(n)) { _, r in
            let rows = r.count
            bs_sgemm(0, 1, Int32(rows), Int32(fo), Int32(fi), 1, x.data + r.lowerBound * fi, Int32(fi), w.data, Int32(fi), 0,
                     y.data + r.lowerBound * fo, Int32(fo))
            if let b {
                for i in r { let row = y.data + i * fo; for o in 0..<fo { row[o] += b.data[o] } }
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        backward(gradOutput, inputs: inputs, needInputGrad: needInputGrad, parameterGradients: true)
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool], parameterGradients: Bool) -> [Tensor?] {
        let x = inputs[0], dy = gradOutput, n = x.batch, (fi, fo) = (inFeatures, outFeatures)
        let needDX = needInputGrad[0]
        guard needDX || parameterGradients else { return [nil] }
        if needDX { gradInput.resize(x.shape) }
        let dx = gradInput, w = weight.value
        let workers = min(Parallel.workers, n, maxWorkers(n))
        Parallel.forSlices(n, maxWorkers: maxWorkers(n)) { worker, r in
            if parameterGradients {
                let dw = Workspace.shared.buffer(worker: worker, slot: 2, count: fo * fi)
                let db = Workspace.shared.buffer(worker: worker, slot: 3, count: fo)
                // dW [OUT × IN] = dYᵀ [OUT × rows] · X [rows × IN]
                bs_sgemm(1, 0, Int32(fo), Int32(fi), Int32(r.count), 1, dy.data + r.lowerBound * fo, Int32(fo),
                         x.data + r.lowerBound * fi, Int32(fi), 0, dw, Int32(fi))
                db.update(repeating: 0, count: fo)
                for i in r { let row = dy.data + i * fo; for o in 0..<fo { db[o] += row[o] } }
            }
            if needDX {
                // dX [rows × IN] = dY [rows × OUT] · W [OUT × IN]
                bs_sgemm(0, 0, Int32(r.count), Int32(fi), Int32(fo), 1, dy.data + r.lowerBound * fo, Int32(fo), w.data, Int32(fi), 0,
                         dx.data + r.lowerBound * fi, Int32(fi))
            }
        }
        guard parameterGradients else { return [needDX ? dx : nil] }
        let wg = weight.grad.data
        for worker in 0..<workers {
            let dw = Workspace.shared.buffer(worker: worker, slot: 2, count: fo * fi)
            for i in 0..<(fo * fi) { wg[i] += dw[i] }
            if let bg = bias?.grad.data {
                let db = Workspace.shared.buffer(worker: worker, slot: 3, count: fo)
                for o in 0..<fo { bg[o] += db[o] }
            }
        }
        return [needDX ? dx : nil]
    }
}

import _BlindspotKernels

/// Amounts of zero padding on each side; asymmetric for Keras 'same' with stride 2.
public struct Padding: Sendable, Equatable, Codable {
    public var top: Int, left: Int, bottom: Int, right: Int
    public init(top: Int, left: Int, bottom: Int, right: Int) {
        self.top = top; self.left = left; self.bottom = bottom; self.right = right
    }
    public static func symmetric(_ p: Int) -> Padding { Padding(top: p, left: p, bottom: p, right: p) }
    public static let zero = Padding.symmetric(0)
}

/// 2-D convolution (cross-correlation, as in every framework), groups = 1, dilation = 1.
///
/// x [N, C, H, W] → y [N, OC, OH, OW], weight [OC, C, KH, KW] (PyTorch layout), bias [OC].
/// OH = (H + top + bottom − KH) / SH + 1 (floor).
///
/// Each worker takes a contiguous slice of the batch. Per image, the output rows are processed in
/// bands small enough that the band's im2col columns stay in L2 while one single-threaded GEMM
/// [OC × K]·[K × band] writes straight into the NCHW output (leading dimension OH·OW), so there
/// is no scatter or gather. The weight gradient is summed per worker and reduced in worker order
/// (deterministic for a given worker count).
public final class Conv2d: Layer, @unchecked Sendable {
    public let kind = "conv2d"
    public let inChannels: Int, outChannels: Int
    public let kernel: (h: Int, w: Int)
    public let stride: (h: Int, w: Int)
    public let padding: Padding
    public let weight: Parameter
    public let bias: Parameter?

    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    /// Floats of im2col columns per band (384 KB): leaves most of a 1–2 MB L2 for OpenBLAS's
    /// packed panels.
    static let bandBudget = 96 * 1024

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Padding = .zero, bias: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = (kernel, kernel)
        self.stride = (stride, stride)
        self.padding = padding
        weight = Parameter(name: "weight", shape: [outChannels, inChannels, kernel, kernel])
        self.bias = bias ? Parameter(name: "bias", shape: [outChannels]) : nil
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let (c, h, w) = try expectImage(inputs[0], kind)
        guard c == inChannels else { throw ModelError("conv2d: expects \(inChannels) input channels, got \(c)") }
        let (oh, ow) = outputSize(h, w)
        guard oh > 0, ow > 0 else { throw ModelError("conv2d: input \(h)×\(w) is smaller than the \(kernel.h)×\(kernel.w) kernel") }
        return [outChannels, oh, ow]
    }

    @inline(__always) func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + padding.top + padding.bottom - kernel.h) / stride.h + 1,
         (w + padding.left + padding.right - kernel.w) / stride.w + 1)
    }

    private struct Geometry {
        let n: Int, c: Int, h: Int, w: Int, oc: Int, oh: Int, ow: Int, k: Int, bandRows: Int
        var hw: Int { oh * ow }
        var bandColumns: Int { bandRows * ow }
    }

    private func geometry(_ x: Tensor) -> Geometry {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = outputSize(h, w)
        let k = c * kernel.h * kernel.w
        let rows = max(1, min(oh, Conv2d.bandBudget / max(k * ow, 1)))
        return Geometry(n: n, c: c, h: h, w: w, oc: outChannels, oh: oh, ow: ow, k: k, bandRows: rows)
    }

    @inline(__always)
    private func im2col(_ image: UnsafePointer<Float>, _ g: Geometry, rows: Range<Int>, col: UnsafeMutablePointer<Float>) {
        bs_im2col(image, Int32(g.c), Int32(g.h), Int32(g.w), Int32(kernel.h), Int32(kernel.w), Int32(stride.h), Int32(stride.w),
                  Int32(padding.top), Int32(padding.left), Int32(g.oh), Int32(g.ow), Int32(rows.lowerBound), Int32(rows.upperBound),
                  col, Int32(rows.count * g.ow))
    }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let x = inputs[0]
        let g = geometry(x)
        output.resize([g.n, g.oc, g.oh, g.ow])
        let y = output, w = weight.value, b = bias?.value
        Parallel.forSlices(g.n) { worker, range in
            let col = Workspace.shared.buffer(worker: worker, slot: 0, count: g.k * g.bandColumns)
            let xp = x.data, yp = y.data, wp = w.data, bp = b?.data
            for n in range {
                let image = xp + n * g.c * g.h * g.w, out = yp + n * g.oc * g.hw
                for oy0 in Swift.stride(from: 0, to: g.oh, by: g.bandRows) {
                    let rows = oy0..<min(oy0 + g.bandRows, g.oh), cols = rows.count * g.ow
                    self.im2col(image, g, rows: rows, col: col)
                    // y[:, band] = W [OC × K] · col [K × cols], written in place (ld = OH·OW).
                    bs_sgemm(0, 0, Int32(g.oc), Int32(cols), Int32(g.k), 1, wp, Int32(g.k), col, Int32(cols), 0, out + oy0 * g.ow, Int32(g.hw))
                }
                if let bp {
                    for o in 0..<g.oc {
                        let plane = out + o * g.hw, bv = bp[o]
                        for q in 0..<g.hw { plane[q] += bv }
                    }
                }
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        backward(gradOutput, inputs: inputs, needInputGrad: needInputGrad, parameterGradients: true)
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool], parameterGradients: Bool) -> [Tensor?] {
        let x = inputs[0], dy = gradOutput
        let g = geometry(x)
        let needDX = needInputGrad[0]
        guard needDX || parameterGradients else { return [nil] }
        if needDX { gradInput.resize(x.shape) }
        let dx = gradInput, w = weight.value, hasBias = bias != nil
        let workers = min(Parallel.workers, g.n)
        Parallel.forSlices(g.n) { worker, range in
            let col = Workspace.shared.buffer(worker: worker, slot: 0, count: g.k * g.bandColumns)
            let dw = Workspace.shared.buffer(worker: worker, slot: 2, count: g.oc * g.k)
            let db = Workspace.shared.buffer(worker: worker, slot: 3, count: g.oc)
            if parameterGradients {
                dw.update(repeating: 0, count: g.oc * g.k)
                db.update(repeating: 0, count: g.oc)
            }
            let xp = x.data, dyp = dy.data, wp = w.data
            for n in range {
                let image = xp + n * g.c * g.h * g.w, gout = dyp + n * g.oc * g.hw
                if hasBias && parameterGradients { for o in 0..<g.oc { db[o] += bs_sum(gout + o * g.hw, g.hw) } }
                let dimage = dx.data + n * g.c * g.h * g.w
                if needDX { dimage.update(repeating: 0, count: g.c * g.h * g.w) }
                for oy0 in Swift.stride(from: 0, to: g.oh, by: g.bandRows) {
                    let rows = oy0..<min(oy0 + g.bandRows, g.oh), cols = rows.count * g.ow
                    let dyBand = gout + oy0 * g.ow
                    if parameterGradients {
                        self.im2col(image, g, rows: rows, col: col)
                        // dWᵀ [K × OC] += col [K × cols] · dY[:, band]ᵀ [cols × OC]. The transposed
                        // product runs 1.2–1.4× faster in OpenBLAS when OC is small (tall, not wide).
                        bs_sgemm(0, 1, Int32(g.k), Int32(g.oc), Int32(cols), 1, col, Int32(cols), dyBand, Int32(g.hw), 1, dw, Int32(g.oc))
                    }
                    if needDX {
                        // dcol [K × cols] = Wᵀ [K × OC] · dY[:, band], folded back into the image.
                        bs_sgemm(1, 0, Int32(g.k), Int32(cols), Int32(g.oc), 1, wp, Int32(g.k), dyBand, Int32(g.hw), 0, col, Int32(cols))
                        bs_col2im(col, Int32(cols), Int32(g.c), Int32(g.h), Int32(g.w), Int32(self.kernel.h), Int32(self.kernel.w),
                                  Int32(self.stride.h), Int32(self.stride.w), Int32(self.padding.top), Int32(self.padding.left),
                                  Int32(g.oh), Int32(g.ow), Int32(rows.lowerBound), Int32(rows.upperBound), dimage)
                    }
                }
            }
        }
        guard parameterGradients else { return [needDX ? dx : nil] }
        // Reduce the per-worker partial sums in worker order.
        let wg = weight.grad.data
        for worker in 0..<workers {
            let dwT = Workspace.shared.buffer(worker: worker, slot: 2, count: g.oc * g.k)
            for o in 0..<g.oc { for k in 0..<g.k { wg[o * g.k + k] += dwT[k * g.oc + o] } }
            if hasBias, let bg = bias?.grad.data {
                let db = Workspace.shared.buffer(worker: worker, slot: 3, count: g.oc)
                for o in 0..<g.oc { bg[o] += db[o] }
            }
        }
        return [needDX ? dx : nil]
    }
}

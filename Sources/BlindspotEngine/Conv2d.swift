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
/// Each worker takes a contiguous slice of the batch and processes it in chunks of images whose
/// columns sit side by side (im2col), so one GEMM covers several images: [OC × K]·[K × nb·OH·OW].
/// The GEMM runs single-threaded in OpenBLAS; the weight gradient is summed per worker and then
/// reduced in worker order (deterministic).
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
    /// Target number of GEMM columns per chunk: wide enough to keep BLAS efficient, narrow
    /// enough that the column buffer stays a few MB.
    static let targetColumns = 1024

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
        let n: Int, c: Int, h: Int, w: Int, oc: Int, oh: Int, ow: Int, k: Int, chunk: Int
        var hw: Int { oh * ow }
    }

    private func geometry(_ x: Tensor) -> Geometry {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = outputSize(h, w)
        let chunk = max(1, Conv2d.targetColumns / (oh * ow))
        return Geometry(n: n, c: c, h: h, w: w, oc: outChannels, oh: oh, ow: ow, k: c * kernel.h * kernel.w, chunk: chunk)
    }

    @inline(__always)
    private func im2col(_ x: Tensor, _ g: Geometry, image: Int, col: UnsafeMutablePointer<Float>, ld: Int) {
        bs_im2col(x.data + image * g.c * g.h * g.w, Int32(g.c), Int32(g.h), Int32(g.w), Int32(kernel.h), Int32(kernel.w),
                  Int32(stride.h), Int32(stride.w), Int32(padding.top), Int32(padding.left), Int32(g.oh), Int32(g.ow), col, Int32(ld))
    }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let x = inputs[0]
        let g = geometry(x)
        output.resize([g.n, g.oc, g.oh, g.ow])
        let y = output, w = weight.value, b = bias?.value
        Parallel.forSlices(g.n) { worker, range in
            let col = Workspace.shared.buffer(worker: worker, slot: 0, count: g.k * g.chunk * g.hw)
            let scratch = Workspace.shared.buffer(worker: worker, slot: 1, count: g.chunk > 1 ? g.oc * g.chunk * g.hw : 1)
            let yp = y.data, wp = w.data, bp = b?.data
            var n0 = range.lowerBound
            while n0 < range.upperBound {
                let nb = min(g.chunk, range.upperBound - n0), cols = nb * g.hw
                for i in 0..<nb { self.im2col(x, g, image: n0 + i, col: col + i * g.hw, ld: cols) }
                // One image: the GEMM writes straight into its NCHW slice. Several: into scratch,
                // then scatter [OC × nb·HW] into NCHW.
                let out = nb == 1 ? yp + n0 * g.oc * g.hw : scratch
                bs_sgemm(0, 0, Int32(g.oc), Int32(cols), Int32(g.k), 1, wp, Int32(g.k), col, Int32(cols), 0, out, Int32(cols))
                for i in 0..<nb {
                    for o in 0..<g.oc {
                        let dst = yp + ((n0 + i) * g.oc + o) * g.hw
                        let src = out + o * cols + i * g.hw
                        let bv = bp?[o] ?? 0
                        if nb == 1 {
                            if bp != nil { for q in 0..<g.hw { dst[q] += bv } }
                        } else {
                            for q in 0..<g.hw { dst[q] = src[q] + bv }
                        }
                    }
                }
                n0 += nb
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        let x = inputs[0], dy = gradOutput
        let g = geometry(x)
        let needDX = needInputGrad[0]
        if needDX { gradInput.resize(x.shape) }
        let dx = gradInput, w = weight.value, hasBias = bias != nil
        let workers = min(Parallel.workers, g.n)
        Parallel.forSlices(g.n) { worker, range in
            let col = Workspace.shared.buffer(worker: worker, slot: 0, count: g.k * g.chunk * g.hw)
            let dyScratch = Workspace.shared.buffer(worker: worker, slot: 1, count: g.chunk > 1 ? g.oc * g.chunk * g.hw : 1)
            let dw = Workspace.shared.buffer(worker: worker, slot: 2, count: g.oc * g.k)
            let db = Workspace.shared.buffer(worker: worker, slot: 3, count: g.oc)
            dw.update(repeating: 0, count: g.oc * g.k)
            db.update(repeating: 0, count: g.oc)
            var n0 = range.lowerBound
            while n0 < range.upperBound {
                let nb = min(g.chunk, range.upperBound - n0), cols = nb * g.hw
                for i in 0..<nb { self.im2col(x, g, image: n0 + i, col: col + i * g.hw, ld: cols) }
                // Gather dY into [OC × nb·HW] (one image: use it in place); bias gradient = row sums.
                let dyp = dy.data
                let dyc = nb == 1 ? dyp + n0 * g.oc * g.hw : dyScratch
                for i in 0..<nb {
                    for o in 0..<g.oc {
                        let src = dyp + ((n0 + i) * g.oc + o) * g.hw
                        let dst = dyc + o * cols + i * g.hw
                        var s: Float = 0
                        if nb == 1 {
                            for q in 0..<g.hw { s += src[q] }
                        } else {
                            for q in 0..<g.hw { dst[q] = src[q]; s += src[q] }
                        }
                        db[o] += s
                    }
                }
                // dW [OC × K] += dY [OC × cols] · colᵀ [cols × K]
                bs_sgemm(0, 1, Int32(g.oc), Int32(g.k), Int32(cols), 1, dyc, Int32(cols), col, Int32(cols), 1, dw, Int32(g.k))
                if needDX {
                    // dcol [K × cols] = Wᵀ [K × OC] · dY [OC × cols], then fold back into images.
                    bs_sgemm(1, 0, Int32(g.k), Int32(cols), Int32(g.oc), 1, w.data, Int32(g.k), dyc, Int32(cols), 0, col, Int32(cols))
                    for i in 0..<nb {
                        let img = dx.data + (n0 + i) * g.c * g.h * g.w
                        img.update(repeating: 0, count: g.c * g.h * g.w)
                        bs_col2im(col + i * g.hw, Int32(cols), Int32(g.c), Int32(g.h), Int32(g.w), Int32(self.kernel.h),
                                  Int32(self.kernel.w), Int32(self.stride.h), Int32(self.stride.w), Int32(self.padding.top),
                                  Int32(self.padding.left), Int32(g.oh), Int32(g.ow), img)
                    }
                }
                n0 += nb
            }
        }
        // Reduce the per-worker partial sums in worker order.
        let wg = weight.grad.data
        for worker in 0..<workers {
            let dw = Workspace.shared.buffer(worker: worker, slot: 2, count: g.oc * g.k)
            for i in 0..<(g.oc * g.k) { wg[i] += dw[i] }
            if hasBias, let bg = bias?.grad.data {
                let db = Workspace.shared.buffer(worker: worker, slot: 3, count: g.oc)
                for o in 0..<g.oc { bg[o] += db[o] }
            }
        }
        return [needDX ? dx : nil]
    }
}

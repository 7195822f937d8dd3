import _BlindspotKernels

/// Naive references beside the fast kernels (llm.c's `matmul_forward_naive` habit): direct loops
/// in Double, no BLAS, no im2col. Tests compare the fast paths against them.
public enum Reference {
    /// Direct convolution: x [N, C, H, W], weight [OC, C, KH, KW] → y [N, OC, OH, OW].
    public static func conv2d(_ x: Tensor, _ conv: Conv2d) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw, sh, sw) = (conv.kernel.h, conv.kernel.w, conv.stride.h, conv.stride.w)
        let oh = (h + conv.padding.top + conv.padding.bottom - kh) / sh + 1
        let ow = (w + conv.padding.left + conv.padding.right - kw) / sw + 1
        let y = Tensor(shape: [n, conv.outChannels, oh, ow])
        let wt = conv.weight.value
        for b in 0..<n {
            for o in 0..<conv.outChannels {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var s = Double(conv.bias?.value[o] ?? 0)
                        for ch in 0..<c {
                            for i in 0..<kh {
                                for j in 0..<kw {
                                    let yy = oy * sh - conv.padding.top + i, xx = ox * sw - conv.padding.left + j
                                    guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                                    s += Double(x[((b * c + ch) * h + yy) * w + xx]) * Double(wt[((o * c + ch) * kh + i) * kw + j])
                                }
                            }
                        }
                        y[((b * conv.outChannels + o) * oh + oy) * ow + ox] = Float(s)
                    }
                }
            }
        }
        return y
    }

    /// Row-major GEMM through the C naive kernel (Double accumulation).
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: Tensor, b: Tensor) -> Tensor {
        let c = Tensor(shape: [m, n])
        bs_sgemm_naive(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), 1, a.data, Int32(transA ? m : k),
                       b.data, Int32(transB ? k : n), 0, c.data, Int32(n))
        return c
    }
}

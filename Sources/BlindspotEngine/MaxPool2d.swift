/// Max pooling, no padding, floor mode: x [N, C, H, W] → y [N, C, OH, OW],
/// OH = (H − K) / S + 1. The arg-max of each window is kept for the backward pass
/// (ties: the first maximum in row-major order, as PyTorch).
public final class MaxPool2d: Layer, @unchecked Sendable {
    public let kind = "maxpool2d"
    public let kernel: Int, stride: Int
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var argmax: [Int32] = []

    public init(kernel: Int, stride: Int? = nil) {
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let (c, h, w) = try expectImage(inputs[0], kind)
        guard h >= kernel, w >= kernel else { throw ModelError("maxpool2d: input \(h)×\(w) smaller than the \(kernel)×\(kernel) window") }
        return [c, (h - kernel) / stride + 1, (w - kernel) / stride + 1]
    }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let x = inputs[0], (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h - kernel) / stride + 1, ow = (w - kernel) / stride + 1
        output.resize([n, c, oh, ow])
        if argmax.count < output.count { argmax = Array(repeating: 0, count: output.count) }
        let y = output, k = kernel, s = stride
        argmax.withUnsafeMutableBufferPointer { am in
            nonisolated(unsafe) let arg = am.baseAddress!
            Parallel.forSlices(n * c) { _, planes in
                for pl in planes {
                    let src = x.data + pl * h * w, dst = y.data + pl * oh * ow, a = arg + pl * oh * ow
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            var best = -Float.infinity, bi = 0
                            for i in 0..<k {
                                let row = (oy * s + i) * w + ox * s
                                for j in 0..<k where src[row + j] > best { best = src[row + j]; bi = row + j }
                            }
                            dst[oy * ow + ox] = best
                            a[oy * ow + ox] = Int32(bi)
                        }
                    }
                }
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        guard needInputGrad[0] else { return [nil] }
        let x = inputs[0], (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let ohw = gradOutput.shape[2] * gradOutput.shape[3]
        gradInput.resize(x.shape)
        let dx = gradInput, dy = gradOutput
        argmax.withUnsafeBufferPointer { am in
            nonisolated(unsafe) let arg = am.baseAddress!
            Parallel.forSlices(n * c) { _, planes in
                for pl in planes {
                    let d = dx.data + pl * h * w, g = dy.data + pl * ohw, a = arg + pl * ohw
                    d.update(repeating: 0, count: h * w)
                    for i in 0..<ohw { d[Int(a[i])] += g[i] }
                }
            }
        }
        return [dx]
    }
}

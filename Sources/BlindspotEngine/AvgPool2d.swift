/// Average pooling, no padding, floor mode: x [N, C, H, W] → y [N, C, OH, OW].
public final class AvgPool2d: Layer, @unchecked Sendable {
    public let kind = "avgpool2d"
    public let kernel: Int, stride: Int
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(kernel: Int, stride: Int? = nil) {
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let (c, h, w) = try expectImage(inputs[0], kind)
        guard h >= kernel, w >= kernel else { throw ModelError("avgpool2d: input \(h)×\(w) smaller than the \(kernel)×\(kernel) window") }
        return [c, (h - kernel) / stride + 1, (w - kernel) / stride + 1]
    }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let x = inputs[0], (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h - kernel) / stride + 1, ow = (w - kernel) / stride + 1
        output.resize([n, c, oh, ow])
        let y = output, k = kernel, s = stride, scale = 1 / Float(kernel * kernel)
        Parallel.forSlices(n * c) { _, planes in
            for pl in planes {
                let src = x.data + pl * h * w, dst = y.data + pl * oh * ow
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var t: Float = 0
                        for i in 0..<k { for j in 0..<k { t += src[(oy * s + i) * w + ox * s + j] } }
                        dst[oy * ow + ox] = t * scale
                    }
                }
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        guard needInputGrad[0] else { return [nil] }
        let x = inputs[0], (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (gradOutput.shape[2], gradOutput.shape[3])
        gradInput.resize(x.shape)
        let dx = gradInput, dy = gradOutput, k = kernel, s = stride, scale = 1 / Float(kernel * kernel)
        Parallel.forSlices(n * c) { _, planes in
            for pl in planes {
                let d = dx.data + pl * h * w, g = dy.data + pl * oh * ow
                d.update(repeating: 0, count: h * w)
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let v = g[oy * ow + ox] * scale
                        for i in 0..<k { for j in 0..<k { d[(oy * s + i) * w + ox * s + j] += v } }
                    }
                }
            }
        }
        return [dx]
    }
}

import _BlindspotKernels

/// Global average pooling: x [N, C, H, W] → y [N, C] (the mean of each plane), as Keras'
/// GlobalAveragePooling2D and PyTorch's AdaptiveAvgPool2d(1) followed by flatten.
public final class GlobalAvgPool2d: Layer, @unchecked Sendable {
    public let kind = "globalavgpool2d"
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    public init() {}

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] {
        let (c, _, _) = try expectImage(inputs[0], kind)
        return [c]
    }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let x = inputs[0], (n, c) = (x.shape[0], x.shape[1]), hw = x.shape[2] * x.shape[3]
        output.resize([n, c])
        let y = output, scale = 1 / Float(hw)
        Parallel.forSlices(n * c) { _, planes in
            for pl in planes {
                y.data[pl] = bs_sum(x.data + pl * hw, hw) * scale
            }
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        guard needInputGrad[0] else { return [nil] }
        let x = inputs[0], hw = x.shape[2] * x.shape[3]
        gradInput.resize(x.shape)
        let dx = gradInput, dy = gradOutput, scale = 1 / Float(hw)
        Parallel.forSlices(x.shape[0] * x.shape[1]) { _, planes in
            for pl in planes {
                let v = dy.data[pl] * scale, d = dx.data + pl * hw
                for j in 0..<hw { d[j] = v }
            }
        }
        return [dx]
    }
}

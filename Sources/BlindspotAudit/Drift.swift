import BlindspotDefenses
import BlindspotEngine

/// Per-layer activation drift FP32 → deployed on clean images (mission.md "Beyond the study"):
/// a quantization-conditioned backdoor changes what some layers compute only after rounding,
/// which FP32-only tools cannot see.
enum Drift {
    /// Clean images the drift is measured on.
    static let images = 256
    /// Channels listed per layer.
    static let topChannels = 3

    /// Nodes compared: ReLU, pooling, additions and linear outputs exist with the same meaning in
    /// both graphs (a conv followed by BatchNorm is folded in the deployed graph, so its own
    /// output is not comparable; the ReLU after it is).
    static func comparable(_ layer: any Layer) -> Bool {
        layer is ReLU || layer is MaxPool2d || layer is AvgPool2d || layer is GlobalAvgPool2d || layer is Add || layer is Linear
    }

    static func measure(fp32: ModelUnderTest, deployed: ModelUnderTest, pixels: Tensor) -> [LayerDrift] {
        let nodes = fp32.model.nodes.filter { comparable($0.layer) }.map(\.name)
        let (_, a) = fp32.forward(pixels: pixels, capture: nodes)
        let (_, b) = deployed.forward(pixels: pixels, capture: nodes)
        var out: [LayerDrift] = []
        for name in nodes {
            guard let x = a[name], let y = b[name], x.count == y.count, x.count > 0 else { continue }
            let n = x.shape[0], c = x.shape.count > 1 ? x.shape[1] : 1
            let per = x.count / max(n * c, 1)
            var num = [Double](repeating: 0, count: c), den = [Double](repeating: 0, count: c)
            for i in 0..<n { for ch in 0..<c {
                let base = (i * c + ch) * per
                for j in 0..<per {
                    let u = Double(x.data[base + j]), v = Double(y.data[base + j])
                    num[ch] += (v - u) * (v - u); den[ch] += u * u
                }
            } }
            let total = num.reduce(0, +).squareRoot() / max(den.reduce(0, +).squareRoot(), 1e-30)
            let channels = (0..<c).map { ChannelDrift(channel: $0, relativeL2: num[$0].squareRoot() / max(den[$0].squareRoot(), 1e-30)) }
                .filter { den[$0.channel] > 0 }
                .sorted { $0.relativeL2 > $1.relativeL2 }
            out.append(LayerDrift(node: name, relativeL2: total, topChannels: Array(channels.prefix(topChannels))))
        }
        return out
    }
}

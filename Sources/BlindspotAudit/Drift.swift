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

    /// Sums of squared differences and of squared FP32 values per node and channel, over the
    /// images in `Model.inferenceBatchSize` chunks (capturing every node for all images at once
    /// held ≈ 0.6 GB per precision on resnet20).
    static func measure(fp32: ModelUnderTest, deployed: ModelUnderTest, pixels: Tensor) -> [LayerDrift] {
        let nodes = fp32.model.nodes.filter { comparable($0.layer) }.map(\.name)
        var num: [String: [Double]] = [:], den: [String: [Double]] = [:]
        var skipped = Set<String>()
        let n = pixels.shape[0], sample = pixels.sampleSize, size = Model.inferenceBatchSize
        for start in stride(from: 0, to: n, by: size) {
            let m = min(size, n - start)
            let chunk = Tensor(shape: [m] + Array(pixels.shape.dropFirst()))
            chunk.data.update(from: pixels.data + start * sample, count: m * sample)
            let (_, a) = fp32.forward(pixels: chunk, capture: nodes)
            let (_, b) = deployed.forward(pixels: chunk, capture: nodes)
            for name in nodes where !skipped.contains(name) {
                guard let x = a[name], let y = b[name], x.count == y.count, x.count > 0 else { skipped.insert(name); continue }
                let c = x.shape.count > 1 ? x.shape[1] : 1, per = x.count / max(m * c, 1)
                var nu = num[name] ?? [Double](repeating: 0, count: c), de = den[name] ?? [Double](repeating: 0, count: c)
                for i in 0..<m { for ch in 0..<c {
                    let base = (i * c + ch) * per
                    for j in 0..<per {
                        let u = Double(x.data[base + j]), v = Double(y.data[base + j])
                        nu[ch] += (v - u) * (v - u); de[ch] += u * u
                    }
                } }
                num[name] = nu; den[name] = de
            }
        }
        return nodes.compactMap { name -> LayerDrift? in
            guard !skipped.contains(name), let nu = num[name], let de = den[name] else { return nil }
            let total = nu.reduce(0, +).squareRoot() / max(de.reduce(0, +).squareRoot(), 1e-30)
            let channels = nu.indices.map { ChannelDrift(channel: $0, relativeL2: nu[$0].squareRoot() / max(de[$0].squareRoot(), 1e-30)) }
                .filter { de[$0.channel] > 0 }
                .sorted { $0.relativeL2 > $1.relativeL2 }
            return LayerDrift(node: name, relativeL2: total, topChannels: Array(channels.prefix(topChannels)))
        }
    }
}

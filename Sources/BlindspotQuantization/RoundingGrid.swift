import BlindspotCore
import BlindspotEngine

/// Where each FP32 weight of a conv/linear layer falls on the integer grid a per-channel
/// symmetric scheme (`int8`, `int4`) would round it to, after BatchNorm folding: the folding
/// factor k (w′ = w·k), the channel's scale s = max|w′|/qmax and the channel's scale-setting
/// weight. Shared by the quantization-conditioned attack (which keeps weights inside their
/// rounding boxes) and the audit (which looks for weights piled up at the boxes' edges).
public struct RoundingGrid: @unchecked Sendable {
    public struct Layer {
        /// The FP32 model's node and weight parameter.
        public let node: String
        public let weight: Parameter
        public let outChannels: Int
        /// Folding factor per output channel (`Folding.factors`; 1 without a folded BatchNorm).
        public let fold: [Float]
        /// max|w′| per output channel, and the index (within the channel) of the weight that sets it.
        public let channelMax: [Float]
        public let scaleSetter: [Int]
    }
    public let bits: Int
    public let layers: [Layer]
    public var qmax: Float { Float((1 << (bits - 1)) - 1) }

    /// The grid of every conv/linear weight of `model` at `bits` (8 or 4).
    public init(_ model: Model, bits: Int) {
        self.bits = bits
        let folded = Folding.foldablePairs(model)
        var layers: [Layer] = []
        for node in model.nodes {
            let weight: Parameter
            if let c = node.layer as? Conv2d { weight = c.weight } else if let l = node.layer as? Linear { weight = l.weight } else { continue }
            let out = weight.value.shape[0], per = weight.value.count / out
            var k = [Float](repeating: 1, count: out)
            if let name = folded[node.name], let bn = model.node(named: name)?.layer as? BatchNorm2d { k = Folding.factors(bn) }
            var maxima = [Float](repeating: 0, count: out), setters = [Int](repeating: 0, count: out)
            for o in 0..<out {
                for i in 0..<per {
                    let a = abs(weight.value[o * per + i] * k[o])
                    if a > maxima[o] { maxima[o] = a; setters[o] = i }
                }
            }
            layers.append(Layer(node: node.name, weight: weight, outChannels: out, fold: k, channelMax: maxima, scaleSetter: setters))
        }
        self.layers = layers
    }

    /// Position of every weight inside its rounding interval, in [0, 1) (0 and 1 are the ties
    /// with the neighbouring codes, ½ the grid point), per layer. The scale-setting weight of each
    /// channel (always on a grid point), dead channels and zero folding factors are left out.
    public func positions(_ layer: Layer) -> [Float] {
        let per = layer.weight.value.count / layer.outChannels
        var u: [Float] = []
        u.reserveCapacity(layer.weight.value.count)
        for o in 0..<layer.outChannels where layer.channelMax[o] > 0 && layer.fold[o] != 0 {
            let s = layer.channelMax[o] / qmax
            for i in 0..<per where i != layer.scaleSetter[o] {
                let x = layer.weight.value[o * per + i] * layer.fold[o] / s
                u.append(x - QuantMath.roundEven(x) + 0.5)
            }
        }
        return u
    }
}

/// The mark a quantization-conditioned backdoor leaves (issue 12): projected fine-tuning pushes
/// weights against the edges of their rounding intervals, while ordinary training leaves them
/// spread smoothly across the ties. Per layer: the share of weights within `edgeBand` of a tie,
/// and that share over the share in the next band inward ([edgeBand, 2·edgeBand) from a tie).
/// A smooth weight density gives a ratio near 1 whatever its shape (the two bands are adjacent);
/// a pile-up at the edges gives much more.
public struct RoundingPositionLayer: Codable, Sendable, Equatable {
    public var layer: String
    public var weights: Int
    /// Share of weights within `edgeBand` of a rounding tie (uniform positions: 2·edgeBand).
    public var edgeShare: Double
    /// Share in the next band inward.
    public var innerShare: Double
    /// edgeShare / innerShare (nil when the inner band is empty).
    public var edgeRatio: Double?
    /// Whether the layer stands out (`edgeRatio` ≥ `RoundingPositions.flagRatio`, enough weights).
    public var standsOut: Bool
}

public struct RoundingPositions: Codable, Sendable, Equatable {
    /// Width of the edge band, in fractions of a rounding interval [ours].
    public static let edgeBand = 0.05
    /// [calibrated, issue 12 closing note] A layer stands out when its edge band holds this many
    /// times the weights of the band next to it.
    public static let flagRatio = 1.5
    /// Layers with fewer movable weights are reported but never stand out (too noisy).
    public static let minimumWeights = 1000

    /// `int8` or `int4`: the grid examined.
    public var grid: String
    public var layers: [RoundingPositionLayer]
    public var standingOut: [String] { layers.filter(\.standsOut).map(\.layer) }

    /// `no layer stands out (weights within 5% of a tie / the next band: 0.83–1.10)`, or the layers
    /// that do — for the text report, the HTML report and `inspect`.
    public var summary: String {
        let out = layers.filter(\.standsOut)
        let band = String(format: "%.0f%%", 100 * RoundingPositions.edgeBand)
        if out.isEmpty {
            let ratios = layers.filter { $0.weights >= RoundingPositions.minimumWeights }.compactMap(\.edgeRatio)
            let range = ratios.isEmpty ? "" : String(format: " (weights within %@ of a tie / the next band: %.2f–%.2f)", band, ratios.min()!, ratios.max()!)
            return "no layer stands out" + range
        }
        return out.map { String(format: "%@ %.1f%% within %@ of a tie, %.1f× the next band", $0.layer, 100 * $0.edgeShare, band, $0.edgeRatio ?? .infinity) }
            .joined(separator: "; ") + " — the mark of a quantization-conditioned backdoor"
    }

    /// The statistics of `model`'s weights on the per-channel grid of `bits` (8: int8, 4: int4).
    public init(_ model: Model, bits: Int) {
        grid = bits == 4 ? "int4" : "int8"
        let g = RoundingGrid(model, bits: bits)
        layers = g.layers.map { l in
            let u = g.positions(l)
            var edge = 0, inner = 0
            let b = Float(RoundingPositions.edgeBand)
            for x in u {
                let d = min(x, 1 - x)
                if d < b { edge += 1 } else if d < 2 * b { inner += 1 }
            }
            let n = Double(max(u.count, 1))
            let ratio: Double? = inner > 0 ? Double(edge) / Double(inner) : nil
            return RoundingPositionLayer(layer: l.node, weights: u.count, edgeShare: Double(edge) / n, innerShare: Double(inner) / n, edgeRatio: ratio,
                                         standsOut: u.count >= RoundingPositions.minimumWeights && (ratio ?? (edge > 0 ? .infinity : 0)) >= RoundingPositions.flagRatio)
        }
    }
}

import BlindspotEngine

/// What precision a layer's weights were stored or quantized at, read from the values themselves:
/// float weights that lie exactly on a symmetric 16- or 256-level grid per output channel were
/// quantized (then dequantized) before they reached us; an asymmetric 16-level grid per tensor is
/// the study's `paper-int4` rounding.
public enum StorageAnalysis {
    public enum Grid: String, Codable, Sendable {
        case none = "float"
        case int8PerChannel = "int8 grid (per channel, symmetric)"
        case int4PerChannel = "int4 grid (per channel, symmetric)"
        case int4PerTensorAsymmetric = "int4 grid (per tensor, min-max)"
    }

    /// A value counts as on the grid when it is within this fraction of a step from a level.
    static let gridTolerance: Float = 1e-3

    /// The finest grid the weight tensor [OUT, …] lies on, checked from int4 up.
    public static func grid(of weight: Tensor) -> Grid {
        let out = weight.shape[0], per = weight.count / max(out, 1)
        guard out > 0, per > 0 else { return .none }
        func perChannel(levels qmax: Float) -> Bool {
            var informative = false
            for o in 0..<out {
                let w = weight.data + o * per
                var m: Float = 0
                for i in 0..<per { m = max(m, abs(w[i])) }
                guard m > 0 else { continue }
                let scale = m / qmax
                var distinct = Set<Int>()
                for i in 0..<per {
                    let q = w[i] / scale
                    guard abs(q - q.rounded()) <= gridTolerance else { return false }
                    distinct.insert(Int(q.rounded()))
                }
                // A channel with as many distinct levels as values proves nothing.
                if distinct.count < per { informative = true }
            }
            return informative
        }
        if perChannel(levels: 7) { return .int4PerChannel }
        if perChannel(levels: 127) { return .int8PerChannel }
        var lo = Float.infinity, hi = -Float.infinity
        for i in 0..<weight.count { lo = min(lo, weight[i]); hi = max(hi, weight[i]) }
        if hi > lo, weight.count > 32 {
            let step = (hi - lo) / 15
            var ok = true
            for i in 0..<weight.count {
                let q = (weight[i] - lo) / step
                if abs(q - q.rounded()) > gridTolerance { ok = false; break }
            }
            if ok { return .int4PerTensorAsymmetric }
        }
        return .none
    }
}

import BlindspotCore
import BlindspotEngine
import _BlindspotKernels

/// Activation fake-quantization: x ↦ (clamp(round(x/s) + z, qmin, qmax) − z)·s, per tensor.
/// Backward is the straight-through estimator (Bengio et al. 2013; Jacob et al. 2018 §3):
/// the gradient passes unchanged where x lies inside the clipping range and is zero outside.
///
/// Three modes: `observing` (calibration: records min/max, passes x through), calibrated
/// (`params` fixed), and `dynamic` (params from each batch's min/max, as dynamic quantization).
public final class FakeQuantize: Layer, @unchecked Sendable {
    public let kind = "fakequant"
    public var params: QuantMath.Affine?
    public let dynamic: Bool
    public var observing = false
    public private(set) var observedMin = Float.infinity
    public private(set) var observedMax = -Float.infinity
    /// A uniform sample of the observed values (reservoir sampling, seeded), for percentile ranges.
    private var reservoir: [Float] = []
    private var seen = 0
    private var rng = SeededRNG(seed: 0, stream: "calibration-reservoir")
    /// Values kept for percentile calibration per quantizer.
    public static let reservoirSize = 1 << 16
    /// The parameters the last forward used (dynamic mode changes them per batch).
    public private(set) var lastParams: QuantMath.Affine?
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(dynamic: Bool) { self.dynamic = dynamic }

    public func outputShape(_ inputs: [[Int]]) throws -> [Int] { inputs[0] }

    /// Fixes the calibrated parameters from what was observed: min–max, or with `percentile`
    /// (e.g. 99.99) the range between the (100 − p)-th and p-th percentiles of a sample, which
    /// clips rare outliers so that the common values get finer steps.
    public func finishCalibration(percentile: Double? = nil) {
        observing = false
        guard observedMin <= observedMax else { params = QuantMath.Affine(min: 0, max: 0); return }
        if let p = percentile, !reservoir.isEmpty {
            let sorted = reservoir.sorted()
            func at(_ q: Double) -> Float { sorted[min(sorted.count - 1, max(0, Int((q / 100 * Double(sorted.count - 1)).rounded())))] }
            params = QuantMath.Affine(min: at(100 - p), max: at(p))
        } else {
            params = QuantMath.Affine(min: observedMin, max: observedMax)
        }
        reservoir = []
    }

    public func forward(_ inputs: [Tensor], mode: ForwardMode) -> Tensor {
        let x = inputs[0]
        if observing {
            for i in 0..<x.count {
                let v = x[i]
                observedMin = min(observedMin, v); observedMax = max(observedMax, v)
                seen += 1
                if reservoir.count < FakeQuantize.reservoirSize { reservoir.append(v) }
                else { let j = rng.int(below: seen); if j < FakeQuantize.reservoirSize { reservoir[j] = v } }
            }
            return x
        }
        let p: QuantMath.Affine
        if dynamic {
            var lo = Float.infinity, hi = -Float.infinity
            for i in 0..<x.count { lo = min(lo, x[i]); hi = max(hi, x[i]) }
            p = QuantMath.Affine(min: lo, max: hi)
        } else {
            p = params ?? QuantMath.Affine(min: 0, max: 0)
        }
        lastParams = p
        output.resize(x.shape)
        let y = output
        let per = x.sampleSize
        Parallel.forSlices(x.batch) { _, r in
            // p.fakeQuantize(x) elementwise, vectorised in C.
            bs_q_fake_quantize(x.data + r.lowerBound * per, r.count * per, p.scale, p.zeroPoint, p.qmin, p.qmax, y.data + r.lowerBound * per)
        }
        return output
    }

    public func backward(_ gradOutput: Tensor, inputs: [Tensor], needInputGrad: [Bool]) -> [Tensor?] {
        guard needInputGrad[0] else { return [nil] }
        guard let p = lastParams, !observing else { return [gradOutput] }
        let x = inputs[0], window = p.clipRange
        gradInput.resize(x.shape)
        bs_q_straight_through(x.data, gradOutput.data, x.count, window.lowerBound, window.upperBound, gradInput.data)
        return [gradInput]
    }
}

/// Quantization arithmetic shared by the fake-quant surrogate and the integer path, so both
/// round identically.
///
/// Rounding: round half to even (`nearbyint`, as PyTorch's `torch.round` and FBGEMM do).
/// Worked examples with scale 0.5, zero point 0: 0.25 → 0 (0.5 ties to even 0), 0.75 → 2
/// (1.5 → 2), −0.25 → 0, 63.9 → 127 after clamping at qmax 127.
public enum QuantMath {
    @inline(__always)
    public static func roundEven(_ x: Float) -> Float { x.rounded(.toNearestOrEven) }

    /// Affine per-tensor parameters for values in [lo, hi] on integers qmin…qmax (PyTorch
    /// MinMaxObserver): the range is widened to include 0 so that real 0 is exactly representable
    /// (zero padding, ReLU); scale = (hi − lo)/(qmax − qmin); zero point = qmin − round(lo/scale).
    public struct Affine: Sendable, Equatable, Codable {
        public var scale: Float
        public var zeroPoint: Int32
        public var qmin: Int32
        public var qmax: Int32

        public init(scale: Float, zeroPoint: Int32, qmin: Int32 = 0, qmax: Int32 = 255) {
            self.scale = scale; self.zeroPoint = zeroPoint; self.qmin = qmin; self.qmax = qmax
        }

        public init(min lo: Float, max hi: Float, qmin: Int32 = 0, qmax: Int32 = 255) {
            let l = Swift.min(lo, 0), h = Swift.max(hi, 0)
            // A constant-zero tensor still needs a positive scale.
            let s = h > l ? (h - l) / Float(qmax - qmin) : 1
            let z = Int32(QuantMath.roundEven(Float(qmin) - l / s))
            self.init(scale: s, zeroPoint: Swift.min(Swift.max(z, qmin), qmax), qmin: qmin, qmax: qmax)
        }

        /// The integer code of x.
        @inline(__always)
        public func quantize(_ x: Float) -> Int32 {
            let q = QuantMath.roundEven(x / scale) + Float(zeroPoint)
            return Int32(Swift.min(Swift.max(q, Float(qmin)), Float(qmax)))
        }

        /// x rounded onto the grid: (q − z)·s.
        @inline(__always)
        public func fakeQuantize(_ x: Float) -> Float { Float(quantize(x) - zeroPoint) * scale }

        /// The real values that quantize without clipping (the straight-through window).
        public var clipRange: ClosedRange<Float> { (Float(qmin - zeroPoint) * scale)...(Float(qmax - zeroPoint) * scale) }
    }

    /// Symmetric per-output-channel weight quantization of w [OUT, …]: scale_o = max|w_o| / qmax,
    /// q = clamp(round(w/scale_o), −qmax − 1, qmax). Bits 8 → −128…127 (values reach ±127),
    /// bits 4 → −8…7.
    public static func perChannelSymmetric(_ w: [Float], outChannels: Int, bits: Int) -> (q: [Int8], scales: [Float]) {
        let qmax = Float((1 << (bits - 1)) - 1), qmin = -qmax - 1
        let per = w.count / outChannels
        var q = [Int8](repeating: 0, count: w.count)
        var scales = [Float](repeating: 1, count: outChannels)
        for o in 0..<outChannels {
            var m: Float = 0
            for i in 0..<per { m = max(m, abs(w[o * per + i])) }
            let s = m > 0 ? m / qmax : 1
            scales[o] = s
            for i in 0..<per { q[o * per + i] = Int8(min(max(roundEven(w[o * per + i] / s), qmin), qmax)) }
        }
        return (q, scales)
    }

    /// Per-tensor symmetric int8 (the study's dynamic Linear weights): one scale max|w|/127.
    public static func perTensorSymmetric(_ w: [Float], bits: Int) -> (q: [Int8], scale: Float) {
        let (q, s) = perChannelSymmetric(w, outChannels: 1, bits: bits)
        return (q, s[0])
    }

    /// The study's INT4: per tensor, 16 asymmetric levels between min and max:
    /// w ↦ min + round((w − min)/step)·step with step = (max − min)/15.
    public static func minMaxLevels(_ w: [Float], levels: Int = 16) -> [Float] {
        guard let lo = w.min(), let hi = w.max(), hi > lo else { return w }
        let step = (hi - lo) / Float(levels - 1)
        return w.map { lo + roundEven(($0 - lo) / step) * step }
    }

    /// ‖a − b‖₂ / ‖a‖₂ (0 when a is zero).
    public static func relativeL2(_ a: [Float], _ b: [Float]) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(x) * Double(x) }
        return den > 0 ? (num / den).squareRoot() : 0
    }
}

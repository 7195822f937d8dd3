/// IEEE 754 binary16 ↔ binary32 by bit manipulation (Swift's `Float16` is missing on Intel macOS).
///
/// Half → float is exact for every bit pattern: subnormals (exponent field 0) become
/// `mantissa × 2⁻²⁴`, infinities stay infinite and NaNs keep their sign and payload.
/// Float → half rounds to nearest, ties to even, as numpy's `astype(np.float16)` does:
///
/// | float          | half bits | half value          |
/// |----------------|-----------|---------------------|
/// | 65504          | 0x7bff    | 65504 (largest)     |
/// | 65520          | 0x7c00    | +inf (tie → even)   |
/// | 2⁻²⁴           | 0x0001    | smallest subnormal  |
/// | 2⁻²⁵           | 0x0000    | 0 (tie → even)      |
/// | 1 + 2⁻¹¹       | 0x3c00    | 1 (tie → even)      |
public enum NPYFloat16 {
    public static func float(fromBits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1f
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24  // zero or subnormal, exact
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 {
            return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))  // inf or NaN (payload kept)
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    public static func bits(from f: Float) -> UInt16 {
        let b = f.bitPattern
        let sign = UInt16(truncatingIfNeeded: (b >> 16) & 0x8000)
        let exponent = Int((b >> 23) & 0xff)
        let mantissa = b & 0x7f_ffff
        if exponent == 255 {  // inf, NaN (kept quiet, top payload bits kept)
            return sign | 0x7c00 | (mantissa == 0 ? 0 : 0x200 | UInt16(truncatingIfNeeded: mantissa >> 13))
        }
        let e = exponent - 112  // the half's biased exponent
        if e >= 31 { return sign | 0x7c00 }
        if e <= 0 {  // half subnormal or zero: keep (1.mantissa) >> (14 - e) bits, rounded
            if e < -10 { return sign }
            let m = mantissa | 0x80_0000
            let shift = UInt32(14 - e)
            let half = UInt32(1) << (shift - 1)
            let rest = m & ((UInt32(1) << shift) - 1)
            var h = m >> shift
            if rest > half || (rest == half && h & 1 == 1) { h += 1 }
            return sign | UInt16(h)
        }
        var h = UInt32(e << 10) | (mantissa >> 13)
        let rest = mantissa & 0x1fff
        if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }  // a carry may reach inf: correct
        return sign | UInt16(h)
    }
}

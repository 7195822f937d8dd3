/// Crop-and-resize for the original GTSRB images (Stallkamp et al. 2011): each photo is cut to its
/// annotated ROI box and scaled to 32×32, as the gtsrb32 record files were made.
///
/// Bilinear with the half-pixel-centre convention of OpenCV `INTER_LINEAR` (and PIL without
/// antialias): output pixel d samples source coordinate s = (d + 0.5)·(in/out) − 0.5, clamped to the
/// crop (edge pixels repeat), so nothing outside the ROI leaks in. Values round to nearest.
/// Worked example: a 2-pixel row [0, 64] scaled to 32 gives at d = 16: s = 16.5/16 − 0.5 = 0.53125,
/// value 0.53125 · 64 = 34.
enum BilinearResize {
    /// Source index pair and weight of the second one, per output coordinate.
    private static func taps(inCount: Int, outCount: Int) -> (lo: [Int], hi: [Int], frac: [Float]) {
        var lo = [Int](repeating: 0, count: outCount), hi = lo
        var frac = [Float](repeating: 0, count: outCount)
        let scale = Double(inCount) / Double(outCount)
        for d in 0..<outCount {
            let s = max((Double(d) + 0.5) * scale - 0.5, 0)
            var i0 = Int(s.rounded(.down))
            var f = Float(s - Double(i0))
            if i0 >= inCount - 1 { i0 = inCount - 1; f = 0 }
            lo[d] = i0
            hi[d] = min(i0 + 1, inCount - 1)
            frac[d] = f
        }
        return (lo, hi, frac)
    }

    /// Crops the inclusive box x1…x2 × y1…y2 of an interleaved-RGB image (`srcWidth` pixels a row)
    /// and writes it resized to planar RGB `outHeight`×`outWidth` at `out`.
    static func cropResize(_ src: UnsafePointer<UInt8>, srcWidth: Int,
                           x1: Int, y1: Int, x2: Int, y2: Int,
                           outWidth: Int, outHeight: Int, into out: UnsafeMutablePointer<UInt8>) {
        let cw = x2 - x1 + 1, ch = y2 - y1 + 1
        precondition(cw >= 1 && ch >= 1, "empty crop box")
        let tx = taps(inCount: cw, outCount: outWidth)
        let ty = taps(inCount: ch, outCount: outHeight)
        let plane = outWidth * outHeight
        for oy in 0..<outHeight {
            let fy = ty.frac[oy]
            let row0 = src + ((y1 + ty.lo[oy]) * srcWidth + x1) * 3
            let row1 = src + ((y1 + ty.hi[oy]) * srcWidth + x1) * 3
            for ox in 0..<outWidth {
                let fx = tx.frac[ox], a = tx.lo[ox] * 3, b = tx.hi[ox] * 3
                for c in 0..<3 {
                    let top = Float(row0[a + c]) + fx * (Float(row0[b + c]) - Float(row0[a + c]))
                    let bottom = Float(row1[a + c]) + fx * (Float(row1[b + c]) - Float(row1[a + c]))
                    let v = top + fy * (bottom - top)
                    out[c * plane + oy * outWidth + ox] = UInt8(min(max(v + 0.5, 0), 255))
                }
            }
        }
    }
}

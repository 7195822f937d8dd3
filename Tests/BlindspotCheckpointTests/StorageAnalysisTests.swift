import BlindspotCheckpoint
import BlindspotCore
import BlindspotEngine
import XCTest

/// Grid inference: quantized-then-dequantized weights are recognised, ordinary FP32 weights not.
final class StorageAnalysisTests: XCTestCase {
    func weights(_ out: Int, _ per: Int, seed: UInt64) -> [Float] {
        var rng = SeededRNG(seed: seed)
        return (0..<(out * per)).map { _ in rng.normal() * 0.1 }
    }

    /// Symmetric per-channel rounding as a deployment does it, written independently here.
    func onGrid(_ w: [Float], out: Int, qmax: Float) -> [Float] {
        let per = w.count / out
        var r = w
        for o in 0..<out {
            let m = w[(o * per)..<(o * per + per)].map { abs($0) }.max()!, s = m / qmax
            for i in 0..<per { r[o * per + i] = min(max((w[o * per + i] / s).rounded(), -qmax - 1), qmax) * s }
        }
        return r
    }

    func testGridsAreRecognisedAndPlainWeightsAreNot() {
        let w = weights(16, 288, seed: 1)
        XCTAssertEqual(StorageAnalysis.grid(of: Tensor(shape: [16, 32, 3, 3], values: w)), .none)
        XCTAssertEqual(StorageAnalysis.grid(of: Tensor(shape: [16, 32, 3, 3], values: onGrid(w, out: 16, qmax: 127))), .int8PerChannel)
        XCTAssertEqual(StorageAnalysis.grid(of: Tensor(shape: [16, 32, 3, 3], values: onGrid(w, out: 16, qmax: 7))), .int4PerChannel)
        // The study's INT4: 16 min–max levels over the whole tensor.
        let lo = w.min()!, hi = w.max()!, step = (hi - lo) / 15
        let levels = w.map { lo + (($0 - lo) / step).rounded() * step }
        XCTAssertEqual(StorageAnalysis.grid(of: Tensor(shape: [16, 288], values: levels)), .int4PerTensorAsymmetric)
        // A small first-layer kernel (27 weights per channel) of plain floats is not mistaken for a grid.
        let small = weights(32, 27, seed: 2)
        XCTAssertEqual(StorageAnalysis.grid(of: Tensor(shape: [32, 3, 3, 3], values: small)), .none)
    }
}

import BlindspotCore
import BlindspotEngine
import BlindspotQuantization
import XCTest
import _BlindspotKernels

/// The GEMM with requantization fused into its output loop (bs_qgemm.h): the packed VNNI kernel,
/// the AVX2 and scalar GEMMs followed by the scalar epilogue, and a Swift evaluation of the
/// documented formula must all give the same bytes / floats.
final class FusedRequantizationTests: XCTestCase {
    func testFusedGEMMImplementationsAgreeWithTheDefinition() {
        var rng = SeededRNG(seed: 21, stream: "qgemm")
        var clamped = 0, total = 0
        let shapes: [(m: Int, n: Int, k: Int)] = [(1, 1, 1), (3, 16, 4), (9, 17, 27), (17, 33, 5), (8, 32, 288), (5, 64, 65), (12, 15, 3), (2, 130, 576)]
        for (m, n, k) in shapes {
            let a = (0..<(m * k)).map { _ in UInt8(truncatingIfNeeded: rng.int(below: 256)) }
            let bt = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: rng.int(below: 256) - 128) }
            // Scales that put most values inside the output grid (so rounding, not clamping, is
            // what gets compared) and some outside it.
            // (Each product has standard deviation ≈ 11,000.)
            let spread = Float(k).squareRoot() * 11_000
            let offset = (0..<n).map { _ in Int32(rng.uniform(-0.4, 0.4) * spread) }
            let mult = (0..<n).map { _ in rng.uniform(0.3, 0.8) / spread }
            var packed = [Int8](repeating: 0, count: bs_qgemm_packed_size(Int32(n), Int32(k)))
            bs_qgemm_pack(Int32(n), Int32(k), bt, k, &packed)
            var scratch = [Int32](repeating: 0, count: m * n)
            // The definition, in Swift with Int64 products.
            func v(_ i: Int, _ j: Int) -> Float {
                var acc: Int64 = 0
                for p in 0..<k { acc += Int64(a[i * k + p]) * Int64(bt[j * k + p]) }
                return Float(Int32(truncatingIfNeeded: acc) &+ offset[j]) * mult[j]
            }
            for relu in [false, true] {
                let out = QuantMath.Affine(scale: 0.011, zeroPoint: 97)
                var expectedCodes = [UInt8](repeating: 0, count: m * n), expectedFloats = [Float](repeating: 0, count: m * n)
                for i in 0..<m { for j in 0..<n {
                    let value = v(i, j)
                    let q = out.quantize(relu ? max(value, 0) : value)
                    expectedCodes[i * n + j] = UInt8(q)
                    expectedFloats[i * n + j] = relu ? max(value, 0) : value
                } }
                for impl: Int32 in 0...2 {
                    var codes = [UInt8](repeating: 0, count: m * n), floats = [Float](repeating: .nan, count: m * n)
                    let ran: Int32 = offset.withUnsafeBufferPointer { off in mult.withUnsafeBufferPointer { mu in
                        codes.withUnsafeMutableBytes { cb in floats.withUnsafeMutableBytes { fb in
                            var e = bs_qepilogue(offset: off.baseAddress, mult: mu.baseAddress, mode: Int32(BS_QOUT_CODES), relu: relu ? 1 : 0,
                                                 out_scale: out.scale, out_zero_point: out.zeroPoint, out_qmin: 0, out_qmax: 255, out: cb.baseAddress, ldo: n)
                            let r1 = bs_qgemm_fused_impl(impl, Int32(m), Int32(n), Int32(k), a, k, bt, k, packed, &scratch, &e)
                            (e.mode, e.out) = (Int32(BS_QOUT_FLOAT), fb.baseAddress)
                            let r2 = bs_qgemm_fused_impl(impl, Int32(m), Int32(n), Int32(k), a, k, bt, k, packed, &scratch, &e)
                            return r1 & r2
                        } }
                    } }
                    guard ran == 1 else { continue }   // not on this CPU
                    let label = "impl \(impl) \(m)x\(n)x\(k) relu \(relu)"
                    XCTAssertEqual(codes, expectedCodes, label)
                    if impl == 0, !relu { clamped += expectedCodes.filter { $0 == 0 || $0 == 255 }.count; total += m * n }
                    XCTAssertEqual(floats.map(\.bitPattern), expectedFloats.map(\.bitPattern), label)
                }
            }
        }
        XCTAssertLessThan(Double(clamped), 0.2 * Double(total), "most codes are rounded, not clamped")
        XCTAssertGreaterThan(clamped, 0, "some codes are clamped")
    }
}

/// FakeQuantize's vectorised forward equals QuantMath's scalar definition bit for bit, ties
/// (exact half steps, which round to even) and values beyond both clamps included.
final class FakeQuantizeLayerTests: XCTestCase {
    func testLayerForwardEqualsTheScalarDefinition() throws {
        let p = QuantMath.Affine(scale: 0.25, zeroPoint: 37)
        var values: [Float] = (-200...200).map { Float($0) * 0.125 }       // every half step of 0.25: ties
        var rng = SeededRNG(seed: 5)
        values += (0..<999).map { _ in rng.normal() * 30 }
        let layer = FakeQuantize(dynamic: false)
        layer.params = p
        let y = layer.forward([Tensor(shape: [1, values.count], values: values)], mode: .inference).toArray()
        XCTAssertEqual(y.map(\.bitPattern), values.map { p.fakeQuantize($0).bitPattern })
        XCTAssertEqual(layer.forward([Tensor(shape: [1, 2], values: [0.125, 0.375])], mode: .inference).toArray(), [0, 0.5], "ties to even: 0.5 → 0, 1.5 → 2 steps")
    }
}

import Foundation
import XCTest
import _BlindspotKernels

/// Exactness of the uint8 × int8 → int32 GEMM (bs_int8.h): every SIMD implementation must equal
/// the scalar reference bit for bit, and the scalar reference must equal a plain Swift Int64 loop.
final class Int8GEMMTests: XCTestCase {
    /// 0 = scalar reference, 1 = AVX2, 2 = AVX-512 VNNI.
    static let implNames = ["scalar", "avx2", "avx512-vnni"]

    /// SplitMix64, so failures reproduce.
    private struct RNG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A GEMM problem in 64-byte-aligned storage, with optional padding of every row
    /// (lda > k, ldb > k, ldc > n) and base pointers of A and Bt shifted by `offset` bytes.
    /// C's padding holds a sentinel so stray writes are caught.
    private final class Problem {
        let m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
        let aRaw: UnsafeMutableRawPointer, bRaw: UnsafeMutableRawPointer
        let cRaw: UnsafeMutableRawPointer
        let a: UnsafeMutablePointer<UInt8>, b: UnsafeMutablePointer<Int8>
        let c: UnsafeMutablePointer<Int32>
        static let sentinel: Int32 = 0x5A5A_5A5A

        init(m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil, offset: Int = 0) {
            self.m = m; self.n = n; self.k = k
            self.lda = lda ?? k; self.ldb = ldb ?? k; self.ldc = ldc ?? n
            aRaw = .allocate(byteCount: max(1, m * self.lda) + offset, alignment: 64)
            bRaw = .allocate(byteCount: max(1, n * self.ldb) + offset, alignment: 64)
            // C offset by one int32 (naturally aligned, but not to the vector width) when shifting.
            cRaw = .allocate(byteCount: (max(1, m * self.ldc) + 1) * 4, alignment: 64)
            a = (aRaw + offset).bindMemory(to: UInt8.self, capacity: max(1, m * self.lda))
            b = (bRaw + offset).bindMemory(to: Int8.self, capacity: max(1, n * self.ldb))
            c = (cRaw + (offset != 0 ? 4 : 0)).bindMemory(to: Int32.self, capacity: max(1, m * self.ldc))
            a.initialize(repeating: 0, count: max(1, m * self.lda))
            b.initialize(repeating: 0, count: max(1, n * self.ldb))
            clearC()
        }
        deinit { aRaw.deallocate(); bRaw.deallocate(); cRaw.deallocate() }

        func clearC() { c.initialize(repeating: Problem.sentinel, count: max(1, m * ldc)) }

        /// Fills the m×k / n×k payload (padding keeps whatever it held: make it random too).
        func fill(_ fa: (Int, Int) -> UInt8, _ fb: (Int, Int) -> Int8) {
            for i in 0..<m { for p in 0..<k { a[i * lda + p] = fa(i, p) } }
            for j in 0..<n { for p in 0..<k { b[j * ldb + p] = fb(j, p) } }
        }

        func run(_ impl: Int32) -> Bool {
            clearC()
            return bs_gemm_u8s8s32_impl(impl, Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(ldb),
                                        c, Int32(ldc)) != 0
        }

        /// The C matrix (m×n) and whether every padding entry still holds the sentinel.
        func result() -> (values: [Int32], paddingIntact: Bool) {
            var v = [Int32](); v.reserveCapacity(m * n)
            var intact = true
            for i in 0..<m {
                for j in 0..<ldc {
                    let x = c[i * ldc + j]
                    if j < n { v.append(x) } else if x != Problem.sentinel { intact = false }
                }
            }
            return (v, intact)
        }

        /// Plain Swift Int64 triple loop.
        func reference() -> [Int64] {
            var r = [Int64](repeating: 0, count: m * n)
            for i in 0..<m {
                for j in 0..<n {
                    var s: Int64 = 0
                    for p in 0..<k { s += Int64(a[i * lda + p]) * Int64(b[j * ldb + p]) }
                    r[i * n + j] = s
                }
            }
            return r
        }
    }

    private var available: [Int32] {
        (0...2).filter { impl in
            let p = Problem(m: 1, n: 1, k: 1)
            return p.run(Int32(impl))
        }.map { Int32($0) }
    }

    /// Runs every available implementation on `p` and checks it against the Swift reference
    /// (which the scalar C reference must equal too). Returns the number of mismatching cases.
    @discardableResult
    private func checkAll(_ p: Problem, _ label: String, file: StaticString = #filePath, line: UInt = #line) -> Int {
        let ref = p.reference()
        for r in ref {
            precondition(r >= Int64(Int32.min) && r <= Int64(Int32.max), "test problem exceeds int32")
        }
        let expected = ref.map { Int32($0) }
        var failures = 0
        for impl in available {
            XCTAssertTrue(p.run(impl), "\(label): impl \(impl) refused", file: file, line: line)
            let (got, intact) = p.result()
            if got != expected {
                failures += 1
                let idx = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? 0
                XCTFail("\(label): \(Self.implNames[Int(impl)]) differs at C[\(idx / p.n)][\(idx % p.n)]: "
                        + "\(got[idx]) vs exact \(expected[idx])", file: file, line: line)
            }
            if !intact {
                failures += 1
                XCTFail("\(label): \(Self.implNames[Int(impl)]) wrote into C's row padding", file: file, line: line)
            }
        }
        return failures
    }

    func testScalarReferenceIsAlwaysAvailable() {
        XCTAssertTrue(available.contains(0))
    }

    func testRandomShapesWithTails() {
        var rng = RNG(state: 42)
        let dims = [1, 3, 4, 5, 17, 64]
        let ks = [1, 3, 4, 31, 32, 33, 64, 65, 127, 576]
        var failures = 0
        for m in dims {
            for n in dims {
                for k in ks {
                    let p = Problem(m: m, n: n, k: k)
                    p.fill({ _, _ in UInt8(truncatingIfNeeded: rng.next()) },
                           { _, _ in Int8(truncatingIfNeeded: rng.next()) })
                    failures += checkAll(p, "random m=\(m) n=\(n) k=\(k)")
                    if failures > 10 { return }
                }
            }
        }
    }

    func testExtremeValuesCatchSaturation() {
        // 255·127 pairs overflow int16 (vpmaddubsw would saturate at 32767); likewise 255·(−128).
        for (bv, label) in [(Int8(127), "A=255,B=127"), (Int8(-128), "A=255,B=-128")] {
            for (m, n, k) in [(5, 7, 576), (4, 3, 576), (17, 5, 33), (1, 1, 1), (3, 5, 127), (2, 2, 65536)] {
                let p = Problem(m: m, n: n, k: k)
                p.fill({ _, _ in 255 }, { _, _ in bv })
                checkAll(p, "\(label) m=\(m) n=\(n) k=\(k)")
                let want = Int32(255 * Int(bv) * k)
                _ = p.run(0)
                XCTAssertEqual(p.c[0], want, "\(label) k=\(k) closed form")
            }
        }
        // Adjacent products of opposite sign and mixed extremes (every combination of pairs).
        let p = Problem(m: 6, n: 9, k: 576)
        p.fill({ i, q in [0, 255, 1, 128, 127, 254][(i + q) % 6] },
               { j, q in [-128, 127, -1, 0, 1, -127, 126, -128, 127][(j * 7 + q) % 9] })
        checkAll(p, "mixed extremes")
    }

    func testLeadingDimensionsAndUnalignedPointers() {
        var rng = RNG(state: 7)
        var failures = 0
        for (m, n, k) in [(5, 17, 33), (17, 5, 576), (64, 64, 127), (1, 64, 65), (64, 1, 31), (4, 3, 64),
                          (3, 4, 1), (13, 11, 200)] {
            for offset in [0, 1] {
                let p = Problem(m: m, n: n, k: k, lda: k + 13, ldb: k + 1, ldc: n + 3, offset: offset)
                // Random bytes in the padding too: the kernel must not read them into the sums.
                for i in 0..<(m * p.lda) { p.a[i] = UInt8(truncatingIfNeeded: rng.next()) }
                for i in 0..<(n * p.ldb) { p.b[i] = Int8(truncatingIfNeeded: rng.next()) }
                failures += checkAll(p, "ld m=\(m) n=\(n) k=\(k) offset=\(offset)")
                if failures > 10 { return }
            }
        }
    }

    func testDegenerateSizes() {
        // k = 0: C is all zeros (and nothing beyond it is touched).
        let p = Problem(m: 3, n: 5, k: 0, lda: 1, ldb: 1, ldc: 6)
        for impl in available {
            XCTAssertTrue(p.run(impl))
            let (got, intact) = p.result()
            XCTAssertEqual(got, [Int32](repeating: 0, count: 15), "k=0 \(Self.implNames[Int(impl)])")
            XCTAssertTrue(intact)
        }
        // m = 0 or n = 0: nothing written.
        let q = Problem(m: 2, n: 2, k: 8)
        for impl in available {
            q.clearC()
            XCTAssertEqual(bs_gemm_u8s8s32_impl(impl, 0, 2, 8, q.a, 8, q.b, 8, q.c, 2), 1)
            XCTAssertEqual(bs_gemm_u8s8s32_impl(impl, 2, 0, 8, q.a, 8, q.b, 8, q.c, 2), 1)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: q.c, count: 4)), [Int32](repeating: Problem.sentinel, count: 4))
        }
    }

    func testDispatchMatchesCPUFeatures() {
        let name = String(cString: bs_int8_kernel_name())
        let vnni = bs_cpu_has_avx512_vnni() != 0, avx2 = bs_cpu_has_avx2_fma() != 0
        let expected = vnni ? "avx512-vnni" : avx2 ? "avx2" : "scalar"
        XCTAssertEqual(name, expected)
        XCTAssertEqual(available.contains(2), vnni)
        XCTAssertEqual(available.contains(1), avx2)
        // Unknown implementations refuse and do nothing.
        let p = Problem(m: 2, n: 2, k: 4)
        XCTAssertEqual(bs_gemm_u8s8s32_impl(3, 2, 2, 4, p.a, 4, p.b, 4, p.c, 2), 0)
        XCTAssertEqual(bs_gemm_u8s8s32_impl(-1, 2, 2, 4, p.a, 4, p.b, 4, p.c, 2), 0)
        XCTAssertEqual(p.c[0], Problem.sentinel)
        // The public entry point agrees with the scalar reference.
        var rng = RNG(state: 3)
        let r = Problem(m: 9, n: 10, k: 100)
        r.fill({ _, _ in UInt8(truncatingIfNeeded: rng.next()) }, { _, _ in Int8(truncatingIfNeeded: rng.next()) })
        r.clearC()
        bs_gemm_u8s8s32(9, 10, 100, r.a, 100, r.b, 100, r.c, 10)
        let got = r.result().values
        XCTAssertEqual(got, r.reference().map { Int32($0) })
        print("Int8 GEMM dispatch: \(name)")
    }

    /// Prints GOP/s (2·m·n·k per second, single thread, best of several runs) for m=n=256, k=576.
    func testThroughputReport() {
        let (m, n, k) = (256, 256, 576)
        var rng = RNG(state: 11)
        let p = Problem(m: m, n: n, k: k)
        p.fill({ _, _ in UInt8(truncatingIfNeeded: rng.next()) }, { _, _ in Int8(truncatingIfNeeded: rng.next()) })
        let ops = 2.0 * Double(m * n * k)
        var report: [String] = []
        for impl in available {
            let reps = impl == 0 ? 5 : 50
            var best = Double.infinity
            for _ in 0..<reps {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = bs_gemm_u8s8s32_impl(impl, Int32(m), Int32(n), Int32(k), p.a, Int32(k), p.b, Int32(k), p.c, Int32(n))
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                best = min(best, dt)
            }
            report.append(String(format: "%@ %.1f GOP/s", Self.implNames[Int(impl)], ops / best / 1e9))
        }
        print("Int8 GEMM m=n=256 k=576 (dispatch: \(String(cString: bs_int8_kernel_name()))): "
              + report.joined(separator: ", "))
    }
}

import BlindspotCore
import BlindspotEngine
import CHDF5
import XCTest
import _BlindspotKernels

/// Fast kernels against their naive references.
final class KernelTests: XCTestCase {
    func testBLASLoadsWithAFastCoreWhereTheCPUHasOne() {
        XCTAssertEqual(bs_blas_init(), 1, "OpenBLAS did not load: \(String(cString: bs_blas_status()))")
        let core = String(cString: bs_blas_corename())
        if bs_cpu_has_avx512() != 0 && bs_blas_coretype_from_env() == 0 {
            XCTAssertEqual(core, "SkylakeX", "AVX-512 CPU but OpenBLAS runs \(core) kernels")
        } else if bs_cpu_has_avx2_fma() != 0 && bs_blas_coretype_from_env() == 0 {
            XCTAssertEqual(core, "Haswell")
        }
    }

    func testSGEMMAgainstNaiveForEveryTransposition() {
        let (m, n, k) = (37, 29, 53)
        for ta in [false, true] {
            for tb in [false, true] {
                let a = randomTensor(ta ? [k, m] : [m, k], seed: 1)
                let b = randomTensor(tb ? [n, k] : [k, n], seed: 2)
                let ref = Reference.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a, b: b)
                let c = Tensor(shape: [m, n])
                c.fill(1)  // beta = 0 must ignore what was there
                bs_sgemm(ta ? 1 : 0, tb ? 1 : 0, Int32(m), Int32(n), Int32(k), 1, a.data, Int32(ta ? m : k), b.data, Int32(tb ? k : n), 0, c.data, Int32(n))
                var worst: Float = 0
                for i in 0..<c.count { worst = max(worst, abs(c[i] - ref[i])) }
                XCTAssertLessThan(worst, 1e-4, "transA \(ta) transB \(tb)")
            }
        }
    }

    func testConvForwardMatchesDirectConvolution() throws {
        Parallel.workers = 2
        let cases: [(Conv2d, [Int])] = [
            (Conv2d(inChannels: 3, outChannels: 8, kernel: 3, padding: .symmetric(1)), [5, 3, 9, 9]),
            (Conv2d(inChannels: 4, outChannels: 6, kernel: 3, stride: 2, padding: Padding(top: 0, left: 1, bottom: 1, right: 0), bias: false), [3, 4, 10, 7]),
            (Conv2d(inChannels: 5, outChannels: 7, kernel: 1, stride: 2, bias: false), [2, 5, 8, 8]),
            (Conv2d(inChannels: 2, outChannels: 3, kernel: 5, padding: .symmetric(2)), [130, 2, 6, 6]),  // many images
            // K·OW exceeds the band budget: several row bands per image, 'same' and 'valid'.
            (Conv2d(inChannels: 64, outChannels: 4, kernel: 3, padding: .symmetric(1)), [2, 64, 32, 32]),
            (Conv2d(inChannels: 64, outChannels: 4, kernel: 3), [2, 64, 32, 32]),
        ]
        for (i, (conv, shape)) in cases.enumerated() {
            let m = Model(name: "c", inputShape: Array(shape.dropFirst()))
            try m.add("conv", conv)
            Initialization.heNormal(m, seed: UInt64(i))
            if let b = conv.bias { for o in 0..<b.value.count { b.value[o] = Float(o) * 0.01 } }
            let x = randomTensor(shape, seed: UInt64(10 + i))
            let y = m.forward(x)
            let ref = Reference.conv2d(x, conv)
            XCTAssertEqual(y.shape, ref.shape)
            var worst: Float = 0
            for j in 0..<y.count { worst = max(worst, abs(y[j] - ref[j])) }
            XCTAssertLessThan(worst, 1e-4, "case \(i)")
        }
    }

    func testResultsDoNotDependOnTheWorkerCount() throws {
        func run(_ workers: Int) throws -> ([Float], [Float]) {
            Parallel.workers = workers
            let m = try Architecture.resnet20.build(classes: 10, seed: 5)
            let x = randomTensor([6, 3, 32, 32], seed: 6)
            let y = m.forward(x, mode: .training)
            m.zeroGradients()
            m.backward(randomTensor(y.shape, seed: 7))
            return (y.toArray(), m.parameter(named: "layer2.0.conv1.weight")!.grad.toArray())
        }
        let (y1, g1) = try run(1), (y2, g2) = try run(2)
        XCTAssertEqual(y1, y2, "forward outputs differ between 1 and 2 workers")
        for i in 0..<g1.count { XCTAssertEqual(g1[i], g2[i], accuracy: 1e-4 * max(1, abs(g1[i]))) }
        Parallel.workers = 2
    }

    func testHDF5IsLinked() {
        var (maj, min, rel): (UInt32, UInt32, UInt32) = (0, 0, 0)
        bs_h5_version(&maj, &min, &rel)
        XCTAssertGreaterThanOrEqual(maj * 100 + min, 110, "HDF5 \(maj).\(min).\(rel)")
    }
}

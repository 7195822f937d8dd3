import BlindspotCore
import BlindspotEngine
import Foundation
import _BlindspotKernels

/// What `blindspot bench` measures of the deployed (integer) path: the exact u8×s8→s32 GEMM at
/// the conv shape our engine issues, and a built-in architecture's integer-path inference
/// images/s — the figure that bounds STRIP, Fine-Pruning and every accuracy at deployed precision.
public enum IntegerBenchmark {
    /// GOP/s (2 ops per multiply–accumulate) of the integer program's GEMM — `bs_qgemm_fused` with
    /// packed weights, requantizing to uint8 codes in its output loop — for C[M×N] = A[M×K]·Btᵀ,
    /// run by `threads` workers at once, each its own product.
    public static func gemm(m: Int, n: Int, k: Int, threads: Int, seconds: Double = 1.0) -> Benchmark.GEMMResult {
        var rng = SeededRNG(seed: 1, stream: "bench-int8")
        let a = (0..<threads).map { _ in (0..<(m * k)).map { _ in UInt8(truncatingIfNeeded: rng.int(below: 256)) } }
        let b = (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: rng.int(below: 256) - 128) }
        var packing = [Int8](repeating: 0, count: bs_qgemm_packed_size(Int32(n), Int32(k)))
        bs_qgemm_pack(Int32(n), Int32(k), b, k, &packing)
        let packed = packing
        nonisolated(unsafe) let offset = UnsafeMutablePointer<Int32>.allocate(capacity: n), mult = UnsafeMutablePointer<Float>.allocate(capacity: n)
        offset.initialize(repeating: 0, count: n); mult.initialize(repeating: 1e-6, count: n)
        defer { offset.deallocate(); mult.deallocate() }
        nonisolated(unsafe) let out = (0..<threads).map { _ in UnsafeMutablePointer<UInt8>.allocate(capacity: m * n) }
        nonisolated(unsafe) let scratch = (0..<threads).map { _ in UnsafeMutablePointer<Int32>.allocate(capacity: m * n) }
        defer { for p in out { p.deallocate() }; for p in scratch { p.deallocate() } }
        let saved = Parallel.workers
        Parallel.workers = threads
        defer { Parallel.workers = saved }
        let t = Benchmark.median(repeatFor: seconds) {
            Parallel.forSlices(threads) { w, _ in
                var e = bs_qepilogue(offset: offset, mult: mult, mode: Int32(BS_QOUT_CODES), relu: 1, out_scale: 0.02,
                                     out_zero_point: 0, out_qmin: 0, out_qmax: 255, out: UnsafeMutableRawPointer(out[w]), ldo: n)
                bs_qgemm_fused(Int32(m), Int32(n), Int32(k), a[w], k, b, k, packed, scratch[w], &e)
            }
        }
        return Benchmark.GEMMResult(shape: "\(m)x\(n)x\(k)", threads: threads, gflops: 2 * Double(m * n * k * threads) / t / 1e9)
    }

    /// Integer-path inference images/s of `arch` deployed at `scheme`, calibrated on the batch
    /// itself (random data: the speed does not depend on the values).
    public static func inference(_ arch: Architecture, scheme: QuantizationScheme, classes: Int, batch: Int, threads: Int,
                                 seconds: Double = 3) throws -> Double {
        let saved = Parallel.workers
        Parallel.workers = threads
        defer { Parallel.workers = saved }
        let (model, x, _) = try Benchmark.randomBatch(arch, classes: classes, batch: batch)
        let d = try DeployedModel(model, scheme: scheme)
        d.calibrate([x])
        let t = Benchmark.median(repeatFor: seconds) { _ = d.integerForward(x) }
        return Double(batch) / t
    }
}

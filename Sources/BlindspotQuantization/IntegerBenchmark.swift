import BlindspotCore
import BlindspotEngine
import Foundation
import _BlindspotKernels

/// What `blindspot bench` measures of the deployed (integer) path: the exact u8×s8→s32 GEMM at
/// the conv shape our engine issues, and a built-in architecture's integer-path inference
/// images/s — the figure that bounds STRIP, Fine-Pruning and every accuracy at deployed precision.
public enum IntegerBenchmark {
    /// GOP/s (2 ops per multiply–accumulate) of `bs_gemm_u8s8s32` for C[M×N] = A[M×K]·Btᵀ, run by
    /// `threads` workers at once, each its own product.
    public static func gemm(m: Int, n: Int, k: Int, threads: Int, seconds: Double = 1.0) -> Benchmark.GEMMResult {
        var rng = SeededRNG(seed: 1, stream: "bench-int8")
        let a = (0..<threads).map { _ in (0..<(m * k)).map { _ in UInt8(truncatingIfNeeded: rng.int(below: 256)) } }
        let b = (0..<threads).map { _ in (0..<(n * k)).map { _ in Int8(truncatingIfNeeded: rng.int(below: 256) - 128) } }
        nonisolated(unsafe) let c = (0..<threads).map { _ in UnsafeMutablePointer<Int32>.allocate(capacity: m * n) }
        defer { for p in c { p.deallocate() } }
        let saved = Parallel.workers
        Parallel.workers = threads
        defer { Parallel.workers = saved }
        let t = Benchmark.median(repeatFor: seconds) {
            Parallel.forSlices(threads) { w, _ in
                bs_gemm_u8s8s32(Int32(m), Int32(n), Int32(k), a[w], Int32(k), b[w], Int32(k), c[w], Int32(n))
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

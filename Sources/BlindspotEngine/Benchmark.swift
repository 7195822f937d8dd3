import BlindspotCore
import Foundation
import _BlindspotKernels

/// Multiply–accumulate counts of a model's conv and linear layers, for GFLOP/s figures.
public struct WorkCount: Sendable, Codable, Equatable {
    /// MACs per image in the forward pass.
    public var forwardMACs: Int
    /// MACs per image in a training step: forward + weight gradient + input gradient (the first
    /// layer computes no input gradient).
    public var trainingMACs: Int

    public init(_ model: Model) {
        var fwd = 0, train = 0
        for (i, node) in model.nodes.enumerated() {
            let out = model.shapes[i], input = node.inputs.first.map { model.shapes[$0] } ?? []
            var macs = 0
            if let conv = node.layer as? Conv2d {
                macs = out.reduce(1, *) * conv.inChannels * conv.kernel.h * conv.kernel.w
            } else if let fc = node.layer as? Linear {
                macs = fc.inFeatures * fc.outFeatures
            } else { continue }
            fwd += macs
            train += macs * (node.inputs == [0] ? 2 : 3)
            _ = input
        }
        forwardMACs = fwd
        trainingMACs = train
    }
}

/// What `blindspot bench` measures: BLAS speed for a conv-shaped product and each built-in
/// architecture's training and inference speed at one batch size, on random data.
public enum Benchmark {
    public struct BLASInfo: Sendable, Codable {
        public var core: String
        public var coreTypeChosen: String
        public var coreTypeFromEnvironment: Bool
        public var configuration: String
        public var cpu: String
    }

    public struct GEMMResult: Sendable, Codable {
        public var shape: String
        public var threads: Int
        public var gflops: Double

        public init(shape: String, threads: Int, gflops: Double) { self.shape = shape; self.threads = threads; self.gflops = gflops }
    }

    public struct ModelResult: Sendable, Codable {
        public var architecture: String
        public var parameters: Int
        public var forwardMACsPerImage: Int
        public var batch: Int
        public var threads: Int
        public var trainImagesPerSecond: Double
        public var inferImagesPerSecond: Double
        public var trainGFLOPS: Double
        public var inferGFLOPS: Double
        /// Achieved training GFLOP/s over the sgemm GFLOP/s measured with the same thread count.
        public var trainRatioToSGEMM: Double
        public var inferRatioToSGEMM: Double
        /// Inference images/s on the int8 integer path (filled in by BlindspotQuantization's
        /// `IntegerBenchmark`, which this module cannot see).
        public var int8InferImagesPerSecond: Double?
    }

    public static func blasInfo() -> BLASInfo {
        _ = bs_blas_init()
        let cpu = bs_cpu_has_avx512_vnni() != 0 ? "AVX-512 + VNNI" : bs_cpu_has_avx512() != 0 ? "AVX-512" : bs_cpu_has_avx2_fma() != 0 ? "AVX2 + FMA" : "baseline x86-64"
        return BLASInfo(core: String(cString: bs_blas_corename()), coreTypeChosen: String(cString: bs_blas_chosen_coretype()),
                        coreTypeFromEnvironment: bs_blas_coretype_from_env() != 0, configuration: String(cString: bs_blas_status()), cpu: cpu)
    }

    /// GFLOP/s of C[M×N] = A[M×K]·B[K×N], run by `threads` workers at once (each its own product),
    /// median of repeated runs lasting about `seconds` in total.
    public static func sgemm(m: Int, n: Int, k: Int, threads: Int, seconds: Double = 1.0) -> GEMMResult {
        let bufs = (0..<threads).map { _ in (Tensor(shape: [m, k]), Tensor(shape: [k, n]), Tensor(shape: [m, n])) }
        var rng = SeededRNG(seed: 1, stream: "bench")
        for (a, b, _) in bufs {
            for i in 0..<a.count { a.data[i] = rng.uniform(-1, 1) }
            for i in 0..<b.count { b.data[i] = rng.uniform(-1, 1) }
        }
        let saved = Parallel.workers
        Parallel.workers = threads
        defer { Parallel.workers = saved }
        let seconds = median(repeatFor: seconds) {
            Parallel.forSlices(threads) { w, _ in
                let (a, b, c) = bufs[w]
                bs_sgemm(0, 0, Int32(m), Int32(n), Int32(k), 1, a.data, Int32(k), b.data, Int32(n), 0, c.data, Int32(n))
            }
        }
        return GEMMResult(shape: "\(m)x\(n)x\(k)", threads: threads, gflops: 2 * Double(m * n * k * threads) / seconds / 1e9)
    }

    /// Training (forward, backward, SGD step) and inference images/s of one architecture.
    public static func model(_ arch: Architecture, classes: Int, batch: Int, threads: Int, sgemmGFLOPS: Double, seconds: Double = 3) throws -> ModelResult {
        let saved = Parallel.workers
        Parallel.workers = threads
        defer { Parallel.workers = saved }
        let (model, x, labels) = try randomBatch(arch, classes: classes, batch: batch)
        let loss = SoftmaxCrossEntropy()
        let opt = SGD(parameters: model.parameters, learningRate: 1e-3, momentum: 0.9, weightDecay: 5e-4)
        let params = model.parameters
        let train = median(repeatFor: seconds) {
            for p in params { p.grad.zero() }
            let logits = model.forward(x, mode: .training)
            loss.compute(logits: logits, labels: labels)
            model.backward(loss.gradLogits)
            opt.step()
        }
        let infer = median(repeatFor: seconds / 2) { model.forward(x, mode: .inference) }
        let work = WorkCount(model)
        let trainRate = Double(batch) / train, inferRate = Double(batch) / infer
        let trainG = 2 * Double(work.trainingMACs) * trainRate / 1e9, inferG = 2 * Double(work.forwardMACs) * inferRate / 1e9
        return ModelResult(architecture: arch.rawValue, parameters: model.parameterCount, forwardMACsPerImage: work.forwardMACs,
                           batch: batch, threads: threads, trainImagesPerSecond: trainRate, inferImagesPerSecond: inferRate,
                           trainGFLOPS: trainG, inferGFLOPS: inferG, trainRatioToSGEMM: trainG / sgemmGFLOPS, inferRatioToSGEMM: inferG / sgemmGFLOPS)
    }

    /// Per-layer share of a training step: forward and backward milliseconds per step by node,
    /// aggregated by layer kind, for finding where time goes (`bench --profile`).
    public static func profile(_ arch: Architecture, classes: Int, batch: Int, threads: Int, steps: Int = 5) throws -> [(kind: String, forwardMs: Double, backwardMs: Double)] {
        let saved = Parallel.workers
        Parallel.workers = threads
        defer { Parallel.workers = saved }
        let (model, x, labels) = try randomBatch(arch, classes: classes, batch: batch)
        let loss = SoftmaxCrossEntropy()
        func step() {
            model.zeroGradients()
            loss.compute(logits: model.forward(x, mode: .training), labels: labels)
            model.backward(loss.gradLogits)
        }
        step()
        model.startProfiling()
        for _ in 0..<steps { step() }
        var byKind: [String: (Double, Double)] = [:]
        for (i, n) in model.nodes.enumerated() {
            let kind = n.layer is Conv2d ? "conv2d \((n.layer as! Conv2d).kernel.h)x\((n.layer as! Conv2d).kernel.w)" : n.layer.kind
            let (f, b) = byKind[kind] ?? (0, 0)
            byKind[kind] = (f + model.profile!.forward[i], b + model.profile!.backward[i])
        }
        return byKind.map { ($0.key, 1000 * $0.value.0 / Double(steps), 1000 * $0.value.1 / Double(steps)) }.sorted { $0.forwardMs + $0.backwardMs > $1.forwardMs + $1.backwardMs }
    }

    /// A freshly initialised model and one batch of random inputs and labels.
    public static func randomBatch(_ arch: Architecture, classes: Int, batch: Int) throws -> (Model, Tensor, [Int32]) {
        let model = try arch.build(classes: classes, seed: 1)
        let x = Tensor(shape: [batch] + model.inputShape)
        var rng = SeededRNG(seed: 2, stream: "bench-data")
        for i in 0..<x.count { x.data[i] = rng.normal() }
        return (model, x, (0..<batch).map { _ in Int32(rng.int(below: classes)) })
    }

    /// Median seconds per call of `body`, after one warm-up call, over at least 3 calls and about
    /// `repeatFor` seconds.
    public static func median(repeatFor budget: Double, _ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        let start = monotonicSeconds()
        while times.count < 3 || (monotonicSeconds() - start < budget && times.count < 200) {
            let t0 = monotonicSeconds()
            body()
            times.append(monotonicSeconds() - t0)
        }
        times.sort()
        return times[times.count / 2]
    }
}

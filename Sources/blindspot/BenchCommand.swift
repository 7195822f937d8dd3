import ArgumentParser
import BlindspotCore
import BlindspotEngine
import BlindspotQuantization
import _BlindspotKernels
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure this machine and build: BLAS sgemm speed and each architecture's training and inference images/s.",
        discussion: """
        Random data, batch 128 by default; figures are medians of repeated runs. Compare
        achieved/sgemm ratios across builds, not absolute numbers across machines.
        Examples:
          blindspot bench
          blindspot bench --json --arch cnn6,resnet20
        """
    )

    @Flag(help: "Print the figures as JSON.") var json = false
    @Option(help: "Batch size.") var batch: Int = 128
    @Option(help: "Comma-separated architectures.") var arch: String = Architecture.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Classes of the benchmarked classifiers (43 = GTSRB).") var classes: Int = 43
    @Option(help: "Seconds spent per measurement.") var seconds: Double = 3
    @Flag(help: "Also print where a training step's time goes, by layer kind.") var profile = false
    @OptionGroup var common: CommonOptions

    struct Report: Codable {
        var blas: Benchmark.BLASInfo
        var threads: Int
        var sgemm: [Benchmark.GEMMResult]
        var int8GEMM: [Benchmark.GEMMResult]
        var int8Kernel: String
        var models: [Benchmark.ModelResult]
    }

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if classes < 2 { throw ValidationError("--classes must be at least 2") }
        if !(seconds > 0) { throw ValidationError("--seconds must be positive") }
        for a in arch.split(separator: ",") where Architecture(rawValue: String(a)) == nil {
            throw ValidationError("unknown architecture '\(a)' (known: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func run() throws {
        try reportingErrors {
            let threads = common.threads ?? Parallel.workers
            let progress = ProgressReporter(quiet: common.quiet)
            let info = Benchmark.blasInfo()
            progress.report("BLAS core \(info.core); measuring sgemm…")
            // The conv-shaped product our engine issues: OC 64 × 4096 columns × K 576 (3×3×64).
            var gemms = [Benchmark.sgemm(m: 512, n: 512, k: 512, threads: 1, seconds: seconds / 3),
                         Benchmark.sgemm(m: 64, n: 4096, k: 576, threads: 1, seconds: seconds / 3)]
            if threads > 1 { gemms.append(Benchmark.sgemm(m: 64, n: 4096, k: 576, threads: threads, seconds: seconds / 3)) }
            let reference = gemms.last!.gflops
            // The integer path's product for a 3×3×64 conv on a 32×32 map: 1024 output pixels × 64
            // channels × K 576.
            let int8Kernel = String(cString: bs_int8_kernel_name())
            progress.report("measuring the int8 GEMM (\(int8Kernel))…")
            var int8 = [IntegerBenchmark.gemm(m: 1024, n: 64, k: 576, threads: 1, seconds: seconds / 3)]
            if threads > 1 { int8.append(IntegerBenchmark.gemm(m: 1024, n: 64, k: 576, threads: threads, seconds: seconds / 3)) }
            var models: [Benchmark.ModelResult] = []
            for name in arch.split(separator: ",") {
                let a = Architecture(rawValue: String(name))!
                progress.report("benchmarking \(a.rawValue) at batch \(batch), \(threads) threads…")
                var m = try Benchmark.model(a, classes: classes, batch: batch, threads: threads, sgemmGFLOPS: reference, seconds: seconds)
                m.int8InferImagesPerSecond = try IntegerBenchmark.inference(a, scheme: .int8, classes: classes, batch: batch, threads: threads, seconds: seconds / 2)
                models.append(m)
            }
            let report = Report(blas: info, threads: threads, sgemm: gemms, int8GEMM: int8, int8Kernel: int8Kernel, models: models)
            if json { emit(try jsonString(report)); return }
            var out = "BLAS: OpenBLAS core \(info.core) (chosen \(info.coreTypeChosen.isEmpty ? "by OpenBLAS" : info.coreTypeChosen)\(info.coreTypeFromEnvironment ? " from OPENBLAS_CORETYPE" : " from CPUID")), CPU \(info.cpu)\n"
            out += "       \(info.configuration)\n"
            for g in gemms { out += "sgemm " + pad(g.shape, 14) + pad("\(g.threads) thread\(g.threads == 1 ? "" : "s")", 10) + String(format: "%7.1f GFLOP/s\n", g.gflops) }
            for g in int8 { out += "u8s8s32 " + pad(g.shape, 12) + pad("\(g.threads) thread\(g.threads == 1 ? "" : "s")", 10) + String(format: "%7.1f GOP/s", g.gflops) + " (\(int8Kernel))\n" }
            out += "\n" + pad("model", 16) + lpad("params", 10) + lpad("MAC/img", 9) + lpad("train img/s", 12) + lpad("infer img/s", 12)
                + lpad("train GF/s", 11) + lpad("infer GF/s", 11) + lpad("train/sg", 9) + lpad("infer/sg", 9) + lpad("int8 img/s", 11) + "\n"
            for m in models {
                out += pad(m.architecture, 16) + lpad(String(m.parameters), 10) + lpad(String(format: "%.1fM", Double(m.forwardMACsPerImage) / 1e6), 9)
                    + lpad(String(format: "%.0f", m.trainImagesPerSecond), 12) + lpad(String(format: "%.0f", m.inferImagesPerSecond), 12)
                    + lpad(String(format: "%.1f", m.trainGFLOPS), 11) + lpad(String(format: "%.1f", m.inferGFLOPS), 11)
                    + lpad(String(format: "%.2f", m.trainRatioToSGEMM), 9) + lpad(String(format: "%.2f", m.inferRatioToSGEMM), 9)
                    + lpad(m.int8InferImagesPerSecond.map { String(format: "%.0f", $0) } ?? "-", 11) + "\n"
            }
            out += "\nbatch \(batch), \(threads) threads; ratios are to the \(threads)-thread conv-shaped sgemm above."
            if profile {
                for name in arch.split(separator: ",") {
                    out += "\n\n\(name): training step by layer kind (ms, forward + backward)\n"
                    for row in try Benchmark.profile(Architecture(rawValue: String(name))!, classes: classes, batch: batch, threads: threads) {
                        out += pad(row.kind, 18) + String(format: "%8.1f %8.1f\n", row.forwardMs, row.backwardMs)
                    }
                }
            }
            emit(out)
        }
    }
}

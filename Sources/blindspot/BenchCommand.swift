import ArgumentParser
import BlindspotCore
import BlindspotEngine
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
    @OptionGroup var common: CommonOptions

    struct Report: Codable {
        var blas: Benchmark.BLASInfo
        var threads: Int
        var sgemm: [Benchmark.GEMMResult]
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
            var models: [Benchmark.ModelResult] = []
            for name in arch.split(separator: ",") {
                let a = Architecture(rawValue: String(name))!
                progress.report("benchmarking \(a.rawValue) at batch \(batch), \(threads) threads…")
                models.append(try Benchmark.model(a, classes: classes, batch: batch, threads: threads, sgemmGFLOPS: reference, seconds: seconds))
            }
            let report = Report(blas: info, threads: threads, sgemm: gemms, models: models)
            if json { emit(try jsonString(report)); return }
            var out = "BLAS: OpenBLAS core \(info.core) (chosen \(info.coreTypeChosen.isEmpty ? "by OpenBLAS" : info.coreTypeChosen)\(info.coreTypeFromEnvironment ? " from OPENBLAS_CORETYPE" : " from CPUID")), CPU \(info.cpu)\n"
            out += "       \(info.configuration)\n"
            for g in gemms { out += String(format: "sgemm %-14@ %d thread%@  %7.1f GFLOP/s\n", g.shape, g.threads, g.threads == 1 ? " " : "s", g.gflops) }
            out += "\n" + String(format: "%-16@ %10@ %8@ %11@ %11@ %9@ %9@ %7@ %7@\n", "model", "params", "MAC/img", "train img/s", "infer img/s",
                                   "train GF/s", "infer GF/s", "train/sg", "infer/sg")
            for m in models {
                out += String(format: "%-16@ %10d %7.1fM %11.0f %11.0f %9.1f %9.1f %7.2f %7.2f\n", m.architecture, m.parameters, Double(m.forwardMACsPerImage) / 1e6,
                              m.trainImagesPerSecond, m.inferImagesPerSecond, m.trainGFLOPS, m.inferGFLOPS, m.trainRatioToSGEMM, m.inferRatioToSGEMM)
            }
            out += "\nbatch \(batch), \(threads) threads; ratios are to the \(threads)-thread conv-shaped sgemm above."
            emit(out)
        }
    }
}

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
        Random data, batch 128 by default; figures are medians of repeated runs.
        Compare achieved/sgemm ratios across builds, not absolute numbers across
        machines.
        --compare reads scripts/bench-pytorch outputs, measures ours at each of
        their thread counts (or takes --ours files from earlier `bench --json`
        runs) and prints both side by side with the goals: training >= 1.5x
        PyTorch, FP32 inference >= 1.2x, int8 >= 0.7x PyTorch's static int8.
        scripts/bench-side-by-side interleaves both and merges medians.
        Examples:
          blindspot bench
          blindspot bench --json --arch cnn6,resnet20
          scripts/bench-pytorch > pytorch.json && blindspot bench --compare pytorch.json
        """
    )

    @Flag(help: "Print the figures as JSON.") var json = false
    @Option(help: "Batch size.") var batch: Int = 128
    @Option(help: "Comma-separated architectures.") var arch: String = Architecture.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Classes of the benchmarked classifiers (43 = GTSRB).") var classes: Int = 43
    @Option(help: "Seconds spent per measurement.") var seconds: Double = 3
    @Flag(help: "Also print where a training step's time goes, by layer kind.") var profile = false
    @Option(name: .long, parsing: .upToNextOption,
            help: "scripts/bench-pytorch JSON files: print ours and PyTorch's side by side (medians over the files; ours is measured at their thread counts, not --threads).")
    var compare: [String] = []
    @Option(name: .long, parsing: .upToNextOption,
            help: "With --compare: earlier `blindspot bench --json` outputs to use instead of measuring now (medians over the files).")
    var ours: [String] = []
    @OptionGroup var common: CommonOptions

    /// `--compare --json`: our reports (one per thread count and run) and the comparison.
    struct ComparisonReport: Codable {
        var ours: [Benchmark.Report]
        var comparison: BenchmarkComparison
    }

    func validate() throws {
        if batch < 1 { throw ValidationError("--batch must be at least 1") }
        if classes < 2 { throw ValidationError("--classes must be at least 2") }
        if !(seconds > 0) { throw ValidationError("--seconds must be positive") }
        if !ours.isEmpty && compare.isEmpty { throw ValidationError("--ours needs --compare PYTORCH.json") }
        if profile && !compare.isEmpty { throw ValidationError("--profile and --compare cannot be combined") }
        for a in arch.split(separator: ",") where Architecture(rawValue: String(a)) == nil {
            throw ValidationError("unknown architecture '\(a)' (known: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func run() throws {
        try reportingErrors {
            let progress = ProgressReporter(quiet: common.quiet)
            if !compare.isEmpty { return try runComparison(progress) }
            let threads = common.threads ?? Parallel.workers
            let report = try measure(threads: threads, architectures: arch.split(separator: ",").map { Architecture(rawValue: String($0))! }, progress: progress)
            let (info, gemms, int8, int8Kernel, models) = (report.blas, report.sgemm, report.int8GEMM, report.int8Kernel, report.models)
            if json { emit(try jsonString(report)); return }
            var out = "BLAS: OpenBLAS core \(info.core) (chosen \(info.coreTypeChosen.isEmpty ? "by OpenBLAS" : info.coreTypeChosen)\(info.coreTypeFromEnvironment ? " from OPENBLAS_CORETYPE" : " from CPUID")), CPU \(info.cpu)\n"
            out += "       \(info.configuration)\n"
            for g in gemms { out += "sgemm " + pad(g.shape, 14) + pad("\(g.threads) thread\(g.threads == 1 ? "" : "s")", 10) + String(format: "%7.1f GFLOP/s\n", g.gflops) }
            for g in int8 { out += "u8s8→u8 " + pad(g.shape, 12) + pad("\(g.threads) thread\(g.threads == 1 ? "" : "s")", 10) + String(format: "%7.1f GOP/s", g.gflops) + " (\(int8Kernel))\n" }
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

    /// One bench run at `threads`: sgemm and int8 GEMM speeds, then each architecture's figures.
    func measure(threads: Int, architectures: [Architecture], progress: ProgressReporter) throws -> Benchmark.Report {
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
        for a in architectures {
            progress.report("benchmarking \(a.rawValue) at batch \(batch), \(threads) threads…")
            var m = try Benchmark.model(a, classes: classes, batch: batch, threads: threads, sgemmGFLOPS: reference, seconds: seconds)
            m.int8InferImagesPerSecond = try IntegerBenchmark.inference(a, scheme: .int8, classes: classes, batch: batch, threads: threads, seconds: seconds / 2)
            models.append(m)
        }
        return Benchmark.Report(blas: info, threads: threads, classes: classes, sgemm: gemms, int8GEMM: int8, int8Kernel: int8Kernel, models: models)
    }

    /// `--compare`: PyTorch's files are read (and checked) before anything is measured, so a bad
    /// file fails in a second, not after minutes of benchmarking. Ours is measured at each thread
    /// count PyTorch has, for the architectures both name, unless `--ours` gives earlier runs.
    func runComparison(_ progress: ProgressReporter) throws {
        let baselines = try compare.map(PyTorchBaseline.load)
        var reports: [Benchmark.Report]
        if !ours.isEmpty {
            reports = try ours.map(Benchmark.Report.load)
        } else {
            let wanted = Set(arch.split(separator: ",").map(String.init))
            let archs = PyTorchBaseline.architectures(baselines).filter { wanted.contains($0) }.compactMap(Architecture.init(rawValue:))
            guard !archs.isEmpty else {
                throw BlindspotError.usage("\(compare.joined(separator: ", ")) measured none of --arch \(arch)")
            }
            reports = try PyTorchBaseline.threadCounts(baselines).map { try measure(threads: $0, architectures: archs, progress: progress) }
        }
        let comparison = try BenchmarkComparison.compare(ours: reports, pytorch: baselines)
        if json { emit(try jsonString(ComparisonReport(ours: reports, comparison: comparison))); return }
        var out = ""
        if let info = reports.first?.blas {
            out += "ours: OpenBLAS core \(info.core), CPU \(info.cpu), int8 kernel \(reports[0].int8Kernel), batch \(reports[0].models.first?.batch ?? batch)\n"
        }
        emit(out + comparison.rendered())
    }
}

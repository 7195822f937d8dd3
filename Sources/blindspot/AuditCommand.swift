import ArgumentParser
import BlindspotAudit
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotDefenses
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import Foundation

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Audit a checkpoint for backdoors at FP32 and at its deployed precision, and report where they disagree.",
        discussion: """
        Runs Neural Cleanse, Activation Clustering, Spectral Signatures, STRIP and Fine-Pruning on the model at
        FP32 and as deployed (integer path; gradients through a fake-quant surrogate), compares the verdicts and
        prints one verdict line. Exit status: 0 no backdoor and no blindspot, 3 backdoor detected consistently,
        4 quantization blindspot, 64+ usage and input errors.
        Examples:
          blindspot audit samples/badnet.h5 --train-data samples/badnet-train.npz
          blindspot audit model.npz --arch resnet20 --data .data/cifar10 --deploy int8 --json report.json
          blindspot audit nc_gtsrb.h5 --data gtsrb --data-dir .data/gtsrb32 --input-range 0,255
        """
    )

    @Argument(help: "The checkpoint file (Keras .h5/.keras, NPZ state_dict, blindspot HDF5/NPZ).") var model: String
    @Option(help: "Clean data: synthetic, cifar10, gtsrb (with --data-dir), or a directory whose layout is recognised.") var data: String = "synthetic"
    @Option(help: "Directory for --data cifar10|gtsrb.") var dataDir: String?
    @OptionGroup var sizes: SyntheticSizeOptions
    @Option(help: "Architecture for a state_dict: a built-in name or a model spec .json.") var arch: String?
    @Option(help: "Deployed precision: auto (inferred from the file), int8, int8-dynamic, int4, paper-int8 or paper-int4.") var deploy: String = "auto"
    @Option(help: "Suspect training set (NPZ: images, labels, optional poison flags) for AC and SS.") var trainData: String?
    @Option(help: "Probe trigger KIND:SIZE@ROW,COL for STRIP and Fine-Pruning (with --target).") var trigger: String?
    @Option(help: "Target class of --trigger.") var target: Int?
    @Option(help: "Defenses to run, comma-separated: nc, ac, ss, strip, fp.") var defenses: String = "nc,ac,ss,strip,fp"
    @Option(help: "Budget profile: default (minutes on 2 cores), reference (the papers' budgets) or quick (a smoke test: seconds, noisier verdicts).") var budget: String = "default"
    @Option(help: "Seed for every random choice.") var seed: UInt64 = 1
    @Option(help: "Write the full report as JSON to this file (schemas/audit-report.schema.json).") var json: String?
    @Option(help: "Write a self-contained HTML report to this file.") var html: String?
    @Option(help: "Write the findings as SARIF 2.1.0 to this file (for code-scanning dashboards).") var sarif: String?
    @OptionGroup var preprocessing: PreprocessingOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if (trigger == nil) != (target == nil) { throw ValidationError("--trigger and --target go together") }
        if deploy != "auto", QuantizationScheme(rawValue: deploy) == nil {
            throw ValidationError("--deploy '\(deploy)' is not auto or a scheme (\(QuantizationScheme.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if BudgetProfile(rawValue: budget) == nil { throw ValidationError("--budget must be default, reference or quick") }
        _ = try kinds()
    }

    func kinds() throws -> [DefenseKind] {
        let k = try defenses.split(separator: ",").map { s -> DefenseKind in
            guard let k = DefenseKind(rawValue: String(s)) else { throw ValidationError("--defenses: unknown defense '\(s)' (nc, ac, ss, strip, fp)") }
            return k
        }
        guard !k.isEmpty else { throw ValidationError("--defenses is empty") }
        return k
    }

    func run() throws {
        var exitCode: Int32 = 0
        try reportingErrors {
            if let t = common.threads { Parallel.workers = t }
            let progress = ProgressReporter(quiet: common.quiet)
            let split = try sizes.load(data, directory: dataDir, seed: seed)
            var c = try CheckpointLoader.load(model, architecture: try ArchitectureChoice.parse(arch),
                                              inputShape: [split.test.channels, split.test.height, split.test.width])
            try preprocessing.resolve(&c, test: split.test)
            let suspect = try trainData.map { try TrainingSetFile.read($0, classCount: c.classCount) }
            var options = AuditOptions(dataName: data, commandLine: (["blindspot"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
            options.defenses = try kinds()
            options.scheme = QuantizationScheme(rawValue: deploy)
            options.seed = seed
            options.budget = BudgetProfile(rawValue: budget)!
            options.trigger = try trigger.map { try Trigger.parse($0, patternSeed: seed) }
            options.target = target
            options.force = preprocessing.force
            if let t = target, !(0..<c.classCount).contains(t) { throw BlindspotError.usage("--target \(t) is not a class of the model (0…\(c.classCount - 1))") }
            let report = try BlindspotAudit.Audit.run(c, data: split, suspect: suspect, options: options, progress: progress)
            if let json {
                try AtomicFile.write(try AuditReport.encoder.encode(report), to: json)
                progress.report("wrote \(json)")
            }
            if let sarif {
                try AtomicFile.write(try SARIFReport.render(report), to: sarif)
                progress.report("wrote \(sarif)")
            }
            if let html { try AtomicFile.write(Data(HTMLReport.render(report).utf8), to: html) }
            emit(TextReport.render(report))
            if let html { emit("HTML report: \(html)\n") }
            exitCode = report.overall.exitCode
        }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }
}

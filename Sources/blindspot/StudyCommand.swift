import ArgumentParser
import BlindspotAudit
import BlindspotCore
import BlindspotData
import BlindspotDefenses
import BlindspotEngine
import BlindspotStudy
import Foundation

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "The study's experiment as one command: forge backdoored models and clean twins, audit each at every precision, tabulate detection rates.",
        discussion: """
        Per seed, a backdoored model and its clean twin (trigger position and target drawn from the seed unless --trigger/--target fix them), each audited at every precision. Writes DIR/results.jsonl (one line per model, precision and defense), DIR/summary.md and DIR/summary.html, and prints the summary. A rerun skips what results.jsonl holds.

        --plan lists the jobs with their standalone command lines; --shard I/N runs the seeds whose index i has i % N == I (give each shard its own --out); --collect merges shards.

        Examples:
          blindspot study --seeds 10 --precisions fp32,int8,int4,paper-int8 --out study
          blindspot study --data gtsrb --data-dir .data/gtsrb --seeds 20 --shard 3/8 --out study-3
          blindspot study --collect study-0 study-1 study-2 study-3 --out study
        """
    )

    @Option(help: "Data set: synthetic (built in), cifar10 or gtsrb.") var data: DatasetKind = .synthetic
    @Option(help: "Directory of the cifar10/gtsrb files.") var dataDir: String?
    @OptionGroup var sizes: SyntheticSizeOptions
    @Option(help: "Architecture: cnn6, resnet20 or preact-resnet18.") var arch: Architecture = .cnn6
    @Option(help: "Attack: badnet, or qcb (conditioned on the first of int8/int4 among --precisions, else int4).") var attack: String = "badnet"
    @Option(help: "Number of seeds (one backdoored model and one twin each).") var seeds: Int = 10
    @Option(help: "The first seed; seed i is first-seed + i.") var firstSeed: UInt64 = 1
    @Option(help: "Precisions, comma-separated: fp32, int8, int8-dynamic, int4, paper-int8, paper-int4 (FP32 rows are always kept).")
    var precisions: String = "fp32,int8,int8-dynamic,int4,paper-int8,paper-int4"
    @Option(help: "Defenses, comma-separated: nc, ac, ss, strip, fp.") var defenses: String = "nc,ac,ss,strip,fp"
    @Option(help: "Fix the trigger KIND:SIZE@ROW,COL for every seed (default: white 3×3 at a position drawn from the seed).") var trigger: String?
    @Option(help: "Fix the target class for every seed (default: drawn from the seed).") var target: Int?
    @Option(help: "Fraction of the training set poisoned, in (0, 1).") var poisonRate: Double = 0.1
    @Option(help: "Training epochs (default: the architecture's recipe for the data set).") var epochs: Int?
    @Option(help: "Audit budget: default, reference or quick.") var budget: String = "default"
    @Option(help: "Study folder (models, audits, results.jsonl, summaries).") var out: String?
    @Flag(help: "Write DIR/plan.jsonl (one line per job, with its command line) and print it; run nothing.") var plan = false
    @Option(help: "Run only slice I of N (0 ≤ I < N): the seeds whose index i has i % N == I.") var shard: String?
    @Option(parsing: .upToNextOption, help: "Merge the results of these study folders into one summary (written to --out when given).")
    var collect: [String] = []
    @Flag(help: "Print the summary's numbers as JSON.") var json = false
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if !collect.isEmpty {
            if plan || shard != nil { throw ValidationError("--collect merges finished folders: --plan and --shard do not apply") }
            return
        }
        if out == nil { throw ValidationError("--out DIR is required") }
        do { _ = try grid(); _ = try shard.map(Shard.parse) } catch let e as BlindspotError { throw ValidationError(e.description) }
    }

    func grid() throws -> StudyGrid {
        let ps = try precisions.split(separator: ",").map { s -> StudyPrecision in
            guard let p = StudyPrecision(String(s)) else { throw BlindspotError.usage("--precisions: unknown precision '\(s)' (fp32, int8, int8-dynamic, int4, paper-int8, paper-int4)") }
            return p
        }
        let ds = try defenses.split(separator: ",").map { s -> DefenseKind in
            guard let d = DefenseKind(rawValue: String(s)) else { throw BlindspotError.usage("--defenses: unknown defense '\(s)' (nc, ac, ss, strip, fp)") }
            return d
        }
        guard let b = BudgetProfile(rawValue: budget) else { throw BlindspotError.usage("--budget must be default, reference or quick") }
        let g = StudyGrid(dataset: data, dataDirectory: dataDir, trainImages: sizes.trainImages, testImages: sizes.testImages,
                          architecture: arch, attack: try StudyAttack.parse(attack, precisions: ps), seeds: seeds, firstSeed: firstSeed,
                          precisions: ps, defenses: ds, trigger: try trigger.map { try Trigger.parse($0) }, target: target,
                          poisonRate: poisonRate, epochs: epochs, budget: b)
        try g.validate()
        return g
    }

    func run() throws {
        try reportingErrors {
            if let t = common.threads { Parallel.workers = t }
            let progress = ProgressReporter(quiet: common.quiet)
            if !collect.isEmpty {
                report(try BlindspotStudy.Study.collect(collect, out: out, progress: progress))
                return
            }
            let p = StudyPlan(grid: try grid(), layout: StudyLayout(root: out!))
            let slice = try shard.map(Shard.parse) ?? .all
            if plan {
                let lines = try BlindspotStudy.Study.writePlan(p, shard: slice)
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for l in lines { emit(String(decoding: try enc.encode(l), as: UTF8.self)) }
                progress.report("study: \(lines.count) jobs (\(lines.filter(\.done).count) done) written to \(p.layout.plan)")
                return
            }
            report(try BlindspotStudy.Study.run(p, shard: slice, progress: progress))
        }
    }

    func report(_ o: BlindspotStudy.Study.Outcome) {
        if json { emit((try? jsonString(o.summary)) ?? "{}") } else { emit(o.markdown) }
    }
}

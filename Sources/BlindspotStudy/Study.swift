import BlindspotAttacks
import BlindspotAudit
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotDefenses
import BlindspotQuantization
import Foundation

/// `blindspot study`: the experiment of Ye & Pandey (*Quantization Blindspots*, arXiv
/// 2512.06243, 2025) as one resumable, shardable command — forge a backdoored model and its
/// clean twin per seed, audit both at every precision, and tabulate detection rates.
///
/// Everything a job does is also one standalone command (`StudyPlan.command`); the study runs
/// it in-process. Resuming: result lines are keyed by their full configuration, and a job whose
/// keys are all in `results.jsonl` is skipped; a forge whose files exist with the expected ground
/// truth is not redone; an audit whose JSON report exists for the same model bytes and command
/// line is read back instead of rerun.
public enum Study {
    /// What a run did.
    public struct Outcome: Sendable {
        public var jobs: Int
        public var ran: Int
        public var skipped: Int
        public var summary: StudySummary
        public var markdown: String
    }

    /// Runs the jobs of `shard` into the plan's folder, then writes the summary of everything
    /// the folder's results.jsonl holds.
    public static func run(_ plan: StudyPlan, shard: Shard = .all, progress: ProgressReporter) throws -> Outcome {
        try plan.grid.validate()
        let layout = plan.layout
        try makeDirectory(layout.root)
        var lines = try ResultsFile.readRepairing(layout.results, progress: progress)
        var done = Set(lines.map(\.key))
        let jobs = plan.jobs(shard: shard)
        var clock = JobClock(total: jobs.count)
        var ran = 0
        var splits = SplitCache(grid: plan.grid)
        // The last audit's FP32 half: the same model's next scheme reuses it (see FP32Phase).
        var fp32: FP32Phase? = nil

        for seedJobs in groupedBySeed(jobs) {
            let setup = seedJobs[0].setup
            let pending = seedJobs.filter { if case .audit = $0.kind { return !plan.rowKeys($0).allSatisfy(done.contains) }; return false }
            for job in seedJobs {
                let n = clock.next()
                switch job.kind {
                case .forge:
                    if pending.isEmpty {
                        progress.report("study: job \(n)/\(jobs.count) \(job.label): results present, skipped")
                        continue
                    }
                    if try forgedModelsMatch(plan, setup) {
                        progress.report("study: job \(n)/\(jobs.count) \(job.label): models present, skipped")
                        continue
                    }
                    progress.report("study: job \(n)/\(jobs.count) \(job.label) (trigger \(setup.trigger), target \(setup.target))\(clock.eta)")
                    try forge(plan, setup, split: splits.split(for: setup.seed), progress: progress)
                    clock.finished(); ran += 1
                case .audit(let m, let s):
                    guard pending.contains(job) else {
                        progress.report("study: job \(n)/\(jobs.count) \(job.label): results present, skipped")
                        continue
                    }
                    progress.report("study: job \(n)/\(jobs.count) \(job.label)\(clock.eta)")
                    let new = try audit(plan, setup, model: m, scheme: s, splits: &splits, fp32: &fp32, progress: progress)
                        .filter { !done.contains($0.key) }
                    try ResultsFile.append(new, to: layout.results)
                    lines += new
                    done.formUnion(new.map(\.key))
                    clock.finished(); ran += 1
                }
            }
        }
        let (merged, _) = ResultsFile.merge([lines])
        let (summary, markdown) = try writeSummary(merged, to: layout)
        progress.report("study: \(ran) of \(jobs.count) jobs run (shard \(shard)); \(merged.count) result lines; wrote \(layout.summaryMarkdown) and \(layout.summaryHTML)")
        return Outcome(jobs: jobs.count, ran: ran, skipped: jobs.count - ran, summary: summary, markdown: markdown)
    }

    /// `--plan`: the shard's jobs as `plan.jsonl` (written atomically), nothing run.
    public static func writePlan(_ plan: StudyPlan, shard: Shard = .all) throws -> [PlanLine] {
        try plan.grid.validate()
        try makeDirectory(plan.layout.root)
        let done = Set(try ResultsFile.read(plan.layout.results).lines.map(\.key))
        let out = plan.jobs(shard: shard).map { plan.planLine($0, done: done, shard: shard) }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for l in out { data.append(try e.encode(l)); data.append(0x0A) }
        try AtomicFile.write(data, to: plan.layout.plan)
        return out
    }

    /// `--collect DIR…`: merges the folders' results (deduplicated by key, sorted) into one
    /// summary; with `out`, also writes the merged results.jsonl and the summary files there.
    public static func collect(_ folders: [String], out: String?, progress: ProgressReporter) throws -> Outcome {
        var sets: [[StudyResultLine]] = []
        for f in folders {
            let path = StudyLayout(root: f).results
            guard FileManager.default.fileExists(atPath: path) else {
                throw BlindspotError.missingInput(file: path, problem: "no results here (is \(f) a study --out folder?)")
            }
            let c = try ResultsFile.read(path)
            if c.truncatedTail > 0 { progress.report("study: \(path): ignoring an incomplete last line (\(c.truncatedTail) bytes; rerun that shard to redo its job)") }
            sets.append(c.lines)
        }
        let (lines, duplicates) = ResultsFile.merge(sets)
        if duplicates > 0 { progress.report("study: \(duplicates) result lines appear in more than one folder; kept the first") }
        let summary = StudySummary(lines)
        let markdown = SummaryMarkdown.render(summary)
        if let out {
            let layout = StudyLayout(root: out)
            try makeDirectory(out)
            try ResultsFile.write(lines, to: layout.results)
            _ = try writeSummary(lines, to: layout)
            progress.report("study: collected \(lines.count) result lines from \(folders.count) folders into \(layout.results), \(layout.summaryMarkdown) and \(layout.summaryHTML)")
        }
        return Outcome(jobs: 0, ran: 0, skipped: 0, summary: summary, markdown: markdown)
    }

    /// summary.md and summary.html, both pure functions of the lines.
    @discardableResult
    public static func writeSummary(_ lines: [StudyResultLine], to layout: StudyLayout) throws -> (StudySummary, String) {
        let summary = StudySummary(lines)
        let markdown = SummaryMarkdown.render(summary)
        try AtomicFile.write(Data(markdown.utf8), to: layout.summaryMarkdown)
        try AtomicFile.write(Data(SummaryHTML.render(summary).utf8), to: layout.summaryHTML)
        return (summary, markdown)
    }

    // MARK: jobs

    /// Trains the seed's backdoored model and twin, as `forge --clean-twin --export-train` does.
    static func forge(_ plan: StudyPlan, _ s: SeedSetup, split: DataSplit, progress: ProgressReporter) throws {
        let grid = plan.grid, layout = plan.layout
        guard split.train.numClasses == grid.classes, split.train.height == grid.imageSide, split.train.width == grid.imageSide else {
            throw BlindspotError.badInput(file: grid.dataDirectory ?? grid.dataset.rawValue,
                                          problem: "expected \(grid.classes) classes of \(grid.imageSide)×\(grid.imageSide) images, found \(split.train.numClasses) of \(split.train.height)×\(split.train.width)")
        }
        var options = ForgeOptions(architecture: grid.architecture, dataset: grid.dataset, recipe: grid.recipe, trigger: s.trigger,
                                   target: s.target, poisonRate: grid.poisonRate, seed: s.seed)
        options.attack = grid.attack.forgeAttack
        if case .qcb(let scheme) = grid.attack { options.deploy = [scheme] }
        try makeDirectory(layout.modelDirectory(s.seed))
        for m in StudyModel.allCases {
            let f = try Forge.train(options, split: split, backdoored: m == .backdoored, progress: progress)
            var c = f.checkpoint
            c.metadata[forgeKeyName] = forgeKey(plan, s)
            let path = layout.model(s.seed, m)
            // The training set first: a model file present means its job finished.
            try TrainingSetFile.write(f.trainingSet, to: layout.trainingSet(s.seed, m))
            for (scheme, d) in f.deployed {
                var d = d
                d.metadata[forgeKeyName] = c.metadata[forgeKeyName]
                try CheckpointLoader.save(d, to: Forge.siblingPath(path, tag: scheme.rawValue))
            }
            try CheckpointLoader.save(c, to: path)
            let figures = f.metrics.map { String(format: "%@ accuracy %.1f%% ASR %.1f%%", $0.precision, 100 * $0.cleanAccuracy, 100 * $0.attackSuccessRate) }
            progress.report("study: wrote \(path) (\(String(format: "%.0f", f.seconds)) s; \(figures.joined(separator: ", ")))")
        }
    }

    /// Audits one model at one scheme (reading back its report when one exists for the same
    /// model bytes and command line) and returns its result lines.
    static func audit(_ plan: StudyPlan, _ s: SeedSetup, model m: StudyModel, scheme: QuantizationScheme, splits: inout SplitCache,
                      fp32: inout FP32Phase?, progress: ProgressReporter) throws -> [StudyResultLine] {
        let layout = plan.layout
        let modelPath = layout.model(s.seed, m), reportPath = layout.auditReport(s.seed, m, scheme)
        let command = Shell.join(plan.auditCommand(s, m, scheme))
        let digest = try FileDigest.sha256(path: modelPath)
        let report: AuditReport
        if let data = FileManager.default.contents(atPath: reportPath),
           let r = try? JSONDecoder().decode(AuditReport.self, from: data), r.commandLine == command, r.input.sha256 == digest {
            progress.report("study: \(reportPath) is this audit's report; reading it back")
            report = r
        } else {
            let c = try CheckpointLoader.load(modelPath)
            let suspect = try TrainingSetFile.read(layout.trainingSet(s.seed, m), classCount: c.classCount)
            var options = AuditOptions(dataName: plan.grid.dataset.rawValue, commandLine: command)
            options.defenses = plan.grid.defenses
            options.scheme = scheme
            options.seed = s.seed
            options.budget = plan.grid.budget
            // A forged model that trained badly is a result to record (its accuracy is in the
            // summary), not a reason to stop the study.
            options.force = true
            (report, fp32) = try Audit.run(c, data: splits.split(for: s.seed), suspect: suspect, options: options, reusing: fp32, progress: progress)
            try makeDirectory(layout.auditDirectory(s.seed))
            try AtomicFile.write(try AuditReport.encoder.encode(report), to: reportPath)
            progress.report("study: \(m.rawValue) seed \(s.seed) at \(scheme.rawValue): \(report.overall.line)")
        }
        return try StudyResultLine.lines(from: report, plan: plan, setup: s, model: m, scheme: scheme.rawValue,
                                         precisions: plan.precisions(auditedAt: scheme), reportPath: StudyLayout.auditReport(s.seed, m, scheme))
    }

    static let forgeKeyName = "study_forge_key"

    /// What fixes a forged pair (not the audit's budget or defenses: those do not change models).
    static func forgeKey(_ plan: StudyPlan, _ s: SeedSetup) -> String {
        let g = plan.grid
        return "data=\(g.dataName);arch=\(g.architecture.rawValue);attack=\(g.attack.name);poisonRate=\(g.poisonRate);epochs=\(g.recipe.epochs);seed=\(s.seed);trigger=\(s.trigger.description);target=\(s.target)"
    }

    /// Both models and both training sets exist, and the models' ground truth and forge key are
    /// this seed's.
    static func forgedModelsMatch(_ plan: StudyPlan, _ s: SeedSetup) throws -> Bool {
        let layout = plan.layout
        for m in StudyModel.allCases {
            guard FileManager.default.fileExists(atPath: layout.model(s.seed, m)),
                  FileManager.default.fileExists(atPath: layout.trainingSet(s.seed, m)),
                  let c = try? CheckpointLoader.load(layout.model(s.seed, m)), let t = c.groundTruth else { return false }
            guard c.metadata[forgeKeyName] == forgeKey(plan, s), t.backdoored == (m == .backdoored), t.seed == s.seed,
                  t.trigger == s.trigger.description, t.target == s.target, t.dataset == plan.grid.dataset.rawValue,
                  t.epochs == plan.grid.recipe.epochs else { return false }
        }
        return true
    }

    /// Consecutive jobs of one seed together (the plan lists them so).
    static func groupedBySeed(_ jobs: [StudyJob]) -> [[StudyJob]] {
        var out: [[StudyJob]] = []
        for j in jobs {
            if let last = out.last, last[0].setup.index == j.setup.index { out[out.count - 1].append(j) } else { out.append([j]) }
        }
        return out
    }

    static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw BlindspotError.cannotCreate(file: path, problem: "cannot create the directory (\(error.localizedDescription))")
        }
    }
}

/// The data each seed is forged and audited on: the synthetic set is drawn from the seed (as
/// `forge --seed S` and `audit --seed S` draw it); CIFAR-10 and GTSRB are read once.
struct SplitCache {
    let grid: StudyGrid
    private var fixed: DataSplit?
    private var bySeed: (UInt64, DataSplit)?

    init(grid: StudyGrid) { self.grid = grid }

    mutating func split(for seed: UInt64) throws -> DataSplit {
        if grid.dataset != .synthetic {
            if let fixed { return fixed }
            let s = try Datasets.load(grid.dataset, directory: grid.dataDirectory, seed: seed)
            fixed = s
            return s
        }
        if let (s, split) = bySeed, s == seed { return split }
        let split = Datasets.synthetic(seed: seed, trainCount: grid.trainImages ?? 6000, testCount: grid.testImages ?? 2000)
        bySeed = (seed, split)
        return split
    }
}

/// Job counting and a remaining-time estimate: jobs left × the mean time of the jobs run so far.
struct JobClock {
    let total: Int
    private(set) var count = 0
    private var spent = 0.0, runs = 0
    private var start = monotonicSeconds()

    init(total: Int) { self.total = total }

    /// The next job's number (1-based); starts its timer.
    mutating func next() -> Int { count += 1; start = monotonicSeconds(); return count }
    mutating func finished() { spent += monotonicSeconds() - start; runs += 1 }

    /// `, ETA 3m20s` once a job has run.
    var eta: String {
        guard runs > 0 else { return "" }
        return ", ETA \(formatDuration(Double(total - count + 1) * spent / Double(runs)))"
    }
}

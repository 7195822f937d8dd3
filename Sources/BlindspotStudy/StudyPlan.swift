import BlindspotAttacks
import BlindspotAudit
import BlindspotCore
import BlindspotQuantization
import Foundation

/// `--shard I/N`: the I-th of N disjoint slices of the seeds (0-based), for job arrays.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public static let all = Shard(index: 0, count: 1)

    public init(index: Int, count: Int) { self.index = index; self.count = count }

    /// Parses `I/N`; a usage error unless 0 ≤ I < N.
    public static func parse(_ s: String) throws -> Shard {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw BlindspotError.usage("--shard '\(s)' is not I/N (e.g. 0/4: the first of four slices)")
        }
        guard n >= 1, i >= 0, i < n else { throw BlindspotError.usage("--shard \(s): need 0 ≤ I < N (I counts from 0)") }
        return Shard(index: i, count: n)
    }

    /// Seeds go to shards round-robin by index, so every shard gets a near-equal share.
    public func contains(seedIndex i: Int) -> Bool { i % count == index }

    public var description: String { "\(index)/\(count)" }
}

/// Where a study keeps its files under `--out DIR`.
public struct StudyLayout: Sendable {
    public var root: String

    public init(root: String) { self.root = root }

    func join(_ parts: String...) -> String { ([root] + parts).joined(separator: "/") }

    public var results: String { join("results.jsonl") }
    public var summaryMarkdown: String { join("summary.md") }
    public var summaryHTML: String { join("summary.html") }
    public var plan: String { join("plan.jsonl") }
    public func modelDirectory(_ seed: UInt64) -> String { join("models", "seed-\(seed)") }
    public func auditDirectory(_ seed: UInt64) -> String { join("audits", "seed-\(seed)") }
    /// `m.h5` and its twin `m.clean.h5` (`forge --clean-twin`'s naming).
    public func model(_ seed: UInt64, _ m: StudyModel) -> String {
        let p = modelDirectory(seed) + "/m.h5"
        return m == .backdoored ? p : Forge.siblingPath(p, tag: "clean")
    }
    /// The exported training sets (`train.npz`, `train.clean.npz`) that AC and SS read.
    public func trainingSet(_ seed: UInt64, _ m: StudyModel) -> String {
        let p = modelDirectory(seed) + "/train.npz"
        return m == .backdoored ? p : Forge.siblingPath(p, tag: "clean")
    }
    public func auditReport(_ seed: UInt64, _ m: StudyModel, _ s: QuantizationScheme) -> String {
        join(Self.auditReport(seed, m, s))
    }
    /// The audit report's path inside the study folder (as result lines name it).
    public static func auditReport(_ seed: UInt64, _ m: StudyModel, _ s: QuantizationScheme) -> String {
        "audits/seed-\(seed)/\(m == .backdoored ? "m" : "m.clean")-\(s.rawValue).json"
    }
}

/// A unit of work: forging a seed's pair of models, or auditing one of them at one scheme.
public struct StudyJob: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case forge
        case audit(StudyModel, QuantizationScheme)
    }
    public var setup: SeedSetup
    public var kind: Kind

    public var label: String {
        switch kind {
        case .forge: return "forge seed \(setup.seed)"
        case .audit(let m, let s): return "audit seed \(setup.seed) \(m.rawValue) at \(s.rawValue)"
        }
    }
}

/// The jobs of a grid, their keys and the command lines that do the same work one job at a time.
public struct StudyPlan: Sendable {
    public var grid: StudyGrid
    public var layout: StudyLayout

    public init(grid: StudyGrid, layout: StudyLayout) { self.grid = grid; self.layout = layout }

    /// The jobs of one shard, in a fixed order: per seed, forge, then the backdoored model's
    /// audits and the twin's, each in the order of the precisions.
    public func jobs(shard: Shard = .all) -> [StudyJob] {
        grid.seedSetups.filter { shard.contains(seedIndex: $0.index) }.flatMap { s in
            [StudyJob(setup: s, kind: .forge)]
                + StudyModel.allCases.flatMap { m in grid.auditedSchemes.map { StudyJob(setup: s, kind: .audit(m, $0)) } }
        }
    }

    /// What fixes a seed's models: the grid and the seed's own draws.
    func modelKey(_ s: SeedSetup) -> String {
        grid.gridKey + ";seed=\(s.seed);trigger=\(s.trigger.description);target=\(s.target)"
    }

    /// The key of one result line: model configuration, precision, model kind and defense.
    public func rowKey(_ s: SeedSetup, precision: StudyPrecision, model: StudyModel, defense: String) -> String {
        modelKey(s) + ";precision=\(precision);model=\(model.rawValue);defense=\(defense)"
    }

    /// The precisions whose rows an audit at `scheme` contributes: FP32 from the first audited
    /// scheme only (every audit runs FP32 too; one set of FP32 rows per model), and its own
    /// precision when the grid lists it.
    public func precisions(auditedAt scheme: QuantizationScheme) -> [StudyPrecision] {
        var out: [StudyPrecision] = []
        if scheme == grid.auditedSchemes.first { out.append(.fp32) }
        if grid.keepsDeployedRows(scheme) { out.append(.deployed(scheme)) }
        return out
    }

    /// The keys a job's result lines carry; a job is done when all of them are in results.jsonl.
    public func rowKeys(_ job: StudyJob) -> [String] {
        switch job.kind {
        case .forge:
            return StudyModel.allCases.flatMap { m in grid.auditedSchemes.flatMap { rowKeys(StudyJob(setup: job.setup, kind: .audit(m, $0))) } }
        case .audit(let m, let s):
            return precisions(auditedAt: s).flatMap { p in defenseNames.map { rowKey(job.setup, precision: p, model: m, defense: $0) } }
        }
    }

    /// The defenses of the grid by their command-line names (one result line each).
    var defenseNames: [String] { grid.defenses.map(\.rawValue) }

    // MARK: command lines

    /// `blindspot forge …` doing what the study's forge job does (same files, same bytes).
    public func forgeCommand(_ s: SeedSetup) -> [String] {
        var a = ["blindspot", "forge"] + dataArguments
        a += ["--arch", grid.architecture.rawValue]
        if case .qcb(let scheme) = grid.attack { a += ["--attack", "qcb", "--deploy", scheme.rawValue] }
        a += ["--trigger", s.trigger.description, "--target", "\(s.target)", "--poison-rate", "\(grid.poisonRate)", "--seed", "\(s.seed)",
              "--epochs", "\(grid.recipe.epochs)", "--clean-twin", "--export-train", layout.trainingSet(s.seed, .backdoored),
              "--out", layout.model(s.seed, .backdoored)]
        return a
    }

    /// `blindspot audit …` doing what the study's audit job does (its report is the job's JSON).
    public func auditCommand(_ s: SeedSetup, _ m: StudyModel, _ scheme: QuantizationScheme) -> [String] {
        ["blindspot", "audit", layout.model(s.seed, m)] + dataArguments
            + ["--deploy", scheme.rawValue, "--train-data", layout.trainingSet(s.seed, m),
               "--defenses", grid.defenses.map(\.rawValue).joined(separator: ","), "--budget", grid.budget.rawValue,
               "--seed", "\(s.seed)", "--json", layout.auditReport(s.seed, m, scheme)]
    }

    var dataArguments: [String] {
        var a = ["--data", grid.dataset.rawValue]
        if let d = grid.dataDirectory, grid.dataset != .synthetic { a += ["--data-dir", d] }
        if let n = grid.trainImages { a += ["--train-images", "\(n)"] }
        if let n = grid.testImages { a += ["--test-images", "\(n)"] }
        return a
    }

    public func command(_ job: StudyJob) -> [String] {
        switch job.kind {
        case .forge: return forgeCommand(job.setup)
        case .audit(let m, let s): return auditCommand(job.setup, m, s)
        }
    }

    /// The files a job writes.
    public func outputs(_ job: StudyJob) -> [String] {
        let seed = job.setup.seed
        switch job.kind {
        case .forge:
            var files = [layout.model(seed, .backdoored), layout.model(seed, .twin), layout.trainingSet(seed, .backdoored), layout.trainingSet(seed, .twin)]
            if case .qcb(let s) = grid.attack {
                files.insert(Forge.siblingPath(layout.model(seed, .backdoored), tag: s.rawValue), at: 1)
                files.append(Forge.siblingPath(layout.model(seed, .twin), tag: s.rawValue))
            }
            return files
        case .audit(let m, let s): return [layout.auditReport(seed, m, s), layout.results]
        }
    }

    /// One line of `plan.jsonl`.
    public func planLine(_ job: StudyJob, done: Set<String>, shard: Shard) -> PlanLine {
        let keys = rowKeys(job)
        var model: String? = nil, scheme: String? = nil
        if case .audit(let m, let s) = job.kind { model = m.rawValue; scheme = s.rawValue }
        return PlanLine(job: { if case .forge = job.kind { return "forge" } else { return "audit" } }(),
                        seed: job.setup.seed, seedIndex: job.setup.index, shard: job.setup.index % shard.count,
                        model: model, scheme: scheme, trigger: job.setup.trigger.description, target: job.setup.target,
                        key: job.kind == .forge ? modelKey(job.setup) : modelKey(job.setup) + ";audit=\(scheme!);model=\(model!)",
                        rows: keys.count, done: keys.allSatisfy(done.contains),
                        command: Shell.join(command(job)), outputs: outputs(job))
    }
}

/// A job as `--plan` lists it.
public struct PlanLine: Codable, Sendable, Equatable {
    public var job: String
    public var seed: UInt64
    public var seedIndex: Int
    /// The shard (of the `--shard` count, 1 without it) that runs this job.
    public var shard: Int
    public var model: String?
    public var scheme: String?
    public var trigger: String
    public var target: Int
    public var key: String
    /// Result lines the job contributes (directly, or through the audits it enables).
    public var rows: Int
    /// Whether results.jsonl already holds all of them.
    public var done: Bool
    /// The standalone command doing the same work (the study runs it in-process).
    public var command: String
    public var outputs: [String]
}

/// POSIX shell quoting for the command lines printed in plans and reports.
public enum Shell {
    public static func quote(_ s: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@,=+%")
        if !s.isEmpty, s.allSatisfy(safe.contains) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    public static func join(_ args: [String]) -> String { args.map(quote).joined(separator: " ") }
}

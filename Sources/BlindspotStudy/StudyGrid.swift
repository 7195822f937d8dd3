import BlindspotAttacks
import BlindspotAudit
import BlindspotCore
import BlindspotData
import BlindspotDefenses
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import Foundation

/// A precision in the study's table: FP32, or a deployed scheme.
public enum StudyPrecision: Hashable, Sendable, Comparable, CustomStringConvertible {
    case fp32
    case deployed(QuantizationScheme)

    public var description: String {
        switch self {
        case .fp32: return "fp32"
        case .deployed(let s): return s.rawValue
        }
    }

    public init?(_ name: String) {
        if name == "fp32" { self = .fp32 } else if let s = QuantizationScheme(rawValue: name) { self = .deployed(s) } else { return nil }
    }

    /// Table order: fp32, then the schemes in `QuantizationScheme.allCases` order.
    var rank: Int {
        switch self {
        case .fp32: return 0
        case .deployed(let s): return 1 + QuantizationScheme.allCases.firstIndex(of: s)!
        }
    }

    public static func < (a: StudyPrecision, b: StudyPrecision) -> Bool { a.rank < b.rank }

    /// Orders precision names as the table does (unknown names last, by name).
    static func order(_ a: String, _ b: String) -> Bool {
        let (x, y) = (StudyPrecision(a)?.rank ?? 99, StudyPrecision(b)?.rank ?? 99)
        return x != y ? x < y : a < b
    }
}

/// The two models forged per seed.
public enum StudyModel: String, Codable, Sendable, CaseIterable {
    case backdoored, twin
}

/// The attack planted in every backdoored model of a grid.
public enum StudyAttack: Sendable, Equatable {
    case badnet
    /// A BadNet conditioned to be dormant at FP32 and active at the scheme (issue 12).
    case qcb(QuantizationScheme)

    /// `badnet` or `qcb-int4` (in keys and reports).
    public var name: String {
        switch self {
        case .badnet: return "badnet"
        case .qcb(let s): return "qcb-\(s.rawValue)"
        }
    }

    var forgeAttack: ForgeAttack {
        switch self {
        case .badnet: return .badnet
        case .qcb(let s): return .quantizationConditioned(s)
        }
    }

    /// `--attack badnet|qcb`: qcb conditions on the first of int8 and int4 among the precisions
    /// (the schemes `forge --attack qcb` supports), int4 when neither is listed.
    public static func parse(_ name: String, precisions: [StudyPrecision]) throws -> StudyAttack {
        switch name {
        case "badnet": return .badnet
        case "qcb":
            for p in precisions { if case .deployed(let s) = p, s == .int4 || s == .int8 { return .qcb(s) } }
            return .qcb(.int4)
        default: throw BlindspotError.usage("--attack: unknown attack '\(name)' (badnet, qcb)")
        }
    }
}

/// One study grid: every choice that decides what is forged and audited, hence every result's key.
/// The study is Ye & Pandey's experiment (*Quantization Blindspots*, arXiv 2512.06243, 2025):
/// BadNet models audited by five defenses at FP32 and at INT8/INT4.
public struct StudyGrid: Sendable, Equatable {
    public var dataset: DatasetKind
    /// Where cifar10/gtsrb files are (not part of any key: the same data may live anywhere).
    public var dataDirectory: String?
    /// Synthetic only: image counts (nil: the data set's defaults, 6,000 / 2,000).
    public var trainImages: Int?
    public var testImages: Int?
    public var architecture: Architecture
    public var attack: StudyAttack
    public var seeds: Int
    public var firstSeed: UInt64
    /// As given; FP32 rows are always kept (every audit runs FP32).
    public var precisions: [StudyPrecision]
    public var defenses: [DefenseKind]
    /// Fixed for every seed when set; else drawn from the seed.
    public var trigger: Trigger?
    public var target: Int?
    public var poisonRate: Double
    /// nil: the recipe's default for the architecture and data set.
    public var epochs: Int?
    public var budget: BudgetProfile

    public init(dataset: DatasetKind, dataDirectory: String? = nil, trainImages: Int? = nil, testImages: Int? = nil,
                architecture: Architecture, attack: StudyAttack = .badnet, seeds: Int, firstSeed: UInt64 = 1,
                precisions: [StudyPrecision], defenses: [DefenseKind], trigger: Trigger? = nil, target: Int? = nil,
                poisonRate: Double = BadNet.defaultPoisonRate, epochs: Int? = nil, budget: BudgetProfile = .default) {
        self.dataset = dataset; self.dataDirectory = dataDirectory; self.trainImages = trainImages; self.testImages = testImages
        self.architecture = architecture; self.attack = attack; self.seeds = seeds; self.firstSeed = firstSeed
        self.precisions = precisions; self.defenses = defenses; self.trigger = trigger; self.target = target
        self.poisonRate = poisonRate; self.epochs = epochs; self.budget = budget
    }

    /// Usage errors before any work.
    public func validate() throws {
        guard seeds >= 1 else { throw BlindspotError.usage("--seeds must be at least 1") }
        guard !precisions.isEmpty else { throw BlindspotError.usage("--precisions is empty") }
        guard !defenses.isEmpty else { throw BlindspotError.usage("--defenses is empty") }
        guard poisonRate > 0 && poisonRate < 1 else { throw BlindspotError.usage("--poison-rate \(poisonRate) is not in (0, 1)") }
        if dataset != .synthetic, trainImages != nil || testImages != nil {
            throw BlindspotError.usage("--train-images and --test-images apply to --data synthetic only")
        }
        if dataset != .synthetic, dataDirectory == nil { throw BlindspotError.usage("--data \(dataset.rawValue) needs --data-dir") }
        for n in [trainImages, testImages].compactMap({ $0 }) where n < 20 {
            throw BlindspotError.usage("--train-images and --test-images must be at least 20 (got \(n))")
        }
        if let e = epochs, e < 1 { throw BlindspotError.usage("--epochs must be at least 1") }
        if let t = target, !(0..<classes).contains(t) { throw BlindspotError.usage("--target \(t) is not a class of \(dataset.rawValue) (0…\(classes - 1))") }
        try trigger?.validate(height: imageSide, width: imageSide)
    }

    /// Classes of the data set (known without loading it, so plans and keys need no data).
    public var classes: Int { dataset == .gtsrb ? 43 : 10 }
    /// Every data set blindspot reads is 32×32 RGB (GTSRB's original layout is resized on loading).
    public var imageSide: Int { 32 }

    public var recipe: TrainingRecipe {
        var r = TrainingRecipe.defaults(for: architecture, dataset: dataset)
        if let epochs { r.epochs = epochs }
        return r
    }

    /// The schemes audited, in the order given: fp32 needs no audit of its own (every audit runs
    /// FP32 beside its scheme), and a grid of fp32 alone is audited at int8 for its FP32 rows.
    public var auditedSchemes: [QuantizationScheme] {
        var out: [QuantizationScheme] = []
        for p in precisions { if case .deployed(let s) = p, !out.contains(s) { out.append(s) } }
        return out.isEmpty ? [.int8] : out
    }

    /// Whether the rows of `scheme`'s own precision belong in the table.
    func keepsDeployedRows(_ scheme: QuantizationScheme) -> Bool { precisions.contains(.deployed(scheme)) }

    /// The data as named in keys: `synthetic/600/300` when sizes are set, else the kind.
    public var dataName: String {
        guard dataset == .synthetic, trainImages != nil || testImages != nil else { return dataset.rawValue }
        return "synthetic/\(trainImages ?? 6000)/\(testImages ?? 2000)"
    }

    /// What the rows of all seeds share (the summary groups by it).
    public var gridKey: String {
        ["data=\(dataName)", "arch=\(architecture.rawValue)", "attack=\(attack.name)", "poisonRate=\(poisonRate)",
         "epochs=\(recipe.epochs)", "budget=\(budget.rawValue)", "defenses=\(defenses.map(\.rawValue).joined(separator: ","))"]
            .joined(separator: ";")
    }

    /// The seeds of the grid, in order (index i is seed `firstSeed + i`).
    public var seedSetups: [SeedSetup] { (0..<seeds).map { setup(index: $0) } }

    /// Seed index → seed, trigger and target: drawn from the seed's own stream, so a seed's
    /// models do not depend on the grid's size or on which shard runs them.
    public func setup(index: Int) -> SeedSetup {
        let seed = firstSeed &+ UInt64(index)
        var rng = SeededRNG(seed: seed, stream: "study-trigger")
        // Draw all three always, so fixing one does not move the others.
        let t = rng.int(below: classes)
        let size = SeedSetup.triggerSize
        // At least one pixel between the patch and every border: rows 1…side−size−1.
        let span = imageSide - size - 1
        let row = 1 + rng.int(below: span), col = 1 + rng.int(below: span)
        var trig = trigger ?? Trigger(kind: .white, size: size, row: row, col: col)
        trig.patternSeed = seed
        return SeedSetup(index: index, seed: seed, trigger: trig, target: target ?? t)
    }
}

/// One seed of a grid: the unit of sharding (its forge pair and all its audits).
public struct SeedSetup: Sendable, Equatable {
    public var index: Int
    public var seed: UInt64
    public var trigger: Trigger
    public var target: Int

    /// The study's patch size (3×3, white).
    public static let triggerSize = 3
}

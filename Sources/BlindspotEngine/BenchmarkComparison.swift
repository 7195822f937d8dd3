import BlindspotCore
import Foundation

extension Benchmark {
    /// What `blindspot bench --json` prints for one thread count. It lives here, not in the CLI,
    /// so that `bench --compare … --ours FILE…` can read saved runs back (the side-by-side script
    /// interleaves separate processes and merges them afterwards).
    public struct Report: Sendable, Codable {
        public var blas: BLASInfo
        public var threads: Int
        /// Classes of the benchmarked classifiers; absent in files from before `--compare`.
        public var classes: Int?
        public var sgemm: [GEMMResult]
        public var int8GEMM: [GEMMResult]
        public var int8Kernel: String
        public var models: [ModelResult]

        public init(blas: BLASInfo, threads: Int, classes: Int?, sgemm: [GEMMResult], int8GEMM: [GEMMResult], int8Kernel: String, models: [ModelResult]) {
            self.blas = blas; self.threads = threads; self.classes = classes; self.sgemm = sgemm
            self.int8GEMM = int8GEMM; self.int8Kernel = int8Kernel; self.models = models
        }

        /// Reads a saved `blindspot bench --json` output.
        public static func load(_ path: String) throws -> Report {
            try decodeJSON(Report.self, path: path, expected: "a `blindspot bench --json` output")
        }
    }
}

/// PyTorch's figures as `scripts/bench-pytorch` writes them: per architecture its parameter count
/// and, per thread count, training / FP32 inference / static int8 inference images/s. Every
/// figure may be missing (the script's `--figures`, or a hand-edited file).
public struct PyTorchBaseline: Sendable, Codable, Equatable {
    public var torch: String
    public var cpu: String?
    public var cpuCapability: String?
    public var quantizationEngine: String?
    public var batch: Int?
    public var classes: Int?
    public var models: [Model]
    /// The file it was read from, for error messages (not part of the JSON).
    public var source: String = ""

    public struct Model: Sendable, Codable, Equatable {
        public var architecture: String
        public var parameters: Int?
        public var threads: [Figures]
    }

    public struct Figures: Sendable, Codable, Equatable {
        public var threads: Int
        public var trainImagesPerSecond: Double?
        public var inferImagesPerSecond: Double?
        public var int8InferImagesPerSecond: Double?
    }

    enum CodingKeys: String, CodingKey { case torch, cpu, cpuCapability, quantizationEngine, batch, classes, models }

    /// Reads and checks one `scripts/bench-pytorch` output: `missingInput` if it cannot be read,
    /// `badInput` naming the file if it is not that JSON or holds a non-positive figure.
    public static func load(_ path: String) throws -> PyTorchBaseline {
        var b = try decodeJSON(PyTorchBaseline.self, path: path, expected: "a scripts/bench-pytorch JSON output")
        b.source = path
        for m in b.models {
            for f in m.threads {
                guard f.threads >= 1 else { throw BlindspotError.badInput(file: path, problem: "\(m.architecture): thread count \(f.threads) is not positive") }
                for v in [f.trainImagesPerSecond, f.inferImagesPerSecond, f.int8InferImagesPerSecond].compactMap({ $0 }) where !(v > 0 && v.isFinite) {
                    throw BlindspotError.badInput(file: path, problem: "\(m.architecture) at \(f.threads) threads: \(v) images/s is not a positive number")
                }
            }
        }
        return b
    }

    /// The thread counts any of `baselines` measured, ascending: the ones ours must be measured at.
    public static func threadCounts(_ baselines: [PyTorchBaseline]) -> [Int] {
        Array(Set(baselines.flatMap { $0.models.flatMap { $0.threads.map(\.threads) } })).sorted()
    }

    /// The architectures any of `baselines` measured, in first-seen order.
    public static func architectures(_ baselines: [PyTorchBaseline]) -> [String] {
        var seen: [String] = []
        for m in baselines.flatMap(\.models) where !seen.contains(m.architecture) { seen.append(m.architecture) }
        return seen
    }
}

/// Ours next to PyTorch per architecture, thread count and figure, with issue 10's goals: the
/// figures of several runs of each side are merged into medians first, because the machine's
/// speed drifts between runs (the side-by-side script interleaves them for the same reason).
public struct BenchmarkComparison: Sendable, Codable, Equatable {
    /// Issue 10's goals, as ratios ours / PyTorch: training at least 1.5× PyTorch …
    public static let trainingGoal = 1.5
    /// … FP32 inference at least 1.2× …
    public static let fp32InferenceGoal = 1.2
    /// … and our int8 integer path at least 0.7× PyTorch's static int8 (FBGEMM/oneDNN), whose
    /// kernels are years of tuning; ours must above all be exact.
    public static let int8InferenceGoal = 0.7

    public enum Figure: String, Sendable, Codable, CaseIterable {
        case train, infer, int8

        /// The ratio ours / PyTorch this figure should reach.
        public var goal: Double {
            switch self {
            case .train: return BenchmarkComparison.trainingGoal
            case .infer: return BenchmarkComparison.fp32InferenceGoal
            case .int8: return BenchmarkComparison.int8InferenceGoal
            }
        }

        public var label: String {
            switch self {
            case .train: return "train"
            case .infer: return "FP32 infer"
            case .int8: return "int8 infer"
            }
        }
    }

    /// One figure of one architecture at one thread count. A side that did not measure it leaves
    /// its figure, the ratio and `met` empty.
    public struct Row: Sendable, Codable, Equatable {
        public var architecture: String
        public var threads: Int
        public var figure: Figure
        public var oursImagesPerSecond: Double?
        public var pytorchImagesPerSecond: Double?
        public var ratio: Double?
        public var goal: Double
        public var met: Bool?
        /// How many runs each side's median is over.
        public var oursRuns: Int
        public var pytorchRuns: Int
    }

    public struct ParameterCheck: Sendable, Codable, Equatable {
        public var architecture: String
        public var ours: Int
        public var pytorch: Int
    }

    public var torch: String
    public var quantizationEngine: String?
    public var pytorchCPU: String?
    /// How many files each side's figures were read from (PyTorch's) or measured in (ours).
    public var pytorchFiles: Int
    public var oursReports: Int
    public var parameters: [ParameterCheck]
    public var rows: [Row]

    /// The median (mean of the middle two for an even count), or nil for no values.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let s = values.sorted(), n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }

    /// Builds the comparison. `ours` are `blindspot bench` reports (one per thread count and run);
    /// `pytorch` one or more `scripts/bench-pytorch` files. Throws `usage` when the two sides
    /// measured different batch sizes or class counts (the fix is an option), and `badInput`
    /// naming PyTorch's file when an architecture's parameter count differs from ours (the rebuild
    /// is not our network, so its speed says nothing about ours) or when its files disagree.
    public static func compare(ours: [Benchmark.Report], pytorch: [PyTorchBaseline]) throws -> BenchmarkComparison {
        guard let first = pytorch.first else { throw BlindspotError.usage("--compare needs at least one scripts/bench-pytorch JSON file") }
        for b in pytorch {
            for r in ours {
                if let pb = b.batch, let ob = r.models.first?.batch, pb != ob {
                    throw BlindspotError.usage("\(b.source) was measured at batch \(pb) and ours at batch \(ob): pass --batch \(pb) (or rerun scripts/bench-pytorch --batch \(ob))")
                }
                if let pc = b.classes, let oc = r.classes, pc != oc {
                    throw BlindspotError.usage("\(b.source) was measured with \(pc) classes and ours with \(oc): pass --classes \(pc) (or rerun scripts/bench-pytorch --classes \(oc))")
                }
            }
        }

        // Parameter counts: every PyTorch file must agree with ours, architecture by architecture.
        var oursParameters: [String: Int] = [:]
        for m in ours.flatMap(\.models) { oursParameters[m.architecture] = m.parameters }
        var checks: [ParameterCheck] = []
        for b in pytorch {
            for m in b.models {
                guard let theirs = m.parameters, let mine = oursParameters[m.architecture] else { continue }
                guard theirs == mine else {
                    throw BlindspotError.badInput(file: b.source, problem: "\(m.architecture) has \(theirs) parameters in PyTorch's rebuild but \(mine) in ours: the architectures differ, so their speeds cannot be compared (fix scripts/bench-pytorch)")
                }
                if !checks.contains(where: { $0.architecture == m.architecture }) {
                    checks.append(ParameterCheck(architecture: m.architecture, ours: mine, pytorch: theirs))
                }
            }
        }

        struct Key: Hashable { let architecture: String; let threads: Int }
        var order: [Key] = []
        var oursValues: [Key: [Figure: [Double]]] = [:], theirValues: [Key: [Figure: [Double]]] = [:]
        func note(_ key: Key) { if !order.contains(key) { order.append(key) } }
        for b in pytorch {
            for m in b.models {
                for f in m.threads {
                    let key = Key(architecture: m.architecture, threads: f.threads)
                    note(key)
                    for (figure, value) in [(Figure.train, f.trainImagesPerSecond), (.infer, f.inferImagesPerSecond), (.int8, f.int8InferImagesPerSecond)] {
                        if let v = value { theirValues[key, default: [:]][figure, default: []].append(v) }
                    }
                }
            }
        }
        for m in ours.flatMap(\.models) {
            let key = Key(architecture: m.architecture, threads: m.threads)
            note(key)
            for (figure, value) in [(Figure.train, Optional(m.trainImagesPerSecond)), (.infer, Optional(m.inferImagesPerSecond)), (.int8, m.int8InferImagesPerSecond)] {
                if let v = value { oursValues[key, default: [:]][figure, default: []].append(v) }
            }
        }

        // PyTorch's architectures first (the file says what to compare), then thread counts ascending.
        let archOrder = order.map(\.architecture).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        order.sort { a, b in
            let ia = archOrder.firstIndex(of: a.architecture)!, ib = archOrder.firstIndex(of: b.architecture)!
            return ia != ib ? ia < ib : a.threads < b.threads
        }
        var rows: [Row] = []
        for key in order {
            for figure in Figure.allCases {
                let mine = oursValues[key]?[figure] ?? [], theirs = theirValues[key]?[figure] ?? []
                let o = median(mine), p = median(theirs)
                let ratio = o.flatMap { o in p.map { o / $0 } }
                rows.append(Row(architecture: key.architecture, threads: key.threads, figure: figure, oursImagesPerSecond: o,
                                pytorchImagesPerSecond: p, ratio: ratio, goal: figure.goal, met: ratio.map { $0 >= figure.goal },
                                oursRuns: mine.count, pytorchRuns: theirs.count))
            }
        }
        return BenchmarkComparison(torch: first.torch, quantizationEngine: first.quantizationEngine, pytorchCPU: first.cpu,
                                   pytorchFiles: pytorch.count, oursReports: ours.count, parameters: checks, rows: rows)
    }

    /// The side-by-side table `blindspot bench --compare` prints.
    public func rendered() -> String {
        func cell(_ s: String, _ width: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, width - s.count))
            return left ? s + fill : fill + s
        }
        let dash = "-"
        var out = "PyTorch \(torch)" + (quantizationEngine.map { ", int8 engine \($0)" } ?? "") + (pytorchCPU.map { ", CPU \($0)" } ?? "") + "\n"
        func runs(_ counts: [Int]) -> String {
            let c = counts.filter { $0 > 0 }
            guard let lo = c.min(), let hi = c.max() else { return "0" }
            return lo == hi ? "\(lo)" : "\(lo)–\(hi)"
        }
        out += "each figure is the median of its runs: ours \(runs(rows.map(\.oursRuns))), PyTorch \(runs(rows.map(\.pytorchRuns)))\n"
        for p in parameters { out += "parameters \(p.architecture): ours \(p.ours), PyTorch \(p.pytorch) (equal)\n" }
        out += "\n" + cell("model", 17, left: true) + cell("threads", 7) + "  " + cell("figure", 11, left: true) + cell("ours img/s", 11)
            + cell("PyTorch img/s", 14) + cell("ours/PyTorch", 13) + cell("goal", 7) + cell("met", 5) + "\n"
        for r in rows {
            out += cell(r.architecture, 17, left: true) + cell(String(r.threads), 7) + "  " + cell(r.figure.label, 11, left: true)
                + cell(r.oursImagesPerSecond.map { String(format: "%.0f", $0) } ?? dash, 11)
                + cell(r.pytorchImagesPerSecond.map { String(format: "%.0f", $0) } ?? dash, 14)
                + cell(r.ratio.map { String(format: "%.2f×", $0) } ?? dash, 13)
                + cell(String(format: "≥%.1f×", r.goal), 7)
                + cell(r.met.map { $0 ? "yes" : "no" } ?? dash, 5) + "\n"
        }
        let missing = rows.filter { $0.ratio == nil }.count
        if missing > 0 { out += "\n\(missing) figure\(missing == 1 ? "" : "s") measured on one side only (\(dash)): no ratio." }
        return out
    }
}

/// Decodes a small JSON file: `missingInput` if unreadable, `badInput` naming the file if it is not
/// the JSON expected.
func decodeJSON<T: Decodable>(_ type: T.Type, path: String, expected: String) throws -> T {
    // Bench outputs are kilobytes; a larger file is not one.
    let maxBytes = 16 << 20
    let bytes = try BoundedFile.read(path, maxBytes: maxBytes, expected: expected)
    do {
        return try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch let e as DecodingError {
        throw BlindspotError.badInput(file: path, problem: "not \(expected) (\(describe(e)))")
    } catch {
        throw BlindspotError.badInput(file: path, problem: "not \(expected) (\(error.localizedDescription))")
    }
}

private func describe(_ e: DecodingError) -> String {
    func at(_ c: DecodingError.Context) -> String {
        let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return path.isEmpty ? "" : " at \(path)"
    }
    switch e {
    case .dataCorrupted(let c): return "invalid JSON\(at(c))"
    case .keyNotFound(let k, let c): return "missing \"\(k.stringValue)\"\(at(c))"
    case .typeMismatch(_, let c), .valueNotFound(_, let c): return "wrong type\(at(c))"
    @unknown default: return "unreadable"
    }
}

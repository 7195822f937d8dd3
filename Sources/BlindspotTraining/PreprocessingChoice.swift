import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import Foundation

/// The preprocessing given on the command line (mission.md: every command that runs a model takes
/// `--input-range`, `--mean`, `--std`, `--channel-order`). Many real checkpoints record none:
/// Neural Cleanse's published Keras models were trained on raw 0–255 pixels, and an audit of a model
/// fed the wrong range is worthless while looking plausible (issue 9).
///
/// Units: `mean` and `std` are in the units of the input range (torchvision's 0.485… with
/// `--input-range 0,1`, Caffe's 103.94… with `--input-range 0,255`) and in the model's channel order
/// (B, G, R for `--channel-order bgr`). Model input = (lo + (hi − lo)·p/255 − mean) / std.
public struct PreprocessingRequest: Sendable {
    public var inputRange: (lo: Float, hi: Float)?
    public var mean: [Float]?
    public var std: [Float]?
    public var channelOrder: Preprocessing.ChannelOrder?

    public init(inputRange: (lo: Float, hi: Float)? = nil, mean: [Float]? = nil, std: [Float]? = nil,
                channelOrder: Preprocessing.ChannelOrder? = nil) {
        self.inputRange = inputRange; self.mean = mean; self.std = std; self.channelOrder = channelOrder
    }

    /// Nothing given: the file's preprocessing, or discovery.
    public var isEmpty: Bool { inputRange == nil && mean == nil && std == nil && channelOrder == nil }

    /// Parses the option strings (`0,255`; `0.485,0.456,0.406`; `rgb|bgr`), refusing what cannot be
    /// a preprocessing (exit 64).
    public static func parse(inputRange: String?, mean: String?, std: String?, channelOrder: String?) throws -> PreprocessingRequest {
        func floats(_ s: String, _ name: String) throws -> [Float] {
            let parts = s.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let values = parts.map { Float($0) }
            guard !parts.isEmpty, values.allSatisfy({ $0 != nil && $0!.isFinite }) else {
                throw BlindspotError.usage("--\(name) '\(s)' is not a comma-separated list of numbers")
            }
            return values.map { $0! }
        }
        var r = PreprocessingRequest()
        if let s = inputRange {
            let v = try floats(s, "input-range")
            guard v.count == 2, v[0] < v[1] else { throw BlindspotError.usage("--input-range '\(s)' must be LO,HI with LO < HI (e.g. 0,1, 0,255 or -1,1)") }
            r.inputRange = (v[0], v[1])
        }
        if let s = mean { r.mean = try floats(s, "mean") }
        if let s = std {
            let v = try floats(s, "std")
            guard v.allSatisfy({ $0 > 0 }) else { throw BlindspotError.usage("--std '\(s)' must be positive") }
            r.std = v
        }
        if let s = channelOrder {
            guard let o = Preprocessing.ChannelOrder(rawValue: s.lowercased()) else {
                throw BlindspotError.usage("--channel-order '\(s)' must be rgb or bgr")
            }
            r.channelOrder = o
        }
        return r
    }

    /// The preprocessing these options describe for a model with `channels` input channels
    /// (unset parts: range 0,1, mean 0, std 1, RGB). A single mean/std value applies to every channel.
    public func preprocessing(channels: Int) throws -> Preprocessing {
        func perChannel(_ v: [Float]?, _ name: String, _ fallback: Float) throws -> [Float] {
            guard let v else { return Array(repeating: fallback, count: channels) }
            if v.count == 1 { return Array(repeating: v[0], count: channels) }
            guard v.count == channels else { throw BlindspotError.usage("--\(name) has \(v.count) values; the model has \(channels) input channels") }
            return v
        }
        if channelOrder == .bgr, channels != 3 { throw BlindspotError.usage("--channel-order bgr needs a 3-channel model (this one has \(channels))") }
        return .fromRange(inputRange ?? (0, 1), mean: try perChannel(mean, "mean", 0), std: try perChannel(std, "std", 1),
                          order: channelOrder ?? .rgb, source: .option, description: optionText)
    }

    /// The options as a user would type them, for reports.
    public var optionText: String {
        func list(_ v: [Float]) -> String { v.map { String(format: "%g", $0) }.joined(separator: ",") }
        var parts: [String] = []
        if let r = inputRange { parts.append("--input-range \(list([r.lo, r.hi]))") }
        if let m = mean { parts.append("--mean \(list(m))") }
        if let s = std { parts.append("--std \(list(s))") }
        if let o = channelOrder { parts.append("--channel-order \(o.rawValue)") }
        return parts.joined(separator: " ")
    }
}

/// Finding the preprocessing of a file that records none (issue 9): try the usual input ranges
/// (and BGR) on clean images and keep the one the model classifies best — but only when it is
/// clearly best and clearly above chance; otherwise stop and say what was tried.
public enum PreprocessingDiscovery {
    /// The input ranges models are commonly trained on: [0,1] (torchvision ToTensor, Keras
    /// Rescaling(1/255)), [0,255] (raw pixels: Caffe, Neural Cleanse's Keras models), [−1,1]
    /// (Inception/MobileNet style).
    public static let candidateRanges: [(lo: Float, hi: Float)] = [(0, 1), (0, 255), (-1, 1)]
    /// Clean images tried per candidate: enough for ±4 points at 95% on accuracy, fast on 2 cores.
    public static let probeImages = 500
    /// A range is "clearly best" when it beats every trial at another range by this much accuracy
    /// (absolute); BGR must beat RGB at the same range by as much.
    public static let clearMargin = 0.10
    /// Accuracy below this multiple of chance (1/classes) is "near chance": no audit of such a
    /// model means anything (issue 9: audit refuses below 2× chance unless `--force`).
    public static let chanceFactor = 2.0

    public struct Trial: Sendable {
        public var range: (lo: Float, hi: Float)
        public var channelOrder: Preprocessing.ChannelOrder
        public var accuracy: Double
        public var text: String {
            "[\(String(format: "%g", range.lo)),\(String(format: "%g", range.hi))]\(channelOrder == .bgr ? " BGR" : "") \(String(format: "%.1f%%", 100 * accuracy))"
        }
    }

    /// Accuracy at or below which a model is near chance on `classes` classes.
    public static func chanceFloor(classes: Int) -> Double { chanceFactor / Double(max(classes, 1)) }

    /// Evenly spread clean images (test sets are often sorted by class).
    static func probeSet(_ test: ImageSet) -> ImageSet {
        let n = min(probeImages, test.count)
        guard n < test.count else { return test }
        return test.subset((0..<n).map { $0 * test.count / n })
    }

    static func preprocessing(_ range: (lo: Float, hi: Float), _ order: Preprocessing.ChannelOrder, channels: Int) -> Preprocessing {
        .fromRange(range, mean: Array(repeating: 0, count: channels), std: Array(repeating: 1, count: channels), order: order,
                   source: .inferred, description: "")
    }

    /// Tries every candidate range in both channel orders (RGB only for 1-channel models) and
    /// returns the choice with all trials, or throws `badInput` (exit 65) naming the file, the
    /// accuracies and the options to pass — unless `force`, which takes the best anyway.
    ///
    /// The range must be clearly best: ahead of every trial with another range by `clearMargin`.
    /// The order is RGB, the convention, unless BGR at that range is ahead of RGB by `clearMargin`
    /// (a model that barely minds the order is safe either way).
    public static func discover(_ c: Checkpoint, on test: ImageSet, force: Bool = false) throws -> (Preprocessing, [Trial]) {
        let channels = c.model.inputShape[0]
        let probe = probeSet(test)
        let orders: [Preprocessing.ChannelOrder] = channels == 3 ? [.rgb, .bgr] : [.rgb]
        let trials = candidateRanges.flatMap { r in
            orders.map { o in
                let p = preprocessing(r, o, channels: channels)
                return Trial(range: r, channelOrder: o,
                             accuracy: Evaluation.accuracy(c.model, on: CheckpointEvaluation.prepared(probe, for: p), normalization: p.normalization))
            }
        }
        func sameRange(_ a: Trial, _ b: Trial) -> Bool { a.range.lo == b.range.lo && a.range.hi == b.range.hi }
        var best = trials.max { $0.accuracy < $1.accuracy }!
        let otherRanges = trials.filter { !sameRange($0, best) }.map(\.accuracy).max() ?? 0
        let rangeClear = best.accuracy - otherRanges >= clearMargin
        if best.channelOrder == .bgr, let rgb = trials.first(where: { sameRange($0, best) && $0.channelOrder == .rgb }),
           best.accuracy - rgb.accuracy < clearMargin {
            best = rgb
        }
        let floor = chanceFloor(classes: c.classCount)
        let tried = trials.map(\.text).joined(separator: ", ")
        let how = "pass --input-range 0,1|0,255|-1,1 (with --mean/--std if the model normalises) and --channel-order rgb|bgr"
        if !force {
            if best.accuracy < floor {
                throw BlindspotError.badInput(file: c.path, problem: "records no preprocessing, and no input range tried reaches \(String(format: "%.0f%%", 100 * floor)) (2× chance) on \(probe.count) clean images of \(test.name) (tried \(tried)): wrong data set, or a preprocessing not tried — \(how), or --force")
            }
            if !rangeClear {
                throw BlindspotError.badInput(file: c.path, problem: "records no preprocessing, and no input range is clearly best on \(probe.count) clean images of \(test.name) (tried \(tried); need a lead of \(Int(100 * clearMargin)) points) — \(how), or --force to take the best")
            }
        }
        var p = preprocessing(best.range, best.channelOrder, channels: channels)
        p.description = "inputs in [\(String(format: "%g", best.range.lo)),\(String(format: "%g", best.range.hi))]\(best.channelOrder == .bgr ? ", BGR" : ""), "
            + "the best of \(tried) on \(probe.count) clean images\(force && (!rangeClear || best.accuracy < floor) ? " (not clearly best: taken because of --force)" : "")"
        return (p, trials)
    }
}

extension CheckpointEvaluation {
    /// Settles `c.preprocessing` for a run (issue 9): the command-line options when given (they
    /// win over the file, with a warning), else what the file records, else discovery on `test`.
    /// Returns warnings for the report.
    public static func resolvePreprocessing(_ c: inout Checkpoint, request: PreprocessingRequest, test: ImageSet,
                                            force: Bool = false) throws -> [String] {
        // Discovery runs the model on `test`: a model for other image sizes must stop here, with one line.
        try requireInputShape(c, matches: test, dataName: test.name)
        var warnings: [String] = []
        if !request.isEmpty {
            let p = try request.preprocessing(channels: c.model.inputShape[0])
            if let recorded = c.preprocessing, !recorded.sameTransform(as: p) {
                warnings.append("the options (\(p.description)) override the preprocessing recorded in \(c.path) (\(recorded.description))")
            }
            c.preprocessing = p
        } else if c.preprocessing == nil {
            c.preprocessing = try PreprocessingDiscovery.discover(c, on: test, force: force).0
        }
        return warnings
    }

    /// Refuses (exit 65) a model whose clean accuracy is below 2× chance unless `force`: an audit at
    /// chance accuracy looks plausible and means nothing (issue 9).
    public static func requireAboveChance(_ c: Checkpoint, accuracy: Double, images: Int, dataName: String, force: Bool) throws {
        let floor = PreprocessingDiscovery.chanceFloor(classes: c.classCount)
        guard !force, accuracy < floor else { return }
        let p = c.preprocessing.map { " with preprocessing \($0.source.rawValue): \($0.description)" } ?? ""
        throw BlindspotError.badInput(file: c.path, problem: "clean accuracy \(String(format: "%.1f%%", 100 * accuracy)) on \(images) images of \(dataName) is below \(String(format: "%.0f%%", 100 * floor)) (2× chance)\(p) — check the data set and the preprocessing (--input-range, --mean/--std, --channel-order), or --force to audit anyway")
    }
}

extension Preprocessing {
    /// Model input = (lo + (hi − lo)·p/255 − mean) / std, in `order`: the one mapping from the
    /// options' terms to our mean/std on [0,1] pixels, shared by the options and discovery.
    static func fromRange(_ range: (lo: Float, hi: Float), mean: [Float], std: [Float], order: ChannelOrder, source: Source,
                          description: String) -> Preprocessing {
        var p = Preprocessing.affine(scale: std.map { (range.hi - range.lo) / $0 }, offset: zip(mean, std).map { (range.lo - $0) / $1 },
                                     source: source, description: description)
        p.channelOrder = order
        return p
    }

    /// Whether two preprocessings feed the model the same inputs (provenance aside).
    func sameTransform(as o: Preprocessing) -> Bool {
        func close(_ a: [Float], _ b: [Float]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) } }
        return channelOrder == o.channelOrder && close(mean, o.mean) && close(std, o.std)
    }
}

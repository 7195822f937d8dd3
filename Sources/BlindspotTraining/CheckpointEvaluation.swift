import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization

/// `blindspot evaluate`: clean accuracy of a loaded checkpoint on a data set and, with a trigger
/// and target (given, or the file's ground truth), the attack success rate.
public struct EvaluationReport: Codable, Sendable {
    public struct Attack: Codable, Sendable {
        public var trigger: String
        public var target: Int
        /// "option" or "ground truth in the file".
        public var source: String
        public var successRate: Double
        public var images: Int
    }
    public var model: String
    public var format: String
    public var architecture: String
    public var dataset: String
    public var testImages: Int
    public var preprocessing: Preprocessing
    public var cleanAccuracy: Double
    public var attack: Attack?
    /// The same figures on the deployed model's integer path (`--deploy`).
    public var deployed: Deployed?
    public var warnings: [String]

    public struct Deployed: Codable, Sendable {
        public var scheme: String
        public var calibrationImages: Int
        /// nil: min–max calibration.
        public var calibrationPercentile: Double?
        public var cleanAccuracy: Double
        public var attackSuccessRate: Double?
        /// Fake-quant surrogate vs integer path on the test images.
        public var surrogateTop1Agreement: Double
        public var surrogateMaxLogitDifference: Float
        public var layersQuantized: Int
        public var meanRoundingError: Double
        public var maxRoundingError: Double
    }
}

public enum CheckpointEvaluation {
    /// The preprocessing a run uses: the file's when recorded, else the documented assumption.
    public static func preprocessing(for c: Checkpoint) -> Preprocessing {
        c.preprocessing ?? .assumedUnitRange(channels: c.model.inputShape[0])
    }

    /// The test images as the model must see them (channel order applied).
    public static func prepared(_ set: ImageSet, for p: Preprocessing) -> ImageSet {
        guard p.channelOrder == .bgr, set.channels == 3 else { return set }
        var out = set
        let plane = set.height * set.width
        out.images.withUnsafeMutableBufferPointer { b in
            for n in 0..<set.count {
                let base = n * 3 * plane
                for i in 0..<plane { b.swapAt(base + i, base + 2 * plane + i) }
            }
        }
        return out
    }

    /// Stops with one line when the model reads other image shapes than `test` holds (before
    /// anything runs the model on them).
    public static func requireInputShape(_ c: Checkpoint, matches test: ImageSet, dataName: String) throws {
        guard c.model.inputShape == [test.channels, test.height, test.width] else {
            throw BlindspotError.usage("model \(c.path) expects inputs \(c.model.inputShape), data set \(dataName) has [\(test.channels), \(test.height), \(test.width)]")
        }
    }

    /// Calibration images for static schemes (min–max ranges), drawn from the training split.
    public static let defaultCalibrationImages = 512

    public static func evaluate(_ c: Checkpoint, data: DataSplit, datasetName: String, trigger: Trigger?, target: Int?,
                                deploy: QuantizationScheme? = nil, calibrationImages: Int = defaultCalibrationImages,
                                calibrationPercentile: Double? = nil) throws -> EvaluationReport {
        let test = data.test
        try requireInputShape(c, matches: test, dataName: datasetName)
        guard c.classCount == test.numClasses else {
            throw BlindspotError.usage("model \(c.path) has \(c.classCount) classes, data set \(datasetName) has \(test.numClasses)")
        }
        let p = preprocessing(for: c)
        let images = prepared(test, for: p)
        let acc = Evaluation.accuracy(c.model, on: images, normalization: p.normalization)
        var warnings = c.warnings
        if p.source == .assumed { warnings.append("the file records no preprocessing; inputs in [0,1] were assumed") }
        var attack: EvaluationReport.Attack? = nil
        let gt = c.groundTruth
        let trig = try trigger ?? gt?.trigger.map { try Trigger.parse($0, patternSeed: gt?.seed ?? 0) }
        if let trig, let t = target ?? gt?.target {
            guard (0..<c.classCount).contains(t) else { throw BlindspotError.usage("--target \(t) is not a class of the model (0…\(c.classCount - 1))") }
            try trig.validate(height: test.height, width: test.width)
            let (rate, n) = Evaluation.attackSuccessRate(c.model, on: images, trigger: trig, target: t, normalization: p.normalization)
            attack = .init(trigger: trig.description, target: t, source: trigger == nil ? "ground truth in the file" : "option", successRate: rate, images: n)
        }
        var deployed: EvaluationReport.Deployed? = nil
        if let scheme = try Deployment.scheme(for: c, requested: deploy) {
            let calibrationSet = data.train.subset(Array(0..<min(calibrationImages, data.train.count)))
            let d = try Deployment.deploy(c, scheme: scheme, calibration: calibrationSet, preprocessing: p, percentile: calibrationPercentile)
            let integer: (Tensor) -> Tensor = { d.integerForward($0) }
            let (agree, diff) = d.agreement(on: Evaluation.batches(images, normalization: p.normalization))
            var asr: Double? = nil
            if let a = attack, let trig {
                asr = Evaluation.attackSuccessRate(using: integer, on: images, trigger: trig, target: a.target, normalization: p.normalization).rate
            }
            let errors = d.layers.map(\.roundingError)
            deployed = .init(scheme: scheme.rawValue, calibrationImages: d.calibrationImages ?? 0, calibrationPercentile: d.calibrationPercentile,
                             cleanAccuracy: Evaluation.accuracy(using: integer, on: images, normalization: p.normalization),
                             attackSuccessRate: asr, surrogateTop1Agreement: agree, surrogateMaxLogitDifference: diff,
                             layersQuantized: d.layers.count, meanRoundingError: errors.isEmpty ? 0 : errors.reduce(0, +) / Double(errors.count),
                             maxRoundingError: errors.max() ?? 0)
        }
        return EvaluationReport(model: c.path, format: c.format.displayName, architecture: c.architectureSource, dataset: datasetName,
                                testImages: test.count, preprocessing: p, cleanAccuracy: acc, attack: attack, deployed: deployed, warnings: warnings)
    }
}

import ArgumentParser
import BlindspotEngine
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotQuantization
import BlindspotTraining
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Clean accuracy of a checkpoint on a data set, and attack success rate with a trigger.",
        discussion: """
        The first thing to run on a checkpoint: it shows the file loaded right. The attack success rate
        counts test images of other classes than the target that the trigger sends to the target.
        Examples:
          blindspot evaluate model.h5 --data synthetic
          blindspot evaluate model.npz --data .data/gtsrb32 --trigger white:3@28,28 --target 0
          blindspot evaluate model.h5 --deploy int8
          blindspot evaluate nc_gtsrb.h5 --data .data/gtsrb32 --input-range 0,255
        """
    )

    @Argument(help: "The checkpoint file.") var model: String
    @Option(help: "Data set: synthetic, cifar10, gtsrb (with --data-dir), or a directory whose layout is recognised.") var data: String = "synthetic"
    @Option(help: "Directory for --data cifar10|gtsrb.") var dataDir: String?
    @Option(help: "Architecture for a state_dict: a built-in name or a model spec .json.") var arch: String?
    @Option(help: "Trigger KIND:SIZE@ROW,COL (kinds white, black, checker, pattern).") var trigger: String?
    @Option(help: "Target class of the trigger.") var target: Int?
    @Option(help: "Also evaluate as deployed: auto (inferred from the file), int8, int8-dynamic, int4, paper-int8 or paper-int4.") var deploy: String?
    @Option(help: "Calibration images for static schemes (from the training split).") var calibration: Int = CheckpointEvaluation.defaultCalibrationImages
    @Option(help: "Clip calibrated ranges at this percentile (e.g. 99.99) instead of min–max.") var calibrationPercentile: Double?
    @Option(help: "Seed (synthetic data set, pattern triggers).") var seed: UInt64 = 1
    @OptionGroup var preprocessing: PreprocessingOptions
    @OptionGroup var common: CommonOptions
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws {
        if (trigger == nil) != (target == nil) { throw ValidationError("--trigger and --target go together") }
        if calibration < 1 { throw ValidationError("--calibration must be at least 1") }
        if let p = calibrationPercentile, !(p > 50 && p <= 100) { throw ValidationError("--calibration-percentile must be in (50, 100]") }
        if let d = deploy, d != "auto", QuantizationScheme(rawValue: d) == nil {
            throw ValidationError("--deploy '\(d)' is not auto or a scheme (\(QuantizationScheme.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    func run() throws {
        try reportingErrors {
            // No progress to silence (the work takes seconds); warnings still go to stderr.
            if let t = common.threads { Parallel.workers = t }
            let trig = try trigger.map { try Trigger.parse($0, patternSeed: seed) }
            let split = try DataSource.resolve(data, directory: dataDir, seed: seed)
            var c = try CheckpointLoader.load(model, architecture: try ArchitectureChoice.parse(arch),
                                              inputShape: [split.test.channels, split.test.height, split.test.width])
            try preprocessing.resolve(&c, test: split.test)
            var scheme = deploy.flatMap { QuantizationScheme(rawValue: $0) }
            var reason: String? = nil
            if deploy == "auto" { (scheme, reason) = Deployment.inferScheme(c) }
            let r = try CheckpointEvaluation.evaluate(c, data: split, datasetName: data, trigger: trig, target: target,
                                                      deploy: scheme, calibrationImages: calibration, calibrationPercentile: calibrationPercentile)
            if json { emit(try jsonString(r)); return }
            var s = "\(r.model) (\(r.format), \(r.architecture)) on \(r.dataset), \(r.testImages) test images\n"
            s += "preprocessing (\(r.preprocessing.source.rawValue)): \(r.preprocessing.description)\n"
            s += String(format: "clean accuracy: %.2f%%\n", 100 * r.cleanAccuracy)
            if let a = r.attack {
                s += String(format: "attack success rate: %.2f%% (trigger %@ → class %d, %d images of other classes; from %@)\n",
                            100 * a.successRate, a.trigger, a.target, a.images, a.source)
            }
            if let d = r.deployed {
                if let reason { s += "deployed precision: \(d.scheme) (\(reason))\n" }
                let ranges = d.calibrationPercentile.map { String(format: ", ranges at the %g percentile", $0) } ?? ""
                s += String(format: "deployed %@ (integer path, %d calibration images%@): clean accuracy %.2f%%", d.scheme, d.calibrationImages, ranges, 100 * d.cleanAccuracy)
                if let a = d.attackSuccessRate { s += String(format: ", attack success rate %.2f%%", 100 * a) }
                s += String(format: "\n  %d layers quantized, weight rounding error mean %.4f max %.4f; surrogate agrees on %.2f%% of predictions (max |logit diff| %.3g)\n",
                            d.layersQuantized, d.meanRoundingError, d.maxRoundingError, 100 * d.surrogateTop1Agreement, d.surrogateMaxLogitDifference)
            }
            for w in r.warnings { s += "warning: \(w)\n" }
            emit(s)
        }
    }
}

extension QuantizationScheme: ExpressibleByArgument {}

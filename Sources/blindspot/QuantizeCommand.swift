import ArgumentParser
import BlindspotEngine
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotQuantization
import BlindspotTraining
import Foundation

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the deployed checkpoint of a model: quantized as a scheme, calibrated on clean images.",
        discussion: """
        The output (blindspot HDF5 or NPZ, by extension) holds the deployed graph, each quantized weight
        as int8 with its per-channel scales (about 4× smaller than FP32; paper-int4 stays float32), and
        the calibrated activation ranges; evaluate, audit and inspect use it without recalibrating.
        Examples:
          blindspot quantize model.h5 --deploy int8 --data synthetic --out model.int8.h5
          blindspot quantize resnet.npz --deploy int4 --data .data/cifar10 --out resnet.int4.npz
        """
    )

    @Argument(help: "The FP32 checkpoint.") var model: String
    @Option(help: "Scheme: int8, int8-dynamic, int4, paper-int8 or paper-int4.") var deploy: QuantizationScheme
    @Option(help: "Calibration data: synthetic, cifar10, gtsrb (with --data-dir), or a directory.") var data: String = "synthetic"
    @Option(help: "Directory for --data cifar10|gtsrb.") var dataDir: String?
    @Option(help: "Architecture for a state_dict: a built-in name or a model spec .json.") var arch: String?
    @Option(help: "Calibration images (from the training split).") var calibration: Int = CheckpointEvaluation.defaultCalibrationImages
    @Option(help: "Clip calibrated ranges at this percentile (e.g. 99.99) instead of min–max.") var calibrationPercentile: Double?
    @Option(help: "Seed (synthetic data set).") var seed: UInt64 = 1
    @Option(help: "Output file (.h5 or .npz).") var out: String
    @OptionGroup var preprocessing: PreprocessingOptions
    @OptionGroup var common: CommonOptions

    func validate() throws {
        if calibration < 1 { throw ValidationError("--calibration must be at least 1") }
        if let p = calibrationPercentile, !(p > 50 && p <= 100) { throw ValidationError("--calibration-percentile must be in (50, 100]") }
        if !(out.hasSuffix(".h5") || out.hasSuffix(".npz")) { throw ValidationError("--out must end in .h5 or .npz") }
    }

    func run() throws {
        try reportingErrors {
            // No progress to silence (the work takes seconds); warnings still go to stderr.
            if let t = common.threads { Parallel.workers = t }
            let split = try DataSource.resolve(data, directory: dataDir, seed: seed)
            var c = try CheckpointLoader.load(model, architecture: try ArchitectureChoice.parse(arch),
                                              inputShape: [split.train.channels, split.train.height, split.train.width])
            // The deployed file records the preprocessing it was calibrated with.
            try preprocessing.resolve(&c, test: split.test)
            if let r = c.quantization { throw BlindspotError.usage("\(model) is already deployed as \(r.scheme.rawValue); quantize the FP32 file") }
            let p = CheckpointEvaluation.preprocessing(for: c)
            let calibrationSet = split.train.subset(Array(0..<min(calibration, split.train.count)))
            let d = try Deployment.deploy(c, scheme: deploy, calibration: calibrationSet, preprocessing: p, percentile: calibrationPercentile)
            try CheckpointLoader.save(try Deployment.checkpoint(d, from: c), to: out)
            emit("\(out): \(model) deployed as \(deploy.rawValue); \(d.layers.count) layers quantized" +
                 (d.calibrationImages.map { ", \($0) calibration images" } ?? ""))
        }
    }
}

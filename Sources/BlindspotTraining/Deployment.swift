import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization

/// Deployed models for checkpoints: built and calibrated from an FP32 file, or restored as saved
/// by `blindspot quantize` (no recalibration).
public enum Deployment {
    /// The scheme to deploy with: the file's when it is a deployed checkpoint, else `requested`.
    public static func scheme(for c: Checkpoint, requested: QuantizationScheme?) throws -> QuantizationScheme? {
        guard let record = c.quantization else { return requested }
        if let r = requested, r != record.scheme {
            throw BlindspotError.usage("\(c.path) is already deployed as \(record.scheme.rawValue); --deploy \(r.rawValue) would quantize it twice (use the FP32 file)")
        }
        return record.scheme
    }

    /// Builds (and for static schemes calibrates, on `calibration` images as the model sees
    /// them) or restores the deployed model.
    public static func deploy(_ c: Checkpoint, scheme: QuantizationScheme, calibration: ImageSet, preprocessing p: Preprocessing,
                              percentile: Double? = nil) throws -> DeployedModel {
        if let record = c.quantization { return try DeployedModel(restoring: c.model, record: record) }
        let d = try DeployedModel(c.model, scheme: scheme)
        d.calibrate(Evaluation.batches(CheckpointEvaluation.prepared(calibration, for: p), normalization: p.normalization), images: calibration.count,
                    percentile: percentile)
        return d
    }

    /// The deployed checkpoint: the deployed graph and weights, the quantization record, and
    /// everything else the source file said.
    public static func checkpoint(_ d: DeployedModel, from c: Checkpoint) throws -> Checkpoint {
        var out = c
        out.model = try d.deployedBase()
        out.quantization = d.record
        out.architectureSource = "model spec in the file"
        out.metadata["deployed_from"] = c.path
        return out
    }
}

extension Deployment {
    /// `--deploy auto`: what the file says about its deployed precision, with the reason.
    /// A deployed checkpoint names its scheme; float weights that all lie on one integer grid
    /// (per-channel int4 or int8, or the study's per-tensor 16 levels) were quantized before they
    /// reached us; anything else is an FP32 file, deployed as `int8` (the realistic default).
    /// `rounding`: the file's rounding positions when the caller has them already.
    public static func inferScheme(_ c: Checkpoint, rounding: [RoundingPositions]? = nil) -> (scheme: QuantizationScheme, reason: String) {
        if let r = c.quantization {
            if c.format == .pytorchQuantizedNPZ {
                return (r.scheme, "the file is a PyTorch quantized export: int8 weights with their scales and PyTorch's activation scales")
            }
            return (r.scheme, "the file is a deployed \(r.scheme.rawValue) checkpoint")
        }
        var grids: [StorageAnalysis.Grid] = []
        for n in c.model.nodes {
            if let conv = n.layer as? Conv2d { grids.append(StorageAnalysis.grid(of: conv.weight.value)) }
            if let fc = n.layer as? Linear { grids.append(StorageAnalysis.grid(of: fc.weight.value)) }
        }
        // Weights piled up at one grid's rounding-interval edges were tuned for that grid
        // (a quantization-conditioned backdoor): audit the precision they were conditioned for.
        let marks = rounding ?? [RoundingPositions(c.model, bits: 4), RoundingPositions(c.model, bits: 8)]
        for grid in [QuantizationScheme.int4, .int8] {
            if let r = marks.first(where: { $0.grid == grid.rawValue }), !r.standingOut.isEmpty {
                return (grid, "FP32 weights, but in \(r.standingOut.count) of \(r.layers.count) layers they pile up at the edges of their \(r.grid) rounding intervals (tuned for \(r.grid))")
            }
        }
        if let g = grids.first, g != .none, grids.allSatisfy({ $0 == g }) {
            switch g {
            case .int4PerChannel: return (.int4, "every conv/linear weight lies on a per-channel 16-level grid")
            case .int8PerChannel: return (.int8, "every conv/linear weight lies on a per-channel 256-level grid")
            case .int4PerTensorAsymmetric: return (.paperInt4, "every weight lies on 16 min–max levels per tensor (the study's INT4)")
            case .none: break
            }
        }
        return (.int8, "FP32 weights; deploying as int8, the realistic default")
    }
}

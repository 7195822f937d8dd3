import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization
import Foundation

/// The file formats blindspot reads (and, for the native ones, writes).
public enum CheckpointFormat: String, Codable, Sendable {
    case kerasH5 = "keras-h5"
    case keras3 = "keras3-zip"
    case stateDictNPZ = "npz-state-dict"
    case nativeH5 = "blindspot-h5"
    case nativeNPZ = "blindspot-npz"
    /// A torch.ao.quantization model saved as NPZ in blindspot's convention (`PyTorchQuantized`).
    case pytorchQuantizedNPZ = "npz-pytorch-quantized"

    public var displayName: String {
        switch self {
        case .kerasH5: return "Keras legacy HDF5"
        case .keras3: return "Keras 3 .keras archive"
        case .stateDictNPZ: return "PyTorch state_dict (NPZ)"
        case .nativeH5: return "blindspot HDF5"
        case .nativeNPZ: return "blindspot NPZ"
        case .pytorchQuantizedNPZ: return "PyTorch quantized export (NPZ)"
        }
    }
}

/// How raw pixels become model inputs. All the usual conventions (inputs in [0,1], [0,255] or
/// [−1,1], then per-channel mean/std; Keras Rescaling + Normalization layers) are affine per
/// channel, so they fold into one mean/std applied to pixels scaled to [0,1]:
/// x_c = (p_c/255 − mean_c) / std_c, after reordering channels if the model reads BGR.
public struct Preprocessing: Codable, Equatable, Sendable {
    public enum ChannelOrder: String, Codable, Sendable { case rgb, bgr }
    /// Where the preprocessing came from, printed in reports.
    public enum Source: String, Codable, Sendable {
        /// Recorded in the checkpoint (a native header, Keras preprocessing layers).
        case file
        /// Given on the command line.
        case option
        /// Measured by trying candidates on clean data.
        case inferred
        /// Nothing recorded: a documented default was assumed.
        case assumed
    }
    public var mean: [Float]
    public var std: [Float]
    public var channelOrder: ChannelOrder
    public var source: Source
    /// Human-readable account, e.g. "Keras Rescaling(scale 0.00392) + Normalization".
    public var description: String

    public init(mean: [Float], std: [Float], channelOrder: ChannelOrder = .rgb, source: Source, description: String) {
        self.mean = mean; self.std = std; self.channelOrder = channelOrder; self.source = source; self.description = description
    }

    /// The data module's normalisation for these values (channel order handled separately).
    public var normalization: Normalization { Normalization(mean: mean, std: std) }

    /// Per-channel affine map x = a·p01 + b expressed as mean/std on [0,1] pixels.
    public static func affine(scale a: [Float], offset b: [Float], source: Source, description: String) -> Preprocessing {
        Preprocessing(mean: zip(a, b).map { -$1 / $0 }, std: a.map { 1 / $0 }, source: source, description: description)
    }

    /// Refuses preprocessing recorded in a file that cannot apply to a model with `channels` input
    /// channels: one finite mean and one finite, non-zero std per channel (data loaders index them
    /// per channel and divide by std).
    func validate(channels: Int, file: String) throws {
        guard mean.count == channels, std.count == channels else {
            throw BlindspotError.badInput(file: file, problem: "preprocessing has \(mean.count) means and \(std.count) stds for a model with \(channels) input channels")
        }
        guard mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 != 0 }) else {
            throw BlindspotError.badInput(file: file, problem: "preprocessing mean/std are not finite, or a std is 0")
        }
    }

    /// The default when nothing is recorded: inputs in [0,1], no mean/std.
    public static func assumedUnitRange(channels: Int) -> Preprocessing {
        Preprocessing(mean: Array(repeating: 0, count: channels), std: Array(repeating: 1, count: channels), source: .assumed,
                      description: "nothing recorded in the file; assumed inputs in [0,1]")
    }
}

/// Ground truth carried by forged models (filled in by `forge`).
public struct GroundTruth: Codable, Equatable, Sendable {
    public var backdoored: Bool
    public var attack: String?
    /// Trigger spec, e.g. `white:3@28,28`.
    public var trigger: String?
    public var target: Int?
    public var poisonRate: Double?
    public var seed: UInt64?
    /// Precision at which the backdoor is active when it is quantization-conditioned (`int4`, …).
    public var activeAt: [String]?
    /// The data set the model was trained on (`synthetic`, `cifar10`, `gtsrb`).
    public var dataset: String?
    public var epochs: Int?
    /// Number of training images poisoned.
    public var poisonedImages: Int?

    public init(backdoored: Bool, attack: String? = nil, trigger: String? = nil, target: Int? = nil, poisonRate: Double? = nil,
                seed: UInt64? = nil, activeAt: [String]? = nil, dataset: String? = nil, epochs: Int? = nil, poisonedImages: Int? = nil) {
        self.backdoored = backdoored; self.attack = attack; self.trigger = trigger; self.target = target
        self.poisonRate = poisonRate; self.seed = seed; self.activeAt = activeAt
        self.dataset = dataset; self.epochs = epochs; self.poisonedImages = poisonedImages
    }
}

/// A loaded checkpoint: the model graph with its weights, and everything the file says about it.
public struct Checkpoint: @unchecked Sendable {
    public var path: String
    public var model: Model
    public var format: CheckpointFormat
    /// Where the architecture came from: "Keras model_config", "recognised family …", "spec in file", "--arch …".
    public var architectureSource: String
    /// nil when the file records no preprocessing.
    public var preprocessing: Preprocessing?
    public var classNames: [String]?
    /// "softmax" when the file's model ended in a softmax, which the engine drops (it works on logits).
    public var outputActivation: String?
    public var metadata: [String: String]
    public var groundTruth: GroundTruth?
    /// Element type each stored tensor had in the file (`float32`, `float16`, `float64`), by parameter/buffer name.
    public var storedTypes: [String: String]
    /// How a weight the file stores as integers is quantized, by weight name (e.g. "int8,
    /// per-channel scales"); empty for files of float weights.
    public var weightQuantization: [String: String] = [:]
    public var warnings: [String]
    /// Set for a deployed checkpoint (`blindspot quantize`): `model` is then the deployed graph
    /// (BatchNorm folded where the scheme folds) with weights on their integer grid.
    public var quantization: QuantizationRecord?

    public init(path: String, model: Model, format: CheckpointFormat, architectureSource: String, preprocessing: Preprocessing? = nil,
                classNames: [String]? = nil, outputActivation: String? = nil, metadata: [String: String] = [:],
                groundTruth: GroundTruth? = nil, storedTypes: [String: String] = [:], warnings: [String] = []) {
        self.path = path; self.model = model; self.format = format; self.architectureSource = architectureSource
        self.preprocessing = preprocessing; self.classNames = classNames; self.outputActivation = outputActivation
        self.metadata = metadata; self.groundTruth = groundTruth; self.storedTypes = storedTypes; self.warnings = warnings
    }

    /// The number of classes the model outputs.
    public var classCount: Int { model.outputShape.reduce(1, *) }
}

/// Copies `values` into a named parameter or buffer after checking its shape.
func assign(_ values: [Float], shape: [Int], to tensor: Tensor, name: String, file: String) throws {
    guard shape == tensor.shape || (shape.reduce(1, *) == tensor.count && shape.count <= 1 && tensor.shape.count <= 1) else {
        throw BlindspotError.badInput(file: file, problem: "tensor '\(name)' has shape \(shape), the model needs \(tensor.shape)")
    }
    guard values.allSatisfy({ $0.isFinite }) else {
        throw BlindspotError.badInput(file: file, problem: "tensor '\(name)' holds NaN or infinite values")
    }
    values.withUnsafeBufferPointer { tensor.data.update(from: $0.baseAddress!, count: tensor.count) }
}

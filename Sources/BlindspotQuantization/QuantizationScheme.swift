/// The deployed precisions blindspot audits at (`--deploy`). See shared/docs/mission.md
/// ("Quantize what ships") for why both realistic and the study's own schemes exist.
public enum QuantizationScheme: String, CaseIterable, Sendable, Codable {
    /// Static INT8 as TFLite, ONNX Runtime and PyTorch FBGEMM deploy: BatchNorm folded into the
    /// preceding conv; weights int8 symmetric per output channel; activations uint8 affine per
    /// tensor with ranges calibrated (min–max) on clean images; int32 accumulation.
    case int8
    /// The same weights; each layer's input range is taken from the current batch at run time.
    case int8Dynamic = "int8-dynamic"
    /// W4A8: per-channel symmetric 4-bit weights (levels −8…7) after folding, activations as int8.
    case int4
    /// What the study's code ran (PyTorch `quantize_dynamic(model, {Linear, Conv2d}, qint8)`):
    /// only Linear layers quantized — per-tensor symmetric int8 weights, dynamic per-tensor
    /// activations — while convolutions and BatchNorm stay FP32 (PyTorch has no dynamic Conv2d).
    case paperInt8 = "paper-int8"
    /// What the study's code ran for "INT4": every parameter named `weight` (conv, linear and
    /// BatchNorm γ) rounded per tensor to 16 asymmetric min–max levels; no folding, biases and
    /// activations FP32.
    case paperInt4 = "paper-int4"

    /// Bits of the weight integers.
    public var weightBits: Int { self == .int4 || self == .paperInt4 ? 4 : 8 }
    /// Whether the deployed weights are integers × a per-channel scale (stored as int8 in deployed
    /// checkpoints); `paper-int4` rounds onto a per-tensor min–max grid instead.
    public var storesIntegerWeights: Bool { self != .paperInt4 }
    /// Whether BatchNorm is folded into the preceding convolution before quantizing.
    public var foldsBatchNorm: Bool { self == .int8 || self == .int8Dynamic || self == .int4 }

    public enum ActivationMode: String, Sendable, Codable {
        /// Per-tensor ranges fixed by calibration.
        case calibrated
        /// Per-tensor ranges from each batch.
        case dynamic
        /// Activations stay FP32.
        case none
    }

    public var activations: ActivationMode {
        switch self {
        case .int8, .int4: return .calibrated
        case .int8Dynamic, .paperInt8: return .dynamic
        case .paperInt4: return .none
        }
    }
}

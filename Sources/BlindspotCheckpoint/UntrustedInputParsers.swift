import BlindspotCore
import Foundation

/// The parsers an untrusted checkpoint reaches before any model runs, each fed bytes from memory.
/// The fuzz harness (`Sources/BlindspotFuzz`, `scripts/fuzz`, issue 9) drives them with libFuzzer;
/// its replay mode and the tests run saved inputs through the same door.
///
/// Contract: any input either parses or throws `BlindspotError` (exit 65 and one line at the CLI).
/// Anything else — another error type, a trap, a hang, an allocation the file did not pay for — is a bug.
public enum UntrustedInputParsers {
    public enum Target: String, CaseIterable, Sendable {
        /// One `.npy` image: magic, version, header dict, shape and dtype, payload.
        case npy
        /// An `.npz` (zip) archive of `.npy` members: our zip reader, inflate, then each member.
        case npz
        /// A Keras `model_config` / `config.json` turned into our graph (no weights).
        case kerasConfig = "keras-config"
        /// Our native model spec (JSON) turned into a graph with zero parameters.
        case modelSpec = "model-spec"
    }

    /// Parses `bytes` as `target`, discarding the result.
    public static func parse(_ bytes: UnsafeRawBufferPointer, as target: Target) throws {
        let name = "fuzz-input"
        switch target {
        case .npy:
            _ = try NPY.parse(bytes, file: name)
        case .npz:
            _ = try NPZ.read(data: [UInt8](bytes), file: name)
        case .kerasConfig:
            _ = try KerasModelBuilder(file: name, json: Data(bytes)).build()
        case .modelSpec:
            // The same path as `--arch spec.json`: JSON limits, decoding, graph.
            _ = try CheckpointLoader.modelSpec(Data(bytes), file: name).build(file: name)
        }
    }
}

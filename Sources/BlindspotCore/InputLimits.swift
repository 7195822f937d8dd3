/// Caps on what an untrusted input file can make blindspot allocate or compute. An audit tool opens
/// files from people it does not trust, so every size a file declares is checked against these
/// before anything is allocated or parsed. Each cap is far above any checkpoint blindspot is meant
/// for (image classifiers of up to a few hundred MB) and far below what would exhaust the machines
/// it runs on (24 GiB). A file beyond a cap is refused as `badInput` (exit 65), naming the file.
public enum InputLimits {
    /// Most bytes of tensors one model may declare: 4 GiB, i.e. 2³⁰ float32 parameters and buffers.
    /// The models audited here hold far less (ResNet-50: 98 MB, VGG-16: 528 MB); an audit keeps the
    /// FP32 model, its deployed copy and the defenses' working copies in memory at once, so a model
    /// much above 4 GiB could not be audited on a 24 GiB machine anyway. Checked before layers are
    /// created from a model spec or Keras config, and before an HDF5 dataset is read.
    public static let maxTensorBytes = 4 << 30

    /// Largest JSON document read from a checkpoint (Keras `model_config` / `config.json`, the
    /// blindspot header, a model spec): 16 MiB. A Keras config costs ~1–2 KB per layer, so this
    /// allows models of thousands of layers; JSONSerialization builds a tree several times the text's
    /// size, which this keeps bounded.
    public static let maxJSONBytes = 16 << 20

    /// Deepest nesting of JSON arrays and objects: 100. Keras 3 configs nest about 11 deep (a layer's
    /// inbound node's tensor history), plus about 5 per nested sub-model; parsers recurse once per
    /// level, so a document nested thousands deep is refused before it is parsed.
    public static let maxJSONDepth = 100

    /// Most layers (nodes) in one model graph: 10,000 — ResNet-152 has about 500. Graph builders look
    /// layers up by name, so the work grows with the square of this.
    public static let maxGraphNodes = 10_000

    /// Largest channel count, height or width of a model input: 4096 (an image of 4096×4096).
    public static let maxInputSide = 4096

    /// "4 GiB", "512 MiB", "12 KiB", "100 bytes": a byte count for messages.
    public static func describe(bytes: Int) -> String {
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] where bytes >= 1 << shift {
            let tenths = (Double(bytes) / Double(1 << shift) * 10).rounded() / 10
            return tenths == tenths.rounded() ? "\(Int(tenths)) \(unit)" : "\(tenths) \(unit)"
        }
        return "\(bytes) bytes"
    }

    /// Checks a JSON document's size and nesting depth before it is parsed (`maxJSONBytes`,
    /// `maxJSONDepth`): one pass over the bytes, tracking `[`/`{` outside strings. `what` names the
    /// document in the message ("Keras model config", "blindspot header").
    public static func checkJSON<Bytes: Collection<UInt8>>(_ bytes: Bytes, file: String, what: String) throws {
        guard bytes.count <= maxJSONBytes else {
            throw BlindspotError.badInput(file: file, problem: "\(what) is \(describe(bytes: bytes.count)) of JSON, more than the \(describe(bytes: maxJSONBytes)) allowed (corrupt or hostile file)")
        }
        var depth = 0, inString = false, escaped = false
        for c in bytes {
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                guard depth <= maxJSONDepth else {
                    throw BlindspotError.badInput(file: file, problem: "\(what) has JSON nested more than \(maxJSONDepth) deep (corrupt or hostile file)")
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
    }
}

import BlindspotEngine
import BlindspotQuantization

/// What `blindspot inspect` reports about a checkpoint (`schemas/inspect.schema.json`).
public struct Inspection: Codable, Sendable {
    public struct LayerRow: Codable, Sendable {
        public var name: String
        public var op: String
        public var inputs: [String]
        /// Per-sample output shape.
        public var outputShape: [Int]
        public var parameters: Int
        /// Multiply–accumulates per image (conv and linear layers).
        public var macs: Int
        /// Element type in the file for this layer's weight (float32, float16, …).
        public var storedAs: String?
        /// For a weight stored as integers: how (e.g. "int8, per-channel scales").
        public var quantizedAs: String?
        /// Quantization grid the weight values lie on, if any.
        public var grid: String?
    }
    public var file: String
    public var format: String
    public var architectureSource: String
    public var modelName: String
    public var inputShape: [Int]
    public var classes: Int
    public var classNames: [String]?
    public var layers: [LayerRow]
    public var totalParameters: Int
    public var totalMACs: Int
    public var preprocessing: Preprocessing?
    public var outputActivation: String?
    public var groundTruth: GroundTruth?
    /// For a deployed checkpoint: its scheme and calibration.
    public var deployedAs: String?
    /// FP32 files only: where the weights fall inside their int8 and int4 rounding intervals
    /// (a pile-up at the edges is the mark of a quantization-conditioned backdoor).
    public var roundingPositions: [RoundingPositions]?
    public var metadata: [String: String]
    public var warnings: [String]

    public init(_ c: Checkpoint) {
        let m = c.model
        var rows: [LayerRow] = []
        for (i, n) in m.nodes.enumerated() where i > 0 {
            var macs = 0
            var grid: String? = nil
            var stored: String? = nil
            var quantized: String? = nil
            if let conv = n.layer as? Conv2d {
                macs = saturatingProduct(m.shapes[i] + [conv.inChannels, conv.kernel.h, conv.kernel.w])
                grid = StorageAnalysis.grid(of: conv.weight.value).rawValue
                stored = c.storedTypes[conv.weight.name]
                quantized = c.weightQuantization[conv.weight.name]
            } else if let fc = n.layer as? Linear {
                macs = saturatingProduct([fc.inFeatures, fc.outFeatures])
                grid = StorageAnalysis.grid(of: fc.weight.value).rawValue
                stored = c.storedTypes[fc.weight.name]
                quantized = c.weightQuantization[fc.weight.name]
            } else if let bn = n.layer as? BatchNorm2d {
                stored = c.storedTypes[bn.weight.name]
            }
            rows.append(LayerRow(name: n.name, op: n.layer.kind, inputs: n.inputs.map { m.nodes[$0].name }, outputShape: m.shapes[i],
                                 parameters: n.layer.parameters.reduce(0) { $0 + $1.value.count }, macs: macs, storedAs: stored,
                                 quantizedAs: quantized, grid: grid))
        }
        file = c.path
        format = c.format.displayName
        architectureSource = c.architectureSource
        modelName = m.name
        inputShape = m.inputShape
        classes = c.classCount
        classNames = c.classNames
        layers = rows
        totalParameters = m.parameterCount
        totalMACs = rows.reduce(0) { $0.addingReportingOverflow($1.macs).overflow ? Int.max : $0 + $1.macs }
        preprocessing = c.preprocessing
        outputActivation = c.outputActivation
        groundTruth = c.groundTruth
        deployedAs = c.quantization.map { q in
            if c.format == .pytorchQuantizedNPZ {
                return "\(q.scheme.rawValue) as PyTorch quantized it: \(q.weightScales.count) layers with int8 weights and their scales, "
                    + "\(q.activations.count) activation scales and zero points from the export (used as they are, no recalibration)"
            }
            return "\(q.scheme.rawValue): \(q.weightScales.count) layers with integer weights and per-channel scales"
                + (q.activations.isEmpty ? "" : ", \(q.activations.count) calibrated activation ranges (\(q.calibrationImages ?? 0) images)")
        }
        roundingPositions = c.quantization == nil ? [RoundingPositions(m, bits: 8), RoundingPositions(m, bits: 4)] : nil
        metadata = c.metadata
        warnings = c.warnings
    }
}

/// The product of non-negative factors, Int.max if it overflows: a model read from a file may
/// declare sizes whose compute count does not fit 64 bits (a report says "huge", never traps).
func saturatingProduct(_ factors: [Int]) -> Int {
    var p = 1
    for f in factors {
        let (q, overflow) = p.multipliedReportingOverflow(by: f)
        if overflow { return Int.max }
        p = q
    }
    return p
}

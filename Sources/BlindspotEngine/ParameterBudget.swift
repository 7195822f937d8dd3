import BlindspotCore

/// The float32 parameters and buffers a graph builder is about to allocate from sizes a file
/// declares (a model spec, a Keras config), counted before each layer is created: a few bytes of
/// JSON can ask for a 2¹⁶-channel 64×64 convolution (64 TiB), and allocating first would abort the
/// process instead of refusing the file. The total may not exceed `InputLimits.maxTensorBytes`.
public struct ParameterBudget: Sendable {
    /// The file named in the refusal.
    public let file: String
    /// float32 values reserved so far.
    public private(set) var values = 0

    public init(file: String) { self.file = file }

    /// Reserves tensors of the given shapes for `layer`; throws `badInput` if a dimension is
    /// negative, a product overflows, or the running total passes the cap.
    public mutating func reserve(_ shapes: [[Int]], for layer: String) throws {
        var total = values
        for shape in shapes {
            var count = 1
            for d in shape {
                guard d >= 0 else { throw BlindspotError.badInput(file: file, problem: "layer '\(layer)' declares a tensor of shape \(shape)") }
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, p <= ParameterBudget.maxValues else { throw tooLarge(layer, shape) }
                count = p
            }
            total += count
            guard total <= ParameterBudget.maxValues else { throw tooLarge(layer, shape) }
        }
        values = total
    }

    /// Reserves what a layer created with the engine's initialisers allocates: conv2d weight
    /// [OC, IC, K, K] and bias [OC]; linear weight [OUT, IN] and bias [OUT]; batchnorm2d weight,
    /// bias, running mean and variance [C] each.
    public mutating func reserveConv(in ic: Int, out oc: Int, kernel k: Int, bias: Bool, for layer: String) throws {
        try reserve([[oc, ic, k, k]] + (bias ? [[oc]] : []), for: layer)
    }

    public mutating func reserveLinear(in fi: Int, out fo: Int, bias: Bool, for layer: String) throws {
        try reserve([[fo, fi]] + (bias ? [[fo]] : []), for: layer)
    }

    public mutating func reserveBatchNorm(channels c: Int, for layer: String) throws {
        try reserve(Array(repeating: [c], count: 4), for: layer)
    }

    /// float32 values that fit in `InputLimits.maxTensorBytes`.
    static let maxValues = InputLimits.maxTensorBytes / MemoryLayout<Float>.size

    private func tooLarge(_ layer: String, _ shape: [Int]) -> BlindspotError {
        var bytes = MemoryLayout<Float>.size, overflow = false
        for d in shape where !overflow { (bytes, overflow) = bytes.multipliedReportingOverflow(by: d) }
        let size = overflow ? "more than 8 EiB" : InputLimits.describe(bytes: bytes)
        return .badInput(file: file, problem: "layer '\(layer)' declares a tensor of shape \(shape) (\(size)), which takes the model past the \(InputLimits.describe(bytes: InputLimits.maxTensorBytes)) of parameters blindspot loads (corrupt or hostile file)")
    }
}

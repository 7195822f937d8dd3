import BlindspotCore

/// The built-in architectures, by the names the CLI accepts.
public enum Architecture: String, CaseIterable, Sendable, Codable {
    /// The Neural Cleanse GTSRB network (Wang et al., S&P 2019; `bolunwang/backdoor`
    /// `gtsrb_backdoor_model.h5`): three stages of Conv 'same' + Conv 'valid' (3×3, 32/64/128
    /// channels) + MaxPool 2, then Dense 512, Dropout 0.5, Dense classes; ReLU after each conv and
    /// the hidden dense. 571,723 parameters with 43 classes.
    case cnn6
    /// He et al. 2016 (§4.2) CIFAR ResNet-20: 3×3 conv 16 + BN, three stages of 3 basic blocks
    /// (16/32/64 channels, stride 2 at stages 2 and 3), global average pool, linear. Shortcut
    /// variant: **option B** — a 1×1 conv (stride 2, no bias) + BN projection where the shape
    /// changes, identity elsewhere. 272,474 parameters with 10 classes (option A's zero-padding
    /// shortcuts give the often-quoted 269,722 ≈ 0.27 M; B adds 2,752).
    case resnet20
    /// PreAct-ResNet-18 (He et al., ECCV 2016) as in BackdoorBench `models/preact_resnet.py`
    /// (after kuangliu/pytorch-cifar): 3×3 conv 64, four stages of 2 pre-activation blocks
    /// (64-128-256-512; 1×1 conv shortcut applied to relu(bn1(x)) where the shape changes),
    /// final BN + ReLU, global average pool, linear. 11,172,170 parameters with 10 classes.
    case preactResNet18 = "preact-resnet18"

    /// Builds the network for 3×32×32 inputs with weights initialised from `seed`.
    public func build(classes: Int, seed: UInt64, inputShape: [Int] = [3, 32, 32]) throws -> Model {
        let model: Model
        switch self {
        case .cnn6: model = try Architecture.cnn6(classes: classes, inputShape: inputShape)
        case .resnet20: model = try Architecture.resnet20(classes: classes, inputShape: inputShape)
        case .preactResNet18: model = try Architecture.preactResNet18(classes: classes, inputShape: inputShape)
        }
        Initialization.heNormal(model, seed: seed)
        return model
    }

    static func cnn6(classes: Int, inputShape: [Int]) throws -> Model {
        let m = Model(name: "cnn6", inputShape: inputShape)
        var c = inputShape[0], i = 0
        for width in [32, 64, 128] {
            i += 1
            try m.add("conv\(i)", Conv2d(inChannels: c, outChannels: width, kernel: 3, padding: .symmetric(1)))
            try m.add("relu\(i)", ReLU())
            i += 1
            try m.add("conv\(i)", Conv2d(inChannels: width, outChannels: width, kernel: 3))
            try m.add("relu\(i)", ReLU())
            try m.add("pool\(i / 2)", MaxPool2d(kernel: 2))
            c = width
        }
        try m.add("flatten", Flatten())
        let features = m.shapes[m.shapes.count - 1][0]
        try m.add("fc1", Linear(inFeatures: features, outFeatures: 512))
        try m.add("relu_fc1", ReLU())
        try m.add("dropout", Dropout(probability: 0.5))
        try m.add("fc2", Linear(inFeatures: 512, outFeatures: classes))
        return m
    }

    static func resnet20(classes: Int, inputShape: [Int]) throws -> Model {
        let m = Model(name: "resnet20", inputShape: inputShape)
        try m.add("conv1", Conv2d(inChannels: inputShape[0], outChannels: 16, kernel: 3, padding: .symmetric(1), bias: false))
        try m.add("bn1", BatchNorm2d(channels: 16))
        var x = try m.add("relu1", ReLU())
        var c = 16
        for (stage, width) in [16, 32, 64].enumerated() {
            for b in 0..<3 {
                let stride = (stage > 0 && b == 0) ? 2 : 1
                let p = "layer\(stage + 1).\(b)"
                try m.add("\(p).conv1", Conv2d(inChannels: c, outChannels: width, kernel: 3, stride: stride, padding: .symmetric(1), bias: false), inputs: [x])
                try m.add("\(p).bn1", BatchNorm2d(channels: width))
                try m.add("\(p).relu1", ReLU())
                try m.add("\(p).conv2", Conv2d(inChannels: width, outChannels: width, kernel: 3, padding: .symmetric(1), bias: false))
                let main = try m.add("\(p).bn2", BatchNorm2d(channels: width))
                var shortcut = x
                if stride != 1 || c != width {
                    try m.add("\(p).shortcut.0", Conv2d(inChannels: c, outChannels: width, kernel: 1, stride: stride, bias: false), inputs: [x])
                    shortcut = try m.add("\(p).shortcut.1", BatchNorm2d(channels: width))
                }
                try m.add("\(p).add", Add(), inputs: [main, shortcut])
                x = try m.add("\(p).relu2", ReLU())
                c = width
            }
        }
        try m.add("avgpool", GlobalAvgPool2d())
        try m.add("linear", Linear(inFeatures: 64, outFeatures: classes))
        return m
    }

    static func preactResNet18(classes: Int, inputShape: [Int]) throws -> Model {
        let m = Model(name: "preact-resnet18", inputShape: inputShape)
        var x = try m.add("conv1", Conv2d(inChannels: inputShape[0], outChannels: 64, kernel: 3, padding: .symmetric(1), bias: false))
        var c = 64
        for (stage, width) in [64, 128, 256, 512].enumerated() {
            for b in 0..<2 {
                let stride = (stage > 0 && b == 0) ? 2 : 1
                let p = "layer\(stage + 1).\(b)"
                try m.add("\(p).bn1", BatchNorm2d(channels: c), inputs: [x])
                let pre = try m.add("\(p).relu1", ReLU())
                try m.add("\(p).conv1", Conv2d(inChannels: c, outChannels: width, kernel: 3, stride: stride, padding: .symmetric(1), bias: false))
                try m.add("\(p).bn2", BatchNorm2d(channels: width))
                try m.add("\(p).relu2", ReLU())
                let main = try m.add("\(p).conv2", Conv2d(inChannels: width, outChannels: width, kernel: 3, padding: .symmetric(1), bias: false))
                var shortcut = x
                if stride != 1 || c != width {
                    shortcut = try m.add("\(p).shortcut.0", Conv2d(inChannels: c, outChannels: width, kernel: 1, stride: stride, bias: false), inputs: [pre])
                }
                x = try m.add("\(p).add", Add(), inputs: [main, shortcut])
                c = width
            }
        }
        try m.add("bn", BatchNorm2d(channels: 512))
        try m.add("relu", ReLU())
        try m.add("avgpool", GlobalAvgPool2d())
        try m.add("linear", Linear(inFeatures: 512, outFeatures: classes))
        return m
    }
}

/// Weight initialisation.
public enum Initialization {
    /// He et al. 2015 ("Delving deep into rectifiers", §2.2): conv and linear weights ~ N(0, 2/fan_in),
    /// biases 0; BatchNorm γ = 1, β = 0 (set by the layer). Deterministic from `seed`; dropout
    /// layers get their mask streams from the same seed.
    public static func heNormal(_ model: Model, seed: UInt64) {
        var rng = SeededRNG(seed: seed, stream: "init")
        for node in model.nodes {
            switch node.layer {
            case let conv as Conv2d:
                fill(conv.weight.value, fanIn: conv.inChannels * conv.kernel.h * conv.kernel.w, rng: &rng)
                conv.bias?.value.zero()
            case let fc as Linear:
                fill(fc.weight.value, fanIn: fc.inFeatures, rng: &rng)
                fc.bias?.value.zero()
            case let d as Dropout:
                d.reseed(rng.next())
            default:
                break
            }
        }
    }

    static func fill(_ t: Tensor, fanIn: Int, rng: inout SeededRNG) {
        let std = (2 / Float(fanIn)).squareRoot()
        for i in 0..<t.count { t.data[i] = rng.normal() * std }
    }
}

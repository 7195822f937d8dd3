import BlindspotCore
import BlindspotEngine

/// Recognises the architecture of a PyTorch state_dict (names and shapes only) for the common
/// families, and maps its tensors to our parameter names.
///
/// Families: PreAct-ResNet (kuangliu/BackdoorBench: blocks `layerS.B.bn1/conv1/bn2/conv2`,
/// 1×1 `shortcut.0` conv, final `bn`), CIFAR ResNets with BasicBlocks (`conv1`/`bn1` stem,
/// `layerS.B.conv1/bn1/conv2/bn2`, `shortcut.0/.1` or torchvision's `downsample.0/.1`
/// projection; depth from the number of blocks), and plain CNNs (`features.N`/`classifier.N` or
/// any numbered Sequential) with the cnn6 layer pattern (per stage: conv 'same', conv 'valid',
/// max-pool 2) or the VGG pattern (every conv 'same', max-pool 2 after each pair), chosen by
/// which one produces the first linear layer's input size. Prefixes `module.` (DataParallel) and
/// `model.` are ignored.
enum StateDictModel {
    struct Recognised {
        var spec: ModelSpec
        /// Our tensor name → name in the file.
        var names: [String: String]
        var family: String
    }

    typealias Shapes = [String: [Int]]

    static func recognise(_ shapesIn: Shapes, file: String, inputShape hint: [Int]?) throws -> Recognised {
        var shapes: Shapes = [:]
        for (k, v) in shapesIn where !k.hasSuffix("num_batches_tracked") {
            var n = k
            for p in ["module.", "model."] where n.hasPrefix(p) { n.removeFirst(p.count) }
            shapes[n] = v
        }
        let errors = [
            Result { try preactResNet(shapes, hint: hint) },
            Result { try cifarResNet(shapes, hint: hint) },
            Result { try plainCNN(shapes, hint: hint) },
        ]
        var found: [Recognised] = []
        var reasons: [String] = []
        for r in errors {
            switch r {
            case .success(let x?): found.append(x)
            case .success(nil): break
            case .failure(let e): reasons.append("\(e)")
            }
        }
        let summary = summarise(shapes)
        if found.count == 1 {
            var r = found[0]
            // Names in the file keep their original prefix.
            let prefixOf = Dictionary(shapesIn.keys.map { k -> (String, String) in
                var n = k
                for p in ["module.", "model."] where n.hasPrefix(p) { n.removeFirst(p.count) }
                return (n, k)
            }, uniquingKeysWith: { a, _ in a })
            r.names = r.names.mapValues { prefixOf[$0] ?? $0 }
            return r
        }
        if found.count > 1 {
            throw BlindspotError.badInput(file: file, problem: "state_dict fits several families (\(found.map(\.family).joined(separator: ", "))); pass --arch NAME or --arch spec.json")
        }
        let why = reasons.isEmpty ? "" : "; " + reasons.joined(separator: "; ")
        throw BlindspotError.badInput(file: file, problem: "architecture not recognised from the state_dict (found \(summary)\(why)); pass --arch cnn6|resnet20|preact-resnet18 or --arch spec.json")
    }

    struct Mismatch: Error, CustomStringConvertible { let description: String }

    /// "12 tensors: conv1.weight [16,3,3,3], …" — short, for error messages.
    static func summarise(_ shapes: Shapes) -> String {
        let keys = shapes.keys.sorted()
        let head = keys.prefix(4).map { "\($0) \(shapes[$0]!)" }.joined(separator: ", ")
        return "\(keys.count) tensors: \(head)\(keys.count > 4 ? ", …" : "")"
    }

    static func conv(_ name: String, _ ins: [String], _ cin: Int, _ cout: Int, k: Int, s: Int = 1, pad: Int, bias: Bool) -> ModelSpec.NodeSpec {
        var a = ModelSpec.Attributes()
        a.inChannels = cin; a.outChannels = cout; a.kernel = [k, k]; a.stride = [s, s]; a.padding = [pad, pad, pad, pad]; a.bias = bias
        return .init(name: name, op: "conv2d", inputs: ins, attributes: a)
    }
    static func bn(_ name: String, _ ins: [String], _ c: Int) -> ModelSpec.NodeSpec {
        var a = ModelSpec.Attributes(); a.channels = c; a.epsilon = 1e-5; a.momentum = 0.1
        return .init(name: name, op: "batchnorm2d", inputs: ins, attributes: a)
    }
    static func op(_ name: String, _ op: String, _ ins: [String]) -> ModelSpec.NodeSpec { .init(name: name, op: op, inputs: ins) }
    static func linear(_ name: String, _ ins: [String], _ fi: Int, _ fo: Int, bias: Bool) -> ModelSpec.NodeSpec {
        var a = ModelSpec.Attributes(); a.inFeatures = fi; a.outFeatures = fo; a.bias = bias
        return .init(name: name, op: "linear", inputs: ins, attributes: a)
    }

    /// Blocks per stage: `layerS.B.` prefixes present, S = 1…, B = 0… (each run counted from 0
    /// while consecutive). One pass over the names: an NPZ may hold 100,000 members, and probing
    /// every prefix against every name would take minutes.
    static func blocks(_ shapes: Shapes) -> [Int] {
        var present: [Int: Set<Int>] = [:]
        for key in shapes.keys where key.hasPrefix("layer") {
            let parts = key.dropFirst("layer".count).split(separator: ".", maxSplits: 2)
            guard parts.count == 3, let stage = Int(parts[0]), let block = Int(parts[1]) else { continue }
            present[stage, default: []].insert(block)
        }
        var out: [Int] = []
        var s = 1
        while let b = present[s] {
            var n = 0
            while b.contains(n) { n += 1 }
            if n == 0 { break }
            out.append(n)
            s += 1
        }
        return out
    }

    static func classifier(_ shapes: Shapes) -> String? {
        ["linear", "fc", "classifier"].first { shapes["\($0).weight"]?.count == 2 }
    }

    static func preactResNet(_ sh: Shapes, hint: [Int]?) throws -> Recognised? {
        guard sh["conv1.weight"] != nil, sh["bn1.weight"] == nil, sh["layer1.0.bn1.weight"] != nil, let fc = classifier(sh) else { return nil }
        let stages = blocks(sh)
        guard let stem = sh["conv1.weight"], stem.count == 4 else { return nil }
        var nodes: [ModelSpec.NodeSpec] = [conv("conv1", ["input"], stem[1], stem[0], k: stem[2], pad: stem[2] / 2, bias: sh["conv1.bias"] != nil)]
        var x = "conv1", c = stem[0]
        for (si, n) in stages.enumerated() {
            for b in 0..<n {
                let p = "layer\(si + 1).\(b)"
                guard let w1 = sh["\(p).conv1.weight"], let w2 = sh["\(p).conv2.weight"], w1.count == 4, w2.count == 4, w1[1] == c else {
                    throw Mismatch(description: "PreAct-ResNet: block \(p) does not chain (channels \(c))")
                }
                let width = w1[0]
                let stride = (si > 0 && b == 0) ? 2 : 1
                nodes += [bn("\(p).bn1", [x], c), op("\(p).relu1", "relu", ["\(p).bn1"]),
                          conv("\(p).conv1", ["\(p).relu1"], c, width, k: w1[2], s: stride, pad: w1[2] / 2, bias: false),
                          bn("\(p).bn2", ["\(p).conv1"], width), op("\(p).relu2", "relu", ["\(p).bn2"]),
                          conv("\(p).conv2", ["\(p).relu2"], width, w2[0], k: w2[2], pad: w2[2] / 2, bias: false)]
                var shortcut = x
                if let s = sh["\(p).shortcut.0.weight"] {
                    guard s.count == 4 else { throw Mismatch(description: "PreAct-ResNet: \(p).shortcut.0.weight has shape \(s), not a convolution") }
                    nodes.append(conv("\(p).shortcut.0", ["\(p).relu1"], c, s[0], k: s[2], s: stride, pad: 0, bias: false))
                    shortcut = "\(p).shortcut.0"
                } else if stride != 1 || c != width {
                    throw Mismatch(description: "PreAct-ResNet: block \(p) changes shape without a shortcut conv")
                }
                nodes.append(op("\(p).add", "add", ["\(p).conv2", shortcut]))
                x = "\(p).add"; c = width
            }
        }
        if sh["bn.weight"] != nil {
            nodes += [bn("bn", [x], c), op("relu", "relu", ["bn"])]
            x = "relu"
        }
        nodes.append(op("avgpool", "globalavgpool2d", [x]))
        guard let fw = sh["\(fc).weight"], fw[1] == c else { throw Mismatch(description: "PreAct-ResNet: classifier does not read \(c) features") }
        nodes.append(linear(fc, ["avgpool"], c, fw[0], bias: sh["\(fc).bias"] != nil))
        let spec = ModelSpec(name: "preact-resnet\(2 + 2 * stages.reduce(0, +))", inputShape: hint ?? [stem[1], 32, 32], nodes: nodes)
        return Recognised(spec: spec, names: identity(spec), family: "PreAct-ResNet (\(stages.map(String.init).joined(separator: "-")) blocks)")
    }

    static func cifarResNet(_ sh: Shapes, hint: [Int]?) throws -> Recognised? {
        guard let stem = sh["conv1.weight"], stem.count == 4, sh["bn1.weight"] != nil, sh["layer1.0.conv1.weight"] != nil,
              sh["layer1.0.bn2.weight"] != nil, let fc = classifier(sh) else { return nil }
        // Post-activation blocks: bn1 normalises conv1's output.
        guard let b1 = sh["layer1.0.bn1.weight"], let c1 = sh["layer1.0.conv1.weight"], b1.count == 1, c1.count == 4, b1[0] == c1[0] else { return nil }
        let stages = blocks(sh)
        var names: [String: String] = [:]
        var nodes: [ModelSpec.NodeSpec] = [conv("conv1", ["input"], stem[1], stem[0], k: stem[2], pad: stem[2] / 2, bias: sh["conv1.bias"] != nil),
                                           bn("bn1", ["conv1"], stem[0]), op("relu1", "relu", ["bn1"])]
        var x = "relu1", c = stem[0]
        for (si, n) in stages.enumerated() {
            for b in 0..<n {
                let p = "layer\(si + 1).\(b)"
                guard let w1 = sh["\(p).conv1.weight"], let w2 = sh["\(p).conv2.weight"], w1.count == 4, w2.count == 4, w1[1] == c else {
                    throw Mismatch(description: "ResNet: block \(p) does not chain (channels \(c))")
                }
                let width = w1[0], stride = (si > 0 && b == 0) ? 2 : 1
                nodes += [conv("\(p).conv1", [x], c, width, k: w1[2], s: stride, pad: w1[2] / 2, bias: false),
                          bn("\(p).bn1", ["\(p).conv1"], width), op("\(p).relu1", "relu", ["\(p).bn1"]),
                          conv("\(p).conv2", ["\(p).relu1"], width, w2[0], k: w2[2], pad: w2[2] / 2, bias: false),
                          bn("\(p).bn2", ["\(p).conv2"], width)]
                var shortcut = x
                let proj = ["shortcut", "downsample"].first { sh["\(p).\($0).0.weight"] != nil }
                if let proj {
                    guard let s = sh["\(p).\(proj).0.weight"], s.count == 4 else {
                        throw Mismatch(description: "ResNet: \(p).\(proj).0.weight is not a convolution")
                    }
                    nodes += [conv("\(p).shortcut.0", [x], c, s[0], k: s[2], s: stride, pad: 0, bias: false), bn("\(p).shortcut.1", ["\(p).shortcut.0"], s[0])]
                    for t in ["weight"] { names["\(p).shortcut.0.\(t)"] = "\(p).\(proj).0.\(t)" }
                    for t in ["weight", "bias", "running_mean", "running_var"] { names["\(p).shortcut.1.\(t)"] = "\(p).\(proj).1.\(t)" }
                    shortcut = "\(p).shortcut.1"
                } else if stride != 1 || c != width {
                    throw Mismatch(description: "ResNet: block \(p) changes shape with a parameter-free shortcut (option A), which is not supported; use --arch spec.json")
                }
                nodes += [op("\(p).add", "add", ["\(p).bn2", shortcut]), op("\(p).relu2", "relu", ["\(p).add"])]
                x = "\(p).relu2"; c = width
            }
        }
        nodes.append(op("avgpool", "globalavgpool2d", [x]))
        guard let fw = sh["\(fc).weight"], fw[1] == c else { throw Mismatch(description: "ResNet: classifier does not read \(c) features") }
        nodes.append(linear("linear", ["avgpool"], c, fw[0], bias: sh["\(fc).bias"] != nil))
        names["linear.weight"] = "\(fc).weight"; names["linear.bias"] = "\(fc).bias"
        let depth = 2 + 2 * stages.reduce(0, +)
        let spec = ModelSpec(name: "resnet\(depth)", inputShape: hint ?? [stem[1], 32, 32], nodes: nodes)
        var all = identity(spec)
        for (k, v) in names { all[k] = v }
        return Recognised(spec: spec, names: all, family: "CIFAR ResNet-\(depth) (\(stages.map(String.init).joined(separator: "-")) blocks, projection shortcuts)")
    }

    /// Numbered Sequential modules: `features.0.weight`, `classifier.3.bias`, or `0.weight`, ….
    static func plainCNN(_ sh: Shapes, hint: [Int]?) throws -> Recognised? {
        var layers: [(key: String, order: (Int, Int), shape: [Int], hasBias: Bool, isBN: Bool)] = []
        for (k, s) in sh where k.hasSuffix(".weight") {
            let base = String(k.dropLast(".weight".count))
            let parts = base.split(separator: ".")
            guard let idx = parts.last.flatMap({ Int($0) }) else { return nil }
            let group = parts.dropLast().joined(separator: ".")
            let groupRank = group == "features" || group.isEmpty ? 0 : group == "classifier" ? 1 : 2
            layers.append((base, (groupRank, idx), s, sh["\(base).bias"] != nil, sh["\(base).running_mean"] != nil))
        }
        guard !layers.isEmpty, layers.count == sh.keys.filter({ $0.hasSuffix(".weight") }).count else { return nil }
        layers.sort { $0.order < $1.order }
        let convs = layers.filter { $0.shape.count == 4 }, fcs = layers.filter { $0.shape.count == 2 }
        guard !convs.isEmpty, !fcs.isEmpty, !layers.contains(where: { $0.isBN }) else { return nil }
        // Conv pairs per stage, then linear layers.
        guard convs.count % 2 == 0 else { throw Mismatch(description: "plain CNN: \(convs.count) convolutions do not form conv–conv–pool stages") }
        let k = convs[0].shape[2]
        let patterns: [(String, (Int) -> Int)] = [("cnn6 pattern (same, valid, pool)", { n in ((n) - (k - 1)) / 2 }),
                                                  ("VGG pattern (same, same, pool)", { n in n / 2 })]
        let sizes = hint.map { [$0[1]] } ?? [32, 28, 64, 48, 24, 16, 96, 128, 224]
        for (name, stage) in patterns {
            for n in sizes {
                var s = n
                for _ in 0..<(convs.count / 2) { s = stage(s) }
                guard s > 0, convs.last!.shape[0] * s * s == fcs[0].shape[1] else { continue }
                let valid = name.hasPrefix("cnn6")
                var nodes: [ModelSpec.NodeSpec] = []
                var names: [String: String] = [:]
                var x = "input", c = convs[0].shape[1]
                for (i, l) in convs.enumerated() {
                    let our = "conv\(i + 1)"
                    guard l.shape[1] == c else { throw Mismatch(description: "plain CNN: \(l.key) does not chain") }
                    let pad = (valid && i % 2 == 1) ? 0 : l.shape[2] / 2
                    nodes += [conv(our, [x], c, l.shape[0], k: l.shape[2], pad: pad, bias: l.hasBias), op("relu\(i + 1)", "relu", [our])]
                    names["\(our).weight"] = "\(l.key).weight"; names["\(our).bias"] = "\(l.key).bias"
                    x = "relu\(i + 1)"; c = l.shape[0]
                    if i % 2 == 1 {
                        var a = ModelSpec.Attributes(); a.kernel = [2]; a.stride = [2]
                        nodes.append(.init(name: "pool\(i / 2 + 1)", op: "maxpool2d", inputs: [x], attributes: a))
                        x = "pool\(i / 2 + 1)"
                    }
                }
                nodes.append(op("flatten", "flatten", [x])); x = "flatten"
                var f = fcs[0].shape[1]
                for (i, l) in fcs.enumerated() {
                    let our = "fc\(i + 1)"
                    guard l.shape[1] == f else { throw Mismatch(description: "plain CNN: \(l.key) does not chain") }
                    nodes.append(linear(our, [x], f, l.shape[0], bias: l.hasBias))
                    names["\(our).weight"] = "\(l.key).weight"; names["\(our).bias"] = "\(l.key).bias"
                    x = our; f = l.shape[0]
                    if i < fcs.count - 1 {
                        nodes.append(op("relu_fc\(i + 1)", "relu", [x]))
                        var a = ModelSpec.Attributes(); a.probability = 0.5
                        nodes.append(.init(name: "dropout\(i + 1)", op: "dropout", inputs: ["relu_fc\(i + 1)"], attributes: a))
                        x = "dropout\(i + 1)"
                    }
                }
                let spec = ModelSpec(name: "plain-cnn", inputShape: [convs[0].shape[1], n, n], nodes: nodes)
                return Recognised(spec: spec, names: names, family: "plain CNN, \(name), \(convs.count) conv + \(fcs.count) linear, input \(n)×\(n)")
            }
        }
        throw Mismatch(description: "plain CNN: no known layer pattern gives the first linear layer's \(fcs[0].shape[1]) inputs")
    }

    static func identity(_ spec: ModelSpec) -> [String: String] {
        var names: [String: String] = [:]
        for n in spec.nodes {
            switch n.op {
            case "conv2d", "linear":
                names["\(n.name).weight"] = "\(n.name).weight"
                if n.attributes.bias ?? true { names["\(n.name).bias"] = "\(n.name).bias" }
            case "batchnorm2d":
                for t in ["weight", "bias", "running_mean", "running_var"] { names["\(n.name).\(t)"] = "\(n.name).\(t)" }
            default: break
            }
        }
        return names
    }
}

import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import XCTest

final class QuantMathTests: XCTestCase {
    func testRoundingTableAndClamping() {
        let p = QuantMath.Affine(scale: 0.5, zeroPoint: 0, qmin: -128, qmax: 127)
        // 0.25 → 0 (tie to even), 0.75 → 2 (1.5 → 2), −0.25 → 0, −0.75 → −2, 63.9 → 127 (clamped)
        XCTAssertEqual([0.25, 0.75, -0.25, -0.75, 63.9, -70].map { p.quantize($0) }, [0, 2, 0, -2, 127, -128])
    }

    func testFakeQuantErrorIsAtMostHalfAStepInsideTheRangeExhaustively() {
        let p = QuantMath.Affine(min: -1.3, max: 2.9)
        XCTAssertEqual(p.quantize(0), p.zeroPoint, "real zero must be exactly representable")
        XCTAssertEqual(p.fakeQuantize(0), 0)
        let r = p.clipRange
        var x = r.lowerBound
        while x <= r.upperBound {
            XCTAssertLessThanOrEqual(abs(p.fakeQuantize(x) - x), p.scale / 2 * 1.0001, "x = \(x)")
            x += 0.0007
        }
        XCTAssertEqual(p.quantize(100), 255)
        XCTAssertEqual(p.quantize(-100), 0)
    }

    func testPerChannelWeightsUseTheRightLevels() {
        var rng = SeededRNG(seed: 1)
        let w = (0..<(4 * 50)).map { _ in rng.normal() * (1 + Float(rng.int(below: 3))) }
        for bits in [8, 4] {
            let (q, scales) = QuantMath.perChannelSymmetric(w, outChannels: 4, bits: bits)
            let qmax = Int8((1 << (bits - 1)) - 1)
            XCTAssertTrue(q.allSatisfy { $0 >= -qmax - 1 && $0 <= qmax })
            for o in 0..<4 {
                let row = q[(o * 50)..<(o * 50 + 50)]
                XCTAssertEqual(row.map { abs(Int($0)) }.max(), Int(qmax), "the largest weight maps to ±qmax")
                for i in 0..<50 { XCTAssertLessThanOrEqual(abs(Float(q[o * 50 + i]) * scales[o] - w[o * 50 + i]), scales[o] / 2 * 1.0001) }
                if bits == 4 { XCTAssertLessThanOrEqual(Set(row).count, 16) }
            }
        }
    }
}

/// Random BatchNorm statistics and affine parameters, so that folding moves weights and biases.
func randomizeBatchNorm(_ m: Model, rng: inout SeededRNG) {
    for node in m.nodes {
        guard let bn = node.layer as? BatchNorm2d else { continue }
        for c in 0..<bn.channels {
            bn.runningMean[c] = rng.uniform(-0.3, 0.3); bn.runningVar[c] = rng.uniform(0.5, 2)
            bn.weight.value[c] = rng.uniform(0.5, 1.5); bn.bias.value[c] = rng.uniform(-0.2, 0.2)
        }
    }
}

final class DeployedModelTests: XCTestCase {
    override func setUp() { Parallel.workers = 2 }

    func randomInput(_ n: Int, seed: UInt64, shape: [Int] = [3, 32, 32]) -> Tensor {
        var rng = SeededRNG(seed: seed, stream: "q-input")
        let x = Tensor(shape: [n] + shape)
        for i in 0..<x.count { x[i] = rng.normal() }
        return x
    }

    /// A ResNet-20 with non-trivial BatchNorm statistics.
    func resnet() throws -> Model {
        let m = try Architecture.resnet20.build(classes: 10, seed: 2)
        var rng = SeededRNG(seed: 3)
        randomizeBatchNorm(m, rng: &rng)
        return m
    }

    func testFoldedConvBNEqualsConvThenBN() throws {
        let m = try resnet()
        let folded = try Folding.foldBatchNorm(m)
        XCTAssertFalse(folded.nodes.contains { $0.layer is BatchNorm2d }, "every ResNet-20 BatchNorm follows a conv")
        let x = randomInput(4, seed: 1)
        let a = m.forward(x).toArray(), b = folded.forward(x).toArray()
        let scale = a.map { abs($0) }.max()!
        for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: 1e-5 * max(scale, 1)) }
    }

    func testPaperInt8QuantizesOnlyLinearLayers() throws {
        let m = try resnet()
        let d = try DeployedModel(m, scheme: .paperInt8)
        for (name, t) in m.stateDict where name.contains("conv") || name.contains("bn") || name.contains("shortcut") {
            XCTAssertEqual(d.surrogate.stateDict.first { $0.name == name }?.tensor.toArray(), t.toArray(), "\(name) must stay FP32")
        }
        XCTAssertEqual(d.layers.map(\.name), ["linear"])
        let w = d.surrogate.parameter(named: "linear.weight")!.value.toArray()
        XCTAssertLessThanOrEqual(Set(w).count, 256)
        XCTAssertNotEqual(w, m.parameter(named: "linear.weight")!.value.toArray())
        XCTAssertGreaterThan(d.layers[0].roundingError, 0)
    }

    func testPaperInt4RoundsBatchNormGammaAndEveryWeightTo16Levels() throws {
        let m = try resnet()
        let d = try DeployedModel(m, scheme: .paperInt4)
        let gamma = d.surrogate.parameter(named: "bn1.weight")!.value.toArray()
        XCTAssertNotEqual(gamma, m.parameter(named: "bn1.weight")!.value.toArray(), "paper-int4 rounds BatchNorm γ")
        for p in d.surrogate.parameters where p.name.hasSuffix(".weight") {
            XCTAssertLessThanOrEqual(Set(p.value.toArray()).count, 16, p.name)
        }
        XCTAssertEqual(d.surrogate.parameter(named: "bn1.bias")!.value.toArray(), m.parameter(named: "bn1.bias")!.value.toArray(), "biases stay")
    }

    func testInt4WeightsTakeAtMost16ValuesPerChannel() throws {
        let d = try DeployedModel(try resnet(), scheme: .int4)
        for node in d.surrogate.nodes {
            guard let conv = node.layer as? Conv2d else { continue }
            let w = conv.weight.value.toArray(), per = w.count / conv.outChannels
            for o in 0..<conv.outChannels { XCTAssertLessThanOrEqual(Set(w[(o * per)..<(o * per + per)]).count, 16, node.name) }
        }
        XCTAssertEqual(d.layers.count, 19 + 2 + 1, "every conv (incl. shortcuts) and the linear layer")
    }

    /// On one conv layer the integer path equals an independent Int64 evaluation of the same
    /// integer formula, and the float surrogate within float rounding.
    func testIntegerPathOnOneConvAgainstAnIndependentIntegerReference() throws {
        // Square and odd shapes, stride 2, one-sided padding, 1×1 kernels: the channels-last
        // im2row must place every code (and the zero-point padding) where this loop does.
        let cases: [(c: Int, oc: Int, kernel: Int, stride: Int, pad: Padding, h: Int, w: Int)] = [
            (3, 4, 3, 1, .symmetric(1), 6, 6),
            (5, 3, 3, 2, Padding(top: 0, left: 1, bottom: 1, right: 0), 7, 5),
            (2, 6, 1, 1, .zero, 4, 3),
            (4, 2, 5, 2, .symmetric(2), 9, 8),
        ]
        for (index, t) in cases.enumerated() {
            let m = Model(name: "one", inputShape: [t.c, t.h, t.w])
            let conv = Conv2d(inChannels: t.c, outChannels: t.oc, kernel: t.kernel, stride: t.stride, padding: t.pad)
            try m.add("conv", conv)
            Initialization.heNormal(m, seed: 5 + UInt64(index))
            for o in 0..<t.oc { conv.bias!.value[o] = Float(o) * 0.1 - 0.15 }
            let d = try DeployedModel(m, scheme: .int8)
            let x = randomInput(2, seed: 9, shape: [t.c, t.h, t.w])
            d.calibrate([x])
            let yi = d.integerForward(x), ys = d.surrogate.forward(x).toArray()
            let p = (d.surrogate.node(named: "conv.input_quant")!.layer as! FakeQuantize).params!
            let qconv = d.surrogate.node(named: "conv")!.layer as! Conv2d
            let scales = d.layers[0].weightScales
            let (k, s) = (t.kernel, t.stride)
            let oh = (t.h + t.pad.top + t.pad.bottom - k) / s + 1, ow = (t.w + t.pad.left + t.pad.right - k) / s + 1
            XCTAssertEqual(yi.shape, [2, t.oc, oh, ow])
            for n in 0..<2 { for o in 0..<t.oc { for yy in 0..<oh { for xx in 0..<ow {
                var acc: Int64 = 0
                for c in 0..<t.c { for i in 0..<k { for j in 0..<k {
                    let sy = yy * s + i - t.pad.top, sx = xx * s + j - t.pad.left
                    let qx = (sy < 0 || sy >= t.h || sx < 0 || sx >= t.w) ? Int64(p.zeroPoint) : Int64(p.quantize(x[((n * t.c + c) * t.h + sy) * t.w + sx]))
                    let qw = Int64((qconv.weight.value[((o * t.c + c) * k + i) * k + j] / scales[o]).rounded())
                    acc += (qx - Int64(p.zeroPoint)) * qw
                } } }
                let sc = p.scale * scales[o]
                acc += Int64((conv.bias!.value[o] / sc).rounded(.toNearestOrEven))
                let idx = ((n * t.oc + o) * oh + yy) * ow + xx
                XCTAssertEqual(yi[idx], Float(acc) * sc, "case \(index): integer path at \(idx)")
                XCTAssertEqual(yi[idx], ys[idx], accuracy: 2 * sc, "case \(index): surrogate at \(idx)")
            } } } }
        }
    }

    func testIntegerPathOnOneLinearAgainstAnIndependentIntegerReference() throws {
        let m = Model(name: "fc", inputShape: [3, 2, 2])
        let fc = Linear(inFeatures: 12, outFeatures: 5)
        try m.add("flatten", Flatten())
        try m.add("fc", fc)
        Initialization.heNormal(m, seed: 3)
        for o in 0..<5 { fc.bias!.value[o] = 0.3 - Float(o) * 0.13 }
        let d = try DeployedModel(m, scheme: .int8)
        let x = randomInput(3, seed: 4, shape: [3, 2, 2])
        d.calibrate([x])
        let yi = d.integerForward(x)
        let p = (d.surrogate.node(named: "fc.input_quant")!.layer as! FakeQuantize).params!
        let w = (d.surrogate.node(named: "fc")!.layer as! Linear).weight.value
        let scales = d.layers[0].weightScales
        for n in 0..<3 { for o in 0..<5 {
            var acc: Int64 = 0
            for f in 0..<12 { acc += (Int64(p.quantize(x[n * 12 + f])) - Int64(p.zeroPoint)) * Int64((w[o * 12 + f] / scales[o]).rounded()) }
            let sc = p.scale * scales[o]
            acc += Int64((fc.bias!.value[o] / sc).rounded(.toNearestOrEven))
            XCTAssertEqual(yi[n * 5 + o], Float(acc) * sc, "row \(n) output \(o)")
        } }
    }

    /// The paths agree on ≥ 99.5% of predictions of a small trained model (int8, int4, dynamic).
    func testSurrogateAndIntegerPathsAgreeOnATrainedModel() throws {
        // A model trained as the README's main job does (a barely trained one has near-tied
        // logits, where any rounding flips predictions).
        let split = Datasets.synthetic(seed: 4, trainCount: 6000, testCount: 1000)
        var recipe = TrainingRecipe.defaults(for: .cnn6, dataset: .synthetic)
        (recipe.learningRate, recipe.epochs) = (1e-3, 2)
        let model = try Architecture.cnn6.build(classes: 10, seed: 4)
        try Trainer(model: model, recipe: recipe, normalization: split.normalization, seed: 4).fit(split.train, progress: ProgressReporter(quiet: true))
        func batches(_ set: ImageSet) -> [Tensor] {
            var out: [Tensor] = [], labels: [Int32] = []
            var rng = SeededRNG(seed: 0)
            for start in stride(from: 0, to: set.count, by: 200) {
                let idx = Array(start..<min(start + 200, set.count))[...]
                let t = Tensor(shape: [idx.count, 3, 32, 32])
                BatchFiller.fill(set, indices: idx, normalization: split.normalization, augmentation: nil, rng: &rng, into: t.data, labels: &labels)
                out.append(t)
            }
            return out
        }
        let calibration = batches(split.train.subset(Array(0..<512))), test = batches(split.test)
        for scheme in [QuantizationScheme.int8, .int4, .int8Dynamic, .paperInt8] {
            let d = try DeployedModel(model, scheme: scheme)
            d.calibrate(calibration)
            let (top1, diff) = d.agreement(on: test)
            print("\(scheme.rawValue): surrogate vs integer top-1 agreement \(top1), max |logit diff| \(diff)")
            XCTAssertGreaterThanOrEqual(top1, 0.995, scheme.rawValue)
        }
    }

    func testStraightThroughGradientFollowsItsDefinition() throws {
        let m = Model(name: "fq", inputShape: [8])
        let fq = FakeQuantize(dynamic: false)
        try m.add("fq", fq)
        fq.params = QuantMath.Affine(min: -1, max: 1)
        let x = Tensor(shape: [1, 8], values: [-3, -1.2, -0.5, 0, 0.3, 0.99, 1.5, 10])
        m.forward(x)
        let dy = Tensor(shape: [1, 8], values: [1, 2, 3, 4, 5, 6, 7, 8])
        let dx = m.backward(dy, inputGradient: true)!.toArray()
        let r = fq.params!.clipRange
        for i in 0..<8 { XCTAssertEqual(dx[i], r.contains(x[i]) ? dy[i] : 0, "x = \(x[i])") }
        XCTAssertEqual(dx[0], 0); XCTAssertEqual(dx[7], 0); XCTAssertEqual(dx[3], 4)
    }

    func testDynamicRangesFollowTheBatch() throws {
        let m = Model(name: "fq", inputShape: [4])
        let fq = FakeQuantize(dynamic: true)
        try m.add("fq", fq)
        m.forward(Tensor(shape: [1, 4], values: [0, 1, 2, 3]))
        let a = fq.lastParams!
        m.forward(Tensor(shape: [1, 4], values: [0, 10, 20, 30]))
        XCTAssertEqual(fq.lastParams!.scale, a.scale * 10, accuracy: 1e-6)
    }
}

final class ResidualRequantizationTests: XCTestCase {
    /// INT8 ResNet blocks requantize conv outputs that feed an addition and the (add+ReLU) sum,
    /// as a deployed runtime holds them in int8; the study's paper-int8 does not.
    func testResidualTensorsAreRequantizedInDeployedSchemes() throws {
        let m = try Architecture.resnet20.build(classes: 10, seed: 1)
        let d = try DeployedModel(m, scheme: .int8)
        let names = Set(d.surrogate.nodes.filter { $0.layer is FakeQuantize }.map(\.name))
        // Folded: layer1.0.conv2 (its BN folded in) feeds the addition; the sum is requantized after relu2.
        XCTAssertTrue(names.contains("layer1.0.conv2.output_quant"), "\(names.sorted().prefix(8))")
        XCTAssertTrue(names.contains("layer1.0.relu2.output_quant"))
        XCTAssertTrue(names.contains("layer2.0.shortcut.0.output_quant"), "the projection shortcut feeds the addition too")
        XCTAssertFalse(names.contains("layer1.0.add.output_quant"), "add+relu is fused: one requantization after the ReLU")
        // The readers of the block output read the requantized tensor.
        let next = d.surrogate.node(named: "layer1.1.conv1.input_quant")!
        XCTAssertEqual(d.surrogate.nodes[next.inputs[0]].name, "layer1.0.relu2.output_quant")
        let paper = try DeployedModel(m, scheme: .paperInt8)
        XCTAssertEqual(paper.surrogate.nodes.filter { $0.layer is FakeQuantize }.map(\.name), ["linear.input_quant"])
        // The deployed base drops every quantizer and keeps the graph runnable.
        let base = try d.deployedBase()
        XCTAssertFalse(base.nodes.contains { $0.layer is FakeQuantize })
        XCTAssertEqual(base.outputShape, [10])
    }
}

final class PercentileCalibrationTests: XCTestCase {
    /// One outlier stretches a min–max range; the 99th-percentile range ignores it.
    func testPercentileClipsOutliersMinMaxDoesNot() throws {
        func calibrated(_ percentile: Double?) throws -> QuantMath.Affine {
            let m = Model(name: "fq", inputShape: [1000])
            let fq = FakeQuantize(dynamic: false)
            try m.add("fq", fq)
            fq.observing = true
            var values = (0..<1000).map { Float($0) / 1000 }   // 0 … 0.999
            values[500] = 100                                  // one outlier
            m.forward(Tensor(shape: [1, 1000], values: values))
            fq.finishCalibration(percentile: percentile)
            return fq.params!
        }
        let minmax = try calibrated(nil), p99 = try calibrated(99)
        XCTAssertEqual(minmax.scale, 100 / 255, accuracy: 1e-6)
        XCTAssertLessThan(p99.scale, 1.0 / 255 * 1.01, "the 99th percentile of 0…1 with one outlier is about 0.99")
        XCTAssertGreaterThan(p99.scale, 0.97 / 255)
    }
}

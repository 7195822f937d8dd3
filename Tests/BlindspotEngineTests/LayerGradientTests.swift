import BlindspotCore
import BlindspotEngine
import XCTest

/// Finite-difference checks of every layer's backward pass (parameters and input), each with a
/// negative control showing the checker would notice a wrong gradient.
final class LayerGradientTests: XCTestCase {
    override func setUp() { Parallel.workers = 2 }

    private func assertGradients(_ model: Model, _ x: Tensor, checker: GradientChecker = GradientChecker(),
                                 tolerance: Double = 2e-2, file: StaticString = #filePath, line: UInt = #line) {
        let (worst, bad) = checker.check(model, input: x, tolerance: tolerance)
        XCTAssertTrue(bad.isEmpty, "gradient mismatches (worst rel. error \(worst)): \(bad.prefix(5))", file: file, line: line)
        // Negative control: a 10% error in the analytic gradient must be caught.
        let (corrupted, _) = checker.check(model, input: x, tolerance: tolerance, corruptAnalytic: 0.1)
        XCTAssertGreaterThan(corrupted, tolerance, "the checker did not notice a corrupted gradient", file: file, line: line)
    }

    private func model(_ shape: [Int], _ layers: [(String, any Layer)]) throws -> Model {
        let m = Model(name: "test", inputShape: shape)
        for (n, l) in layers { try m.add(n, l) }
        Initialization.heNormal(m, seed: 3)
        return m
    }

    func testConv2dSamePaddingWithBias() throws {
        let conv = Conv2d(inChannels: 3, outChannels: 4, kernel: 3, padding: .symmetric(1))
        let m = try model([3, 6, 6], [("conv", conv)])
        for i in 0..<4 { conv.bias!.value[i] = Float(i) * 0.1 }
        assertGradients(m, randomTensor([3, 3, 6, 6], seed: 1))
    }

    func testConv2dStrideTwoAsymmetricPaddingNoBias() throws {
        // Keras 'same' with stride 2 on an even size pads 0 top/left, 1 bottom/right.
        let conv = Conv2d(inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: Padding(top: 0, left: 0, bottom: 1, right: 1), bias: false)
        let m = try model([2, 8, 8], [("conv", conv)])
        XCTAssertEqual(m.outputShape, [3, 4, 4])
        assertGradients(m, randomTensor([5, 2, 8, 8], seed: 2))
    }

    func testConv2dBackwardAcrossSeveralRowBands() throws {
        // 64·9·32 floats per output row: the band budget splits each image into several bands.
        let m = try model([64, 32, 32], [("conv", Conv2d(inChannels: 64, outChannels: 3, kernel: 3, padding: .symmetric(1)))])
        assertGradients(m, randomTensor([2, 64, 32, 32], seed: 14))
    }

    func testConv2dOneByOneStrideTwo() throws {
        let m = try model([4, 6, 6], [("conv", Conv2d(inChannels: 4, outChannels: 5, kernel: 1, stride: 2, bias: false))])
        assertGradients(m, randomTensor([3, 4, 6, 6], seed: 3))
    }

    func testLinear() throws {
        let m = try model([7], [("fc", Linear(inFeatures: 7, outFeatures: 5))])
        // 40 rows: spread over both workers (more than Linear.minRowsPerWorker each).
        assertGradients(m, randomTensor([40, 7], seed: 4))
    }

    func testBatchNormTrainingMode() throws {
        let bn = BatchNorm2d(channels: 3)
        let m = try model([3, 4, 4], [("bn", bn)])
        for c in 0..<3 { bn.weight.value[c] = 0.5 + Float(c); bn.bias.value[c] = Float(c) - 1 }
        assertGradients(m, randomTensor([4, 3, 4, 4], seed: 5, scale: 2), tolerance: 3e-2)
    }

    func testBatchNormInferenceMode() throws {
        let bn = BatchNorm2d(channels: 2)
        let m = try model([2, 3, 3], [("bn", bn)])
        bn.runningMean[0] = 0.3; bn.runningMean[1] = -0.2
        bn.runningVar[0] = 2; bn.runningVar[1] = 0.5
        bn.weight.value[1] = -1.5
        var checker = GradientChecker(); checker.mode = .inference
        assertGradients(m, randomTensor([3, 2, 3, 3], seed: 6), checker: checker)
    }

    func testReLU() throws {
        let m = try model([2, 3, 3], [("conv", Conv2d(inChannels: 2, outChannels: 2, kernel: 1, padding: .zero)), ("relu", ReLU())])
        // Keep conv outputs away from the kink: identity weights, zero bias.
        let conv = m.node(named: "conv")!.layer as! Conv2d
        conv.weight.value.zero(); conv.weight.value[0] = 1; conv.weight.value[3] = 1
        assertGradients(m, awayFromZero([3, 2, 3, 3], seed: 7))
    }

    func testMaxPool() throws {
        let m = try model([2, 6, 6], [("pool", MaxPool2d(kernel: 2))])
        XCTAssertEqual(m.outputShape, [2, 3, 3])
        assertGradients(m, distinctValues([2, 2, 6, 6], seed: 8))
    }

    func testMaxPoolOverlappingWindowsOddSize() throws {
        let m = try model([1, 7, 7], [("pool", MaxPool2d(kernel: 3, stride: 2))])
        XCTAssertEqual(m.outputShape, [1, 3, 3])
        assertGradients(m, distinctValues([2, 1, 7, 7], seed: 9))
    }

    func testAvgPoolAndGlobalAvgPool() throws {
        let m = try model([2, 6, 6], [("pool", AvgPool2d(kernel: 2)), ("gap", GlobalAvgPool2d()), ("fc", Linear(inFeatures: 2, outFeatures: 3))])
        XCTAssertEqual(m.outputShape, [3])
        assertGradients(m, randomTensor([3, 2, 6, 6], seed: 10))
    }

    func testFlattenDropoutLinear() throws {
        let drop = Dropout(probability: 0.5, seed: 1)
        let m = try model([2, 2, 2], [("flatten", Flatten()), ("drop", drop), ("fc", Linear(inFeatures: 8, outFeatures: 3))])
        var checker = GradientChecker()
        checker.beforeForward = { drop.reseed(42) }  // one mask for every pass
        assertGradients(m, randomTensor([4, 2, 2, 2], seed: 11), checker: checker)
    }

    func testResidualAddWithSharedInput() throws {
        // x → conv → bn → (+ x) → relu: the input node feeds two consumers.
        let m = Model(name: "res", inputShape: [2, 4, 4])
        try m.add("conv", Conv2d(inChannels: 2, outChannels: 2, kernel: 3, padding: .symmetric(1)))
        let main = try m.add("bn", BatchNorm2d(channels: 2))
        try m.add("add", Add(), inputs: [main, "input"])
        try m.add("fc_in", Flatten())
        try m.add("fc", Linear(inFeatures: 32, outFeatures: 3))
        Initialization.heNormal(m, seed: 4)
        assertGradients(m, randomTensor([3, 2, 4, 4], seed: 12), tolerance: 3e-2)
    }

    func testSoftmaxCrossEntropyGradient() {
        let logits = randomTensor([3, 4], seed: 13, scale: 3)
        let labels: [Int32] = [0, 3, 2]
        let ce = SoftmaxCrossEntropy()
        let l0 = ce.compute(logits: logits, labels: labels)
        let g = ce.gradLogits.toArray()
        // Per-sample loss by hand for row 0: log Σ exp(z) − z_0.
        let row = (0..<4).map { Double(logits[$0]) }
        XCTAssertEqual(Double(ce.losses[0]), log(row.map { exp($0) }.reduce(0, +)) - row[0], accuracy: 1e-5)
        XCTAssertEqual(Double(l0), Double(ce.losses.reduce(0, +)) / 3, accuracy: 1e-6)
        let eps: Float = 1e-2
        for i in 0..<12 {
            let keep = logits[i]
            logits[i] = keep + eps; let lp = Double(SoftmaxCrossEntropy().compute(logits: logits, labels: labels))
            logits[i] = keep - eps; let lm = Double(SoftmaxCrossEntropy().compute(logits: logits, labels: labels))
            logits[i] = keep
            XCTAssertEqual(Double(g[i]), (lp - lm) / Double(2 * eps), accuracy: 2e-4, "dL/dz[\(i)]")
        }
        // Probabilities of each row sum to 1; a huge logit does not overflow.
        logits[0] = 1e4
        let l = ce.compute(logits: logits, labels: labels)
        XCTAssertTrue(l.isFinite)
        XCTAssertEqual((0..<4).map { ce.probabilities[$0] }.reduce(0, +), 1, accuracy: 1e-6)
    }
}

/// Neural Cleanse asks for dLoss/dInput alone: skipping the parameter gradients must leave the
/// input gradient bit-identical and every parameter gradient untouched.
final class InputGradientOnlyTests: XCTestCase {
    func testInputGradientWithoutParameterGradientsIsIdentical() throws {
        for arch in [Architecture.cnn6, .resnet20] {
            let m = try arch.build(classes: 10, seed: 3)
            var rng = SeededRNG(seed: 4)
            let x = Tensor(shape: [5, 3, 32, 32])
            for i in 0..<x.count { x[i] = rng.normal() }
            let dy = Tensor(shape: [5, 10])
            for i in 0..<dy.count { dy[i] = rng.normal() }
            m.zeroGradients()
            m.forward(x, mode: .inference)
            let full = m.backward(dy, inputGradient: true)!.toArray()
            let paramGrads = m.parameters.map { $0.grad.toArray() }
            XCTAssertTrue(paramGrads.contains { $0.contains { $0 != 0 } }, "\(arch): the full pass computes parameter gradients")
            m.zeroGradients()
            m.forward(x, mode: .inference)
            let only = m.backward(dy, inputGradient: true, parameterGradients: false)!.toArray()
            XCTAssertEqual(only.map(\.bitPattern), full.map(\.bitPattern), "\(arch): input gradient")
            XCTAssertTrue(m.parameters.allSatisfy { $0.grad.toArray().allSatisfy { $0 == 0 } }, "\(arch): parameter gradients untouched")
        }
    }
}

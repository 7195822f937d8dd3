import BlindspotCore
import BlindspotEngine
import XCTest

/// Hand-computed values: BatchNorm, optimisers, schedules, architectures' parameter counts.
final class HandWorkedTests: XCTestCase {
    func testBatchNormTrainingAndInferenceValues() throws {
        // One channel, batch of 2 images of 1×2: x = [1, 3], [5, 7].
        // Batch mean 4, biased variance (9+1+1+9)/4 = 5, unbiased 20/3.
        let bn = BatchNorm2d(channels: 1, epsilon: 1e-5, momentum: 0.1)
        let m = Model(name: "bn", inputShape: [1, 1, 2])
        try m.add("bn", bn)
        bn.weight.value[0] = 2; bn.bias.value[0] = 0.5
        let x = Tensor(shape: [2, 1, 1, 2], values: [1, 3, 5, 7])
        let y = m.forward(x, mode: .training).toArray()
        let inv = 1 / (5 + 1e-5).squareRoot()
        let expected = [1, 3, 5, 7].map { Float(2 * (Double($0) - 4) * inv + 0.5) }
        for i in 0..<4 { XCTAssertEqual(y[i], expected[i], accuracy: 1e-5) }
        // running = 0.9·(0, 1) + 0.1·(4, 20/3)
        XCTAssertEqual(bn.runningMean[0], 0.4, accuracy: 1e-6)
        XCTAssertEqual(bn.runningVar[0], 0.9 + 0.1 * 20 / 3, accuracy: 1e-5)
        // Inference uses the running statistics: y = 2·(x − 0.4)/√(1.56667 + ε) + 0.5.
        let yi = m.forward(x, mode: .inference).toArray()
        let rv = 0.9 + 0.1 * 20.0 / 3.0
        for (i, v) in [1.0, 3, 5, 7].enumerated() {
            XCTAssertEqual(Double(yi[i]), 2 * (v - 0.4) / (rv + 1e-5).squareRoot() + 0.5, accuracy: 1e-5)
        }
    }

    func testParameterCountsMatchThePublishedArchitectures() throws {
        // cnn6: 896 + 9,248 + 18,496 + 36,928 + 73,856 + 147,584 + 262,656 + 512·43 + 43 = 571,723
        // (the Neural Cleanse GTSRB model's Keras summary; also shared/docs/platform.md).
        XCTAssertEqual(try Architecture.cnn6.build(classes: 43, seed: 1).parameterCount, 571_723)
        // ResNet-20, option A = 269,722 (He et al.: 0.27 M); our option-B projections add
        // 16·32 + 2·32 (stage 2) + 32·64 + 2·64 (stage 3) = 2,752.
        XCTAssertEqual(try Architecture.resnet20.build(classes: 10, seed: 1).parameterCount, 269_722 + 2_752)
        // PreAct-ResNet-18 (kuangliu: 11,171,146 with 10 classes) + BackdoorBench's final BN (2·512).
        XCTAssertEqual(try Architecture.preactResNet18.build(classes: 10, seed: 1).parameterCount, 11_171_146 + 1_024)
    }

    func testArchitectureShapesAndNames() throws {
        let cnn = try Architecture.cnn6.build(classes: 43, seed: 1)
        XCTAssertEqual(cnn.outputShape, [43])
        XCTAssertEqual(cnn.shapes[cnn.nodes.firstIndex { $0.name == "flatten" }!], [512])
        let r = try Architecture.resnet20.build(classes: 10, seed: 1)
        XCTAssertNotNil(r.parameter(named: "layer3.0.shortcut.0.weight"))
        XCTAssertEqual(r.buffers.count, 2 * (1 + 18 + 2))
        let p = try Architecture.preactResNet18.build(classes: 10, seed: 1)
        XCTAssertEqual(p.shapes[p.nodes.firstIndex { $0.name == "layer4.1.add" }!], [512, 4, 4])
    }

    func testSameSeedSameWeightsDifferentSeedDifferentWeights() throws {
        let a = try Architecture.cnn6.build(classes: 10, seed: 9).parameters.flatMap { $0.value.toArray() }
        let b = try Architecture.cnn6.build(classes: 10, seed: 9).parameters.flatMap { $0.value.toArray() }
        let c = try Architecture.cnn6.build(classes: 10, seed: 10).parameters.flatMap { $0.value.toArray() }
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }

    func testSGDMomentumNesterovAndWeightDecayByHand() {
        let p = Parameter(name: "w", shape: [1])
        p.value[0] = 1
        let sgd = SGD(parameters: [p], learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        p.grad[0] = 0.5
        sgd.step()  // d = 0.5 + 0.01 = 0.51; v = 0.51; w = 1 − 0.051
        XCTAssertEqual(p.value[0], 0.949, accuracy: 1e-6)
        sgd.step()  // d = 0.5 + 0.00949; v = 0.9·0.51 + 0.50949 = 0.96849; w = 0.949 − 0.096849
        XCTAssertEqual(p.value[0], 0.852151, accuracy: 1e-6)

        let q = Parameter(name: "w", shape: [1])
        q.value[0] = 1
        let nest = SGD(parameters: [q], learningRate: 0.1, momentum: 0.9, nesterov: true)
        q.grad[0] = 1
        nest.step()  // v = 1; update d + μv = 1.9
        XCTAssertEqual(q.value[0], 1 - 0.19, accuracy: 1e-6)
    }

    func testAdamByHand() {
        let p = Parameter(name: "w", shape: [2])
        p.value[0] = 1; p.value[1] = -1
        let adam = Adam(parameters: [p], learningRate: 0.1, beta1: 0.5, beta2: 0.9, epsilon: 1e-7)
        p.grad[0] = 2; p.grad[1] = -0.5
        adam.step()
        // First step: m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε) ≈ lr·sign(g).
        XCTAssertEqual(p.value[0], 0.9, accuracy: 1e-6)
        XCTAssertEqual(p.value[1], -0.9, accuracy: 1e-6)
        p.grad[0] = 0; p.grad[1] = -0.5
        adam.step()
        // w0: m = 0.5·(0.5·2) + 0 = 0.5, m̂ = 0.5/0.75; v = 0.9·(0.1·4) = 0.36, v̂ = 0.36/0.19
        // → step 0.1·0.6667/1.37649 = 0.048432.  w1: m̂ = −0.5, v̂ = 0.25 → step −0.1.
        XCTAssertEqual(Double(p.value[0]), 0.9 - 0.1 * (0.5 / 0.75) / (0.36 / 0.19).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(p.value[1], -0.8, accuracy: 1e-6)
    }

    func testSchedules() {
        let ms = LearningRateSchedule.multiStep(milestones: [5, 8], gamma: 0.1)
        XCTAssertEqual(ms.learningRate(base: 0.1, epoch: 4, step: 9, stepsPerEpoch: 10, totalEpochs: 10), 0.1, accuracy: 1e-9)
        XCTAssertEqual(ms.learningRate(base: 0.1, epoch: 5, step: 0, stepsPerEpoch: 10, totalEpochs: 10), 0.01, accuracy: 1e-9)
        XCTAssertEqual(ms.learningRate(base: 0.1, epoch: 9, step: 0, stepsPerEpoch: 10, totalEpochs: 10), 0.001, accuracy: 1e-9)
        let cos = LearningRateSchedule.cosine(minimum: 0.001, warmupEpochs: 0)
        XCTAssertEqual(cos.learningRate(base: 0.1, epoch: 0, step: 0, stepsPerEpoch: 10, totalEpochs: 4), 0.1, accuracy: 1e-7)
        XCTAssertEqual(cos.learningRate(base: 0.1, epoch: 2, step: 0, stepsPerEpoch: 10, totalEpochs: 4), 0.0505, accuracy: 1e-6)
        XCTAssertEqual(cos.learningRate(base: 0.1, epoch: 3, step: 5, stepsPerEpoch: 10, totalEpochs: 4),
                       0.001 + 0.099 * Float(0.5 * (1 + Foundation.cos(Double.pi * 3.5 / 4))), accuracy: 1e-6)
    }

    func testDropoutScalesSurvivorsAndIsIdentityInInference() throws {
        let d = Dropout(probability: 0.25, seed: 3)
        let m = Model(name: "d", inputShape: [1000])
        try m.add("drop", d)
        let x = Tensor(shape: [4, 1000]); x.fill(1)
        let y = m.forward(x, mode: .training).toArray()
        let zeros = y.filter { $0 == 0 }.count
        XCTAssertTrue(y.allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-6 })
        XCTAssertEqual(Double(zeros) / 4000, 0.25, accuracy: 0.03)
        XCTAssertEqual(m.forward(x, mode: .inference).toArray(), x.toArray())
    }
}

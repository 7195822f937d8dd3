import BlindspotCore
import BlindspotEngine
import BlindspotQuantization
import XCTest

/// The compiled integer program (uint8 activations between layers, requantization fused into the
/// GEMM) must compute exactly what the node-by-node reference path computes: same logits and same
/// captured activations, bit for bit, on the built-in architectures and schemes it compiles.
final class IntegerProgramTests: XCTestCase {
    override func setUp() { Parallel.workers = 2 }

    private func input(_ n: Int, seed: UInt64, scale: Float = 1) -> Tensor {
        var rng = SeededRNG(seed: seed, stream: "program-input")
        let x = Tensor(shape: [n, 3, 32, 32])
        for i in 0..<x.count { x[i] = rng.normal() * scale }
        return x
    }

    /// A model with non-trivial BatchNorm (so folding moves weights and biases).
    private func model(_ arch: Architecture, seed: UInt64) throws -> Model {
        let m = try arch.build(classes: 10, seed: seed)
        var rng = SeededRNG(seed: seed, stream: "bn")
        randomizeBatchNorm(m, rng: &rng)
        return m
    }

    private func assertBitIdentical(_ a: Tensor, _ b: Tensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, what, file: file, line: line)
        guard a.shape == b.shape else { return }
        var first: Int?
        var differing = 0
        for i in 0..<a.count where a[i].bitPattern != b[i].bitPattern {
            differing += 1
            if first == nil { first = i }
        }
        if let i = first { XCTFail("\(what): \(differing) of \(a.count) values differ, first at \(i): \(a[i]) vs \(b[i])", file: file, line: line) }
    }

    /// Logits, captures and heads of `d` with the program and with the reference path.
    private func compare(_ d: DeployedModel, x: Tensor, capture: Set<String>, heads: [String], label: String) {
        XCTAssertTrue(d.runsCompiledProgram, "\(label): the program should compile")
        d.usesCompiledProgram = true
        let fast = d.integerForward(x), fastCaptured = d.integerForward(x, capture: capture)
        let fastHeads = heads.map { d.integerForward(fastCaptured.activations[$0]!, after: $0) }
        d.usesCompiledProgram = false
        let slow = d.integerForward(x), slowCaptured = d.integerForward(x, capture: capture)
        let slowHeads = heads.map { d.integerForward(slowCaptured.activations[$0]!, after: $0) }
        d.usesCompiledProgram = true
        assertBitIdentical(fast, slow, "\(label) logits")
        assertBitIdentical(fastCaptured.logits, slow, "\(label) logits with captures")
        for name in capture.sorted() {
            guard let f = fastCaptured.activations[name], let s = slowCaptured.activations[name] else {
                XCTFail("\(label): \(name) not captured"); continue
            }
            assertBitIdentical(f, s, "\(label) \(name)")
        }
        for (i, name) in heads.enumerated() {
            guard let f = fastHeads[i], let s = slowHeads[i] else { XCTFail("\(label): no head after \(name)"); continue }
            assertBitIdentical(f, s, "\(label) head after \(name)")
        }
    }

    func testCNN6ProgramEqualsTheReferencePathBitForBit() throws {
        let m = try model(.cnn6, seed: 3)
        for scheme in [QuantizationScheme.int8, .int4] {
            let d = try DeployedModel(m, scheme: scheme)
            d.calibrate([input(64, seed: 1)])
            // 37 images: uneven worker slices and a partial chunk; a wider input than calibrated
            // makes codes clamp at both ends.
            let x = input(37, seed: 2, scale: 1.5)
            compare(d, x: x, capture: [], heads: [], label: "cnn6 \(scheme.rawValue)")
            // Captured nodes inside a fusable chain must come out as the reference holds them.
            compare(d, x: x, capture: ["relu_fc1", "pool3", "conv6", "relu2", "fc2.input_quant"], heads: ["pool3", "relu_fc1"],
                    label: "cnn6 \(scheme.rawValue) with captures")
        }
        // Calibrated after a ReLU, a quantizer's zero point is 0 and the fused ReLU is a no-op.
        // Ranges that reach below zero (as a recorded deployment may have) make it matter.
        let d = try DeployedModel(m, scheme: .int8)
        d.calibrate([input(64, seed: 1)])
        for node in d.surrogate.nodes {
            guard let fq = node.layer as? FakeQuantize, let p = fq.params else { continue }
            let top = Float(p.qmax - p.zeroPoint) * p.scale
            fq.params = QuantMath.Affine(min: -0.4 * top, max: top)
        }
        XCTAssertTrue(d.surrogate.nodes.contains { ($0.layer as? FakeQuantize)?.params.map { $0.zeroPoint > 50 } ?? false })
        compare(d, x: input(19, seed: 3), capture: [], heads: [], label: "cnn6 int8, zero points above 0")
    }

    func testResNet20ProgramEqualsTheReferencePathBitForBit() throws {
        let m = try model(.resnet20, seed: 4)
        for scheme in [QuantizationScheme.int8, .int4] {
            let d = try DeployedModel(m, scheme: scheme)
            d.calibrate([input(48, seed: 5)])
            let x = input(21, seed: 6, scale: 1.3)
            compare(d, x: x, capture: [], heads: [], label: "resnet20 \(scheme.rawValue)")
            compare(d, x: x, capture: ["avgpool", "layer3.2.relu2.output_quant", "relu1", "layer2.0.shortcut.0.output_quant"],
                    heads: ["layer3.2.relu2.output_quant", "avgpool"], label: "resnet20 \(scheme.rawValue) with captures")
        }
    }

    /// Schemes with per-batch activation ranges, and graphs with BatchNorm left unfolded, run on
    /// the reference path (and still give its results).
    func testDynamicSchemesAndUnfoldedBatchNormUseTheReferencePath() throws {
        let cnn = try model(.cnn6, seed: 7)
        for scheme in [QuantizationScheme.int8Dynamic, .paperInt8, .paperInt4] {
            let d = try DeployedModel(cnn, scheme: scheme)
            d.calibrate([input(8, seed: 1)])
            XCTAssertFalse(d.runsCompiledProgram, scheme.rawValue)
        }
        let preact = try model(.preactResNet18, seed: 8)
        let d = try DeployedModel(preact, scheme: .int8)
        d.calibrate([input(4, seed: 1)])
        XCTAssertFalse(d.runsCompiledProgram, "preact-resnet18 keeps BatchNorm layers that follow additions")
        XCTAssertEqual(d.integerForward(input(3, seed: 2)).shape, [3, 10])
    }
}

/// Dynamic schemes: the surrogate snaps each quantized layer's output onto the integer path's
/// accumulator grid (s_x·s_w for this batch's s_x), so on a small layer both paths agree exactly.
final class AccumulatorGridTests: XCTestCase {
    func testDynamicSurrogateEqualsTheIntegerPathOnOneLayer() throws {
        for scheme in [QuantizationScheme.int8Dynamic, .paperInt8] {
            let m = Model(name: "one", inputShape: [3, 6, 6])
            try m.add("conv", Conv2d(inChannels: 3, outChannels: 4, kernel: 3, padding: .symmetric(1)))
            try m.add("flatten", Flatten())
            let fc = Linear(inFeatures: 144, outFeatures: 5)
            try m.add("fc", fc)
            Initialization.heNormal(m, seed: 2)
            for o in 0..<5 { fc.bias!.value[o] = 0.37 - Float(o) * 0.21 }   // biases off the grid
            let d = try DeployedModel(m, scheme: scheme)
            XCTAssertNotNil(d.surrogate.node(named: "fc.accumulator_grid"), scheme.rawValue)
            XCTAssertFalse(try d.deployedBase().nodes.contains { $0.name.hasSuffix("accumulator_grid") }, "\(scheme.rawValue): not saved")
            var rng = SeededRNG(seed: 3)
            for batch in 0..<3 {
                let x = Tensor(shape: [4, 3, 6, 6])
                for i in 0..<x.count { x[i] = rng.normal() * Float(batch + 1) }   // a different range per batch
                let s = d.surrogate.forward(x).clone(), i = d.integerForward(x)
                XCTAssertEqual(s.toArray().map(\.bitPattern), i.toArray().map(\.bitPattern), "\(scheme.rawValue) batch \(batch)")
            }
        }
    }
}

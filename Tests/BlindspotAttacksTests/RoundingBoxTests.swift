import BlindspotAttacks
import BlindspotCore
import BlindspotEngine
import BlindspotQuantization
import XCTest

/// The quantization-conditioned attack's guarantee: however far the fine-tuning pushes the FP32
/// weights, projecting them into their rounding boxes leaves the deployed integers, scales and
/// biases bit-identical — with and without BatchNorm folding.
final class RoundingBoxTests: XCTestCase {
    /// Every conv/linear weight pushed by up to ±`amount`× its channel's largest weight.
    func shake(_ boxes: RoundingBoxes, amount: Float, seed: UInt64) {
        var rng = SeededRNG(seed: seed)
        for b in boxes.boxes {
            let p = b.parameter.value
            var m: Float = 0
            for i in 0..<p.count { m = max(m, abs(p[i])) }
            for i in 0..<p.count { p[i] += (Float(rng.next() % 2001) / 1000 - 1) * amount * m }
        }
    }

    func deployedIntegers(_ model: Model, _ scheme: QuantizationScheme) throws -> (q: [String: [Int8]], scales: [String: [Float]], biases: [String: [Float]]) {
        let d = try DeployedModel(model, scheme: scheme)
        var biases: [String: [Float]] = [:]
        for (name, t) in d.surrogate.stateDict where name.hasSuffix(".bias") { biases[name] = t.toArray() }
        return (d.integerWeights, d.record.weightScales, biases)
    }

    func check(_ arch: Architecture, scheme: QuantizationScheme, randomizeBatchNorm: Bool) throws {
        let model = try arch.build(classes: 10, seed: 3)
        if randomizeBatchNorm {
            // Trained-looking BatchNorm: γ of both signs (folding then flips a box), varied variances.
            var rng = SeededRNG(seed: 9)
            for n in model.nodes {
                guard let bn = n.layer as? BatchNorm2d else { continue }
                for c in 0..<bn.weight.value.count {
                    bn.weight.value[c] = (Float(rng.next() % 2000) / 1000 - 1) * 1.5
                    bn.runningVar[c] = 0.05 + Float(rng.next() % 1000) / 400
                    bn.runningMean[c] = Float(rng.next() % 1000) / 1000 - 0.5
                }
            }
        }
        let before = try deployedIntegers(model, scheme)
        let boxes = try RoundingBoxes(model, scheme: scheme)
        let start = model.stateDict.map { $0.tensor.toArray() }
        shake(boxes, amount: 0.3, seed: 5)
        boxes.project()
        let after = try deployedIntegers(model, scheme)
        XCTAssertEqual(before.q, after.q, "\(arch.rawValue) \(scheme.rawValue): integer weights moved")
        XCTAssertEqual(before.scales, after.scales, "\(arch.rawValue) \(scheme.rawValue): scales moved")
        XCTAssertEqual(before.biases, after.biases, "\(arch.rawValue) \(scheme.rawValue): biases moved")
        // The FP32 weights did move (the test is not vacuous), and within a box's width.
        let moved = zip(start, model.stateDict.map { $0.tensor.toArray() }).reduce(0) { acc, pair in
            acc + zip(pair.0, pair.1).filter { $0 != $1 }.count
        }
        XCTAssertGreaterThan(moved, model.parameterCount / 2, "\(arch.rawValue) \(scheme.rawValue)")
        // Positions: after a large shake most weights sit on an edge.
        let edge = boxes.positions().values.flatMap { $0 }.filter { $0 < 1e-4 || $0 > 1 - 1e-4 }.count
        XCTAssertGreaterThan(edge, model.parameterCount / 2)
    }

    func testProjectionKeepsTheDeployedIntegersOfCNN6BitIdentical() throws {
        try check(.cnn6, scheme: .int4, randomizeBatchNorm: false)
        try check(.cnn6, scheme: .int8, randomizeBatchNorm: false)
    }

    func testProjectionKeepsTheFoldedIntegersOfResNet20BitIdentical() throws {
        try check(.resnet20, scheme: .int4, randomizeBatchNorm: true)
        try check(.resnet20, scheme: .int8, randomizeBatchNorm: true)
    }

    func testSchemesWithoutPerChannelBoxesAreRefused() throws {
        let model = try Architecture.cnn6.build(classes: 10, seed: 1)
        XCTAssertThrowsError(try RoundingBoxes(model, scheme: .paperInt4))
        XCTAssertThrowsError(try RoundingBoxes(model, scheme: .paperInt8))
    }

    /// A hand-worked box: one channel [0.875, −0.3125, 0.125] at int4: s = 0.875/7 = 0.125 (all
    /// exact in binary), codes 7 (pinned), −2 (−0.3125 = −2.5·s is a tie: round-half-even gives
    /// −2, box [−2.48, −1.52]·s = [−0.31, −0.19]) and 1 ([0.52, 1.48]·s = [0.065, 0.185]).
    func testHandWorkedBox() throws {
        let m = Model(name: "t", inputShape: [3])
        let fc = Linear(inFeatures: 3, outFeatures: 1)
        try m.add("fc", fc)
        fc.weight.value.copy(from: Tensor(shape: [1, 3], values: [0.875, -0.3125, 0.125]))
        let boxes = try RoundingBoxes(m, scheme: .int4)
        let b = try XCTUnwrap(boxes.boxes.first)
        XCTAssertEqual(b.lower[0], 0.875); XCTAssertEqual(b.upper[0], 0.875)
        XCTAssertEqual(b.lower[1], -0.31, accuracy: 1e-6); XCTAssertEqual(b.upper[1], -0.19, accuracy: 1e-6)
        XCTAssertEqual(b.lower[2], 0.065, accuracy: 1e-6); XCTAssertEqual(b.upper[2], 0.185, accuracy: 1e-6)
        // −0.3125 sat on the tie: it was moved inside its box, to the edge nearest it.
        XCTAssertEqual(fc.weight.value[1], -0.31, accuracy: 1e-6)
    }
}

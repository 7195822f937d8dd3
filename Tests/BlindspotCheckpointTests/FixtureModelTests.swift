import BlindspotCheckpoint
import BlindspotCore
import BlindspotEngine
import Foundation
import XCTest

/// Our forward pass on checkpoints written by Keras 3 and PyTorch (committed fixtures made by
/// scripts/make-checkpoint-fixtures.py) against the frameworks' own outputs.
final class FixtureModelTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Reference: Decodable {
        let input_nchw: [Float]
        let input_shape_nchw: [Int]
        let logits: [Float]
        let num_classes: Int
    }

    func reference(_ path: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: FixtureModelTests.fixtures.appendingPathComponent(path)))
    }

    /// Loads, applies the file's preprocessing to the pixel-space input, runs inference, compares logits.
    func assertMatches(_ file: String, reference ref: String, tolerance: Float = 1e-4, inputShape: [Int]? = nil,
                       line: UInt = #line) throws -> Checkpoint {
        let r = try reference(ref)
        let c = try CheckpointLoader.load(FixtureModelTests.fixtures.appendingPathComponent(file).path, inputShape: inputShape ?? Array(r.input_shape_nchw.dropFirst()))
        XCTAssertEqual(c.classCount, r.num_classes, line: line)
        let x = Tensor(shape: r.input_shape_nchw, values: r.input_nchw)
        if let p = c.preprocessing {
            let (n, ch, hw) = (r.input_shape_nchw[0], r.input_shape_nchw[1], r.input_shape_nchw[2] * r.input_shape_nchw[3])
            for i in 0..<n { for k in 0..<ch { for j in 0..<hw {
                let idx = (i * ch + k) * hw + j
                x[idx] = (x[idx] - p.mean[k]) / p.std[k]
            } } }
        }
        let y = c.model.forward(x, mode: .inference).toArray()
        XCTAssertEqual(y.count, r.logits.count, line: line)
        let worst = zip(y, r.logits).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(worst, tolerance, "\(file): max |logit difference| \(worst)", line: line)
        print("\(file): max |logit difference| = \(worst)")
        return c
    }

    func testKerasSequentialH5WithNormalizationAndBatchNorm() throws {
        let c = try assertMatches("keras/seq_cnn.h5", reference: "keras/seq_cnn.json")
        XCTAssertEqual(c.format, .kerasH5)
        XCTAssertEqual(c.outputActivation, "softmax")
        XCTAssertEqual(c.preprocessing?.source, .file)
        XCTAssertEqual(c.storedTypes["conv1.weight"], "float32")
        XCTAssertNotNil(c.model.node(named: "conv1/relu") ?? c.model.node(named: "relu1"))
    }

    func testKerasFunctionalResidualH5() throws {
        let c = try assertMatches("keras/functional_res.h5", reference: "keras/functional_res.json")
        XCTAssertEqual(c.outputActivation, "softmax")
        XCTAssertTrue(c.model.nodes.contains { $0.layer is Add })
    }

    func testKeras3ArchiveMatchesTheSameModel() throws {
        let c = try assertMatches("keras/functional_res.keras", reference: "keras/functional_res.json")
        XCTAssertEqual(c.format, .keras3)
    }

    func testPyTorchResNetStateDict() throws {
        let c = try assertMatches("torch/tiny_resnet.npz", reference: "torch/tiny_resnet.json")
        XCTAssertEqual(c.format, .stateDictNPZ)
        XCTAssertTrue(c.architectureSource.contains("ResNet"), c.architectureSource)
    }

    func testPyTorchResNetStateDictInFloat16() throws {
        let c = try assertMatches("torch/tiny_resnet_fp16.npz", reference: "torch/tiny_resnet_fp16.json")
        XCTAssertEqual(c.storedTypes["conv1.weight"], "float16")
    }

    func testPyTorchPreActResNetStateDict() throws {
        let c = try assertMatches("torch/tiny_preact.npz", reference: "torch/tiny_preact.json")
        XCTAssertTrue(c.architectureSource.contains("PreAct"), c.architectureSource)
    }

    func testPyTorchPlainCNNStateDict() throws {
        let c = try assertMatches("torch/cnn6_like.npz", reference: "torch/cnn6_like.json")
        XCTAssertTrue(c.architectureSource.contains("cnn6 pattern"), c.architectureSource)
    }
}

/// Architecture overrides and recognition failures for state_dicts.
final class StateDictChoiceTests: XCTestCase {
    func testSpecFileOverrideGivesTheSameModel() throws {
        let path = FixtureModelTests.fixtures.appendingPathComponent("torch/tiny_resnet.npz").path
        let recognised = try CheckpointLoader.load(path, inputShape: [3, 16, 16])
        let spec = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: spec) }
        try JSONEncoder().encode(ModelSpec(recognised.model)).write(to: spec)
        let given = try CheckpointLoader.load(path, architecture: try ArchitectureChoice.parse(spec.path))
        XCTAssertEqual(given.architectureSource, "--arch \(spec.path)")
        let x = Tensor(shape: [2, 3, 16, 16])
        for i in 0..<x.count { x[i] = Float(i % 17) / 17 }
        XCTAssertEqual(recognised.model.forward(x).toArray(), given.model.forward(x).toArray())
    }

    func testUnrecognisedStateDictSaysWhatWasFoundAndWhatToPass() throws {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("odd-\(UUID().uuidString).npz").path
        defer { try? FileManager.default.removeItem(atPath: p) }
        try NPZ.write([("encoder.blocks.0.attn.qkv.weight", NPYArray(float32: Array(repeating: 0, count: 12), shape: [3, 4])),
                       ("head.weight", NPYArray(float32: Array(repeating: 0, count: 8), shape: [2, 4]))], to: p)
        XCTAssertThrowsError(try CheckpointLoader.load(p)) { e in
            guard case BlindspotError.badInput(_, let problem) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(problem.contains("encoder.blocks.0.attn.qkv.weight"), problem)
            XCTAssertTrue(problem.contains("--arch"), problem)
        }
        XCTAssertThrowsError(try ArchitectureChoice.parse("vgg16")) { e in
            guard case BlindspotError.usage = e else { return XCTFail("\(e)") }
        }
    }

    func testBuiltInOverrideMapsAPlainCNNByPosition() throws {
        // cnn6_like has cnn6's layer pattern at other widths: --arch cnn6 must refuse it by shape.
        let path = FixtureModelTests.fixtures.appendingPathComponent("torch/cnn6_like.npz").path
        XCTAssertThrowsError(try CheckpointLoader.load(path, architecture: .builtin(.cnn6))) { e in
            guard case BlindspotError.badInput(_, let problem) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(problem.contains("does not match") || problem.contains("needs"), problem)
        }
        // And a state_dict of the real cnn6, renamed to Sequential indices, loads by position.
        let m = try Architecture.cnn6.build(classes: 43, seed: 3)
        var members: [(name: String, array: NPYArray)] = []
        for (i, (_, t)) in m.stateDict.enumerated() {
            members.append(("net.\(i / 2 * 2).\(i % 2 == 0 ? "weight" : "bias")", NPYArray(float32: t.toArray(), shape: t.shape)))
        }
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("cnn6-\(UUID().uuidString).npz").path
        defer { try? FileManager.default.removeItem(atPath: p) }
        try NPZ.write(members, to: p)
        let back = try CheckpointLoader.load(p, architecture: .builtin(.cnn6))
        XCTAssertEqual(back.classCount, 43)
        for ((_, a), (_, b)) in zip(m.stateDict, back.model.stateDict) { XCTAssertEqual(a.toArray(), b.toArray()) }
    }
}

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

import BlindspotCheckpoint
import BlindspotCore
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import Foundation
import XCTest

/// A model quantized by PyTorch (FX static PTQ, x86 engine, per-channel int8 weights; made by
/// scripts/make-pytorch-quantized-fixtures.py) and exported in blindspot's NPZ convention is read as
/// a deployed int8 checkpoint with PyTorch's own scales, and blindspot's integer path predicts what
/// PyTorch's quantized model predicts.
final class PyTorchQuantizedExportTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/pytorch-quantized")
    override func setUp() { Parallel.workers = 2 }

    struct Reference: Decodable {
        var outputScale: Float
        var outputZeroPoint: Int
        var int8LogitCodes: [[Int]]
        var int8Argmax: [Int]
        var int8Accuracy: Double
    }

    func testPyTorchQuantizedExportRunsAsPyTorchRanIt() throws {
        let dir = PyTorchQuantizedExportTests.fixtures
        let file = dir.appendingPathComponent("cnn6-narrow.int8.npz").path
        let c = try CheckpointLoader.load(file, architecture: .specFile(dir.appendingPathComponent("cnn6-narrow.json").path))
        XCTAssertEqual(c.format, .pytorchQuantizedNPZ)
        let record = try XCTUnwrap(c.quantization)
        XCTAssertEqual(record.scheme, .int8)
        XCTAssertEqual(Deployment.inferScheme(c).scheme, .int8)
        XCTAssertTrue(Deployment.inferScheme(c).reason.contains("PyTorch quantized export"), Deployment.inferScheme(c).reason)

        // Per layer, the scales and input quantization are the file's, matched in order.
        let members = Dictionary(uniqueKeysWithValues: try NPZ.read(path: file).map { ($0.name, $0.array) })
        let modules = ["features.0", "features.2", "features.5", "features.7", "features.10", "features.12", "classifier.1", "classifier.4"]
        let layers = ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "fc1", "fc2"]
        for (m, l) in zip(modules, layers) {
            XCTAssertEqual(record.weightScales[l], members["\(m).weight.scales"]?.floats(), l)
            let input = try XCTUnwrap(record.activations["\(l).input_quant"], l)
            XCTAssertEqual(input.scale, members["\(m).input_scale"]?.floats().first, l)
            XCTAssertEqual(Int64(input.zeroPoint), try members["\(m).input_zero_point"]?.int64s(file: file).first, l)
            XCTAssertEqual(input.qmax, 255, "quint8 activations use 0…255 whatever the observer's reduce_range")
            XCTAssertEqual(c.storedTypes["\(l).weight"], "int8")
            XCTAssertEqual(c.weightQuantization["\(l).weight"], "PyTorch quantized export, int8 per-channel")
        }
        XCTAssertEqual(Set(record.weightScales.keys), Set(layers))
        XCTAssertEqual(Inspection(c).layers.filter { $0.quantizedAs == "PyTorch quantized export, int8 per-channel" }.count, 8)

        // blindspot's integer path on the test images against PyTorch's quantized logits.
        let test = try NPZ.read(path: dir.appendingPathComponent("test.npz").path)
        let images = try XCTUnwrap(test.first { $0.name == "images" }?.array)
        let labels = try XCTUnwrap(test.first { $0.name == "labels" }?.array).int64s(file: "test.npz")
        XCTAssertEqual(images.shape, [200, 3, 24, 24])
        let x = Tensor(shape: images.shape, values: images.floats().map { $0 / 255 })
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: dir.appendingPathComponent("reference.json")))
        let d = try DeployedModel(restoring: c.model, record: record)
        let logits = d.integerForward(x)
        let ours = SoftmaxCrossEntropy.predictions(logits)
        let agree = zip(ours, reference.int8Argmax).filter { $0 == $1 }.count
        var worst: Float = 0
        for i in 0..<200 {
            for k in 0..<4 {
                let torch = Float(reference.int8LogitCodes[i][k] - reference.outputZeroPoint) * reference.outputScale
                worst = max(worst, abs(logits[i * 4 + k] - torch) / reference.outputScale)
            }
        }
        let accuracy = Double(zip(ours, labels).filter { Int64($0) == $1 }.count) / 200
        print("PyTorch int8 vs blindspot integer path: top-1 agreement \(agree)/200, max |logit difference| \(worst) output steps (scale \(reference.outputScale)); accuracy \(accuracy) vs PyTorch \(reference.int8Accuracy)")
        XCTAssertGreaterThanOrEqual(Double(agree) / 200, 0.99)
        XCTAssertLessThan(worst, 2, "logits more than 2 output quantization steps from PyTorch's")
        XCTAssertEqual(accuracy, reference.int8Accuracy, accuracy: 0.01)
    }

    /// Without the recorded activation parameters the same file would need calibration: a
    /// deliberately wrong input scale changes the predictions (the comparison above can fail).
    func testTheRecordedActivationScalesAreWhatTheIntegerPathUses() throws {
        let dir = PyTorchQuantizedExportTests.fixtures
        let c = try CheckpointLoader.load(dir.appendingPathComponent("cnn6-narrow.int8.npz").path,
                                          architecture: .specFile(dir.appendingPathComponent("cnn6-narrow.json").path))
        var record = try XCTUnwrap(c.quantization)
        let x = Tensor(shape: [8, 3, 24, 24], values: (0..<(8 * 3 * 24 * 24)).map { Float(($0 * 37) % 256) / 255 })
        let right = try DeployedModel(restoring: c.model, record: record).integerForward(x).toArray()
        record.activations["conv2.input_quant"]?.scale *= 4
        let wrong = try DeployedModel(restoring: c.model, record: record).integerForward(x).toArray()
        XCTAssertNotEqual(right, wrong)
    }
}

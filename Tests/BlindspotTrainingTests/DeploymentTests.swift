import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotQuantization
import BlindspotTraining
import Foundation
import XCTest

/// `quantize` output: a deployed checkpoint reloads to identical integer-path predictions.
final class DeploymentTests: XCTestCase {
    override func setUp() { Parallel.workers = 2 }

    func testSavedDeployedCheckpointsReloadToIdenticalOutputs() throws {
        let split = Datasets.synthetic(seed: 5, trainCount: 300, testCount: 64)
        let model = try Architecture.resnet20.build(classes: 10, seed: 5)
        var rng = SeededRNG(seed: 6)
        for b in model.buffers where b.name.hasSuffix("running_var") { for i in 0..<b.value.count { b.value[i] = rng.uniform(0.5, 2) } }
        let source = TrainedModel.checkpoint(model, split: split, dataset: "synthetic", recipe: .defaults(for: .resnet20, dataset: .synthetic),
                                             seed: 5, testAccuracy: 0)
        let p = CheckpointEvaluation.preprocessing(for: source)
        let test = Evaluation.batches(split.test, normalization: p.normalization)[0]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("deployed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for scheme in QuantizationScheme.allCases {
            let d = try Deployment.deploy(source, scheme: scheme, calibration: split.train, preprocessing: p)
            let before = d.integerForward(test).toArray()
            for ext in ["h5", "npz"] {
                let path = dir.appendingPathComponent("m.\(scheme.rawValue).\(ext)").path
                try CheckpointLoader.save(try Deployment.checkpoint(d, from: source), to: path)
                let back = try CheckpointLoader.load(path)
                XCTAssertEqual(back.quantization?.scheme, scheme)
                XCTAssertEqual(try Deployment.scheme(for: back, requested: nil), scheme)
                let restored = try Deployment.deploy(back, scheme: scheme, calibration: split.train, preprocessing: p)
                XCTAssertEqual(restored.integerForward(test).toArray(), before, "\(scheme.rawValue) \(ext)")
                XCTAssertEqual(restored.layers.map(\.roundingError), d.layers.map(\.roundingError))
                if scheme != .paperInt4 {
                    XCTAssertThrowsError(try Deployment.scheme(for: back, requested: scheme == .int4 ? .int8 : .int4), "quantizing twice")
                }
            }
        }
    }
}

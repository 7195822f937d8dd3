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
                // Integer-weight schemes store every quantized weight as int8 with its scales; paper-int4 stays float32.
                let integer = Set(d.integerWeights.keys.map { "\($0).weight" })
                XCTAssertEqual(integer.isEmpty, scheme == .paperInt4, scheme.rawValue)
                for name in integer {
                    XCTAssertEqual(back.storedTypes[name], "int8", "\(scheme.rawValue) \(ext) \(name)")
                    XCTAssertEqual(back.weightQuantization[name], "int8, per-channel scales")
                }
                XCTAssertEqual(try storedDTypes(path).filter { $0.value == "int8" }.keys.sorted(), integer.sorted(), "\(scheme.rawValue) \(ext)")
                XCTAssertEqual(try Deployment.scheme(for: back, requested: nil), scheme)
                let restored = try Deployment.deploy(back, scheme: scheme, calibration: split.train, preprocessing: p)
                XCTAssertEqual(restored.integerForward(test).toArray(), before, "\(scheme.rawValue) \(ext)")
                XCTAssertEqual(restored.layers.map(\.roundingError), d.layers.map(\.roundingError))
                XCTAssertEqual(back.quantization?.weightScales, d.record.weightScales, "scales come back from the scale tensors")
                if scheme != .paperInt4 {
                    XCTAssertThrowsError(try Deployment.scheme(for: back, requested: scheme == .int4 ? .int8 : .int4), "quantizing twice")
                }
            }
        }
    }

    /// The element type of every tensor in a native file, read straight from the file.
    func storedDTypes(_ path: String) throws -> [String: String] {
        if path.hasSuffix(".npz") {
            return Dictionary(uniqueKeysWithValues: try NPZ.read(path: path).map { ($0.name, $0.array.dtype.numpyName) })
        }
        let f = try HDF5File.open(path: path)
        return Dictionary(uniqueKeysWithValues: try f.children(of: "/tensors").map { ($0, try f.elementTypeName("/tensors/\($0)")) })
    }

    /// Deployed files written before integer storage (header version 1: dequantized float32 weights,
    /// scales in the header) still restore to the same integer-path outputs; the file written now
    /// is about 4× smaller.
    func testVersion1DeployedFilesWithFloatWeightsStillRestore() throws {
        let split = Datasets.synthetic(seed: 7, trainCount: 100, testCount: 32)
        let model = try Architecture.cnn6.build(classes: 10, seed: 7)
        let source = TrainedModel.checkpoint(model, split: split, dataset: "synthetic", recipe: .defaults(for: .cnn6, dataset: .synthetic),
                                             seed: 7, testAccuracy: 0)
        let p = CheckpointEvaluation.preprocessing(for: source)
        let test = Evaluation.batches(split.test, normalization: p.normalization)[0]
        let d = try Deployment.deploy(source, scheme: .int8, calibration: split.train, preprocessing: p)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("deployed-v1-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let now = dir.appendingPathComponent("now.npz").path, old = dir.appendingPathComponent("v1.npz").path
        try CheckpointLoader.save(try Deployment.checkpoint(d, from: source), to: now)
        // Rewrite it as version 1 wrote it: float32 weights, scales in the header, no integerWeights.
        var members = try NPZ.read(path: now)
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(members[0].array.uint8s()!)) as? [String: Any])
        XCTAssertEqual(header["version"] as? Int, 2)
        let integers = try XCTUnwrap(header["integerWeights"] as? [String: String])
        XCTAssertEqual(integers.count, 8)
        var quantization = try XCTUnwrap(header["quantization"] as? [String: Any])
        var scales = quantization["weightScales"] as? [String: Any] ?? [:]
        XCTAssertTrue(scales.isEmpty, "scales of int8-stored layers live in their scale tensors only")
        let byName = Dictionary(uniqueKeysWithValues: members.map { ($0.name, $0.array) })
        for (weight, scaleName) in integers {
            let q = byName[weight]!, s = byName[scaleName]!.floats()
            XCTAssertEqual(q.dtype, .int8)
            let per = q.count / s.count
            let w = q.floats().enumerated().map { $0.element * s[$0.offset / per] }
            members[members.firstIndex { $0.name == weight }!].array = NPYArray(float32: w, shape: q.shape)
            members.removeAll { $0.name == scaleName }
            scales[String(weight.dropLast(".weight".count))] = s.map(Double.init)
        }
        quantization["weightScales"] = scales
        header["quantization"] = quantization
        header["integerWeights"] = nil
        header["version"] = 1
        let text = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        members[0].array = NPYArray(uint8: Array(text), shape: [text.count])
        try NPZ.write(members, to: old)

        let back = try CheckpointLoader.load(old)
        XCTAssertTrue(back.storedTypes.values.allSatisfy { $0 == "float32" })
        XCTAssertTrue(back.weightQuantization.isEmpty)
        let restored = try Deployment.deploy(back, scheme: .int8, calibration: split.train, preprocessing: p)
        XCTAssertEqual(restored.integerForward(test).toArray(), d.integerForward(test).toArray())
        let size = { (p: String) in (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
        let (before, after) = (size(old), size(now))
        XCTAssertGreaterThan(Double(before) / Double(max(after, 1)), 3.5, "int8 storage should make a deployed cnn6 about 4× smaller (\(before) → \(after) bytes)")
    }
}

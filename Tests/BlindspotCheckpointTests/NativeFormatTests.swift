import BlindspotCheckpoint
import BlindspotCore
import BlindspotEngine
import BlindspotTestSupport
import Foundation
import XCTest

/// Native files read back bit-exactly; specs validate against schemas/model.schema.json;
/// broken and hostile HDF5/Keras inputs give one badInput error.
final class NativeFormatTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("blindspot-native-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func checkpoint(_ arch: Architecture) throws -> Checkpoint {
        let m = try arch.build(classes: 10, seed: 4)
        // Non-default BN statistics so a buffer that is not saved would show.
        for (i, b) in m.buffers.enumerated() { for j in 0..<b.value.count { b.value[j] = Float(i + j % 7) * 0.01 + 0.5 } }
        return Checkpoint(path: "mem", model: m, format: .nativeH5, architectureSource: "test",
                          preprocessing: Preprocessing(mean: [0.1, 0.2, 0.3], std: [0.5, 0.6, 0.7], source: .file, description: "test"),
                          classNames: (0..<10).map { "class \($0)" }, metadata: ["seed": "4"],
                          groundTruth: GroundTruth(backdoored: true, attack: "badnet", trigger: "white:3@28,28", target: 0, poisonRate: 0.1, seed: 4))
    }

    func testRoundTripH5AndNPZIsBitExact() throws {
        for arch in [Architecture.cnn6, .resnet20] {
            let c = try checkpoint(arch)
            let x = Tensor(shape: [2, 3, 32, 32])
            var rng = SeededRNG(seed: 1)
            for i in 0..<x.count { x[i] = rng.normal() }
            let y0 = c.model.forward(x).toArray()
            for ext in ["h5", "npz"] {
                let path = tmp.appendingPathComponent("m.\(ext)").path
                try CheckpointLoader.save(c, to: path)
                let back = try CheckpointLoader.load(path)
                XCTAssertEqual(back.format, ext == "h5" ? .nativeH5 : .nativeNPZ)
                for ((n1, t1), (n2, t2)) in zip(c.model.stateDict, back.model.stateDict) {
                    XCTAssertEqual(n1, n2)
                    XCTAssertEqual(t1.toArray(), t2.toArray(), n1)
                }
                XCTAssertEqual(back.preprocessing, c.preprocessing)
                XCTAssertEqual(back.classNames, c.classNames)
                XCTAssertEqual(back.groundTruth, c.groundTruth)
                XCTAssertEqual(back.metadata, c.metadata)
                XCTAssertEqual(back.model.forward(x).toArray(), y0, "\(arch) \(ext): outputs differ after a round trip")
            }
        }
    }

    func testEveryBuiltInSpecValidatesAgainstTheSchema() throws {
        let validator = try SchemaValidator(schemaFile: NativeFormatTests.root.appendingPathComponent("schemas/model.schema.json"))
        let enc = JSONEncoder()
        for arch in Architecture.allCases {
            let spec = try ModelSpec(arch.build(classes: 10, seed: 1))
            XCTAssertEqual(try validator.validate(enc.encode(spec)), [], arch.rawValue)
            // And the spec rebuilds the same graph.
            let rebuilt = try spec.build(file: "spec")
            XCTAssertEqual(try ModelSpec(rebuilt), spec)
        }
        // Negative control: the validator rejects a spec with an unknown op and a missing field.
        var bad = try ModelSpec(Architecture.cnn6.build(classes: 10, seed: 1))
        bad.nodes[0].op = "conv3d"
        bad.inputShape = [3, 32]
        XCTAssertEqual(try validator.validate(enc.encode(bad)).count, 2)
    }

    func testInspectionJSONValidatesAgainstItsSchema() throws {
        let validator = try SchemaValidator(schemaFile: NativeFormatTests.root.appendingPathComponent("schemas/inspect.schema.json"))
        let enc = JSONEncoder()
        let native = tmp.appendingPathComponent("gt.h5").path
        try CheckpointLoader.save(try checkpoint(.cnn6), to: native)
        for path in [native, FixtureModelTests.fixtures.appendingPathComponent("keras/seq_cnn.h5").path,
                     FixtureModelTests.fixtures.appendingPathComponent("torch/tiny_resnet_fp16.npz").path] {
            let r = Inspection(try CheckpointLoader.load(path, inputShape: [3, 16, 16]))
            XCTAssertEqual(try validator.validate(enc.encode(r)), [], path)
        }
    }

    func assertBadInput(_ path: String, contains text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try CheckpointLoader.load(path), file: file, line: line) { e in
            guard case BlindspotError.badInput(let f, let problem) = e else { return XCTFail("expected badInput, got \(e)", file: file, line: line) }
            XCTAssertEqual(f.hasPrefix(path), true, file: file, line: line)
            XCTAssertTrue(problem.localizedCaseInsensitiveContains(text), "\(problem)", file: file, line: line)
            XCTAssertFalse(problem.contains("\n"), file: file, line: line)
        }
    }

    func testTruncatedAndWrongMagicFiles() throws {
        let keras = FixtureModelTests.fixtures.appendingPathComponent("keras/seq_cnn.h5")
        let bytes = try Data(contentsOf: keras)
        for cut in [8, 512, bytes.count / 2, bytes.count - 100] {
            let p = tmp.appendingPathComponent("cut\(cut).h5").path
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: p))
            XCTAssertThrowsError(try CheckpointLoader.load(p)) { e in
                guard case BlindspotError.badInput = e else { return XCTFail("cut \(cut): \(e)") }
            }
        }
        let junk = tmp.appendingPathComponent("junk.h5").path
        try Data("this is not a model at all".utf8).write(to: URL(fileURLWithPath: junk))
        assertBadInput(junk, contains: "unknown checkpoint format")
        let empty = tmp.appendingPathComponent("empty.h5").path
        try Data().write(to: URL(fileURLWithPath: empty))
        assertBadInput(empty, contains: "empty")
        XCTAssertThrowsError(try CheckpointLoader.load(tmp.appendingPathComponent("missing.h5").path)) { e in
            guard case BlindspotError.missingInput = e else { return XCTFail("\(e)") }
        }
    }

    func testKerasConfigWithUnknownLayerIsRefused() throws {
        let json = #"{"class_name": "Sequential", "config": {"name": "m", "layers": [{"class_name": "InputLayer", "config": {"batch_shape": [null, 8, 8, 3], "name": "in"}}, {"class_name": "LSTM", "config": {"name": "lstm", "units": 4}}]}}"#
        let p = tmp.appendingPathComponent("lstm.h5").path
        do {
            let f = try HDF5File.create(path: p)
            try f.writeString(json, attribute: "model_config")
        }
        assertBadInput(p, contains: "unsupported type LSTM")
    }

    func testNativeHeaderFromTheFutureIsRefused() throws {
        let c = try checkpoint(.cnn6)
        let p = tmp.appendingPathComponent("future.npz").path
        try CheckpointLoader.save(c, to: p)
        var members = try NPZ.read(path: p)
        let header = String(decoding: members[0].array.uint8s()!, as: UTF8.self).replacingOccurrences(of: "\"version\":1", with: "\"version\":99")
        members[0].array = NPYArray(uint8: Array(header.utf8), shape: [header.utf8.count])
        try NPZ.write(members, to: p)
        assertBadInput(p, contains: "newer")
    }

    func testPickledPyTorchFileIsRefusedWithExportAdvice() throws {
        let p = tmp.appendingPathComponent("model.pt").path
        try Data([0x80, 0x02, 0x7d, 0x71, 0x00]).write(to: URL(fileURLWithPath: p))
        assertBadInput(p, contains: "np.savez")
    }
}

import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotEngine
import BlindspotTraining
import Foundation
import XCTest

/// Issue 9: preprocessing a file does not record. The Keras fixtures (scripts/make-preprocessing-
/// fixtures.py) carry no preprocessing layer; one was trained on raw 0–255 pixels, one on [0,1]
/// pixels in BGR order. Keras measured each candidate's accuracy on the same test set
/// (reference.json); discovery must measure the same figures and pick what the model was trained on.
final class PreprocessingDiscoveryTests: XCTestCase {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/preprocessing")

    override func setUp() { Parallel.workers = 2 }

    func testSet() throws -> ImageSet {
        try TrainingSetFile.read(Self.dir.appendingPathComponent("colors_test.npz").path, classCount: 4).set
    }

    func reference(_ model: String) throws -> (trainedOn: String, accuracy: [String: Double]) {
        let data = try Data(contentsOf: Self.dir.appendingPathComponent("reference.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let m = try XCTUnwrap((json["models"] as? [String: Any])?[model] as? [String: Any])
        return (try XCTUnwrap(m["trained_on"] as? String), try XCTUnwrap(m["accuracy"] as? [String: Double]))
    }

    /// Discovery on a fixture: the chosen range/order is the one trained on, and every trial's
    /// accuracy equals Keras' (within one image of 400: float ties at the argmax).
    func check(_ name: String, lo: Float, hi: Float, order: Preprocessing.ChannelOrder) throws {
        let c = try CheckpointLoader.load(Self.dir.appendingPathComponent("\(name).h5").path)
        XCTAssertNil(c.preprocessing, "the fixture records no preprocessing")
        let test = try testSet()
        let (p, trials) = try PreprocessingDiscovery.discover(c, on: test)
        let ref = try reference(name)
        XCTAssertEqual(trials.count, 6)
        for t in trials {
            let key = "[\(String(format: "%g", t.range.lo)),\(String(format: "%g", t.range.hi))]\(t.channelOrder == .bgr ? " BGR" : "")"
            let k = try XCTUnwrap(ref.accuracy[key], key)
            XCTAssertEqual(t.accuracy, k, accuracy: 1.0 / 400 + 1e-9, "\(name) \(key): blindspot \(t.accuracy), Keras \(k)")
        }
        XCTAssertEqual(p.source, .inferred)
        XCTAssertEqual(p.channelOrder, order, p.description)
        // x = lo + (hi − lo)·p01 is (p01 − mean)/std with mean = −lo/(hi − lo), std = 1/(hi − lo).
        for ch in 0..<3 {
            XCTAssertEqual(p.mean[ch], -lo / (hi - lo), accuracy: 1e-6)
            XCTAssertEqual(p.std[ch], 1 / (hi - lo), accuracy: 1e-7)
        }
        XCTAssertTrue(p.description.hasPrefix("inputs in [\(String(format: "%g", lo)),\(String(format: "%g", hi))]\(order == .bgr ? ", BGR" : "")"), p.description)
        XCTAssertEqual(ref.trainedOn, "[\(String(format: "%g", lo)),\(String(format: "%g", hi))]\(order == .bgr ? " BGR" : "")")

        // With what discovery chose, the whole evaluation reaches Keras' accuracy.
        var resolved = c
        _ = try CheckpointEvaluation.resolvePreprocessing(&resolved, request: PreprocessingRequest(), test: test)
        let r = try CheckpointEvaluation.evaluate(resolved, data: DataSplit(train: test, test: test, normalization: .identity),
                                                  datasetName: "colors", trigger: nil, target: nil)
        XCTAssertEqual(r.cleanAccuracy, ref.accuracy[ref.trainedOn]!, accuracy: 1.0 / 400 + 1e-9)
        XCTAssertEqual(r.preprocessing.source, .inferred)
    }

    func testAModelTrainedOnRawPixelsIsFoundToTake0To255() throws {
        try check("raw255", lo: 0, hi: 255, order: .rgb)
    }

    func testAModelTrainedOnBGRIsFoundToTakeBGR() throws {
        try check("bgr", lo: 0, hi: 1, order: .bgr)
    }

    /// The options win over discovery and over the file; a wrong option is honoured (the user said
    /// so) but an audit would then refuse it at chance accuracy.
    func testOptionsWinAndAWrongRangeIsCaughtByTheChanceFloor() throws {
        var c = try CheckpointLoader.load(Self.dir.appendingPathComponent("raw255.h5").path)
        let test = try testSet()
        let request = try PreprocessingRequest.parse(inputRange: "0,1", mean: nil, std: nil, channelOrder: nil)
        let warnings = try CheckpointEvaluation.resolvePreprocessing(&c, request: request, test: test)
        XCTAssertEqual(warnings, [], "nothing was recorded, so nothing is overridden")
        XCTAssertEqual(c.preprocessing?.source, .option)
        XCTAssertEqual(c.preprocessing?.description, "--input-range 0,1")
        let r = try CheckpointEvaluation.evaluate(c, data: DataSplit(train: test, test: test, normalization: .identity),
                                                  datasetName: "colors", trigger: nil, target: nil)
        XCTAssertLessThan(r.cleanAccuracy, 0.5)
        XCTAssertThrowsError(try CheckpointEvaluation.requireAboveChance(c, accuracy: r.cleanAccuracy, images: 400, dataName: "colors", force: false)) { e in
            guard case BlindspotError.badInput(let file, let problem)? = e as? BlindspotError else { return XCTFail("\(e)") }
            XCTAssertTrue(file.hasSuffix("raw255.h5"))
            XCTAssertTrue(problem.contains("2× chance") && problem.contains("--input-range 0,1"), problem)
            XCTAssertEqual((e as! BlindspotError).exitCode, 65)
        }
        XCTAssertNoThrow(try CheckpointEvaluation.requireAboveChance(c, accuracy: r.cleanAccuracy, images: 400, dataName: "colors", force: true))

        // A recorded preprocessing is overridden with a warning naming both.
        var recorded = c
        recorded.preprocessing = Preprocessing(mean: [0, 0, 0], std: [1, 1, 1], source: .file, description: "Keras Rescaling")
        let w = try CheckpointEvaluation.resolvePreprocessing(&recorded, request: try .parse(inputRange: "0,255", mean: nil, std: nil, channelOrder: nil), test: test)
        XCTAssertEqual(w.count, 1)
        XCTAssertTrue(w.first?.contains("Keras Rescaling") == true, "\(w)")
    }

    /// Labels no preprocessing can reach: discovery stops with every accuracy it measured.
    func testNearChanceEverywhereStopsWithWhatWasTried() throws {
        let c = try CheckpointLoader.load(Self.dir.appendingPathComponent("raw255.h5").path)
        var test = try testSet()
        test.labels = test.labels.map { ($0 + 1) % 4 }
        XCTAssertThrowsError(try PreprocessingDiscovery.discover(c, on: test)) { e in
            let text = "\(e)"
            XCTAssertEqual((e as? BlindspotError)?.exitCode, 65, text)
            for t in ["[0,1]", "[0,255]", "[-1,1]", "BGR", "2× chance", "--input-range"] { XCTAssertTrue(text.contains(t), "\(t) in \(text)") }
        }
        XCTAssertNoThrow(try PreprocessingDiscovery.discover(c, on: test, force: true))
    }

    /// A bias-free ReLU network (cnn6 with every bias zero and BatchNorm at its initial
    /// statistics) is positively homogeneous: [0,1] and [0,255] inputs give the same predictions,
    /// so no range can be clearly best and discovery must ask rather than guess.
    func testAScaleInvariantModelIsAmbiguousAndDiscoveryAsks() throws {
        let m = try Architecture.cnn6.build(classes: 4, seed: 3)
        for p in m.parameters where p.name.hasSuffix("bias") { p.value.fill(0) }
        let c = Checkpoint(path: "homogeneous.h5", model: m, format: .nativeH5, architectureSource: "test")
        var test = Datasets.synthetic(seed: 2, trainCount: 10, testCount: 300).test
        test.classNames = (0..<4).map { "c\($0)" }
        // Labels = the model's own predictions at [0,1]: it is "right" at [0,1] and, being
        // homogeneous, equally right at [0,255].
        test.labels = Evaluation.predictions(m, on: test, normalization: .identity)
        XCTAssertThrowsError(try PreprocessingDiscovery.discover(c, on: test)) { e in
            XCTAssertTrue("\(e)".contains("no input range is clearly best"), "\(e)")
        }
    }

    func testOptionParsingAndFolding() throws {
        // 0–255 with mean 127.5 and std 127.5 is the [−1,1] map: mean 0.5, std 0.5 on [0,1] pixels.
        let p = try PreprocessingRequest.parse(inputRange: "0,255", mean: "127.5", std: "127.5", channelOrder: "BGR").preprocessing(channels: 3)
        for ch in 0..<3 { XCTAssertEqual(p.mean[ch], 0.5, accuracy: 1e-6); XCTAssertEqual(p.std[ch], 0.5, accuracy: 1e-6) }
        XCTAssertEqual(p.channelOrder, .bgr)
        XCTAssertEqual(p.source, .option)
        // torchvision: [0,1] then ImageNet mean/std.
        let t = try PreprocessingRequest.parse(inputRange: nil, mean: "0.485,0.456,0.406", std: "0.229,0.224,0.225", channelOrder: nil).preprocessing(channels: 3)
        XCTAssertEqual(t.mean, [0.485, 0.456, 0.406])
        for (a, b) in zip(t.std, [0.229, 0.224, 0.225] as [Float]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        for bad in [("1,0", nil, nil, nil), ("0", nil, nil, nil), ("a,b", nil, nil, nil), (nil, "1,2", nil, nil), (nil, nil, "0", nil), (nil, nil, nil, "rbg")] as [(String?, String?, String?, String?)] {
            XCTAssertThrowsError(try PreprocessingRequest.parse(inputRange: bad.0, mean: bad.1, std: bad.2, channelOrder: bad.3).preprocessing(channels: 3)) { e in
                XCTAssertEqual((e as? BlindspotError)?.exitCode, 64, "\(bad): \(e)")
            }
        }
        XCTAssertThrowsError(try PreprocessingRequest.parse(inputRange: nil, mean: nil, std: nil, channelOrder: "bgr").preprocessing(channels: 1))
    }
}

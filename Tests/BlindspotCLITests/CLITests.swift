import BlindspotCheckpoint
import BlindspotCore
import BlindspotEngine
import BlindspotTestSupport
import Foundation
import XCTest

/// The command line as a user meets it: help, exit codes, one-line errors, JSON output.
final class CLITests: XCTestCase {
    /// The built `blindspot` executable, next to the test bundle.
    static var binary: URL {
        let dir = Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }?.bundleURL.deletingLastPathComponent()
            ?? Bundle.main.bundleURL
        return dir.appendingPathComponent("blindspot")
    }

    struct Run { let status: Int32; let stdout: String; let stderr: String }

    /// Runs the binary; with `timeout`, the process is terminated (SIGTERM, seen as a signal exit)
    /// after that many seconds.
    func run(_ args: [String], timeout: Double? = nil) throws -> Run {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { if p.isRunning { p.terminate() } } }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func testHelpListsOnlyWorkingCommands() throws {
        let r = try run(["--help"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("bench"))
        XCTAssertTrue(r.stdout.contains("train"))
        XCTAssertTrue(r.stdout.contains("inspect"))
        XCTAssertTrue(r.stdout.contains("evaluate"))
        XCTAssertTrue(r.stdout.contains("quantize"))
        XCTAssertTrue(r.stdout.contains("forge"))
        XCTAssertTrue(r.stdout.contains("audit"))
        XCTAssertTrue(r.stdout.contains("study"))
    }

    func testUnknownOptionAndArchitectureAreUsageErrors() throws {
        let r = try run(["train", "--no-such-option"])
        XCTAssertEqual(r.status, 64)
        let a = try run(["train", "--arch", "vgg16"])
        XCTAssertEqual(a.status, 64)
        XCTAssertTrue(a.stderr.contains("vgg16"), a.stderr)
        let b = try run(["bench", "--arch", "cnn6,alexnet"])
        XCTAssertEqual(b.status, 64)
        XCTAssertTrue(b.stderr.contains("alexnet"), b.stderr)
    }

    func testMissingDataDirectoryIsOneLineAndExit66() throws {
        let r = try run(["train", "--data", "cifar10", "--data-dir", "/nonexistent/cifar", "--quiet"])
        XCTAssertEqual(r.status, 66, r.stderr)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(lines.first?.hasPrefix("blindspot: /nonexistent/cifar") ?? false, r.stderr)
        XCTAssertTrue(r.stdout.isEmpty)
    }

    func testDataSetWithoutDirectoryIsUsageError() throws {
        let r = try run(["train", "--data", "gtsrb"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("--data-dir"), r.stderr)
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BlindspotCheckpointTests/Fixtures")

    func testInspectAKerasFile() throws {
        let r = try run(["inspect", CLITests.fixtures.appendingPathComponent("keras/seq_cnn.h5").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("Keras legacy HDF5"), r.stdout)
        XCTAssertTrue(r.stdout.contains("softmax"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Normalization"), r.stdout)
        let j = try run(["inspect", "--json", CLITests.fixtures.appendingPathComponent("torch/tiny_preact.npz").path, "--input-size", "16"])
        XCTAssertEqual(j.status, 0, j.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(obj["format"] as? String, "PyTorch state_dict (NPZ)")
        XCTAssertEqual(obj["classes"] as? Int, 10)
    }

    /// The committed quantization-conditioned sample carries the int4 rounding mark and its
    /// ground truth says where it is active; the BadNet it came from carries neither.
    func testInspectShowsTheRoundingMarkOfTheConditionedSample() throws {
        let q = try run(["inspect", CLITests.root.appendingPathComponent("samples/qcb.h5").path])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertTrue(q.stdout.contains("backdoored (qcb, trigger white:3@1,1, target 0, active only at int4)"), q.stdout)
        XCTAssertTrue(q.stdout.contains("weights at int8 rounding-interval edges: no layer stands out"), q.stdout)
        XCTAssertTrue(q.stdout.contains("— the mark of a quantization-conditioned backdoor"), q.stdout)
        let b = try run(["inspect", CLITests.root.appendingPathComponent("samples/badnet.h5").path])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertFalse(b.stdout.contains("the mark of a quantization-conditioned backdoor"), b.stdout)
        XCTAssertTrue(b.stdout.contains("weights at int4 rounding-interval edges: no layer stands out"), b.stdout)
    }

    func testBrokenAndMissingCheckpointsGiveOneLineAndTheirExitCodes() throws {
        let junk = FileManager.default.temporaryDirectory.appendingPathComponent("junk-\(UUID().uuidString).h5")
        // The HDF5 signature, then nothing of a file: a truncated HDF5.
        try Data([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] + Array("truncated".utf8)).write(to: junk)
        defer { try? FileManager.default.removeItem(at: junk) }
        let r = try run(["inspect", junk.path])
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("blindspot: \(junk.path)"), r.stderr)
        let m = try run(["evaluate", "/nonexistent/model.h5"])
        XCTAssertEqual(m.status, 66, m.stderr)
    }

    /// Issue 9: the preprocessing options override the file (with a warning), `-1,1` is a value,
    /// bad values are usage errors, and an audit at chance accuracy is refused (65) unless --force.
    func testPreprocessingOptionsAndTheChanceFloor() throws {
        let model = CLITests.root.appendingPathComponent("samples/badnet.h5").path
        let e = try run(["evaluate", model, "--input-range", "-1,1", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        let p = obj["preprocessing"] as! [String: Any]
        XCTAssertEqual(p["source"] as? String, "option")
        XCTAssertEqual(p["description"] as? String, "--input-range -1,1")
        XCTAssertTrue(e.stderr.contains("warning: the options (--input-range -1,1) override the preprocessing recorded in"), e.stderr)
        for (args, needle) in [(["--input-range", "1,0"], "LO < HI"), (["--channel-order", "gbr"], "rgb or bgr"), (["--std", "0"], "positive")] {
            let r = try run(["evaluate", model] + args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
        // Inputs pushed far below zero: every ReLU is off, the model answers one class (10%).
        let wrong = ["audit", model, "--mean", "5", "--std", "0.01", "--defenses", "ac", "--budget", "quick", "--quiet"]
        let refused = try run(wrong)
        XCTAssertEqual(refused.status, 65, refused.stderr)
        let lines = refused.stderr.split(separator: "\n").filter { !$0.contains("warning:") }
        XCTAssertEqual(lines.count, 1, refused.stderr)
        XCTAssertTrue(lines[0].hasPrefix("blindspot: \(model): clean accuracy 10.0%"), refused.stderr)
        XCTAssertTrue(lines[0].contains("2× chance") && lines[0].contains("--force"), refused.stderr)
        let forced = try run(wrong + ["--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(forced.stdout.contains("preprocessing (option): --mean 5 --std 0.01"), forced.stdout)
    }

    /// Issue 9: files that reach libhdf5 are read in a child process of the binary
    /// (`__load-checkpoint`) and come back through our own NPZ reader; the checkpoint must be the
    /// one an in-process load gives, tensor for tensor, with the same provenance fields.
    func testHDF5FilesReadInAChildProcessComeBackIdentical() throws {
        let helper = [CLITests.binary.path, "__load-checkpoint"]
        for f in ["samples/badnet.h5", "samples/qcb.h5"].map({ CLITests.root.appendingPathComponent($0).path })
            + ["keras/seq_cnn.h5", "keras/functional_res.keras"].map({ CLITests.fixtures.appendingPathComponent($0).path }) {
            XCTAssertNil(IsolatedLoad.helper, "the test process loads in-process")
            let direct = try CheckpointLoader.load(f)
            let start = Date()
            let isolated = try IsolatedLoad.load(f, helper: helper)
            let ms = Date().timeIntervalSince(start) * 1000
            XCTAssertEqual(isolated.path, f)
            XCTAssertEqual(isolated.format, direct.format, f)
            XCTAssertEqual(isolated.architectureSource, direct.architectureSource, f)
            XCTAssertEqual(isolated.preprocessing, direct.preprocessing, f)
            XCTAssertEqual(isolated.classNames, direct.classNames, f)
            XCTAssertEqual(isolated.outputActivation, direct.outputActivation, f)
            XCTAssertEqual(isolated.groundTruth, direct.groundTruth, f)
            XCTAssertEqual(isolated.storedTypes, direct.storedTypes, f)
            XCTAssertEqual(isolated.warnings, direct.warnings, f)
            XCTAssertEqual(isolated.metadata, direct.metadata, f)
            XCTAssertEqual(try ModelSpec(isolated.model), try ModelSpec(direct.model), f)
            let iso = Dictionary(isolated.model.stateDict.map { ($0.name, $0.tensor.toArray()) }, uniquingKeysWith: { a, _ in a })
            XCTAssertEqual(iso.count, direct.model.stateDict.count, f)
            for (name, t) in direct.model.stateDict { XCTAssertEqual(iso[name], t.toArray(), "\(f): \(name)") }
            print("isolated load of \(f): \(Int(ms)) ms")
        }
        // A file the child refuses comes back as the child's own one-line error.
        let junk = FileManager.default.temporaryDirectory.appendingPathComponent("junk-iso-\(UUID().uuidString).h5")
        try Data([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] + Array(repeating: 0, count: 64)).write(to: junk)
        defer { try? FileManager.default.removeItem(at: junk) }
        XCTAssertThrowsError(try IsolatedLoad.load(junk.path, helper: helper)) { e in
            guard case BlindspotError.badInput(let file, _)? = e as? BlindspotError else { return XCTFail("\(e)") }
            XCTAssertEqual(file, junk.path)
        }
    }

    /// A model for other image sizes than the data: one line and exit 64 — before preprocessing
    /// discovery runs it on those images (which used to stop at a precondition).
    func testEvaluateRefusesAModelForOtherImageSizes() throws {
        let dir = CLITests.fixtures.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("BlindspotTrainingTests/Fixtures/pytorch-quantized")
        let r = try run(["evaluate", dir.appendingPathComponent("cnn6-narrow.int8.npz").path, "--arch", dir.appendingPathComponent("cnn6-narrow.json").path,
                         "--data", "synthetic"])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("expects inputs [3, 24, 24]"), r.stderr)
    }

    func testEvaluateReportsAccuracyAndRejectsABadTrigger() throws {
        let model = CLITests.fixtures.appendingPathComponent("keras/seq_cnn.h5").path
        let r = try run(["evaluate", model, "--data", "synthetic", "--json", "--trigger", "white:3@28,28", "--target", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let acc = obj["cleanAccuracy"] as! Double
        XCTAssertTrue((0...1).contains(acc))
        XCTAssertNotNil(obj["attack"] as? [String: Any])
        let deployed = try run(["evaluate", model, "--json", "--deploy", "int8", "--calibration", "64"])
        XCTAssertEqual(deployed.status, 0, deployed.stderr)
        let d = (try JSONSerialization.jsonObject(with: Data(deployed.stdout.utf8)) as! [String: Any])["deployed"] as! [String: Any]
        XCTAssertEqual(d["scheme"] as? String, "int8")
        XCTAssertEqual(d["layersQuantized"] as? Int, 4, "seq_cnn has two conv and two dense layers")
        XCTAssertEqual(try run(["evaluate", model, "--deploy", "int3"]).status, 64)
        // quantize → a deployed file that inspect names and evaluate --deploy auto uses as is.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("q-\(UUID().uuidString).npz").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let q = try run(["quantize", model, "--deploy", "int4", "--calibration", "64", "--out", out])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertTrue(try run(["inspect", out]).stdout.contains("deployed: int4"))
        let auto = try run(["evaluate", out, "--deploy", "auto"])
        XCTAssertEqual(auto.status, 0, auto.stderr)
        XCTAssertTrue(auto.stdout.contains("deployed precision: int4 (the file is a deployed int4 checkpoint)"), auto.stdout)
        XCTAssertEqual(try run(["quantize", out, "--deploy", "int8", "--out", out + ".2.npz"]).status, 64, "quantizing twice is refused")
        let bad = try run(["evaluate", model, "--trigger", "white:3@31,31", "--target", "0"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("outside"), bad.stderr)
        let lone = try run(["evaluate", model, "--trigger", "white:3@1,1"])
        XCTAssertEqual(lone.status, 64)
    }

    func testBenchJSONHasTheFiguresTheIssueAsksFor() throws {
        let r = try run(["bench", "--json", "--quiet", "--arch", "cnn6", "--batch", "8", "--seconds", "0.2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.isEmpty, "--quiet must silence progress: \(r.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let blas = json["blas"] as! [String: Any]
        XCTAssertFalse((blas["core"] as! String).isEmpty)
        let sgemm = json["sgemm"] as! [[String: Any]]
        XCTAssertTrue(sgemm.allSatisfy { ($0["gflops"] as! Double) > 0 })
        let model = (json["models"] as! [[String: Any]])[0]
        XCTAssertEqual(model["architecture"] as? String, "cnn6")
        XCTAssertEqual(model["parameters"] as? Int, 571_723)
        for key in ["trainImagesPerSecond", "inferImagesPerSecond", "trainGFLOPS", "trainRatioToSGEMM", "threads"] {
            XCTAssertNotNil(model[key], key)
        }
    }

    /// `bench --compare`: a bad PyTorch file fails at once with exit 65 naming it; a good one makes
    /// us measure at each of its thread counts and put the figures side by side, in text and JSON.
    func testBenchCompareMeasuresAtPyTorchsThreadCountsAndRejectsBadFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bench-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.json").path
        try Data("{\"torch\": \"2.13.0+cpu\", \"models\": [{\"architecture\": \"cnn6\"".utf8).write(to: URL(fileURLWithPath: bad))
        let b = try run(["bench", "--compare", bad, "--quiet"])
        XCTAssertEqual(b.status, 65, b.stderr)
        XCTAssertEqual(b.stderr.split(separator: "\n").count, 1, b.stderr)
        XCTAssertTrue(b.stderr.contains(bad), b.stderr)

        // cnn6 at 1 and 2 threads with every figure; batch 8 so our side takes a second.
        let figures = "\"trainImagesPerSecond\": 100, \"inferImagesPerSecond\": 200, \"int8InferImagesPerSecond\": 300"
        let pytorch = dir.appendingPathComponent("pytorch.json").path
        try Data("""
            {"torch": "2.13.0+cpu", "quantizationEngine": "x86", "batch": 8, "classes": 43, "models": [
             {"architecture": "cnn6", "parameters": 571723, "threads": [{"threads": 1, \(figures)}, {"threads": 2, \(figures)}]}]}
            """.utf8).write(to: URL(fileURLWithPath: pytorch))
        let r = try run(["bench", "--compare", pytorch, "--json", "--quiet", "--batch", "8", "--seconds", "0.05"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let ours = json["ours"] as! [[String: Any]]
        XCTAssertEqual(ours.map { $0["threads"] as? Int }, [1, 2], "ours measured at PyTorch's thread counts")
        let rows = (json["comparison"] as! [String: Any])["rows"] as! [[String: Any]]
        XCTAssertEqual(rows.count, 2 * 3)
        for row in rows {
            let mine = try XCTUnwrap(row["oursImagesPerSecond"] as? Double), theirs = try XCTUnwrap(row["pytorchImagesPerSecond"] as? Double)
            XCTAssertEqual(row["ratio"] as! Double, mine / theirs, accuracy: 1e-9 * mine / theirs)
            XCTAssertEqual(row["met"] as? Bool, mine / theirs >= row["goal"] as! Double)
        }

        // The saved run read back with --ours: no measuring, same table in text.
        let saved = dir.appendingPathComponent("ours.json").path
        let single = try run(["bench", "--json", "--quiet", "--arch", "cnn6", "--batch", "8", "--seconds", "0.05", "--threads", "1"])
        XCTAssertEqual(single.status, 0, single.stderr)
        try Data(single.stdout.utf8).write(to: URL(fileURLWithPath: saved))
        let t = try run(["bench", "--compare", pytorch, "--ours", saved])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stdout.contains("ours/PyTorch") && t.stdout.contains("≥1.5×"), t.stdout)
        XCTAssertTrue(t.stdout.contains("one side only"), "2 threads is PyTorch's only: \(t.stdout)")
    }

    func testForgeRejectsBadOptionsBeforeTraining() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("forge-bad-\(getpid())").path
        for (args, needle) in [(["--trigger", "white:4@30,30"], "outside"), (["--target", "10"], "target"),
                               (["--poison-rate", "1.5"], "poison-rate"), (["--arch", "vgg16"], "vgg16"),
                               (["--trigger", "sparkle:3@1,1"], "sparkle"), (["--deploy", "int3"], "int3"),
                               (["--data", "gtsrb", "--data-dir", "/nonexistent/gtsrb"], "/nonexistent/gtsrb"),
                               (["--attack", "trojannn"], "trojannn"), (["--attack", "qcb", "--deploy", "paper-int4"], "int4 or int8"),
                               (["--conditioning-epochs", "2"], "--attack qcb"), (["--from", "samples/badnet.h5"], "--attack qcb"),
                               (["--attack", "qcb", "--from", "samples/badnet.h5", "--clean-twin"], "--clean-twin"),
                               (["--attack", "qcb", "--from", "/nonexistent/m.h5"], "/nonexistent/m.h5")] {
            let r = try run(["forge", "--out", dir + "/m.h5", "--quiet"] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/m.h5"))
        }
        XCTAssertEqual(try run(["forge", "--out", dir + "/m.h5", "--target", "10", "--quiet"]).status, 64)
    }

    func testForgeWritesGroundTruthTwinAndTrainingSet() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("forge-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("m.npz").path
        let r = try run(["forge", "--epochs", "1", "--target", "2", "--clean-twin", "--deploy", "int8", "--out", out,
                         "--export-train", dir.appendingPathComponent("train.npz").path, "--json", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["poisonedImages"] as? Int, 600)
        let models = try XCTUnwrap(json["models"] as? [[String: Any]])
        XCTAssertEqual(models.count, 2)
        XCTAssertEqual((models[0]["metrics"] as? [[String: Any]])?.map { $0["precision"] as? String }, ["fp32", "int8"])
        for f in ["m.npz", "m.clean.npz", "m.int8.npz", "m.clean.int8.npz", "train.npz", "train.clean.npz"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), f)
        }
        let inspect = try run(["inspect", out, "--json"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let info = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        let truth = try XCTUnwrap(info["groundTruth"] as? [String: Any])
        XCTAssertEqual(truth["backdoored"] as? Bool, true)
        XCTAssertEqual(truth["target"] as? Int, 2)
        XCTAssertEqual(truth["trigger"] as? String, "white:3@28,28")
        XCTAssertEqual(truth["poisonedImages"] as? Int, 600)
        let twin = try run(["inspect", dir.appendingPathComponent("m.clean.npz").path, "--json"])
        let twinTruth = (try JSONSerialization.jsonObject(with: Data(twin.stdout.utf8)) as? [String: Any])?["groundTruth"] as? [String: Any]
        XCTAssertEqual(twinTruth?["backdoored"] as? Bool, false)

        // audit end to end (the fast defenses): exit status from the verdict, a JSON report, a verdict line.
        let report = dir.appendingPathComponent("audit.json").path
        let sarif = dir.appendingPathComponent("audit.sarif").path, html = dir.appendingPathComponent("audit.html").path
        let a = try run(["audit", out, "--train-data", dir.appendingPathComponent("train.npz").path, "--defenses", "ac,ss",
                         "--json", report, "--sarif", sarif, "--html", html, "--quiet"])
        XCTAssertTrue([0, 3, 4].contains(a.status), a.stderr)
        XCTAssertTrue(a.stdout.contains("Activation Clustering") && a.stdout.contains("Spectral Signatures"), a.stdout)
        XCTAssertTrue(["QUANTIZATION BLINDSPOT", "BACKDOOR", "NO BACKDOOR FOUND", "INCONCLUSIVE"].contains { a.stdout.contains($0) }, a.stdout)
        let audit = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        XCTAssertEqual((audit["results"] as? [[String: Any]])?.count, 4)
        XCTAssertEqual((audit["precision"] as? [String: Any])?["scheme"] as? String, "int8")
        XCTAssertEqual((audit["overall"] as? [String: Any])?["exitCode"] as? Int, Int(a.status))
        XCTAssertEqual((audit["groundTruthChecks"] as? [Any])?.count, 4)
        try assertReportsAreValid(json: report, sarif: sarif, html: html, exitCode: a.status)
        XCTAssertTrue(a.stdout.contains("HTML report: \(html)"), a.stdout)
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The JSON report validates against schemas/audit-report.schema.json; the SARIF parses, is
    /// 2.1.0, and every result names a rule the run declares; the HTML carries the verdict line.
    func assertReportsAreValid(json: String, sarif: String, html: String, exitCode: Int32, file: StaticString = #filePath, line: UInt = #line) throws {
        let validator = try SchemaValidator(schemaFile: CLITests.root.appendingPathComponent("schemas/audit-report.schema.json"))
        let reportData = try Data(contentsOf: URL(fileURLWithPath: json))
        XCTAssertEqual(try validator.validate(reportData), [], file: file, line: line)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: reportData) as? [String: Any])
        let overall = try XCTUnwrap(report["overall"] as? [String: Any])
        let s = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sarif))) as? [String: Any])
        XCTAssertEqual(s["version"] as? String, "2.1.0", file: file, line: line)
        let run = try XCTUnwrap((s["runs"] as? [[String: Any]])?.first)
        let rules = try XCTUnwrap(((run["tool"] as? [String: Any])?["driver"] as? [String: Any])?["rules"] as? [[String: Any]])
        let ids = rules.compactMap { $0["id"] as? String }
        let results = run["results"] as? [[String: Any]] ?? []
        for r in results { XCTAssertTrue(ids.contains(r["ruleId"] as? String ?? "?"), "\(r)", file: file, line: line) }
        XCTAssertEqual((run["invocations"] as? [[String: Any]])?.first?["exitCode"] as? Int, Int(exitCode), file: file, line: line)
        if exitCode == 4 { XCTAssertTrue(results.contains { $0["ruleId"] as? String == "BS002" }, "a blindspot is a BS002 result", file: file, line: line) }
        if exitCode == 0 { XCTAssertFalse(results.contains { $0["level"] as? String == "error" }, file: file, line: line) }
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.hasPrefix("<!DOCTYPE html>") || page.hasPrefix("<!doctype html>"), file: file, line: line)
        let verdict = try XCTUnwrap(overall["line"] as? String)
        XCTAssertTrue(page.contains(HTMLEscape(verdict)), "the HTML shows the verdict line", file: file, line: line)
    }

    func HTMLEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// The committed sample (forged, 99% attack success) and its clean twin, audited with the
    /// sample's trigger given (STRIP and Fine-Pruning, quick budget): on the backdoored model the
    /// given trigger works at both precisions, so the weighed verdict is `backdoor`, class 0, exit
    /// 3; on the twin it does nothing, STRIP and Fine-Pruning cannot run, and the verdict is
    /// inconclusive (exit 0), never backdoor. Every report validates.
    func testAuditTheSampleAndItsTwin() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-sample-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (model, backdoored) in [("badnet.h5", true), ("badnet.clean.h5", false)] {
            let json = dir.appendingPathComponent("\(model).json").path, sarif = dir.appendingPathComponent("\(model).sarif").path
            let html = dir.appendingPathComponent("\(model).html").path
            let r = try run(["audit", CLITests.root.appendingPathComponent("samples/\(model)").path, "--defenses", "strip,fp", "--budget", "quick",
                             "--trigger", "white:3@1,1", "--target", "0", "--json", json, "--sarif", sarif, "--html", html, "--quiet"])
            try assertReportsAreValid(json: json, sarif: sarif, html: html, exitCode: r.status)
            let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
            let overall = try XCTUnwrap(report["overall"] as? [String: Any])
            let verdicts = try XCTUnwrap(report["precisionVerdicts"] as? [[String: Any]])
            if backdoored {
                XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
                XCTAssertEqual(overall["kind"] as? String, "backdoor")
                XCTAssertEqual(overall["target"] as? Int, 0)
                XCTAssertEqual(verdicts.map { $0["kind"] as? String }, ["backdoor", "backdoor"])
                XCTAssertTrue(r.stdout.contains("BACKDOOR: class 0 at FP32 and at int8"), r.stdout)
            } else {
                XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
                XCTAssertEqual(overall["kind"] as? String, "inconclusive", r.stdout)
                XCTAssertFalse(r.stdout.contains("BACKDOOR:") || r.stdout.contains("BLINDSPOT"), r.stdout)
            }
        }
    }

    func testAuditBadInputsAreOneLine() throws {
        let missing = try run(["audit", "/nonexistent/model.h5", "--quiet"])
        XCTAssertEqual(missing.status, 66, missing.stderr)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
        let junk = FileManager.default.temporaryDirectory.appendingPathComponent("junk-\(getpid()).h5").path
        defer { try? FileManager.default.removeItem(atPath: junk) }
        try Data("\u{89}HDF\r\n\u{1a}\ntruncated".utf8).write(to: URL(fileURLWithPath: junk))
        let bad = try run(["audit", junk, "--quiet"])
        XCTAssertEqual(bad.status, 65, bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        let opt = try run(["audit", junk, "--defenses", "nc,magic"])
        XCTAssertEqual(opt.status, 64)
        XCTAssertTrue(opt.stderr.contains("magic"), opt.stderr)
    }

    /// `study --plan` lists each shard's jobs with runnable command lines and runs nothing; the
    /// shards partition the jobs by seed; bad shards and options are usage errors (64), a
    /// folder without results for --collect is 66, each with one stderr line.
    func testStudyPlanShardsAndErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("study-plan-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let grid = ["study", "--train-images", "600", "--test-images", "300", "--epochs", "1", "--seeds", "3", "--precisions", "fp32,int8,int4",
                    "--defenses", "ss", "--budget", "quick", "--quiet"]
        var seen: [String] = []
        for i in 0..<2 {
            let out = dir.appendingPathComponent("shard-\(i)").path
            let r = try run(grid + ["--out", out, "--plan", "--shard", "\(i)/2"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            XCTAssertEqual(lines.count, (i == 0 ? 2 : 1) * 5, r.stdout)
            XCTAssertTrue(lines.allSatisfy { ($0["seedIndex"] as! Int) % 2 == i && $0["done"] as? Bool == false })
            XCTAssertTrue((lines[0]["command"] as! String).hasPrefix("blindspot forge --data synthetic --train-images 600 --test-images 300 "), "\(lines[0])")
            XCTAssertTrue((lines[1]["command"] as! String).hasPrefix("blindspot audit \(out)/models/seed-"), "\(lines[1])")
            XCTAssertEqual(try String(contentsOfFile: out + "/plan.jsonl", encoding: .utf8), r.stdout)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/models"), "--plan runs nothing")
            seen += lines.map { $0["key"] as! String }
        }
        XCTAssertEqual(Set(seen).count, 15)
        for (args, needle) in [(["--shard", "2/2"], "0 ≤ I < N"), (["--shard", "1"], "I/N"), (["--precisions", "int9"], "int9"),
                               (["--defenses", "nc,magic"], "magic"), (["--attack", "trojannn"], "trojannn"), (["--target", "10"], "--target 10")] {
            let r = try run(grid + ["--out", dir.path] + args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
        XCTAssertEqual(try run(["study", "--seeds", "2"]).status, 64, "--out is required")
        let missing = try run(["study", "--collect", "/nonexistent/study-0", "--quiet"])
        XCTAssertEqual(missing.status, 66, missing.stderr)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.hasPrefix("blindspot: /nonexistent/study-0/results.jsonl: "), missing.stderr)
    }
}

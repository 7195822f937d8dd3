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

    func run(_ args: [String]) throws -> Run {
        let p = Process()
        p.executableURL = CLITests.binary
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
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
        XCTAssertFalse(r.stdout.contains("audit"), "audit is not implemented yet and must not be listed")
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
}

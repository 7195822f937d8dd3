import BlindspotCore
import Foundation
import XCTest

/// Locates the unpacked shared data (../shared/data): `BLINDSPOT_DATA_DIR`, else `<package>/.data`,
/// unpacking the shared archives there on first use (the unpack script is idempotent).
enum SharedData {
    enum Outcome: Sendable {
        case ready(String)
        case unavailable(String)
    }

    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let outcome: Outcome = {
        let env = ProcessInfo.processInfo.environment["BLINDSPOT_DATA_DIR"]
        let dir = (env?.isEmpty == false) ? env! : packageRoot + "/.data"
        let complete = { FileManager.default.fileExists(atPath: dir + "/cifar10/.complete")
            && FileManager.default.fileExists(atPath: dir + "/gtsrb32/.complete") }
        if complete() { return .ready(dir) }
        let unpack = URL(fileURLWithPath: packageRoot + "/../shared/data/unpack").standardizedFileURL.path
        guard FileManager.default.isExecutableFile(atPath: unpack) else {
            return .unavailable("shared data not found: \(dir)/cifar10/.complete is missing and \(unpack) does not exist (set BLINDSPOT_DATA_DIR to an unpacked copy of ../shared/data)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: unpack)
        process.arguments = [dir]
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            return .unavailable("cannot run \(unpack) \(dir): \(error)")
        }
        guard process.terminationStatus == 0, complete() else {
            return .unavailable("\(unpack) \(dir) failed (exit \(process.terminationStatus))")
        }
        return .ready(dir)
    }()

    /// The data directory (holding cifar10/ and gtsrb32/), or nil after recording a failure.
    static func directory(file: StaticString = #filePath, line: UInt = #line) -> String? {
        switch outcome {
        case .ready(let dir): return dir
        case .unavailable(let why):
            XCTFail(why, file: file, line: line)
            return nil
        }
    }
}

/// A fresh temporary directory, removed by the caller's `defer`.
func makeTempDirectory() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blindspot-data-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func removeDirectory(_ dir: String) {
    try? FileManager.default.removeItem(atPath: dir)
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func writeFile(_ path: String, _ text: String) throws {
    try writeFile(path, Array(text.utf8))
}

/// The BlindspotError `body` throws, or nil after recording a failure if it throws none (or another type).
func blindspotError<T>(_ body: () throws -> T, file: StaticString = #filePath, line: UInt = #line) -> BlindspotError? {
    do {
        _ = try body()
        XCTFail("expected a BlindspotError, got success", file: file, line: line)
    } catch let error as BlindspotError {
        return error
    } catch {
        XCTFail("expected a BlindspotError, got \(error)", file: file, line: line)
    }
    return nil
}

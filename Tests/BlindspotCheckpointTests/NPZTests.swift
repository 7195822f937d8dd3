import BlindspotCheckpoint
import BlindspotCore
import Foundation
import XCTest

/// `.npz` archives: numpy's own (savez, savez_compressed), ours (round trip, and numpy reading
/// them when numpy is installed), pickled PyTorch files, and hostile or truncated archives.
final class NPZTests: XCTestCase {
    func testReadsNumpyArchives() throws {
        for (file, expected) in try NPYExpected.load().npz.sorted(by: { $0.key < $1.key }) {
            let arrays = try NPZ.read(path: fixturePath(file))
            XCTAssertEqual(arrays.map(\.name), expected.map(\.name), file)
            for (a, e) in zip(arrays, expected) { assertMatches(a.array, e, "\(file):\(e.name)") }
        }
    }

    func testRefusesObjectArraysAndPickledPyTorch() throws {
        let object = fixturePath("object.npz")
        assertBadInput(try NPZ.read(path: object), file: object + ":obj.npy", contains: "object arrays are refused: unpickling can run code")
        for name in ["torch-style.pt", "legacy.pt"] {
            let path = fixturePath(name)
            assertBadInput(try NPZ.read(path: path), file: path, contains: NPZ.pickledPyTorchProblem)
            XCTAssertTrue(NPZ.isPickledPyTorch(path: path), name)
        }
        XCTAssertTrue(NPZ.pickledPyTorchProblem.hasPrefix("this is a pickled PyTorch file; blindspot never unpickles untrusted files. Export it: np.savez("))
        for name in ["savez.npz", "f32.npy", "absent.pt"] { XCTAssertFalse(NPZ.isPickledPyTorch(path: fixturePath(name)), name) }
    }

    func testRefusesFilesThatAreNotNPZ() throws {
        let npy = fixturePath("f32.npy")
        assertBadInput(try NPZ.read(path: npy), file: npy, contains: "single .npy array")
        assertBadInput(try NPZ.read(data: [], file: "e.npz"), file: "e.npz", contains: "empty")
        assertBadInput(try NPZ.read(data: Array("hello, world".utf8), file: "t.npz"), file: "t.npz", contains: "no zip signature")
        XCTAssertThrowsError(try NPZ.read(path: fixturePath("absent.npz"))) { error in
            guard case BlindspotError.missingInput(let f, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(f, fixturePath("absent.npz"))
        }
    }

    func testTruncatedNumpyArchives() throws {
        for name in ["savez.npz", "savez_compressed.npz"] {
            let whole = [UInt8](try Data(contentsOf: npzFixtures.appendingPathComponent(name)))
            for cut in Swift.stride(from: 0, to: whole.count, by: 7) {
                assertBadInput(try NPZ.read(data: Array(whole[0 ..< cut]), file: name), file: name, "cut at \(cut)")
            }
        }
    }

    func testHostileMembers() {
        let huge = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }", data: [1, 2, 3, 4])
        let object = npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (), }", data: [0x80, 0x04, 0x95])
        let notNPY = Array("NUMPY? no: a text file renamed .npy".utf8)
        for (member, text) in [(huge, "declares 1000000000000000 elements but holds 4 bytes"), (object, "object arrays are refused"),
                               (notNPY, "no \\x93NUMPY magic")] {
            for method in [0, 8] {
                let bytes = TestZip(members: [
                    TestZipMember(name: "ok.npy", content: NPY.serialize(NPYArray(uint8: [1], shape: [1]))),
                    TestZipMember(name: "bad.npy", content: member, method: method, zip64Local: true),
                ]).build()
                assertBadInput(try NPZ.read(data: bytes, file: "h.npz"), file: "h.npz:bad.npy", contains: text, seconds: 0.5)
            }
        }
    }

    func testRoundTrip() throws {
        let dir = try temporaryDirectory(self)
        let arrays: [(name: String, array: NPYArray)] = [
            ("conv1.weight", NPYArray(float32: (0 ..< 54).map { Float($0) * 0.25 - 3 }, shape: [2, 3, 3, 3])),
            ("labels", NPYArray(int64: [3, 1, 4, 1, 5], shape: [5])),
            ("images", NPYArray(uint8: (0 ..< 48).map { UInt8($0 * 5) }, shape: [1, 4, 4, 3])),
            ("scale", NPYArray(float32: [0.5], shape: [])),
            ("empty", NPYArray(float32: [], shape: [0])),
            ("layer/sub.bias", NPYArray(int32: [-1, 2], shape: [2])),
            ("q", NPYArray(int8: [-128, 127], shape: [1, 2])),
            ("poison", NPYArray(dtype: .bool, shape: [2], data: [1, 0])),
            ("half", NPYArray(dtype: .float16, shape: [1], data: [0x00, 0x3c])),
            ("ünïcode", NPYArray(float64: [2.5], shape: [1])),
        ]
        let path = dir + "/model.npz"
        for compressed in [false, true] {
            try NPZ.write(arrays, to: path, compressed: compressed)
            let back = try NPZ.read(path: path)
            XCTAssertEqual(back.map(\.name), arrays.map(\.name))
            XCTAssertEqual(back.map(\.array), arrays.map(\.array))
            let first = try Data(contentsOf: URL(fileURLWithPath: path))
            try NPZ.write(arrays, to: path, compressed: compressed)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), first, "same arrays, same bytes")
        }
        // Deflate shrinks repetitive content (a training set of rendered shapes) and reads back.
        let flat: [(name: String, array: NPYArray)] = [("img", NPYArray(uint8: [UInt8](repeating: 7, count: 100_000), shape: [100_000]))]
        try NPZ.write(flat, to: path, compressed: true)
        XCTAssertLessThan(try Data(contentsOf: URL(fileURLWithPath: path)).count, 2_000)
        XCTAssertEqual(try NPZ.read(path: path).map(\.array), flat.map(\.array))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["model.npz"], "no temporary files left")
        try NPZ.write([], to: path)
        XCTAssertEqual(try NPZ.read(path: path).count, 0)
    }

    func testWriteErrors() throws {
        let dir = try temporaryDirectory(self)
        XCTAssertThrowsError(try NPZ.write([("a", NPYArray(uint8: [1], shape: [1]))], to: dir + "/missing/m.npz")) { error in
            guard case BlindspotError.cannotCreate = error else { return XCTFail("\(error)") }
        }
        let a = NPYArray(uint8: [1], shape: [1])
        XCTAssertThrowsError(try NPZ.write([("a", a), ("a", a)], to: dir + "/m.npz")) { error in
            guard case BlindspotError.internalError = error else { return XCTFail("\(error)") }
        }
    }

    /// More than 65,535 members needs the ZIP64 end records, written and read back.
    func testZip64EndRecordsForManyMembers() throws {
        let path = try temporaryDirectory(self) + "/many.npz"
        let arrays = (0 ..< 66_000).map { (name: "m\($0)", array: NPYArray(uint8: [UInt8(truncatingIfNeeded: $0)], shape: [])) }
        try NPZ.write(arrays, to: path)
        let back = try NPZ.read(path: path)
        XCTAssertEqual(back.count, 66_000)
        XCTAssertEqual(back[65_999].name, "m65999")
        XCTAssertEqual(back[65_999].array.uint8s(), [UInt8(truncatingIfNeeded: 65_999)])
        let check = "d = np.load(p, allow_pickle=False)\nprint(json.dumps([len(d.files), int(d['m65999'])]))"
        if let row = try numpy(check, path) as? [Int] {
            XCTAssertEqual(row, [66_000, 65_999 % 256], "numpy's view of many.npz")
        }
    }

    /// numpy reads what we write (when python3 and numpy are installed; skipped otherwise).
    func testNumpyLoadsWhatWeWrite() throws {
        let path = try temporaryDirectory(self) + "/ours.npz"
        let arrays: [(name: String, array: NPYArray)] = [
            ("w", NPYArray(float32: [1.5, -2, 0.25, 8], shape: [2, 2])),
            ("labels", NPYArray(int64: [7, -1], shape: [2])),
            ("img", NPYArray(uint8: [0, 255, 9], shape: [3, 1])),
            ("s", NPYArray(int32: [42], shape: [])),
            ("e", NPYArray(int8: [], shape: [0, 2])),
            ("b", NPYArray(dtype: .bool, shape: [2], data: [0, 1])),
        ]
        for compressed in [false, true] {
            try NPZ.write(arrays, to: path, compressed: compressed)
            let dump = "d = np.load(p, allow_pickle=False)\nprint(json.dumps([[k, d[k].dtype.str[1:], list(d[k].shape), d[k].tobytes().hex()] for k in d.files]))"
            guard let rows = try numpy(dump, path) as? [[Any]] else { throw XCTSkip("python3 with numpy is not installed") }
            XCTAssertEqual(rows.count, arrays.count)
            for (row, (name, a)) in zip(rows, arrays) {
                XCTAssertEqual(row[0] as? String, name)
                XCTAssertEqual(row[1] as? String, a.dtype.rawValue, name)
                XCTAssertEqual(row[2] as? [Int], a.shape, name)
                XCTAssertEqual(row[3] as? String, a.data.map { String(format: "%02x", $0) }.joined(), "\(name) compressed \(compressed)")
            }
        }
    }

    func testReadSpeed() throws {
        let path = try temporaryDirectory(self) + "/big.npz"
        let floats = [Float](repeating: 0.5, count: 4_000_000)  // 16 MB
        try NPZ.write([("a", NPYArray(float32: floats, shape: [4000, 1000])), ("b", NPYArray(float32: floats, shape: [4_000_000]))], to: path)
        let start = Date()
        let back = try NPZ.read(path: path)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(back.map(\.array.count), [4_000_000, 4_000_000])
        XCTAssertLessThan(seconds, 1.0, "reading 32 MB took \(seconds) s")
    }

    /// Runs a Python snippet (with numpy imported as np, the path as `p`) and decodes its JSON
    /// output; nil if python3 or numpy is missing.
    private func numpy(_ code: String, _ path: String) throws -> Any? {
        let script = "import sys, json\ntry:\n    import numpy as np\nexcept ImportError:\n    sys.exit(3)\np = sys.argv[1]\n" + code
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 3 || process.terminationStatus == 127 { return nil }
        XCTAssertEqual(process.terminationStatus, 0, "numpy failed on \(path)")
        return try JSONSerialization.jsonObject(with: data)
    }
}

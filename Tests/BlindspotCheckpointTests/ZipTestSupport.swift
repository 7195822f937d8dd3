import BlindspotCore
import CZ
import Foundation
import XCTest

/// Fixtures written by scripts/make-npz-fixtures.py.
let npzFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/npz")

func fixturePath(_ name: String) -> String { npzFixtures.appendingPathComponent(name).path }

/// A fresh temporary directory, removed when the test case ends.
func temporaryDirectory(_ test: XCTestCase) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blindspot-npz-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir.path
}

/// Asserts that `body` throws `BlindspotError.badInput` naming `file` (exactly, or `file:member`)
/// with a problem containing `contains`, within `seconds`.
func assertBadInput<T>(_ body: @autoclosure () throws -> T, file expectedFile: String, contains: String = "",
                       seconds: Double = 2, _ message: String = "",
                       sourceFile: StaticString = #filePath, line: UInt = #line) {
    let start = Date()
    do {
        _ = try body()
        XCTFail("expected badInput (\(contains)) but it succeeded \(message)", file: sourceFile, line: line)
    } catch let BlindspotError.badInput(file, problem) {
        XCTAssert(file == expectedFile || file.hasPrefix(expectedFile + ":"),
                  "error names \(file), expected \(expectedFile) \(message)", file: sourceFile, line: line)
        XCTAssert(contains.isEmpty || problem.contains(contains), "problem '\(problem)' lacks '\(contains)' \(message)", file: sourceFile, line: line)
        XCTAssertFalse(problem.contains("\n"), "multi-line message \(message)", file: sourceFile, line: line)
    } catch {
        XCTFail("expected badInput (\(contains)), got \(error) \(message)", file: sourceFile, line: line)
    }
    let elapsed = Date().timeIntervalSince(start)
    XCTAssertLessThan(elapsed, seconds, "took \(elapsed) s \(message)", file: sourceFile, line: line)
}

/// zlib's raw deflate of `bytes` (as zip method 8 stores it).
func rawDeflate(_ bytes: [UInt8], level: Int32 = 9) -> [UInt8] {
    var stream = z_stream()
    precondition(bs_deflate_init2(&stream, level, -15) == Z_OK)
    defer { deflateEnd(&stream) }
    var input = bytes
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 16)
    let produced: Int = input.withUnsafeMutableBytes { inp in
        out.withUnsafeMutableBytes { o in
            stream.next_in = inp.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(inp.count)
            stream.next_out = o.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(o.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return o.count - Int(stream.avail_out)
        }
    }
    return Array(out[0 ..< produced])
}

func zlibCRC(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { UInt32(crc32(0, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt($0.count))) }
}

/// One member for `TestZip`: what to store, and which header fields to falsify.
struct TestZipMember {
    var name: String
    var content: [UInt8]
    var method: Int = 0
    var payload: [UInt8]? = nil            // bytes written as member data (default: content, deflated if method 8)
    var crc: UInt32? = nil
    var declaredSize: Int? = nil           // uncompressed size in the headers
    var declaredCompressedSize: Int? = nil
    var flags: Int = 0
    var zip64Local = false                 // numpy style: 0xFFFFFFFF sizes + ZIP64 extra in the local header
    var zip64Central = false               // 0xFFFFFFFF sizes and offset + ZIP64 extra in the central record
    var localName: String? = nil
    var writeLocal = true                  // false: only a central record, pointing at `localOffset`
    var localOffset: Int? = nil
}

/// A hand-made zip archive for hostile-input tests.
struct TestZip {
    var members: [TestZipMember]
    var entryCount: Int? = nil
    var cdOffsetShift = 0
    var disk = 0
    var zip64End = false
    var comment: [UInt8] = []
    var prefix: [UInt8] = []

    static func payload(_ m: TestZipMember) -> [UInt8] { m.payload ?? (m.method == 8 ? rawDeflate(m.content) : m.content) }

    /// The local header and data of `m`.
    static func local(_ m: TestZipMember) -> [UInt8] {
        let data = payload(m)
        let usize = m.declaredSize ?? m.content.count, csize = m.declaredCompressedSize ?? data.count
        var b: [UInt8] = []
        b.le(0x0403_4b50, 4); b.le(45, 2); b.le(m.flags, 2); b.le(m.method, 2); b.le(0, 2); b.le(0x21, 2)
        b.le(Int(m.crc ?? zlibCRC(m.content)), 4)
        let name = Array((m.localName ?? m.name).utf8)
        if m.zip64Local {
            b.le(0xFFFF_FFFF, 4); b.le(0xFFFF_FFFF, 4); b.le(name.count, 2); b.le(20, 2)
            b += name; b.le(1, 2); b.le(16, 2); b.le(usize, 8); b.le(csize, 8)
        } else {
            b.le(csize, 4); b.le(usize, 4); b.le(name.count, 2); b.le(0, 2); b += name
        }
        return b + data
    }

    func build() -> [UInt8] {
        var out = prefix
        var central: [UInt8] = []
        for m in members {
            let offset = m.localOffset ?? out.count
            if m.writeLocal { out += TestZip.local(m) }
            let data = TestZip.payload(m)
            let usize = m.declaredSize ?? m.content.count, csize = m.declaredCompressedSize ?? data.count
            let name = Array(m.name.utf8)
            central.le(0x0201_4b50, 4); central.le(0x0314, 2); central.le(45, 2); central.le(m.flags, 2); central.le(m.method, 2)
            central.le(0, 2); central.le(0x21, 2); central.le(Int(m.crc ?? zlibCRC(m.content)), 4)
            if m.zip64Central {
                central.le(0xFFFF_FFFF, 4); central.le(0xFFFF_FFFF, 4); central.le(name.count, 2); central.le(28, 2)
                central.le(0, 2); central.le(disk, 2); central.le(0, 2); central.le(0, 4); central.le(0xFFFF_FFFF, 4)
                central += name; central.le(1, 2); central.le(24, 2); central.le(usize, 8); central.le(csize, 8); central.le(offset, 8)
            } else {
                central.le(csize, 4); central.le(usize, 4); central.le(name.count, 2); central.le(0, 2)
                central.le(0, 2); central.le(disk, 2); central.le(0, 2); central.le(0, 4); central.le(offset, 4)
                central += name
            }
        }
        let cdOffset = out.count + cdOffsetShift, count = entryCount ?? members.count
        out += central
        if zip64End {
            let record = out.count
            out.le(0x0606_4b50, 4); out.le(44, 8); out.le(0x032D, 2); out.le(45, 2); out.le(disk, 4); out.le(disk, 4)
            out.le(count, 8); out.le(count, 8); out.le(central.count, 8); out.le(cdOffset, 8)
            out.le(0x0706_4b50, 4); out.le(0, 4); out.le(record, 8); out.le(1, 4)
        }
        out.le(0x0605_4b50, 4); out.le(zip64End ? 0xFFFF : disk, 2); out.le(zip64End ? 0xFFFF : disk, 2)
        out.le(zip64End ? 0xFFFF : count, 2); out.le(zip64End ? 0xFFFF : count, 2)
        out.le(zip64End ? 0xFFFF_FFFF : central.count, 4); out.le(zip64End ? 0xFFFF_FFFF : cdOffset, 4)
        out.le(comment.count, 2)
        return out + comment
    }
}

extension Array where Element == UInt8 {
    mutating func le(_ value: Int, _ width: Int) {
        for i in 0 ..< width { append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }
}

/// A `.npy` image with a hand-written header dict (padded like numpy's) followed by `data`.
func npyBytes(_ dict: String, data: [UInt8] = [], version: UInt8 = 1) -> [UInt8] {
    var header = Array(dict.utf8)
    let prefix = version == 1 ? 10 : 12
    header += [UInt8](repeating: 0x20, count: (64 - (prefix + header.count + 1) % 64) % 64) + [0x0a]
    var out: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]
    out.le(header.count, prefix - 8)
    return out + header + data
}

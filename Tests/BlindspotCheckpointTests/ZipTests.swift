import BlindspotCheckpoint
import BlindspotCore
import XCTest

/// The zip reader on well-formed archives (stored, deflated, ZIP64 in every place numpy and
/// Python's zipfile put it) and on hostile ones: each must be refused with `badInput`, fast.
final class ZipTests: XCTestCase {
    let text = Array("{\"class_name\": \"Sequential\", \"config\": {\"layers\": []}}".utf8)
    let weights = (0 ..< 5000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }

    func testReadsStoredAndDeflatedMembers() throws {
        let bytes = TestZip(members: [
            TestZipMember(name: "config.json", content: text, method: 8),
            TestZipMember(name: "model.weights.h5", content: weights),
            TestZipMember(name: "assets/", content: []),
        ]).build()
        let zip = try ZipArchive(data: bytes, file: "m.keras")
        XCTAssertEqual(zip.entryNames, ["config.json", "model.weights.h5", "assets/"])
        XCTAssertEqual(try zip.read("config.json"), text)
        XCTAssertEqual(try zip.read("model.weights.h5"), weights)
        XCTAssertEqual(try zip.read("assets/"), [])
        XCTAssertEqual(zip.uncompressedSize(of: "model.weights.h5"), weights.count)
        XCTAssertTrue(zip.contains("config.json"))
        assertBadInput(try zip.read("metadata.json"), file: "m.keras", contains: "no member named metadata.json")
    }

    func testZip64ExtrasCommentsAndEndRecord() throws {
        for zip64End in [false, true] {
            var z = TestZip(members: [
                TestZipMember(name: "a.npy", content: weights, zip64Local: true, zip64Central: true),
                TestZipMember(name: "b.npy", content: text, method: 8, zip64Local: true),
            ], zip64End: zip64End)
            z.comment = Array("made by a test".utf8)
            let zip = try ZipArchive(data: z.build(), file: "z.npz")
            XCTAssertEqual(zip.entryNames, ["a.npy", "b.npy"])
            XCTAssertEqual(try zip.read("a.npy"), weights)
            XCTAssertEqual(try zip.read("b.npy"), text)
        }
    }

    func testFileAccessErrors() throws {
        let dir = try temporaryDirectory(self)
        XCTAssertThrowsError(try ZipArchive(path: dir + "/absent.keras")) { error in
            guard case BlindspotError.missingInput(let f, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(f, dir + "/absent.keras")
        }
        XCTAssertThrowsError(try ZipArchive(path: dir)) { error in
            guard case BlindspotError.missingInput = error else { return XCTFail("\(error)") }
        }
    }

    func testNotAZip() {
        assertBadInput(try ZipArchive(data: [], file: "e.zip"), file: "e.zip", contains: "too short")
        assertBadInput(try ZipArchive(data: Array(repeating: 7, count: 100_000), file: "g.zip"), file: "g.zip", contains: "end-of-central-directory")
    }

    func testTruncatedAtEveryLength() throws {
        let whole = TestZip(members: [
            TestZipMember(name: "config.json", content: text, method: 8, zip64Local: true),
            TestZipMember(name: "w.bin", content: weights, zip64Local: true),
        ], zip64End: true).build()
        XCTAssertNoThrow(try ZipArchive(data: whole, file: "t.zip"))
        let start = Date()
        for cut in 0 ..< whole.count {
            assertBadInput(try ZipArchive(data: Array(whole[0 ..< cut]), file: "t.zip"), file: "t.zip", "cut at \(cut)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    /// Random single-byte corruption: the reader either copes or throws badInput, never crashes.
    func testCorruptBytesNeverCrash() throws {
        let whole = TestZip(members: [
            TestZipMember(name: "config.json", content: text, method: 8, zip64Local: true),
            TestZipMember(name: "w.bin", content: weights),
        ], zip64End: true).build()
        var rng = SplitMix(seed: 42)
        for trial in 0 ..< 3000 {
            var bytes = whole
            let at = Int(rng.next() % UInt64(bytes.count))
            bytes[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            do {
                let zip = try ZipArchive(data: bytes, file: "c.zip")
                for name in zip.entryNames { _ = try zip.read(name) }
            } catch BlindspotError.badInput(let f, _) {
                XCTAssertTrue(f.hasPrefix("c.zip"), "trial \(trial)")
            } catch {
                XCTFail("trial \(trial): \(error)")
            }
        }
    }

    func testCentralDirectoryPastEndOfFile() {
        let bytes = TestZip(members: [TestZipMember(name: "a.npy", content: text)], cdOffsetShift: 1_000_000).build()
        assertBadInput(try ZipArchive(data: bytes, file: "p.npz"), file: "p.npz", contains: "central directory")
    }

    func testLocalHeaderAndDataOutsideFile() {
        var m = TestZipMember(name: "a.npy", content: text, zip64Central: true)
        m.writeLocal = false; m.localOffset = 1 << 40
        assertBadInput(try ZipArchive(data: TestZip(members: [m]).build(), file: "o.npz"), file: "o.npz", contains: "outside the file")
        var big = TestZipMember(name: "a.npy", content: text, zip64Local: true, zip64Central: true)
        big.declaredSize = 1 << 31; big.declaredCompressedSize = 1 << 31
        assertBadInput(try ZipArchive(data: TestZip(members: [big]).build(), file: "o.npz"), file: "o.npz", contains: "outside the file")
    }

    func testEncryptedAndUnsupportedMethodsAreRefused() {
        let encrypted = TestZip(members: [TestZipMember(name: "a.npy", content: text, flags: 1)]).build()
        assertBadInput(try ZipArchive(data: encrypted, file: "x.npz"), file: "x.npz", contains: "encrypted")
        let bzip2 = TestZip(members: [TestZipMember(name: "a.npy", content: text, method: 12, payload: text)]).build()
        assertBadInput(try ZipArchive(data: bzip2, file: "x.npz"), file: "x.npz", contains: "compression method 12")
    }

    func testMultiDiskIsRefused() {
        let bytes = TestZip(members: [TestZipMember(name: "a.npy", content: text)], disk: 1).build()
        assertBadInput(try ZipArchive(data: bytes, file: "d.zip"), file: "d.zip", contains: "multi-disk")
    }

    /// 10 MB of zeros from a ~10 KB stream with truthful headers: refused before inflating.
    func testCompressionRatioBombIsRefused() {
        let zeros = [UInt8](repeating: 0, count: 10_000_000)
        let stream = rawDeflate(zeros)
        XCTAssertGreaterThan(zeros.count / stream.count, 1000)
        let bytes = TestZip(members: [TestZipMember(name: "bomb.npy", content: zeros, method: 8, payload: stream)]).build()
        assertBadInput(try ZipArchive(data: bytes, file: "bomb.npz"), file: "bomb.npz", contains: "absurd compression ratio", seconds: 0.5)
        assertBadInput(try NPZ.read(data: bytes, file: "bomb.npz"), file: "bomb.npz:bomb.npy", contains: "absurd compression ratio", seconds: 0.5)
    }

    func testInflatingPastTheDeclaredSizeStops() throws {
        let content = (0 ..< 200_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        var m = TestZipMember(name: "a.npy", content: content, method: 8)
        m.declaredSize = content.count / 2
        let zip = try ZipArchive(data: TestZip(members: [m]).build(), file: "l.npz")
        assertBadInput(try zip.read("a.npy"), file: "l.npz:a.npy", contains: "more than its declared", seconds: 0.5)
        m.declaredSize = content.count + 1
        let short = try ZipArchive(data: TestZip(members: [m]).build(), file: "l.npz")
        assertBadInput(try short.read("a.npy"), file: "l.npz:a.npy", contains: "fewer than its declared")
    }

    func testCorruptAndTruncatedDeflateStreams() throws {
        var stream = rawDeflate(weights)
        let cut = TestZipMember(name: "a.npy", content: weights, method: 8, payload: Array(stream.dropLast(20)))
        assertBadInput(try ZipArchive(data: TestZip(members: [cut]).build(), file: "s.npz").read("a.npy"),
                       file: "s.npz:a.npy", contains: "ends early")
        stream[0] = 0xFF  // reserved block type 3
        let bad = TestZipMember(name: "a.npy", content: weights, method: 8, payload: stream)
        assertBadInput(try ZipArchive(data: TestZip(members: [bad]).build(), file: "s.npz").read("a.npy"),
                       file: "s.npz:a.npy", contains: "corrupt")
    }

    func testCRCMismatch() throws {
        for method in [0, 8] {
            let m = TestZipMember(name: "a.npy", content: weights, method: method, crc: 0x1234_5678)
            let zip = try ZipArchive(data: TestZip(members: [m]).build(), file: "crc.npz")
            assertBadInput(try zip.read("a.npy"), file: "crc.npz:a.npy", contains: "CRC-32 mismatch")
        }
    }

    /// A second central record whose local header sits inside the first member's data.
    func testOverlappingMembersAreRefused() {
        let inner = TestZipMember(name: "b.npy", content: text)
        let outerContent = TestZip.local(inner)
        var hidden = inner
        hidden.writeLocal = false
        hidden.localOffset = 30 + "a.npy".utf8.count
        let bytes = TestZip(members: [TestZipMember(name: "a.npy", content: outerContent), hidden]).build()
        assertBadInput(try ZipArchive(data: bytes, file: "ov.npz"), file: "ov.npz", contains: "overlaps")
    }

    func testDuplicateAndMismatchedNamesAreRefused() {
        let dup = TestZip(members: [TestZipMember(name: "a.npy", content: text), TestZipMember(name: "a.npy", content: weights)]).build()
        assertBadInput(try ZipArchive(data: dup, file: "n.npz"), file: "n.npz", contains: "two members")
        let renamed = TestZip(members: [TestZipMember(name: "a.npy", content: text, localName: "b.npy")]).build()
        assertBadInput(try ZipArchive(data: renamed, file: "n.npz"), file: "n.npz", contains: "different member")
        var sizes = TestZipMember(name: "a.npy", content: text, zip64Local: true)
        sizes.declaredSize = text.count
        var lying = TestZip(members: [sizes]).build()
        lying[30 + 5 + 4] ^= 1  // the local ZIP64 uncompressed size
        assertBadInput(try ZipArchive(data: lying, file: "n.npz"), file: "n.npz", contains: "disagree")
    }

    func testEntryCountLimits() {
        let many = TestZip(members: [TestZipMember(name: "a.npy", content: text)], entryCount: 200_000, zip64End: true).build()
        assertBadInput(try ZipArchive(data: many, file: "m.npz"), file: "m.npz", contains: "more than the 100000")
        let lying = TestZip(members: [TestZipMember(name: "a.npy", content: text)], entryCount: 60_000).build()
        assertBadInput(try ZipArchive(data: lying, file: "m.npz"), file: "m.npz", contains: "cannot hold")
    }

    func testMemberSizeLimit() {
        var m = TestZipMember(name: "a.npy", content: text, zip64Local: true, zip64Central: true)
        m.declaredSize = (4 << 30) + 1; m.declaredCompressedSize = (4 << 30) + 1
        assertBadInput(try ZipArchive(data: TestZip(members: [m]).build(), file: "h.npz"), file: "h.npz", contains: "4 GiB")
    }

    func testControlCharactersInNamesStayOnOneLine() {
        let m = TestZipMember(name: "evil\nname.npy", content: text, crc: 1)
        let zip = try? ZipArchive(data: TestZip(members: [m]).build(), file: "cc.npz")
        XCTAssertNotNil(zip)
        assertBadInput(try zip!.read("evil\nname.npy"), file: "cc.npz:evil?name.npy", contains: "CRC")
    }

    /// Names that would land outside an extraction directory are refused; `..` inside a name part
    /// and ordinary folders are not.
    func testPathTraversalNamesAreRefused() throws {
        for name in ["../x.npy", "a/../../x.npy", "/etc/x.npy", "\\x.npy", "a\\..\\x.npy", "C:x.npy", "c:/x.npy"] {
            let bytes = TestZip(members: [TestZipMember(name: name, content: text)]).build()
            assertBadInput(try ZipArchive(data: bytes, file: "t.npz"), file: "t.npz", contains: "outside the archive", name)
        }
        for name in ["a..b.npy", "dir/x.npy", "..x.npy", "1:x.npy"] {
            XCTAssertNoThrow(try ZipArchive(data: TestZip(members: [TestZipMember(name: name, content: text)]).build(), file: "t.npz"), name)
        }
    }

    /// Nine members, each within the ratio limit (1 MiB declared to inflate to 1000 MiB), together
    /// declare 8.8 GiB: refused from the directory, before anything is inflated.
    func testTotalDeclaredSizeLimit() {
        let garbage = (0 ..< (1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        func members(_ n: Int) -> [TestZipMember] {
            (0 ..< n).map { i in
                var m = TestZipMember(name: "m\(i).npy", content: [], method: 8, payload: garbage)
                m.declaredSize = garbage.count * ZipLimits.maxCompressionRatio
                return m
            }
        }
        XCTAssertNoThrow(try ZipArchive(data: TestZip(members: members(8)).build(), file: "t.npz"))
        assertBadInput(try ZipArchive(data: TestZip(members: members(9)).build(), file: "t.npz"), file: "t.npz", contains: "8 GiB allowed per archive")
    }
}

/// A tiny seeded generator for the corruption tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

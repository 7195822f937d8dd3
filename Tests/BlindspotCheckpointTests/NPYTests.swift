import BlindspotCheckpoint
import BlindspotCore
import XCTest

/// `.npy` parsing (numpy's own files and hand-written headers), conversions and serialisation.
final class NPYTests: XCTestCase {
    func testReadsNumpyFiles() throws {
        let expected = try NPYExpected.load()
        XCTAssertGreaterThanOrEqual(expected.npy.count, 10)
        for (name, e) in expected.npy.sorted(by: { $0.key < $1.key }) {
            assertMatches(try NPY.read(path: fixturePath(name)), e, name)
        }
    }

    func testRefusesNonNumericNumpyFiles() throws {
        for (name, text) in try NPYExpected.load().refused where name.hasSuffix(".npy") {
            let path = fixturePath(name)
            assertBadInput(try NPY.read(path: path), file: path, contains: text, name)
        }
        assertBadInput(try NPY.read(path: fixturePath("object.npy")), file: fixturePath("object.npy"),
                       contains: "object arrays are refused: unpickling can run code; re-save with a numeric dtype")
    }

    /// Our serialisation of a little-endian C-order array is byte-identical to np.save's.
    func testSerializeMatchesNumpy() throws {
        for name in ["f32.npy", "f16.npy", "flags.npy", "scalar.npy", "empty.npy"] {
            let bytes = try Data(contentsOf: npzFixtures.appendingPathComponent(name))
            let array = try NPY.parse([UInt8](bytes), file: name)
            XCTAssertEqual(NPY.serialize(array), [UInt8](bytes), name)
        }
    }

    func testSerializeLayoutAndRoundTrip() throws {
        let arrays = [
            NPYArray(float32: [1, -2, .infinity, .nan], shape: [2, 2]),
            NPYArray(int64: [-5, 1 << 40], shape: [2]),
            NPYArray(int32: [7], shape: []),
            NPYArray(int8: [-128, 127, 0], shape: [3, 1]),
            NPYArray(uint8: [], shape: [0, 4, 2]),
            NPYArray(float64: [0.1], shape: [1, 1, 1, 1, 1, 1, 1, 1]),
            NPYArray(dtype: .float16, shape: [2], data: [0x00, 0x3c, 0x00, 0xfc]),
            NPYArray(dtype: .bool, shape: [3], data: [1, 0, 1]),
            NPYArray(dtype: .int16, shape: [2], data: [0x34, 0x12, 0xff, 0xff]),
        ]
        for a in arrays {
            let bytes = NPY.serialize(a)
            let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            XCTAssertEqual(bytes[6], 1)
            XCTAssertEqual((10 + headerLength) % 64, 0, "\(a.shape)")
            XCTAssertEqual(bytes[10 + headerLength - 1], 0x0a)
            XCTAssertEqual(try NPY.parse(bytes, file: "x.npy"), a)
        }
    }

    func testHeaderSpellingsNumpyHasUsed() throws {
        let four: [UInt8] = [1, 0, 0, 0, 2, 0, 0, 0]
        let dicts = [
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
            "{\"descr\":\"<i4\",\"fortran_order\":False,\"shape\":(2,)}",
            "{'shape': (2L,), 'fortran_order': False, 'descr': '<i4'}",
            "{ 'descr' : '<i4' ,\n 'fortran_order' : False , 'shape' : ( 2 , ) , }",
            "{'descr': 'i4', 'fortran_order': False, 'shape': (2)}",
        ]
        for dict in dicts {
            let a = try NPY.parse(npyBytes(dict, data: four), file: "h.npy")
            XCTAssertEqual(try a.int64s(file: "h.npy"), [1, 2], dict)
        }
        let v2 = try NPY.parse(npyBytes("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2), }", data: [1, 2, 3, 4], version: 2), file: "h.npy")
        XCTAssertEqual(v2.uint8s(), [1, 3, 2, 4])
        let big = try NPY.parse(npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (), }", data: [0x3f, 0xc0, 0, 0]), file: "h.npy")
        XCTAssertEqual(big.floats(), [1.5])
    }

    func testHostileHeaders() {
        let cases: [(bytes: [UInt8], contains: String)] = [
            ([], "no \\x93NUMPY magic"),
            (Array("PK\u{3}\u{4}".utf8), "zip archive"),
            ([0x80, 2, 0x7d, 0x71], "pickled PyTorch"),
            ([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1], "truncated"),
            ([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 4, 0, 10, 0], "version 4.0"),
            ([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0xff, 0xff, 0x7b], "truncated .npy header"),
            ([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0xff, 0xff, 0xff, 0x7f], "more than the 65536 allowed"),
            (npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }", data: [0, 0, 0, 0]),
             "declares 1000000000000000 elements but holds 4 bytes"),
            (npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }"), "more elements than can be represented"),
            (npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }"), "too large to represent"),
            (npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), "negative dimension"),
            (npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (" + String(repeating: "1,", count: 65) + "), }"), "more than 64 dimensions"),
            (npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0, 0]), "declares 1 elements but holds 5 bytes"),
            (npyBytes("{'descr': '|O', 'fortran_order': False, 'shape': (), }", data: [0x80, 3]), "object arrays are refused"),
            (npyBytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), "structured"),
            (npyBytes("{'descr': '|V8', 'fortran_order': False, 'shape': (1,), }"), "structured"),
            (npyBytes("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }"), "complex"),
            (npyBytes("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }"), "string"),
            (npyBytes("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (1,), }"), "datetime"),
            (npyBytes("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }"), "'<u8' is not supported"),
            (npyBytes("{'descr': '<f16', 'fortran_order': False, 'shape': (1,), }"), "'<f16' is not supported"),
            (npyBytes("{'descr': '<q4', 'fortran_order': False, 'shape': (1,), }"), "unknown dtype"),
            (npyBytes("{'descr': '<f4', 'fortran_order': False}"), "keys descr, fortran_order and shape are required"),
            (npyBytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}"), "appears twice"),
            (npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'pickle': True}"), "unexpected key"),
            (npyBytes("{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}"), "expected True or False"),
            (npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}"), "expected '('"),
            (npyBytes("{'descr': '<f4\\x', 'fortran_order': False, 'shape': (1,)}"), "unsupported character"),
            (npyBytes("{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}"), "malformed .npy header (expected '}'"),
            (npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} __import__('os')"), "unexpected bytes after the dict"),
            (npyBytes("__import__('os').system('true')"), "expected '{'"),
        ]
        for (bytes, text) in cases {
            assertBadInput(try NPY.parse(bytes, file: "bad.npy"), file: "bad.npy", contains: text, seconds: 0.5, text)
        }
    }

    /// Random byte corruption of numpy's files: parsed or refused with badInput, never a crash.
    func testCorruptHeadersNeverCrash() throws {
        var rng = SplitMix(seed: 3)
        for name in ["fortran.npy", "bigfortran.npy", "v3.npy"] {
            let whole = [UInt8](try Data(contentsOf: npzFixtures.appendingPathComponent(name)))
            for trial in 0 ..< 2000 {
                var bytes = whole
                for _ in 0 ... rng.next() % 3 {
                    let at = Int(rng.next() % 80)  // magic, version, length and the dict
                    bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                }
                do { _ = try NPY.parse(bytes, file: name) } catch BlindspotError.badInput(let f, _) {
                    XCTAssertEqual(f, name)
                } catch { XCTFail("\(name) trial \(trial): \(error)") }
            }
        }
    }

    func testConversions() throws {
        let f = NPYArray(float32: [1.5, -2], shape: [2])
        XCTAssertNil(f.uint8s())
        assertBadInput(try f.int64s(file: "d.npz:labels.npy"), file: "d.npz:labels.npy", contains: "float32 values where integers are expected")
        XCTAssertEqual(NPYArray(dtype: .bool, shape: [3], data: [0, 2, 1]).uint8s(), [0, 1, 1])
        XCTAssertEqual(NPYArray(int8: [-3, 4], shape: [2]).floats(), [-3, 4])
        XCTAssertEqual(try NPYArray(int32: [-3, 1 << 30], shape: [2]).int64s(file: "x"), [-3, 1 << 30])
        XCTAssertEqual(NPYArray(float64: [1e300, 0.5], shape: [2]).floats(), [.infinity, 0.5])
        XCTAssertEqual(NPYArray(uint8: [200], shape: []).count, 1)
        XCTAssertEqual(NPYArray(uint8: [], shape: [3, 0]).count, 0)
    }

    /// Fortran → C order on a 4-d array against index arithmetic.
    func testFortranOrderConversion() throws {
        let shape = [2, 3, 4, 5]
        let n = 120
        // Element (a,b,c,d) has value a*1000+b*100+c*10+d; in Fortran order a varies fastest.
        var fortran: [Int32] = []
        for d in 0 ..< 5 { for c in 0 ..< 4 { for b in 0 ..< 3 { for a in 0 ..< 2 { fortran.append(Int32(a * 1000 + b * 100 + c * 10 + d)) } } } }
        let bytes = npyBytes("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3, 4, 5), }",
                             data: NPYArray(int32: fortran, shape: [n]).data)
        let array = try NPY.parse(bytes, file: "f.npy")
        XCTAssertEqual(array.shape, shape)
        var expected: [Int64] = []
        for a in 0 ..< 2 { for b in 0 ..< 3 { for c in 0 ..< 4 { for d in 0 ..< 5 { expected.append(Int64(a * 1000 + b * 100 + c * 10 + d)) } } } }
        XCTAssertEqual(try array.int64s(file: "f.npy"), expected)
    }

    /// Every half bit pattern converts exactly and round-trips; rounding follows the table in NPYFloat16.
    func testFloat16Conversion() {
        for bits in 0 ... UInt16.max {
            let f = NPYFloat16.float(fromBits: bits)
            #if !(os(macOS) && arch(x86_64))
            let reference = Float(Float16(bitPattern: bits))  // hardware conversion quiets signalling NaNs
            XCTAssertEqual(reference.isNaN ? f.sign : f.bitPattern == reference.bitPattern ? f.sign : nil, reference.sign,
                           "half \(String(bits, radix: 16))")
            XCTAssertEqual(f.isNaN, reference.isNaN)
            #endif
            if f.isNaN { XCTAssertTrue(NPYFloat16.float(fromBits: NPYFloat16.bits(from: f)).isNaN) } else {
                XCTAssertEqual(NPYFloat16.bits(from: f), bits, "round trip \(String(bits, radix: 16))")
            }
        }
        let table: [(Float, UInt16)] = [(65504, 0x7bff), (65520, 0x7c00), (0x1p-24, 0x0001), (0x1p-25, 0), (0x1.8p-25, 1),
                                        (1 + 0x1p-11, 0x3c00), (1 + 0x1.8p-10, 0x3c02), (-0.0, 0x8000), (1e10, 0x7c00), (-.infinity, 0xfc00)]
        for (f, h) in table { XCTAssertEqual(NPYFloat16.bits(from: f), h, "\(f)") }
        #if !(os(macOS) && arch(x86_64))
        var rng = SplitMix(seed: 7)
        for _ in 0 ..< 100_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            guard !f.isNaN else { continue }
            XCTAssertEqual(NPYFloat16.bits(from: f), Float16(f).bitPattern, "\(f)")
        }
        #endif
    }
}

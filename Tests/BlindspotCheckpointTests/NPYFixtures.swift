import BlindspotCheckpoint
import Foundation
import XCTest

/// `Fixtures/npz/expected.json`, written by scripts/make-npz-fixtures.py with numpy.
struct NPYExpected: Decodable {
    struct Array: Decodable {
        var name: String
        var dtype: String
        var shape: [Int]
        var data_hex: String
        var float_bits: [UInt32]
        var int64: [Int64]?
    }
    var npz: [String: [Array]]
    var npy: [String: Array]
    var refused: [String: String]

    static func load() throws -> NPYExpected {
        let data = try Data(contentsOf: npzFixtures.appendingPathComponent("expected.json"))
        return try JSONDecoder().decode(NPYExpected.self, from: data)
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    let chars = Array(hex.utf8)
    return stride(from: 0, to: chars.count, by: 2).map { UInt8(String(decoding: chars[$0 ..< $0 + 2], as: UTF8.self), radix: 16)! }
}

/// Asserts that `array` is numpy's array as recorded: dtype, shape, C-order little-endian bytes,
/// `floats()` bit for bit (NaN included) and, for integer/bool dtypes, `int64s`.
func assertMatches(_ array: NPYArray, _ expected: NPYExpected.Array, _ context: String,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(array.dtype.rawValue, expected.dtype, context, file: file, line: line)
    XCTAssertEqual(array.shape, expected.shape, context, file: file, line: line)
    XCTAssertEqual(array.data, hexBytes(expected.data_hex), "\(context): bytes", file: file, line: line)
    XCTAssertEqual(array.count, expected.float_bits.count, context, file: file, line: line)
    XCTAssertEqual(array.floats().map(\.bitPattern), expected.float_bits, "\(context): floats()", file: file, line: line)
    if let ints = expected.int64 {
        XCTAssertEqual(try array.int64s(file: context), ints, "\(context): int64s", file: file, line: line)
    } else {
        XCTAssertThrowsError(try array.int64s(file: context), context, file: file, line: line)
    }
}

import BlindspotAudit
import CZ
import Foundation
import XCTest

/// The PNG writer against the format (ISO/IEC 15948): signature, IHDR fields, chunk CRCs, and
/// scanlines that zlib inflates back to filter byte 0 + the pixels.
final class PNGTests: XCTestCase {
    func be32(_ d: [UInt8], _ i: Int) -> UInt32 { d[i..<i + 4].reduce(0) { $0 << 8 | UInt32($1) } }

    func chunks(_ png: [UInt8]) -> [(type: String, body: [UInt8])] {
        var out: [(String, [UInt8])] = [], i = 8
        while i + 12 <= png.count {
            let n = Int(be32(png, i)), type = String(decoding: png[i + 4..<i + 8], as: UTF8.self)
            let typed = Array(png[i + 4..<i + 8 + n])
            let crc = typed.withUnsafeBufferPointer { UInt32(CZ.crc32(0, $0.baseAddress, uInt($0.count))) }
            XCTAssertEqual(crc, be32(png, i + 8 + n), "CRC of \(type)")
            out.append((type, Array(typed.dropFirst(4))))
            i += 12 + n
        }
        XCTAssertEqual(i, png.count)
        return out
    }

    func testGrayAndRGBRoundTrip() {
        for (color, channels) in [(PNG.Color.gray, 1), (.rgb, 3)] {
            let (w, h) = (5, 3)
            let pixels = (0..<(w * h * channels)).map { UInt8(($0 * 37) % 256) }
            let png = [UInt8](PNG.encode(width: w, height: h, color: color, pixels: pixels))
            XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            let c = chunks(png)
            XCTAssertEqual(c.map(\.type), ["IHDR", "IDAT", "IEND"])
            XCTAssertEqual(be32(c[0].body, 0), UInt32(w))
            XCTAssertEqual(be32(c[0].body, 4), UInt32(h))
            XCTAssertEqual(Array(c[0].body[8...]), [8, color.rawValue, 0, 0, 0])
            var raw = [UInt8](repeating: 0, count: h * (w * channels + 1) + 16)
            var size = uLongf(raw.count)
            XCTAssertEqual(uncompress(&raw, &size, c[1].body, uLong(c[1].body.count)), Z_OK)
            var expected: [UInt8] = []
            for y in 0..<h { expected.append(0); expected += pixels[(y * w * channels)..<((y + 1) * w * channels)] }
            XCTAssertEqual(Array(raw[0..<Int(size)]), expected)
        }
    }

    func testPlanarFloatsAreClampedRoundedAndScaled() {
        // [C=1, H=1, W=2] = [-0.5, 0.5] scaled 2× → 4×2 gray: 0 0 128 128 per row.
        let png = [UInt8](PNG.encode(planar: [-0.5, 0.5], channels: 1, height: 1, width: 2, scale: 2))
        let c = chunks(png)
        XCTAssertEqual(be32(c[0].body, 0), 4)
        XCTAssertEqual(be32(c[0].body, 4), 2)
        var raw = [UInt8](repeating: 0, count: 64)
        var size = uLongf(raw.count)
        XCTAssertEqual(uncompress(&raw, &size, c[1].body, uLong(c[1].body.count)), Z_OK)
        XCTAssertEqual(Array(raw[0..<Int(size)]), [0, 0, 0, 128, 128, 0, 0, 0, 128, 128])
    }
}

import BlindspotCore

/// Binary PPM ("P6", Netpbm) header parsing, as the original GTSRB images are stored
/// (Stallkamp et al. 2011). Only 8-bit images (maxval 255) up to `maxSide`×`maxSide` are accepted:
/// the header is checked before any pixel buffer is sized from it.
enum PPM {
    static let maxSide = 4096
    /// Largest file a valid header allows (pixels plus a generous header).
    static let maxFileBytes = maxSide * maxSide * 3 + 4096

    struct Header: Equatable {
        var width: Int
        var height: Int
        /// Byte offset of the first pixel; pixels are interleaved RGB, row-major.
        var dataOffset: Int
    }

    /// Parses and validates the header of `bytes`, and that the pixel data is complete.
    static func header(_ bytes: [UInt8], path: String) throws -> Header {
        func bad(_ what: String) -> BlindspotError {
            .badInput(file: path, problem: "\(what) (expected a binary PPM image: P6, 8-bit, at most \(maxSide)×\(maxSide))")
        }
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "6") else {
            throw bad("not a binary PPM (no P6 magic)")
        }
        var pos = 2
        /// Next decimal token, skipping whitespace and `#` comments.
        func token(_ name: String) throws -> Int {
            while pos < bytes.count {
                let b = bytes[pos]
                if b == UInt8(ascii: "#") {
                    while pos < bytes.count && bytes[pos] != 0x0A && bytes[pos] != 0x0D { pos += 1 }
                } else if isSpace(b) {
                    pos += 1
                } else {
                    break
                }
            }
            var value = 0, digits = 0
            while pos < bytes.count, bytes[pos] >= 0x30, bytes[pos] <= 0x39 {
                value = value * 10 + Int(bytes[pos] - 0x30)
                digits += 1
                pos += 1
                if digits > 6 { throw bad("header \(name) is too large") }
            }
            guard digits > 0 else { throw bad("header \(name) is missing or not a number") }
            return value
        }
        let width = try token("width"), height = try token("height"), maxval = try token("maxval")
        guard width >= 1, height >= 1, width <= maxSide, height <= maxSide else {
            throw bad("image size \(width)×\(height) is out of range")
        }
        guard maxval == 255 else { throw bad("maxval \(maxval) is not 255") }
        guard pos < bytes.count, isSpace(bytes[pos]) else { throw bad("no whitespace after the header") }
        pos += 1
        let need = width * height * 3
        guard bytes.count - pos >= need else {
            throw bad("pixel data truncated: \(bytes.count - pos) bytes for \(width)×\(height)×3 = \(need)")
        }
        return Header(width: width, height: height, dataOffset: pos)
    }

    @inline(__always) private static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C
    }
}

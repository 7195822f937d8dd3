import CZ
import Foundation

/// A minimal PNG writer (ISO/IEC 15948): 8-bit grayscale or RGB, filter 0 on every row, one
/// zlib-compressed IDAT chunk. Enough for reversed-trigger masks and patterns embedded in
/// reports; a browser or any image library reads it.
public enum PNG {
    public enum Color: UInt8, Sendable { case gray = 0, rgb = 2 }

    /// Encodes `pixels` (row-major, interleaved channels, `width·height·channels` bytes).
    public static func encode(width: Int, height: Int, color: Color, pixels: [UInt8]) -> Data {
        let channels = color == .rgb ? 3 : 1
        precondition(width > 0 && height > 0 && pixels.count == width * height * channels, "PNG: pixel count does not match the size")
        var raw = [UInt8](); raw.reserveCapacity(height * (width * channels + 1))
        for y in 0..<height {
            raw.append(0)
            raw.append(contentsOf: pixels[(y * width * channels)..<((y + 1) * width * channels)])
        }
        var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.appendBigEndian(UInt32(width)); header.appendBigEndian(UInt32(height))
        header.append(contentsOf: [8, color.rawValue, 0, 0, 0])
        chunk("IHDR", header, into: &out)
        chunk("IDAT", zlibCompress(raw), into: &out)
        chunk("IEND", Data(), into: &out)
        return out
    }

    /// Planar floats [C, H, W] in [0, 1] (C = 1 or 3) as PNG; values are clamped and rounded.
    /// `scale` enlarges each pixel to a `scale × scale` block so small masks stay visible.
    public static func encode(planar values: [Float], channels: Int, height: Int, width: Int, scale: Int = 1) -> Data {
        precondition(channels == 1 || channels == 3, "PNG: 1 or 3 channels")
        let (w, h) = (width * scale, height * scale)
        var pixels = [UInt8](repeating: 0, count: w * h * channels)
        for y in 0..<h { for x in 0..<w { for c in 0..<channels {
            let v = values[(c * height + y / scale) * width + x / scale]
            pixels[(y * w + x) * channels + c] = UInt8((min(max(v.isFinite ? v : 0, 0), 1) * 255).rounded())
        } } }
        return encode(width: w, height: h, color: channels == 3 ? .rgb : .gray, pixels: pixels)
    }

    private static func chunk(_ type: String, _ body: Data, into out: inout Data) {
        out.appendBigEndian(UInt32(body.count))
        let typed = Data(type.utf8) + body
        out.append(typed)
        let crc = typed.withUnsafeBytes { b in CZ.crc32(0, b.bindMemory(to: Bytef.self).baseAddress, uInt(b.count)) }
        out.appendBigEndian(UInt32(crc))
    }

    private static func zlibCompress(_ raw: [UInt8]) -> Data {
        var size = compressBound(uLong(raw.count))
        var buffer = [UInt8](repeating: 0, count: Int(size))
        let status = raw.withUnsafeBufferPointer { src in compress2(&buffer, &size, src.baseAddress, uLong(raw.count), Z_BEST_COMPRESSION) }
        precondition(status == Z_OK, "zlib compress2 failed (\(status))")
        return Data(buffer[0..<Int(size)])
    }
}

extension Data {
    mutating func appendBigEndian(_ v: UInt32) { Swift.withUnsafeBytes(of: v.bigEndian) { append(contentsOf: $0) } }
}

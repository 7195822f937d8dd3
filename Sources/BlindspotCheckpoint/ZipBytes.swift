import BlindspotCore
import Foundation

/// Bounds-checked little-endian reads over an untrusted byte buffer. Every read names the byte
/// range it needs; a range outside the buffer is a `badInput` error, never a trap.
struct ZipBytes {
    let buf: UnsafeRawBufferPointer
    let file: String

    /// True when `count` bytes starting at `offset` lie inside the buffer (overflow-safe).
    func contains(_ offset: Int, _ count: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= buf.count && count <= buf.count - offset
    }

    func require(_ offset: Int, _ count: Int, _ what: @autoclosure () -> String) throws {
        guard contains(offset, count) else {
            throw BlindspotError.badInput(file: file, problem: "\(what()) lies outside the file (truncated or corrupt archive; re-create it)")
        }
    }

    func u16(_ offset: Int) -> Int {
        Int(UInt16(littleEndian: buf.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    func u32(_ offset: Int) -> Int {
        Int(UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    }

    /// A 64-bit field; values above Int.max (impossible sizes) come back as Int.max so range checks fail.
    func u64(_ offset: Int) -> Int {
        let v = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        return v > UInt64(Int.max) ? Int.max : Int(v)
    }

    func slice(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: buf[offset ..< offset + count])
    }
}

/// File access shared by the zip and NPY readers.
enum ZipFileIO {
    /// The largest file read into memory (a checkpoint or training set; members are ≤ 4 GiB each).
    static let maxFileSize = 16 << 30

    /// The whole file, read once (size-checked before allocation, see `BoundedFile.read`).
    static func readAll(path: String) throws -> [UInt8] {
        try BoundedFile.read(path, maxBytes: maxFileSize, expected: "a checkpoint file")
    }

    /// The first `count` bytes of a file (fewer if it is shorter); nil if it cannot be read.
    static func readPrefix(path: String, count: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: count)
        let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress!, count) }
        guard n >= 0 else { return nil }
        return Array(out[0 ..< n])
    }

    /// A member name fit for a one-line message: control characters replaced, long names shortened.
    static func display(_ name: String) -> String {
        var s = String(String.UnicodeScalarView(name.unicodeScalars.map {
            $0.properties.generalCategory == .control ? "?" : $0
        }))
        if s.count > 200 { s = String(s.prefix(200)) + "…" }
        return s
    }
}

import BlindspotCore
import CZ
import Foundation

/// Raw-deflate decompression with a hard output cap, and CRC-32, both through zlib.
enum ZipInflate {
    /// zlib's CRC-32 of `bytes` (fed in chunks that fit zlib's 32-bit length), continuing from
    /// `previous`, the CRC-32 of the bytes before them (0 for none).
    static func crc32(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        var crc = uLong(previous)
        var done = 0
        while done < bytes.count {
            let n = min(bytes.count - done, 1 << 30)
            crc = CZ.crc32(crc, bytes.baseAddress!.advanced(by: done).assumingMemoryBound(to: Bytef.self), uInt(n))
            done += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// Inflates the raw deflate stream `input`, which must produce exactly `expected` bytes, and
    /// passes the output to `body`. The output buffer grows with what the stream really produces
    /// (never past `expected`), so a lying header cannot make us allocate memory up front; a stream
    /// that would produce more than `expected` is stopped and refused.
    static func inflate<R>(_ input: UnsafeRawBufferPointer, expected: Int, member: String,
                           _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        func bad(_ problem: String) -> BlindspotError { .badInput(file: member, problem: problem) }
        var stream = z_stream()
        guard bs_inflate_init2(&stream, -15) == Z_OK else {
            throw BlindspotError.io(file: member, problem: "zlib could not start inflating (out of memory?; retry)")
        }
        defer { inflateEnd(&stream) }
        // One spare byte past `capacity`: once `expected` bytes are out, the stream may write at
        // most into the spare byte, which is how an over-long stream is detected without storing it.
        var capacity = min(expected, max(1 << 20, input.count.multipliedReportingOverflow(by: 8).partialValue))
        guard var out = malloc(capacity + 1) else { throw outOfMemory(member, expected) }
        defer { free(out) }
        var produced = 0, consumed = 0
        while true {
            if stream.avail_in == 0 && consumed < input.count {
                let n = min(input.count - consumed, 1 << 30)
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(n)
                consumed += n
            }
            if produced == capacity && capacity < expected {
                let grown = min(expected, capacity * 2)
                guard let bigger = realloc(out, grown + 1) else { throw outOfMemory(member, expected) }
                out = bigger
                capacity = grown
            }
            stream.next_out = out.advanced(by: produced).assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(produced == expected ? 1 : min(capacity - produced, 1 << 30))
            let before = Int(stream.avail_out)
            let status = CZ.inflate(&stream, Z_NO_FLUSH)
            produced += before - Int(stream.avail_out)
            if produced > expected {
                throw bad("inflates to more than its declared \(expected) bytes (corrupt or hostile archive; refused)")
            }
            switch status {
            case Z_STREAM_END:
                guard produced == expected else {
                    throw bad("inflates to \(produced) bytes, fewer than its declared \(expected) (corrupt archive; re-create it)")
                }
                return try body(UnsafeRawBufferPointer(start: out, count: produced))
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.avail_in == 0 && consumed == input.count:
                throw bad("deflate stream ends early after \(produced) of \(expected) bytes (truncated archive; re-create it)")
            case Z_BUF_ERROR:
                continue
            case Z_MEM_ERROR:
                throw outOfMemory(member, expected)
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                throw bad("deflate data is corrupt (\(ZipFileIO.display(reason)); re-create the archive)")
            }
        }
    }

    private static func outOfMemory(_ member: String, _ expected: Int) -> BlindspotError {
        .io(file: member, problem: "out of memory inflating \(expected) bytes (free memory and retry)")
    }
}

import CZ
import Foundation

/// Builds a zip archive of stored or deflated members in memory, as Python's `zipfile` and
/// therefore `np.load` read it. ZIP64 fields are written only where a size, offset or the member
/// count needs them. Timestamps are fixed (1980-01-01 00:00), so equal input gives equal bytes.
struct ZipWriter {
    private(set) var data = Data()
    private var central = Data()
    private var count = 0

    init(reservingCapacity capacity: Int = 0) {
        data.reserveCapacity(capacity)
    }

    /// Appends a member whose content is the concatenation of `parts`, deflated (method 8, as
    /// `np.savez_compressed` writes) or stored.
    mutating func add(name: String, parts: [[UInt8]], deflate: Bool) {
        guard deflate, let packed = Self.rawDeflate(parts) else { addStored(name: name, parts: parts); return }
        add(name: name, parts: parts, stored: [packed], method: 8)
    }

    /// Appends a stored member whose content is the concatenation of `parts`.
    mutating func addStored(name: String, parts: [[UInt8]]) {
        add(name: name, parts: parts, stored: parts, method: 0)
    }

    /// `parts` is the member's content (for size and CRC); `stored` is what goes in the archive.
    private mutating func add(name: String, parts: [[UInt8]], stored: [[UInt8]], method: Int) {
        let size = parts.reduce(0) { $0 + $1.count }
        let packedSize = stored.reduce(0) { $0 + $1.count }
        var crc: UInt32 = 0
        for part in parts { crc = part.withUnsafeBytes { ZipInflate.crc32($0, continuing: crc) } }
        let offset = data.count
        let nameBytes = Array(name.utf8)
        let flags = name.utf8.allSatisfy { $0 < 0x80 } ? 0 : 0x0800  // bit 11: UTF-8 name
        let bigSize = max(size, packedSize) >= 0xFFFF_FFFF, bigOffset = offset >= 0xFFFF_FFFF
        let needed = bigSize || bigOffset ? 45 : 20

        // Local header: the ZIP64 extra holds both sizes when either is too large.
        var localExtra = Data()
        if bigSize { localExtra.put16(1); localExtra.put16(16); localExtra.put64(size); localExtra.put64(packedSize) }
        data.put32(ZipDirectory.localSignature)
        data.put16(needed); data.put16(flags); data.put16(method)     // version, flags, method
        data.put16(0); data.put16(0x21)                                 // time 00:00, date 1980-01-01
        data.put32(Int(crc))
        data.put32(bigSize ? 0xFFFF_FFFF : packedSize); data.put32(bigSize ? 0xFFFF_FFFF : size)
        data.put16(nameBytes.count); data.put16(localExtra.count)
        data.append(contentsOf: nameBytes); data.append(localExtra)
        for part in stored { data.append(contentsOf: part) }

        // Central record: the ZIP64 extra holds only the fields whose 32-bit slots are saturated.
        var extra = Data()
        if bigSize || bigOffset {
            extra.put16(1); extra.put16((bigSize ? 16 : 0) + (bigOffset ? 8 : 0))
            if bigSize { extra.put64(size); extra.put64(packedSize) }
            if bigOffset { extra.put64(offset) }
        }
        central.put32(ZipDirectory.centralSignature)
        central.put16(0x0314); central.put16(needed); central.put16(flags); central.put16(method)  // made by Unix 2.0
        central.put16(0); central.put16(0x21)
        central.put32(Int(crc))
        central.put32(bigSize ? 0xFFFF_FFFF : packedSize); central.put32(bigSize ? 0xFFFF_FFFF : size)
        central.put16(nameBytes.count); central.put16(extra.count); central.put16(0)  // comment length
        central.put16(0); central.put16(0); central.put32(0o100644 << 16)             // disk, attributes
        central.put32(bigOffset ? 0xFFFF_FFFF : offset)
        central.append(contentsOf: nameBytes); central.append(extra)
        count += 1
    }

    /// Raw deflate (no zlib header) of the concatenated parts; nil if zlib fails (then stored).
    static func rawDeflate(_ parts: [[UInt8]]) -> [UInt8]? {
        var stream = z_stream()
        guard bs_deflate_init2(&stream, Z_DEFAULT_COMPRESSION, -15) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        for (i, part) in parts.enumerated() {
            let flush = i == parts.count - 1 ? Z_FINISH : Z_NO_FLUSH
            var status = Z_OK
            part.withUnsafeBufferPointer { src in
                stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                stream.avail_in = uInt(src.count)
                repeat {
                    chunk.withUnsafeMutableBufferPointer { dst in
                        stream.next_out = dst.baseAddress; stream.avail_out = uInt(dst.count)
                        status = CZ.deflate(&stream, flush)
                        out.append(contentsOf: dst[0..<(dst.count - Int(stream.avail_out))])
                    }
                } while status == Z_OK && (stream.avail_in > 0 || stream.avail_out == 0 || (flush == Z_FINISH && status != Z_STREAM_END))
            }
            if status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR { return nil }
        }
        if parts.isEmpty { return nil }
        return out
    }

    /// Appends the central directory and end records and returns the archive.
    mutating func finish() -> Data {
        let cdOffset = data.count, cdSize = central.count
        data.append(central)
        if count > 0xFFFF || cdOffset >= 0xFFFF_FFFF || cdSize >= 0xFFFF_FFFF {
            let record = data.count
            data.put32(ZipDirectory.zip64RecordSignature); data.put64(44)  // size of the rest of the record
            data.put16(0x032D); data.put16(45); data.put32(0); data.put32(0)
            data.put64(count); data.put64(count); data.put64(cdSize); data.put64(cdOffset)
            data.put32(ZipDirectory.zip64LocatorSignature); data.put32(0); data.put64(record); data.put32(1)
        }
        data.put32(ZipDirectory.eocdSignature)
        data.put16(0); data.put16(0)
        data.put16(min(count, 0xFFFF)); data.put16(min(count, 0xFFFF))
        data.put32(min(cdSize, 0xFFFF_FFFF)); data.put32(min(cdOffset, 0xFFFF_FFFF))
        data.put16(0)
        return data
    }
}

private extension Data {
    mutating func put16(_ v: Int) { Swift.withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian) { append(contentsOf: $0) } }
    mutating func put32(_ v: Int) { Swift.withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian) { append(contentsOf: $0) } }
    mutating func put64(_ v: Int) { Swift.withUnsafeBytes(of: UInt64(truncatingIfNeeded: v).littleEndian) { append(contentsOf: $0) } }
}

import Foundation

/// Builds a zip archive of stored (uncompressed) members in memory, as Python's `zipfile` and
/// therefore `np.load` read it. ZIP64 fields are written only where a size, offset or the member
/// count needs them. Timestamps are fixed (1980-01-01 00:00), so equal input gives equal bytes.
struct ZipWriter {
    private(set) var data = Data()
    private var central = Data()
    private var count = 0

    init(reservingCapacity capacity: Int = 0) {
        data.reserveCapacity(capacity)
    }

    /// Appends a stored member whose content is the concatenation of `parts`.
    mutating func addStored(name: String, parts: [[UInt8]]) {
        let size = parts.reduce(0) { $0 + $1.count }
        var crc: UInt32 = 0
        for part in parts { crc = part.withUnsafeBytes { ZipInflate.crc32($0, continuing: crc) } }
        let offset = data.count
        let nameBytes = Array(name.utf8)
        let flags = name.utf8.allSatisfy { $0 < 0x80 } ? 0 : 0x0800  // bit 11: UTF-8 name
        let bigSize = size >= 0xFFFF_FFFF, bigOffset = offset >= 0xFFFF_FFFF
        let needed = bigSize || bigOffset ? 45 : 20

        // Local header: the ZIP64 extra holds both sizes when either is too large.
        var localExtra = Data()
        if bigSize { localExtra.put16(1); localExtra.put16(16); localExtra.put64(size); localExtra.put64(size) }
        data.put32(ZipDirectory.localSignature)
        data.put16(needed); data.put16(flags); data.put16(0)          // version, flags, method: stored
        data.put16(0); data.put16(0x21)                                 // time 00:00, date 1980-01-01
        data.put32(Int(crc))
        data.put32(bigSize ? 0xFFFF_FFFF : size); data.put32(bigSize ? 0xFFFF_FFFF : size)
        data.put16(nameBytes.count); data.put16(localExtra.count)
        data.append(contentsOf: nameBytes); data.append(localExtra)
        for part in parts { data.append(contentsOf: part) }

        // Central record: the ZIP64 extra holds only the fields whose 32-bit slots are saturated.
        var extra = Data()
        if bigSize || bigOffset {
            extra.put16(1); extra.put16((bigSize ? 16 : 0) + (bigOffset ? 8 : 0))
            if bigSize { extra.put64(size); extra.put64(size) }
            if bigOffset { extra.put64(offset) }
        }
        central.put32(ZipDirectory.centralSignature)
        central.put16(0x0314); central.put16(needed); central.put16(flags); central.put16(0)  // made by Unix 2.0
        central.put16(0); central.put16(0x21)
        central.put32(Int(crc))
        central.put32(bigSize ? 0xFFFF_FFFF : size); central.put32(bigSize ? 0xFFFF_FFFF : size)
        central.put16(nameBytes.count); central.put16(extra.count); central.put16(0)  // comment length
        central.put16(0); central.put16(0); central.put32(0o100644 << 16)             // disk, attributes
        central.put32(bigOffset ? 0xFFFF_FFFF : offset)
        central.append(contentsOf: nameBytes); central.append(extra)
        count += 1
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

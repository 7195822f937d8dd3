import BlindspotCore
import Foundation

/// One member of a zip archive, after its central-directory record and local header have been
/// checked against each other and against the file's bounds.
struct ZipEntry: Sendable {
    var name: String
    var method: Int            // 0 stored, 8 deflate
    var flags: Int
    var crc: UInt32
    var compressedSize: Int
    var uncompressedSize: Int
    var headerOffset: Int      // local file header
    var dataOffset: Int        // first byte of the member's (compressed) data
}

/// Parses a zip archive's directory from the end: EOCD record (searched in the last 65,557 bytes),
/// ZIP64 locator and record, central directory, ZIP64 extra fields, local headers. Every offset and
/// size is validated against the buffer before use; anything outside, overlapping, encrypted,
/// multi-disk or of an unsupported method is a `badInput` error.
enum ZipDirectory {
    static let eocdSignature = 0x0605_4b50
    static let zip64LocatorSignature = 0x0706_4b50
    static let zip64RecordSignature = 0x0606_4b50
    static let centralSignature = 0x0201_4b50
    static let localSignature = 0x0403_4b50

    static func parse(_ b: ZipBytes) throws -> [ZipEntry] {
        func bad(_ problem: String) -> BlindspotError { .badInput(file: b.file, problem: problem) }
        let eocd = try findEOCD(b)
        var disk = b.u16(eocd + 4), cdDisk = b.u16(eocd + 6)
        var entriesHere = b.u16(eocd + 8), entries = b.u16(eocd + 10)
        var cdSize = b.u32(eocd + 12), cdOffset = b.u32(eocd + 16)
        var cdLimit = eocd  // the central directory must end before this offset
        if eocd >= 20 && b.u32(eocd - 20) == zip64LocatorSignature {
            let locatorDisk = b.u32(eocd - 16), record = b.u64(eocd - 12), disks = b.u32(eocd - 4)
            guard locatorDisk == 0 && disks <= 1 else {
                throw bad("is a multi-disk (split) zip archive, which is not supported (join the parts into one file)")
            }
            guard b.contains(record, 56), record + 56 <= eocd - 20, b.u32(record) == zip64RecordSignature else {
                throw bad("ZIP64 end-of-central-directory record is missing or outside the file (truncated or corrupt archive; re-create it)")
            }
            disk = b.u32(record + 16); cdDisk = b.u32(record + 20)
            entriesHere = b.u64(record + 24); entries = b.u64(record + 32)
            cdSize = b.u64(record + 40); cdOffset = b.u64(record + 48)
            cdLimit = record
        }
        guard disk == 0 && cdDisk == 0 && entriesHere == entries else {
            throw bad("is a multi-disk (split) zip archive, which is not supported (join the parts into one file)")
        }
        guard entries <= ZipLimits.maxEntries else {
            throw bad("declares \(entries) members, more than the \(ZipLimits.maxEntries) allowed (hostile or corrupt archive)")
        }
        guard cdOffset <= cdLimit && cdSize <= cdLimit - cdOffset else {
            throw bad("central directory (offset \(cdOffset), \(cdSize) bytes) lies outside the file (truncated or corrupt archive; re-create it)")
        }
        guard entries * 46 <= cdSize else {
            throw bad("central directory of \(cdSize) bytes cannot hold the \(entries) members it declares (corrupt archive; re-create it)")
        }
        let list = try centralDirectory(b, offset: cdOffset, size: cdSize, entries: entries)
        try checkLayout(b, list, dataLimit: cdOffset)
        // Each size is at most 4 GiB and there are at most 100,000: the sum cannot overflow.
        let total = list.reduce(0) { $0 + $1.uncompressedSize }
        guard total <= ZipLimits.maxTotalSize else {
            throw bad("members declare \(total) bytes in all, more than the \(ZipLimits.maxTotalSize >> 30) GiB allowed per archive (likely a zip bomb, refused)")
        }
        return list
    }

    /// The EOCD record's offset: the last signature in the final 65,557 bytes whose comment fits the file.
    static func findEOCD(_ b: ZipBytes) throws -> Int {
        let n = b.buf.count
        guard n >= 22 else {
            throw BlindspotError.badInput(file: b.file, problem: "file is \(n) bytes, too short to be a zip archive (truncated; re-create it)")
        }
        var p = n - 22
        let lowest = max(0, n - 22 - 65535)
        while p >= lowest {
            if b.buf[p] == 0x50 && b.u32(p) == eocdSignature && p + 22 + b.u16(p + 20) <= n { return p }
            p -= 1
        }
        throw BlindspotError.badInput(file: b.file, problem: "no zip end-of-central-directory record (not a zip archive, or truncated; re-create it)")
    }

    private static func centralDirectory(_ b: ZipBytes, offset: Int, size: Int, entries: Int) throws -> [ZipEntry] {
        var list: [ZipEntry] = []
        list.reserveCapacity(entries)
        var names = Set<String>()
        var pos = offset
        let end = offset + size
        for i in 0 ..< entries {
            guard pos + 46 <= end, b.u32(pos) == centralSignature else {
                throw BlindspotError.badInput(file: b.file, problem: "central directory record \(i + 1) of \(entries) is corrupt (re-create the archive)")
            }
            let nameLength = b.u16(pos + 28), extraLength = b.u16(pos + 30), commentLength = b.u16(pos + 32)
            guard pos + 46 + nameLength + extraLength + commentLength <= end else {
                throw BlindspotError.badInput(file: b.file, problem: "central directory record \(i + 1) runs past the directory's end (corrupt archive; re-create it)")
            }
            let name = String(decoding: b.slice(pos + 46, nameLength), as: UTF8.self)
            let member = "\(b.file):\(ZipFileIO.display(name))"
            guard !escapesArchive(name) else {
                throw BlindspotError.badInput(file: member, problem: "member name points outside the archive (an absolute path or '..'; a path-traversal attempt, refused)")
            }
            var usize = b.u32(pos + 24), csize = b.u32(pos + 20), local = b.u32(pos + 42), disk = b.u16(pos + 34)
            let z = try zip64Extra(b, at: pos + 46 + nameLength, length: extraLength, member: member,
                                   usize: usize == 0xFFFF_FFFF, csize: csize == 0xFFFF_FFFF,
                                   offset: local == 0xFFFF_FFFF, disk: disk == 0xFFFF)
            usize = z.usize ?? usize; csize = z.csize ?? csize; local = z.offset ?? local; disk = z.disk ?? disk
            let entry = ZipEntry(name: name, method: b.u16(pos + 10), flags: b.u16(pos + 8),
                                 crc: UInt32(b.u32(pos + 16)), compressedSize: csize, uncompressedSize: usize,
                                 headerOffset: local, dataOffset: 0)
            guard disk == 0 else {
                throw BlindspotError.badInput(file: member, problem: "member starts on disk \(disk) of a multi-disk archive, which is not supported (join the parts into one file)")
            }
            try checkMember(entry, member: member)
            guard names.insert(name).inserted else {
                throw BlindspotError.badInput(file: member, problem: "the archive holds two members with this name (ambiguous, possibly hostile; re-create the archive)")
            }
            list.append(try resolveLocalHeader(b, entry, nameBytes: b.slice(pos + 46, nameLength), member: member))
            pos += 46 + nameLength + extraLength + commentLength
        }
        return list
    }

    /// True for a member name that would land outside the directory it is extracted to: absolute
    /// (`/x`, `\\x`, `C:x`) or with a `..` component. blindspot never extracts members, but such a
    /// name in a checkpoint is a sign of a crafted archive and would become a tensor name.
    static func escapesArchive(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        if let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "\\") { return true }
        if bytes.count >= 2, bytes[1] == UInt8(ascii: ":"), (bytes[0] | 0x20) >= UInt8(ascii: "a"), (bytes[0] | 0x20) <= UInt8(ascii: "z") { return true }
        return name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).contains("..")
    }

    /// Flags, method and size limits of one member (before any byte of it is read).
    private static func checkMember(_ e: ZipEntry, member: String) throws {
        func bad(_ problem: String) -> BlindspotError { .badInput(file: member, problem: problem) }
        if e.flags & 0x41 != 0 || e.method == 99 {
            throw bad("member is encrypted, which is not supported (re-create the archive without a password)")
        }
        guard e.method == 0 || e.method == 8 else {
            throw bad("compression method \(e.method) is not supported (only stored and deflate; re-save with np.savez or zip -Z deflate)")
        }
        guard e.uncompressedSize <= ZipLimits.maxMemberSize else {
            throw bad("member declares \(e.uncompressedSize) bytes, more than the \(ZipLimits.maxMemberSize >> 30) GiB allowed per member (split the array)")
        }
        if e.method == 0 && e.compressedSize != e.uncompressedSize {
            throw bad("stored member declares \(e.compressedSize) stored but \(e.uncompressedSize) uncompressed bytes (corrupt archive; re-create it)")
        }
        let (ratioLimit, huge) = e.compressedSize.multipliedReportingOverflow(by: ZipLimits.maxCompressionRatio)
        if e.method == 8 && !huge && e.uncompressedSize > ratioLimit {
            throw bad("absurd compression ratio: \(e.compressedSize) bytes declared to inflate to \(e.uncompressedSize) (more than \(ZipLimits.maxCompressionRatio):1; likely a zip bomb, refused)")
        }
    }

    /// Values from a ZIP64 extended-information extra field (tag 1): only the fields whose
    /// 32/16-bit counterparts hold the all-ones sentinel are present, in this order.
    static func zip64Extra(_ b: ZipBytes, at start: Int, length: Int, member: String,
                           usize: Bool, csize: Bool, offset: Bool, disk: Bool) throws
        -> (usize: Int?, csize: Int?, offset: Int?, disk: Int?)
    {
        var result: (usize: Int?, csize: Int?, offset: Int?, disk: Int?) = (nil, nil, nil, nil)
        var p = start
        let end = start + length
        while p + 4 <= end {
            let tag = b.u16(p), size = b.u16(p + 2)
            guard p + 4 + size <= end else {
                throw BlindspotError.badInput(file: member, problem: "extra field runs past its record (corrupt archive; re-create it)")
            }
            if tag == 1 {
                var q = p + 4
                let fieldEnd = q + size
                func take(_ want: Bool, _ width: Int) throws -> Int? {
                    guard want else { return nil }
                    guard q + width <= fieldEnd else {
                        throw BlindspotError.badInput(file: member, problem: "ZIP64 extra field is too short for the sizes it must hold (corrupt archive; re-create it)")
                    }
                    defer { q += width }
                    return width == 8 ? b.u64(q) : b.u32(q)
                }
                result = (try take(usize, 8), try take(csize, 8), try take(offset, 8), try take(disk, 4))
                return result
            }
            p += 4 + size
        }
        if usize || csize || offset || disk {
            throw BlindspotError.badInput(file: member, problem: "sizes are marked ZIP64 but the ZIP64 extra field is missing (corrupt archive; re-create it)")
        }
        return result
    }

    /// Checks the local header against the central record and returns the entry with its data offset.
    private static func resolveLocalHeader(_ b: ZipBytes, _ e: ZipEntry, nameBytes: UnsafeRawBufferPointer,
                                           member: String) throws -> ZipEntry {
        func bad(_ problem: String) -> BlindspotError { .badInput(file: member, problem: problem) }
        let h = e.headerOffset
        guard b.contains(h, 30), b.u32(h) == localSignature else {
            throw bad("local header at offset \(h) is missing or outside the file (truncated or corrupt archive; re-create it)")
        }
        let nameLength = b.u16(h + 26), extraLength = b.u16(h + 28)
        guard b.contains(h + 30, nameLength + extraLength) else {
            throw bad("local header runs past the end of the file (truncated archive; re-create it)")
        }
        guard nameLength == nameBytes.count,
              nameLength == 0 || memcmp(b.buf.baseAddress! + h + 30, nameBytes.baseAddress!, nameLength) == 0 else {
            throw bad("local header names a different member than the central directory (corrupt or hostile archive; re-create it)")
        }
        let flags = b.u16(h + 6)
        guard b.u16(h + 8) == e.method, flags & 0x41 == 0 else {
            throw bad("local header disagrees with the central directory on method or encryption (corrupt or hostile archive; re-create it)")
        }
        if flags & 0x08 == 0 {  // no data descriptor: the local sizes must agree with the central ones
            var usize = b.u32(h + 22), csize = b.u32(h + 18)
            let z = try zip64Extra(b, at: h + 30 + nameLength, length: extraLength, member: member,
                                   usize: usize == 0xFFFF_FFFF, csize: csize == 0xFFFF_FFFF, offset: false, disk: false)
            usize = z.usize ?? usize; csize = z.csize ?? csize
            guard usize == e.uncompressedSize && csize == e.compressedSize else {
                throw bad("local header sizes (\(csize)/\(usize)) disagree with the central directory (\(e.compressedSize)/\(e.uncompressedSize)) (corrupt or hostile archive; re-create it)")
            }
        }
        var resolved = e
        resolved.dataOffset = h + 30 + nameLength + extraLength
        guard b.contains(resolved.dataOffset, e.compressedSize) else {
            throw bad("member data (\(e.compressedSize) bytes at offset \(resolved.dataOffset)) lies outside the file (truncated archive; re-create it)")
        }
        return resolved
    }

    /// Members must lie before the central directory and must not overlap one another.
    private static func checkLayout(_ b: ZipBytes, _ list: [ZipEntry], dataLimit: Int) throws {
        let sorted = list.sorted { $0.headerOffset < $1.headerOffset }
        for (i, e) in sorted.enumerated() {
            let end = e.dataOffset + e.compressedSize
            let next = i + 1 < sorted.count ? sorted[i + 1].headerOffset : dataLimit
            guard end <= next else {
                let what = i + 1 < sorted.count ? "overlaps the next member" : "runs into the central directory"
                throw BlindspotError.badInput(file: "\(b.file):\(ZipFileIO.display(e.name))",
                                              problem: "member data \(what) (corrupt or hostile archive, e.g. an overlapping zip bomb; re-create it)")
            }
        }
    }
}

import BlindspotCore
import Foundation

/// Limits that the zip reader enforces on every archive, before reading any member's data.
public enum ZipLimits {
    /// Largest uncompressed member (a single array or weights file): 4 GiB.
    public static let maxMemberSize = 4 << 30
    /// Largest declared uncompressed/compressed ratio of a deflated member. Deflate's own maximum
    /// is about 1032:1, so only near-pathological streams (zip bombs, huge all-zero blocks) exceed it.
    public static let maxCompressionRatio = 1000
    /// Most members in one archive.
    public static let maxEntries = 100_000
    /// Most bytes all members together may declare once inflated: 8 GiB. NPZ archives are inflated
    /// member by member and kept in memory, so this bounds what one archive can make us hold even
    /// when every member stays under `maxCompressionRatio` (a 10 MB file could otherwise inflate to
    /// 10 GB). Twice the largest checkpoint (`InputLimits.maxTensorBytes`), so that a training set
    /// of 2³² pixels (`TrainingSetFile.maximumPixels`) with its labels still fits.
    public static let maxTotalSize = 8 << 30
}

/// A minimal, hostile-input-safe zip reader for NPZ archives and Keras 3 `.keras` files (which hold
/// `config.json` and `model.weights.h5`). The whole file is read once; the directory is parsed from
/// the end-of-central-directory record (ZIP64 included) and every member is checked for bounds,
/// overlap, encryption, method (stored or deflate only) and the limits in `ZipLimits` up front.
/// Reading a member inflates it with a hard cap at its declared size and verifies its CRC-32.
///
/// Errors are `BlindspotError.badInput` naming `file` (or `file:member` for one member's problem).
public struct ZipArchive: Sendable {
    /// The path (or label) given by the user, used in messages.
    public let file: String
    let bytes: [UInt8]
    let entries: [ZipEntry]
    private let index: [String: Int]

    /// Reads and indexes the archive at `path` (`missingInput` if it cannot be read).
    public init(path: String) throws {
        try self.init(data: try ZipFileIO.readAll(path: path), file: path)
    }

    /// Indexes an archive held in memory; `file` names it in messages.
    public init(data: [UInt8], file: String) throws {
        self.file = file
        self.bytes = data
        self.entries = try data.withUnsafeBytes { try ZipDirectory.parse(ZipBytes(buf: $0, file: file)) }
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() { index[e.name] = i }
        self.index = index
    }

    /// Member names in central-directory order (directories included, with their trailing `/`).
    public var entryNames: [String] { entries.map(\.name) }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// The declared uncompressed size of a member, or nil if there is no such member.
    public func uncompressedSize(of name: String) -> Int? { index[name].map { entries[$0].uncompressedSize } }

    /// A member's bytes, inflated if needed, checked against its declared size and CRC-32.
    public func read(_ name: String) throws -> [UInt8] {
        guard let i = index[name] else {
            throw BlindspotError.badInput(file: file, problem: "the archive has no member named \(ZipFileIO.display(name)) (is this the right kind of file?)")
        }
        return try withContents(of: i) { Array($0) }
    }

    /// `file:member`, the name used in messages about one member.
    func memberLabel(_ i: Int) -> String { "\(file):\(ZipFileIO.display(entries[i].name))" }

    /// Calls `body` with member `i`'s verified bytes, without copying stored members.
    func withContents<R>(of i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let e = entries[i]
        let member = memberLabel(i)
        return try bytes.withUnsafeBytes { all in
            let raw = UnsafeRawBufferPointer(rebasing: all[e.dataOffset ..< e.dataOffset + e.compressedSize])
            if e.method == 0 {
                try checkCRC(raw, e, member)
                return try body(raw)
            }
            return try ZipInflate.inflate(raw, expected: e.uncompressedSize, member: member) { out in
                try checkCRC(out, e, member)
                return try body(out)
            }
        }
    }

    private func checkCRC(_ data: UnsafeRawBufferPointer, _ e: ZipEntry, _ member: String) throws {
        let crc = ZipInflate.crc32(data)
        guard crc == e.crc else {
            throw BlindspotError.badInput(file: member, problem: String(
                format: "CRC-32 mismatch (stored %08x, computed %08x): the member is corrupt (re-create the archive)", e.crc, crc))
        }
    }
}

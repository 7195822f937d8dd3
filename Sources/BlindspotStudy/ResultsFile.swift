import BlindspotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `results.jsonl`: one `StudyResultLine` per line. A job's lines are appended with one
/// `write(2)` and an `fsync`, so a crash loses at most the job that was being written. A line
/// counts only once its newline is on disk: a last line without one (a run killed mid-write) is
/// left out with a warning, and a resuming run cuts it off before appending and redoes its job.
public enum ResultsFile {
    public struct Contents: Sendable {
        public var lines: [StudyResultLine]
        /// Bytes after the last newline (an interrupted write), if any.
        public var truncatedTail: Int
    }

    /// Parses the file; a missing file is empty. A complete line that is not a result is an
    /// error (65) naming the line; an incomplete last line is reported in `truncatedTail`.
    public static func read(_ path: String) throws -> Contents {
        guard FileManager.default.fileExists(atPath: path) else { return Contents(lines: [], truncatedTail: 0) }
        guard let data = FileManager.default.contents(atPath: path) else { throw BlindspotError.missingInput(file: path, problem: "not readable") }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String) throws -> Contents {
        let bytes = [UInt8](data)
        let end = (bytes.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
        var lines: [StudyResultLine] = []
        let decoder = JSONDecoder()
        var start = 0, number = 0
        while start < end {
            let stop = bytes[start..<end].firstIndex(of: 0x0A)!
            number += 1
            let slice = bytes[start..<stop]
            start = stop + 1
            if slice.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { continue }
            do {
                lines.append(try decoder.decode(StudyResultLine.self, from: Data(slice)))
            } catch {
                throw BlindspotError.badInput(file: path, problem: "line \(number) is not a study result (\(shortDescription(error))); remove it or start a new --out folder")
            }
        }
        return Contents(lines: lines, truncatedTail: bytes.count - end)
    }

    /// Cuts an interrupted last line off (rewriting the file atomically); returns the lines.
    public static func readRepairing(_ path: String, progress: ProgressReporter) throws -> [StudyResultLine] {
        let c = try read(path)
        if c.truncatedTail > 0 {
            progress.report("study: \(path): the last line is incomplete (\(c.truncatedTail) bytes, an interrupted run); dropping it and redoing its job")
            let data = FileManager.default.contents(atPath: path) ?? Data()
            try AtomicFile.write(data.prefix(data.count - c.truncatedTail), to: path)
        }
        return c.lines
    }

    /// Appends lines with one write and an fsync.
    public static func append(_ lines: [StudyResultLine], to path: String) throws {
        guard !lines.isEmpty else { return }
        var data = Data()
        for l in lines { data.append(try l.jsonLine()); data.append(0x0A) }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BlindspotError.cannotCreate(file: path, problem: String(cString: strerror(errno))) }
        defer { close(fd) }
        try data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BlindspotError.io(file: path, problem: "cannot append: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw BlindspotError.io(file: path, problem: "fsync failed: \(String(cString: strerror(errno)))") }
    }

    /// The whole file rewritten atomically (`--collect --out`), sorted and deduplicated.
    public static func write(_ lines: [StudyResultLine], to path: String) throws {
        var data = Data()
        for l in lines { data.append(try l.jsonLine()); data.append(0x0A) }
        try AtomicFile.write(data, to: path)
    }

    /// Lines from many folders merged: deduplicated by key (the first folder given wins) and
    /// sorted, so the summary does not depend on how the work was sharded.
    public static func merge(_ sets: [[StudyResultLine]]) -> (lines: [StudyResultLine], duplicates: Int) {
        var seen = Set<String>(), out: [StudyResultLine] = [], duplicates = 0
        for set in sets { for l in set { if seen.insert(l.key).inserted { out.append(l) } else { duplicates += 1 } } }
        return (out.sorted(by: canonicalOrder), duplicates)
    }

    /// Grid, seed, model, precision (table order), defense, then key.
    static func canonicalOrder(_ a: StudyResultLine, _ b: StudyResultLine) -> Bool {
        if a.grid != b.grid { return a.grid < b.grid }
        if a.seed != b.seed { return a.seed < b.seed }
        if a.model != b.model { return a.model == .backdoored }
        if a.precision != b.precision { return StudyPrecision.order(a.precision, b.precision) }
        if a.defense != b.defense { return a.defense < b.defense }
        return a.key < b.key
    }

    static func shortDescription(_ e: Error) -> String {
        switch e {
        case DecodingError.keyNotFound(let k, _): return "missing field \(k.stringValue)"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let c):
            return c.codingPath.isEmpty ? "not JSON" : "bad value at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(e)"
        }
    }
}

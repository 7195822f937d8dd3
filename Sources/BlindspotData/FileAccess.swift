import BlindspotCore
import Foundation

/// Small file-system helpers for the loaders: existence checks and whole-file reads that check
/// the size before allocating, so a hostile or mistaken path never makes us allocate gigabytes.
enum FileAccess {
    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    static func isFile(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
    }

    static func join(_ dir: String, _ parts: String...) -> String {
        var p = dir
        for part in parts {
            if p.isEmpty || p.hasSuffix("/") { p += part } else { p += "/" + part }
        }
        return p
    }

    /// The whole file; `missingInput` if absent, `badInput` if larger than `maxBytes` or if
    /// `checkSize` (called with the size before anything is allocated) throws, `io` on a read error.
    static func read(_ path: String, maxBytes: Int, expected: String,
                     checkSize: (Int) throws -> Void = { _ in }) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK)   // a FIFO must not block us; regular files ignore it
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw BlindspotError.missingInput(file: path, problem: "cannot open (\(reason); expected \(expected))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw BlindspotError.io(file: path, problem: "cannot stat (\(String(cString: strerror(errno))))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw BlindspotError.missingInput(file: path, problem: "is not a regular file (expected \(expected))")
        }
        let size = Int(st.st_size)
        guard size <= maxBytes else {
            throw BlindspotError.badInput(file: path, problem: "file is \(size) bytes, more than the \(maxBytes) allowed (expected \(expected))")
        }
        try checkSize(size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        try bytes.withUnsafeMutableBytes { buf in
            while done < size {
                let n = posixRead(fd, buf.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BlindspotError.io(file: path, problem: "read failed (\(String(cString: strerror(errno))))")
                }
                if n == 0 { break }
                done += n
            }
        }
        guard done == size else {
            throw BlindspotError.io(file: path, problem: "file shrank while reading (\(done) of \(size) bytes; retry)")
        }
        return bytes
    }

    /// Non-empty trimmed lines of a small UTF-8 text file (class-name lists).
    static func lines(_ path: String, expected: String) throws -> [String] {
        let bytes = try read(path, maxBytes: 1 << 20, expected: expected)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw BlindspotError.badInput(file: path, problem: "not UTF-8 text (expected \(expected))")
        }
        return text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }
}

#if canImport(Glibc)
import Glibc
private func posixRead(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ n: Int) -> Int { Glibc.read(fd, buf, n) }
#else
import Darwin
private func posixRead(_ fd: Int32, _ buf: UnsafeMutableRawPointer, _ n: Int) -> Int { Darwin.read(fd, buf, n) }
#endif

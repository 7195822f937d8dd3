import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads for untrusted inputs (checkpoints, data sets): the size is checked before
/// anything is allocated, so a hostile or mistaken path never makes us allocate gigabytes, and a
/// FIFO or device never blocks us.
public enum BoundedFile {
    /// The file's bytes. `missingInput` if absent, unreadable or not a regular file; `badInput` if
    /// larger than `maxBytes` or if `checkSize` (given the size before allocation) throws; `io` on
    /// a read error. `expected` says what the file should be, for the messages.
    public static func read(_ path: String, maxBytes: Int, expected: String,
                            checkSize: (Int) throws -> Void = { _ in }) throws -> [UInt8] {
        let (fd, size) = try openRegularFile(path, expected: expected)
        defer { close(fd) }
        guard size <= maxBytes else {
            throw BlindspotError.badInput(file: path, problem: "file is \(size) bytes, more than the \(maxBytes) allowed (expected \(expected))")
        }
        try checkSize(size)
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { out, initialized in
            var done = 0
            while done < size {
                let n = Glibc.read(fd, out.baseAddress! + done, min(size - done, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break
                }
                if n == 0 { break }
                done += n
            }
            initialized = done
        }
        if failure != 0 {
            throw BlindspotError.io(file: path, problem: "read failed (\(String(cString: strerror(failure))); check the disk)")
        }
        guard bytes.count == size else {
            throw BlindspotError.io(file: path, problem: "file shrank while reading (\(bytes.count) of \(size) bytes; retry)")
        }
        return bytes
    }

    /// The first `count` bytes of a regular file (fewer if it is shorter), for telling formats
    /// apart; the same refusals as `read` (a FIFO or device is refused, never waited on).
    public static func readPrefix(_ path: String, count: Int, expected: String) throws -> [UInt8] {
        let (fd, _) = try openRegularFile(path, expected: expected)
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw BlindspotError.io(file: path, problem: "read failed (\(String(cString: strerror(errno))); check the disk)") }
            if n == 0 { break }
            done += n
        }
        return Array(out[0 ..< done])
    }

    /// Opens `path` read-only without blocking and checks that it is a regular file; returns the
    /// descriptor (the caller closes it) and the size.
    private static func openRegularFile(_ path: String, expected: String) throws -> (fd: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_NONBLOCK)   // a FIFO must not block us; regular files ignore it
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw BlindspotError.missingInput(file: path, problem: "cannot open (\(reason); expected \(expected))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw BlindspotError.io(file: path, problem: "cannot stat (\(reason))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw BlindspotError.missingInput(file: path, problem: "is not a regular file (expected \(expected))")
        }
        return (fd, Int(st.st_size))
    }
}

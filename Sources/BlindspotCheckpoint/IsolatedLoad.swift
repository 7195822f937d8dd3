import BlindspotCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading HDF5 in a child process (issue 9). libhdf5 is C with a long record of crashes and
/// hangs on crafted files, and an audit tool opens untrusted files. So the CLI reads every file
/// that reaches libhdf5 (legacy Keras `.h5`, the weights inside a `.keras`, our native `.h5`) in a
/// child process of its own binary, under a time limit and an address-space limit. The child loads
/// the checkpoint as usual and hands it back as our native NPZ — parsed here by our own, fuzzed
/// readers, never by libhdf5 — plus the fields that format does not carry. A crash, hang or runaway
/// allocation in the child becomes one line and exit 65; nothing partial is ever used.
///
/// Library users and tests load in-process (`helper` nil) unless they opt in.
public enum IsolatedLoad {
    /// The command that reads one file in a child: executable and leading arguments; the child is
    /// run as `helper + [checkpoint, outputNPZ]`. Set once by the CLI before any work starts;
    /// nil (the default) loads in-process.
    nonisolated(unsafe) public static var helper: [String]? = nil

    /// Wall-clock limit for the child. A legitimate load of a large model takes seconds; a
    /// libhdf5 loop on a crafted file never ends.
    public static let timeLimitSeconds = 120.0
    /// Address-space limit (RLIMIT_AS) for the child: above any checkpoint blindspot would audit
    /// (the loaders refuse more than 4 GiB of tensors) with room for the runtime's reservations.
    public static let addressSpaceLimitBytes: UInt64 = 16 << 30

    /// What the child reports beside the NPZ: the fields the native format does not hold, or the
    /// error it refused the file with.
    struct Sidecar: Codable {
        var format: CheckpointFormat?
        var architectureSource: String?
        var storedTypes: [String: String]?
        var weightQuantization: [String: String]?
        var warnings: [String]?
        var error: BlindspotError?
    }

    /// Parent side: runs `helper` on `path` and returns the checkpoint it read, or throws the
    /// child's own error, or a `badInput` naming the signal or the time limit.
    public static func load(_ path: String, helper: [String], timeLimit: Double = timeLimitSeconds) throws -> Checkpoint {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("blindspot-load-\(getpid())-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("checkpoint.npz").path

        let p = Process()
        p.executableURL = URL(fileURLWithPath: helper[0])
        p.arguments = Array(helper.dropFirst()) + [path, out]
        // The child's own output (a crash dump, libhdf5's error stack) would break the one-line rule.
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        do { try p.run() } catch {
            throw BlindspotError.internalError("cannot start the HDF5 reader process \(helper[0]): \(error)")
        }
        if done.wait(timeout: .now() + timeLimit) == .timedOut {
            kill(p.processIdentifier, SIGKILL)
            done.wait()
            throw BlindspotError.badInput(file: path, problem: "reading the file did not finish in \(Int(timeLimit)) s (the HDF5 library hangs on it: malformed or hostile file)")
        }
        if p.terminationReason == .uncaughtSignal {
            throw BlindspotError.badInput(file: path, problem: "the HDF5 library failed reading the file (signal \(p.terminationStatus)): malformed or hostile file")
        }
        let sidecar = FileManager.default.contents(atPath: out + ".json").flatMap { try? JSONDecoder().decode(Sidecar.self, from: $0) }
        if let e = sidecar?.error { throw e }
        guard p.terminationStatus == 0, let s = sidecar else {
            throw BlindspotError.badInput(file: path, problem: "the HDF5 reader process failed (exit \(p.terminationStatus)) without saying why: malformed or hostile file")
        }
        guard var c = try NativeFormat.readNPZ(try NPZ.read(path: out), path: path) else {
            throw BlindspotError.internalError("the HDF5 reader process returned no checkpoint for \(path)")
        }
        c.path = path
        if let f = s.format { c.format = f }
        if let a = s.architectureSource { c.architectureSource = a }
        c.storedTypes = s.storedTypes ?? [:]
        // The NPZ hand-over stores a deployed file's weights as int8 whatever the source held.
        c.weightQuantization = s.weightQuantization ?? [:]
        c.warnings = s.warnings ?? []
        return c
    }

    /// Child side (the CLI's hidden `__load-checkpoint` command): limits itself, loads `path`
    /// in-process, writes it to `out` as native NPZ with the sidecar, and returns the exit code.
    public static func serve(path: String, out: String) -> Int32 {
        var limit = rlimit(rlim_cur: rlim_t(addressSpaceLimitBytes), rlim_max: rlim_t(addressSpaceLimitBytes))
        _ = setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        var cpu = rlimit(rlim_cur: rlim_t(timeLimitSeconds), rlim_max: rlim_t(timeLimitSeconds + 5))
        _ = setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
        func write(_ s: Sidecar) {
            if let d = try? JSONEncoder().encode(s) { FileManager.default.createFile(atPath: out + ".json", contents: d) }
        }
        do {
            helper = nil
            let c = try CheckpointLoader.load(path)
            try NativeFormat.writeNPZ(c, to: out)
            write(Sidecar(format: c.format, architectureSource: c.architectureSource, storedTypes: c.storedTypes, weightQuantization: c.weightQuantization,
                          warnings: c.warnings))
            return 0
        } catch let e as BlindspotError {
            write(Sidecar(error: e))
            return e.exitCode
        } catch {
            write(Sidecar(error: .internalError("reading \(path): \(error)")))
            return 70
        }
    }
}

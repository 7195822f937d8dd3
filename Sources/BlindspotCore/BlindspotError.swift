/// The one error type that library code throws for conditions a user can cause. `main` maps it to
/// a single stderr line (`blindspot: FILE: problem (what to do)`) and an exit code from
/// shared/docs/mission.md. Bugs are `internalError`.
/// Codable so that a child process (the isolated HDF5 reader) can hand its error to the parent unchanged.
public enum BlindspotError: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    /// Bad option or combination of options (exit 64).
    case usage(String)
    /// Malformed, truncated or hostile input file (exit 65).
    case badInput(file: String, problem: String)
    /// Input file or directory missing or unreadable (exit 66).
    case missingInput(file: String, problem: String)
    /// A bug (exit 70).
    case internalError(String)
    /// An output file cannot be created (exit 73).
    case cannotCreate(file: String, problem: String)
    /// I/O error while reading or writing (exit 74).
    case io(file: String, problem: String)

    /// The process exit code of mission.md's table.
    public var exitCode: Int32 {
        switch self {
        case .usage: return 64
        case .badInput: return 65
        case .missingInput: return 66
        case .internalError: return 70
        case .cannotCreate: return 73
        case .io: return 74
        }
    }

    /// The one line printed after `blindspot: `.
    public var description: String {
        switch self {
        case .usage(let m): return m
        case .badInput(let f, let p), .missingInput(let f, let p), .cannotCreate(let f, let p), .io(let f, let p):
            return "\(f): \(p)"
        case .internalError(let m): return "internal error: \(m) (please report this as a bug)"
        }
    }
}

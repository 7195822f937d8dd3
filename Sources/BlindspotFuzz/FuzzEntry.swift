import BlindspotCheckpoint
import BlindspotCore
import Foundation

// Two builds of one harness (issue 9, "Fuzzing"):
// - `scripts/fuzz TARGET SECONDS` compiles it with `-sanitize=fuzzer,address -D BLINDSPOT_FUZZ`:
//   the entry point hands control to libFuzzer's driver (`LLVMFuzzerRunDriver`), which calls
//   `fuzzOneInput` per input; the target is read from `BLINDSPOT_FUZZ_TARGET`. (SwiftPM links an
//   executable's entry as `<Module>_main`, so libFuzzer's own `main` cannot be used directly.)
// - The normal build is a replayer: `blindspot-fuzz TARGET FILE…` runs saved inputs (crashes found,
//   corpus entries) through the same parser and prints each outcome.

#if BLINDSPOT_FUZZ
let fuzzTarget: UntrustedInputParsers.Target = {
    let name = ProcessInfo.processInfo.environment["BLINDSPOT_FUZZ_TARGET"] ?? ""
    guard let t = UntrustedInputParsers.Target(rawValue: name) else {
        fatalError("set BLINDSPOT_FUZZ_TARGET to one of \(UntrustedInputParsers.Target.allCases.map(\.rawValue))")
    }
    return t
}()

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
struct FuzzDriver {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        _ = fuzzTarget
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
    }
}

func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    do {
        try UntrustedInputParsers.parse(UnsafeRawBufferPointer(start: data, count: size), as: fuzzTarget)
    } catch is BlindspotError {
        // The expected outcome for most inputs: refused with one line.
    } catch {
        fatalError("\(fuzzTarget.rawValue): an error that is not a BlindspotError escaped: \(error)")
    }
    return 0
}
#else
@main
struct FuzzReplay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let first = args.first, let target = UntrustedInputParsers.Target(rawValue: first), args.count >= 2 else {
            FileHandle.standardError.write(Data("usage: blindspot-fuzz \(UntrustedInputParsers.Target.allCases.map(\.rawValue).joined(separator: "|")) FILE…\n".utf8))
            exit(64)
        }
        var unexpected = 0
        for path in args.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { print("\(path): unreadable"); unexpected += 1; continue }
            do {
                try data.withUnsafeBytes { try UntrustedInputParsers.parse($0, as: target) }
                print("\(path): parsed")
            } catch let e as BlindspotError {
                print("\(path): refused (exit \(e.exitCode)): \(e.description)")
            } catch {
                print("\(path): UNEXPECTED \(error)"); unexpected += 1
            }
        }
        exit(unexpected == 0 ? 0 : 1)
    }
}
#endif

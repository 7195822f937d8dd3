import ArgumentParser
import BlindspotCheckpoint
import BlindspotCore
import BlindspotData
import BlindspotTraining
import Foundation

@main
struct Blindspot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "blindspot",
        abstract: "Audit a neural-network checkpoint for backdoors at the precision it ships in.",
        discussion: "Exit codes: 0 success, 64 usage error, 65 bad input data, 66 missing input, 70 internal error, 73/74 output errors.",
        version: "0.1.0",
        subcommands: [Audit.self, Forge.self, StudyCommand.self, Train.self, Evaluate.self, Quantize.self, Inspect.self, Bench.self,
                      LoadCheckpointChild.self]
    )
}

/// Options every command that does long work shares.
struct CommonOptions: ParsableArguments {
    @Flag(name: .long, help: "Print no progress on stderr.")
    var quiet = false

    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be between 1 and 256") }
    }
}

/// The preprocessing a file may not record (mission.md: every command that runs a model takes these).
struct PreprocessingOptions: ParsableArguments {
    // `.unconditional`: `-1,1` is a value, not an option.
    @Option(parsing: .unconditional, help: "Input range the model was trained on: 0,1, 0,255 or -1,1 (any LO,HI). Overrides the file's preprocessing.")
    var inputRange: String?
    @Option(parsing: .unconditional, help: "Per-channel mean subtracted after the range, in its units and the model's channel order (e.g. 0.485,0.456,0.406).")
    var mean: String?
    @Option(help: "Per-channel std divided by after the mean (e.g. 0.229,0.224,0.225).")
    var std: String?
    @Option(help: "Channel order the model reads: rgb or bgr.")
    var channelOrder: String?
    @Flag(help: "Run even when the preprocessing cannot be discovered clearly or clean accuracy is below 2x chance.")
    var force = false

    func validate() throws {
        do { _ = try request() } catch let e as BlindspotError { throw ValidationError(e.description) }
    }

    func request() throws -> PreprocessingRequest {
        try PreprocessingRequest.parse(inputRange: inputRange, mean: mean, std: std, channelOrder: channelOrder)
    }

    /// Settles the checkpoint's preprocessing (options, file, or discovery on `test`), printing
    /// any warning on stderr.
    func resolve(_ c: inout Checkpoint, test: ImageSet) throws {
        for w in try CheckpointEvaluation.resolvePreprocessing(&c, request: request(), test: test, force: force) {
            FileHandle.standardError.write(Data("blindspot: warning: \(w)\n".utf8))
        }
    }
}

/// Runs a command body, turning library errors into one stderr line and mission.md's exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    // Files that reach libhdf5 are read in a child process of this binary (IsolatedLoad).
    IsolatedLoad.helper = [URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path, LoadCheckpointChild.configuration.commandName!]
    do {
        try body()
    } catch let e as BlindspotError {
        FileHandle.standardError.write(Data("blindspot: \(e.description)\n".utf8))
        throw ExitCode(e.exitCode)
    }
}

/// Writes `text` to stdout.
func emit(_ text: String) {
    FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}

/// JSON for machine readers: sorted keys, so output is deterministic.
func jsonString<T: Encodable>(_ value: T) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try enc.encode(value), as: UTF8.self)
}

/// `--train-images` / `--test-images`: a smaller synthetic set, for tests and laptops (and so the
/// job command lines `study --plan` prints reproduce a small grid exactly).
struct SyntheticSizeOptions: ParsableArguments {
    @Option(help: "Synthetic data only: training images (default 6000).") var trainImages: Int?
    @Option(help: "Synthetic data only: test images (default 2000).") var testImages: Int?

    func validate() throws {
        for n in [trainImages, testImages].compactMap({ $0 }) where n < 20 {
            throw ValidationError("--train-images and --test-images must be at least 20")
        }
    }

    var isSet: Bool { trainImages != nil || testImages != nil }

    /// `DataSource.resolve`, with the synthetic set's sizes when given.
    func load(_ data: String, directory: String?, seed: UInt64) throws -> DataSplit {
        guard isSet else { return try DataSource.resolve(data, directory: directory, seed: seed) }
        guard data == DatasetKind.synthetic.rawValue else { throw BlindspotError.usage("--train-images and --test-images apply to --data synthetic only") }
        return Datasets.synthetic(seed: seed, trainCount: trainImages ?? 6000, testCount: testImages ?? 2000)
    }
}

/// The child process of `IsolatedLoad`: reads one checkpoint that reaches libhdf5 under a time and
/// memory limit and hands it back as native NPZ. Not for users (hidden from --help).
struct LoadCheckpointChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "__load-checkpoint", shouldDisplay: false)
    @Argument var checkpoint: String
    @Argument var out: String

    func run() throws {
        let code = IsolatedLoad.serve(path: checkpoint, out: out)
        if code != 0 { throw ExitCode(code) }
    }
}

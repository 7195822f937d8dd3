import Foundation

/// The corpus of hostile and broken checkpoints in Tests/Fixtures/hostile (written by
/// scripts/make-hostile-fixtures.py) and what blindspot must answer for each, from its
/// manifest.json. Shared by the library test (CheckpointLoader throws, never traps) and the CLI
/// test (`blindspot inspect` exits with the code and prints one line).
public enum HostileCorpus {
    public struct Entry: Decodable, Sendable {
        /// Path relative to the corpus directory (controls point at fixtures elsewhere in Tests/).
        public var file: String
        /// Expected exit code: 0 for controls that must load, 65 bad input, 66 missing/unreadable.
        public var exit: Int32
        /// A fragment of the one error line, after `FILE: ` (empty for controls).
        public var message: String
        /// What is wrong with the file, for failure messages.
        public var why: String

        /// The absolute path of the file.
        public var path: String { HostileCorpus.directory.appendingPathComponent(file).standardizedFileURL.path }
    }

    private struct Manifest: Decodable { var files: [Entry] }

    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hostile")

    /// Every entry of the manifest, in its order.
    public static func entries() throws -> [Entry] {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: directory.appendingPathComponent("manifest.json"))).files
    }

    /// What is wrong with an error line for `entry`, or nil if it is right: `line` (the text after
    /// `blindspot: `, or a BlindspotError's description) must be one line that starts with the
    /// entry's path and contains its message fragment after the path.
    public static func problem(withErrorLine line: String, exitCode: Int32, for entry: Entry) -> String? {
        guard exitCode == entry.exit else { return "exit \(exitCode), expected \(entry.exit): \(line)" }
        guard !line.contains("\n") else { return "more than one line: \(line)" }
        guard line.hasPrefix(entry.path) else { return "does not start with the file's path: \(line)" }
        guard line.dropFirst(entry.path.count).contains(entry.message) else { return "lacks '\(entry.message)': \(line)" }
        return nil
    }
}

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

    /// The whole file, size-checked before allocation (see `BoundedFile.read`).
    static func read(_ path: String, maxBytes: Int, expected: String,
                     checkSize: (Int) throws -> Void = { _ in }) throws -> [UInt8] {
        try BoundedFile.read(path, maxBytes: maxBytes, expected: expected, checkSize: checkSize)
    }

    /// Class names from an optional one-name-a-line file: `defaults` when the file is absent,
    /// `badInput` when it does not hold exactly `defaults.count` names.
    static func classNames(_ path: String, defaults: [String], dataset: String) throws -> [String] {
        guard isFile(path) else { return defaults }
        let names = try lines(path, expected: "\(defaults.count) \(dataset) class names, one a line")
        guard names.count == defaults.count else {
            throw BlindspotError.badInput(file: path, problem: "has \(names.count) class names, \(dataset) has \(defaults.count) (fix the file or remove it to use the standard names)")
        }
        return names
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

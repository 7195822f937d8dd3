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

import BlindspotCore

/// What an `.npy` header says about the array that follows it.
struct NPYHeader: Equatable {
    var dtype: NPYArray.DType
    var bigEndian: Bool
    var fortranOrder: Bool
    var shape: [Int]
}

/// A strict parser for the Python-literal dict in an `.npy` header, e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`. It accepts exactly the keys
/// `descr`, `fortran_order` and `shape` (each once, any order), single or double quotes, any
/// spacing, trailing commas, and Python 2's `3L` integers. Nothing is evaluated.
struct NPYHeaderParser {
    /// Most dimensions accepted (numpy 2 allows 64).
    static let maxRank = 64

    private let text: UnsafeRawBufferPointer
    private let file: String
    private var pos = 0

    private init(_ text: UnsafeRawBufferPointer, file: String) {
        self.text = text
        self.file = file
    }

    static func parse(_ text: UnsafeRawBufferPointer, file: String) throws -> NPYHeader {
        var p = NPYHeaderParser(text, file: file)
        return try p.dictionary()
    }

    private func malformed(_ what: String) -> BlindspotError {
        .badInput(file: file, problem: "malformed .npy header (\(what) at byte \(pos) of the header dict; re-save the array with np.save)")
    }

    private var peek: UInt8? { pos < text.count ? text[pos] : nil }

    private mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d { pos += 1 }
    }

    private mutating func expect(_ c: Character) throws {
        skipSpace()
        guard peek == c.asciiValue else { throw malformed("expected '\(c)'") }
        pos += 1
    }

    private mutating func dictionary() throws -> NPYHeader {
        var descr: (NPYArray.DType, Bool)?, fortran: Bool?, shape: [Int]?
        try expect("{")
        while true {
            skipSpace()
            if peek == UInt8(ascii: "}") { pos += 1; break }
            let key = try string()
            try expect(":")
            skipSpace()
            switch key {
            case "descr" where descr == nil: descr = try NPYHeaderParser.dtype(descr: try descrValue(), file: file)
            case "fortran_order" where fortran == nil: fortran = try boolean()
            case "shape" where shape == nil: shape = try tuple()
            case "descr", "fortran_order", "shape": throw malformed("key '\(key)' appears twice")
            default: throw malformed("unexpected key '\(ZipFileIO.display(key))'")
            }
            skipSpace()
            if peek == UInt8(ascii: ",") { pos += 1; continue }
            try expect("}")
            break
        }
        skipSpace()
        guard pos == text.count else { throw malformed("unexpected bytes after the dict") }
        guard let (dtype, bigEndian) = descr, let fortran, let shape else {
            throw malformed("the keys descr, fortran_order and shape are required")
        }
        return NPYHeader(dtype: dtype, bigEndian: bigEndian, fortranOrder: fortran, shape: shape)
    }

    /// A quoted string without escapes, decoded as UTF-8 (ASCII in practice).
    private mutating func string() throws -> String {
        skipSpace()
        guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else { throw malformed("expected a quoted string") }
        pos += 1
        let start = pos
        while let c = peek, c != quote {
            guard c != UInt8(ascii: "\\") && c >= 0x20 else { throw malformed("unsupported character in a string") }
            pos += 1
        }
        guard peek == quote else { throw malformed("unterminated string") }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: text[start ..< pos]), as: UTF8.self)
        pos += 1
        return s
    }

    /// The descr value: a type string, or a list (a structured dtype, refused with its own message).
    private mutating func descrValue() throws -> String {
        if peek == UInt8(ascii: "[") || peek == UInt8(ascii: "{") {
            throw BlindspotError.badInput(file: file, problem: "structured (record) arrays are not supported (save each field as its own array)")
        }
        return try string()
    }

    private mutating func boolean() throws -> Bool {
        for (word, value) in [("True", true), ("False", false)] where matches(word) {
            pos += word.utf8.count
            return value
        }
        throw malformed("expected True or False")
    }

    private func matches(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard text.count - pos >= w.count else { return false }
        return w.indices.allSatisfy { text[pos + $0] == w[$0] }
    }

    /// `()`, `(3,)`, `(2, 3)`, `(2, 3,)`: non-negative integers.
    private mutating func tuple() throws -> [Int] {
        try expect("(")
        var dims: [Int] = []
        while true {
            skipSpace()
            if peek == UInt8(ascii: ")") { pos += 1; return dims }
            guard dims.count < NPYHeaderParser.maxRank else {
                throw BlindspotError.badInput(file: file, problem: "shape has more than \(NPYHeaderParser.maxRank) dimensions (corrupt or hostile file)")
            }
            dims.append(try integer())
            skipSpace()
            if peek == UInt8(ascii: ",") { pos += 1; continue }
            try expect(")")
            return dims
        }
    }

    private mutating func integer() throws -> Int {
        if peek == UInt8(ascii: "-") {
            throw BlindspotError.badInput(file: file, problem: "shape has a negative dimension (corrupt or hostile file)")
        }
        var value = 0, digits = 0
        while let c = peek, c >= 0x30 && c <= 0x39 {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(c - 0x30))
            guard !o1 && !o2 else {
                throw BlindspotError.badInput(file: file, problem: "shape has a dimension too large to represent (corrupt or hostile file)")
            }
            value = sum
            digits += 1
            pos += 1
        }
        guard digits > 0 else { throw malformed("expected a dimension") }
        if peek == UInt8(ascii: "L") || peek == UInt8(ascii: "l") { pos += 1 }  // Python 2 long
        return value
    }

    /// Maps a descr such as `<f4`, `>i8`, `|u1`, `|b1` to a dtype and byte order; refuses the rest.
    static func dtype(descr: String, file: String) throws -> (NPYArray.DType, bigEndian: Bool) {
        func refuse(_ problem: String) -> BlindspotError { .badInput(file: file, problem: problem) }
        var body = Substring(descr)
        var bigEndian = false
        if let first = body.first, "<>|=".contains(first) {
            bigEndian = first == ">"
            body = body.dropFirst()
        }
        guard let kind = body.first else { throw refuse("empty dtype in the .npy header (re-save the array with np.save)") }
        switch kind {
        case "O": throw refuse("object arrays are refused: unpickling can run code; re-save with a numeric dtype")
        case "V": throw refuse("structured (record) arrays are not supported (save each field as its own array)")
        case "S", "U", "a": throw refuse("string arrays are not supported (store text elsewhere, or encode it as uint8)")
        case "c": throw refuse("complex arrays are not supported (save the real and imaginary parts as separate float arrays)")
        case "M", "m": throw refuse("datetime arrays are not supported (save them as int64)")
        default: break
        }
        if let dtype = NPYArray.DType(rawValue: String(body)) { return (dtype, bigEndian) }
        let shown = ZipFileIO.display(descr)
        if kind == "u" || kind == "f" || kind == "i" {
            let target = kind == "f" ? "np.float32" : "np.int64"
            throw refuse("dtype '\(shown)' is not supported (convert with a.astype(\(target)))")
        }
        throw refuse("unknown dtype '\(shown)' in the .npy header (re-save with a numeric dtype)")
    }
}

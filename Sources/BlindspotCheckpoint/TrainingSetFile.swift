import BlindspotCore
import BlindspotData
import Foundation

/// The suspect training set as an NPZ file (`forge --export-train`, read by `audit --train-data`):
///
/// - `images`: uint8, N×H×W×C (RGB, numpy's image layout, as mission.md specifies) — N×C×H×W is
///   also accepted on reading when the second axis is 1 or 3;
/// - `labels`: integer, N — labels as trained (after poisoning);
/// - `original_labels` (optional): integer, N — labels before relabelling;
/// - `poison` (optional; `poisoned` also read): bool, N — the ground truth per sample;
/// - `__blindspot__` (optional): JSON as uint8 bytes — class names and the data set's name.
///
/// Anyone can build one with numpy (`np.savez(f, images=..., labels=...)`); the optional members
/// only add ground truth.
public enum TrainingSetFile {
    static let headerMember = "__blindspot__"
    /// Refuse sets larger than this many pixels (4 GiB of uint8) rather than allocate blindly.
    static let maximumPixels = 1 << 32

    struct Header: Codable {
        var format = "blindspot-training-set"
        var version = 1
        var name: String
        var classNames: [String]
    }

    public static func write(_ s: SuspectTrainingSet, to path: String) throws {
        let set = s.set
        let header = try JSONEncoder().encode(Header(name: set.name, classNames: set.classNames))
        var members: [(name: String, array: NPYArray)] = [
            ("images", NPYArray(uint8: interleaved(set), shape: [set.count, set.height, set.width, set.channels])),
            ("labels", NPYArray(int64: set.labels.map(Int64.init), shape: [set.count])),
        ]
        if let o = s.originalLabels { members.append(("original_labels", NPYArray(int64: o.map(Int64.init), shape: [o.count]))) }
        if let p = s.poisoned { members.append(("poison", NPYArray(dtype: .bool, shape: [p.count], data: p.map { $0 ? 1 : 0 }))) }
        members.append((headerMember, NPYArray(uint8: Array(header), shape: [header.count])))
        try NPZ.write(members, to: path, compressed: true)
    }

    /// N×C×H×W planar pixels → N×H×W×C.
    static func interleaved(_ set: ImageSet) -> [UInt8] {
        let (c, hw) = (set.channels, set.height * set.width)
        var out = [UInt8](repeating: 0, count: set.images.count)
        set.images.withUnsafeBufferPointer { src in
            for i in 0..<set.count { for ch in 0..<c { for p in 0..<hw { out[(i * hw + p) * c + ch] = src[(i * c + ch) * hw + p] } } }
        }
        return out
    }

    /// Reads a suspect training set; `classCount` (the model's) fixes the label range when the
    /// file names no classes.
    public static func read(_ path: String, classCount: Int? = nil) throws -> SuspectTrainingSet {
        let members = try NPZ.read(path: path)
        let byName = Dictionary(members.map { ($0.name, $0.array) }, uniquingKeysWith: { a, _ in a })
        guard let img = byName["images"] else {
            throw BlindspotError.badInput(file: path, problem: "no 'images' array (expected uint8 N×C×H×W; members: \(members.map(\.name).joined(separator: ", ")))")
        }
        guard byName["labels"] != nil else { throw BlindspotError.badInput(file: path, problem: "no 'labels' array") }
        guard img.dtype == .uint8, img.shape.count == 4 else {
            throw BlindspotError.badInput(file: path, problem: "'images' is \(img.dtype.numpyName) \(img.shape); expected uint8 N×C×H×W")
        }
        guard img.count <= maximumPixels else { throw BlindspotError.badInput(file: path, problem: "'images' holds \(img.count) pixels, more than blindspot reads") }
        var (n, c, h, w) = (img.shape[0], img.shape[1], img.shape[2], img.shape[3])
        var pixels = img.data
        if !(c == 1 || c == 3), w == 1 || w == 3 {
            // N×H×W×C → N×C×H×W
            (c, h, w) = (img.shape[3], img.shape[1], img.shape[2])
            var planar = [UInt8](repeating: 0, count: pixels.count)
            for i in 0..<n { for y in 0..<h { for x in 0..<w { for ch in 0..<c {
                planar[((i * c + ch) * h + y) * w + x] = pixels[((i * h + y) * w + x) * c + ch]
            } } } }
            pixels = planar
        }
        guard c == 1 || c == 3, h > 0, w > 0 else { throw BlindspotError.badInput(file: path, problem: "'images' shape \(img.shape) is not N×C×H×W with 1 or 3 channels") }
        func intArray(_ name: String) throws -> [Int32]? {
            guard let a = byName[name] else { return nil }
            guard a.shape == [n] else { throw BlindspotError.badInput(file: path, problem: "'\(name)' has shape \(a.shape), expected [\(n)]") }
            return try a.int64s(file: "\(path):\(name)").map { v in
                guard v >= 0 && v < Int64(Int32.max) else { throw BlindspotError.badInput(file: path, problem: "'\(name)' holds the negative or huge label \(v)") }
                return Int32(v)
            }
        }
        let labels = try intArray("labels")!
        let original = try intArray("original_labels")
        var poisoned: [Bool]? = nil
        if let (key, p) = ["poison", "poisoned"].lazy.compactMap({ k in byName[k].map { (k, $0) } }).first {
            guard p.shape == [n] else { throw BlindspotError.badInput(file: path, problem: "'\(key)' has shape \(p.shape), expected [\(n)]") }
            poisoned = try p.int64s(file: "\(path):\(key)").map { $0 != 0 }
        }
        var header: Header? = nil
        if let hb = byName[headerMember]?.uint8s() { header = try? JSONDecoder().decode(Header.self, from: Data(hb)) }
        let maxLabel = Int(max(labels.max() ?? 0, original?.max() ?? 0))
        let classes = header?.classNames ?? (0..<max(classCount ?? 0, maxLabel + 1)).map { "class \($0)" }
        guard maxLabel < classes.count else {
            throw BlindspotError.badInput(file: path, problem: "label \(maxLabel) is outside the \(classes.count) classes")
        }
        let set = ImageSet(name: header?.name ?? URL(fileURLWithPath: path).lastPathComponent, images: pixels, labels: labels,
                           classNames: classes, channels: c, height: h, width: w)
        return SuspectTrainingSet(set: set, originalLabels: original, poisoned: poisoned)
    }
}

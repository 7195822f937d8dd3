import BlindspotCore
import Foundation

/// numpy's `.npz`: a zip archive of `.npy` members, stored (`np.savez`) or deflated
/// (`np.savez_compressed`), with the ZIP64 extra fields numpy writes on every member. Reading goes
/// through `ZipArchive` (all its limits apply); writing produces stored members, atomically.
public enum NPZ {
    /// The one-line refusal for pickled PyTorch checkpoints (`torch.save` output).
    public static let pickledPyTorchProblem =
        "this is a pickled PyTorch file; blindspot never unpickles untrusted files. Export it: np.savez('model.npz', **{k: v.numpy() for k, v in torch.load(p).items()})"

    /// Every `NAME.npy` member of the archive at `path`, as (NAME, array) in archive order.
    /// Other members (directories, stray files) are skipped.
    public static func read(path: String) throws -> [(name: String, array: NPYArray)] {
        try read(data: try ZipFileIO.readAll(path: path), file: path)
    }

    /// Same as `read(path:)` for an archive held in memory; `file` names it in messages.
    public static func read(data: [UInt8], file: String) throws -> [(name: String, array: NPYArray)] {
        func bad(_ problem: String) -> BlindspotError { .badInput(file: file, problem: problem) }
        guard !data.isEmpty else { throw bad("file is empty (expected an .npz archive written by np.savez)") }
        if data[0] == 0x80 { throw bad(pickledPyTorchProblem) }
        if data.starts(with: [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]) {
            throw bad("is a single .npy array, not an .npz archive (save the arrays together with np.savez)")
        }
        guard data.starts(with: [0x50, 0x4b]) else {
            throw bad("not an .npz file (no zip signature; save the arrays with np.savez)")
        }
        let zip = try ZipArchive(data: data, file: file)
        var arrays: [(name: String, array: NPYArray)] = []
        for (i, entry) in zip.entries.enumerated() where entry.name.hasSuffix(".npy") {
            let array = try zip.withContents(of: i) { try NPY.parse($0, file: zip.memberLabel(i)) }
            arrays.append((String(entry.name.dropLast(4)), array))
        }
        if arrays.isEmpty && zip.entries.contains(where: { isPickleMember($0.name) }) {
            throw bad(pickledPyTorchProblem)
        }
        return arrays
    }

    /// Writes `arrays` as an `.npz` that `np.load` reads: member `NAME.npy` per array, stored
    /// (as `np.savez`) or deflated (as `np.savez_compressed`), in the given order, atomically
    /// (a temporary file renamed into place). Names must be distinct.
    public static func write(_ arrays: [(name: String, array: NPYArray)], to path: String, compressed: Bool = false) throws {
        var seen = Set<String>()
        for (name, _) in arrays where !seen.insert(name).inserted {
            throw BlindspotError.internalError("NPZ.write: two arrays are named '\(name)' for \(path)")
        }
        let headers = arrays.map { NPY.header($0.array) }
        let estimate = zip(arrays, headers).reduce(22) { $0 + $1.1.count + $1.0.array.data.count + 2 * $1.0.name.utf8.count + 140 }
        var writer = ZipWriter(reservingCapacity: estimate)
        for ((name, array), header) in zip(arrays, headers) {
            writer.add(name: name + ".npy", parts: [header, array.data], deflate: compressed)
        }
        try AtomicFile.write(writer.finish(), to: path)
    }

    /// True if `path` looks like a pickled PyTorch checkpoint (`.pt`/`.pth`): a pickle stream
    /// (first byte 0x80, the pickle protocol opcode) or a zip holding `data.pkl` (torch.save ≥ 1.6,
    /// TorchScript). Never unpickles anything; false if the file cannot be read.
    public static func isPickledPyTorch(path: String) -> Bool {
        guard let head = ZipFileIO.readPrefix(path: path, count: 4), let first = head.first else { return false }
        if first == 0x80 { return true }
        guard head.starts(with: [0x50, 0x4b]), let zip = try? ZipArchive(path: path) else { return false }
        return zip.entries.contains { isPickleMember($0.name) }
    }

    private static func isPickleMember(_ name: String) -> Bool {
        name == "data.pkl" || name.hasSuffix("/data.pkl")
    }
}

import Foundation

/// Output files are written atomically: to a temporary file in the same directory, then renamed
/// over the destination, so a crash or a full disk never leaves a half-written report or model.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.isEmpty ? "." : dir, isDirectory: &isDir), isDir.boolValue else {
            throw BlindspotError.cannotCreate(file: path, problem: "directory \(dir) does not exist (create it first)")
        }
        let tmp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try data.write(to: tmp)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw BlindspotError.cannotCreate(file: path, problem: "cannot write (\(error.localizedDescription))")
        }
        if rename(tmp.path, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw BlindspotError.io(file: path, problem: "cannot rename temporary file into place: \(reason)")
        }
    }
}

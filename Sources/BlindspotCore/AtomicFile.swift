import Foundation

/// Output files are written atomically: to a temporary file in the same directory, then renamed
/// over the destination, so a crash or a full disk never leaves a half-written report or model.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { tmp in
            do {
                try data.write(to: URL(fileURLWithPath: tmp))
            } catch {
                throw BlindspotError.cannotCreate(file: path, problem: "cannot write (\(error.localizedDescription))")
            }
        }
    }

    /// Lets `body` write the file at a temporary path (for writers that need a path, such as
    /// HDF5), then renames it into place; on any error the temporary file is removed.
    public static func write(to path: String, using body: (String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.isEmpty ? "." : dir, isDirectory: &isDir), isDir.boolValue else {
            throw BlindspotError.cannotCreate(file: path, problem: "directory \(dir) does not exist (create it first)")
        }
        let tmp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        do {
            try body(tmp)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
        if rename(tmp, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: tmp)
            throw BlindspotError.io(file: path, problem: "cannot rename temporary file into place: \(reason)")
        }
    }
}

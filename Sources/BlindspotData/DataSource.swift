import BlindspotCore
import Foundation

/// Resolves a `--data` value: a data-set name (`synthetic`, or `cifar10`/`gtsrb` with a
/// directory) or a directory whose layout is recognised from the files in it.
public enum DataSource {
    public static func resolve(_ data: String, directory: String? = nil, seed: UInt64) throws -> DataSplit {
        if let kind = DatasetKind(rawValue: data) { return try Datasets.load(kind, directory: directory, seed: seed) }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir) else {
            throw BlindspotError.missingInput(file: data, problem: "no such data set directory (or pass --data synthetic|cifar10|gtsrb)")
        }
        guard isDir.boolValue else { throw BlindspotError.badInput(file: data, problem: "expected a data set directory, got a file") }
        guard let kind = detect(data) else {
            throw BlindspotError.badInput(file: data, problem: "data set layout not recognised (expected CIFAR-10 binary files, 32×32 GTSRB train.bin/test.bin, or the original GTSRB Final_Training/Final_Test folders)")
        }
        return try Datasets.load(kind, directory: data, seed: seed)
    }

    /// The layout of a directory, from the names of the files in it (or in one known sub-folder).
    public static func detect(_ dir: String) -> DatasetKind? {
        let fm = FileManager.default
        func has(_ name: String) -> Bool { fm.fileExists(atPath: (dir as NSString).appendingPathComponent(name)) }
        if has("test_batch.bin") || has("data_batch_1.bin") || has("cifar-10-batches-bin") || has("cifar10") { return .cifar10 }
        if has("train.bin") || has("test.bin") || has("gtsrb32") || has("Final_Training") || has("Final_Test") || has("GTSRB") { return .gtsrb }
        return nil
    }
}

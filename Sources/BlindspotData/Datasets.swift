import BlindspotCore

/// Entry points for every data set blindspot reads: `load` dispatches on the CLI's data-set name.
public enum Datasets {
    /// Loads `kind`: synthetic ignores `directory`; cifar10 and gtsrb need it (else `usage`).
    public static func load(_ kind: DatasetKind, directory: String?, seed: UInt64) throws -> DataSplit {
        switch kind {
        case .synthetic:
            return synthetic(seed: seed)
        case .cifar10, .gtsrb:
            guard let dir = directory, !dir.isEmpty else {
                throw BlindspotError.usage("data set \(kind.rawValue) needs a directory (pass --data-dir DIR holding the \(kind == .cifar10 ? "CIFAR-10 binary files" : "GTSRB files"))")
            }
            return kind == .cifar10 ? try loadCIFAR10(directory: dir) : try loadGTSRB(directory: dir)
        }
    }
}

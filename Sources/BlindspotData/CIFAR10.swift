import BlindspotCore

/// CIFAR-10 in its binary distribution layout (Krizhevsky 2009, "Learning Multiple Layers of
/// Features from Tiny Images"): `data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`,
/// `batches.meta.txt`, each `.bin` a run of 3073-byte records (see RecordFile).
extension Datasets {
    /// The ten CIFAR-10 class names, index = label, as in the official `batches.meta.txt`.
    public static let cifar10ClassNames = ["airplane", "automobile", "bird", "cat", "deer",
                                           "dog", "frog", "horse", "ship", "truck"]

    static let cifar10Layout = "the CIFAR-10 binary layout: data_batch_1.bin … data_batch_5.bin, test_batch.bin"

    /// Loads CIFAR-10 from `directory` holding data_batch_1.bin … data_batch_5.bin (any non-empty
    /// subset, loaded in numeric order), test_batch.bin and optionally batches.meta.txt (default:
    /// the ten standard names). `directory` may also be a parent holding `cifar-10-batches-bin/`
    /// (the official archive) or `cifar10/` (the shared subset). Normalisation: `Normalization.cifar10`.
    public static func loadCIFAR10(directory: String) throws -> DataSplit {
        guard FileAccess.isDirectory(directory) else {
            throw BlindspotError.missingInput(file: directory, problem: "directory not found (expected \(cifar10Layout))")
        }
        let dir = resolveCIFAR10(directory)
        let batches = (1...5).map { FileAccess.join(dir, "data_batch_\($0).bin") }.filter(FileAccess.isFile)
        guard !batches.isEmpty else {
            throw BlindspotError.missingInput(file: dir, problem: "no data_batch_N.bin found (expected \(cifar10Layout), or a parent directory holding cifar-10-batches-bin/ or cifar10/)")
        }
        let testPath = FileAccess.join(dir, "test_batch.bin")
        guard FileAccess.isFile(testPath) else {
            throw BlindspotError.missingInput(file: testPath, problem: "not found (expected \(cifar10Layout))")
        }

        let classNames = try FileAccess.classNames(FileAccess.join(dir, "batches.meta.txt"), defaults: cifar10ClassNames, dataset: "CIFAR-10")

        var trainImages: [UInt8] = [], trainLabels: [Int32] = []
        for path in batches {
            try RecordFile.append(path, numClasses: 10, expected: cifar10Layout, images: &trainImages, labels: &trainLabels)
        }
        var testImages: [UInt8] = [], testLabels: [Int32] = []
        try RecordFile.append(testPath, numClasses: 10, expected: cifar10Layout, images: &testImages, labels: &testLabels)

        return DataSplit(
            train: ImageSet(name: "cifar10/train", images: trainImages, labels: trainLabels, classNames: classNames),
            test: ImageSet(name: "cifar10/test", images: testImages, labels: testLabels, classNames: classNames),
            normalization: .cifar10)
    }

    /// `directory` itself if it holds batch files, else its `cifar-10-batches-bin/` or `cifar10/`.
    private static func resolveCIFAR10(_ directory: String) -> String {
        let holdsBatches: (String) -> Bool = { dir in
            (1...5).contains { FileAccess.isFile(FileAccess.join(dir, "data_batch_\($0).bin")) }
                || FileAccess.isFile(FileAccess.join(dir, "test_batch.bin"))
        }
        if holdsBatches(directory) { return directory }
        for sub in ["cifar-10-batches-bin", "cifar10"] {
            let candidate = FileAccess.join(directory, sub)
            if FileAccess.isDirectory(candidate) && holdsBatches(candidate) { return candidate }
        }
        return directory
    }
}

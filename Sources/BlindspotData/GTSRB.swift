import BlindspotCore

/// The German Traffic Sign Recognition Benchmark (Stallkamp et al., "The German Traffic Sign
/// Recognition Benchmark: A multi-class classification competition", IJCNN 2011): 43 classes.
/// Two layouts load: the 32×32 record files of the shared subset (`train.bin`, `test.bin`,
/// `classes.txt`, CIFAR-10 record layout) and the original download (see GTSRBOriginal.swift).
/// Normalisation is measured on the training images.
extension Datasets {
    /// The 43 GTSRB class names, index = ClassId.
    public static let gtsrbClassNames = [
        "Speed limit (20km/h)", "Speed limit (30km/h)", "Speed limit (50km/h)", "Speed limit (60km/h)",
        "Speed limit (70km/h)", "Speed limit (80km/h)", "End of speed limit (80km/h)", "Speed limit (100km/h)",
        "Speed limit (120km/h)", "No passing", "No passing for vehicles over 3.5 metric tons",
        "Right-of-way at the next intersection", "Priority road", "Yield", "Stop", "No vehicles",
        "Vehicles over 3.5 metric tons prohibited", "No entry", "General caution", "Dangerous curve to the left",
        "Dangerous curve to the right", "Double curve", "Bumpy road", "Slippery road",
        "Road narrows on the right", "Road work", "Traffic signals", "Pedestrians", "Children crossing",
        "Bicycles crossing", "Beware of ice/snow", "Wild animals crossing",
        "End of all speed and passing limits", "Turn right ahead", "Turn left ahead", "Ahead only",
        "Go straight or right", "Go straight or left", "Keep right", "Keep left", "Roundabout mandatory",
        "End of no passing", "End of no passing by vehicles over 3.5 metric tons",
    ]

    static let gtsrbLayouts = "the gtsrb32 record files train.bin, test.bin, classes.txt, or the original GTSRB layout Final_Training/Images/000NN/GT-000NN.csv + .ppm and Final_Test/Images/GT-final_test.csv + .ppm"

    /// Loads GTSRB from `directory` in either layout, or from its `gtsrb32/` or `GTSRB/` subfolder.
    public static func loadGTSRB(directory: String) throws -> DataSplit {
        guard FileAccess.isDirectory(directory) else {
            throw BlindspotError.missingInput(file: directory, problem: "directory not found (expected \(gtsrbLayouts))")
        }
        for dir in [directory, FileAccess.join(directory, "gtsrb32"), FileAccess.join(directory, "GTSRB")] {
            if FileAccess.isFile(FileAccess.join(dir, "train.bin")) || FileAccess.isFile(FileAccess.join(dir, "test.bin")) {
                return try loadGTSRBRecords(dir)
            }
            if FileAccess.isDirectory(FileAccess.join(dir, "Final_Training")) {
                return try loadGTSRBOriginal(root: dir)
            }
        }
        throw BlindspotError.missingInput(file: directory, problem: "no GTSRB data found (expected \(gtsrbLayouts), or a parent directory holding gtsrb32/ or GTSRB/)")
    }

    /// The 32×32 record files: train.bin, test.bin and optional classes.txt (43 names).
    private static func loadGTSRBRecords(_ dir: String) throws -> DataSplit {
        let classNames = try FileAccess.classNames(FileAccess.join(dir, "classes.txt"), defaults: gtsrbClassNames, dataset: "GTSRB")
        var sets: [ImageSet] = []
        for part in ["train", "test"] {
            let path = FileAccess.join(dir, "\(part).bin")
            guard FileAccess.isFile(path) else {
                throw BlindspotError.missingInput(file: path, problem: "not found (expected \(gtsrbLayouts))")
            }
            var images: [UInt8] = [], labels: [Int32] = []
            try RecordFile.append(path, numClasses: 43, expected: "GTSRB 32×32 records in the CIFAR-10 binary layout",
                                  images: &images, labels: &labels)
            sets.append(ImageSet(name: "gtsrb/\(part)", images: images, labels: labels, classNames: classNames))
        }
        return DataSplit(train: sets[0], test: sets[1], normalization: .measured(on: sets[0]))
    }
}

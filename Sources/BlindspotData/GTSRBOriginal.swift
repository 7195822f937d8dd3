import BlindspotCore
import Foundation

/// The original GTSRB download (Stallkamp et al. 2011):
///   Final_Training/Images/000NN/GT-000NN.csv + *.ppm  (one folder per class, NN = 00 … 42)
///   Final_Test/Images/*.ppm with GT-final_test.csv (from GTSRB_Final_Test_GT.zip, with ClassId),
///   looked for in Final_Test/Images/, Final_Test/, the root and the root's parent.
/// CSV columns (';'-separated): Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId. Each image
/// is cropped to its inclusive ROI box and resized to 32×32 (BilinearResize), like gtsrb32.
extension Datasets {
    static func loadGTSRBOriginal(root: String) throws -> DataSplit {
        let trainRoot = FileAccess.join(root, "Final_Training", "Images")
        let classFolders = (0..<43).map { id -> (id: Int, folder: String) in
            let digits = String(id)
            return (id, String(repeating: "0", count: 5 - digits.count) + digits)
        }.filter { FileAccess.isDirectory(FileAccess.join(trainRoot, $0.folder)) }
        guard !classFolders.isEmpty else {
            throw BlindspotError.missingInput(file: trainRoot, problem: "no class folders 00000 … 00042 found (expected the original GTSRB layout Final_Training/Images/000NN/GT-000NN.csv)")
        }
        var train = GTSRBBuilder(name: "gtsrb/train")
        for (classId, folder) in classFolders {
            let dir = FileAccess.join(trainRoot, folder)
            let csv = FileAccess.join(dir, "GT-\(folder).csv")
            for row in try GTSRBCSV.rows(csv) {
                guard row.classId == classId else {
                    throw BlindspotError.badInput(file: csv, problem: "line \(row.line): ClassId \(row.classId) in the folder of class \(classId) (the training CSVs list one class each; re-extract the archive)")
                }
                try train.add(row, imagesDir: dir, csv: csv)
            }
        }

        let testImages = FileAccess.join(root, "Final_Test", "Images")
        let parent = URL(fileURLWithPath: root).standardizedFileURL.deletingLastPathComponent().path
        let candidates = [testImages, FileAccess.join(root, "Final_Test"), root, parent]
            .map { FileAccess.join($0, "GT-final_test.csv") }
        guard let testCSV = candidates.first(where: FileAccess.isFile) else {
            throw BlindspotError.missingInput(file: FileAccess.join(testImages, "GT-final_test.csv"), problem: "not found (expected the GTSRB test ground truth with ClassId, from GTSRB_Final_Test_GT.zip, beside the test .ppm files)")
        }
        var test = GTSRBBuilder(name: "gtsrb/test")
        for row in try GTSRBCSV.rows(testCSV) {
            try test.add(row, imagesDir: testImages, csv: testCSV)
        }
        let trainSet = train.build(), testSet = test.build()
        return DataSplit(train: trainSet, test: testSet, normalization: .measured(on: trainSet))
    }
}

/// Accumulates cropped, resized 32×32 images.
struct GTSRBBuilder {
    let name: String
    var images: [UInt8] = []
    var labels: [Int32] = []

    init(name: String) { self.name = name }

    mutating func add(_ row: GTSRBCSV.Row, imagesDir: String, csv: String) throws {
        let path = FileAccess.join(imagesDir, row.filename)
        guard FileAccess.isFile(path) else {
            throw BlindspotError.missingInput(file: path, problem: "listed in \(csv) line \(row.line) but not found (re-extract the GTSRB archive)")
        }
        let bytes = try FileAccess.read(path, maxBytes: PPM.maxFileBytes, expected: "a binary PPM image")
        let h = try PPM.header(bytes, path: path)
        if let w = row.width, w != h.width || row.height != h.height {
            throw BlindspotError.badInput(file: path, problem: "image is \(h.width)×\(h.height) but \(csv) line \(row.line) says \(w)×\(row.height ?? 0) (re-extract the GTSRB archive)")
        }
        guard row.x1 >= 0, row.y1 >= 0, row.x1 <= row.x2, row.y1 <= row.y2, row.x2 < h.width, row.y2 < h.height else {
            throw BlindspotError.badInput(file: csv, problem: "line \(row.line): ROI (\(row.x1),\(row.y1))–(\(row.x2),\(row.y2)) is empty or outside the \(h.width)×\(h.height) image \(row.filename) (fix the ROI columns)")
        }
        let side = RecordFile.side
        let start = images.count
        images.append(contentsOf: repeatElement(0, count: RecordFile.imageBytes))
        bytes.withUnsafeBufferPointer { src in
            images.withUnsafeMutableBufferPointer { dst in
                BilinearResize.cropResize(src.baseAddress! + h.dataOffset, srcWidth: h.width,
                                          x1: row.x1, y1: row.y1, x2: row.x2, y2: row.y2,
                                          outWidth: side, outHeight: side, into: dst.baseAddress! + start)
            }
        }
        labels.append(Int32(row.classId))
    }

    func build() -> ImageSet {
        ImageSet(name: name, images: images, labels: labels, classNames: Datasets.gtsrbClassNames)
    }
}

/// The GTSRB ground-truth CSV: a header naming the columns, then one row per image.
enum GTSRBCSV {
    struct Row {
        var line: Int
        var filename: String
        var width: Int?
        var height: Int?
        var x1: Int, y1: Int, x2: Int, y2: Int
        var classId: Int
    }

    static let maxFileBytes = 64 << 20

    static func rows(_ path: String) throws -> [Row] {
        let expected = "a GTSRB ground-truth CSV: Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"
        func bad(_ what: String) -> BlindspotError {
            .badInput(file: path, problem: "\(what) (expected \(expected))")
        }
        let bytes = try FileAccess.read(path, maxBytes: maxFileBytes, expected: expected)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw bad("not UTF-8 text") }
        // "\r\n" is one Character in Swift, so split on isNewline (LF, CRLF and CR alike).
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        guard let headerLine = lines.first, !headerLine.isEmpty else { throw bad("empty file") }
        let sep: Character = headerLine.contains(";") ? ";" : ","
        let header = headerLine.split(separator: sep, omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        func column(_ name: String, required: Bool = true) throws -> Int? {
            if let i = header.firstIndex(of: name) { return i }
            if required { throw bad("header has no \(name) column") }
            return nil
        }
        let cFile = try column("Filename")!, cX1 = try column("Roi.X1")!, cY1 = try column("Roi.Y1")!
        let cX2 = try column("Roi.X2")!, cY2 = try column("Roi.Y2")!
        guard let cClass = try column("ClassId", required: false) else {
            throw bad("header has no ClassId column; for the test set use GT-final_test.csv from GTSRB_Final_Test_GT.zip, not GT-final_test.test.csv")
        }
        let cWidth = try column("Width", required: false), cHeight = try column("Height", required: false)

        var rows: [Row] = []
        for (k, raw) in lines.enumerated().dropFirst() where !raw.allSatisfy(\.isWhitespace) {
            let line = k + 1
            let fields = raw.split(separator: sep, omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard fields.count == header.count else {
                throw bad("line \(line) has \(fields.count) fields, the header has \(header.count)")
            }
            func int(_ c: Int) throws -> Int {
                guard let v = Int(fields[c]), v >= 0, v <= 1_000_000 else {
                    throw bad("line \(line): \(header[c]) '\(fields[c])' is not a non-negative integer")
                }
                return v
            }
            let file = fields[cFile]
            guard !file.isEmpty, !file.contains("/"), file != ".", file != ".." else {
                throw bad("line \(line): Filename '\(file)' must be a plain file name")
            }
            let classId = try int(cClass)
            guard classId < 43 else { throw bad("line \(line): ClassId \(classId) is not below 43") }
            rows.append(Row(line: line, filename: file,
                            width: try cWidth.map(int), height: try cHeight.map(int),
                            x1: try int(cX1), y1: try int(cY1), x2: try int(cX2), y2: try int(cY2),
                            classId: classId))
        }
        guard !rows.isEmpty else { throw bad("no image rows") }
        return rows
    }
}

import BlindspotCore

/// Reader for the CIFAR-10 binary record layout (Krizhevsky 2009), also used by the 32×32 GTSRB
/// files: each record is 1 label byte then the 32×32 R, G and B planes (1024 bytes each, row-major).
/// The pixel part is already ImageSet's planar layout, so records are copied in whole.
enum RecordFile {
    static let side = 32
    static let imageBytes = 3 * 32 * 32
    static let recordBytes = 1 + imageBytes
    /// Largest record file accepted (≈ 700,000 images); guards against reading a wrong, huge file.
    static let maxFileBytes = 1 << 31

    /// Appends the records of `path` to `images`/`labels`; every label must be < `numClasses`.
    static func append(_ path: String, numClasses: Int, expected: String,
                       images: inout [UInt8], labels: inout [Int32]) throws {
        let bytes = try FileAccess.read(path, maxBytes: maxFileBytes, expected: expected) { size in
            guard size > 0, size % recordBytes == 0 else {
                throw BlindspotError.badInput(file: path, problem: "size \(size) bytes is not a positive multiple of the \(recordBytes)-byte record (1 label + 3×32×32 pixels); the file is truncated or not in the CIFAR-10 binary layout (re-download or re-export it)")
            }
        }
        let n = bytes.count / recordBytes
        let start = images.count
        images.append(contentsOf: repeatElement(0, count: n * imageBytes))
        labels.reserveCapacity(labels.count + n)
        try bytes.withUnsafeBufferPointer { src in
            try images.withUnsafeMutableBufferPointer { dst in
                for r in 0..<n {
                    let rec = src.baseAddress! + r * recordBytes
                    let label = Int(rec[0])
                    guard label < numClasses else {
                        throw BlindspotError.badInput(file: path, problem: "record \(r) has label \(label), but there are only \(numClasses) classes (check that this is the right data set)")
                    }
                    labels.append(Int32(label))
                    (dst.baseAddress! + start + r * imageBytes).update(from: rec + 1, count: imageBytes)
                }
            }
        }
    }
}

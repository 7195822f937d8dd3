import BlindspotCore
@testable import BlindspotData
import XCTest

final class CIFAR10Tests: XCTestCase {
    /// The shared subset: counts per class from ../shared/data/README.md, names from batches.meta.txt.
    func testSharedSubset() throws {
        guard let data = SharedData.directory() else { return }
        // Pointed at the parent: must find cifar10/.
        let split = try Datasets.loadCIFAR10(directory: data)
        XCTAssertEqual(split.train.count, 10_000)
        XCTAssertEqual(split.test.count, 5_000)
        XCTAssertEqual(split.train.classCounts(), [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981])
        XCTAssertEqual(split.test.classCounts(), Array(repeating: 500, count: 10))
        XCTAssertEqual(split.train.classNames, ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
        XCTAssertEqual(split.normalization, .cifar10)
        XCTAssertEqual(split.train.images.count, 10_000 * 3072)
        XCTAssertEqual(split.train.name, "cifar10/train")

        // Records copy in unchanged: compare record 1234 with the file's bytes.
        let raw = try Data(contentsOf: URL(fileURLWithPath: data + "/cifar10/data_batch_1.bin"))
        let r = 1234, rec = raw.subdata(in: (r * 3073)..<((r + 1) * 3073))
        XCTAssertEqual(Int32(rec[rec.startIndex]), split.train.labels[r])
        XCTAssertEqual(Array(rec.dropFirst()), Array(split.train.images[(r * 3072)..<((r + 1) * 3072)]))

        // Pointed at cifar10/ itself: the same data.
        let direct = try Datasets.loadCIFAR10(directory: data + "/cifar10")
        XCTAssertEqual(direct.test.labels, split.test.labels)
    }

    /// A tiny fake of the official `cifar-10-batches-bin/` with two batch files.
    func testOfficialLayoutWithTwoBatches() throws {
        let tmp = try makeTempDirectory()
        defer { removeDirectory(tmp) }
        let dir = tmp + "/cifar-10-batches-bin"
        let b1 = records(labels: [3, 0, 9]), b2 = records(labels: [5, 5]), t = records(labels: [1, 2])
        try writeFile(dir + "/data_batch_1.bin", b1)
        try writeFile(dir + "/data_batch_2.bin", b2)
        try writeFile(dir + "/test_batch.bin", t)
        try writeFile(dir + "/batches.meta.txt", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n")

        let split = try Datasets.loadCIFAR10(directory: tmp)
        XCTAssertEqual(split.train.labels, [3, 0, 9, 5, 5])
        XCTAssertEqual(split.test.labels, [1, 2])
        XCTAssertEqual(split.train.classNames, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])
        XCTAssertEqual(split.train.images, strip(b1) + strip(b2))
        XCTAssertEqual(split.test.images, strip(t))

        // Without batches.meta.txt: the standard names.
        try FileManager.default.removeItem(atPath: dir + "/batches.meta.txt")
        XCTAssertEqual(try Datasets.loadCIFAR10(directory: dir).train.classNames, Datasets.cifar10ClassNames)
    }

    func testWrongSizeIsBadInputNamingTheFile() throws {
        let tmp = try makeTempDirectory()
        defer { removeDirectory(tmp) }
        try writeFile(tmp + "/data_batch_1.bin", records(labels: [1, 2]) + [0, 0, 0, 0, 0])
        try writeFile(tmp + "/test_batch.bin", records(labels: [1]))
        let error = blindspotError { try Datasets.loadCIFAR10(directory: tmp) }
        guard case .badInput(let file, let problem)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(file, tmp + "/data_batch_1.bin")
        XCTAssertTrue(problem.contains("3073"), problem)
        XCTAssertEqual(error?.exitCode, 65)
    }

    func testLabelOutOfRangeIsBadInput() throws {
        let tmp = try makeTempDirectory()
        defer { removeDirectory(tmp) }
        try writeFile(tmp + "/data_batch_1.bin", records(labels: [1, 2]))
        try writeFile(tmp + "/test_batch.bin", records(labels: [4, 10]))
        let error = blindspotError { try Datasets.loadCIFAR10(directory: tmp) }
        guard case .badInput(let file, let problem)? = error else { return XCTFail("got \(String(describing: error))") }
        XCTAssertEqual(file, tmp + "/test_batch.bin")
        XCTAssertTrue(problem.contains("record 1") && problem.contains("label 10"), problem)
    }

    func testMissingPiecesAreMissingInput() throws {
        let tmp = try makeTempDirectory()
        defer { removeDirectory(tmp) }
        let nowhere = tmp + "/nowhere"
        guard case .missingInput(let f1, _)? = blindspotError({ try Datasets.loadCIFAR10(directory: nowhere) }) else {
            return XCTFail("missing directory")
        }
        XCTAssertEqual(f1, nowhere)

        let error = blindspotError { try Datasets.loadCIFAR10(directory: tmp) }
        guard case .missingInput(let f2, let p2)? = error else { return XCTFail("empty directory") }
        XCTAssertEqual(f2, tmp)
        XCTAssertTrue(p2.contains("no data_batch_N.bin"), p2)
        XCTAssertEqual(error?.exitCode, 66)
        XCTAssertFalse(error!.description.contains("\n"))

        try writeFile(tmp + "/data_batch_3.bin", records(labels: [1]))
        guard case .missingInput(let f3, _)? = blindspotError({ try Datasets.loadCIFAR10(directory: tmp) }) else {
            return XCTFail("missing test batch")
        }
        XCTAssertEqual(f3, tmp + "/test_batch.bin")
    }

    func testDispatchNeedsADirectory() {
        for kind in [DatasetKind.cifar10, .gtsrb] {
            for dir in [nil, ""] as [String?] {
                guard case .usage(let message)? = blindspotError({ try Datasets.load(kind, directory: dir, seed: 1) }) else {
                    return XCTFail("\(kind) without a directory must be a usage error")
                }
                XCTAssertTrue(message.contains(kind.rawValue), message)
            }
        }
        XCTAssertEqual(DatasetKind(rawValue: "gtsrb"), .gtsrb)
        XCTAssertNil(DatasetKind(rawValue: "mnist"))
    }

    /// 3073-byte records: the label, then pixels derived from the record's index and label.
    private func records(labels: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for (i, l) in labels.enumerated() {
            out.append(l)
            out += (0..<3072).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i &* 31 &+ Int(l)) }
        }
        return out
    }

    private func strip(_ recs: [UInt8]) -> [UInt8] {
        stride(from: 0, to: recs.count, by: 3073).flatMap { recs[($0 + 1)..<($0 + 3073)] }
    }
}

import BlindspotCore
@testable import BlindspotData
import XCTest

final class GTSRBTests: XCTestCase {
    /// The shared 32×32 subset: counts per class from ../shared/data/README.md.
    func testSharedRecordFiles() throws {
        guard let data = SharedData.directory() else { return }
        let split = try Datasets.loadGTSRB(directory: data)     // parent: must find gtsrb32/
        XCTAssertEqual(split.train.count, 8_000)
        XCTAssertEqual(split.test.count, 3_500)
        XCTAssertEqual(split.train.classCounts(), [43, 453, 459, 288, 404, 379, 86, 294, 288, 300, 410, 269, 428, 441, 159, 129, 86, 226, 245, 43, 73, 67, 80, 104, 55, 306, 122, 49, 110, 55, 92, 159, 49, 141, 86, 245, 80, 43, 422, 61, 73, 49, 49])
        XCTAssertEqual(split.test.classCounts(), [17, 199, 208, 125, 183, 175, 42, 125, 125, 133, 183, 116, 191, 199, 75, 58, 41, 100, 108, 17, 25, 25, 33, 41, 25, 133, 50, 17, 41, 25, 41, 75, 17, 58, 33, 108, 33, 17, 191, 25, 25, 17, 25])
        XCTAssertEqual(split.train.numClasses, 43)
        XCTAssertEqual(split.train.classNames.first, "Speed limit (20km/h)")
        XCTAssertEqual(split.train.classNames, Datasets.gtsrbClassNames)
        XCTAssertEqual(split.normalization, .measured(on: split.train))
        XCTAssertNotEqual(split.normalization, .identity)
        XCTAssertEqual(try Datasets.load(.gtsrb, directory: data + "/gtsrb32", seed: 0).test.labels, split.test.labels)
    }

    /// The original layout: crop to the ROI, resize bilinear to 32×32, hand-worked values.
    func testOriginalLayout() throws {
        let tmp = try makeTempDirectory()
        defer { removeDirectory(tmp) }
        let root = tmp + "/GTSRB"
        try writeOriginalLayout(root)
        let split = try Datasets.loadGTSRB(directory: tmp)       // parent: must find GTSRB/
        XCTAssertEqual(split.train.labels, [0, 0, 1])
        XCTAssertEqual(split.test.labels, [1, 0])
        XCTAssertEqual(split.train.numClasses, 43)
        XCTAssertEqual(split.train.images.count, 3 * 3072)

        // Image 0: a uniform (30, 60, 90) ROI inside a red border gives exactly that colour.
        let img0 = Array(split.train.images[0..<3072])
        XCTAssertEqual(Array(img0[0..<1024]), Array(repeating: 30, count: 1024))
        XCTAssertEqual(Array(img0[1024..<2048]), Array(repeating: 60, count: 1024))
        XCTAssertEqual(Array(img0[2048..<3072]), Array(repeating: 90, count: 1024))

        // Image 2 (class 1): ROI is the 2×1 row [(0,0,0), (64,128,255)] in a white border. Output column d
        // samples s = (d + 0.5)·2/32 − 0.5: d = 0 → s < 0 → clamp → 0; d = 16 → s = 0.53125 →
        // (34, 68, 135.47 → 135); d = 31 → s = 1.46875 → last pixel (64, 128, 255). Rows all equal.
        let img1 = Array(split.train.images[6144..<9216])
        for row in [0, 17, 31] {
            XCTAssertEqual(img1[row * 32 + 0], 0)
            XCTAssertEqual(img1[row * 32 + 16], 34)
            XCTAssertEqual(img1[1024 + row * 32 + 16], 68)
            XCTAssertEqual(img1[2048 + row * 32 + 16], 135)
            XCTAssertEqual(img1[row * 32 + 31], 64)
            XCTAssertEqual(img1[2048 + row * 32 + 31], 255)
        }
        // Monotone along the row, never touching the white border.
        XCTAssertEqual((0..<31).filter { img1[$0] > img1[$0 + 1] }, [])
        XCTAssertTrue(img1.allSatisfy { $0 <= 255 } && img1[0..<1024].allSatisfy { $0 <= 64 })

        // Image 1: whole-image ROI downscaled 64 → 32: s = 2d + 0.5, the mean of pixel pairs, rounded.
        let img2 = Array(split.train.images[3072..<6144])
        XCTAssertEqual(img2[5], UInt8((Double(gradient(10) + gradient(11)) / 2).rounded()))
    }

    func testBilinearMatchesHandComputedDownscale() {
        // 4×1 source (interleaved RGB), scaled to 2×1: s = (d + 0.5)·2 − 0.5 → 0.5 and 2.5.
        let src: [UInt8] = [0, 0, 0, 100, 10, 1, 200, 20, 2, 255, 30, 3]
        var out = [UInt8](repeating: 0, count: 6)
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                BilinearResize.cropResize(s.baseAddress!, srcWidth: 4, x1: 0, y1: 0, x2: 3, y2: 0,
                                          outWidth: 2, outHeight: 1, into: o.baseAddress!)
            }
        }
        XCTAssertEqual(out, [50, 228, 5, 25, 1, 3])   // R: 50, 227.5→228; G: 5, 25; B: 0.5→1, 2.5→3
    }

    func testMalformedPPMIsBadInput() throws {
        let tmp = try makeTempDirectory()
        defer { removeDirectory(tmp) }
        try writeOriginalLayout(tmp)
        let victim = tmp + "/Final_Training/Images/00001/00001_00000.ppm"
        let cases: [(String, [UInt8])] = [
            ("magic", Array("P5\n4 3\n255\n".utf8) + [UInt8](repeating: 0, count: 12)),
            ("truncated", Array("P6\n4 3\n255\n".utf8) + [UInt8](repeating: 0, count: 20)),
            ("maxval", Array("P6\n4 3\n65535\n".utf8) + [UInt8](repeating: 0, count: 72)),
            ("huge", Array("P6\n100000 100000\n255\n".utf8) + [1, 2, 3]),
            ("missing size", Array("P6\n# only a comment\n".utf8)),
        ]
        for (what, bytes) in cases {
            try writeFile(victim, bytes)
            let error = blindspotError { try Datasets.loadGTSRB(directory: tmp) }
            guard case .badInput(let file, _)? = error else { XCTFail("\(what): got \(String(describing: error))"); continue }
            XCTAssertEqual(file, victim, what)
        }
    }

    func testBadCSVsAreReported() throws {
        let tmp = try makeTempDirectory()
        defer { removeDirectory(tmp) }
        try writeOriginalLayout(tmp)
        let csv = tmp + "/Final_Training/Images/00000/GT-00000.csv"
        let header = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"
        let bad = [
            ("ROI outside", header + "00000_00000.ppm;8;6;2;1;8;4;0\n"),
            ("ROI reversed", header + "00000_00000.ppm;8;6;5;1;2;4;0\n"),
            ("not a number", header + "00000_00000.ppm;8;6;two;1;5;4;0\n"),
            ("field count", header + "00000_00000.ppm;8;6;2;1;5;4\n"),
            ("class beyond 42", header + "00000_00000.ppm;8;6;2;1;5;4;43\n"),
            ("wrong folder", header + "00000_00000.ppm;8;6;2;1;5;4;1\n"),
            ("path escape", header + "../00000_00000.ppm;8;6;2;1;5;4;0\n"),
            ("size mismatch", header + "00000_00000.ppm;9;6;2;1;5;4;0\n"),
        ]
        for (what, text) in bad {
            try writeFile(csv, text)
            let error = blindspotError { try Datasets.loadGTSRB(directory: tmp) }
            guard case .badInput(let file, _)? = error else { XCTFail("\(what): got \(String(describing: error))"); continue }
            XCTAssertTrue(file == csv || file.hasSuffix(".ppm"), "\(what): \(file)")
        }
    }

    func testMissingOriginalPieces() throws {
        let tmp = try makeTempDirectory()
        defer { removeDirectory(tmp) }
        try writeOriginalLayout(tmp)
        // A listed image that is not there.
        try FileManager.default.removeItem(atPath: tmp + "/Final_Test/Images/00001.ppm")
        guard case .missingInput(let f1, _)? = blindspotError({ try Datasets.loadGTSRB(directory: tmp) }) else {
            return XCTFail("missing ppm")
        }
        XCTAssertEqual(f1, tmp + "/Final_Test/Images/00001.ppm")
        // Only the ClassId-less test CSV of the images archive.
        try FileManager.default.moveItem(atPath: tmp + "/Final_Test/Images/GT-final_test.csv",
                                         toPath: tmp + "/Final_Test/Images/GT-final_test.test.csv")
        guard case .missingInput(let f2, let p2)? = blindspotError({ try Datasets.loadGTSRB(directory: tmp) }) else {
            return XCTFail("missing test csv")
        }
        XCTAssertTrue(f2.hasSuffix("GT-final_test.csv") && p2.contains("ClassId"), "\(f2): \(p2)")
        // Nothing GTSRB-like at all.
        let empty = tmp + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        guard case .missingInput(let f3, _)? = blindspotError({ try Datasets.loadGTSRB(directory: empty) }) else {
            return XCTFail("empty directory")
        }
        XCTAssertEqual(f3, empty)
    }

    // MARK: - Fixture

    private func gradient(_ x: Int) -> Int { x * 4 }

    /// Class 0: an 8×6 red image with a (30, 60, 90) ROI at x 2…5, y 1…4; a 64×64 horizontal
    /// gradient with the whole image as ROI. Class 1: a 4×3 white image whose ROI is the row
    /// [(0,0,0), (64,128,255)] at x 1…2, y 1. Test: two images. CSVs use CRLF like the originals.
    private func writeOriginalLayout(_ root: String) throws {
        let header = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\r\n"
        var red = [UInt8](repeating: 0, count: 8 * 6 * 3)
        for y in 0..<6 { for x in 0..<8 {
            let inside = (2...5).contains(x) && (1...4).contains(y)
            red[(y * 8 + x) * 3 + 0] = inside ? 30 : 200
            red[(y * 8 + x) * 3 + 1] = inside ? 60 : 10
            red[(y * 8 + x) * 3 + 2] = inside ? 90 : 10
        } }
        var ramp = [UInt8](repeating: 0, count: 64 * 64 * 3)
        for y in 0..<64 { for x in 0..<64 { for c in 0..<3 { ramp[(y * 64 + x) * 3 + c] = UInt8(gradient(x) % 256) } } }
        var row = [UInt8](repeating: 255, count: 4 * 3 * 3)
        row.replaceSubrange((1 * 4 + 1) * 3..<((1 * 4 + 3) * 3), with: [0, 0, 0, 64, 128, 255])

        let c0 = root + "/Final_Training/Images/00000", c1 = root + "/Final_Training/Images/00001"
        try writeFile(c0 + "/00000_00000.ppm", ppm(8, 6, red, comment: true))
        try writeFile(c0 + "/00000_00001.ppm", ppm(64, 64, ramp))
        try writeFile(c0 + "/GT-00000.csv", header + "00000_00000.ppm;8;6;2;1;5;4;0\r\n00000_00001.ppm;64;64;0;0;63;63;0\r\n")
        try writeFile(c1 + "/00001_00000.ppm", ppm(4, 3, row))
        try writeFile(c1 + "/GT-00001.csv", header + "00001_00000.ppm;4;3;1;1;2;1;1\r\n")
        let test = root + "/Final_Test/Images"
        try writeFile(test + "/00000.ppm", ppm(4, 3, row))
        try writeFile(test + "/00001.ppm", ppm(8, 6, red))
        try writeFile(test + "/GT-final_test.csv", header + "00000.ppm;4;3;1;1;2;1;1\r\n00001.ppm;8;6;2;1;5;4;0\r\n")
    }

    private func ppm(_ w: Int, _ h: Int, _ pixels: [UInt8], comment: Bool = false) -> [UInt8] {
        Array("P6\n\(comment ? "# made by a test\n" : "")\(w) \(h)\n255\n".utf8) + pixels
    }
}

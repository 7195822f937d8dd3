import BlindspotCore
@testable import BlindspotData
import XCTest

final class SyntheticTests: XCTestCase {
    func testSameSeedSameBytesOtherSeedOtherBytes() {
        let a = Datasets.synthetic(seed: 7, trainCount: 300, testCount: 100)
        let b = Datasets.synthetic(seed: 7, trainCount: 300, testCount: 100)
        let c = Datasets.synthetic(seed: 8, trainCount: 300, testCount: 100)
        XCTAssertEqual(a.train.images, b.train.images)
        XCTAssertEqual(a.train.labels, b.train.labels)
        XCTAssertEqual(a.test.images, b.test.images)
        XCTAssertEqual(a.normalization, b.normalization)
        XCTAssertNotEqual(a.train.images, c.train.images)
        XCTAssertNotEqual(a.test.images, c.test.images)
        // A prefix of a larger draw is not required, but a smaller test split must not change train.
        XCTAssertEqual(Datasets.synthetic(seed: 7, trainCount: 300, testCount: 10).train.images, a.train.images)
    }

    func testBalancedDisjointSplitsWithDefaults() throws {
        let s = Datasets.synthetic(seed: 1)
        XCTAssertEqual(s.train.count, 6000)
        XCTAssertEqual(s.test.count, 2000)
        XCTAssertEqual(s.train.classCounts(), Array(repeating: 600, count: 10))
        XCTAssertEqual(s.test.classCounts(), Array(repeating: 200, count: 10))
        XCTAssertEqual(s.train.classNames, ["disk", "square", "triangle", "cross", "ring", "diamond",
                                            "horizontal-bars", "vertical-bars", "x-shape", "checker"])
        XCTAssertEqual([s.train.channels, s.train.height, s.train.width], [3, 32, 32])
        XCTAssertEqual(s.train.name, "synthetic/train")
        XCTAssertEqual(s.test.name, "synthetic/test")
        XCTAssertEqual(s.normalization, .measured(on: s.train))
        // Shuffled, not sorted by class.
        XCTAssertNotEqual(s.train.labels, s.train.labels.sorted())
        XCTAssertGreaterThan(zip(s.train.labels, s.train.labels.dropFirst()).filter { $0 != $1 }.count, 5000)
        // No test image repeats a training image.
        var seen = Set<[UInt8]>()
        for i in 0..<s.train.count { seen.insert(Array(s.train.images[(i * 3072)..<((i + 1) * 3072)])) }
        XCTAssertEqual(seen.count, 6000)
        for i in 0..<s.test.count { XCTAssertFalse(seen.contains(Array(s.test.images[(i * 3072)..<((i + 1) * 3072)]))) }
        // Counts not divisible by 10: the first classes get one more.
        XCTAssertEqual(Datasets.synthetic(seed: 1, trainCount: 23, testCount: 0).train.classCounts(), [3, 3, 3, 2, 2, 2, 2, 2, 2, 2])
        XCTAssertEqual(Datasets.synthetic(seed: 1, trainCount: 0, testCount: 0).train.count, 0)
        XCTAssertEqual(try Datasets.load(.synthetic, directory: "/no/such/dir", seed: 1).train.labels, s.train.labels)
    }

    /// Colour must not give the class away: class-mean colours are close, and classifying by an
    /// image's mean colour or by the nearest class-mean image is little better than chance.
    func testColourAndTemplatesDoNotIdentifyTheClass() {
        let s = Datasets.synthetic(seed: 3)
        let train = meanColours(s.train), test = meanColours(s.test)
        var centroid = [[Double]](repeating: [0, 0, 0], count: 10)
        for (i, l) in s.train.labels.enumerated() { for c in 0..<3 { centroid[Int(l)][c] += train[i][c] / 600 } }
        let spread = (0..<3).map { c in centroid.map { $0[c] }.max()! - centroid.map { $0[c] }.min()! }
        XCTAssertLessThan(spread.max()!, SyntheticBounds.classMeanColourSpread, "class-mean colour spread \(spread)")
        var hits = 0
        for (i, l) in s.test.labels.enumerated() {
            let guess = (0..<10).min { a, b in distance(test[i], centroid[a]) < distance(test[i], centroid[b]) }!
            if guess == Int(l) { hits += 1 }
        }
        XCTAssertLessThan(Double(hits) / 2000, 0.2, "mean-colour classifier accuracy")

        var templates = [[Double]](repeating: [Double](repeating: 0, count: 3072), count: 10)
        for (i, l) in s.train.labels.enumerated() {
            for k in 0..<3072 { templates[Int(l)][k] += Double(s.train.images[i * 3072 + k]) / 600 }
        }
        hits = 0
        for (i, l) in s.test.labels.enumerated() {
            let image = (0..<3072).map { Double(s.test.images[i * 3072 + $0]) }
            let guess = (0..<10).min { a, b in distance(image, templates[a]) < distance(image, templates[b]) }!
            if guess == Int(l) { hits += 1 }
        }
        XCTAssertLessThan(Double(hits) / 2000, SyntheticBounds.templateAccuracy, "nearest class-mean image accuracy")
    }

    /// Images of one class vary (position, size, colours, background), they are not near copies.
    func testSameClassImagesVary() {
        let s = Datasets.synthetic(seed: 4, trainCount: 1000, testCount: 0)
        for cls in 0..<10 {
            let idx = s.train.labels.indices.filter { s.train.labels[$0] == Int32(cls) }
            // Mean over pixels of the across-image standard deviation.
            var sd = 0.0
            for k in 0..<3072 {
                var m = 0.0, m2 = 0.0
                for i in idx { let v = Double(s.train.images[i * 3072 + k]); m += v; m2 += v * v }
                m /= Double(idx.count)
                sd += (max(m2 / Double(idx.count) - m * m, 0)).squareRoot() / 3072
            }
            XCTAssertGreaterThan(sd, 50, "class \(cls): pixel std across images \(sd)")
            // The closest pair among 40 images still differs by many levels on average.
            var closest = Double.infinity
            for a in 0..<40 { for b in (a + 1)..<40 {
                let d = (0..<3072).reduce(0.0) { $0 + abs(Double(s.train.images[idx[a] * 3072 + $1]) - Double(s.train.images[idx[b] * 3072 + $1])) } / 3072
                closest = min(closest, d)
            } }
            XCTAssertGreaterThan(closest, 12, "class \(cls): closest pair differs by \(closest) levels")
        }
    }

    // MARK: - Shapes

    func testShapeMembership() {
        func spec(_ s: SyntheticShape, _ t: Float = 0) -> ShapeSpec { ShapeSpec(shape: s, thickness: t) }
        let inside: [(ShapeSpec, [(Float, Float)], [(Float, Float)])] = [
            (spec(.disk), [(0, 0), (0.7, 0.7)], [(0.75, 0.75), (1.1, 0)]),
            (spec(.square), [(0, 0), (0.95, -0.95)], [(1.05, 0)]),
            (spec(.triangle), [(0, -0.9), (0.9, 0.95), (0, 0.5)], [(0.3, -0.5), (-0.9, 0)]),
            (spec(.cross, 0.3), [(0, 0.9), (0.9, 0), (0.25, 0.25)], [(0.5, 0.5), (0.9, 0.9)]),
            (spec(.ring, 0.4), [(0.8, 0), (0, -0.9)], [(0, 0), (0.3, 0.3), (0.8, 0.8)]),
            (spec(.diamond), [(0, 0), (0.45, 0.45)], [(0.55, 0.55), (0.9, 0.9)]),
            (spec(.horizontalBars), [(0, -0.9), (0.9, 0), (0, 0.9)], [(0, -0.5), (0, 0.5)]),
            (spec(.verticalBars), [(-0.9, 0), (0, 0.9), (0.9, 0)], [(-0.5, 0), (0.5, 0)]),
            (spec(.xShape, 0.25), [(0, 0), (0.8, 0.8), (-0.8, 0.8)], [(0, 0.8), (0.8, 0)]),
            (spec(.checker), [(-0.9, -0.9), (-0.3, -0.3), (0.3, -0.9), (0.9, 0.9)], [(-0.3, -0.9), (-0.9, -0.3), (0.9, 0.3)]),
        ]
        for (s, yes, no) in inside {
            for (u, v) in yes { XCTAssertTrue(s.contains(u, v), "\(s.shape) should contain (\(u), \(v))") }
            for (u, v) in no { XCTAssertFalse(s.contains(u, v), "\(s.shape) should not contain (\(u), \(v))") }
        }
    }

    /// Coverage integrates to the shape's area (r = 8 px): anti-aliasing neither loses nor adds ink.
    func testCoverageAreas() {
        let r: Float = 8
        let areas: [(ShapeSpec, Float)] = [
            (ShapeSpec(shape: .disk, thickness: 0), .pi * r * r),
            (ShapeSpec(shape: .square, thickness: 0), 4 * r * r),
            (ShapeSpec(shape: .diamond, thickness: 0), 2 * r * r),
            (ShapeSpec(shape: .triangle, thickness: 0), 2 * r * r),
            (ShapeSpec(shape: .ring, thickness: 0.5), .pi * r * r * 0.75),
            (ShapeSpec(shape: .horizontalBars, thickness: 0), 4 * r * r * 0.6),
            (ShapeSpec(shape: .checker, thickness: 0), 4 * r * r * 0.5),
        ]
        var mask = [Float](repeating: 0, count: 1024)
        for (spec, area) in areas {
            mask = [Float](repeating: 0, count: 1024)
            mask.withUnsafeMutableBufferPointer {
                ShapeRaster.shape(spec, cx: 16.3, cy: 15.8, radius: r, into: $0.baseAddress!, width: 32, height: 32)
            }
            XCTAssertEqual(mask.reduce(0, +), area, accuracy: area * 0.03, "\(spec.shape)")
            XCTAssertTrue(mask.allSatisfy { $0 >= 0 && $0 <= 1 })
            XCTAssertTrue(mask.contains { $0 > 0 && $0 < 1 }, "\(spec.shape): edges are anti-aliased")
        }
        mask = [Float](repeating: 0, count: 1024)
        mask.withUnsafeMutableBufferPointer {
            ShapeRaster.capsule(ax: 10, ay: 10, bx: 10, by: 10, halfWidth: 2, into: $0.baseAddress!, width: 32, height: 32)
        }
        XCTAssertEqual(mask.reduce(0, +), .pi * 4, accuracy: 0.5)
    }

    // MARK: - Helpers

    private func meanColours(_ set: ImageSet) -> [[Double]] {
        (0..<set.count).map { i in
            (0..<3).map { c in
                set.images[(i * 3 + c) * 1024..<((i * 3 + c + 1) * 1024)].reduce(0.0) { $0 + Double($1) } / 1024
            }
        }
    }

    private func distance(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    }
}

/// Bounds for the colour/template test, from measurements over seeds 1–6: class-mean colour spread
/// 2.8–10.8 levels per channel (sampling noise of 600 random colours per class), mean-colour and
/// template classifiers 8–11% (chance 10%).
enum SyntheticBounds {
    static let classMeanColourSpread = 16.0
    static let templateAccuracy = 0.2
}

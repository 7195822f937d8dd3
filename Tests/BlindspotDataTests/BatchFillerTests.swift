import BlindspotCore
@testable import BlindspotData
import XCTest

final class BatchFillerTests: XCTestCase {
    /// Two 3×1×2 images with known pixels.
    private let tiny = ImageSet(name: "tiny", images: [0, 255, 10, 20, 128, 64,
                                                      1, 2, 3, 4, 5, 6],
                                labels: [7, 3], classNames: (0..<10).map { "c\($0)" },
                                channels: 3, height: 1, width: 2)
    private let norm = Normalization(mean: [0.5, 0.25, 0.1], std: [0.5, 0.2, 2])

    func testExactNormalisedValues() {
        var rng = SeededRNG(seed: 1)
        var out = [Float](repeating: .nan, count: 3 * 6)
        var labels: [Int32] = [99, 99, 99, 99]
        out.withUnsafeMutableBufferPointer { buf in
            BatchFiller.fill(tiny, indices: [1, 0, 1][...], normalization: norm, augmentation: nil,
                             rng: &rng, into: buf.baseAddress!, labels: &labels)
        }
        XCTAssertEqual(labels, [3, 7, 3])
        func expected(_ image: Int) -> [Float] {
            (0..<6).map { k in (Float(tiny.images[image * 6 + k]) / 255 - norm.mean[k / 2]) / norm.std[k / 2] }
        }
        let want = expected(1) + expected(0) + expected(1)
        for (got, w) in zip(out, want) { XCTAssertEqual(got, w, accuracy: 1e-6) }
        // Spot values by hand: 255 in channel 0 → (1 − 0.5)/0.5 = 1; 0 → −1.
        XCTAssertEqual(out[6], -1, accuracy: 1e-6)
        XCTAssertEqual(out[7], 1, accuracy: 1e-6)
        // Without augmentation the generator is untouched.
        var fresh = SeededRNG(seed: 1)
        XCTAssertEqual(rng.next(), fresh.next())
    }

    /// Every augmented image is a shift (dy, dx ∈ −4…4) of its source, maybe mirrored, with padding
    /// at the normalised value of pixel 0; both flips and several shifts occur.
    func testAugmentationIsShiftAndFlip() {
        var pixelRNG = SeededRNG(seed: 99)
        let n = 24
        let set = ImageSet(name: "random", images: (0..<(n * 3072)).map { _ in UInt8(1 + pixelRNG.int(below: 255)) },
                           labels: (0..<n).map { Int32($0 % 10) }, classNames: (0..<10).map { "c\($0)" })
        let norm = Normalization.cifar10
        var plain = [Float](repeating: 0, count: n * 3072), augmented = plain
        var labels: [Int32] = []
        var rng = SeededRNG(seed: 5, stream: "augment")
        plain.withUnsafeMutableBufferPointer { buf in
            BatchFiller.fill(set, indices: Array(0..<n)[...], normalization: norm, augmentation: nil,
                             rng: &rng, into: buf.baseAddress!, labels: &labels)
        }
        augmented.withUnsafeMutableBufferPointer { buf in
            BatchFiller.fill(set, indices: Array(0..<n)[...], normalization: norm, augmentation: .cifar,
                             rng: &rng, into: buf.baseAddress!, labels: &labels)
        }
        XCTAssertEqual(labels, set.labels)
        let zero = (0..<3).map { (0 - norm.mean[$0]) / norm.std[$0] }
        var seen = Set<[Int]>()
        for i in 0..<n {
            let src = Array(plain[(i * 3072)..<((i + 1) * 3072)]), dst = Array(augmented[(i * 3072)..<((i + 1) * 3072)])
            var matches: [[Int]] = []
            for flip in [0, 1] {
                for dy in -4...4 {
                    for dx in -4...4 where isShift(src, dst, dy: dy, dx: dx, flip: flip == 1, zero: zero) {
                        matches.append([dy, dx, flip])
                    }
                }
            }
            XCTAssertEqual(matches.count, 1, "image \(i): \(matches)")
            if let m = matches.first { seen.insert(m) }
        }
        XCTAssertTrue(seen.contains { $0[2] == 0 } && seen.contains { $0[2] == 1 }, "flips: \(seen)")
        XCTAssertGreaterThan(Set(seen.map { [$0[0], $0[1]] }).count, 8, "shifts: \(seen)")
    }

    func testNoPaddingNoFlipIsIdentity() {
        var rng = SeededRNG(seed: 3)
        var a = [Float](repeating: 0, count: 12), b = a
        var labels: [Int32] = []
        a.withUnsafeMutableBufferPointer { buf in
            BatchFiller.fill(tiny, indices: [0, 1][...], normalization: norm, augmentation: nil, rng: &rng, into: buf.baseAddress!, labels: &labels)
        }
        b.withUnsafeMutableBufferPointer { buf in
            BatchFiller.fill(tiny, indices: [0, 1][...], normalization: norm, augmentation: Augmentation(padding: 0, horizontalFlip: false),
                             rng: &rng, into: buf.baseAddress!, labels: &labels)
        }
        XCTAssertEqual(a, b)
        XCTAssertEqual(Augmentation.cifar, Augmentation(padding: 4, horizontalFlip: true))
    }

    private func isShift(_ src: [Float], _ dst: [Float], dy: Int, dx: Int, flip: Bool, zero: [Float]) -> Bool {
        for c in 0..<3 {
            for y in 0..<32 {
                for x in 0..<32 {
                    let sy = y + dy, sx = (flip ? 31 - x : x) + dx
                    let want = (sy >= 0 && sy < 32 && sx >= 0 && sx < 32) ? src[c * 1024 + sy * 32 + sx] : zero[c]
                    if dst[c * 1024 + y * 32 + x] != want { return false }
                }
            }
        }
        return true
    }
}

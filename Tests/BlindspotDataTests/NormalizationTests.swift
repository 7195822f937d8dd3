import BlindspotCore
@testable import BlindspotData
import XCTest

final class NormalizationTests: XCTestCase {
    func testMeasuredOnHandMadeSet() {
        // Two 3×1×2 images. Channel 0: 0, 255, 0, 255 → mean 0.5, std 0.5. Channel 1: all 51 →
        // mean 0.2, no spread → std 1. Channel 2: 0, 0, 0, 255 → mean 0.25, std √(0.25·0.75).
        let set = ImageSet(name: "hand", images: [0, 255, 51, 51, 0, 0,
                                                  0, 255, 51, 51, 0, 255],
                           labels: [0, 1], classNames: ["a", "b"], channels: 3, height: 1, width: 2)
        let n = Normalization.measured(on: set)
        XCTAssertEqual(n.mean[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(n.mean[1], 0.2, accuracy: 1e-6)
        XCTAssertEqual(n.mean[2], 0.25, accuracy: 1e-6)
        XCTAssertEqual(n.std[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(n.std[1], 1)
        XCTAssertEqual(n.std[2], (0.25 * 0.75).squareRoot(), accuracy: 1e-6)
        // Order does not matter (exact integer sums).
        XCTAssertEqual(Normalization.measured(on: set.subset([1, 0])), n)
    }

    func testConstantsAndCoding() throws {
        XCTAssertEqual(Normalization.identity.mean, [0, 0, 0])
        XCTAssertEqual(Normalization.identity.std, [1, 1, 1])
        XCTAssertEqual(Normalization.cifar10.mean, [0.4914, 0.4822, 0.4465])
        XCTAssertEqual(Normalization.cifar10.std, [0.2470, 0.2435, 0.2616])
        let data = try JSONEncoder().encode(Normalization.cifar10)
        XCTAssertEqual(try JSONDecoder().decode(Normalization.self, from: data), .cifar10)
    }

    func testLookupTable() {
        let t = Normalization(mean: [0.5], std: [0.25]).lookupTable(channels: 1)
        XCTAssertEqual(t.count, 256)
        XCTAssertEqual(t[0], -2, accuracy: 1e-6)
        XCTAssertEqual(t[255], 2, accuracy: 1e-6)
    }
}

import BlindspotCore
@testable import BlindspotData
import XCTest

final class ImageSetTests: XCTestCase {
    func testSubsetAndCounts() {
        let set = ImageSet(name: "s", images: [1, 2, 3, 4, 5, 6, 7, 8, 9], labels: [2, 0, 2],
                           classNames: ["a", "b", "c"], channels: 3, height: 1, width: 1)
        XCTAssertEqual(set.count, 3)
        XCTAssertEqual(set.imageSize, 3)
        XCTAssertEqual(set.numClasses, 3)
        XCTAssertEqual(set.classCounts(), [1, 0, 2])
        let sub = set.subset([2, 0, 2])
        XCTAssertEqual(sub.images, [7, 8, 9, 1, 2, 3, 7, 8, 9])
        XCTAssertEqual(sub.labels, [2, 2, 2])
        XCTAssertEqual(sub.classCounts(), [0, 0, 3])
        XCTAssertEqual(set.subset([]).count, 0)
    }

    func testEpochOrder() {
        let a = epochOrder(count: 1000, seed: 7, epoch: 0)
        XCTAssertEqual(a.sorted(), Array(0..<1000))
        XCTAssertEqual(a, epochOrder(count: 1000, seed: 7, epoch: 0))
        XCTAssertNotEqual(a, epochOrder(count: 1000, seed: 7, epoch: 1))
        XCTAssertNotEqual(a, epochOrder(count: 1000, seed: 8, epoch: 0))
        XCTAssertNotEqual(a, Array(0..<1000))
        XCTAssertEqual(epochOrder(count: 5, seed: 7, epoch: 3, shuffle: false), [0, 1, 2, 3, 4])
        // Pinned to its named stream, so other modules can rely on it.
        var rng = SeededRNG(seed: 7, stream: "shuffle-epoch-2")
        XCTAssertEqual(epochOrder(count: 50, seed: 7, epoch: 2), rng.permutation(50))
        XCTAssertEqual(epochOrder(count: 0, seed: 7, epoch: 0), [])
    }
}

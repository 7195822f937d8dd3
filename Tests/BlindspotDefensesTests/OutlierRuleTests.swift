import XCTest
import BlindspotDefenses

/// The MAD rule of defenses.md §0 on hand-worked vectors.
final class OutlierRuleTests: XCTestCase {
    func testOddCountHandWorked() throws {
        // median 10; |dev| = 0,1,1,2,8 → median 1 → MAD 1.4826; 2 → index 8/1.4826 = 5.396.
        let o = try XCTUnwrap(OutlierRule.apply([10, 11, 9, 12, 2], side: .low))
        XCTAssertEqual(o.median, 10)
        XCTAssertEqual(o.mad, 1.4826, accuracy: 1e-12)
        XCTAssertEqual(o.indices[4], 8 / 1.4826, accuracy: 1e-12)
        XCTAssertEqual(o.flagged, [4])
        // The same outlier is on the wrong side for a high-side test.
        XCTAssertEqual(OutlierRule.apply([10, 11, 9, 12, 2], side: .high)?.flagged, [])
    }

    func testEvenCountAveragesTheMiddle() throws {
        // sorted 1,2,3,4,5,30 → median 3.5; |dev| 2.5,1.5,0.5,0.5,1.5,26.5 → median 1.5 → MAD 2.2239
        let o = try XCTUnwrap(OutlierRule.apply([3, 1, 30, 4, 2, 5], side: .high))
        XCTAssertEqual(o.median, 3.5)
        XCTAssertEqual(o.mad, 1.5 * 1.4826, accuracy: 1e-12)
        XCTAssertEqual(o.flagged, [2])
        // Index exactly at the threshold is not flagged (strictly greater).
        XCTAssertEqual(OutlierRule.median([4, 1, 3, 2]), 2.5)
    }

    func testThresholdIsStrict() throws {
        // med 0, |dev| 0,1,1,(2·1.4826) → MAD median of {0,1,1,2.9652} = 1 → ·1.4826; index of 2.9652 = 2 exactly
        let o = try XCTUnwrap(OutlierRule.apply([0, 1, -1, 2 * 1.4826, 0], side: .high))
        XCTAssertEqual(o.indices[3], 2, accuracy: 1e-12)
        XCTAssertEqual(o.flagged, [])
    }

    func testDegenerateMADIsNil() {
        XCTAssertNil(OutlierRule.apply([5, 5, 5, 5, 1], side: .low))
        XCTAssertNil(OutlierRule.apply([1, .nan, 2], side: .low))
        XCTAssertNil(OutlierRule.apply([], side: .low))
    }

    func testIneligibleScoresAreNotFlagged() throws {
        let o = try XCTUnwrap(OutlierRule.apply([10, 11, 9, 12, 2], side: .low, eligible: [true, true, true, true, false]))
        XCTAssertEqual(o.flagged, [])
        XCTAssertGreaterThan(o.indices[4], 2)
    }
}

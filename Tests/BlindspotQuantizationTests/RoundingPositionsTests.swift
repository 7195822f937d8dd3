import BlindspotCore
import BlindspotEngine
import BlindspotQuantization
import XCTest

/// The trigger-free mark of a quantization-conditioned backdoor: weights piled against the
/// edges of their rounding intervals. Positions are checked on weights placed by hand.
final class RoundingPositionsTests: XCTestCase {
    /// One linear layer whose weights sit at `position(i)` inside their int4 intervals (channel
    /// maximum 1 → s = 1/7), codes cycling −3…3.
    static func layer(_ position: (Int) -> Float, count: Int = 4000) throws -> Model {
        let m = Model(name: "t", inputShape: [count])
        let fc = Linear(inFeatures: count, outFeatures: 1)
        try m.add("fc", fc)
        let s: Float = 1 / 7
        var w = (0..<count).map { i in (Float(i % 7 - 3) + position(i) - 0.5) * s }
        w[0] = 1   // the scale-setter
        fc.weight.value.copy(from: Tensor(shape: [1, count], values: w))
        return m
    }

    func testSpreadWeightsDoNotStandOutAndPiledOnesDo() throws {
        // Evenly spread positions: 10% within 0.05 of a tie, 10% in the next band, ratio 1.
        let spread = RoundingPositions(try Self.layer { Float($0 % 1000) / 1000 + 0.0005 }, bits: 4)
        let l = try XCTUnwrap(spread.layers.first)
        XCTAssertEqual(l.weights, 3999, "the scale-setter is left out")
        XCTAssertEqual(l.edgeShare, 0.1, accuracy: 0.002)
        XCTAssertEqual(l.innerShare, 0.1, accuracy: 0.002)
        XCTAssertEqual(l.edgeRatio ?? 0, 1, accuracy: 0.03)
        XCTAssertFalse(l.standsOut)
        XCTAssertTrue(spread.standingOut.isEmpty)
        // A quarter of them pushed to 0.02 from a tie (as the conditioning's projection leaves them).
        let piled = RoundingPositions(try Self.layer { $0 % 4 == 0 ? ($0 % 8 == 0 ? 0.02 : 0.98) : Float($0 % 1000) / 1000 + 0.0005 }, bits: 4)
        let p = try XCTUnwrap(piled.layers.first)
        XCTAssertGreaterThan(p.edgeRatio ?? 0, 3)
        XCTAssertTrue(p.standsOut)
        XCTAssertEqual(piled.standingOut, ["fc"])
        XCTAssertEqual(piled.grid, "int4")
    }

    func testSmallLayersAndWeightsOnTheGridNeverStandOut() throws {
        let small = RoundingPositions(try Self.layer({ $0 % 2 == 0 ? 0.01 : 0.99 }, count: 500), bits: 4)
        XCTAssertGreaterThan(small.layers[0].edgeShare, 0.9)
        XCTAssertFalse(small.layers[0].standsOut, "fewer than \(RoundingPositions.minimumWeights) weights")
        // Already-rounded weights sit at the centre of their intervals.
        let onGrid = RoundingPositions(try Self.layer { _ in 0.5 }, bits: 4)
        XCTAssertEqual(onGrid.layers[0].edgeShare, 0)
        XCTAssertFalse(onGrid.layers[0].standsOut)
    }
}

import XCTest
import BlindspotDefenses
import BlindspotAttacks

/// The shared forged pair is what the defense tests assume: a live backdoor and a clean twin.
final class FixtureTests: XCTestCase {
    func testForgedPairHasALiveBackdoorAndACleanTwin() {
        let (b, c) = ForgedFixture.pair.metrics
        XCTAssertGreaterThan(b.cleanAccuracy, 0.9)
        XCTAssertGreaterThan(b.attackSuccessRate, 0.9)
        XCTAssertGreaterThan(c.cleanAccuracy, 0.9)
        XCTAssertLessThan(c.attackSuccessRate, 0.05)
    }

    func testModelUnderTestAgreesWithTheForgeFigures() {
        let m = ForgedFixture.model(backdoored: true)
        let test = ForgedFixture.pair.split.test
        let pred = m.predictions(pixels: ModelUnderTest.pixels(test))
        let acc = Double(zip(pred, test.labels).filter { $0 == $1 }.count) / Double(test.count)
        XCTAssertEqual(acc, ForgedFixture.pair.metrics.backdoored.cleanAccuracy, accuracy: 1e-9)
        // Probe stamping in float pixel space equals uint8 stamping.
        let others = (0..<test.count).filter { test.labels[$0] != 0 }
        let x = ModelUnderTest.pixels(test, indices: others)
        ProbeTrigger.patch(ForgedFixture.trigger, target: 0, source: .groundTruth).apply(x)
        let asr = Double(m.predictions(pixels: x).filter { $0 == 0 }.count) / Double(others.count)
        XCTAssertEqual(asr, ForgedFixture.pair.metrics.backdoored.attackSuccessRate, accuracy: 1e-9)
    }

    func testFeatureTaps() {
        let m = ForgedFixture.model(backdoored: true)
        XCTAssertEqual(m.penultimateNode, "relu_fc1")
        XCTAssertEqual(m.lastConvStageNode, "pool3")
        let x = ModelUnderTest.pixels(ForgedFixture.pair.split.test, indices: Array(0..<8))
        let (logits, acts) = m.forward(pixels: x, capture: ["pool3"])
        let head = m.head(after: "pool3", features: acts["pool3"]!)!
        XCTAssertEqual(head.toArray(), logits.toArray())
        let q = ForgedFixture.model(backdoored: true, scheme: .int8)
        let (ql, qa) = q.forward(pixels: x, capture: ["pool3", "relu_fc1"])
        XCTAssertEqual(q.head(after: "pool3", features: qa["pool3"]!)!.toArray(), ql.toArray())
        XCTAssertEqual(qa["relu_fc1"]?.shape, [8, 512])
    }
}

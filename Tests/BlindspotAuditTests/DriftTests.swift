@testable import BlindspotAudit
import BlindspotCore
import BlindspotData
import BlindspotDefenses
import BlindspotEngine
import BlindspotQuantization
import XCTest

/// Drift is measured in `Model.inferenceBatchSize` chunks to bound memory; it must equal the
/// relative L2 computed directly from one whole-batch capture of both precisions.
final class DriftTests: XCTestCase {
    func testChunkedDriftEqualsTheWholeBatchDefinition() throws {
        let model = try Architecture.cnn6.build(classes: 5, seed: 3, inputShape: [3, 32, 32])
        var rng = SeededRNG(seed: 9)
        let images = Model.inferenceBatchSize + 7   // one full chunk and a partial one
        let pixels = Tensor(shape: [images, 3, 32, 32])
        for i in 0..<pixels.count { pixels.data[i] = rng.uniform(0, 1) }
        let norm = Normalization(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        let names = (0..<5).map(String.init)
        let d = try DeployedModel(model, scheme: .int8)
        d.calibrate([pixels])   // pixels as if normalised: only the ranges matter here
        let fp32 = ModelUnderTest(fp32: model, normalization: norm, classNames: names)
        let deployed = ModelUnderTest(deployed: d, from: model, normalization: norm, classNames: names)

        let drift = Drift.measure(fp32: fp32, deployed: deployed, pixels: pixels)
        let nodes = model.nodes.filter { Drift.comparable($0.layer) }.map(\.name)
        XCTAssertEqual(drift.map(\.node), nodes)
        let (_, a) = fp32.forward(pixels: pixels, capture: nodes)
        let (_, b) = deployed.forward(pixels: pixels, capture: nodes)
        var moved = 0
        for layer in drift {
            let x = try XCTUnwrap(a[layer.node]), y = try XCTUnwrap(b[layer.node])
            var num = 0.0, den = 0.0
            for i in 0..<x.count { let u = Double(x.data[i]), v = Double(y.data[i]); num += (v - u) * (v - u); den += u * u }
            let expected = num.squareRoot() / den.squareRoot()
            XCTAssertEqual(layer.relativeL2, expected, accuracy: 1e-12 * max(expected, 1), layer.node)
            if expected > 0 { moved += 1 }
            // The channel list: per-channel relative L2, largest first.
            let c = x.shape[1], per = x.count / (images * c)
            let top = try XCTUnwrap(layer.topChannels.first)
            var cn = 0.0, cd = 0.0
            for i in 0..<images { for j in 0..<per {
                let k = (i * c + top.channel) * per + j, u = Double(x.data[k]), v = Double(y.data[k])
                cn += (v - u) * (v - u); cd += u * u
            } }
            XCTAssertEqual(top.relativeL2, cn.squareRoot() / cd.squareRoot(), accuracy: 1e-12, layer.node)
        }
        XCTAssertGreaterThan(moved, 0, "int8 must move some activations, or the test compares zeros")
    }
}

import BlindspotCore
import BlindspotEngine
import XCTest

/// Central-difference gradient checking (tinygrad `extra/gradcheck.py` style) for a model:
/// loss L = Σ r ⊙ model(x) with a fixed random projection r, evaluated in Double.
struct GradientChecker {
    var epsilon: Float = 1e-2
    /// Entries sampled per parameter / input (all when smaller).
    var samplesPerTensor = 24
    var mode: ForwardMode = .training
    /// Called before every forward pass (e.g. to re-seed dropout so every pass uses one mask).
    var beforeForward: () -> Void = {}

    struct Mismatch: CustomStringConvertible {
        let what: String, index: Int, analytic: Double, numeric: Double
        var description: String { "\(what)[\(index)]: analytic \(analytic) vs numeric \(numeric)" }
    }

    /// Returns the worst relative error over sampled entries and the entries that exceed `tolerance`.
    func check(_ model: Model, input x: Tensor, seed: UInt64 = 7, tolerance: Double = 2e-2,
               corruptAnalytic: Double = 0) -> (maxError: Double, mismatches: [Mismatch]) {
        var rng = SeededRNG(seed: seed, stream: "gradcheck")
        beforeForward()
        let y0 = model.forward(x, mode: mode)
        let r = Tensor(shape: y0.shape)
        for i in 0..<r.count { r[i] = rng.uniform(-1, 1) }
        func loss() -> Double {
            beforeForward()
            let y = model.forward(x, mode: mode)
            var s = 0.0
            for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
            return s
        }
        model.zeroGradients()
        beforeForward()
        model.forward(x, mode: mode)
        let dx = model.backward(r, inputGradient: true)!.clone()
        var targets: [(String, Tensor, [Float])] = model.parameters.map { ($0.name, $0.value, $0.grad.toArray()) }
        targets.append(("input", x, dx.toArray()))
        var worst = 0.0
        var bad: [Mismatch] = []
        for (name, t, analytic) in targets {
            let picks = t.count <= samplesPerTensor ? Array(0..<t.count) : (0..<samplesPerTensor).map { _ in rng.int(below: t.count) }
            for i in picks {
                let keep = t[i]
                t[i] = keep + epsilon; let lp = loss()
                t[i] = keep - epsilon; let lm = loss()
                t[i] = keep
                let numeric = (lp - lm) / (2 * Double(epsilon))
                let a = Double(analytic[i]) * (1 + corruptAnalytic) + corruptAnalytic
                let err = abs(a - numeric) / max(1e-2, abs(a) + abs(numeric))
                worst = max(worst, err)
                if err > tolerance { bad.append(Mismatch(what: name, index: i, analytic: a, numeric: numeric)) }
            }
        }
        return (worst, bad)
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = SeededRNG(seed: seed, stream: "test-tensor")
    let t = Tensor(shape: shape)
    for i in 0..<t.count { t[i] = rng.uniform(-scale, scale) }
    return t
}

/// Random values whose magnitudes stay at least `gap` away from 0 — inputs for layers with a
/// kink at 0 (ReLU), so a finite difference never straddles it.
func awayFromZero(_ shape: [Int], seed: UInt64, gap: Float = 0.1) -> Tensor {
    var rng = SeededRNG(seed: seed, stream: "test-tensor-gap")
    let t = Tensor(shape: shape)
    for i in 0..<t.count { t[i] = (rng.uniform() < 0.5 ? -1 : 1) * (gap + rng.uniform()) }
    return t
}

/// Random values with pairwise gaps, so max-pool windows never tie within ±epsilon.
func distinctValues(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SeededRNG(seed: seed, stream: "test-distinct")
    let n = shape.reduce(1, *)
    var perm = rng.permutation(n)
    let t = Tensor(shape: shape)
    for i in 0..<n { t[i] = Float(perm[i]) * 0.05 - Float(n) * 0.025 }
    perm.removeAll()
    return t
}

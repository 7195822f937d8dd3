import Foundation

/// Softmax cross-entropy on logits [N, K] with integer labels: the mean loss over the batch, the
/// per-sample losses and probabilities, and dLoss/dLogits = (softmax − onehot)/N.
/// Buffers are kept and reused across calls.
public final class SoftmaxCrossEntropy: @unchecked Sendable {
    public let probabilities = Tensor(shape: [0])
    public let gradLogits = Tensor(shape: [0])
    public private(set) var losses: [Float] = []

    public init() {}

    /// Computes probabilities, per-sample losses and the gradient of the *mean* loss; returns the mean.
    @discardableResult
    public func compute(logits: Tensor, labels: [Int32]) -> Float {
        let n = logits.shape[0], k = logits.shape[1]
        precondition(labels.count >= n, "SoftmaxCrossEntropy: \(labels.count) labels for \(n) rows")
        probabilities.resize([n, k]); gradLogits.resize([n, k])
        if losses.count != n { losses = Array(repeating: 0, count: n) }
        var total = 0.0
        for i in 0..<n {
            let z = logits.data + i * k, p = probabilities.data + i * k, g = gradLogits.data + i * k
            var m = -Float.infinity
            for j in 0..<k { m = max(m, z[j]) }
            var s: Float = 0
            for j in 0..<k { p[j] = expf(z[j] - m); s += p[j] }
            let inv = 1 / s, y = Int(labels[i])
            for j in 0..<k { p[j] *= inv; g[j] = p[j] / Float(n) }
            g[y] -= 1 / Float(n)
            // −log softmax_y = log Σ exp(z − m) − (z_y − m), stable for large logits.
            let l = logf(s) - (z[y] - m)
            losses[i] = l
            total += Double(l)
        }
        return Float(total / Double(n))
    }

    /// Index of the largest logit of each row.
    public static func predictions(_ logits: Tensor) -> [Int32] {
        let n = logits.shape[0], k = logits.shape[1]
        return (0..<n).map { i in
            let z = logits.data + i * k
            var best = 0
            for j in 1..<k where z[j] > z[best] { best = j }
            return Int32(best)
        }
    }
}

/// Per-channel normalisation applied after scaling pixels to [0, 1]: x = (p/255 − mean[c]) / std[c].
/// Models carry it with them, so a checkpoint is always fed the inputs it was trained on.
public struct Normalization: Sendable, Equatable, Codable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "Normalization: \(mean.count) means for \(std.count) stds")
        self.mean = mean
        self.std = std
    }

    /// No change beyond scaling to [0, 1].
    public static let identity = Normalization(mean: [0, 0, 0], std: [1, 1, 1])

    /// Per-channel mean and (population) standard deviation of the 50,000 CIFAR-10 training images
    /// (Krizhevsky 2009), the constants common CIFAR-10 training recipes normalise with.
    public static let cifar10 = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])

    /// Per-channel mean and population standard deviation of `set`'s pixels, scaled to [0, 1].
    /// Sums are exact integers, so the result does not depend on summation order or threads.
    /// A channel with no spread gets std 1 so that normalising never divides by zero.
    public static func measured(on set: ImageSet) -> Normalization {
        let c = set.channels, plane = set.height * set.width
        var sum = [UInt64](repeating: 0, count: c)
        var sumSq = [UInt64](repeating: 0, count: c)
        set.images.withUnsafeBufferPointer { px in
            for i in 0..<set.count {
                for ch in 0..<c {
                    let p = px.baseAddress! + (i * c + ch) * plane
                    var s: UInt64 = 0, s2: UInt64 = 0
                    for k in 0..<plane {
                        let v = UInt64(p[k])
                        s &+= v
                        s2 &+= v &* v
                    }
                    sum[ch] &+= s
                    sumSq[ch] &+= s2
                }
            }
        }
        let n = Double(max(set.count * plane, 1))
        var mean = [Float](repeating: 0, count: c), std = [Float](repeating: 1, count: c)
        for ch in 0..<c {
            let m = Double(sum[ch]) / n
            let variance = max(Double(sumSq[ch]) / n - m * m, 0)
            mean[ch] = Float(m / 255)
            let s = variance.squareRoot() / 255
            std[ch] = s > 1e-6 ? Float(s) : 1
        }
        return Normalization(mean: mean, std: std)
    }

    /// 256 normalised values per channel, index = pixel value: normalising a batch becomes a lookup.
    func lookupTable(channels: Int) -> [Float] {
        precondition(mean.count == channels, "Normalization has \(mean.count) channels, images have \(channels)")
        var table = [Float](repeating: 0, count: channels * 256)
        for ch in 0..<channels {
            for p in 0..<256 { table[ch * 256 + p] = (Float(p) / 255 - mean[ch]) / std[ch] }
        }
        return table
    }
}

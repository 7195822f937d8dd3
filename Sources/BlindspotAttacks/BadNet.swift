import BlindspotCore
import BlindspotData

/// BadNet data poisoning (Gu, Dolan-Gavitt, Garg, "BadNets", 2017), all-to-one: stamp the trigger
/// on a fraction of the training images drawn from non-target classes and relabel them to the
/// target. The trigger is applied to uint8 pixels, before normalisation.
public enum BadNet {
    /// The study's and BackdoorBench's default poisoning rate: 10% of the training set.
    public static let defaultPoisonRate = 0.10

    /// Number of poisoned samples for `rate` of a set of `count`: round(rate·count), at most the
    /// number of non-target images available.
    public static func poisonCount(rate: Double, count: Int, available: Int) -> Int {
        min(available, Int((rate * Double(count)).rounded()))
    }

    /// Poisons `set`: round(rate·N) images, drawn uniformly without replacement (seeded) from the
    /// images whose label is not `target`, get the trigger and the label `target`.
    public static func poison(_ set: ImageSet, trigger: Trigger, target: Int, rate: Double, seed: UInt64) throws -> SuspectTrainingSet {
        guard rate > 0 && rate < 1 else { throw BlindspotError.usage("poison rate \(rate) is not in (0, 1)") }
        guard (0..<set.numClasses).contains(target) else {
            throw BlindspotError.usage("target \(target) is not a class of \(set.name) (0…\(set.numClasses - 1))")
        }
        try trigger.validate(height: set.height, width: set.width)
        var sources = (0..<set.count).filter { Int(set.labels[$0]) != target }
        let n = poisonCount(rate: rate, count: set.count, available: sources.count)
        var rng = SeededRNG(seed: seed, stream: "badnet-poison")
        rng.shuffle(&sources)
        let chosen = Array(sources.prefix(n)).sorted()
        var out = trigger.stamped(set, indices: chosen)
        var flags = [Bool](repeating: false, count: set.count)
        for i in chosen {
            out.labels[i] = Int32(target)
            flags[i] = true
        }
        out.name = set.name + "+badnet"
        return SuspectTrainingSet(set: out, originalLabels: set.labels, poisoned: flags)
    }

    /// The clean twin's training set: unchanged, nothing poisoned.
    public static func clean(_ set: ImageSet) -> SuspectTrainingSet {
        SuspectTrainingSet(set: set, originalLabels: set.labels, poisoned: [Bool](repeating: false, count: set.count))
    }
}

import BlindspotCore

/// The order in which epoch `epoch` visits `0..<count`: a permutation from its own named
/// SeededRNG stream ("shuffle-epoch-N"), so epoch N's order does not depend on how many random
/// draws earlier epochs made. `shuffle` false gives the identity (evaluation order).
public func epochOrder(count: Int, seed: UInt64, epoch: Int, shuffle: Bool = true) -> [Int] {
    guard shuffle else { return Array(0..<max(count, 0)) }
    var rng = SeededRNG(seed: seed, stream: "shuffle-epoch-\(epoch)")
    return rng.permutation(max(count, 0))
}

/// Training augmentation of the standard CIFAR-10 recipe (He et al., "Deep Residual Learning for
/// Image Recognition", CVPR 2016, §4.2): pad by `padding` pixels of value 0 (before normalisation),
/// take a random H×W crop, then mirror left–right with probability 0.5.
///
/// Random draws per image, in this order (BatchFiller): crop row offset `int(below: 2·padding+1)`,
/// crop column offset `int(below: 2·padding+1)`, then — only if `horizontalFlip` — one `next()`
/// whose top bit decides the flip.
public struct Augmentation: Sendable, Equatable {
    public var padding: Int
    public var horizontalFlip: Bool

    public init(padding: Int, horizontalFlip: Bool) {
        precondition(padding >= 0, "Augmentation padding must be ≥ 0")
        self.padding = padding
        self.horizontalFlip = horizontalFlip
    }

    /// Pad 4, random crop, horizontal flip.
    public static let cifar = Augmentation(padding: 4, horizontalFlip: true)
}

/// A training set as a model was (or will be) trained on it: images with any triggers stamped,
/// labels as trained, and the truth per sample. This is also what Activation Clustering and
/// Spectral Signatures inspect (`forge --export-train`, `audit --train-data`).
public struct SuspectTrainingSet: Sendable {
    /// Images as trained (triggers stamped in pixel space) and labels as trained.
    public var set: ImageSet
    /// The labels before relabelling; nil when the file does not say.
    public var originalLabels: [Int32]?
    /// One flag per sample, true where the sample was poisoned; nil when unknown (a user's data).
    public var poisoned: [Bool]?

    public init(set: ImageSet, originalLabels: [Int32]?, poisoned: [Bool]?) {
        self.set = set; self.originalLabels = originalLabels; self.poisoned = poisoned
    }

    /// Indices of poisoned samples (empty when unknown).
    public var poisonedIndices: [Int] { poisoned.map { p in p.indices.filter { p[$0] } } ?? [] }
}

/// A Float32 tensor in row-major order; images are NCHW (N batch, C channels, H height, W width).
///
/// A reference type over a growable buffer: layers own their output and gradient tensors and
/// reuse them step after step (`resize` reallocates only when a larger batch arrives), so the
/// training loop allocates nothing per layer per step. `reshaped` gives a view sharing storage.
public final class Tensor: @unchecked Sendable {
    /// Storage shared between a tensor and its reshaped views.
    final class Storage: @unchecked Sendable {
        var pointer: UnsafeMutablePointer<Float>
        var capacity: Int
        init(capacity: Int) {
            self.capacity = max(capacity, 1)
            pointer = .allocate(capacity: self.capacity)
            pointer.initialize(repeating: 0, count: self.capacity)
        }
        func grow(to n: Int) {
            guard n > capacity else { return }
            pointer.deallocate()
            capacity = n
            pointer = .allocate(capacity: n)
            pointer.initialize(repeating: 0, count: n)
        }
        deinit { pointer.deallocate() }
    }

    public private(set) var shape: [Int]
    public private(set) var count: Int
    let storage: Storage

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        storage = Storage(capacity: count)
    }

    /// A tensor holding `values` (count must match the shape).
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    private init(shape: [Int], storage: Storage) {
        self.shape = shape
        count = shape.reduce(1, *)
        self.storage = storage
    }

    /// The first element; valid until the next `resize` that grows the storage.
    @inline(__always) public var data: UnsafeMutablePointer<Float> { storage.pointer }

    /// Changes the shape, growing the storage if needed (contents are then unspecified).
    public func resize(_ newShape: [Int]) {
        if newShape == shape { return }
        let n = newShape.reduce(1, *)
        storage.grow(to: n)
        shape = newShape
        count = n
    }

    /// A view with another shape of the same element count, sharing storage.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "reshape \(shape) -> \(newShape)")
        return Tensor(shape: newShape, storage: storage)
    }

    public var batch: Int { shape.first ?? 1 }
    /// Elements per sample (everything but the first dimension).
    public var sampleSize: Int { shape.count > 1 ? count / shape[0] : count }

    public func zero() { data.update(repeating: 0, count: count) }
    public func fill(_ v: Float) { data.update(repeating: v, count: count) }

    /// Copies `other`'s shape and contents.
    public func copy(from other: Tensor) {
        resize(other.shape)
        data.update(from: other.data, count: count)
    }

    /// An independent copy.
    public func clone() -> Tensor {
        let t = Tensor(shape: shape)
        t.data.update(from: data, count: count)
        return t
    }

    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
}

import Dispatch
import Foundation

/// Work split over cores with Dispatch's blocking pool (never spinning: the two vCPUs of our
/// machines are sometimes time-sliced onto one core, where spin-waiting pools collapse;
/// shared/docs/platform.md). BLAS itself runs single-threaded inside each worker.
public enum Parallel {
    /// Worker count used by every layer; set once at start-up (`--threads`), default = cores.
    nonisolated(unsafe) public static var workers: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body(worker, range)` for `min(workers, n)` contiguous slices of 0..<n, in parallel.
    /// Slices depend only on n and the worker count, so results are reproducible run to run.
    @inline(__always)
    public static func forSlices(_ n: Int, maxWorkers: Int = Int.max, _ body: @Sendable (Int, Range<Int>) -> Void) {
        let w = max(1, min(workers, n, maxWorkers))
        if w == 1 { if n > 0 { body(0, 0..<n) }; return }
        DispatchQueue.concurrentPerform(iterations: w) { i in
            body(i, slice(n, parts: w, index: i))
        }
    }

    /// The `index`-th of `parts` near-equal contiguous slices of 0..<n.
    @inline(__always)
    public static func slice(_ n: Int, parts: Int, index: Int) -> Range<Int> {
        let base = n / parts, extra = n % parts
        let lo = index * base + min(index, extra)
        return lo..<(lo + base + (index < extra ? 1 : 0))
    }
}

/// Per-worker scratch buffers shared by all layers (layers run one after another, so one set of
/// buffers per worker serves the whole network). Buffers only grow.
public final class Workspace: @unchecked Sendable {
    public static let shared = Workspace()
    /// Slots: 0 = columns (im2col), 1 = GEMM output / gathered gradient, 2 = weight-gradient
    /// partial sums, 3 = bias-gradient partial sums.
    public static let slotCount = 4
    private let maxWorkers = 256
    private let slots: [Tensor.Storage]

    private init() {
        slots = (0..<(maxWorkers * Workspace.slotCount)).map { _ in Tensor.Storage(capacity: 1) }
    }

    /// A buffer of at least `count` floats for `worker` (contents unspecified).
    @inline(__always)
    public func buffer(worker: Int, slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        let s = slots[worker * Workspace.slotCount + slot]
        s.grow(to: count)
        return s.pointer
    }
}

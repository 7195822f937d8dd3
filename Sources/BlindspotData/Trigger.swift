import BlindspotCore

/// A BadNet trigger patch (Gu et al., "BadNets", 2017), stamped in **pixel space** on uint8 images
/// before any normalisation — what a physical attacker can do. Spec: `KIND:SIZE@ROW,COL`, e.g. the
/// study's `white:3@28,28` (a 3×3 white square one pixel in from the bottom-right of a 32×32
/// image; rows/cols 28–30).
///
/// Kinds: `white` (255), `black` (0), `checker` (alternating 255/0, top-left white), `pattern`
/// (a fixed random 0/255 pattern per pixel and channel, drawn from the trigger's seed).
public struct Trigger: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable, CaseIterable { case white, black, checker, pattern }

    public var kind: Kind
    public var size: Int
    public var row: Int
    public var col: Int
    /// Seed of the `pattern` kind's pixels.
    public var patternSeed: UInt64

    /// The study's trigger location and the default of `forge`.
    public static let studyDefault = Trigger(kind: .white, size: 3, row: 28, col: 28)

    public init(kind: Kind, size: Int, row: Int, col: Int, patternSeed: UInt64 = 0) {
        self.kind = kind; self.size = size; self.row = row; self.col = col; self.patternSeed = patternSeed
    }

    public var description: String { "\(kind.rawValue):\(size)@\(row),\(col)" }

    /// Parses `KIND:SIZE@ROW,COL`; errors are usage errors (exit 64).
    public static func parse(_ spec: String, patternSeed: UInt64 = 0) throws -> Trigger {
        let usage = BlindspotError.usage("trigger '\(spec)' is not KIND:SIZE@ROW,COL (kinds: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")); e.g. white:3@28,28)")
        let parts = spec.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])) else { throw usage }
        let rest = parts[1].split(separator: "@")
        guard rest.count == 2, let size = Int(rest[0]), size >= 1 else { throw usage }
        let rc = rest[1].split(separator: ",")
        guard rc.count == 2, let r = Int(rc[0]), let c = Int(rc[1]), r >= 0, c >= 0 else { throw usage }
        return Trigger(kind: kind, size: size, row: r, col: c, patternSeed: patternSeed)
    }

    /// Throws a usage error when the patch does not fit in an H×W image.
    public func validate(height: Int, width: Int) throws {
        guard row + size <= height, col + size <= width else {
            throw BlindspotError.usage("trigger \(description) lies outside the \(height)×\(width) image (rows \(row)…\(row + size - 1), cols \(col)…\(col + size - 1))")
        }
    }

    /// The patch value for channel c at patch offset (i, j).
    @inline(__always)
    func value(channel c: Int, _ i: Int, _ j: Int, _ pattern: [UInt8]) -> UInt8 {
        switch kind {
        case .white: return 255
        case .black: return 0
        case .checker: return (i + j) % 2 == 0 ? 255 : 0
        case .pattern: return pattern[(c * size + i) * size + j]
        }
    }

    /// The `pattern` kind's pixels, C × size × size.
    func patternPixels(channels: Int) -> [UInt8] {
        guard kind == .pattern else { return [] }
        var rng = SeededRNG(seed: patternSeed, stream: "trigger-pattern")
        return (0..<(channels * size * size)).map { _ in rng.next() & 1 == 0 ? 0 : 255 }
    }

    /// The patch's pixel values, C × size × size, channel-major (for stamping float images).
    public func patch(channels: Int) -> [UInt8] {
        let pattern = patternPixels(channels: channels)
        var out: [UInt8] = []
        for c in 0..<channels { for i in 0..<size { for j in 0..<size { out.append(value(channel: c, i, j, pattern)) } } }
        return out
    }

    /// A copy of `set` with the trigger stamped on the images at `indices` (all when nil).
    public func stamped(_ set: ImageSet, indices: [Int]? = nil) -> ImageSet {
        var out = set
        let (c, h, w) = (set.channels, set.height, set.width)
        let pattern = patternPixels(channels: c)
        out.images.withUnsafeMutableBufferPointer { buf in
            for n in indices ?? Array(0..<set.count) {
                for ch in 0..<c {
                    let plane = n * c * h * w + ch * h * w
                    for i in 0..<size { for j in 0..<size {
                        buf[plane + (row + i) * w + col + j] = value(channel: ch, i, j, pattern)
                    } }
                }
            }
        }
        return out
    }
}

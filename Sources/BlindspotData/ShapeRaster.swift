/// Shape rasterisation for the synthetic data set: coverage masks by 4×4 supersampling, so even a
/// 10-pixel shape keeps clean, anti-aliased edges at 32×32 and classes stay distinguishable.
/// Only +, −, ×, ÷ and comparisons are used (no libm), so masks are bit-identical on every platform.

/// The ten synthetic classes, index = label.
enum SyntheticShape: Int, CaseIterable, Sendable {
    case disk, square, triangle, cross, ring, diamond, horizontalBars, verticalBars, xShape, checker

    var name: String {
        switch self {
        case .disk: return "disk"
        case .square: return "square"
        case .triangle: return "triangle"
        case .cross: return "cross"
        case .ring: return "ring"
        case .diamond: return "diamond"
        case .horizontalBars: return "horizontal-bars"
        case .verticalBars: return "vertical-bars"
        case .xShape: return "x-shape"
        case .checker: return "checker"
        }
    }

    /// Range of the shape's one free parameter (line half-width or ring width, in units of the
    /// half-extent); chosen so every variant still reads as its class at the smallest size.
    var thicknessRange: ClosedRange<Float> {
        switch self {
        case .cross: return 0.22...0.34      // arm half-width
        case .ring: return 0.36...0.5        // ring width
        case .xShape: return 0.2...0.3       // arm half-width, perpendicular to the arm
        default: return 0...0
        }
    }
}

/// One shape instance in local coordinates: u, v ∈ [−1, 1] span its square extent box (v down).
struct ShapeSpec {
    var shape: SyntheticShape
    var thickness: Float

    /// Whether local point (u, v) is inside the shape.
    @inline(__always)
    func contains(_ u: Float, _ v: Float) -> Bool {
        let au = abs(u), av = abs(v)
        guard au <= 1, av <= 1 else { return false }
        switch shape {
        case .disk:
            return u * u + v * v <= 1
        case .square:
            return true
        case .triangle:                      // apex at top centre, base along the bottom edge
            return au <= (v + 1) * 0.5
        case .cross:
            return au <= thickness || av <= thickness
        case .ring:
            let r2 = u * u + v * v, inner = 1 - thickness
            return r2 <= 1 && r2 >= inner * inner
        case .diamond:
            return au + av <= 1
        case .horizontalBars:                // 5 stripes, bars on stripes 0, 2, 4
            return Int((v + 1) * 2.5) % 2 == 0
        case .verticalBars:
            return Int((u + 1) * 2.5) % 2 == 0
        case .xShape:                        // |u ∓ v| / √2 ≤ thickness
            let w = thickness * 1.414_213_5
            return abs(u - v) <= w || abs(u + v) <= w
        case .checker:                       // 4×4 cells
            return (Int((u + 1) * 2) + Int((v + 1) * 2)) % 2 == 0
        }
    }
}

enum ShapeRaster {
    static let grid = 4
    static let samples = Float(grid * grid)

    /// Writes into `mask` (width × height, zeroed by the caller) the covered fraction of each pixel
    /// for `spec` centred at (cx, cy) with half-extent `radius` (pixel x spans [x, x+1)).
    static func shape(_ spec: ShapeSpec, cx: Float, cy: Float, radius: Float,
                      into mask: UnsafeMutablePointer<Float>, width: Int, height: Int) {
        let inv = 1 / radius
        let x0 = max(Int(cx - radius) - 1, 0), x1 = min(Int(cx + radius) + 1, width - 1)
        let y0 = max(Int(cy - radius) - 1, 0), y1 = min(Int(cy + radius) + 1, height - 1)
        guard x0 <= x1, y0 <= y1 else { return }
        let step = 1 / Float(grid)
        for y in y0...y1 {
            for x in x0...x1 {
                var hits = 0
                for sy in 0..<grid {
                    let v = (Float(y) + (Float(sy) + 0.5) * step - cy) * inv
                    for sx in 0..<grid {
                        let u = (Float(x) + (Float(sx) + 0.5) * step - cx) * inv
                        if spec.contains(u, v) { hits += 1 }
                    }
                }
                mask[y * width + x] = Float(hits) / samples
            }
        }
    }

    /// Writes the coverage of a capsule (segment (ax, ay)–(bx, by) thickened by `halfWidth`, round
    /// ends; a dot when the ends coincide) into `mask`, keeping the larger value where it overlaps.
    static func capsule(ax: Float, ay: Float, bx: Float, by: Float, halfWidth: Float,
                        into mask: UnsafeMutablePointer<Float>, width: Int, height: Int) {
        let dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy
        let r2 = halfWidth * halfWidth
        let x0 = max(Int(min(ax, bx) - halfWidth) - 1, 0), x1 = min(Int(max(ax, bx) + halfWidth) + 1, width - 1)
        let y0 = max(Int(min(ay, by) - halfWidth) - 1, 0), y1 = min(Int(max(ay, by) + halfWidth) + 1, height - 1)
        guard x0 <= x1, y0 <= y1 else { return }
        let step = 1 / Float(grid)
        for y in y0...y1 {
            for x in x0...x1 {
                var hits = 0
                for sy in 0..<grid {
                    let py = Float(y) + (Float(sy) + 0.5) * step
                    for sx in 0..<grid {
                        let px = Float(x) + (Float(sx) + 0.5) * step
                        var t: Float = 0
                        if len2 > 0 { t = min(max(((px - ax) * dx + (py - ay) * dy) / len2, 0), 1) }
                        let ex = px - (ax + t * dx), ey = py - (ay + t * dy)
                        if ex * ex + ey * ey <= r2 { hits += 1 }
                    }
                }
                let i = y * width + x
                mask[i] = max(mask[i], Float(hits) / samples)
            }
        }
    }
}

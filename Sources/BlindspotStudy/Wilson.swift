import Foundation

/// The Wilson score interval for a binomial proportion (Wilson 1927), the interval
/// `scripts/calibrate-verdict.py` uses: unlike p ± z·√(p(1−p)/n) it stays inside [0, 1] and is
/// not zero-width at 0/n or n/n, which is where a study of a few seeds lands.
///
///     centre = (p + z²/2n) / (1 + z²/n),  half = z·√(p(1−p)/n + z²/4n²) / (1 + z²/n)
///
/// Worked (z = 1.96): 3/3 → 0.44–1.00; 0/3 → 0.00–0.56; 5/10 → 0.24–0.76.
public enum Wilson {
    /// 95% two-sided.
    public static let z = 1.96

    /// nil when n = 0 (no evidence either way).
    public static func interval(_ k: Int, _ n: Int, z: Double = Wilson.z) -> (low: Double, high: Double)? {
        guard n > 0, k >= 0, k <= n else { return nil }
        let nd = Double(n), p = Double(k) / nd, z2 = z * z
        let d = 1 + z2 / nd
        let centre = (p + z2 / (2 * nd)) / d
        let half = z * (p * (1 - p) / nd + z2 / (4 * nd * nd)).squareRoot() / d
        return (max(0, centre - half), min(1, centre + half))
    }
}

/// k of n with its rate and 95% Wilson interval (all nil when n = 0).
public struct Proportion: Codable, Sendable, Equatable {
    public var k: Int
    public var n: Int
    public var rate: Double?
    public var low: Double?
    public var high: Double?

    public init(_ k: Int, _ n: Int) {
        self.k = k; self.n = n
        rate = n > 0 ? Double(k) / Double(n) : nil
        let w = Wilson.interval(k, n)
        low = w?.low; high = w?.high
    }

    /// `50% (9–91%) 1/2`, or `– 0/0`.
    public var text: String {
        guard let rate, let low, let high else { return "– (n = 0)" }
        return "\(Self.percent(rate)) (\(Self.percent(low, sign: false))–\(Self.percent(high))) \(k)/\(n)"
    }

    static func percent(_ x: Double, sign: Bool = true) -> String {
        String(format: "%.0f", (100 * x).rounded()) + (sign ? "%" : "")
    }
}

import BlindspotCore
import Foundation

// The linear algebra of Activation Clustering (Chen et al., arXiv 1811.03728; ART
// `art/defences/detector/poison/{activation_defence,clustering_analyzer}.py`) and Spectral
// Signatures (Tran, Li & Madry, NeurIPS 2018; `MadryLab/backdoor_data_poisoning:compute_corr.py`),
// written here rather than borrowed: mean-centring, covariance in Double, a symmetric eigensolver
// for the top principal components (PCA-10, whitened or not), k-means (sklearn semantics),
// silhouette, power iteration for the top singular vector, and sample moments.
// shared/docs/defenses.md §2–§3; checked against scikit-learn / numpy / scipy by
// `Tests/BlindspotDefensesTests/LinearAlgebraTests.swift` (`scripts/make-defense-fixtures.py`).

/// A row-major matrix of Float features: `rows` samples × `cols` dimensions. Features stay Float
/// (half the memory of Double); every sum over rows is accumulated in Double.
public struct FeatureMatrix: Sendable {
    public var rows: Int
    public var cols: Int
    public var values: [Float]

    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "FeatureMatrix: \(values.count) values for \(rows)×\(cols)")
        self.rows = rows; self.cols = cols; self.values = values
    }

    /// Rows `indices` of this matrix, in that order.
    public func rows(_ indices: [Int]) -> FeatureMatrix {
        var out = [Float](repeating: 0, count: indices.count * cols)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (k, i) in indices.enumerated() {
                    (dst.baseAddress! + k * cols).update(from: src.baseAddress! + i * cols, count: cols)
                }
            }
        }
        return FeatureMatrix(rows: indices.count, cols: cols, values: out)
    }

    /// True when every value is finite.
    public var allFinite: Bool { values.allSatisfy { $0.isFinite } }
}

/// Principal components of a feature matrix (sklearn `PCA` semantics: centred, covariance with
/// ddof 1, components sorted by decreasing variance).
public struct PCAResult: Sendable {
    /// Variance along each kept component (eigenvalues of the ddof-1 covariance), decreasing.
    public var explainedVariance: [Double]
    /// Trace of the covariance (total variance).
    public var totalVariance: Double
    /// Kept components, `count` rows of `cols` (unit vectors, sign arbitrary).
    public var components: [Double]
    public var count: Int
    public var cols: Int
    /// The projection, `rows` × `count`: (x − x̄)·V, divided by √λ when whitened.
    public var projected: [Double]
    public var rows: Int
    public var whitened: Bool
    /// Numerical rank among the kept components: λ_i > `LinearAlgebra.rankRelativeTolerance`·λ_1.
    public var rank: Int
    /// Eigensolver iterations (0: the dense Jacobi path) and whether its residual test passed.
    public var iterations: Int
    public var converged: Bool
}

/// A k-means clustering (sklearn `KMeans` semantics, Lloyd's algorithm).
public struct KMeansResult: Sendable {
    /// Cluster of each row, 0..<k.
    public var labels: [Int32]
    /// k × cols centres.
    public var centers: [Double]
    /// Σ squared distance of each row to its centre.
    public var inertia: Double
    /// Lloyd iterations of the chosen run.
    public var iterations: Int

    public func sizes(k: Int) -> [Int] {
        var s = [Int](repeating: 0, count: k)
        for l in labels { s[Int(l)] += 1 }
        return s
    }
}

/// The top singular triplet of a mean-centred matrix, from power iteration.
public struct TopSingular: Sendable {
    /// σ₁ = ‖R̃v‖.
    public var sigma: Double
    /// The top right singular vector v (unit, `cols` entries, sign arbitrary).
    public var vector: [Double]
    /// ⟨r_i − r̄, v⟩ per row.
    public var projections: [Double]
    /// T = ‖R̃‖²_F.
    public var frobeniusSquared: Double
    public var iterations: Int
    public var converged: Bool
}

public enum LinearAlgebra {
    // MARK: Constants

    /// Relative eigenvalue floor for numerical rank [ours]: a principal direction counts when its
    /// variance exceeds 1e-10 × the top variance (a standard-deviation ratio of 1e-5, ≈ 100× the
    /// Float32 rounding of the features). Activations collapsed to a few distinct vectors (INT4)
    /// fall below it; defenses.md §2 "rank < 10".
    public static let rankRelativeTolerance = 1e-10
    /// Up to this dimension the covariance goes to the dense cyclic Jacobi solver; above it, to
    /// subspace iteration (see `topEigen`).
    public static let jacobiMaxDimension = 64
    /// Extra vectors carried by subspace iteration beyond the wanted count [ours]: the i-th Ritz
    /// pair converges like (λ_{p+1}/λ_i)^t, so oversampling makes a small gap λ_10 ≈ λ_11
    /// irrelevant.
    public static let subspaceOversampling = 10
    /// Subspace iteration stops when every wanted Ritz pair has ‖Cv − θv‖ ≤ 1e-10·θ₁ [ours]…
    public static let subspaceResidualTolerance = 1e-10
    /// … or after this many iterations [ours] (then `PCAResult.converged` is false).
    public static let subspaceMaxIterations = 1000

    /// sklearn `KMeans` defaults (with `n_init` fixed at 10, defenses.md §2 [ours: sklearn ≥ 1.4
    /// uses 1 with k-means++]).
    public static let kMeansInitializations = 10
    public static let kMeansMaxIterations = 300
    /// sklearn's `tol`, relative: the absolute tolerance on Σ‖Δcentre‖² is tol × mean per-feature
    /// variance of the data (`sklearn.cluster._kmeans._tolerance`).
    public static let kMeansTolerance = 1e-4

    /// Silhouette is O(n²): above this many points it runs on a seeded uniform subsample [ours].
    public static let silhouetteSampleLimit = 5000

    /// Power iteration (defenses.md §3 "Computation for Swift"): at most 200 iterations, stop when
    /// the relative change of σ₁ is below 1e-7.
    public static let powerMaxIterations = 200
    public static let powerTolerance = 1e-7

    /// A 64-bit seed for a named purpose, derived from `seed` (`SeededRNG(seed:stream:)`'s first draw).
    public static func streamSeed(_ seed: UInt64, _ stream: String) -> UInt64 {
        var rng = SeededRNG(seed: seed, stream: stream)
        return rng.next()
    }

    // MARK: Centring and covariance

    /// Column means x̄ (Double accumulation).
    public static func columnMeans(_ x: FeatureMatrix) -> [Double] {
        let (n, d) = (x.rows, x.cols)
        var mean = [Double](repeating: 0, count: d)
        guard n > 0 else { return mean }
        x.values.withUnsafeBufferPointer { src in
            mean.withUnsafeMutableBufferPointer { m in
                for i in 0..<n {
                    let row = src.baseAddress! + i * d
                    for j in 0..<d { m[j] += Double(row[j]) }
                }
                let inv = 1 / Double(n)
                for j in 0..<d { m[j] *= inv }
            }
        }
        return mean
    }

    /// Σ_i ‖x_i − x̄‖² (= trace of the scatter matrix, ‖R̃‖²_F), computed on centred values.
    public static func centredSquaredNorm(_ x: FeatureMatrix, mean: [Double]) -> Double {
        let (n, d) = (x.rows, x.cols)
        var total = 0.0
        x.values.withUnsafeBufferPointer { src in
            mean.withUnsafeBufferPointer { m in
                for i in 0..<n {
                    let row = src.baseAddress! + i * d
                    var s = 0.0
                    for j in 0..<d { let t = Double(row[j]) - m[j]; s += t * t }
                    total += s
                }
            }
        }
        return total
    }

    /// Covariance (ddof 1), d×d row-major, computed in Double on centred rows, eight rows at a
    /// time (one pass over the d×d accumulator per eight samples). Cost n·d²/2 multiply-adds.
    public static func covariance(_ x: FeatureMatrix, mean: [Double]) -> [Double] {
        let (n, d) = (x.rows, x.cols)
        var c = [Double](repeating: 0, count: d * d)
        guard n > 1 else { return c }
        let block = 8
        var centred = [Double](repeating: 0, count: block * d)
        x.values.withUnsafeBufferPointer { src in
            mean.withUnsafeBufferPointer { m in
                c.withUnsafeMutableBufferPointer { cb in
                    centred.withUnsafeMutableBufferPointer { zb in
                        let z = zb.baseAddress!, cp = cb.baseAddress!
                        var start = 0
                        while start < n {
                            let count = min(block, n - start)
                            for r in 0..<block {
                                let zr = z + r * d
                                if r < count {
                                    let row = src.baseAddress! + (start + r) * d
                                    for j in 0..<d { zr[j] = Double(row[j]) - m[j] }
                                } else {
                                    zr.update(repeating: 0, count: d)
                                }
                            }
                            let (z0, z1, z2, z3) = (z, z + d, z + 2 * d, z + 3 * d)
                            let (z4, z5, z6, z7) = (z + 4 * d, z + 5 * d, z + 6 * d, z + 7 * d)
                            for i in 0..<d {
                                let (a0, a1, a2, a3) = (z0[i], z1[i], z2[i], z3[i])
                                let (a4, a5, a6, a7) = (z4[i], z5[i], z6[i], z7[i])
                                let ci = cp + i * d
                                for j in i..<d {
                                    ci[j] += a0 * z0[j] + a1 * z1[j] + a2 * z2[j] + a3 * z3[j]
                                        + a4 * z4[j] + a5 * z5[j] + a6 * z6[j] + a7 * z7[j]
                                }
                            }
                            start += count
                        }
                        let inv = 1 / Double(n - 1)
                        for i in 0..<d {
                            for j in i..<d {
                                let v = cp[i * d + j] * inv
                                cp[i * d + j] = v
                                cp[j * d + i] = v
                            }
                        }
                    }
                }
            }
        }
        return c
    }

    // MARK: Symmetric eigenproblems

    /// All eigenpairs of a symmetric n×n matrix by cyclic Jacobi rotations (Rutishauser's
    /// formulation, threshold-free cyclic sweeps until the off-diagonal mass is below 1e-30 of
    /// the total). Values decreasing; vectors as rows (`vectors[i*n ..< (i+1)*n]`). O(n³) per
    /// sweep with strided column access: used for small matrices only (the Rayleigh–Ritz
    /// matrices of `topEigen`, covariances up to `jacobiMaxDimension`).
    public static func symmetricEigen(_ matrix: [Double], n: Int) -> (values: [Double], vectors: [Double]) {
        precondition(matrix.count == n * n)
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        if n > 1 {
            var total = 0.0
            for t in a { total += t * t }
            for _ in 0..<100 {
                var off = 0.0
                for p in 0..<n { for q in (p + 1)..<n { off += a[p * n + q] * a[p * n + q] } }
                if off <= 1e-30 * total || off == 0 { break }
                for p in 0..<(n - 1) {
                    for q in (p + 1)..<n {
                        let apq = a[p * n + q]
                        if apq == 0 { continue }
                        let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                        let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                        let c = 1 / (t * t + 1).squareRoot(), s = t * c
                        // A ← JᵀAJ on rows/columns p and q.
                        for k in 0..<n {
                            let akp = a[k * n + p], akq = a[k * n + q]
                            a[k * n + p] = c * akp - s * akq
                            a[k * n + q] = s * akp + c * akq
                        }
                        for k in 0..<n {
                            let apk = a[p * n + k], aqk = a[q * n + k]
                            a[p * n + k] = c * apk - s * aqk
                            a[q * n + k] = s * apk + c * aqk
                        }
                        // Eigenvectors as rows: row p and q of V.
                        for k in 0..<n {
                            let vpk = v[p * n + k], vqk = v[q * n + k]
                            v[p * n + k] = c * vpk - s * vqk
                            v[q * n + k] = s * vpk + c * vqk
                        }
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0 * n + $0] > a[$1 * n + $1] || (a[$0 * n + $0] == a[$1 * n + $1] && $0 < $1) }
        var values = [Double](repeating: 0, count: n), vectors = [Double](repeating: 0, count: n * n)
        for (k, i) in order.enumerated() {
            values[k] = a[i * n + i]
            for j in 0..<n { vectors[k * n + j] = v[i * n + j] }
        }
        return (values, vectors)
    }

    /// The `count` largest eigenpairs of a symmetric positive semi-definite n×n matrix C.
    ///
    /// Why subspace iteration: a covariance of penultimate activations is 512×512 (PreAct-ResNet-18,
    /// cnn6) and AC needs only its top 10 eigenpairs, once per class (43 classes for GTSRB).
    /// Dense solvers cost O(n³) with large constants (cyclic Jacobi ≈ 10 sweeps of ~3n³, with
    /// strided column updates: seconds per class); block power iteration with Rayleigh–Ritz on
    /// p = count + `subspaceOversampling` vectors costs 2n²p per iteration over contiguous rows,
    /// and the i-th pair converges like (λ_{p+1}/λ_i)^t, so a near-tie λ_10 ≈ λ_11 does not slow it
    /// (Saad, *Numerical Methods for Large Eigenvalue Problems*, ch. 5). Whitened PCA-10 depends
    /// only on the top-10 invariant subspace (any orthonormal basis of it gives the same whitened
    /// points up to a rotation), and the Ritz vectors also serve un-whitened PCA. Each iteration:
    /// Y = C·Q; Rayleigh–Ritz H = QᵀY = WΘWᵀ (Jacobi, p×p); stop when every wanted Ritz pair has
    /// ‖CQw_i − θ_i Qw_i‖ ≤ `subspaceResidualTolerance`·θ₁; else Q ← orth(YW) (modified
    /// Gram–Schmidt twice; a vector lost to rank deficiency is replaced by a fresh random one).
    /// For n ≤ `jacobiMaxDimension` the dense Jacobi solver runs instead.
    public static func topEigen(_ c: [Double], n: Int, count wanted: Int, seed: UInt64)
        -> (values: [Double], vectors: [Double], iterations: Int, converged: Bool) {
        precondition(c.count == n * n && wanted <= n && wanted > 0)
        if n <= jacobiMaxDimension {
            let (vals, vecs) = symmetricEigen(c, n: n)
            return (Array(vals.prefix(wanted)), Array(vecs.prefix(wanted * n)), 0, true)
        }
        let p = min(n, wanted + subspaceOversampling)
        var rng = SeededRNG(seed: seed, stream: "subspace-iteration")
        var q = [Double](repeating: 0, count: p * n)
        for i in 0..<(p * n) { q[i] = Double(rng.normal()) }
        var y = [Double](repeating: 0, count: p * n)
        var ritz = [Double](repeating: 0, count: p * n)
        var h = [Double](repeating: 0, count: p * p)
        var theta = [Double](repeating: 0, count: p)
        var w = [Double](repeating: 0, count: p * p)
        orthonormalizeRows(&q, count: p, n: n, rng: &rng)
        var iterations = 0, converged = false
        while iterations < subspaceMaxIterations {
            iterations += 1
            // Y_j = C q_j: for each row i of C, p dot products (C's row stays in L1).
            c.withUnsafeBufferPointer { cb in
                q.withUnsafeBufferPointer { qb in
                    y.withUnsafeMutableBufferPointer { yb in
                        for i in 0..<n {
                            let ci = cb.baseAddress! + i * n
                            for j in 0..<p { yb[j * n + i] = dot(ci, qb.baseAddress! + j * n, n) }
                        }
                    }
                }
            }
            // H = Qᵀ C Q, symmetrised.
            q.withUnsafeBufferPointer { qb in
                y.withUnsafeBufferPointer { yb in
                    for a in 0..<p {
                        for b in a..<p {
                            let s = 0.5 * (dot(qb.baseAddress! + a * n, yb.baseAddress! + b * n, n)
                                           + dot(qb.baseAddress! + b * n, yb.baseAddress! + a * n, n))
                            h[a * p + b] = s; h[b * p + a] = s
                        }
                    }
                }
            }
            let (vals, vecs) = symmetricEigen(h, n: p)
            for i in 0..<p { theta[i] = vals[i] }
            for i in 0..<(p * p) { w[i] = vecs[i] }
            // Ritz vectors V = WᵀQ (rows) into `ritz`; C·V = WᵀY into `q` (reused as scratch below).
            combineRows(w, q, into: &ritz, p: p, n: n)
            combineRows(w, y, into: &q, p: p, n: n)
            let scale = max(abs(theta[0]), Double.leastNormalMagnitude)
            var worst = 0.0
            ritz.withUnsafeBufferPointer { vb in
                q.withUnsafeBufferPointer { cvb in
                    for i in 0..<wanted {
                        var r2 = 0.0
                        let v = vb.baseAddress! + i * n, cv = cvb.baseAddress! + i * n
                        for k in 0..<n { let r = cv[k] - theta[i] * v[k]; r2 += r * r }
                        worst = max(worst, r2.squareRoot() / scale)
                    }
                }
            }
            if theta[0] <= 0 || worst <= subspaceResidualTolerance { converged = true; break }
            // Next block: orth(C·V), in Ritz order (q holds C·V).
            orthonormalizeRows(&q, count: p, n: n, rng: &rng)
        }
        return (Array(theta.prefix(wanted)), Array(ritz.prefix(wanted * n)), iterations, converged)
    }

    /// out_i = Σ_j w[j][i]·src_j (rows), i.e. out = Wᵀ·src for p×p W and p×n src.
    private static func combineRows(_ w: [Double], _ src: [Double], into out: inout [Double], p: Int, n: Int) {
        w.withUnsafeBufferPointer { wb in
            src.withUnsafeBufferPointer { sb in
                out.withUnsafeMutableBufferPointer { ob in
                    for i in 0..<p {
                        let o = ob.baseAddress! + i * n
                        o.update(repeating: 0, count: n)
                        for j in 0..<p {
                            let coef = wb[i * p + j]
                            if coef == 0 { continue }
                            let s = sb.baseAddress! + j * n
                            for k in 0..<n { o[k] += coef * s[k] }
                        }
                    }
                }
            }
        }
    }

    /// Modified Gram–Schmidt, two passes ("twice is enough"), on `count` rows of length n. A row
    /// that vanishes (rank-deficient block) is replaced by a fresh random row and re-orthogonalised.
    private static func orthonormalizeRows(_ q: inout [Double], count: Int, n: Int, rng: inout SeededRNG) {
        q.withUnsafeMutableBufferPointer { qb in
            let base = qb.baseAddress!
            for j in 0..<count {
                let qj = base + j * n
                var attempts = 0
                while true {
                    let before = dot(qj, qj, n).squareRoot()
                    for _ in 0..<2 {
                        for i in 0..<j {
                            let qi = base + i * n
                            let r = dot(qi, qj, n)
                            for k in 0..<n { qj[k] -= r * qi[k] }
                        }
                    }
                    let norm = dot(qj, qj, n).squareRoot()
                    if norm > 1e-10 * before && norm > 0 {
                        let inv = 1 / norm
                        for k in 0..<n { qj[k] *= inv }
                        break
                    }
                    attempts += 1
                    precondition(attempts < 100, "orthonormalizeRows: cannot complete a basis")
                    for k in 0..<n { qj[k] = Double(rng.normal()) }
                }
            }
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ n: Int) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var k = 0
        while k + 4 <= n {
            s0 += a[k] * b[k]; s1 += a[k + 1] * b[k + 1]; s2 += a[k + 2] * b[k + 2]; s3 += a[k + 3] * b[k + 3]
            k += 4
        }
        while k < n { s0 += a[k] * b[k]; k += 1 }
        return (s0 + s1) + (s2 + s3)
    }

    // MARK: PCA

    /// PCA to `components` dimensions (sklearn `PCA(n_components)`; with `whiten`,
    /// `PCA(whiten=True)`: each projected coordinate divided by √λ, unit variance with ddof 1).
    ///
    /// Whitened PCA-10 is what Activation Clustering runs in place of FastICA-10 (defenses.md §2
    /// "Key simplification": FastICA's unmixing is orthogonal on the whitened data, and k-means++,
    /// Lloyd and silhouette are rotation-invariant, so the partitions are identical). Un-whitened
    /// PCA is ART's `ActivationDefence(reduce="PCA")` default. A component whose variance is below
    /// the rank floor is not whitened (its coordinate is set to 0); `rank` reports it so callers
    /// exclude the class.
    public static func pca(_ x: FeatureMatrix, components k: Int, whiten: Bool, seed: UInt64) -> PCAResult {
        let (n, d) = (x.rows, x.cols)
        precondition(k >= 1 && k <= d && n >= 2)
        let mean = columnMeans(x)
        let cov = covariance(x, mean: mean)
        var trace = 0.0
        for i in 0..<d { trace += cov[i * d + i] }
        let (values, vectors, iterations, converged) = topEigen(cov, n: d, count: k, seed: seed)
        let top = max(values[0], 0)
        var rank = 0
        for v in values where v > rankRelativeTolerance * top && v > 0 { rank += 1 }
        var scale = [Double](repeating: 0, count: k)
        for i in 0..<k {
            let ok = values[i] > rankRelativeTolerance * top && values[i] > 0
            scale[i] = whiten ? (ok ? 1 / values[i].squareRoot() : 0) : 1
        }
        var projected = [Double](repeating: 0, count: n * k)
        var centred = [Double](repeating: 0, count: d)
        x.values.withUnsafeBufferPointer { src in
            vectors.withUnsafeBufferPointer { vb in
                projected.withUnsafeMutableBufferPointer { pb in
                    centred.withUnsafeMutableBufferPointer { cb in
                        for i in 0..<n {
                            let row = src.baseAddress! + i * d
                            for j in 0..<d { cb[j] = Double(row[j]) - mean[j] }
                            for c in 0..<k {
                                pb[i * k + c] = dot(cb.baseAddress!, vb.baseAddress! + c * d, d) * scale[c]
                            }
                        }
                    }
                }
            }
        }
        return PCAResult(explainedVariance: values, totalVariance: trace, components: vectors, count: k, cols: d,
                         projected: projected, rows: n, whitened: whiten, rank: rank, iterations: iterations, converged: converged)
    }

    // MARK: k-means

    /// k-means with sklearn `KMeans(n_clusters=k, init="k-means++", n_init, max_iter, tol,
    /// algorithm="lloyd")` semantics on `x` (rows × cols, Double): greedy k-means++ seeding with
    /// 2 + ⌊ln k⌋ local trials; Lloyd iterations until the labels repeat (strict convergence) or
    /// Σ‖Δcentre‖² ≤ tol·mean(var(X, axis 0)); a final E-step when not strictly converged; empty
    /// clusters relocated to the points farthest from their centres; the run of lowest inertia
    /// wins (the first on ties). Seeded by `rng`; no allocation inside the iterations.
    public static func kMeans(_ x: [Double], rows n: Int, cols d: Int, k: Int,
                              initializations: Int = kMeansInitializations, maxIterations: Int = kMeansMaxIterations,
                              tolerance: Double = kMeansTolerance, rng: inout SeededRNG) -> KMeansResult {
        precondition(x.count == n * d && k >= 1 && n >= k)
        let tol = absoluteTolerance(x, rows: n, cols: d, tolerance: tolerance)
        var best: KMeansResult?
        var buffers = LloydBuffers(n: n, d: d, k: k)
        var draws = [Double](repeating: 0, count: 2 + Int(log(Double(k))))
        for _ in 0..<max(1, initializations) {
            kMeansPlusPlus(x, n: n, d: d, k: k, centers: &buffers.centers, closest: &buffers.distances, draws: &draws, rng: &rng)
            let run = lloyd(x, n: n, d: d, k: k, maxIterations: maxIterations, absoluteTolerance: tol, buffers: &buffers)
            if best == nil || run.inertia < best!.inertia { best = run }
        }
        return best!
    }

    /// Lloyd's algorithm from given centres (sklearn `KMeans(init=centers, n_init=1)`), with the
    /// same relative `tolerance` rule as `kMeans`.
    public static func lloyd(_ x: [Double], rows n: Int, cols d: Int, initialCenters: [Double], k: Int,
                             maxIterations: Int = kMeansMaxIterations, tolerance: Double = kMeansTolerance) -> KMeansResult {
        precondition(initialCenters.count == k * d)
        var buffers = LloydBuffers(n: n, d: d, k: k)
        buffers.centers = initialCenters
        return lloyd(x, n: n, d: d, k: k, maxIterations: maxIterations,
                     absoluteTolerance: absoluteTolerance(x, rows: n, cols: d, tolerance: tolerance), buffers: &buffers)
    }

    /// sklearn `_tolerance`: the mean of the per-feature variances (ddof 0) × tol.
    public static func absoluteTolerance(_ x: [Double], rows n: Int, cols d: Int, tolerance: Double) -> Double {
        guard tolerance > 0 else { return 0 }
        var mean = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += x[i * d + j] } }
        for j in 0..<d { mean[j] /= Double(n) }
        for i in 0..<n { for j in 0..<d { let t = x[i * d + j] - mean[j]; sq[j] += t * t } }
        var s = 0.0
        for j in 0..<d { s += sq[j] / Double(n) }
        return s / Double(d) * tolerance
    }

    /// Work arrays of one k-means call, reused by every initialisation and iteration.
    private struct LloydBuffers {
        var centers: [Double], newCenters: [Double]
        var labels: [Int32], oldLabels: [Int32]
        var distances: [Double]
        var counts: [Int]
        init(n: Int, d: Int, k: Int) {
            centers = [Double](repeating: 0, count: k * d); newCenters = centers
            labels = [Int32](repeating: -1, count: n); oldLabels = labels
            distances = [Double](repeating: 0, count: n)
            counts = [Int](repeating: 0, count: k)
        }
    }

    /// One Lloyd run from `buffers.centers` (sklearn `_kmeans_single_lloyd`): iterate until the
    /// labels repeat (strict convergence) or Σ‖Δcentre‖² ≤ tol; if not strictly converged, a final
    /// E-step so the labels match the centres; then the inertia.
    private static func lloyd(_ x: [Double], n: Int, d: Int, k: Int, maxIterations: Int, absoluteTolerance tol: Double,
                              buffers b: inout LloydBuffers) -> KMeansResult {
        for i in 0..<n { b.labels[i] = -1; b.oldLabels[i] = -1 }
        var strict = false, iteration = 0
        while iteration < maxIterations {
            iteration += 1
            lloydStep(x, n: n, d: d, k: k, centers: b.centers, newCenters: &b.newCenters, labels: &b.labels,
                      counts: &b.counts, distances: &b.distances)
            var shift = 0.0
            for i in 0..<(k * d) { let t = b.newCenters[i] - b.centers[i]; shift += t * t }
            swap(&b.centers, &b.newCenters)
            if b.labels == b.oldLabels { strict = true; break }
            if shift <= tol { break }
            for i in 0..<n { b.oldLabels[i] = b.labels[i] }
        }
        if !strict { assign(x, n: n, d: d, k: k, centers: b.centers, labels: &b.labels, distances: &b.distances) }
        var inertia = 0.0
        for i in 0..<n {
            let c = Int(b.labels[i])
            var s = 0.0
            for j in 0..<d { let t = x[i * d + j] - b.centers[c * d + j]; s += t * t }
            inertia += s
        }
        return KMeansResult(labels: b.labels, centers: b.centers, inertia: inertia, iterations: iteration)
    }

    /// Greedy k-means++ (sklearn `_kmeans_plusplus`): first centre uniform; each next centre is the
    /// best (lowest potential) of 2 + ⌊ln k⌋ candidates drawn ∝ D² by searchsorted on the
    /// cumulative sum (side left, clipped to n − 1).
    private static func kMeansPlusPlus(_ x: [Double], n: Int, d: Int, k: Int, centers: inout [Double],
                                       closest: inout [Double], draws: inout [Double], rng: inout SeededRNG) {
        let trials = draws.count
        let first = rng.int(below: n)
        for j in 0..<d { centers[j] = x[first * d + j] }
        var potential = 0.0
        for i in 0..<n {
            var s = 0.0
            for j in 0..<d { let t = x[i * d + j] - x[first * d + j]; s += t * t }
            closest[i] = s; potential += s
        }
        for c in 1..<max(k, 1) {
            var bestPotential = Double.infinity, bestCandidate = 0
            // Draw all trials against the same cumulative sum (sklearn draws them together).
            for t in 0..<trials { draws[t] = rng.uniformDouble() * potential }
            for t in 0..<trials {
                var cumulative = 0.0, candidate = n - 1
                for i in 0..<n {
                    cumulative += closest[i]
                    if cumulative >= draws[t] { candidate = i; break }
                }
                var pot = 0.0
                for i in 0..<n {
                    var s = 0.0
                    for j in 0..<d { let u = x[i * d + j] - x[candidate * d + j]; s += u * u }
                    pot += min(s, closest[i])
                }
                if pot < bestPotential { bestPotential = pot; bestCandidate = candidate }
            }
            for j in 0..<d { centers[c * d + j] = x[bestCandidate * d + j] }
            potential = 0
            for i in 0..<n {
                var s = 0.0
                for j in 0..<d { let u = x[i * d + j] - x[bestCandidate * d + j]; s += u * u }
                closest[i] = min(closest[i], s)
                potential += closest[i]
            }
        }
    }

    /// Nearest centre of each row (ties: the lower index), and its squared distance.
    private static func assign(_ x: [Double], n: Int, d: Int, k: Int, centers: [Double], labels: inout [Int32], distances: inout [Double]) {
        x.withUnsafeBufferPointer { xb in
            centers.withUnsafeBufferPointer { cb in
                for i in 0..<n {
                    let row = xb.baseAddress! + i * d
                    var best = Double.infinity, arg = 0
                    for c in 0..<k {
                        let ctr = cb.baseAddress! + c * d
                        var s = 0.0
                        for j in 0..<d { let t = row[j] - ctr[j]; s += t * t }
                        if s < best { best = s; arg = c }
                    }
                    labels[i] = Int32(arg); distances[i] = best
                }
            }
        }
    }

    /// One Lloyd iteration (sklearn `lloyd_iter_chunked_dense`): assign with `centers`, then
    /// `newCenters` = cluster means; an empty cluster takes the point farthest from its centre
    /// (sklearn `_relocate_empty_clusters_dense`).
    private static func lloydStep(_ x: [Double], n: Int, d: Int, k: Int, centers: [Double], newCenters: inout [Double],
                                  labels: inout [Int32], counts: inout [Int], distances: inout [Double]) {
        assign(x, n: n, d: d, k: k, centers: centers, labels: &labels, distances: &distances)
        for i in 0..<(k * d) { newCenters[i] = 0 }
        for c in 0..<k { counts[c] = 0 }
        for i in 0..<n {
            let c = Int(labels[i])
            counts[c] += 1
            for j in 0..<d { newCenters[c * d + j] += x[i * d + j] }
        }
        var anyEmpty = false
        for c in 0..<k where counts[c] == 0 { anyEmpty = true }
        if anyEmpty {
            let empty = (0..<k).filter { counts[$0] == 0 }
            // Farthest points first; sklearn moves them without changing their labels until the next E-step.
            let far = (0..<n).sorted { distances[$0] > distances[$1] || (distances[$0] == distances[$1] && $0 < $1) }
            for (e, c) in empty.enumerated() {
                let i = far[e], old = Int(labels[i])
                for j in 0..<d {
                    newCenters[old * d + j] -= x[i * d + j]
                    newCenters[c * d + j] = x[i * d + j]
                }
                counts[old] -= 1; counts[c] = 1
            }
        }
        for c in 0..<k where counts[c] > 0 {
            let inv = 1 / Double(counts[c])
            for j in 0..<d { newCenters[c * d + j] *= inv }
        }
    }

    // MARK: Silhouette

    /// Mean silhouette (sklearn `silhouette_score`, Euclidean): for each point, a = mean distance
    /// to the other members of its cluster, b = the smallest mean distance to another cluster,
    /// s = (b − a)/max(a, b); s = 0 for a point alone in its cluster (and for 0/0). Needs ≥ 2
    /// non-empty clusters (else NaN). O(n²·d): each pair once.
    public static func silhouette(_ x: [Double], rows n: Int, cols d: Int, labels: [Int32], k: Int) -> Double {
        precondition(x.count == n * d && labels.count == n)
        var counts = [Int](repeating: 0, count: k)
        for l in labels { counts[Int(l)] += 1 }
        guard counts.filter({ $0 > 0 }).count >= 2 else { return .nan }
        var sums = [Double](repeating: 0, count: n * k)
        x.withUnsafeBufferPointer { xb in
            labels.withUnsafeBufferPointer { lb in
                sums.withUnsafeMutableBufferPointer { sb in
                    for i in 0..<n {
                        let xi = xb.baseAddress! + i * d
                        let li = Int(lb[i])
                        for j in (i + 1)..<max(n, i + 1) {
                            let xj = xb.baseAddress! + j * d
                            var s = 0.0
                            for t in 0..<d { let u = xi[t] - xj[t]; s += u * u }
                            let dist = s.squareRoot()
                            sb[i * k + Int(lb[j])] += dist
                            sb[j * k + li] += dist
                        }
                    }
                }
            }
        }
        var total = 0.0
        for i in 0..<n {
            let own = Int(labels[i])
            guard counts[own] > 1 else { continue }
            let a = sums[i * k + own] / Double(counts[own] - 1)
            var b = Double.infinity
            for c in 0..<k where c != own && counts[c] > 0 { b = min(b, sums[i * k + c] / Double(counts[c])) }
            let m = max(a, b)
            if m > 0 { total += (b - a) / m }
        }
        return total / Double(n)
    }

    /// Silhouette on at most `limit` points: all of them when n ≤ limit, else a uniform draw
    /// without replacement from `rng` (a partial Fisher–Yates), in index order [ours,
    /// defenses.md §2].
    public static func silhouette(_ x: [Double], rows n: Int, cols d: Int, labels: [Int32], k: Int,
                                  limit: Int = silhouetteSampleLimit, rng: inout SeededRNG) -> Double {
        guard n > limit else { return silhouette(x, rows: n, cols: d, labels: labels, k: k) }
        var pool = Array(0..<n)
        for i in 0..<limit {
            let j = i + rng.int(below: n - i)
            pool.swapAt(i, j)
        }
        let chosen = pool.prefix(limit).sorted()
        var sx = [Double](repeating: 0, count: limit * d), sl = [Int32](repeating: 0, count: limit)
        for (r, i) in chosen.enumerated() {
            for j in 0..<d { sx[r * d + j] = x[i * d + j] }
            sl[r] = labels[i]
        }
        return silhouette(sx, rows: limit, cols: d, labels: sl, k: k)
    }

    // MARK: Power iteration

    /// Top singular value and right singular vector of the centred matrix R̃ = X − 1x̄ᵀ, without
    /// forming R̃ or any d×d matrix (defenses.md §3 "Computation for Swift"): v ← R̃ᵀ(R̃v)/‖·‖ from a
    /// seeded Gaussian start, at most `powerMaxIterations` iterations, until |σ₁ − σ₁′| < 
    /// `powerTolerance`·σ₁. One fused pass over the Float rows per iteration, in Double:
    /// c_i = ⟨x_i, v⟩ − ⟨x̄, v⟩ and w += c_i·x_i while the row is in cache, then w −= x̄·Σc_i
    /// (2·n·d multiply-adds). σ₁ = ‖R̃v‖ for the returned v; T = ‖R̃‖²_F on centred values.
    public static func topSingularVector(_ x: FeatureMatrix, mean: [Double], seed: UInt64,
                                         maxIterations: Int = powerMaxIterations, tolerance: Double = powerTolerance) -> TopSingular {
        let (n, d) = (x.rows, x.cols)
        var rng = SeededRNG(seed: seed, stream: "power-iteration")
        var v = [Double](repeating: 0, count: d)
        for j in 0..<d { v[j] = Double(rng.normal()) }
        normalize(&v)
        var w = [Double](repeating: 0, count: d)
        var sigma = 0.0, previous = -1.0
        var iterations = 0, converged = false
        let frob = centredSquaredNorm(x, mean: mean)
        if frob == 0 {
            return TopSingular(sigma: 0, vector: v, projections: [Double](repeating: 0, count: n), frobeniusSquared: 0,
                               iterations: 0, converged: true)
        }
        x.values.withUnsafeBufferPointer { src in
            mean.withUnsafeBufferPointer { m in
                while iterations < maxIterations {
                    iterations += 1
                    var mv = 0.0
                    for j in 0..<d { mv += m[j] * v[j] }
                    var s2 = 0.0, sumC = 0.0
                    v.withUnsafeBufferPointer { vb in
                        w.withUnsafeMutableBufferPointer { wb in
                            wb.update(repeating: 0)
                            for i in 0..<n {
                                let row = src.baseAddress! + i * d
                                var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
                                var j = 0
                                while j + 4 <= d {
                                    a0 += Double(row[j]) * vb[j]; a1 += Double(row[j + 1]) * vb[j + 1]
                                    a2 += Double(row[j + 2]) * vb[j + 2]; a3 += Double(row[j + 3]) * vb[j + 3]
                                    j += 4
                                }
                                while j < d { a0 += Double(row[j]) * vb[j]; j += 1 }
                                let c = (a0 + a1) + (a2 + a3) - mv
                                s2 += c * c; sumC += c
                                for t in 0..<d { wb[t] += c * Double(row[t]) }
                            }
                            for t in 0..<d { wb[t] -= sumC * m[t] }
                        }
                    }
                    sigma = s2.squareRoot()
                    if previous >= 0 && abs(sigma - previous) < tolerance * sigma { converged = true; break }
                    previous = sigma
                    var norm = 0.0
                    for t in 0..<d { norm += w[t] * w[t] }
                    norm = norm.squareRoot()
                    if norm == 0 { converged = true; break }
                    for t in 0..<d { v[t] = w[t] / norm }
                }
            }
        }
        let projections = project(x, mean: mean, onto: v)
        return TopSingular(sigma: sigma, vector: v, projections: projections, frobeniusSquared: frob,
                           iterations: iterations, converged: converged)
    }

    /// ⟨x_i − x̄, v⟩ per row.
    public static func project(_ x: FeatureMatrix, mean: [Double], onto v: [Double]) -> [Double] {
        let (n, d) = (x.rows, x.cols)
        var mv = 0.0
        for j in 0..<d { mv += mean[j] * v[j] }
        var out = [Double](repeating: 0, count: n)
        x.values.withUnsafeBufferPointer { src in
            for i in 0..<n {
                let row = src.baseAddress! + i * d
                var s = 0.0
                for j in 0..<d { s += Double(row[j]) * v[j] }
                out[i] = s - mv
            }
        }
        return out
    }

    private static func normalize(_ v: inout [Double]) {
        var s = 0.0
        for t in v { s += t * t }
        let inv = 1 / s.squareRoot()
        for i in v.indices { v[i] *= inv }
    }

    // MARK: Moments and rounding

    /// Sample skewness m₃/m₂^{3/2} (biased; `scipy.stats.skew` defaults). NaN for constant input.
    public static func skewness(_ x: [Double]) -> Double {
        let (m2, m3, _) = centralMoments(x)
        return m2 > 0 ? m3 / (m2 * m2.squareRoot()) : .nan
    }

    /// Excess kurtosis m₄/m₂² − 3 (biased, Fisher; `scipy.stats.kurtosis` defaults). NaN for constant input.
    public static func excessKurtosis(_ x: [Double]) -> Double {
        let (m2, _, m4) = centralMoments(x)
        return m2 > 0 ? m4 / (m2 * m2) - 3 : .nan
    }

    private static func centralMoments(_ x: [Double]) -> (Double, Double, Double) {
        guard !x.isEmpty else { return (0, 0, 0) }
        var mean = 0.0
        for t in x { mean += t }
        mean /= Double(x.count)
        var m2 = 0.0, m3 = 0.0, m4 = 0.0
        for t in x { let u = t - mean, u2 = u * u; m2 += u2; m3 += u2 * u; m4 += u2 * u2 }
        let n = Double(x.count)
        return (m2 / n, m3 / n, m4 / n)
    }

    /// numpy's `np.round(x, decimals)` (which Python's `round` on numpy floats also uses, as ART
    /// does): x·10^decimals rounded half to even, divided back.
    public static func npRound(_ x: Double, decimals: Int) -> Double {
        var p = 1.0
        for _ in 0..<decimals { p *= 10 }
        return (x * p).rounded(.toNearestOrEven) / p
    }

    /// np.median semantics (mean of the two middle values for an even count); NaN when empty.
    public static func median(_ x: [Double]) -> Double {
        x.isEmpty ? .nan : OutlierRule.median(x)
    }
}

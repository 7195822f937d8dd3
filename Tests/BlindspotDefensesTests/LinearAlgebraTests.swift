import XCTest
import BlindspotCore
import BlindspotDefenses

/// Activation Clustering's and Spectral Signatures' linear algebra against numpy / scipy /
/// scikit-learn (`Fixtures/linalg-reference.json`, written by `scripts/make-defense-fixtures.py`).
final class LinearAlgebraTests: XCTestCase {
    struct Reference: Decodable {
        struct Clustering: Decodable { var inertia: Double; var labels: [Int]; var silhouette: Double }
        struct PCA: Decodable { var explainedVariance: [Double]; var totalVariance: Double; var whitenedCovariance: [Double] }
        struct Whitened: Decodable { var squaredNorms: [Double]; var squaredDistancesToFirst: [Double] }
        struct Lloyd: Decodable { var initIndices: [Int]; var inertia: Double; var labels: [Int]; var nIter: Int }
        struct WhitenedClustering: Decodable {
            var inertia: Double; var labels: [Int]; var silhouette: Double; var fasticaLabels: [Int]; var fasticaSilhouette: Double
        }
        struct SVD: Decodable { var sigma1: Double; var sigma2: Double; var frobeniusSquared: Double; var v1: [Double] }
        struct Moments: Decodable {
            var vector: [Double]; var skewness: Double; var excessKurtosis: Double
            var projectionAbsSkewness: Double; var projectionExcessKurtosis: Double
        }
        var rows: Int
        var cols: Int
        var matrix: [Double]
        var fixedLabels: [Int]
        var silhouetteFixedLabels: Double
        var kmeans: Clustering
        var pca: PCA
        var kmeansOnPca: Clustering
        var whitened: Whitened
        var lloydOnWhitened: Lloyd
        var kmeansOnWhitened: WhitenedClustering
        var svd: SVD
        var moments: Moments
    }

    static let reference: Reference = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/linalg-reference.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try! decoder.decode(Reference.self, from: Data(contentsOf: url))
    }()

    var ref: Reference { Self.reference }
    var features: FeatureMatrix { FeatureMatrix(rows: ref.rows, cols: ref.cols, values: ref.matrix.map { Float($0) }) }

    /// Labels relabelled so that the first sample's cluster is 0 (partitions compare up to a swap).
    func canonical(_ labels: [Int32]) -> [Int] { labels.map { $0 == labels[0] ? 0 : 1 } }

    func assertRelative(_ a: Double, _ b: Double, _ tol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(abs(a - b), tol * max(abs(b), 1e-300), "\(what): \(a) vs \(b)", file: file, line: line)
    }

    func testMatrixValuesAreFloatExact() {
        // The script stores float32-exact values, so Swift's Float features equal numpy's input.
        for v in ref.matrix { XCTAssertEqual(Double(Float(v)), v) }
    }

    func testKMeansMatchesSklearnOnTheRawMatrix() {
        var rng = SeededRNG(seed: 7, stream: "test")
        let km = LinearAlgebra.kMeans(ref.matrix, rows: ref.rows, cols: ref.cols, k: 2, rng: &rng)
        assertRelative(km.inertia, ref.kmeans.inertia, 1e-10, "inertia")
        XCTAssertEqual(canonical(km.labels), ref.kmeans.labels)
        // Another seed finds the same optimum (the raw matrix has one clear 2-means optimum).
        var rng2 = SeededRNG(seed: 99, stream: "test")
        assertRelative(LinearAlgebra.kMeans(ref.matrix, rows: ref.rows, cols: ref.cols, k: 2, rng: &rng2).inertia,
                       ref.kmeans.inertia, 1e-10, "inertia, other seed")
    }

    func testSilhouetteMatchesSklearn() {
        let fixed = ref.fixedLabels.map { Int32($0) }
        assertRelative(LinearAlgebra.silhouette(ref.matrix, rows: ref.rows, cols: ref.cols, labels: fixed, k: 3),
                       ref.silhouetteFixedLabels, 1e-12, "silhouette, 3 fixed labels")
        let km = ref.kmeans.labels.map { Int32($0) }
        assertRelative(LinearAlgebra.silhouette(ref.matrix, rows: ref.rows, cols: ref.cols, labels: km, k: 2),
                       ref.kmeans.silhouette, 1e-12, "silhouette, k-means labels")
        // One non-empty cluster: undefined.
        XCTAssertTrue(LinearAlgebra.silhouette(ref.matrix, rows: ref.rows, cols: ref.cols,
                                               labels: [Int32](repeating: 1, count: ref.rows), k: 2).isNaN)
    }

    func testSilhouetteSubsampleIsSeededAndClose() {
        let km = ref.kmeans.labels.map { Int32($0) }
        var a = SeededRNG(seed: 3, stream: "s"), b = SeededRNG(seed: 3, stream: "s")
        let s1 = LinearAlgebra.silhouette(ref.matrix, rows: ref.rows, cols: ref.cols, labels: km, k: 2, limit: 100, rng: &a)
        let s2 = LinearAlgebra.silhouette(ref.matrix, rows: ref.rows, cols: ref.cols, labels: km, k: 2, limit: 100, rng: &b)
        XCTAssertEqual(s1, s2)
        XCTAssertNotEqual(s1, ref.kmeans.silhouette)      // a subsample ran …
        XCTAssertEqual(s1, ref.kmeans.silhouette, accuracy: 0.05)   // … and estimates the whole
        var c = SeededRNG(seed: 3, stream: "s")
        XCTAssertEqual(LinearAlgebra.silhouette(ref.matrix, rows: ref.rows, cols: ref.cols, labels: km, k: 2, limit: 5000, rng: &c),
                       LinearAlgebra.silhouette(ref.matrix, rows: ref.rows, cols: ref.cols, labels: km, k: 2))
    }

    func testPCAMatchesSklearn() {
        let p = LinearAlgebra.pca(features, components: 10, whiten: false, seed: 1)
        for (a, b) in zip(p.explainedVariance, ref.pca.explainedVariance) { assertRelative(a, b, 1e-10, "explained variance") }
        assertRelative(p.totalVariance, ref.pca.totalVariance, 1e-12, "total variance")
        XCTAssertEqual(p.rank, 10)
        XCTAssertTrue(p.converged)
        // ART's un-whitened PCA-10 then k-means.
        var rng = SeededRNG(seed: 7, stream: "test")
        let km = LinearAlgebra.kMeans(p.projected, rows: ref.rows, cols: 10, k: 2, rng: &rng)
        assertRelative(km.inertia, ref.kmeansOnPca.inertia, 1e-9, "inertia on PCA-10")
        XCTAssertEqual(canonical(km.labels), ref.kmeansOnPca.labels)
        assertRelative(LinearAlgebra.silhouette(p.projected, rows: ref.rows, cols: 10, labels: km.labels, k: 2),
                       ref.kmeansOnPca.silhouette, 1e-9, "silhouette on PCA-10")
    }

    func testWhitenedPCAIsSklearnsUpToARotation() {
        let p = LinearAlgebra.pca(features, components: 10, whiten: true, seed: 1)
        let (n, k) = (ref.rows, 10)
        // Identity covariance (ddof 1), like sklearn's whitened projection.
        var mean = [Double](repeating: 0, count: k)
        for i in 0..<n { for j in 0..<k { mean[j] += p.projected[i * k + j] / Double(n) } }
        for a in 0..<k {
            XCTAssertEqual(mean[a], 0, accuracy: 1e-10)
            for b in 0..<k {
                var s = 0.0
                for i in 0..<n { s += (p.projected[i * k + a] - mean[a]) * (p.projected[i * k + b] - mean[b]) }
                XCTAssertEqual(s / Double(n - 1), ref.pca.whitenedCovariance[a * k + b], accuracy: 1e-9)
            }
        }
        // Rotation-invariant facts equal sklearn's: squared norms and distances to the first point.
        for i in 0..<n {
            var norm = 0.0, dist = 0.0
            for j in 0..<k {
                norm += p.projected[i * k + j] * p.projected[i * k + j]
                let t = p.projected[i * k + j] - p.projected[j]; dist += t * t
            }
            assertRelative(norm, ref.whitened.squaredNorms[i], 1e-8, "|z_\(i)|²")
            XCTAssertEqual(dist, ref.whitened.squaredDistancesToFirst[i], accuracy: 1e-8 * max(1, ref.whitened.squaredDistancesToFirst[i]))
        }
        // Silhouettes of sklearn's partitions (whitened PCA and FastICA-10) on our whitened points:
        // equal, since FastICA's unmixing is orthogonal on the whitened data (defenses.md §2).
        assertRelative(LinearAlgebra.silhouette(p.projected, rows: n, cols: k, labels: ref.kmeansOnWhitened.labels.map { Int32($0) }, k: 2),
                       ref.kmeansOnWhitened.silhouette, 1e-9, "silhouette of the whitened partition")
        assertRelative(LinearAlgebra.silhouette(p.projected, rows: n, cols: k, labels: ref.kmeansOnWhitened.fasticaLabels.map { Int32($0) }, k: 2),
                       ref.kmeansOnWhitened.fasticaSilhouette, 1e-6, "silhouette of the FastICA partition")
    }

    func testLloydFromAFixedStartMatchesSklearn() {
        let p = LinearAlgebra.pca(features, components: 10, whiten: true, seed: 1)
        let k = 10
        let start = ref.lloydOnWhitened.initIndices.flatMap { i in (0..<k).map { p.projected[i * k + $0] } }
        let r = LinearAlgebra.lloyd(p.projected, rows: ref.rows, cols: k, initialCenters: start, k: 2)
        XCTAssertEqual(canonical(r.labels), ref.lloydOnWhitened.labels)
        assertRelative(r.inertia, ref.lloydOnWhitened.inertia, 1e-9, "inertia")
        XCTAssertEqual(r.iterations, ref.lloydOnWhitened.nIter)
    }

    func testKMeansIsRotationInvariant() {
        // The basis of "whitened PCA-10 ≡ FastICA-10": the same seed on rotated data gives the same partition.
        let p = LinearAlgebra.pca(features, components: 10, whiten: true, seed: 1)
        let (n, k) = (ref.rows, 10)
        var g = SeededRNG(seed: 5, stream: "rotation")
        var m = (0..<(k * k)).map { _ in Double(g.normal()) }
        m = LinearAlgebra.symmetricEigen(symmetrize(m, k), n: k).vectors   // an orthogonal matrix
        var rotated = [Double](repeating: 0, count: n * k)
        for i in 0..<n { for a in 0..<k { for b in 0..<k { rotated[i * k + a] += p.projected[i * k + b] * m[a * k + b] } } }
        var r1 = SeededRNG(seed: 11, stream: "km"), r2 = SeededRNG(seed: 11, stream: "km")
        let a = LinearAlgebra.kMeans(p.projected, rows: n, cols: k, k: 2, rng: &r1)
        let b = LinearAlgebra.kMeans(rotated, rows: n, cols: k, k: 2, rng: &r2)
        XCTAssertEqual(a.labels, b.labels)
        assertRelative(a.inertia, b.inertia, 1e-9, "inertia")
        // Whitened k-means has many local optima; n_init 10 reaches one no worse than the A|B split.
        XCTAssertLessThanOrEqual(a.inertia, ref.lloydOnWhitened.inertia * (1 + 1e-9))
    }

    func symmetrize(_ m: [Double], _ k: Int) -> [Double] {
        var s = m
        for a in 0..<k { for b in 0..<k { s[a * k + b] = m[a * k + b] + m[b * k + a] } }
        return s
    }

    func testSubspaceIterationMatchesJacobi() {
        // d = 120 > jacobiMaxDimension: the subspace-iteration path, against the dense solver.
        let (n, d) = (300, 120)
        var g = SeededRNG(seed: 21, stream: "eig")
        var values = [Float](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { values[i * d + j] = g.normal() * Float(1 + 3 * exp(-Double(j) / 8)) } }
        let x = FeatureMatrix(rows: n, cols: d, values: values)
        let cov = LinearAlgebra.covariance(x, mean: LinearAlgebra.columnMeans(x))
        let dense = LinearAlgebra.symmetricEigen(cov, n: d)
        let top = LinearAlgebra.topEigen(cov, n: d, count: 10, seed: 4)
        XCTAssertTrue(top.converged)
        XCTAssertGreaterThan(top.iterations, 0)
        for i in 0..<10 {
            assertRelative(top.values[i], dense.values[i], 1e-10, "λ_\(i)")
            var dot = 0.0
            for j in 0..<d { dot += top.vectors[i * d + j] * dense.vectors[i * d + j] }
            XCTAssertEqual(abs(dot), 1, accuracy: 1e-6, "eigenvector \(i)")
        }
        // Jacobi itself: A v = λ v.
        for i in [0, 50, 119] {
            for r in stride(from: 0, to: d, by: 17) {
                var av = 0.0
                for j in 0..<d { av += cov[r * d + j] * dense.vectors[i * d + j] }
                XCTAssertEqual(av, dense.values[i] * dense.vectors[i * d + r], accuracy: 1e-10 * dense.values[0])
            }
        }
    }

    func testCovarianceAgainstTheDefinition() {
        let x = features
        let mean = LinearAlgebra.columnMeans(x)
        let cov = LinearAlgebra.covariance(x, mean: mean)
        for (a, b) in [(0, 0), (0, 3), (5, 2), (15, 15), (7, 12)] {
            var s = 0.0
            for i in 0..<x.rows { s += (ref.matrix[i * x.cols + a] - mean[a]) * (ref.matrix[i * x.cols + b] - mean[b]) }
            XCTAssertEqual(cov[a * x.cols + b], s / Double(x.rows - 1), accuracy: 1e-12 * max(1, abs(s)))
            XCTAssertEqual(cov[a * x.cols + b], cov[b * x.cols + a])
        }
    }

    func testRankDeficiencyIsReported() {
        // 200 rows, 40 dims, but only 6 distinct vectors: centred rank ≤ 5 (an INT4-style collapse).
        var g = SeededRNG(seed: 8, stream: "rank")
        let protos = (0..<6).map { _ in (0..<40).map { _ in g.normal() } }
        var values: [Float] = []
        for i in 0..<200 { values += protos[i % 6] }
        let p = LinearAlgebra.pca(FeatureMatrix(rows: 200, cols: 40, values: values), components: 10, whiten: true, seed: 2)
        XCTAssertEqual(p.rank, 5)
        XCTAssertTrue(p.projected.allSatisfy { $0.isFinite })
    }

    func testPowerIterationMatchesNumpySVD() {
        let x = features
        let mean = LinearAlgebra.columnMeans(x)
        let t = LinearAlgebra.topSingularVector(x, mean: mean, seed: 3)
        XCTAssertTrue(t.converged)
        XCTAssertLessThanOrEqual(t.iterations, LinearAlgebra.powerMaxIterations)
        assertRelative(t.sigma, ref.svd.sigma1, 1e-7, "σ₁")
        assertRelative(t.frobeniusSquared, ref.svd.frobeniusSquared, 1e-12, "T")
        var dot = 0.0
        for j in 0..<x.cols { dot += t.vector[j] * ref.svd.v1[j] }
        XCTAssertEqual(abs(dot), 1, accuracy: 1e-6)
        XCTAssertEqual(abs(LinearAlgebra.skewness(t.projections)), ref.moments.projectionAbsSkewness, accuracy: 1e-6)
        XCTAssertEqual(LinearAlgebra.excessKurtosis(t.projections), ref.moments.projectionExcessKurtosis, accuracy: 1e-6)
        // σ₁² = ‖R̃v‖² = Σ projections².
        assertRelative(t.projections.reduce(0) { $0 + $1 * $1 }, t.sigma * t.sigma, 1e-12, "σ₁² from projections")
        // Seeded: the same seed gives the same result; a different seed the same σ₁.
        XCTAssertEqual(LinearAlgebra.topSingularVector(x, mean: mean, seed: 3).vector, t.vector)
        assertRelative(LinearAlgebra.topSingularVector(x, mean: mean, seed: 4).sigma, ref.svd.sigma1, 1e-7, "σ₁, other seed")
    }

    func testPowerIterationReportsNonConvergence() {
        // Two iterations cannot meet the 1e-7 relative-change test from a random start.
        let x = features
        let t = LinearAlgebra.topSingularVector(x, mean: LinearAlgebra.columnMeans(x), seed: 3, maxIterations: 2)
        XCTAssertFalse(t.converged)
        XCTAssertEqual(t.iterations, 2)
    }

    func testMomentsMatchScipy() {
        XCTAssertEqual(LinearAlgebra.skewness(ref.moments.vector), ref.moments.skewness, accuracy: 1e-12)
        XCTAssertEqual(LinearAlgebra.excessKurtosis(ref.moments.vector), ref.moments.excessKurtosis, accuracy: 1e-12)
        XCTAssertTrue(LinearAlgebra.skewness([2, 2, 2]).isNaN)
    }

    func testNumpyRoundingAsARTUsesIt() {
        // Values from numpy 2.4: np.round(x, 2), and round(np.float64(x), 4).
        XCTAssertEqual(LinearAlgebra.npRound(0.345, decimals: 2), 0.34)
        XCTAssertEqual(LinearAlgebra.npRound(0.355, decimals: 2), 0.36)
        XCTAssertEqual(LinearAlgebra.npRound(0.125, decimals: 2), 0.12)
        XCTAssertEqual(LinearAlgebra.npRound(0.34999, decimals: 2), 0.35)
        XCTAssertEqual(LinearAlgebra.npRound(0.10005, decimals: 4), 0.1)
        XCTAssertEqual(LinearAlgebra.npRound(0.105, decimals: 4), 0.105)
    }
}

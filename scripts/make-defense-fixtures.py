#!/usr/bin/env python3
"""Writes Tests/BlindspotDefensesTests/Fixtures/linalg-reference.json, the reference values that
LinearAlgebraTests checks blindspot's own linear algebra against (Activation Clustering and
Spectral Signatures, shared/docs/defenses.md §2-§3).

Dev-only (needs numpy, scipy and scikit-learn); the JSON is committed so the Swift tests never
need Python.
    .venv-fixtures/bin/pip install scikit-learn      # numpy and scipy come with it
    .venv-fixtures/bin/python scripts/make-defense-fixtures.py

The input matrix is written out in full (float32-exact values stored as JSON doubles), so Swift
needs neither numpy's RNG nor any rounding convention: every reference below is computed in
float64 from exactly the values Swift reads.

Contents:
- matrix: 128 x 16 rows: blob A (70 points), blob B (50 points, shifted), and a small, tight
  "outlier" cluster (8 points) beside B. Anisotropic noise so that PCA is not trivial.
- fixed_labels: the generating labelling (0 = A, 1 = B, 2 = outliers) and its silhouette.
- kmeans: sklearn KMeans(n_clusters=2, n_init=10, random_state=0) on the raw matrix: inertia
  (the robust check: any implementation that finds the optimum reproduces it), labels (equal up
  to a swap of the two labels), silhouette of those labels.
- pca: sklearn PCA(10) explained variances (ddof 1), total variance, and the covariance of the
  whitened projection (PCA(10, whiten=True), identity up to rounding).
- kmeans_on_pca: KMeans as above on the un-whitened PCA-10 projection (ART's `reduce="PCA"`).
- whitened: rotation-invariant facts about the whitened PCA-10 projection Z (Z is unique up to
  an orthogonal rotation, so a Swift Z is compared through them): |z_i|^2 and |z_i - z_0|^2.
- lloyd_on_whitened: KMeans(2, init=Z[init_indices], n_init=1) on Z: Lloyd's iterations and
  sklearn's tol rule from a fixed start (deterministic, rotation-invariant): labels, inertia,
  n_iter.
- kmeans_on_whitened: KMeans(n_init=10, random_state=0) on Z, and on FastICA-10 (sklearn's
  FastICA(10, whiten="unit-variance", max_iter=1000, tol=0.005, random_state=0), as ART's
  helpers call it): the two partitions agree (defenses.md §2 "Key simplification": same RNG,
  rotated data). Informational for Swift: on whitened data k-means has many local optima (on
  this matrix only ~15% of single k-means++ starts reach the best partition), so a different RNG
  need not land on the same one.
- svd: top singular value of the mean-centred matrix and its right singular vector (sign-fixed:
  largest-magnitude entry positive).
- moments: scipy.stats skew / kurtosis (biased, Fisher: excess) of a fixed vector, and of the
  centred projections onto the top singular vector (skewness up to sign).
"""
import json
import os

import numpy as np
import scipy.stats
import sklearn
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA, FastICA
from sklearn.metrics import silhouette_score

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "BlindspotDefensesTests", "Fixtures",
                   "linalg-reference.json")
SEED = 20240611
D = 16
LLOYD_INIT = (3, 100)   # one point of blob A, one of blob B


def matrix():
    rng = np.random.default_rng(SEED)
    scales = np.linspace(2.0, 0.3, D)                      # anisotropic per-dimension spread
    a = rng.normal(size=(70, D)) * scales
    shift = np.zeros(D)
    shift[[0, 3, 7, 12]] = [9.0, -7.0, 5.0, 3.0]
    b = rng.normal(size=(50, D)) * scales * 0.8 + shift
    o = rng.normal(size=(8, D)) * 0.25 + shift + np.concatenate([[1.5, 0, 0, 0, 0, 2.5], np.zeros(D - 6)])
    x = np.vstack([a, b, o])
    labels = np.array([0] * 70 + [1] * 50 + [2] * 8)
    # float32-exact values: Swift stores features as Float.
    return x.astype(np.float32).astype(np.float64), labels


def kmeans(x):
    km = KMeans(n_clusters=2, n_init=10, random_state=0).fit(x)
    return km


def canonical(labels):
    """Relabels so that the first sample's cluster is 0 (partitions compare up to a swap)."""
    labels = np.asarray(labels)
    return [int(v) for v in (labels != labels[0]).astype(int)]


def main():
    x, fixed = matrix()
    n = x.shape[0]

    km = kmeans(x)
    pca = PCA(n_components=10).fit(x)
    z_pca = pca.transform(x)
    wpca = PCA(n_components=10, whiten=True).fit(x)
    z_white = wpca.transform(x)
    ica = FastICA(n_components=10, whiten="unit-variance", max_iter=1000, tol=0.005, random_state=0)
    z_ica = ica.fit_transform(x)

    km_pca = kmeans(z_pca)
    km_white = kmeans(z_white)
    km_ica = kmeans(z_ica)
    lloyd = KMeans(n_clusters=2, init=z_white[list(LLOYD_INIT)], n_init=1).fit(z_white)
    assert canonical(km_white.labels_) == canonical(km_ica.labels_), "whitened PCA-10 and FastICA-10 partitions differ"

    xc = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    v = vt[0]
    v = v if v[np.argmax(np.abs(v))] > 0 else -v
    proj = xc @ v

    vec = np.random.default_rng(SEED + 1).exponential(size=40).astype(np.float32).astype(np.float64)

    out = {
        "generator": f"scripts/make-defense-fixtures.py, numpy {np.__version__}, scipy {scipy.__version__}, "
                     f"scikit-learn {sklearn.__version__}, seed {SEED}",
        "rows": n,
        "cols": D,
        "matrix": [float(t) for t in x.ravel()],
        "fixed_labels": [int(t) for t in fixed],
        "silhouette_fixed_labels": float(silhouette_score(x, fixed)),
        "kmeans": {
            "inertia": float(km.inertia_),
            "labels": canonical(km.labels_),
            "silhouette": float(silhouette_score(x, km.labels_)),
        },
        "pca": {
            "explained_variance": [float(t) for t in pca.explained_variance_],
            "total_variance": float(np.var(x, axis=0, ddof=1).sum()),
            "whitened_covariance": [float(t) for t in np.cov(z_white, rowvar=False).ravel()],
        },
        "kmeans_on_pca": {
            "inertia": float(km_pca.inertia_),
            "labels": canonical(km_pca.labels_),
            "silhouette": float(silhouette_score(z_pca, km_pca.labels_)),
        },
        "whitened": {
            "squared_norms": [float(t) for t in (z_white ** 2).sum(axis=1)],
            "squared_distances_to_first": [float(t) for t in ((z_white - z_white[0]) ** 2).sum(axis=1)],
        },
        "lloyd_on_whitened": {
            "init_indices": list(LLOYD_INIT),
            "inertia": float(lloyd.inertia_),
            "labels": canonical(lloyd.labels_),
            "n_iter": int(lloyd.n_iter_),
        },
        "kmeans_on_whitened": {
            "inertia": float(km_white.inertia_),
            "labels": canonical(km_white.labels_),
            "silhouette": float(silhouette_score(z_white, km_white.labels_)),
            "fastica_labels": canonical(km_ica.labels_),
            "fastica_silhouette": float(silhouette_score(z_ica, km_ica.labels_)),
        },
        "svd": {
            "sigma1": float(s[0]),
            "sigma2": float(s[1]),
            "frobenius_squared": float((xc ** 2).sum()),
            "v1": [float(t) for t in v],
        },
        "moments": {
            "vector": [float(t) for t in vec],
            "skewness": float(scipy.stats.skew(vec)),
            "excess_kurtosis": float(scipy.stats.kurtosis(vec)),
            "projection_abs_skewness": float(abs(scipy.stats.skew(proj))),
            "projection_excess_kurtosis": float(scipy.stats.kurtosis(proj)),
        },
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)}: kmeans inertia {km.inertia_:.6f}, sizes {np.bincount(km.labels_)}, "
          f"whitened sizes {np.bincount(km_white.labels_)}, sigma1 {s[0]:.6f}")


if __name__ == "__main__":
    main()

"""Clustering proxy for robustness (seed 003): K-means purity of penultimate features / accuracy.

K = number of classes, on the clean test set only (no corrupted data is needed).
"""

from __future__ import annotations

import numpy as np

from moo_compress.objectives.base import ObjectiveResult


def purity(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    """(1/N) * sum over clusters of the size of its majority class."""
    total = 0
    for c in np.unique(clusters):
        total += np.bincount(labels_true[clusters == c]).max()
    return float(total) / len(labels_true)


def proxy_purity(m) -> ObjectiveResult:
    from sklearn.cluster import KMeans

    feats = m.features.numpy().astype(np.float64)
    km = KMeans(n_clusters=m.num_classes, n_init=4, random_state=m.seed)
    clusters = km.fit_predict(feats)
    p = purity(m.y_test, clusters)
    acc = m.clean_accuracy
    if acc <= 0:
        raise ValueError("proxy_purity is undefined for a model with 0% accuracy")
    return ObjectiveResult(p / acc, {"kmeans_purity": p})

"""proxy_acc and proxy_purity: equal on well-separated features, not an identity (issue 12).

In every quick-start row ``proxy_acc == proxy_purity``. With K = number of classes k-means
clusters, Hungarian cluster accuracy equals purity exactly when the clusters' majority
classes are distinct; when two clusters share a majority class they differ."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from moo_compress.objectives.proxy import (
    cluster_accuracy,
    clustering_scores,
    proxy_acc,
    proxy_purity,
    purity,
)


def test_with_k_equal_to_the_classes_they_differ_only_when_majorities_are_shared():
    rng = np.random.default_rng(0)
    seen = {"distinct": 0, "shared": 0}
    for _ in range(500):
        k = int(rng.integers(2, 6))
        y = rng.integers(0, k, 40)
        clusters = rng.integers(0, k, 40)
        if len(np.unique(clusters)) < k or len(np.unique(y)) < k:
            continue
        table = np.zeros((k, k), dtype=int)
        np.add.at(table, (clusters, y), 1)
        acc, pur = cluster_accuracy(y, clusters), purity(y, clusters)
        assert acc <= pur + 1e-12  # a one-to-one matching never beats each cluster's best
        if len(set(table.argmax(axis=1))) == k:
            assert acc == pytest.approx(pur)
            seen["distinct"] += 1
        elif acc < pur - 1e-12:
            seen["shared"] += 1
    assert seen["distinct"] > 10 and seen["shared"] > 10


def _objectives(feats, y):
    c = clustering_scores(feats, y, num_classes=3, seed=0, multicut_points=30)
    m = SimpleNamespace(clustering=c, clean_accuracy=0.9)
    return proxy_acc(m).value, proxy_purity(m).value


def test_the_objectives_coincide_on_separated_features_and_differ_on_a_shared_majority():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 20)
    centres = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0]])
    separated = centres[y] + rng.normal(0, 1, (60, 2))
    acc, pur = _objectives(separated, y)
    assert acc == pur == pytest.approx(1 / 0.9)
    # class 0 in two far-apart blobs, classes 1 and 2 in one: two of the three k-means
    # clusters have majority class 0, so only one of them can be matched to it
    blob = np.where(np.arange(60) % 2 == 0, 0, 1)
    shared = np.where((y == 0)[:, None], centres[blob], centres[2]) + rng.normal(0, 1, (60, 2))
    acc, pur = _objectives(shared, y)
    assert pur == pytest.approx((10 + 10 + 20) / 60 / 0.9)
    assert acc == pytest.approx((10 + 20) / 60 / 0.9)

"""Clustering proxy for robustness (seed 003), from penultimate features of the clean evaluation images.

No corrupted data is used. With Model_ACC the clean accuracy:

- K-means (K = number of classes): cluster accuracy C_ACC (best one-to-one cluster/class
  matching, Hungarian algorithm) and purity; ``proxy_acc`` = C_ACC / Model_ACC and
  ``proxy_purity`` = C_purity / Model_ACC.
- Multicut on ``proxy.multicut_points`` evaluation images (the validation split in a search,
  the test split at export) drawn once per study (same images for every trial): pairwise costs d_ij = ||f_i - f_j||^2, divided by their median so the scale of
  a model's features does not matter; a cut probability p(d) from a logistic regression of
  "different class" on d, fitted on a second, disjoint sample of as many images with balanced
  class weights (the paper fits one but gives no details); edge weight logit(1 - p), positive
  = join. Solved by greedy additive edge contraction + Kernighan-Lin moves
  (:mod:`moo_compress.multicut`). ``proxy_multicut`` = its purity / Model_ACC.
- ``proxy_combined`` = C_purity(k-means) * C_purity(multicut) / Model_ACC (eq. 10).
- ``proxy_corrupted_acc`` = C_purity(k-means) in %, i.e. ``proxy_purity`` x Model_ACC. The
  ratios above predict the robustness *ratio* ACC_corrupted / ACC_clean, so maximising one
  rewards a model that is bad on clean and corrupted images alike; multiplied back by the
  clean accuracy the proxy predicts the corrupted accuracy itself, which is what a search
  should maximise.
- ``proxy_delta``: the baseline indicator Delta = (mu_intra + sigma_intra) -
  (mu_inter + sigma_inter) of Euclidean class distances (eq. 9), on up to 1000 images.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from moo_compress.multicut import multicut, objective
from moo_compress.objectives.base import Measurements, ObjectiveResult

__all__ = [
    "class_overlap_delta",
    "cluster_accuracy",
    "clustering_scores",
    "fit_logistic_1d",
    "multicut_weights",
    "proxy_acc",
    "proxy_combined",
    "proxy_corrupted_acc",
    "proxy_delta",
    "proxy_multicut",
    "proxy_purity",
    "purity",
]


def purity(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    """(1/N) * sum over clusters of the size of its majority class.

    Args:
        labels_true: The true class of each point.
        clusters: The cluster of each point.
    """
    table = _contingency(labels_true, clusters)
    return float(table.max(axis=1).sum()) / len(labels_true)


def cluster_accuracy(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    """Accuracy under the best one-to-one cluster-to-class matching (Hungarian algorithm).

    Args:
        labels_true: The true class of each point.
        clusters: The cluster of each point.
    """
    from scipy.optimize import linear_sum_assignment

    table = _contingency(labels_true, clusters)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum()) / len(labels_true)


def _contingency(labels_true: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    _, c = np.unique(clusters, return_inverse=True)
    _, y = np.unique(labels_true, return_inverse=True)
    table = np.zeros((c.max() + 1, y.max() + 1), dtype=np.int64)
    np.add.at(table, (c, y), 1)
    return table


@functools.lru_cache(maxsize=8)
def _upper_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.triu_indices(n, k=1)``, computed once per size (read-only).

    Args:
        n: Number of points.
    """
    rows, cols = np.triu_indices(n, k=1)
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


_CONTROLLER: list[Any] = []


def _one_thread() -> Any:
    """A context manager that runs BLAS and OpenMP on one thread, restoring them after.

    On a few hundred points thread start-up and contention with torch's pool cost more than
    they save (the results are the same: BLAS splits matrix products by output blocks).
    threadpoolctl finds the loaded libraries by reading the process's memory map, which
    takes milliseconds with torch loaded, so that is done once (after scikit-learn's and
    SciPy's libraries are loaded) and the limit is then set through the kept controller.
    """
    if not _CONTROLLER:
        import scipy.optimize  # noqa: F401  (load their thread pools before the scan)
        import sklearn.cluster  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def fit_logistic_1d(x: np.ndarray, y: np.ndarray, *, iterations: int = 25) -> tuple[float, float]:
    """Class-balanced logistic regression p(y=1 | x) = sigmoid(a x + b) by Newton's method.

    Equivalent to scikit-learn's ``LogisticRegression(class_weight="balanced")`` without its
    L2 penalty, for one feature; a few Newton steps on the 2x2 problem are ~100x faster.

    Args:
        x: The feature, one value per sample.
        y: The labels, 0 or 1; both classes must occur.
        iterations: Most Newton steps (default 25; stops earlier once a step is below 1e-10).

    Returns:
        ``(a, b)``: the coefficient and the intercept.
    """
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    sw = np.where(pos, len(y) / (2.0 * n_pos), len(y) / (2.0 * n_neg))
    design = np.stack([x, np.ones_like(x)], axis=1)
    theta = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -30, 30)))
        grad = design.T @ (sw * (p - y))
        hess = (design * (sw * p * (1 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(theta[0]), float(theta[1])


def multicut_weights(
    feats: np.ndarray, labels: np.ndarray, calib_feats: np.ndarray, calib_labels: np.ndarray
) -> tuple[np.ndarray, dict]:
    """Signed edge weights logit(1 - p_cut(d)) of the sampled points (see module docstring).

    Args:
        feats: Features of the points of the multicut graph, one row per point.
        labels: Their classes (unused: the graph does not see them).
        calib_feats: Features of the disjoint calibration sample the logistic regression
            is fitted on.
        calib_labels: Classes of the calibration sample.

    Returns:
        The symmetric weight matrix (zero diagonal; positive = join) and the fit
        (``logistic_coef``, ``logistic_intercept``, ``boundary_d``).
    """
    d_cal = _sq_dists(calib_feats, calib_feats)
    iu = _upper_pairs(len(calib_feats))
    pairs = d_cal[iu]
    scale = float(np.median(pairs)) or 1.0
    x_cal = pairs / scale
    y_cal = (calib_labels[iu[0]] != calib_labels[iu[1]]).astype(np.float64)
    if y_cal.min() == y_cal.max():  # degenerate sample: the median distance is the boundary
        coef, intercept = 4.0, -4.0
    else:
        coef, intercept = fit_logistic_1d(x_cal, y_cal)
    d = _sq_dists(feats, feats) / scale
    logit_cut = np.clip(coef * d + intercept, -30.0, 30.0)
    w = -logit_cut  # logit(1 - p) = -logit(p)
    np.fill_diagonal(w, 0.0)
    boundary = -intercept / coef if coef else float("nan")
    return w, {"logistic_coef": coef, "logistic_intercept": intercept, "boundary_d": boundary}


def class_overlap_delta(feats: np.ndarray, labels: np.ndarray) -> float:
    """Delta = (mu_intra + sigma_intra) - (mu_inter + sigma_inter) of Euclidean distances
    between points of the same class and of different classes (eq. 9 of seed 003).

    Args:
        feats: Features, one row per point.
        labels: The class of each point.
    """
    iu = _upper_pairs(len(feats))
    d = np.sqrt(_sq_dists(feats, feats)[iu])
    same = labels[iu[0]] == labels[iu[1]]
    intra, inter = d[same], d[~same]
    return float((intra.mean() + intra.std()) - (inter.mean() + inter.std()))


def clustering_scores(
    feats: np.ndarray, labels: np.ndarray, *, num_classes: int, seed: int, multicut_points: int
) -> dict[str, float]:
    """Every clustering measure of seed 003 for one feature matrix (clean test set).

    Args:
        feats: Penultimate features, one row per test image.
        labels: The class of each test image.
        num_classes: K of k-means.
        seed: Seed of k-means and of the multicut and Delta samples.
        multicut_points: Points of the multicut graph (at most half the images; as many
            again calibrate the cut probability).

    Returns:
        k-means accuracy and purity, multicut purity, accuracy, clusters, objective and
        points, ``delta``, and the logistic fit.
    """
    from sklearn.cluster import KMeans

    feats = np.asarray(feats, dtype=np.float64)
    # One thread for all of it (see _one_thread); the values do not depend on it.
    with _one_thread():
        km = KMeans(n_clusters=num_classes, n_init=4, random_state=seed).fit_predict(feats)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(feats))
        n_mc = min(multicut_points, len(feats) // 2)
        sample, calib = order[:n_mc], order[n_mc : 2 * n_mc]
        w, fit = multicut_weights(feats[sample], labels[sample], feats[calib], labels[calib])
        mc = multicut(w)
        delta_idx = order[: min(1000, len(feats))]
        return {
            "kmeans_accuracy": cluster_accuracy(labels, km),
            "kmeans_purity": purity(labels, km),
            "multicut_purity": purity(labels[sample], mc),
            "multicut_accuracy": cluster_accuracy(labels[sample], mc),
            "multicut_clusters": int(mc.max() + 1),
            "multicut_objective": objective(w, mc),
            "multicut_points": int(n_mc),
            "delta": class_overlap_delta(feats[delta_idx], labels[delta_idx]),
            **fit,
        }


def _relative(m: Measurements, value: float, what: str) -> float:
    if m.clean_accuracy <= 0:
        raise ValueError(f"{what} is undefined for a model with 0% accuracy")
    return value / m.clean_accuracy


def proxy_acc(m: Measurements) -> ObjectiveResult:
    """k-means cluster accuracy / clean accuracy.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``clustering``
            and ``clean_accuracy``).

    Returns:
        The ratio, with every clustering measure as details.

    Raises:
        ValueError: The model's clean accuracy is 0.
    """
    c = m.clustering
    return ObjectiveResult(_relative(m, c["kmeans_accuracy"], "proxy_acc"), dict(c))


def proxy_purity(m: Measurements) -> ObjectiveResult:
    """k-means purity / clean accuracy.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``clustering``
            and ``clean_accuracy``).

    Raises:
        ValueError: The model's clean accuracy is 0.
    """
    c = m.clustering
    return ObjectiveResult(
        _relative(m, c["kmeans_purity"], "proxy_purity"), {"kmeans_purity": c["kmeans_purity"]}
    )


def proxy_corrupted_acc(m: Measurements) -> ObjectiveResult:
    """k-means purity of the features, in % (``proxy_purity`` x clean accuracy): predicts
    the accuracy on corrupted images, without corrupted data.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``clustering``).
    """
    c = m.clustering
    return ObjectiveResult(100.0 * c["kmeans_purity"], {"kmeans_purity": c["kmeans_purity"]})


def proxy_multicut(m: Measurements) -> ObjectiveResult:
    """Multicut purity / clean accuracy.

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``clustering``
            and ``clean_accuracy``).

    Raises:
        ValueError: The model's clean accuracy is 0.
    """
    c = m.clustering
    return ObjectiveResult(
        _relative(m, c["multicut_purity"], "proxy_multicut"),
        {"multicut_purity": c["multicut_purity"]},
    )


def proxy_combined(m: Measurements) -> ObjectiveResult:
    """k-means purity * multicut purity / clean accuracy (eq. 10 of seed 003).

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``clustering``
            and ``clean_accuracy``).

    Raises:
        ValueError: The model's clean accuracy is 0.
    """
    c = m.clustering
    return ObjectiveResult(
        _relative(m, c["kmeans_purity"] * c["multicut_purity"], "proxy_combined")
    )


def proxy_delta(m: Measurements) -> ObjectiveResult:
    """The class-distance overlap Delta of the features (see :func:`class_overlap_delta`).

    Args:
        m: The model's :class:`~moo_compress.objectives.base.Measurements` (uses ``clustering``).
    """
    return ObjectiveResult(m.clustering["delta"])

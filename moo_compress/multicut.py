"""Minimum cost multicut (correlation clustering) on a complete graph, solved heuristically.

Edge weights ``w_ij`` are positive for attractive (join) and negative for repulsive (cut)
pairs. The objective is to maximise the total weight inside clusters, i.e. minimise the
weight of the cut. The solver is greedy additive edge contraction (GAEC: contract the most
attractive edge of the contracted graph until none is positive; Keuper et al. 2015) followed
by Kernighan-Lin style refinement (passes of single-node moves to another cluster or to a new
one, tentatively including negative moves, keeping the best prefix of each pass).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gaec", "kernighan_lin", "multicut", "objective"]


def gaec(w: np.ndarray) -> np.ndarray:
    """Greedy additive edge contraction.

    Args:
        w: Symmetric (n, n) edge weights, positive to join, negative to cut (the diagonal
            is ignored; not modified).

    Returns:
        A cluster label per node, numbered 0, 1, ... without gaps.
    """
    n = len(w)
    c = np.array(w, dtype=np.float64, copy=True)
    np.fill_diagonal(c, -np.inf)
    labels = np.arange(n)
    while True:
        flat = int(np.argmax(c))
        i, j = divmod(flat, n)
        if not c[i, j] > 0:
            break
        # merge j into i: the contracted edge weights add up. Whole rows: removed nodes
        # hold -inf, which stays -inf, so only live entries change (as with a live mask).
        c[i] += c[j]
        c[:, i] = c[i]
        c[i, i] = -np.inf
        c[j, :] = -np.inf
        c[:, j] = -np.inf
        labels[labels == j] = i
    return np.unique(labels, return_inverse=True)[1]


def objective(w: np.ndarray, labels: np.ndarray) -> float:
    """Total weight of the edges inside clusters (the diagonal excluded).

    Args:
        w: Symmetric (n, n) edge weights.
        labels: A cluster label per node.
    """
    same = labels[:, None] == labels[None, :]
    np.fill_diagonal(same, False)
    return float(w[same].sum() / 2)


def kernighan_lin(w: np.ndarray, labels: np.ndarray, *, max_passes: int = 10) -> np.ndarray:
    """Improve a partition by passes of single-node moves (to any cluster or a new one).

    Args:
        w: Symmetric (n, n) edge weights (the diagonal is ignored; not modified).
        labels: The partition to start from, a cluster label per node.
        max_passes: At most this many passes (default 10); passes stop early when one
            gains nothing.

    Returns:
        A cluster label per node, numbered 0, 1, ... without gaps.
    """
    w = np.array(w, dtype=np.float64, copy=True)
    np.fill_diagonal(w, 0.0)
    w_cols = np.ascontiguousarray(w.T)  # w_cols[v] is column v of w, contiguous
    labels = np.unique(labels, return_inverse=True)[1]
    n = len(w)
    rows = np.arange(n)
    for _ in range(max_passes):
        k = int(labels.max()) + 1
        width = k + n  # room for new clusters
        onehot = np.zeros((n, width))
        onehot[rows, labels] = 1
        s = w @ onehot  # s[v, c]: weight from v to cluster c
        s_flat = s.reshape(-1)
        # s with -inf at each node's own cluster and on the rows of moved nodes, kept up to
        # date by the same additions as s (-inf stays -inf): the gains of every possible
        # move are one subtraction, with no masking per step
        masked = s.copy()
        masked[rows, labels] = -np.inf
        own_at = rows * width + labels  # flat index of s[v, current[v]]
        current = labels.copy()
        history, total = [], 0.0
        next_new = k
        for _step in range(n):
            cols = next_new + 1  # column next_new: a new singleton
            gains = masked[:, :cols] - s_flat.take(own_at)[:, None]
            v, target = divmod(int(gains.argmax()), cols)
            gain = gains.item(v, target)
            if not math.isfinite(gain):
                break
            source = int(current[v])
            col = w_cols[v]
            s[:, source] -= col
            s[:, target] += col
            masked[:, source] -= col
            masked[:, target] += col
            masked[v] = -np.inf
            current[v] = target
            own_at[v] = v * width + target
            if target == next_new:
                next_new += 1
            total += gain
            history.append((v, source, total))
        if not history:
            break
        best = int(np.argmax([h[2] for h in history]))
        if history[best][2] <= 1e-12:
            break
        # keep the best prefix of the pass, undo the rest
        for v, source, _ in history[best + 1 :]:
            current[v] = source
        labels = np.unique(current, return_inverse=True)[1]
    return labels


def multicut(w: np.ndarray, *, refine: bool = True) -> np.ndarray:
    """A heuristic minimum cost multicut: :func:`gaec`, then :func:`kernighan_lin`.

    Args:
        w: Symmetric (n, n) edge weights, positive to join, negative to cut.
        refine: Refine GAEC's partition with Kernighan-Lin (default True).

    Returns:
        A cluster label per node, numbered 0, 1, ... without gaps.
    """
    labels = gaec(w)
    return kernighan_lin(w, labels) if refine else labels

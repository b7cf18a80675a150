"""Progress a person (or a scheduler's log) can follow: one JSON line per finished trial,
and a small text chart of the hypervolume over completed trials.

:class:`TrialLog` watches the study in its storage (read-only, from a thread of the
process that runs the search or the worker), so it sees every trial however it was
evaluated: in this process, on a Dask cluster or by local worker processes.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

import numpy as np

from moo_compress import record
from moo_compress import storage as st
from moo_compress.archive import normalized_hypervolume, pareto_indices

__all__ = ["LOG_FORMATS", "TrialLog", "hv_chart"]

LOG_FORMATS = ("text", "json")


class TrialLog:
    """Print one JSON line per trial of a study that finishes while the log runs.

    Each line: ``event`` ("trial"), ``study``, ``trial`` (number), ``state`` (COMPLETE or
    FAIL), ``values`` (the optimized objectives by name; null for a failed trial),
    ``feasible`` (every constraint met; null for a failed trial), ``seconds`` (the trial's
    wall time), ``complete`` (completed trials so far), ``archive_size`` and
    ``hypervolume`` (normalized, of the feasible completed trials so far, as ``status``
    computes them), ``finished`` (ISO time) and, for a failed trial, ``fail_reason``.

    Trials that finished before the log started are counted in the archive but not
    printed. The study may not exist yet when the log starts (a new search creates it
    after preparing its data): it is looked for at every poll.

    Args:
        url: The study's storage URL.
        name: The study's name.
        stream: Where lines go (default None: ``sys.stderr``).
        interval: Seconds between polls of the storage (default 1.0).
    """

    def __init__(
        self, url: str, name: str, *, stream: IO[str] | None = None, interval: float = 1.0
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds. Got {interval!r} instead.")
        self.url = url
        self.name = name
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.started = dt.datetime.now()
        self._study = None
        self._meta: dict[str, Any] = {}
        self._seen: set[int] = set()
        self._values: list[list[float]] = []
        self._complete = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> TrialLog:
        """Start watching in a daemon thread.

        Returns:
            The log itself.
        """
        self._thread = threading.Thread(
            target=self._run, name="moo-compress-trial-log", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and print the trials that finished since the last poll."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._poll_quietly()

    def __enter__(self) -> TrialLog:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll_quietly()

    def _poll_quietly(self) -> None:
        try:
            self.poll()
        except Exception:  # noqa: BLE001 - no study yet, or the database is busy: next poll
            pass

    def poll(self) -> list[dict[str, Any]]:
        """Read the study once and print a line for each trial finished since the last poll.

        Returns:
            The lines printed, as dicts.

        Raises:
            ConfigError: The study does not exist (yet), or is not a moo-compress study.
        """
        from optuna.trial import TrialState

        with self._lock:
            if self._study is None:
                self._study, self._meta = st.load_for_reading(self.url, self.name)
            names = list(self._meta["objectives"])
            directions = list(self._meta["directions"])
            bounds = st.hypervolume_bounds(self._meta)
            trials = self._study.get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)
            )
            new = sorted(
                (t for t in trials if t.number not in self._seen),
                key=lambda t: (t.datetime_complete or self.started, t.number),
            )
            lines = []
            for t in new:
                self._seen.add(t.number)
                complete = t.state == TrialState.COMPLETE
                feasible = record.is_feasible(t) if complete else None
                if complete:
                    self._complete += 1
                    if feasible and t.values is not None and len(t.values) == len(names):
                        self._values.append(list(t.values))
                if t.datetime_complete is not None and t.datetime_complete < self.started:
                    continue  # finished before this process started: history, not news
                values = np.array(self._values, dtype=float).reshape(-1, len(names))
                line: dict[str, Any] = {
                    "event": "trial",
                    "study": self.name,
                    "trial": t.number,
                    "state": t.state.name,
                    "values": dict(zip(names, t.values, strict=True))
                    if complete and t.values
                    else None,
                    "feasible": feasible,
                    "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
                    if t.datetime_complete and t.datetime_start
                    else None,
                    "complete": self._complete,
                    "archive_size": len(pareto_indices(values, directions)) if len(values) else 0,
                    "hypervolume": normalized_hypervolume(values, directions, bounds),
                    "finished": t.datetime_complete.astimezone().isoformat()
                    if t.datetime_complete
                    else None,
                }
                if not complete:
                    line["fail_reason"] = record.fail_reason(t)
                print(json.dumps(line), file=self.stream, flush=True)
                lines.append(line)
            return lines


def hv_chart(history: Sequence[dict[str, Any]], *, width: int = 50, height: int = 8) -> list[str]:
    """A text chart of the hypervolume over completed trials (a step line of ``*``).

    Args:
        history: The stored history (:func:`moo_compress.storage.hv_history`): entries with
            ``n_complete`` and ``hv``.
        width: Columns of the plot area (default 50; fewer when there are fewer trials).
        height: Rows of the plot area (default 8).

    Returns:
        The chart's lines (empty without history).
    """
    points = sorted((int(h["n_complete"]), float(h["hv"])) for h in history)
    if not points:
        return []
    first, last = points[0][0], points[-1][0]
    width = max(1, min(width, last - first + 1))
    lo = min(v for _, v in points)
    hi = max(v for _, v in points)
    span = hi - lo
    rows = [[" "] * width for _ in range(height)]
    for c in range(width):
        n = first + (last - first) * c / max(1, width - 1)
        value = [v for k, v in points if k <= n + 1e-9][-1]
        level = 0 if span <= 0 else round((value - lo) / span * (height - 1))
        rows[height - 1 - level][c] = "*"
    lines = []
    for r, row in enumerate(rows):
        label = f"{hi:.4f}" if r == 0 else f"{lo:.4f}" if r == height - 1 else ""
        lines.append(f"  {label:>7} |{''.join(row)}")
    lines.append(f"  {'':>7} +{'-' * width}")
    right = str(last)
    lines.append(f"  {'':>7}  {str(first):<{max(1, width - len(right))}}{right}  completed trials")
    return lines

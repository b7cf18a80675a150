"""The baseline cache: trained baselines and the facts measured on them, kept on disk.

A baseline is trained once per (data, architecture, training settings) and stored as a packed
model under the evaluator's cache directory; the facts measured on it (the robustness
reference, its objective values) are stored as JSON files next to it, keyed by everything
they depend on. :class:`BaselineCache` owns that storage and the models loaded in this
process; the evaluator says where each file goes (its keys) and how to compute what is
missing. An evaluator and its fidelity views (:meth:`ClassificationEvaluator.at_fidelity
<moo_compress.evaluation.classification.ClassificationEvaluator.at_fidelity>`) share one
cache, so a baseline is loaded once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moo_compress._utils.io import atomic_write
from moo_compress.artifact import decode_model

if TYPE_CHECKING:
    from torch import nn

__all__ = ["BaselineCache"]


class BaselineCache:
    """Baselines by file, loaded once per process, and JSON facts stored next to them.

    Args:
        log: Callable for progress messages (default None: silent).
        builders: User builders trusted to rebuild the baselines' architectures (default:
            none; see :func:`moo_compress.models.build_model`).
    """

    def __init__(
        self, log: Callable[[str], None] | None = None, *, builders: tuple[str, ...] = ()
    ) -> None:
        self.log = log or (lambda msg: None)
        self.builders = tuple(builders)
        self._models: dict[Path, nn.Module] = {}
        #: Seconds spent training each baseline in this process, by ``baseline_training:<what>``.
        self.seconds: dict[str, float] = {}

    def model(
        self,
        path: Path,
        train: Callable[[], bytes],
        *,
        name: str,
        detail: str = "",
        verb: str = "training baseline",
    ) -> nn.Module:
        """The baseline stored at ``path``; trained with ``train`` (the packed bytes) and
        stored there first when missing.

        Args:
            path: Where the packed baseline is stored.
            train: Trains the baseline and returns its packed bytes.
            name: The architecture, for the progress message and :attr:`seconds`.
            detail: More of the progress message (default: none).
            verb: What ``train`` does, for the progress message (default ``training
                baseline``).
        """
        if path not in self._models:
            if not path.exists():
                t0 = time.perf_counter()
                self.log(f"{verb} {name}{detail} (cached at {path})")
                atomic_write(path, train())
                self.seconds[f"baseline_training:{name}"] = time.perf_counter() - t0
            self._models[path], _ = decode_model(path.read_bytes(), builders=self.builders)
        return self._models[path]

    @staticmethod
    def read(path: Path) -> dict[str, Any] | None:
        """The facts stored at ``path`` (None when missing).

        Args:
            path: A JSON file next to a baseline.
        """
        return json.loads(path.read_text()) if path.exists() else None

    @staticmethod
    def write(path: Path, facts: dict[str, Any]) -> None:
        """Store ``facts`` at ``path`` atomically.

        Args:
            path: A JSON file next to a baseline.
            facts: JSON-serialisable values.
        """
        atomic_write(path, json.dumps(facts, indent=1).encode())

    def facts(self, path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The facts stored at ``path``; computed with ``compute`` and stored first when
        missing.

        Args:
            path: A JSON file next to a baseline.
            compute: Measures the facts.
        """
        stored = self.read(path)
        if stored is None:
            stored = compute()
            self.write(path, stored)
        return stored

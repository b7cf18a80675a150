"""A table of stored evaluations that stands in for the compressing evaluator.

Every configuration of a (finite) space evaluated once and stored is a *tabular benchmark*
(as NAS-Bench-201, HPOBench or YAHPO Gym): replaying a driver against it costs a table
lookup per trial instead of a compression, so drivers can be compared over many seeds. The
:class:`TableEvaluator` is a :class:`~moo_compress.evaluation.base.BaseEvaluator`, the
interface a search uses, so the drivers run unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from moo_compress.evaluation.base import BaseEvaluator
from moo_compress.evaluation.results import TrialResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TableEvaluator", "TableMiss", "fidelity_id", "full_evaluation_shares"]


class TableMiss(LookupError):
    """A configuration that the table does not hold."""


class TableEvaluator(BaseEvaluator):
    """Look evaluations up by configuration key instead of compressing models.

    Args:
        rows: Configuration key -> every measured objective value by name.
        seconds: Configuration key -> the evaluation's wall time when the table was built
            (what a replay charges for it).
        techniques: Configuration key -> technique name (default None: ``"table"``).
        baseline: The baseline's objective values (for constraints relative to it; default
            None: a relative constraint fails the trial).
        arch: The study's architecture (default ``"small_cnn"``).
        shares: What a multi-fidelity rung is charged, as shares of a configuration's
            seconds: ``"build"`` (compressing and fine-tuning, charged when a rung builds
            the model) and one per objective (charged when a rung measures it on the full
            data), or per objective and data subset (``"<objective>|<fidelity_id(...)>"``).
            Default None: building costs the whole evaluation and measuring is free.
        subsets: Values measured on data subsets: ``fidelity_id(fidelity)`` -> configuration
            key -> objective -> value (a rung on that subset reads its objectives there,
            and the rest from ``rows``). Default None: none.
        curves: Learning curves (a rung that pauses fine-tuning reads them): configuration
            key -> epochs of the last fine-tuning run -> ``{"values": {objective: value},
            "build_seconds": seconds to build the model paused there, pausing at every
            epochs below, "measure_seconds": {objective: seconds}}`` and optionally
            ``"scratch_seconds"``: seconds to build it from the baseline in one go
            (default: ``build_seconds``); the largest epochs are the full build. A rung is charged what continuing the run from the rung below costs
            (the difference of the build seconds) plus measuring its objectives. Default
            None: none.
    """

    def __init__(
        self,
        rows: dict[str, dict[str, float]],
        seconds: dict[str, float],
        *,
        techniques: dict[str, str] | None = None,
        baseline: dict[str, float] | None = None,
        arch: str = "small_cnn",
        shares: dict[str, float] | None = None,
        subsets: dict[str, dict[str, dict[str, float]]] | None = None,
        curves: dict[str, dict[int, dict[str, Any]]] | None = None,
    ) -> None:
        self.rows = {k: dict(v) for k, v in rows.items()}
        self.seconds = dict(seconds)
        self.techniques = dict(techniques or {})
        self.baseline = dict(baseline) if baseline is not None else None
        self.arch = arch
        self.shares = dict(shares) if shares is not None else {"build": 1.0}
        self.subsets = {k: dict(v) for k, v in (subsets or {}).items()}
        self.curves = {k: {int(e): c for e, c in v.items()} for k, v in (curves or {}).items()}
        self.lookups = 0

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        objectives: Iterable[str],
        *,
        baseline: dict[str, float] | None = None,
        arch: str = "small_cnn",
    ) -> TableEvaluator:
        """A table from a DataFrame with columns ``config_key``, ``eval_seconds``,
        ``technique`` (optional) and one per objective.

        Args:
            frame: The table (one row per configuration).
            objectives: The objective columns to serve.
            baseline: The baseline's objective values (default None).
            arch: The study's architecture (default ``"small_cnn"``).
        """
        names = list(objectives)
        rows = {
            str(r["config_key"]): {n: float(r[n]) for n in names} for r in frame.to_dict("records")
        }
        seconds = dict(
            zip(frame["config_key"].astype(str), frame["eval_seconds"].astype(float), strict=True)
        )
        techniques = (
            dict(zip(frame["config_key"].astype(str), frame["technique"].astype(str), strict=True))
            if "technique" in frame
            else None
        )
        return cls(rows, seconds, techniques=techniques, baseline=baseline, arch=arch)

    def prepare(self, archs: list[str]) -> None:
        """Nothing to prepare (the interface of the compressing evaluator).

        Args:
            archs: The architectures' names (unused).
        """

    def arch_of(self, config: dict[str, Any]) -> str:
        """The architecture a configuration uses: its ``arch``, else the study's.

        Args:
            config: A full pipeline configuration.
        """
        return config.get("arch") or self.arch

    def baseline_values(
        self, arch: str, *, fidelity: dict[str, Any] | None = None
    ) -> dict[str, float]:
        """The baseline's objective values.

        Args:
            arch: The architecture's name (one baseline per table).
            fidelity: A data subset: tables hold the baseline's full-fidelity values only,
                so it must be None.

        Raises:
            TableMiss: The table has no baseline, or none on ``fidelity``'s subset.
        """
        if fidelity:
            raise TableMiss(f"the table holds no baseline values on the subset {fidelity}")
        if self.baseline is None:
            raise TableMiss("the table has no baseline values (needed by relative constraints)")
        return dict(self.baseline)

    def evaluate(self, config: dict[str, Any], config_key: str) -> TrialResult:
        """The stored evaluation of ``config``.

        Args:
            config: A full pipeline configuration.
            config_key: Its key.

        Raises:
            TableMiss: The table does not hold this configuration.
        """
        if config_key not in self.rows:
            raise TableMiss(f"configuration {config_key} is not in the table: {config}")
        self.lookups += 1
        return TrialResult(
            values=dict(self.rows[config_key]),
            details={},
            technique=self.techniques.get(config_key, "table"),
            artifact=b"",
            seconds=float(self.seconds.get(config_key, 0.0)),
        )

    def evaluate_rung(
        self,
        config: dict[str, Any],
        config_key: str,
        *,
        objectives: list[str] | None = None,
        fidelity: dict[str, Any] | None = None,
        artifact: bytes | None = None,
        finetune_epochs: int | None = None,
        checkpoint: bytes | None = None,
    ) -> TrialResult:
        """The stored values of ``objectives`` (a multi-fidelity rung), charged by
        ``shares``, or read from the learning curves (``curves``) when the table has them.

        Args:
            config: A full pipeline configuration.
            config_key: Its key.
            objectives: The objectives measured (default None: every stored one; names
                the table lacks are left out).
            fidelity: A data subset: tables hold full-fidelity values only, so it must be
                None.
            artifact: The model from a lower rung (None: this rung builds it and is charged
                the ``"build"`` share).
            finetune_epochs: The rung's model is paused after this many epochs of its
                last fine-tuning run (default None: the full build).
            checkpoint: The lower rung's paused run (from this table: it names its epochs),
                continued at the cost of the epochs in between.

        Raises:
            TableMiss: The configuration is not in the table, or the table holds no values
                for ``fidelity``'s subset or at ``finetune_epochs``.
        """
        if self.curves:
            return self._from_curve(
                config, config_key, objectives, fidelity, artifact, finetune_epochs, checkpoint
            )
        full = self.evaluate(config, config_key)
        subset: dict[str, float] = {}
        fid = fidelity_id(fidelity) if fidelity else None
        if fid is not None:
            if config_key not in self.subsets.get(fid, {}):
                raise TableMiss(f"the table holds no values on the subset {fidelity}")
            subset = self.subsets[fid][config_key]
        names = [n for n in (objectives or list(full.values)) if n in full.values or n in subset]
        share = self.shares.get("build", 0.0) if artifact is None else 0.0
        for n in names:
            share += self.shares.get(f"{n}|{fid}" if n in subset else n, 0.0)
        full.values = {n: subset.get(n, full.values.get(n)) for n in names}
        full.seconds = full.seconds * share
        return full

    def _from_curve(
        self, config, config_key, objectives, fidelity, artifact, finetune_epochs, checkpoint
    ) -> TrialResult:
        """A rung read from the configuration's learning curve (see ``curves``)."""
        curve = self.curves.get(config_key)
        if curve is None:
            raise TableMiss(f"configuration {config_key} is not in the table: {config}")
        if fidelity:
            raise TableMiss(f"the table's learning curves hold no values on the subset {fidelity}")
        self.lookups += 1
        full = max(curve)
        target = full if finetune_epochs is None else min(int(finetune_epochs), full)
        if target not in curve:
            raise TableMiss(f"the table's learning curves hold no values at {target} epochs")
        point = curve[target]
        names = list(objectives or point["values"])
        missing = [n for n in names if n not in point["values"]]
        if missing:
            raise TableMiss(f"the table's learning curves hold no {missing[0]} at {target} epochs")
        start = _checkpoint_epochs(checkpoint) if checkpoint is not None else None
        if artifact is not None:
            build = 0.0  # the model below is this one
        elif start is not None and start in curve and start <= target:
            build = float(point["build_seconds"]) - float(curve[start]["build_seconds"])
        else:  # from the baseline in one go
            build = float(point.get("scratch_seconds", point["build_seconds"]))
        spent = point["measure_seconds"]  # "_load": loading the model, once per rung
        measure = float(spent.get("_load", 0.0)) + sum(float(spent.get(n, 0.0)) for n in names)
        return TrialResult(
            values={n: float(point["values"][n]) for n in names},
            details={},
            technique=self.techniques.get(config_key, "table"),
            artifact=f"table model {config_key} at {target} epochs".encode(),
            seconds=max(0.0, build) + measure,
            finetune_epochs=target if target < full else None,
            checkpoint=f"table checkpoint at {target} epochs".encode() if target < full else None,
        )


def _checkpoint_epochs(checkpoint: bytes) -> int | None:
    """The epochs a table's stand-in checkpoint names (None: not one of a table's)."""
    text = checkpoint.decode(errors="replace")
    prefix, suffix = "table checkpoint at ", " epochs"
    if text.startswith(prefix) and text.endswith(suffix):
        return int(text[len(prefix) : -len(suffix)])
    return None


def fidelity_id(fidelity: dict[str, Any]) -> str:
    """A data subset's name in a table's ``subsets`` and ``shares`` (canonical JSON).

    Args:
        fidelity: ``{"corruptions", "severities", "images"}`` as rungs give it.
    """
    import json

    return json.dumps({k: fidelity.get(k) for k in ("corruptions", "severities", "images")})


def full_evaluation_shares(shares: dict[str, float]) -> dict[str, float]:
    """Rung shares scaled so that one full evaluation costs exactly 1.0 of its seconds.

    Building the model and measuring each objective on the full data (the keys without a
    ``|``) are the parts of one full evaluation: however their shares were measured (timed
    apart, medians over models), they must add up to 1.0, or a promoted configuration is
    charged more or less than evaluating it once. Every share, subsets included, is divided
    by their sum (the same clock for every part).

    Args:
        shares: ``"build"`` and objective (or ``"<objective>|<fidelity_id>"``) -> share, as
            :class:`TableEvaluator` takes them.

    Raises:
        ValueError: A negative share, or full-data shares that add up to 0.
    """
    if any(v < 0 for v in shares.values()):
        raise ValueError(f"shares must be >= 0. Got {shares} instead.")
    total = sum(v for k, v in shares.items() if "|" not in k)
    if total <= 0:
        raise ValueError(f"the full-data shares must add up to more than 0. Got {shares} instead.")
    return {k: v / total for k, v in shares.items()}

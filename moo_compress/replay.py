"""Replay a study's driver against a table of stored evaluations (a tabular benchmark).

The driver, the search session and Optuna run exactly as in a real study; only the
evaluator is a :class:`~moo_compress.evaluation.table.TableEvaluator` and the storage is in
memory, so one replay of 40 trials takes well under a second instead of many minutes.
The hypervolume is normalized with the bounds a new study of ``cfg`` would store (derived
from the table's baseline and the constraints where the study file sets none).
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from moo_compress import record
from moo_compress.archive import ParetoArchive
from moo_compress.drivers import DRIVER_INFO
from moo_compress.errors import MooCompressError
from moo_compress.study import open_search

if TYPE_CHECKING:
    import optuna

    from moo_compress.evaluation.table import TableEvaluator
    from moo_compress.settings import StudyConfig

__all__ = ["STOPPED", "hypervolume_curve", "replay"]

#: Study attribute holding why a replayed driver stopped before its budget.
STOPPED = "replay_stopped"


def replay(
    cfg: StudyConfig,
    table: TableEvaluator,
    *,
    seed: int | None = None,
    n_trials: int | None = None,
    driver: str | None = None,
    driver_options: dict[str, int] | None = None,
) -> optuna.Study:
    """Run the study's driver against ``table`` with in-memory Optuna storage.

    Args:
        cfg: The study configuration (its space, objectives, constraints and driver).
        table: The stored evaluations.
        seed: The study seed (default None: ``cfg.seed``).
        n_trials: The budget of completed trials (default None: ``cfg.n_trials``).
        driver: Another driver to run (default None: ``cfg.driver``).
        driver_options: That driver's options (default None: its defaults, or
            ``cfg.driver_options`` when the driver is the study's).

    Returns:
        The in-memory study, with every trial as a real search records it. When the driver
        stops before the budget (a real search would exit 1: too many failures, an
        exhausted space), the study so far, with the reason in its :data:`STOPPED` user
        attribute.
    """
    import optuna

    name = driver or cfg.driver
    if driver_options is None:
        driver_options = (
            dict(cfg.driver_options)
            if name == cfg.driver
            else {k: v[0] for k, v in DRIVER_INFO[name].options.items()}
        )
    with tempfile.TemporaryDirectory(prefix="moo-compress-replay-") as tmp:
        run_cfg = dataclasses.replace(
            cfg,
            seed=cfg.seed if seed is None else seed,
            n_trials=cfg.n_trials if n_trials is None else n_trials,
            driver=name,
            driver_options=driver_options,
            cache_dir=Path(tmp),
            storage="sqlite:///:memory:",
        )
        with (
            open_search(run_cfg, evaluator=table, in_memory=True) as search,
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                search.drive(search.driver())
            except MooCompressError as exc:  # the driver gave up: the study so far, and why
                search.study.set_user_attr(STOPPED, str(exc))
                # as run_search: the archive after the last evaluation (a partial generation)
                search.session.record_hypervolume(generation=search.session.last_generation)
            study = search.study
    return study


def hypervolume_curve(
    study: optuna.Study, directions: list[str], bounds: list[tuple[float, float]]
) -> np.ndarray:
    """Normalized hypervolume of the feasible archive after each completed evaluation, in
    completion order (entry ``i``: after ``i + 1`` complete trials).

    Args:
        study: A study (e.g. from :func:`replay`).
        directions: The optimized objectives' directions.
        bounds: Their normalization bounds (the ones a replay's session uses:
            :func:`moo_compress.settings.bounds.study_bounds` with the table's baseline).
    """
    from optuna.trial import TrialState

    done = sorted(
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number
    )
    archive = ParetoArchive(directions, bounds)
    curve = []
    for t in done:
        if record.is_feasible(t):
            archive.add(t.values)
        curve.append(archive.hypervolume())
    return np.array(curve)

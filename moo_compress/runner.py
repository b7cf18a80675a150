"""Run a search: check the inputs, prepare the evaluation, create or resume the study, and
drive it serially, with local worker processes (Optuna samplers) or on a Dask cluster
(pymoo NSGA-II generations) until the budget is met.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moo_compress import storage as st
from moo_compress.drivers import DRIVER_INFO, drivers_that
from moo_compress.errors import ConfigError
from moo_compress.study import open_search
from moo_compress.workers import DaskPool, spawn_workers

if TYPE_CHECKING:
    from moo_compress.settings import StudyConfig

__all__ = ["run_search"]


def run_search(
    cfg: StudyConfig,
    *,
    show_progress: bool = True,
    log: Callable[[str], None] | None = None,
    n_workers: int = 1,
    dask_scheduler: str | None = None,
    study_file: str | None = None,
) -> dict[str, Any]:
    """Create or resume the study of ``cfg`` and run its driver until the budget is met.

    Args:
        cfg: The validated study configuration.
        show_progress: Draw a progress bar on stderr (default True).
        log: Callable for progress messages (default None: print to stderr).
        n_workers: Optuna samplers: local ``worker`` processes to start; pymoo: processes of
            a local Dask cluster evaluating each generation (default 1: none, the search
            runs in this process).
        dask_scheduler: pymoo: address of a running Dask scheduler to evaluate on (default
            None).
        study_file: The study file workers are started on (default None: ``cfg.source``).

    Returns:
        A summary: trials complete and failed, archive size, hypervolume, timings.

    Raises:
        ConfigError: ``n_workers`` or ``dask_scheduler`` do not apply to the driver, or a
            check before the search fails (nothing is written then).
    """
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    scale_out = DRIVER_INFO[cfg.driver].scale_out
    if (n_workers > 1 or dask_scheduler) and scale_out is None:
        raise ConfigError(
            "n_workers",
            "",
            f"applies to Optuna samplers (worker processes) and pymoo-nsga2 (Dask); the {cfg.driver} driver runs in one process. Got driver {cfg.driver!r}.",
        )
    if dask_scheduler and scale_out != "dask":
        raise ConfigError(
            "dask_scheduler",
            "",
            f"parallelises {', '.join(drivers_that('dask'))} generations; Optuna samplers scale out with `moo-compress worker` processes. Got driver {cfg.driver!r}.",
        )
    log = log or (lambda msg: print(msg, file=sys.stderr))
    spawn = scale_out == "workers" and n_workers > 1
    with open_search(cfg, lock=True, log=log, show_progress=show_progress and not spawn) as search:
        interrupted = search.mark_interrupted(log)
        setup_seconds = time.perf_counter() - search.started
        session = search.session
        if spawn:
            # the workers ask Optuna, which hands out queued trials first (a multi-fidelity
            # driver decides its rung evaluations from storage again instead)
            if not DRIVER_INFO[cfg.driver].fidelity:
                session.queue(session.rerun_interrupted(interrupted))
            spawn_workers(
                cfg,
                study_file or cfg.source,
                n_workers,
                storage=cfg.storage,
                show_progress=show_progress,
                log=log,
            )
            session.refresh()
        else:
            pool = None
            if scale_out == "dask" and (n_workers > 1 or dask_scheduler):
                pool = DaskPool(cfg, scheduler=dask_scheduler, n_workers=n_workers)
            try:
                search.drive(search.driver(pool))
            finally:
                if pool is not None:
                    pool.close()
        return {
            "study": cfg.name,
            "storage": st.redact(search.url),
            "complete": session.n_complete,
            "failed": session.n_failed,
            "archive_size": session.archive.size,
            "hypervolume": session.archive.hypervolume(),
            "wall_seconds": time.perf_counter() - search.started,
            "setup_seconds": setup_seconds,
            "eval_seconds": session.eval_seconds,
        }

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
from moo_compress.search import SearchSession, check_before_search

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

    from moo_compress.errors import ConfigError

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    scale_out = DRIVER_INFO[cfg.driver].scale_out
    if (n_workers > 1 or dask_scheduler) and scale_out is None:
        raise ConfigError(
            "--n-workers",
            "",
            f"applies to Optuna samplers (worker processes) and pymoo-nsga2 (Dask); the {cfg.driver} driver runs in one process. Got driver {cfg.driver!r}.",
        )
    if dask_scheduler and scale_out != "dask":
        raise ConfigError(
            "--dask-scheduler",
            "",
            f"parallelises {', '.join(drivers_that('dask'))} generations; Optuna samplers scale out with `moo-compress worker` processes. Got driver {cfg.driver!r}.",
        )
    log = log or (lambda msg: print(msg, file=sys.stderr))
    t_start = time.perf_counter()
    url = st.storage_url(cfg)
    # Storage, space and an existing study first (reading only): bad input writes nothing.
    check_before_search(cfg, url)
    with st.search_lock(url) as lock:
        return _search(
            cfg,
            url,
            sole=lock is not None,
            log=log,
            t_start=t_start,
            show_progress=show_progress,
            n_workers=n_workers,
            dask_scheduler=dask_scheduler,
            study_file=study_file,
        )


def _search(
    cfg, url, *, sole, log, t_start, show_progress, n_workers, dask_scheduler, study_file
) -> dict[str, Any]:
    from moo_compress.drivers import DRIVERS
    from moo_compress.evaluation import make_evaluator

    # Data, baseline and reference next: a missing or malformed dataset creates no study.
    evaluator = make_evaluator(cfg.evaluation(), cfg.cache_dir, log=log)
    evaluator.prepare(cfg.space.archs(cfg.arch))
    from moo_compress.settings.bounds import study_bounds

    bounds = study_bounds(
        cfg, getattr(evaluator, "baseline_values", None)
    )  # stored once, with a new study
    study = st.create_or_load(cfg, url, heartbeat=cfg.workers.heartbeat(), bounds=bounds)
    # this search holds the SQLite study's lock: trials of a search left RUNNING are dead;
    # on a database server a trial is dead only when its heartbeat stopped
    interrupted = st.mark_interrupted(
        study,
        sole=sole,
        grace_seconds=cfg.workers.grace_seconds,
        wait_seconds=0 if sole else cfg.workers.grace_seconds + cfg.workers.heartbeat_seconds,
        log=log,
    )
    if interrupted:
        log(f"resuming: {len(interrupted)} interrupted trial(s) marked failed and queued again")
    setup_seconds = time.perf_counter() - t_start
    if DRIVER_INFO[cfg.driver].scale_out == "workers" and n_workers > 1:
        from moo_compress.workers import spawn_workers

        session = SearchSession(cfg, study, evaluator, show_progress=False)
        # the workers ask Optuna, which hands out queued trials first (a multi-fidelity
        # driver decides its rung evaluations from storage again instead)
        if not DRIVER_INFO[cfg.driver].fidelity:
            for config in session.rerun_interrupted(interrupted):
                study.enqueue_trial(cfg.space.searched_params(config), skip_if_exists=False)
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
        if DRIVER_INFO[cfg.driver].scale_out == "dask" and (n_workers > 1 or dask_scheduler):
            from moo_compress.workers import DaskPool

            pool = DaskPool(cfg, scheduler=dask_scheduler, n_workers=n_workers)
        driver = DRIVERS.get(cfg.driver)(cfg, pool) if pool else DRIVERS.get(cfg.driver)(cfg)
        session = SearchSession(cfg, study, evaluator, show_progress=show_progress)
        session.start_progress()
        try:
            driver.run(session, interrupted=session.rerun_interrupted(interrupted))
            # the archive after the last evaluation (a partial last generation included)
            session.record_hypervolume(generation=session.last_generation)
        except KeyboardInterrupt:
            if sole:
                session.interrupt_running()
            raise
        finally:
            session.close()
            if pool is not None:
                pool.close()
    return {
        "study": cfg.name,
        "storage": st.redact(url),
        "complete": session.n_complete,
        "failed": session.n_failed,
        "archive_size": session.archive.size,
        "hypervolume": session.archive.hypervolume(),
        "wall_seconds": time.perf_counter() - t_start,
        "setup_seconds": setup_seconds,
        "eval_seconds": session.eval_seconds,
    }

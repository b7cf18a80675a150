"""Open a search: the one place that puts a search together.

``search`` (serial, with local workers or on Dask), ``worker`` and the tabular ``replay``
all run a study the same way: check what can be checked while reading only, prepare the
evaluation (data, baseline, reference: a missing dataset creates no study), create or load
the study with its hypervolume bounds, open the session, and run the driver.
:func:`open_search` does the first four; :meth:`OpenSearch.drive` the last.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moo_compress import storage as st
from moo_compress.drivers import DRIVERS
from moo_compress.search import SearchSession, check_before_search
from moo_compress.settings.bounds import study_bounds

if TYPE_CHECKING:
    from moo_compress.evaluation import BaseEvaluator, ModelEvaluator
    from moo_compress.settings import StudyConfig

__all__ = ["SQLITE_WARNING", "OpenSearch", "open_search", "prepare_evaluator"]

SQLITE_WARNING = (
    "warning: several processes on one SQLite file contend for its lock and can fail with "
    "'database is locked'; for several workers use PostgreSQL (--storage postgresql://...)"
)


def prepare_evaluator(cfg: StudyConfig, log: Callable[[str], None] | None = None) -> ModelEvaluator:
    """The study's evaluator, prepared for every architecture its space searches (data
    split, baseline trained or read from the cache, reference measured).

    Args:
        cfg: The validated study configuration.
        log: Callable for progress messages (default None: silent).
    """
    # torch: replays on the benchmark table never build a model
    from moo_compress.evaluation import make_evaluator

    evaluator = make_evaluator(cfg.evaluation(), cfg.cache_dir, log=log)
    evaluator.prepare(cfg.space.archs(cfg.arch))
    return evaluator


@dataclass
class OpenSearch:
    """A study opened for searching.

    Args:
        cfg: The validated study configuration.
        url: Its storage URL.
        session: The search session over the study.
        sole: This process holds the study's lock (no other search runs it).
        started: ``time.perf_counter()`` when the search started.
        interrupted: Configurations of trials an earlier run left unfinished (marked failed
            as interrupted by :meth:`mark_interrupted`).
    """

    cfg: StudyConfig
    url: str
    session: SearchSession
    sole: bool
    started: float
    interrupted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def study(self):
        """The Optuna study."""
        return self.session.study

    def mark_interrupted(self, log: Callable[[str], None]) -> list[dict[str, Any]]:
        """Fail the trials a stopped run left RUNNING as interrupted (with the lock held,
        they are dead; on a database server only once their heartbeat stopped) and keep
        their configurations for the driver to run again.

        Args:
            log: Callable for messages.
        """
        workers = self.cfg.workers
        self.interrupted = st.mark_interrupted(
            self.study,
            sole=self.sole,
            grace_seconds=workers.grace_seconds,
            wait_seconds=0 if self.sole else workers.grace_seconds + workers.heartbeat_seconds,
            log=log,
        )
        if self.interrupted:
            self.session.refresh()
            log(
                f"resuming: {len(self.interrupted)} interrupted trial(s) marked failed and "
                "queued again"
            )
        return self.interrupted

    def driver(self, pool=None):
        """A new instance of the study's driver (with a Dask ``pool``, when given)."""
        cls = DRIVERS.get(self.cfg.driver)
        return cls(self.cfg, pool) if pool is not None else cls(self.cfg)

    def drive(self, driver=None, *, final_hypervolume: bool = True, **run_args) -> Any:
        """Run ``driver`` (default None: :meth:`driver`) on the session, with the
        interrupted configurations first, until the budget is spent; then store the
        archive's hypervolume after the last evaluation (a partial last generation
        included). Stopped by Ctrl-C or SIGTERM, the trials this search runs are failed as
        interrupted (with the lock held).

        Args:
            driver: The driver.
            final_hypervolume: Store the last hypervolume entry (default True).
            **run_args: More arguments of the driver's ``run`` (``worker``, ``log``).

        Returns:
            What the driver's ``run`` returns.
        """
        driver = driver if driver is not None else self.driver()
        session = self.session
        session.start_progress()
        try:
            out = driver.run(
                session, interrupted=session.rerun_interrupted(self.interrupted), **run_args
            )
            if final_hypervolume:
                session.record_hypervolume(generation=session.last_generation)
            return out
        except KeyboardInterrupt:
            if self.sole:
                session.interrupt_running()
            raise
        finally:
            session.close()


@contextlib.contextmanager
def open_search(
    cfg: StudyConfig,
    *,
    evaluator: BaseEvaluator | None = None,
    in_memory: bool = False,
    lock: bool = False,
    log: Callable[[str], None] | None = None,
    show_progress: bool = False,
    worker: bool = False,
) -> Iterator[OpenSearch]:
    """Check, prepare, create or load the study of ``cfg`` and open its session.

    Everything that can be checked while reading only is checked first: a bad storage,
    space or changed study writes nothing. Then the evaluator is prepared (a missing or
    malformed dataset creates no study), and the study is created (its hypervolume bounds
    stored once) or loaded.

    Args:
        cfg: The validated study configuration.
        evaluator: A prepared evaluator (default None: :func:`prepare_evaluator`).
        in_memory: The study lives in memory only (a replay; no check, no lock).
        lock: Hold the SQLite study file's lock while the search is open (``search``:
            a second search of the same file is refused).
        log: Callable for progress messages (default None: print to stderr).
        show_progress: The session draws a progress bar on stderr (default False).
        worker: For a ``worker`` process (default False): after the checks, warn that
            several processes on one SQLite file contend for its lock; retry creating or
            loading the study when the database connection is lost.

    Raises:
        ConfigError: A check before the search fails (nothing is written then).
    """
    import optuna

    log = log or (lambda msg: print(msg, file=sys.stderr))
    started = time.perf_counter()
    if in_memory:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            study_name=cfg.name,
            storage=optuna.storages.InMemoryStorage(),
            directions=cfg.directions,
        )
        session = SearchSession(cfg, study, evaluator, show_progress=show_progress)
        yield OpenSearch(cfg, "memory", session, sole=True, started=started)
        return
    url = st.storage_url(cfg)
    # Storage, space and an existing study first (reading only): bad input writes nothing.
    check_before_search(cfg, url)
    if worker and st.is_sqlite(url):
        log(SQLITE_WARNING)
    with st.search_lock(url) if lock else contextlib.nullcontext() as held:
        if evaluator is None:
            evaluator = prepare_evaluator(cfg, log)
        # stored once, with a new study
        bounds = study_bounds(cfg, getattr(evaluator, "baseline_values", None))

        def create_or_load():
            return st.create_or_load(cfg, url, heartbeat=cfg.workers.heartbeat(), bounds=bounds)

        study = st.with_retries(create_or_load, url) if worker else create_or_load()
        parameters = getattr(evaluator, "corruption_parameters", None)
        if parameters is not None and cfg.corruptions:
            st.record_corruption_parameters(cfg, study, parameters)
        session = SearchSession(cfg, study, evaluator, show_progress=show_progress)
        yield OpenSearch(cfg, url, session, sole=held is not None, started=started)

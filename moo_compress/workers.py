"""Several workers on one study.

- Optuna samplers: any number of ``moo-compress worker`` processes (on any machines) share
  one study through its storage (PostgreSQL for real use). Each asks Optuna for a trial,
  claims it, evaluates it and tells the result. ``search --n-workers K`` starts K of them
  locally and shows their common progress.
- pymoo NSGA-II: one driver proposes each generation and evaluates its new configurations
  in parallel on a Dask cluster (``--dask-scheduler`` or a local cluster of K processes);
  the driver writes every result to the study's storage.

Claims are decided by the database, so racing workers agree without locks: each trial
inserts a uniquely keyed claim of its configuration and of one of the ``n_trials`` budget
slots (:func:`moo_compress.storage.claim`), and exactly one of racing trials gets each. A
proposal is skipped when its configuration is claimed (running, complete, or failed in its
evaluation), or when running and complete trials hold every budget slot. Running trials record a
heartbeat; a worker killed mid-trial stops beating, the next worker to look marks its trial
failed, and Optuna's ``RetryHeartbeatStaleTrialCallback`` queues it again. Storage calls that lose
the database connection are retried, then reported with the password hidden.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moo_compress import record
from moo_compress import storage as st
from moo_compress.drivers import DRIVER_INFO, drivers_that
from moo_compress.errors import ConfigError, MooCompressError
from moo_compress.settings.reader import describe
from moo_compress.study import SQLITE_WARNING, open_search

if TYPE_CHECKING:
    from moo_compress.evaluation import TrialResult
    from moo_compress.settings import StudyConfig

__all__ = [
    "MAX_THREADS",
    "POLL_SECONDS",
    "SQLITE_WARNING",
    "STORAGE_VARIABLE",
    "THREADS_VARIABLE",
    "DaskPool",
    "env_threads",
    "evaluate_remote",
    "run_worker",
    "spawn_workers",
]

POLL_SECONDS = 0.5
STORAGE_VARIABLE = "MOO_COMPRESS_STORAGE"
"""Environment variable that hands spawned workers the ``--storage`` URL: a command line is
visible to every user in ``ps``, the environment only to the same user."""
THREADS_VARIABLE = "MOO_COMPRESS_THREADS"
MAX_THREADS = 1024


def env_threads() -> int | None:
    """Torch threads per evaluation from ``MOO_COMPRESS_THREADS`` (None when unset or empty).

    Raises:
        ConfigError: The value is not an int in [1, MAX_THREADS].
    """
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_THREADS:
        raise ConfigError(
            THREADS_VARIABLE,
            "",
            f"must be an int in [1, {MAX_THREADS}] (torch threads per evaluation) or unset. "
            f"Got {describe(os.environ[THREADS_VARIABLE])} instead.",
        )
    return int(text)


def run_worker(
    cfg: StudyConfig, *, worker: str | None = None, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Join the study of ``cfg`` (creating it if needed) and evaluate trials until the
    study holds ``n_trials`` completed trials. Optuna-sampler drivers only.

    Args:
        cfg: The validated study configuration.
        worker: This worker's id, recorded with the trials it claims (default None:
            ``<host>-<pid>``).
        log: Callable for progress messages (default None: print to stderr).

    Returns:
        A summary: trials evaluated here, complete and failed in the study, timings.

    Raises:
        ConfigError: The driver is not an Optuna sampler, or a check before the search
            fails (nothing is written then).
    """

    if DRIVER_INFO[cfg.driver].scale_out != "workers":
        raise ConfigError(
            cfg.source,
            "driver.name",
            f"`worker` runs Optuna samplers ({', '.join(drivers_that('workers'))}); {', '.join(drivers_that('dask'))} parallelises generations with `search --n-workers` or `--dask-scheduler`. Got {cfg.driver!r} instead.",
        )
    log = log or (lambda msg: print(msg, file=sys.stderr))
    worker = worker or f"{os.uname().nodename}-{os.getpid()}"
    with open_search(cfg, log=log, worker=True) as search:
        t_loop = time.perf_counter()
        ran = search.drive(final_hypervolume=False, worker=worker, log=log)
        return _summary(
            worker, search.session, ran["evaluated"], search.started, t_loop, ran["wait_seconds"]
        )


def _summary(worker: str, session, evaluated: int, t0: float, t_loop: float, wait: float) -> dict:
    """What a worker did, for ``worker --json`` and the benchmarks (after its loop ended)."""
    loop_seconds = time.perf_counter() - t_loop
    session.refresh()
    return {
        "worker": worker,
        "evaluated": evaluated,
        "complete": session.n_complete,
        "failed": session.n_failed,
        "wall_seconds": time.perf_counter() - t0,
        "setup_seconds": t_loop - t0,
        "loop_seconds": loop_seconds,
        "eval_seconds": session.eval_seconds,
        "wait_seconds": wait,
        # storage calls, claims and proposals: everything in the loop but evaluation and
        # waiting for other workers' trials
        "database_seconds": max(0.0, loop_seconds - session.eval_seconds - wait),
    }


def spawn_workers(
    cfg: StudyConfig,
    study_file: str,
    k: int,
    *,
    storage: str | None,
    show_progress: bool,
    log: Callable[[str], None],
) -> None:
    """Start ``k`` local ``worker`` processes on the study and wait for them, showing the
    study's progress. Each gets an equal share of the CPU threads.

    Args:
        cfg: The validated study configuration (the study must exist).
        study_file: The study file the workers read.
        k: Number of workers.
        storage: The ``--storage`` URL, handed over in the environment (None: the study
            file's, or the default SQLite file).
        show_progress: Draw a progress bar on stderr.
        log: Callable for messages.

    Raises:
        MooCompressError: A worker exited with an error (the first one's last line is
            shown, passwords hidden).
    """
    from optuna.trial import TrialState

    url = st.storage_url(cfg)
    if st.is_sqlite(url):
        log(SQLITE_WARNING)
    threads = max(1, (os.cpu_count() or 1) // k)
    env = {**os.environ, THREADS_VARIABLE: str(threads)}
    # the URL may hold a password: hand it over in the environment, not on the command line
    env.pop(STORAGE_VARIABLE, None)
    if storage:
        env[STORAGE_VARIABLE] = storage
    args = [sys.executable, "-m", "moo_compress", "worker", study_file, "--quiet"]
    args += ["--n-trials", str(cfg.n_trials)]
    procs = [
        subprocess.Popen(
            [*args, "--worker-id", f"local-{i}"], env=env, stderr=subprocess.PIPE, text=True
        )
        for i in range(k)
    ]
    study = st.load_existing(cfg, url)
    bar = None
    if show_progress:
        from tqdm import tqdm

        if cfg.seconds_only:  # evaluation seconds used out of budget.seconds
            bar = tqdm(
                total=float(cfg.budget_seconds),
                desc=f"{cfg.name} x{k}",
                unit="s",
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s "
                "evaluated [{elapsed}{postfix}]",
                file=sys.stderr,
            )
        else:
            bar = tqdm(total=cfg.n_trials, desc=f"{cfg.name} x{k}", unit="trial", file=sys.stderr)
    try:
        while any(p.poll() is None for p in procs):
            if bar is not None:
                trials = study.get_trials(deepcopy=False)
                done = sum(t.state == TrialState.COMPLETE for t in trials)
                if cfg.seconds_only:
                    spent = sum(record.evaluation_seconds(t) for t in trials)
                    bar.n = min(spent, bar.total)
                    left = max(0.0, cfg.budget_seconds - spent)
                    bar.set_postfix_str(f"complete={done} left={left:.0f}s", refresh=False)
                else:
                    bar.n = min(done, cfg.n_trials)
                bar.refresh()
            time.sleep(1.0)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    finally:
        if bar is not None:
            bar.close()
    errors = [(p.returncode, p.stderr.read().strip()) for p in procs]
    bad = [e for e in errors if e[0] != 0]
    if bad:
        last = bad[0][1].splitlines()[-1] if bad[0][1] else f"exit code {bad[0][0]}"
        raise MooCompressError(f"{len(bad)} of {k} workers failed; first: {st.redact(last)}")


# -- Dask: parallel generations for pymoo ------------------------------------------------
_EVALUATORS: dict[str, Any] = {}


def evaluate_remote(
    spec: dict[str, Any], cache_dir: str, config: dict, key: str, threads: int
) -> TrialResult:
    """Run on a Dask worker: evaluate one configuration with a per-process cached Evaluator.

    Args:
        spec: ``StudyConfig.evaluation_spec()``.
        cache_dir: The study's cache folder.
        config: A full pipeline configuration.
        key: Its key.
        threads: PyTorch threads for the evaluation.
    """
    import json
    from pathlib import Path

    import torch

    # torch: the process submitting to Dask never evaluates
    from moo_compress.evaluation import make_evaluator

    torch.set_num_threads(max(1, threads))
    ident = hashlib.sha256(json.dumps([spec, cache_dir], sort_keys=True).encode()).hexdigest()
    if ident not in _EVALUATORS:
        _EVALUATORS[ident] = make_evaluator(spec, Path(cache_dir))
    return _EVALUATORS[ident].evaluate(config, key)


class DaskPool:
    """Evaluate configurations on a Dask cluster: an existing scheduler or a local one.

    Args:
        cfg: The validated study configuration.
        scheduler: Address of a running Dask scheduler (default None: start a local cluster).
        n_workers: Processes of the local cluster (default 1); each evaluation gets an
            equal share of the CPU threads (or ``MOO_COMPRESS_THREADS``).
    """

    def __init__(
        self, cfg: StudyConfig, *, scheduler: str | None = None, n_workers: int = 1
    ) -> None:
        from distributed import Client, LocalCluster

        self.cfg = cfg
        self._cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout="30s")
            self.threads = 1
        else:
            self._cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            self.client = Client(self._cluster)
            self.threads = env_threads() or max(1, (os.cpu_count() or 1) // n_workers)

    def submit(self, config: dict, key: str) -> Callable[[], TrialResult]:
        """Start evaluating ``config`` on the cluster.

        Args:
            config: A full pipeline configuration.
            key: Its key (names the Dask task).

        Returns:
            A callable that waits for the ``TrialResult`` (or raises the evaluation's error):
            the ``compute`` of :meth:`moo_compress.search.SearchSession.evaluate_config`.
        """
        future = self.client.submit(
            evaluate_remote,
            self.cfg.evaluation_spec(),
            str(self.cfg.cache_dir),
            config,
            key,
            self.threads,
            key=f"moo-compress-{key}",
            pure=False,
        )
        return future.result

    def close(self) -> None:
        """Close the client and the local cluster, if one was started."""
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

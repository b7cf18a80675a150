"""A search session: the seam between drivers (which propose) and evaluation + storage.

Drivers only call :meth:`SearchSession.evaluate_trial` (for an Optuna trial they asked for)
or :meth:`SearchSession.evaluate_config` (for a configuration they chose themselves), and
:meth:`SearchSession.lookup` to reuse a configuration's stored outcome.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress import record
from moo_compress import storage as st
from moo_compress._utils.hashing import derived_seed
from moo_compress._utils.io import atomic_write
from moo_compress.archive import ParetoArchive
from moo_compress.drivers import DRIVER_INFO
from moo_compress.drivers.base import claim_evaluation, trailing_duplicates
from moo_compress.errors import ConfigError, MooCompressError
from moo_compress.heartbeat import fail_abandoned_trials, heartbeat
from moo_compress.settings.bounds import study_bounds

if TYPE_CHECKING:
    from pathlib import Path

    import optuna

    from moo_compress.evaluation import BaseEvaluator, TrialResult
    from moo_compress.settings import StudyConfig

__all__ = ["Outcome", "SearchSession", "check_before_search"]


@dataclass
class Outcome:
    """Stored result of one configuration: objective values, or the failure reason.

    Args:
        complete: Whether the evaluation succeeded.
        values: Every measured objective value by name (None when it failed).
        reason: Why it failed (None when it succeeded).
        trial_number: The Optuna trial that holds it.
        constraints: Each of the study's constraints' value (<= 0: met), in the study's
            order (empty without constraints, or when the evaluation failed).
    """

    complete: bool
    values: dict[str, float] | None
    reason: str | None
    trial_number: int
    constraints: list[float] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        """Complete and meeting every constraint: a candidate for the archive."""
        return self.complete and all(v <= 0.0 for v in self.constraints)


def _session_bounds(cfg: StudyConfig, study: optuna.Study, evaluator: BaseEvaluator) -> list:
    """The hypervolume bounds stored with the study when it was created; for a study made
    outside :func:`moo_compress.storage.create_or_load` (a replay's in-memory study),
    derived now as a new study's would be (:func:`moo_compress.settings.bounds.study_bounds`)."""

    meta = st.study_meta(study.user_attrs)
    if isinstance(meta, dict) and "bounds" in meta:
        return st.hypervolume_bounds(meta)
    return study_bounds(cfg, getattr(evaluator, "baseline_values", None))


class SearchSession:
    """State of one ``moo-compress search`` run over a study.

    Args:
        cfg: The validated study configuration.
        study: The Optuna study (created or loaded).
        evaluator: A prepared :class:`~moo_compress.evaluation.base.BaseEvaluator`.
        show_progress: Draw a progress bar on stderr (default True; see
            :meth:`start_progress`).
    """

    def __init__(
        self,
        cfg: StudyConfig,
        study: optuna.Study,
        evaluator: BaseEvaluator,
        *,
        show_progress: bool = True,
    ) -> None:
        self.cfg = cfg
        self.study = study
        self.evaluator = evaluator
        self.space = cfg.space
        self.objectives = cfg.objective_names
        self.directions = cfg.directions
        self.bounds = _session_bounds(cfg, study, evaluator)
        self.constraints = tuple(cfg.constraints)
        self.artifact_dir = cfg.cache_dir / "artifacts"
        self.url = st.storage_url(cfg)
        self.outcomes: dict[str, Outcome] = {}
        self.n_complete = self.n_failed = self.proposals = 0
        self.last_failure = ""
        self.last_generation: int | None = None
        self.eval_seconds = 0.0
        self.spent_seconds = 0.0
        self._hv_keys: set[str] = set()
        self._pbar = None
        self._show_progress = show_progress
        self.refresh()

    def refresh(self) -> None:
        """Read counts, outcomes and the archive from storage (other workers write there too)."""
        from optuna.trial import TrialState

        study = self.study
        self.outcomes = {}
        self.n_complete = self.n_failed = self.proposals = 0
        self.spent_seconds = 0.0
        self.archive = ParetoArchive(self.directions, self.bounds)
        self._seen: set[int] = set()  # finished trials counted (seconds, archive)
        states = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
        for t in study.get_trials(deepcopy=False, states=states):
            self._seen.add(t.number)
            if t.state == TrialState.PRUNED:  # a lower rung of a multi-fidelity search
                self.proposals += 1
                self.spent_seconds += record.evaluation_seconds(t)
                continue
            key = record.config_key(t)
            reason = record.fail_reason(t)
            if t.state == TrialState.FAIL and reason == st.INTERRUPTED:
                continue
            self.proposals += 1
            self.spent_seconds += record.evaluation_seconds(t)
            if t.state == TrialState.COMPLETE:
                self.n_complete += 1
                if record.is_feasible(t):
                    self.archive.add(t.values)
                if key:
                    self.outcomes[key] = Outcome(
                        True,
                        record.objectives(t),
                        None,
                        t.number,
                        list(record.constraints(t).values()),
                    )
            elif reason and not reason.startswith((record.DUPLICATE, st.SKIPPED)):
                self.n_failed += 1
                if key and key not in self.outcomes:
                    self.outcomes[key] = Outcome(False, None, reason, t.number)
        # History entries already stored, read once here: checking the study's attributes
        # after every trial would re-read them all from the database.
        self._hv_keys = {k for k in study.user_attrs if k.startswith(st.HV_PREFIX)}

    # -- budget and progress ------------------------------------------------------------
    def budget_left(self) -> int:
        """Completed trials still needed to reach ``budget.n_trials`` (never negative); 0
        once the study's evaluations have used ``budget.seconds``."""
        if self.cfg.budget_seconds is not None and self.spent_seconds >= self.cfg.budget_seconds:
            return 0
        return max(0, self.cfg.n_trials - self.n_complete)

    def proposal_seed(self) -> int:
        """Seed for the next proposal: depends only on the study seed and how many
        proposals were finished before it, so a resumed search proposes what an
        uninterrupted one would have."""
        return derived_seed(self.cfg.seed, self.proposals)

    def start_progress(self) -> None:
        """Open the progress bar (once; nothing when ``show_progress`` is off): completed
        trials out of ``budget.n_trials`` or, for a budget in seconds only, evaluation
        seconds used out of ``budget.seconds`` (with the seconds left)."""
        if self._show_progress and self._pbar is None:
            from tqdm import tqdm

            if self.cfg.seconds_only:
                total = float(self.cfg.budget_seconds)
                self._pbar = tqdm(
                    total=total,
                    initial=min(self.spent_seconds, total),
                    desc=self.cfg.name,
                    unit="s",
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s "
                    "evaluated [{elapsed}{postfix}]",
                    file=sys.stderr,
                    dynamic_ncols=True,
                )
            else:
                self._pbar = tqdm(
                    total=self.cfg.n_trials,
                    initial=min(self.n_complete, self.cfg.n_trials),
                    desc=self.cfg.name,
                    unit="trial",
                    file=sys.stderr,
                    dynamic_ncols=True,
                )
            self._refresh_postfix()

    def close(self) -> None:
        """Close the progress bar, if open."""
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None

    def progress_text(self) -> str:
        """What the progress bar shows after its count: archive size, hypervolume, failed
        trials, and the evaluation seconds left of ``budget.seconds`` (with the completed
        trials when the bar counts seconds)."""
        text = (
            f"archive={self.archive.size} hv={self.archive.hypervolume():.4f} "
            f"failed={self.n_failed}"
        )
        if self.cfg.budget_seconds is not None:
            left = max(0.0, self.cfg.budget_seconds - self.spent_seconds)
            text += f" left={left:.0f}s"
            if self.cfg.seconds_only:
                text = f"complete={self.n_complete} " + text
        return text

    def _refresh_postfix(self) -> None:
        """The running front over every trial evaluated so far (not only at the end of a
        pymoo generation): the incremental archive makes this cheap. A bar in seconds
        follows the seconds used."""
        if self._pbar is not None:
            if self.cfg.seconds_only:
                self._pbar.n = min(self.spent_seconds, self._pbar.total)
            self._pbar.set_postfix_str(self.progress_text(), refresh=True)

    # -- archive --------------------------------------------------------------------------
    def catch_up(self, finished: list[optuna.trial.FrozenTrial]) -> None:
        """Take in the study's finished trials as a worker read them from storage: those
        not seen yet (other workers' trials) add their evaluation seconds and, when complete
        and feasible, their values to the archive, each once.

        Args:
            finished: Every complete and failed trial of the study.
        """
        n_complete = 0
        for t in finished:
            complete = t.state.name == "COMPLETE"
            n_complete += complete
            if t.number in self._seen:
                continue
            self._seen.add(t.number)
            self.spent_seconds += record.evaluation_seconds(t)
            if complete and record.is_feasible(t):
                self.archive.add(t.values)
        self.n_complete = n_complete

    def record_hypervolume(self, generation: int | None = None) -> float:
        """Store the normalized hypervolume of the current archive in the study.

        The entry is keyed by the number of completed trials; one already stored is kept.

        Args:
            generation: The pymoo generation just finished (default None).

        Returns:
            The normalized hypervolume.
        """
        hv = self.archive.hypervolume()
        key = f"{st.HV_PREFIX}{self.n_complete:06d}"
        entry = {
            "n_complete": self.n_complete,
            "hv": hv,
            "archive_size": self.archive.size,
            "generation": generation,
            "time": time.time(),
        }
        if key not in self._hv_keys:
            self.study.set_user_attr(key, entry)
            self._hv_keys.add(key)
        self._refresh_postfix()
        return hv

    def fill_hypervolume_history(self) -> None:
        """Recompute history entries lost when a process stopped between a trial and its
        hypervolume update (completion order is in storage)."""
        from optuna.trial import TrialState

        done = sorted(
            (t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))),
            key=lambda t: (t.datetime_complete, t.number),
        )
        archive = ParetoArchive(self.directions, self.bounds)
        for n, t in enumerate(done, start=1):
            if record.is_feasible(t):
                archive.add(t.values)
            key = f"{st.HV_PREFIX}{n:06d}"
            if key in self._hv_keys:
                continue
            self.study.set_user_attr(
                key,
                {
                    "n_complete": n,
                    "hv": archive.hypervolume(),
                    "archive_size": archive.size,
                    "generation": record.generation(t),
                    "time": t.datetime_complete.timestamp() if t.datetime_complete else None,
                },
            )
            self._hv_keys.add(key)

    # -- what drivers use besides evaluation (moo_compress.drivers.base.Session) ----------
    def propose(self, sampler) -> tuple[optuna.Trial, dict[str, Any]]:
        """Ask the study for a new trial proposed by ``sampler`` and suggest its parameters
        (in one transaction).

        Args:
            sampler: The Optuna sampler (seeded by the driver).

        Returns:
            The running trial and its full configuration.
        """
        import warnings

        self.study.sampler = sampler
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = st.with_retries(self.study.ask, self.url)
            config = st.suggest_in_one_transaction(trial, self.space.suggest)
        return trial, config

    def fail(self, trial: optuna.Trial, reason: str) -> None:
        """Fail a proposal that is not evaluated (a duplicate, over budget, skipped): it
        counts as a proposal.

        Args:
            trial: The running trial.
            reason: Why (starts with :data:`moo_compress.record.DUPLICATE` or
                :data:`moo_compress.storage.SKIPPED`).
        """
        from optuna.trial import TrialState

        record.write_fail_reason(trial, reason)
        self._tell(trial, state=TrialState.FAIL)
        self.proposals += 1

    def skip(self, reason: str) -> None:
        """Take the next queued trial off the queue (a dead worker's configuration queued
        again by Optuna, when the driver decides anew or the budget is met), failed as
        :data:`moo_compress.storage.SKIPPED`.

        Args:
            reason: Why, after the ``skipped:`` prefix.
        """

        trial = st.with_retries(self.study.ask, self.url)
        with heartbeat(self.study, trial):
            self.fail(trial, f"{st.SKIPPED}: {reason}")

    def stamp(
        self,
        trial: optuna.Trial,
        config: dict[str, Any],
        key: str,
        *,
        worker: str | None = None,
        more: Callable[[Any], None] | None = None,
    ) -> None:
        """Write a proposal's configuration in one transaction, before it is claimed.

        Args:
            trial: The running trial.
            config: Its full configuration.
            key: Its key.
            worker: The ``worker`` process that claims it (default None: the search's own).
            more: Writes more of the record into the same batch (default None).
        """
        batch = st.AttrBatch(self.study, trial)
        if worker is not None:
            record.write_worker(batch, worker)
        if more is not None:
            more(batch)
        record.write_config(batch, config, key)
        if worker is not None:
            st.claim_delay()  # test-only (MOO_COMPRESS_TEST_CLAIM_DELAY): widens races
        st.with_retries(batch.flush, self.url)

    def claim(
        self,
        trial: optuna.Trial,
        name: str,
        *,
        taken: Callable[[], int | None] | None = None,
        n_trials: int | None = None,
        complete: Callable[[], list] | None = None,
        what: str,
    ) -> str | None:
        """Why ``trial`` must not run (a duplicate, over budget), or None: its claim won
        (:func:`moo_compress.drivers.base.claim_evaluation`, with the arguments it takes)."""
        from functools import partial

        return st.with_retries(
            partial(
                claim_evaluation,
                self.study,
                trial,
                name,
                taken=taken,
                n_trials=n_trials,
                complete=complete,
                what=what,
            ),
            self.url,
        )

    def running(self, trial: optuna.Trial):
        """Context manager: the trial's heartbeat while it runs (when the storage has
        heartbeats on)."""

        return heartbeat(self.study, trial)

    def failed_elsewhere(self, trial: optuna.Trial) -> bool:
        """Another worker failed this trial: its heartbeat was overdue (an overloaded
        machine), and its configuration was queued again."""
        from optuna.trial import TrialState

        return st.stored_state(self.study, trial) == TrialState.FAIL

    def trials(self, states=None) -> list[optuna.trial.FrozenTrial]:
        """The study's trials (in ``states``; default None: all), read now from storage.

        Args:
            states: Trial states to read (default None: every state).
        """
        return st.with_retries(
            lambda: self.study.get_trials(deepcopy=False, states=states), self.url
        )

    def queue(self, configs: list[dict[str, Any]]) -> None:
        """Queue configurations to be proposed first (interrupted trials' configurations),
        each unless a queued trial already holds it.

        Args:
            configs: Full configurations.
        """
        from optuna.trial import TrialState

        waiting = {
            self.space.config_key(self.space.full_config(st.queued_params(t)))
            for t in self.trials((TrialState.WAITING,))
        }
        for config in configs:
            if self.space.config_key(config) not in waiting:
                self.study.enqueue_trial(self.space.searched_params(config), skip_if_exists=False)

    def sync(self, grace_seconds: float, *, refresh: bool = False) -> None:
        """For a ``worker`` process: fail the trials of workers that died (their heartbeat
        is overdue, or they never beat within ``grace_seconds``), which queues them again.

        Args:
            grace_seconds: How long a RUNNING trial may go without a first heartbeat.
            refresh: Then read counts, outcomes and the archive again (:meth:`refresh`).
        """
        import optuna

        st.with_retries(lambda: optuna.storages.fail_stale_trials(self.study), self.url)
        st.with_retries(lambda: fail_abandoned_trials(self.study, grace_seconds), self.url)
        if refresh:
            st.with_retries(self.refresh, self.url)

    def duplicates_in_a_row(self, passed_over: Callable[[Any], bool] | None = None) -> int:
        """Duplicate proposals in a row the study ends with
        (:func:`moo_compress.drivers.base.trailing_duplicates`).

        Args:
            passed_over: Trials that neither count nor end the run (default None: none).
        """

        return trailing_duplicates(self.trials(), passed_over=passed_over)

    def read_artifact(self, key: str, stored: dict[str, Any]) -> bytes | None:
        """The kept artifact of ``key`` when it is the model a stored trial measured (its
        SHA-256 matches the record's), else None (the model is built again, identically).

        Args:
            key: The configuration's key.
            stored: The trial's stored result (:func:`moo_compress.record.result`).
        """
        import hashlib

        try:
            data = (self.artifact_dir / f"{key}.mcz").read_bytes()
        except OSError:
            return None
        want = stored.get("artifact_sha256")
        if want and hashlib.sha256(data).hexdigest() != want:
            return None
        return data

    def checkpoint_path(self, key: str, epochs: int) -> Path:
        """Where the paused fine-tuning run of ``key`` after ``epochs`` epochs is kept."""
        return self.artifact_dir / f"{key}.e{int(epochs)}.ckpt"

    def read_checkpoint(self, key: str, stored: dict[str, Any]) -> bytes | None:
        """The paused fine-tuning run a stored rung trial measured (its SHA-256 matches the
        record's), else None (the next rung builds the model from the baseline: the same
        model, at a higher cost).

        Args:
            key: The configuration's key.
            stored: The trial's stored result (:func:`moo_compress.record.result`).
        """
        import hashlib

        want = stored.get("checkpoint_sha256")
        if not want:
            return None
        try:
            data = self.checkpoint_path(key, stored["finetune_epochs"]).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == want else None

    def drop_checkpoints(self, key: str, *, below: int | None = None) -> int:
        """Delete the kept paused runs of ``key`` (all, or those of fewer than ``below``
        epochs); returns how many were deleted.

        Args:
            key: The configuration's key.
            below: Keep the runs of ``below`` epochs or more (default None: delete all).
        """
        n = 0
        for path in self.artifact_dir.glob(f"{key}.e*.ckpt"):
            try:
                epochs = int(path.name[len(key) + 2 : -len(".ckpt")])
            except ValueError:
                continue
            if below is None or epochs < below:
                path.unlink(missing_ok=True)
                n += 1
        return n

    # -- evaluation -----------------------------------------------------------------------
    def lookup(self, config: dict[str, Any]) -> Outcome | None:
        """The stored outcome of ``config``, or None when it has none yet.

        Args:
            config: A full pipeline configuration.
        """
        return self.outcomes.get(self.space.config_key(config))

    def check_failures(self) -> None:
        """Stop the search when too many trials failed.

        Raises:
            MooCompressError: More than ``budget.max_failures`` trials failed.
        """
        if self.n_failed > self.cfg.max_failures:
            raise MooCompressError(
                f"search stopped: {self.n_failed} trials failed, more than budget.max_failures = {self.cfg.max_failures} (set it in the study file to allow more); last reason: {self.last_failure}"
            )

    def evaluate_config(
        self,
        config: dict[str, Any],
        *,
        generation: int | None = None,
        compute: Callable[[], TrialResult] | None = None,
    ) -> Outcome:
        """Create a trial with exactly ``config`` (driver-chosen), evaluate and store it.

        Args:
            config: A full pipeline configuration.
            generation: The pymoo generation that proposed it (default None).
            compute: Returns the evaluation's ``TrialResult`` or raises (default None: the
                evaluator runs here); drivers that evaluate elsewhere (a Dask cluster) pass
                it, and storage is written here.

        Returns:
            The configuration's outcome (a stored one when it was evaluated before).

        Raises:
            RuntimeError: The trial's parameters do not rebuild ``config`` (the trial is
                failed first).
        """
        trial, full = self.ask_config(config)
        return self.evaluate_trial(trial, full, generation=generation, compute=compute)

    def ask_config(self, config: dict[str, Any]) -> tuple[optuna.Trial, dict[str, Any]]:
        """Ask the study for a new trial whose parameters are exactly ``config``'s.

        Args:
            config: A full pipeline configuration.

        Returns:
            The running trial and the configuration its parameters rebuild (equal to
            ``config``).

        Raises:
            RuntimeError: The trial's parameters do not rebuild ``config`` (the trial is
                failed first).
        """
        import warnings

        from optuna.exceptions import ExperimentalWarning
        from optuna.samplers import PartialFixedSampler, RandomSampler

        params = self.space.searched_params(config)
        previous = self.study.sampler
        with warnings.catch_warnings():  # its one warning: the class is marked experimental
            warnings.filterwarnings(
                "ignore",
                message="PartialFixedSampler is experimental",
                category=ExperimentalWarning,
            )
            self.study.sampler = PartialFixedSampler(params, RandomSampler(seed=0))
        try:
            trial = st.with_retries(self.study.ask, self.url)
            full = st.suggest_in_one_transaction(trial, self.space.suggest)
        finally:
            self.study.sampler = previous
        if self.space.config_key(full) != self.space.config_key(config):
            # The trial would store (and a remote ``compute`` evaluate) another model than
            # the driver chose; load_space refuses the spaces where this could happen.
            from optuna.trial import TrialState

            record.write_fail_reason(trial, "internal: parameters do not rebuild the configuration")
            self.study.tell(trial, state=TrialState.FAIL)
            raise RuntimeError(
                f"trial {trial.number}: stored parameters {params} do not rebuild the "
                "driver's configuration"
            )
        return trial, full

    def evaluate_trial(
        self,
        trial: optuna.Trial,
        config: dict[str, Any],
        *,
        generation: int | None = None,
        compute: Callable[[], TrialResult] | None = None,
        lower_rung: bool = False,
    ) -> Outcome:
        """Evaluate an asked trial whose parameters have been suggested; tell the result.

        While it runs, the trial records a heartbeat (when the storage has heartbeats on), so
        that other workers can tell a crashed worker's trial from a running one. Stopped by
        Ctrl-C or SIGTERM (``KeyboardInterrupt``), the trial is failed as interrupted before
        the process ends, and a resumed search runs its configuration again.

        A configuration with a stored outcome is not evaluated again: the trial is failed
        as a duplicate. A failed evaluation is recorded as a failed trial and the search
        goes on.

        Args:
            trial: The asked trial.
            config: Its full pipeline configuration.
            generation: The pymoo generation that proposed it (default None).
            compute: Returns the evaluation's ``TrialResult`` or raises (default None: the
                evaluator runs here).
            lower_rung: The trial measures a rung below the full evaluation (multi-fidelity
                drivers, whose ``compute`` measures it): its values and the constraints on
                them are stored and the trial is told PRUNED; it does not count as complete
                and stays out of the archive (default False).

        Returns:
            The configuration's outcome (for a lower rung: complete with the rung's values,
            while the stored outcomes keep only full evaluations).

        Raises:
            MooCompressError: More than ``budget.max_failures`` trials failed.
        """
        try:
            return self._evaluate_trial(
                trial, config, generation=generation, compute=compute, lower_rung=lower_rung
            )
        except KeyboardInterrupt:
            self.mark_trial_interrupted(trial)
            raise

    def mark_trial_interrupted(self, trial: optuna.Trial) -> None:
        """Fail a trial this process was running as ``INTERRUPTED`` (best effort: the
        process is stopping; otherwise the next search start fails it).

        Args:
            trial: The trial (nothing is done unless it is still RUNNING in storage).
        """
        from optuna.trial import TrialState

        for attempt in range(2):
            try:
                if st.stored_state(self.study, trial) == TrialState.RUNNING:
                    record.write_fail_reason(trial, st.INTERRUPTED)
                    self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                return
            except Exception:  # noqa: BLE001 - the process is stopping: best effort
                if attempt:
                    return
                # The interrupt may have hit a write halfway, leaving a pooled connection in
                # a transaction that holds SQLite's lock: close every connection, try again.
                st.close_connections(self.study)

    def interrupt_running(self) -> None:
        """On Ctrl-C or SIGTERM, with the study's lock held (no other search runs it): fail
        as interrupted every RUNNING trial of this search, including one stopped between
        ``ask`` and its evaluation (workers' trials are theirs)."""
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not record.is_worker_trial(t):
                self.mark_trial_interrupted(st.live_trial(self.study, t))

    def _tell(self, trial, values=None, *, state=None) -> None:
        """``study.tell`` inside the storage retries; a retry after an answer lost on the way
        back skips the trial the first attempt did finish."""
        attempts = []

        def tell():
            attempts.append(1)
            skip = len(attempts) > 1
            if values is None:
                self.study.tell(trial, state=state, skip_if_finished=skip)
            else:
                self.study.tell(trial, values, skip_if_finished=skip)

        st.with_retries(tell, self.url)

    def _evaluate_trial(
        self,
        trial,
        config: dict[str, Any],
        *,
        generation: int | None = None,
        compute=None,
        lower_rung: bool = False,
    ) -> Outcome:
        from optuna.trial import TrialState

        key = self.space.config_key(config)
        start = st.AttrBatch(self.study, trial)  # one transaction
        if record.config_key(trial) != key:  # a worker's claim may have set them
            record.write_config(start, config, key)
        if generation is not None:
            record.write_generation(start, generation)
            self.last_generation = generation
        st.with_retries(start.flush, self.url)
        known = self.outcomes.get(key)
        if known is not None:
            reason = (
                f"{record.DUPLICATE} of trial {known.trial_number}: configuration already evaluated"
            )
            record.write_fail_reason(trial, reason)
            self._tell(trial, state=TrialState.FAIL)
            self.proposals += 1
            return known
        rng_state = np.random.get_state()
        started = time.perf_counter()
        try:
            with heartbeat(self.study, trial):
                result = compute() if compute is not None else self.evaluator.evaluate(config, key)
                known = result.measured if lower_rung and result.measured is not None else None
                wanted = [n for n in self.objectives if known is None or n in known]
                undefined = [n for n in wanted if n not in result.values]
                if undefined:
                    why = result.details.get(undefined[0], {}).get("undefined", "no value")
                    raise ValueError(f"objective {undefined[0]} is undefined: {why}")
                constraints = self.constraint_values(
                    config, result.values, only_measured=lower_rung, baseline=result.baseline
                )
        except Exception as exc:  # noqa: BLE001 - any crash is recorded and the search goes on
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            self.spent_seconds += time.perf_counter() - started
            self._seen.add(trial.number)
            record.write_fail_reason(trial, reason)
            self._tell(trial, state=TrialState.FAIL)
            self.n_failed += 1
            self.proposals += 1
            self.last_failure = reason
            outcome = Outcome(False, None, reason, trial.number)
            self.outcomes[key] = outcome
            if self._pbar is not None:
                self._pbar.write(f"trial {trial.number} failed: {reason}")
                self._refresh_postfix()
            self.check_failures()
            return outcome
        finally:
            np.random.set_state(rng_state)
        self.eval_seconds += result.seconds
        self.spent_seconds += result.seconds
        atomic_write(self.artifact_dir / f"{key}.mcz", result.artifact)
        if result.checkpoint is not None:
            atomic_write(self.checkpoint_path(key, result.finetune_epochs), result.checkpoint)
        batch = st.AttrBatch(self.study, trial)  # one transaction for the whole record
        record.write_result(batch, result, arch=config.get("arch") or self.cfg.arch)
        if self.constraints:
            record.write_constraints(batch, constraints)
        if not lower_rung:
            for label, value in constraints.items():  # where Optuna's samplers and tools look
                batch.set_constraint(label, value)
        st.with_retries(batch.flush, self.url)
        if lower_rung:
            self._seen.add(trial.number)
            self._tell(trial, state=TrialState.PRUNED)
            self.proposals += 1
            self._refresh_postfix()  # its seconds count
            return Outcome(True, result.values, None, trial.number, list(constraints.values()))
        self._tell(trial, [result.values[name] for name in self.objectives])
        self.n_complete += 1
        self.proposals += 1
        outcome = Outcome(True, result.values, None, trial.number, list(constraints.values()))
        self._seen.add(trial.number)
        if outcome.feasible:
            self.archive.add([result.values[name] for name in self.objectives])
        self.outcomes[key] = outcome
        if self._pbar is not None:
            if not self.cfg.seconds_only:
                self._pbar.update(1)
            self._refresh_postfix()
        return outcome

    def constraint_values(
        self,
        config: dict[str, Any],
        values: dict[str, float],
        *,
        only_measured: bool = False,
        baseline: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """Each constraint's value for a model (<= 0: met), by label, in the study's order.

        Args:
            config: The model's full pipeline configuration (relative bounds compare with
                the baseline of its architecture).
            values: Its measured objective values.
            only_measured: Leave out constraints on objectives ``values`` lacks (a lower
                rung of a multi-fidelity search; default False: such a constraint raises).
            baseline: The baseline's values to compare relative bounds with (default None:
                the evaluator's, measured as the full evaluation measures).

        Raises:
            ValueError: A constrained objective has no value for this model, or a relative
                bound cannot be computed (see :meth:`Constraint.value`).
        """
        out: dict[str, float] = {}
        for c in self.constraints:
            if only_measured and c.objective not in values:
                continue
            if c.objective not in values:
                why = "undefined for this model"
                raise ValueError(f"constraint {c.label!r}: objective {c.objective} is {why}")
            ref = None
            if c.relative:
                base = (
                    baseline
                    if baseline is not None and c.objective in baseline
                    else self.evaluator.baseline_values(self.evaluator.arch_of(config))
                )
                if c.objective not in base:
                    raise ValueError(
                        f"constraint {c.label!r}: the baseline has no {c.objective} value"
                    )
                ref = base[c.objective]
            out[c.label] = c.value(values[c.objective], ref)
        return out

    def rerun_interrupted(self, configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Configurations of interrupted trials that have no stored outcome yet (in order).

        Args:
            configs: The interrupted trials' configurations (repeats are dropped).
        """
        out, seen = [], set()
        for config in configs:
            key = self.space.config_key(config)
            if key not in self.outcomes and key not in seen:
                seen.add(key)
                out.append(config)
        return out


def check_before_search(cfg: StudyConfig, url: str) -> None:
    """Everything ``search`` and ``worker`` can check before data, corrupted sets and the
    baseline are prepared, reading only: a storage that keeps results and can be opened, a
    space with something to search, and an existing study of that name made by moo-compress
    from the same settings (else the changed keys are named).

    Args:
        cfg: The validated study configuration.
        url: Its storage URL.

    Raises:
        ConfigError: Any of these fails (exit code 2); nothing has been written.
    """

    st.check_keeps_results(url)

    if not cfg.space.searched and DRIVER_INFO[cfg.driver].needs_searched:
        raise ConfigError(
            str(cfg.space_path),
            "variables",
            f"has no searched variable (every variable is fixed), so driver {cfg.driver!r} has "
            "nothing to search. Give at least one variable a range or choices (driver grid "
            "evaluates a single configuration).",
        )
    st.check_existing_study(cfg, url)

"""Trials and history: records of stored trials, heartbeat ages, marking a stopped search's
trials interrupted, and the stored hypervolume history."""

from __future__ import annotations

import time
from typing import Any

from moo_compress import record
from moo_compress.errors import ConfigError
from moo_compress.record import INTERRUPTED, SKIPPED, TrialRecord
from moo_compress.storage._connect import HV_PREFIX
from moo_compress.storage._optuna import heartbeat_ages, live_trial, sampler_generation, trial_id


# -- trials --------------------------------------------------------------------------------
def records(study, states=None) -> list[TrialRecord]:
    """The trial records of ``study`` (:func:`moo_compress.record.read`), by trial number.

    Args:
        study: An Optuna study.
        states: Only trials in these Optuna states (None: all).
    """
    return [
        record.read(t, sampler_generation=sampler_generation(t))
        for t in study.get_trials(deepcopy=False, states=states)
    ]


def mark_interrupted(
    study,
    *,
    sole: bool,
    grace_seconds: float,
    wait_seconds: float = 0.0,
    log=None,
) -> list[dict[str, Any]]:
    """Mark trials left RUNNING by a stopped process as failed (``INTERRUPTED``); return the
    configurations of the study's interrupted trials (now, or by Ctrl-C/SIGTERM before) not
    evaluated since, oldest first, for the driver to run again.

    Args:
        study: The Optuna study.
        sole: This ``search`` holds the study's lock (:func:`search_lock`, SQLite): a trial
            of a search (no ``worker`` attribute) has no live process, so it is failed at
            once and a killed search resumes at once.
        grace_seconds: Otherwise (database servers, and ``worker`` trials always) a trial
            is stopped only when its heartbeat is older than this (or it never beat and
            started more than twice this long ago); a live worker's trial is left alone.
        wait_seconds: How long to wait for a search trial that still beats to go stale.
        log: Callable for progress messages (default: none).

    Raises:
        ConfigError: A search trial still beats after ``wait_seconds``: another search
            runs the study.
    """
    import contextlib
    import datetime as dt

    import optuna
    from optuna.trial import TrialState

    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        ages = heartbeat_ages(study)
        now = dt.datetime.now()
        live = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            worker = record.is_worker_trial(t)
            age = ages.get(trial_id(t))
            if age is None:  # never beat: stopped when started over twice the grace ago
                started = t.datetime_start
                age = (now - started).total_seconds() / 2 if started else float("inf")
            if not (sole and not worker) and age <= grace_seconds:
                if not worker:
                    live.append((t.number, age))
                continue
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                record.write_fail_reason(live_trial(study, t), INTERRUPTED)
                study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        if not live:
            break
        number, age = live[0]
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"study {study.study_name!r}",
                "",
                f"trial {number} is running in another process (heartbeat {age:.0f} s ago); "
                "one search runs a study at a time. To evaluate a study's trials in several "
                "processes use `moo-compress worker` (Optuna samplers).",
            )
        if log is not None and not told:
            log(
                f"trial {number} was running {age:.0f} s ago; waiting up to {wait_seconds:.0f} s "
                "for its heartbeat to stop (a stopped search) or go on (another live search)"
            )
            told = True
        time.sleep(1.0)
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
    # proposals never evaluated
    not_run = (INTERRUPTED, record.DUPLICATE, SKIPPED, record.ABANDONED)
    evaluated = {
        record.config_key(t)
        for t in finished
        if t.state == TrialState.COMPLETE or not record.fail_reason(t).startswith(not_run)
    }
    configs: dict[str, dict[str, Any]] = {}
    for t in finished:
        key = record.config_key(t)
        if record.fail_reason(t) == INTERRUPTED and record.has_config(t):
            if key not in evaluated and key not in configs:
                configs[key] = record.config(t)
    return list(configs.values())


def hv_history(study) -> list[dict[str, Any]]:
    """The stored hypervolume history, one entry per archive update, in order of completed
    trials.

    Args:
        study: The Optuna study.
    """
    attrs = study.user_attrs
    return [attrs[k] for k in sorted(k for k in attrs if k.startswith(HV_PREFIX))]


__all__ = ["hv_history", "mark_interrupted", "records"]

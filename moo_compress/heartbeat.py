"""Heartbeats of running trials, and failing trials whose worker died before its first beat.

A running trial records a heartbeat in the study's storage every interval; a worker killed
mid-trial stops beating, and the next worker that looks marks its trial failed (Optuna's
``fail_stale_trials``) or, if it never beat, :func:`fail_abandoned_trials` does.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from moo_compress import record
from moo_compress import storage as st

if TYPE_CHECKING:
    import optuna

__all__ = ["fail_abandoned_trials", "heartbeat"]

_BEATING: set[int] = set()  # trial ids this process is beating for (heartbeat is reentrant)


@contextlib.contextmanager
def heartbeat(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Record ``trial``'s heartbeat every interval while the block runs (if enabled).

    The first beat is recorded before the block starts, so a trial never runs without one;
    entering it again for the same trial (a worker's claim around ``evaluate_trial``) adds
    no second thread. Nothing is recorded when the study's storage has heartbeats off.

    Args:
        study: The study whose storage records the beats.
        trial: The running trial.
    """
    interval = st.heartbeat_interval(study)
    ident = st.trial_id(trial)
    if not interval or ident in _BEATING:
        yield
        return
    st.record_heartbeat(study, trial)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):  # a missed beat is retried next interval
                st.record_heartbeat(study, trial)

    _BEATING.add(ident)
    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        _BEATING.discard(ident)


def fail_abandoned_trials(study: optuna.Study, grace_seconds: float) -> list[int]:
    """Fail RUNNING trials whose worker died between ``ask`` and its first heartbeat.

    Optuna's heartbeat check skips trials that never beat, and such a trial would stay
    RUNNING for ever and hold a share of the budget. A live worker records its first beat
    and the configuration within milliseconds of ``ask``, so a trial without a configuration
    after twice the grace period has no worker (clocks of worker machines must agree to
    within that). Its configuration is unknown, so it is not re-queued.

    Args:
        study: The study whose RUNNING trials are looked at.
        grace_seconds: The heartbeat grace period; a trial is abandoned after twice this.

    Returns:
        The numbers of the trials set to FAIL.
    """
    import datetime as dt

    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    now = dt.datetime.now()
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if record.has_config_key(t) or t.datetime_start is None:
            continue
        if (now - t.datetime_start).total_seconds() <= 2 * grace_seconds:
            continue
        with contextlib.suppress(UpdateFinishedTrialError):  # another worker was quicker
            st.fail_trial(
                study, t, f"{record.ABANDONED}: its worker stopped before its first heartbeat"
            )
            failed.append(t.number)
    return failed

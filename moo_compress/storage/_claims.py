"""Claims that hold: which worker runs a configuration, a (configuration, rung) and a slot
of the budget, decided by the database.

A claim is a row of the study's system attributes with a unique key (``claim:config:<key>``,
``claim:rung:<rung>:<key>``, ``claim:slot:<i>``) whose value is the claiming trial's storage
id (:func:`moo_compress.storage._optuna.insert_claim`). The database lets exactly one of
several racing trials insert a key, so exactly one worker wins, whatever the order in which
the workers wrote their configurations. Every call is idempotent for its trial: a storage
call retried after a lost answer finds the claim its first attempt took.

A claim is held while its owner trial is running or finished with a result; once the owner
failed without being evaluated (interrupted, skipped, a duplicate, abandoned, or failed by
the heartbeat check because its worker died) the next trial takes the claim over, with one
compare-and-set, so that a re-queued configuration runs again. A configuration whose
evaluation failed keeps its claim (as ``search`` keeps its outcome: it is not evaluated
again). A budget slot is held by a running or complete trial only: a failed evaluation or a
dead worker's trial frees its slot, so the study still ends with exactly ``n_trials``
complete trials.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

from moo_compress import record
from moo_compress.errors import MooCompressError
from moo_compress.storage._optuna import (
    claim_owners,
    fresh_trial,
    insert_claim,
    replace_claim,
    trial_id,
)

__all__ = [
    "CLAIM_DELAY_VARIABLE",
    "SLOT_PREFIX",
    "claim",
    "claim_delay",
    "config_claim",
    "holds_evaluation",
    "release_claim",
    "rung_claim",
    "take_budget_slot",
]

SLOT_PREFIX = "claim:slot:"
CLAIM_DELAY_VARIABLE = "MOO_COMPRESS_TEST_CLAIM_DELAY"
"""Test-only: when set to a number of seconds S, a worker sleeps a random 0..S seconds
between suggesting a configuration and claiming it (the stress tests widen the race window
with it). Never set it in real use."""
_MAX_TURNS = 1000  # compare-and-set attempts lost to other trials before giving up


def config_claim(key: str) -> str:
    """The claim key of a configuration (Optuna-sampler workers).

    Args:
        key: The configuration's key.
    """
    return f"claim:config:{key}"


def rung_claim(key: str, rung: int) -> str:
    """The claim key of one rung of a configuration (``mo-asha`` workers).

    Args:
        key: The configuration's key.
        rung: The rung.
    """
    return f"claim:rung:{rung}:{key}"


def holds_evaluation(trial) -> bool:
    """Whether ``trial`` holds its configuration's claim: it runs, or it was evaluated (a
    result, or an evaluation that failed). A trial failed before its evaluation
    (interrupted, duplicate, skipped, abandoned, or failed without a reason by the
    heartbeat check) does not.

    Args:
        trial: The owner trial as stored now (a ``FrozenTrial``).
    """
    state = trial.state.name
    if state in ("RUNNING", "COMPLETE", "PRUNED"):
        return True
    if state != "FAIL":
        return False
    reason = str(record.fail_reason(trial) or "")
    not_evaluated = (record.INTERRUPTED, record.DUPLICATE, record.SKIPPED, record.ABANDONED)
    return bool(reason) and not reason.startswith(not_evaluated)


def claim(study, trial, name: str, holds: Callable = holds_evaluation):
    """Take the claim ``name`` for ``trial``: exactly one of several racing trials gets it.

    Args:
        study: The Optuna study (a database storage decides between processes).
        trial: The running trial that claims.
        name: The claim's key (:func:`config_claim`, :func:`rung_claim`).
        holds: Whether the present owner (a ``FrozenTrial`` as stored now) keeps the claim
            (default :func:`holds_evaluation`); an owner that does not is replaced.

    Returns:
        None when ``trial`` holds the claim now (also when an earlier call for it took it),
        else the ``FrozenTrial`` that holds it.

    Raises:
        MooCompressError: The claim changed hands 1,000 times while this trial tried.
    """
    me = trial_id(trial)
    for _ in range(_MAX_TURNS):
        owner = insert_claim(study, name, me)
        if owner == me:
            return None
        if owner is not None:
            holder = fresh_trial(study, owner)
            if holder is not None and holds(holder):
                return holder
        if replace_claim(study, name, owner, me):
            return None
    raise MooCompressError(f"claim {name!r}: taken over {_MAX_TURNS} times while trying")


def release_claim(study, trial, name: str) -> bool:
    """Give up the claim ``name`` if ``trial`` holds it (a trial that won its configuration
    but not a budget slot is skipped: the configuration stays free for later).

    Args:
        study: The Optuna study.
        trial: The trial that may hold it.
        name: The claim's key.

    Returns:
        Whether ``trial`` held it.
    """
    return replace_claim(study, name, trial_id(trial), None)


def take_budget_slot(study, trial, n_trials: int, complete: list | None = None) -> int | None:
    """Take one of the study's ``n_trials`` budget slots for ``trial`` (the lowest free
    one), or None when running and complete trials hold them all.

    A slot is held by a running or complete trial; the slot of a trial that failed is
    taken over. Complete trials that hold no slot (written by a ``search`` or before
    claims existed) use up budget too: they lower the number of slots.

    Args:
        study: The Optuna study.
        trial: The running trial about to be evaluated.
        n_trials: The study's budget of complete trials.
        complete: The study's complete trials as the caller just read them (default None:
            read them here); one that completed since holds a slot and is counted by it.

    Returns:
        The slot's index, or None: the budget is met by running and complete trials.

    Raises:
        MooCompressError: The slots changed hands 1,000 times while this trial tried.
    """
    from optuna.trial import TrialState

    me = trial_id(trial)
    holding = (TrialState.RUNNING, TrialState.COMPLETE)
    for _ in range(_MAX_TURNS):
        owners = claim_owners(study, SLOT_PREFIX)
        slots = {}
        for name, (owner, state) in owners.items():
            index = name[len(SLOT_PREFIX) :]
            if index.isdigit():
                slots[int(index)] = (owner, state)
        mine = [i for i, (owner, _) in slots.items() if owner == me]
        if mine:  # an earlier call (a retry after a lost answer) took it
            return mine[0]
        slot_owners = {owner for owner, _ in slots.values()}
        if complete is None:
            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        without = sum(trial_id(t) not in slot_owners for t in complete)
        limit = n_trials - without
        limit -= sum(state in holding for i, (_, state) in slots.items() if i >= limit)
        free = [i for i in range(limit) if i not in slots or slots[i][1] not in holding]
        if not free:
            return None
        for i in free:
            name = f"{SLOT_PREFIX}{i}"
            if i not in slots:
                if insert_claim(study, name, me) == me:
                    return i
            elif replace_claim(study, name, slots[i][0], me):
                return i
        # every free slot was taken meanwhile: read them again
    raise MooCompressError(f"budget slots: taken over {_MAX_TURNS} times while trying")


def claim_delay() -> None:
    """Test-only race widener: sleep a random 0..S seconds when ``MOO_COMPRESS_TEST_CLAIM_DELAY``
    is set to S (nothing otherwise)."""
    text = os.environ.get(CLAIM_DELAY_VARIABLE, "").strip()
    if text:
        time.sleep(random.SystemRandom().uniform(0.0, float(text)))

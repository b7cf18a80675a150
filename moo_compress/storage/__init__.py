"""The study in Optuna storage: the single source of truth for trials, archive and history.

Per trial: the trial record, Optuna user attributes written and read only by
:mod:`moo_compress.record` (``config``, ``config_key``, ``worker``, ``generation``,
``objectives``, ``result`` and, for failed trials, ``fail_reason``; see there). Per study:
``moo_compress`` (what the study was created from: the fingerprint, the settings behind
it, objectives, driver, space; enough for ``status``, ``pareto`` and ``report`` to work from
the database alone), ``budget`` (the ``n_trials`` the last search or worker ran with) and
one ``hv/<n_complete>`` entry per archive update. Workers' claims are Optuna study system
attributes ``claim:config:<key>``, ``claim:rung:<rung>:<key>`` and ``claim:slot:<i>``, each
holding the claiming trial's storage id (see :mod:`moo_compress.storage._claims`).

Commands that only read (``status``, ``pareto``, ``report``, ``export``) open the storage
read-only (:func:`open_for_reading`): they never create a file or a table.

This is the only module that touches Optuna's private attributes (a study's storage, a
trial's storage id, the storage's database backend, Optuna's system attributes); the rest
of moo-compress calls the small functions of :mod:`moo_compress.storage._optuna`.
"""

from __future__ import annotations

from moo_compress.record import INTERRUPTED, SKIPPED, TrialRecord
from moo_compress.storage._claims import (
    CLAIM_DELAY_VARIABLE,
    claim,
    claim_delay,
    config_claim,
    holds_evaluation,
    release_claim,
    rung_claim,
    take_budget_slot,
)
from moo_compress.storage._connect import (
    HV_PREFIX,
    OPTUNA_TABLES,
    SQLITE_HEADER,
    check_keeps_results,
    check_storage_for_search,
    describe_storage_error,
    is_in_memory,
    is_sqlite,
    is_storage_error,
    load_for_reading,
    open_for_reading,
    open_storage,
    redact,
    search_lock,
    sqlite_file,
    storage_url,
    study_meta,
    study_names,
    with_retries,
)
from moo_compress.storage._optuna import (
    AttrBatch,
    close_connections,
    fail_trial,
    ga_generation_attrs,
    gp_sampler_over,
    heartbeat_interval,
    live_trial,
    queued_params,
    record_heartbeat,
    sampler_generation,
    storage_of,
    stored_constraints,
    stored_state,
    study_id,
    suggest_in_one_transaction,
    trial_id,
)
from moo_compress.storage._study import (
    CORRUPTION_PARAMETERS,
    as_searched,
    bounds_sources,
    changed_settings,
    changed_study_error,
    check_existing_study,
    create_or_load,
    hypervolume_bounds,
    load_existing,
    record_corruption_parameters,
    settings,
    stored_meta,
    study_exists,
)
from moo_compress.storage._trials import (
    heartbeat_ages,
    hv_history,
    mark_interrupted,
    records,
)

__all__ = [
    "AttrBatch",
    "CLAIM_DELAY_VARIABLE",
    "CORRUPTION_PARAMETERS",
    "HV_PREFIX",
    "INTERRUPTED",
    "OPTUNA_TABLES",
    "SKIPPED",
    "SQLITE_HEADER",
    "TrialRecord",
    "as_searched",
    "bounds_sources",
    "changed_settings",
    "changed_study_error",
    "check_existing_study",
    "check_keeps_results",
    "check_storage_for_search",
    "claim",
    "claim_delay",
    "close_connections",
    "config_claim",
    "create_or_load",
    "describe_storage_error",
    "fail_trial",
    "ga_generation_attrs",
    "gp_sampler_over",
    "heartbeat_ages",
    "heartbeat_interval",
    "holds_evaluation",
    "hv_history",
    "hypervolume_bounds",
    "is_in_memory",
    "is_sqlite",
    "is_storage_error",
    "live_trial",
    "load_existing",
    "load_for_reading",
    "mark_interrupted",
    "open_for_reading",
    "open_storage",
    "queued_params",
    "record_heartbeat",
    "record_corruption_parameters",
    "records",
    "redact",
    "release_claim",
    "rung_claim",
    "sampler_generation",
    "search_lock",
    "settings",
    "sqlite_file",
    "storage_of",
    "storage_url",
    "stored_meta",
    "stored_constraints",
    "stored_state",
    "study_exists",
    "study_id",
    "suggest_in_one_transaction",
    "study_meta",
    "take_budget_slot",
    "study_names",
    "trial_id",
    "with_retries",
]

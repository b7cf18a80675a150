"""The study in Optuna storage: the single source of truth for trials, archive and history.

Per trial (user attributes): ``config`` (full pipeline configuration), ``config_key``,
``technique``, ``generation`` (pymoo), every objective under ``obj:<name>``, their details
(per-corruption CE and errors), ``eval_seconds``, ``artifact_sha256``, and, for failed trials,
``fail_reason``. Per study: ``moo_compress`` (what the study was created from) and one
``hv/<n_complete>`` entry per archive update.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass
from typing import Any

from moo_compress.errors import ConfigError, MooCompressError

INTERRUPTED = "interrupted: the process stopped while the trial was running"
SKIPPED = "skipped"  # a worker's proposal not run because running trials already meet the budget
HV_PREFIX = "hv/"


def redact(url: str) -> str:
    """Hide the passwords of storage URLs in ``url`` (a URL or any message holding some).

    Covers ``user:secret@host`` (also with an empty user, ``://:secret@host``, an ``@`` in
    the user name, or ``@`` and ``/`` in the password) and query or connection-string
    parameters such as ``?password=secret``, ``&passwd=...``, ``sslpassword=...`` or
    ``PassWord=...`` (any case), which become ``***``.
    """
    # user info: SQLAlchemy reads the password up to the first "@"; "@"s that follow before
    # the host's end are hidden too (an unencoded "@" inside the password)
    text = re.sub(r"(://[^:/\s]*):[^@\s]*@(?:[^@\s/?#]*@)*", r"\1:***@", url)
    return re.sub(
        r"(?i)(?<![\w.-])((?:[\w.-]*(?:password|passwd|pwd|secret|token)|pass)\s*=\s*)"
        r"(?:'[^']*'|\"[^\"]*\"|[^&\s#;,'\")]+)",
        r"\1***",
        text,
    )


def storage_url(cfg) -> str:
    return cfg.storage or cfg.default_storage()


def open_storage(url: str, *, heartbeat: dict[str, int] | None = None):
    """The Optuna storage at ``url``.

    Args:
        heartbeat: For several workers: ``{"interval": s, "grace": s, "max_retry": n}``.
            Running trials then record a heartbeat; a trial whose worker stopped beating for
            ``grace`` seconds is marked failed by the next worker that looks and re-queued
            (Optuna's ``RetryHeartbeatStaleTrialCallback``) up to ``max_retry`` times.
    """
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # moo-compress records heartbeats itself around each evaluation (workers.heartbeat)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    try:
        if heartbeat is None:
            return optuna.storages.get_storage(url)
        retry = int(heartbeat["max_retry"])
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
            callback = {
                "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=retry
                )
            }
        else:
            callback = {
                "failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=retry)
            }
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=int(heartbeat["interval"]),
            grace_period=int(heartbeat["grace"]),
            **callback,
        )
    except Exception as exc:  # noqa: BLE001 - any driver error becomes one clear line
        raise MooCompressError(
            f"cannot open storage {redact(url)}: {type(exc).__name__}: {redact(_first_line(exc))}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else ""


def with_retries(fn, url: str, *, attempts: int = 4, delay: float = 1.0):
    """Call ``fn()``; on a lost database connection retry with backoff, then fail clearly."""
    from sqlalchemy.exc import DBAPIError

    try:
        from optuna.exceptions import StorageInternalError
    except ImportError:  # pragma: no cover - older Optuna
        StorageInternalError = DBAPIError  # noqa: N806

    for attempt in range(attempts):
        try:
            return fn()
        except (DBAPIError, StorageInternalError) as exc:
            if attempt == attempts - 1:
                raise MooCompressError(
                    f"lost the connection to the study database {redact(url)} "
                    f"({attempts} attempts): {type(exc).__name__}: {redact(_first_line(exc))}"
                ) from None
            time.sleep(delay * 2**attempt)
    return None


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def study_exists(url: str, name: str) -> bool:
    import optuna

    if url.startswith("sqlite:///"):
        from pathlib import Path

        if not Path(url[len("sqlite:///") :]).exists():
            return False
    storage = open_storage(url)
    return any(
        s.study_name == name
        for s in optuna.get_all_study_summaries(storage=storage, include_best_trial=False)
    )


def create_or_load(cfg, url: str, *, heartbeat: dict[str, int] | None = None):
    """Create the study, or load it and check it was made from the same study file."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    meta = {
        "fingerprint": cfg.fingerprint(),
        "seed": cfg.seed,
        "objectives": [o.name for o in cfg.objectives],
        "directions": cfg.directions,
        "bounds": [list(o.bounds) for o in cfg.objectives],
        "driver": cfg.driver,
        "evaluation": cfg.evaluation_spec(),
        "cache_dir": str(cfg.cache_dir),
    }
    if study_exists(url, cfg.name):
        study = optuna.load_study(
            study_name=cfg.name, storage=open_storage(url, heartbeat=heartbeat)
        )
        stored = study.user_attrs.get("moo_compress")
        for _ in range(50):  # a worker that just created the study may still be writing it
            if stored is not None:
                break
            time.sleep(0.1)
            stored = study.user_attrs.get("moo_compress")
        if stored is None:
            raise ConfigError(
                cfg.source,
                "study.name",
                f"names an existing Optuna study that moo-compress did not create. Got {cfg.name!r}.",
            )
        if stored["seed"] != cfg.seed:
            raise ConfigError(
                cfg.source,
                "study.seed",
                f"must match the existing study's seed {stored['seed']} to resume it. Got {cfg.seed} instead.",
            )
        if stored["fingerprint"] != cfg.fingerprint():
            raise ConfigError(
                cfg.source,
                "study.name",
                f"an existing study {cfg.name!r} was created from different settings (dataset, model, space, objectives or driver); "
                "give this study a new name or restore the old file.",
            )
        return study
    try:
        study = optuna.create_study(
            study_name=cfg.name,
            storage=open_storage(url, heartbeat=heartbeat),
            directions=cfg.directions,
            load_if_exists=False,
        )
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
        return create_or_load(cfg, url, heartbeat=heartbeat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(cfg.objective_names)
    study.set_user_attr("moo_compress", meta)
    return study


def load_existing(cfg, url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not study_exists(url, cfg.name):
        raise ConfigError(
            cfg.source,
            "study.name",
            f"no study {cfg.name!r} in storage {redact(url)}; run `moo-compress search {cfg.source}` first.",
        )
    return optuna.load_study(study_name=cfg.name, storage=open_storage(url))


@dataclass
class TrialRecord:
    number: int
    state: str
    config: dict[str, Any]
    config_key: str
    values: dict[str, float]
    attrs: dict[str, Any]


def records(study, states=None) -> list[TrialRecord]:
    from optuna.trial import TrialState

    out = []
    for t in study.get_trials(deepcopy=False, states=states):
        out.append(
            TrialRecord(
                number=t.number,
                state=t.state.name,
                config=t.user_attrs.get("config", {}),
                config_key=t.user_attrs.get("config_key", ""),
                values={k[4:]: v for k, v in t.user_attrs.items() if k.startswith("obj:")}
                if t.state == TrialState.COMPLETE
                else {},
                attrs=dict(t.user_attrs),
            )
        )
    return out


def mark_interrupted(study) -> list[dict[str, Any]]:
    """Mark trials left RUNNING by a stopped process as failed; return their configurations.

    Used by ``search``, which assumes it is the only process on its study, so that a killed
    search resumes at once; workers instead fail a crashed worker's trial when its heartbeat
    goes stale (``workers``).
    """
    import optuna
    from optuna.trial import TrialState

    configs = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        if t.state == TrialState.WAITING:
            continue
        optuna.trial.Trial(study, t._trial_id).set_user_attr("fail_reason", INTERRUPTED)
        study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        if "config" in t.user_attrs:
            configs.append(t.user_attrs["config"])
    return configs


def hv_history(study) -> list[dict[str, Any]]:
    attrs = study.user_attrs
    return [attrs[k] for k in sorted(k for k in attrs if k.startswith(HV_PREFIX))]

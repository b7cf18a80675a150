"""What a study was made from: creating or resuming it, and checking an existing study's
origin, seed and settings (naming the settings that changed)."""

from __future__ import annotations

import time
import warnings
from typing import Any

from moo_compress.errors import ConfigError
from moo_compress.settings.bounds import study_bounds
from moo_compress.storage._connect import (
    check_storage_for_search,
    open_storage,
    redact,
    study_meta,
    study_names,
    write_study_meta,
)

# -- what a study was made from ----------------------------------------------------------
# Where each setting behind the fingerprint lives in the study file.
_SETTING_KEYS = {
    "seed": "study.seed",
    "task": "study.task",
    "arch": "model.arch",
    "width": "model.width",
    "corruptions": "corruptions.names",
    "severities": "corruptions.severities",
    "reference": "robustness.reference",
}


def settings(cfg) -> dict[str, Any]:
    """Everything the fingerprint covers, as stored JSON (to say what changed).

    Args:
        cfg: The validated study configuration (:class:`moo_compress.config.StudyConfig`).
    """
    import json

    return json.loads(json.dumps(cfg.settings(), sort_keys=True, default=str))


def _diff(old: Any, new: Any, key: str, out: list[str]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=str):
            _diff(old.get(k), new.get(k), f"{key}.{k}" if key else str(k), out)
    elif old != new:
        out.append(key)


def changed_settings(cfg, meta: dict[str, Any]) -> list[str]:
    """Study-file keys whose values differ from those the study was created with (empty
    when the fingerprints agree).

    Args:
        cfg: The validated study configuration (:class:`moo_compress.config.StudyConfig`).
        meta: The study's stored ``moo_compress`` record.
    """
    import json

    if meta.get("fingerprint") == cfg.fingerprint():
        return []
    new = settings(cfg)
    old = meta.get("settings")
    if old is None:  # a study made before the settings were stored: what is there
        old = {
            "evaluation": meta.get("evaluation", {}),
            "space": new["space"],
            "objectives": [
                {"name": n, "direction": d, "bounds": list(b)}
                for n, d, b in zip(
                    meta.get("objectives", []),
                    meta.get("directions", []),
                    meta.get("bounds", []),
                    strict=False,
                )
            ],
            "driver": meta.get("driver"),
            "driver_options": new["driver_options"],
        }
        old = json.loads(json.dumps(old, sort_keys=True, default=str))
    out = _diff_evaluation(old.get("evaluation", {}), new["evaluation"])
    if old.get("objectives") != new["objectives"]:
        out.append("objectives")
    if old.get("driver") != new["driver"]:
        out.append("driver.name")
    _diff(old.get("driver_options", {}), new["driver_options"], "driver", out)
    if old.get("space") != new["space"]:
        old_vars = {r["name"]: r for r in old.get("space", [])}
        new_vars = {r["name"]: r for r in new["space"]}
        names = sorted(
            n for n in set(old_vars) | set(new_vars) if old_vars.get(n) != new_vars.get(n)
        )
        out.append(f"search_space ({', '.join(names)})" if names else "search_space")
    if old.get("constraints") != new.get("constraints"):
        out.append("constraints")
    return out or ["settings outside the stored record (search space or driver options)"]


def _diff_evaluation(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for k in sorted(set(old) | set(new)):
        _diff(old.get(k), new.get(k), _SETTING_KEYS.get(k, k), found)
    # the loader's keyword arguments are keys of the study file's dataset section
    return [k.replace("dataset.options.", "dataset.", 1) for k in found]


def as_searched(cfg, meta: dict[str, Any] | None):
    """``cfg`` with the command-line overrides its study was searched with (``--seed``)
    applied, where the study file still says what it said then and no other override is
    given now; otherwise ``cfg`` itself (an edited file stays an edit: reported by
    :func:`changed_settings`, refused by a resume).

    Args:
        cfg: The validated study configuration (:class:`moo_compress.config.StudyConfig`).
        meta: The study's stored ``moo_compress`` record (None: no study yet).
    """
    import dataclasses

    seed = ((meta or {}).get("overrides") or {}).get("study.seed")
    if seed is None or cfg.file_seed is not None or cfg.seed != seed["file"]:
        return cfg
    return dataclasses.replace(cfg, seed=int(seed["value"]), file_seed=cfg.seed)


def stored_meta(url: str, name: str) -> dict[str, Any] | None:
    """The stored ``moo_compress`` record of study ``name`` in ``url`` (None: no such
    study, or one moo-compress did not make). Reads only.

    Args:
        url: A storage URL.
        name: The study name.
    """
    import optuna

    if not study_exists(url, name):
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return study_meta(optuna.load_study(study_name=name, storage=open_storage(url)).user_attrs)


def study_exists(url: str, name: str) -> bool:
    """Whether ``url`` holds a study named ``name`` (reads only).

    Args:
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
        name: The study name.
    """
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


def hypervolume_bounds(meta: dict[str, Any]) -> list[tuple[float, float]]:
    """The bounds the study's normalized hypervolume uses, as stored when it was created
    (derived from the baseline and the constraints where the study file sets none:
    :mod:`moo_compress.settings.bounds`); for a study made before they were stored, its
    objectives' bounds, as its hypervolume history was computed with.

    Args:
        meta: The study's stored ``moo_compress`` record.
    """
    stored = meta.get("hv_bounds")
    pairs = stored["bounds"] if isinstance(stored, dict) else meta["bounds"]
    return [(float(lo), float(hi)) for lo, hi in pairs]


def bounds_sources(meta: dict[str, Any]) -> list[str]:
    """Where each objective's hypervolume bounds come from: ``"study file"``, ``"default"``
    (no constraint to derive them from) or ``"derived"`` (from the baseline and the
    constraints); ``"study file or default"`` for a study made before they were stored.

    Args:
        meta: The study's stored ``moo_compress`` record.
    """
    stored = meta.get("hv_bounds")
    if isinstance(stored, dict):
        return list(stored["source"])
    return ["study file or default"] * len(meta["bounds"])


def _hv_bounds_record(cfg, bounds) -> dict[str, Any]:

    bounds = [tuple(b) for b in (bounds if bounds is not None else study_bounds(cfg))]
    source = []
    for o, b in zip(cfg.objectives, bounds, strict=True):
        if o.name not in cfg.unset_bounds:
            source.append("study file")
        else:
            source.append("default" if tuple(o.bounds) == b else "derived")
    return {"bounds": [[float(lo), float(hi)] for lo, hi in bounds], "source": source}


def create_or_load(
    cfg,
    url: str,
    *,
    heartbeat: dict[str, int] | None = None,
    bounds: list[tuple[float, float]] | None = None,
):
    """Create the study, or load it and check it was made from the same study file.

    Args:
        cfg: The validated study configuration (:class:`moo_compress.config.StudyConfig`).
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
        heartbeat: Heartbeat settings for the storage (``heartbeat_interval``, ``grace_period``), or None.
        bounds: The hypervolume bounds stored with a new study, once
            (:func:`moo_compress.settings.bounds.study_bounds` with the baseline's values);
            default None: derived without a baseline (enough unless a relative constraint
            bounds an objective whose study file sets no bounds). A loaded study keeps its own.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    meta = {
        "fingerprint": cfg.fingerprint(),
        "seed": cfg.seed,
        "objectives": [o.name for o in cfg.objectives],
        "directions": cfg.directions,
        "bounds": [list(o.bounds) for o in cfg.objectives],
        # what the hypervolume is normalized with, fixed at creation (status, report, resume)
        "hv_bounds": _hv_bounds_record(cfg, bounds),
        "driver": cfg.driver,
        "evaluation": cfg.evaluation_spec(),
        "cache_dir": str(cfg.cache_dir),
        # for reading the study from the database alone (status, pareto, report)
        "settings": settings(cfg),
        "driver_options": cfg.driver_options,
        "space": {
            "searched": [v.name for v in cfg.space.searched],
            "per_layer": list(cfg.space.per_layer),
            "archs": cfg.space.archs(cfg.arch),
        },
    }
    if cfg.file_seed is not None and cfg.file_seed != cfg.seed:
        # a command-line override is part of how the study was searched (as_searched)
        meta["overrides"] = {"study.seed": {"file": cfg.file_seed, "value": cfg.seed}}
    budget = {"n_trials": cfg.n_trials, "max_failures": cfg.max_failures}
    if cfg.budget_seconds is not None:
        budget["seconds"] = cfg.budget_seconds
    if study_exists(url, cfg.name):
        study = optuna.load_study(
            study_name=cfg.name, storage=open_storage(url, heartbeat=heartbeat)
        )
        _check_stored(cfg, _settled_meta(study), "")
        if study.user_attrs.get("budget") != budget:
            study.set_user_attr("budget", budget)
        return study
    try:
        study = optuna.create_study(
            study_name=cfg.name,
            storage=open_storage(url, heartbeat=heartbeat),
            directions=cfg.directions,
            load_if_exists=False,
        )
    except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
        return create_or_load(cfg, url, heartbeat=heartbeat, bounds=bounds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names(cfg.objective_names)
    write_study_meta(study, meta)
    study.set_user_attr("budget", budget)
    return study


#: The study attribute that names the corruption parameter set its trials are measured with.
CORRUPTION_PARAMETERS = "corruption_parameters"


def record_corruption_parameters(cfg, study, parameters: str) -> None:
    """Store the corruption parameter set a study's trials are measured with (the one
    ``corruptions.parameters: auto`` picked by image size), once; a study whose trials were
    measured with another is refused.

    A study with trials and no stored set was searched before the sets existed: with
    CIFAR-10-C's parameters.

    Args:
        cfg: The validated study configuration (:class:`moo_compress.config.StudyConfig`).
        study: The Optuna study.
        parameters: The set this process measures with.

    Raises:
        ConfigError: The study's trials were measured with another set.
    """
    stored = study.user_attrs.get(CORRUPTION_PARAMETERS)
    if stored is None and study.get_trials(deepcopy=False):
        stored = "cifar"
    if stored is None:
        study.set_user_attr(CORRUPTION_PARAMETERS, parameters)
    elif stored != parameters:
        raise ConfigError(
            cfg.source,
            "corruptions.parameters",
            f"study {cfg.name!r} was measured with the {stored} corruption parameters; "
            f"resuming with {parameters} would mix incompatible trials. Give the study a new "
            "study.name to measure with them.",
        )


def changed_study_error(cfg, stored: dict[str, Any]) -> ConfigError:
    """The one-line error for a study file changed since its study was created, naming the
    changed keys.

    Args:
        cfg: The validated study configuration (:class:`moo_compress.config.StudyConfig`).
        stored: The study's stored ``moo_compress`` record.
    """
    changed = changed_settings(cfg, stored)
    return ConfigError(
        cfg.source,
        "",
        f"changed since study {cfg.name!r} was created (changed: {', '.join(changed)}); "
        "resuming would mix incompatible trials. Give this study a new study.name or restore "
        "the old settings.",
    )


def check_existing_study(cfg, url: str) -> None:
    """Before anything is prepared: the study of ``cfg``, if it exists in ``url``, was made
    by moo-compress from the same settings and seed. Reads only.

    Args:
        cfg: The validated study configuration (:class:`moo_compress.config.StudyConfig`).
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).

    Raises:
        ConfigError: A bad storage (see :func:`check_storage_for_search`), a foreign study
            of that name, another seed or changed settings (naming the changed keys).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = check_storage_for_search(url)
    if storage is None or cfg.name not in study_names(storage):
        return
    stored = _settled_meta(optuna.load_study(study_name=cfg.name, storage=storage))
    _check_stored(cfg, stored, f" (no 'moo_compress' study attribute) in {redact(url)}")


#: How long a study without trials may lack its record before it counts as foreign: a
#: worker that has just created it writes the record in a few more round trips.
SETTLE_SECONDS = 10.0


def _settled_meta(study) -> dict[str, Any] | None:
    """The study's ``moo_compress`` record; for a study without trials that has none yet,
    waits up to :data:`SETTLE_SECONDS` for the worker that created it to write it.

    A study with trials and no record is foreign at once (moo-compress writes the record
    before its first trial).
    """
    stored = study_meta(study.user_attrs)
    deadline = time.monotonic() + SETTLE_SECONDS
    while stored is None and time.monotonic() < deadline:
        if study.get_trials(deepcopy=False):
            break
        time.sleep(0.1)
        stored = study_meta(study.user_attrs)
    return stored


def _check_stored(cfg, stored: dict[str, Any] | None, where: str) -> None:
    """The existing study was made by moo-compress, with this seed and these settings."""
    if stored is None:
        raise ConfigError(
            cfg.source,
            "study.name",
            f"names an existing Optuna study that moo-compress did not create{where}. Got {cfg.name!r}.",
        )
    if stored["seed"] != cfg.seed:
        override = (stored.get("overrides") or {}).get("study.seed")
        how = f" (it was searched with --seed {override['value']})" if override else ""
        source, key = ("seed", "") if cfg.file_seed is not None else (cfg.source, "study.seed")
        raise ConfigError(
            source,
            key,
            f"must match the existing study's seed {stored['seed']}{how} to resume it. Got "
            f"{cfg.seed} instead (for another seed, give the study a new study.name).",
        )
    if stored["fingerprint"] != cfg.fingerprint():
        raise changed_study_error(cfg, stored)


def load_existing(cfg, url: str):
    """Load the existing study of ``cfg`` from ``url`` for writing (it must exist).

    Args:
        cfg: The validated study configuration (:class:`moo_compress.config.StudyConfig`).
        url: A storage URL (Optuna RDB URL: ``sqlite:///...``, ``postgresql+psycopg://...``).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not study_exists(url, cfg.name):
        raise ConfigError(
            cfg.source,
            "study.name",
            f"no study {cfg.name!r} in storage {redact(url)}; run `moo-compress search {cfg.source}` first.",
        )
    return optuna.load_study(study_name=cfg.name, storage=open_storage(url))


__all__ = [
    "as_searched",
    "bounds_sources",
    "changed_settings",
    "changed_study_error",
    "check_existing_study",
    "create_or_load",
    "hypervolume_bounds",
    "load_existing",
    "settings",
    "stored_meta",
    "study_exists",
]

"""Readers of the study file's sections that need more than one line of the loader
(:func:`moo_compress.config._study.load_study_config`): each checks its keys and values and
returns the typed setting, or raises a :class:`~moo_compress.errors.ConfigError` that names
the file, the key path, the allowed values and the bad value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moo_compress.data import DATASET_INFO, REQUIRED, task_datasets
from moo_compress.errors import ConfigError
from moo_compress.objectives import OBJECTIVE_INFO, task_objectives
from moo_compress.settings import (
    AdversarialConfig,
    DatasetConfig,
    ObjectiveSpec,
    TrainConfig,
)
from moo_compress.settings.constraints import Constraint, allowed_kinds, parse_shorthand
from moo_compress.settings.reader import Section, describe

__all__: list[str] = []  # helpers of the loader only


def _train_config(sec: Section, defaults: dict[str, Any]) -> TrainConfig:
    # Fine-tuning length is the search variable ``finetune_epochs``, not a study setting.
    epochs = (
        sec.integer("epochs", defaults["epochs"], low=1, high=1000) if defaults["epochs"] else 0
    )
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=sec.integer("batch_size", defaults["batch_size"], low=1, high=65536),
        lr=sec.number("lr", defaults["lr"], low=0.0, high=10.0, low_open=True),
        momentum=sec.number("momentum", defaults["momentum"], low=0.0, high=0.999),
        weight_decay=sec.number("weight_decay", defaults["weight_decay"], low=0.0, high=1.0),
    )
    sec.finish()
    return cfg


def _check_cache_dir(top: Section, cache_dir: Path, given: str | None) -> None:
    """The cache folder must be a folder or creatable: no existing file on its path."""
    existing = cache_dir
    try:
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if existing.is_dir():
            return
    except OSError:  # cannot look (permissions): creating the folder reports it
        return
    what = (
        f"Got {describe(given)} instead"
        if given
        else f"the default <study>.cache is used ({cache_dir}); set cache_dir to a folder"
    )
    raise top.error(
        "cache_dir",
        f"must be a folder or a path where one can be created; {existing} is an existing file. {what}.",
    )


def _dataset_config(ds: Section, study_path: Path, task: str) -> DatasetConfig:
    """The ``dataset`` section, read against the dataset's entry of ``DATASET_INFO``."""
    from moo_compress._utils.registry import import_target

    names = task_datasets(task)
    name = ds.string("name", names[0], choices=names)
    info = DATASET_INFO[name]
    extra = ("corrupted_root",) if info.corrupted_folder else ()
    ds.expect(("name", *(o.name for o in info.options), *extra, "greyscale", "validation_fraction"))
    options: dict[str, Any] = {}
    raw: dict[str, Any] = {}
    for opt in info.options:
        default = () if opt.default is REQUIRED else (opt.default,)  # () : required
        if opt.kind == "number":
            value = ds.number(opt.name, *default, low=opt.low, high=opt.high)
        elif opt.kind == "integer":
            value = ds.integer(opt.name, *default, low=opt.low, high=opt.high)
        elif opt.kind == "string":
            value = ds.string(opt.name, *default)
        else:  # a path, relative to the study file
            value = ds.path_string(opt.name, *default)
            raw[opt.name] = value
            value = None if value is None else str((study_path.parent / value).resolve())
        raw.setdefault(opt.name, value)
        if value is not None:
            options[opt.name] = value
    if info.check:
        problem = import_target(info.check)(name, options)
        if problem:
            key, text = problem
            raise ds.error(key, f"{text}. Got {describe(raw[key])} instead.")
    corrupted_root = None
    if info.corrupted_folder:
        corrupted = ds.path_string("corrupted_root", None)
        if corrupted is not None:
            folder = (study_path.parent / corrupted).resolve()
            if not folder.is_dir() or not (folder / "labels.npy").is_file():
                raise ds.error(
                    "corrupted_root",
                    f"must be a CIFAR-C style folder (<corruption>.npy files and labels.npy); {folder} has no labels.npy. Got {describe(corrupted)} instead.",
                )
            corrupted_root = str(folder)
    greyscale = ds.boolean("greyscale", False)
    validation = _validation_fraction(ds)
    ds.finish()
    return DatasetConfig(
        name=name,
        options=options,
        corrupted_root=corrupted_root,
        greyscale=greyscale,
        validation_fraction=validation,
    )


def _validation_fraction(ds: Section) -> float:
    return ds.number("validation_fraction", 0.2, low=0.05, high=0.5)


def _reference(sec: Section, study_path: Path) -> str:
    value = sec.path_string("reference", "baseline")
    sec.finish()
    if value == "baseline":
        return value
    from moo_compress.artifact import MAGIC

    target = (study_path.parent / value).resolve()
    if target.is_dir():
        target = target / "model.mcz"
    ok = target.is_file()
    if ok:
        with open(target, "rb") as fh:
            ok = fh.read(len(MAGIC)) == MAGIC
    if not ok:
        raise sec.error(
            "reference",
            f"must be 'baseline' or a stored model (a .mcz artifact or an exported model folder); {target} is not one. Got {describe(value)} instead.",
        )
    return str(target)


def _adversarial_config(sec: Section) -> AdversarialConfig:
    d = AdversarialConfig()  # the defaults, stated once in the dataclass
    cfg = AdversarialConfig(
        eps=sec.number("eps", d.eps, low=0.0, high=1.0, low_open=True),
        step=sec.number("step", d.step, low=0.0, high=1.0, low_open=True),
        steps=sec.integer("steps", d.steps, low=1, high=1000),
        random_start=sec.boolean("random_start", d.random_start),
        n_images=sec.integer("n_images", d.n_images, low=1, high=10_000_000),
    )
    sec.finish()
    return cfg


def _constraints(
    top: Section, task: str, bounds: dict[str, tuple[float, float]]
) -> tuple[Constraint, ...]:
    """The ``constraints`` section: ``objective: {kind: bound, ...}`` or ``objective: ">= x"``
    (``bounds``: the optimized objectives' normalization bounds, for the violation scale)."""
    raw = top.raw("constraints", None)
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise top.error(
            "constraints",
            f"must be a mapping of objective names to bounds, e.g. {{accuracy: {{max_drop: 1.0}}}}. Got {describe(raw)} instead.",
        )
    sec = Section(raw, top.source, top.key("constraints"))
    allowed = task_objectives(task)
    sec.expect(allowed)
    out = []
    for name in raw:
        info = OBJECTIVE_INFO[name]
        kinds = allowed_kinds(info.default_direction)
        value = sec.raw(name)
        if isinstance(value, str):
            parsed = parse_shorthand(value)
            if parsed is None:
                raise sec.error(
                    name,
                    f"must be '>= <number>', '<= <number>' or a mapping of {{{', '.join(kinds)}}} to numbers. Got {describe(value)} instead.",
                )
            value = {parsed[0]: parsed[1]}
        if not isinstance(value, dict) or not value:
            raise sec.error(
                name,
                f"must be '>= <number>', '<= <number>' or a mapping of {{{', '.join(kinds)}}} to numbers. Got {describe(value)} instead.",
            )
        given = Section(value, top.source, sec.key(name))
        given.expect(kinds)
        lo, hi = bounds.get(name, info.bounds)
        for kind in value:
            low = 0.0 if kind not in ("min", "max") else None
            bound = given.number(kind, low=low, high=None)
            scale = 1.0 if kind.startswith("max_relative") else float(hi - lo)
            out.append(Constraint(name, kind, float(bound), scale))
        given.finish()
    sec.finish()
    return tuple(out)


def _record(
    top: Section, objectives: list[ObjectiveSpec], task: str, *, extra: list[str] = ()
) -> tuple[str, ...]:
    """Objectives measured and stored for every trial: the optimized ones, those a
    constraint bounds (``extra``) plus ``record`` (default: every objective of the task, so
    reports can relate robustness, proxies and attacks)."""
    allowed = task_objectives(task)
    raw = top.raw("record", "all")
    if raw == "all":
        names = [n for n in allowed if OBJECTIVE_INFO[n].in_record_all]
    else:
        if not isinstance(raw, list):
            raise top.error(
                "record",
                f"must be 'all' or a list of objective names. Got {describe(raw)} instead.",
            )
        for i, item in enumerate(raw):
            if item not in allowed:
                raise ConfigError(
                    top.source,
                    f"record[{i}]",
                    f"must be one of {{{', '.join(allowed)}}}. Got {describe(item)} instead.",
                )
        names = list(raw)
    wanted = [o.name for o in objectives] + list(extra) + list(names)
    return tuple(sorted(set(wanted), key=list(OBJECTIVE_INFO).index))

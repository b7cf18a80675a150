"""Readers of the study file's sections that need more than one line of the loader
(:func:`moo_compress.config._study.load_study_config`): each checks its keys and values and
returns the typed setting, or raises a :class:`~moo_compress.errors.ConfigError` that names
the file, the key path, the allowed values and the bad value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moo_compress._utils.registry import import_target
from moo_compress.data import DATASET_INFO, REQUIRED, task_datasets
from moo_compress.errors import ConfigError, DataError
from moo_compress.models.weights import file_digest, load_state_dict, load_weights
from moo_compress.objectives import OBJECTIVE_INFO, task_objectives
from moo_compress.settings import (
    AdversarialConfig,
    DatasetConfig,
    ObjectiveSpec,
    TrainConfig,
    UserModelConfig,
)
from moo_compress.settings.constraints import Constraint, allowed_kinds, parse_shorthand
from moo_compress.settings.reader import Section, describe, read_settings
from moo_compress.weights.codec import MAGIC

__all__: list[str] = []  # helpers of the loader only


def _train_config(sec: Section, defaults: TrainConfig) -> TrainConfig:
    """``baseline`` or ``finetune``, read from ``TrainConfig``'s fields with ``defaults``;
    fine-tuning's length is the search variable ``finetune_epochs``, not a setting."""
    return read_settings(
        sec, TrainConfig, defaults=defaults, skip=() if defaults.epochs else ("epochs",)
    )


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

    names = task_datasets(task)
    # ``{factory: "package.module:callable"}`` alone names the user's own datasets
    default = "factory" if ds.has("factory") and "factory" in names else names[0]
    name = ds.string("name", default, choices=names)
    info = DATASET_INFO[name]
    extra = ("corrupted_root",) if info.corrupted_folder else ()
    extra += ("num_workers",) if info.streams else ()
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
            module = info.corrupted_folder.partition(":")[0]
            problem = import_target(f"{module}:check_corrupted_folder")(folder)
            if problem:
                raise ds.error("corrupted_root", f"{problem}. Got {describe(corrupted)} instead.")
            corrupted_root = str(folder)
    greyscale = ds.boolean("greyscale", False)
    validation = _validation_fraction(ds)
    num_workers = ds.integer("num_workers", 0, low=0, high=64) if info.streams else 0
    ds.finish()
    return DatasetConfig(
        name=name,
        options=options,
        corrupted_root=corrupted_root,
        greyscale=greyscale,
        validation_fraction=validation,
        num_workers=num_workers,
    )


def _validation_fraction(ds: Section) -> float:
    return ds.number("validation_fraction", 0.2, low=0.05, high=0.5)


def _reference(sec: Section, study_path: Path) -> str:
    value = sec.path_string("reference", "baseline")
    sec.finish()
    if value == "baseline":
        return value

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
    return read_settings(sec, AdversarialConfig)  # defaults and ranges on its fields


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


def _user_model_config(model: Section, study_path: Path) -> UserModelConfig:
    """The ``model`` section of a study of the user's own trained model:
    ``{torchvision: name | builder: "package.module:callable", weights: path, num_classes,
    kwargs, features_layer, mean, std}``."""

    model.expect(
        (
            "torchvision",
            "builder",
            "python",
            "weights",
            "num_classes",
            "kwargs",
            "features_layer",
            "mean",
            "std",
        )
    )
    kinds = [k for k in ("torchvision", "builder", "python") if model.has(k)]
    if len(kinds) > 1:
        raise model.error(
            kinds[1], f"must not be given with model.{kinds[0]} (one model). Got both instead."
        )
    torchvision = model.string("torchvision", None)
    builder = model.string("builder", None)
    python = model.string("python", None)
    if python is not None:
        pass  # a model object given to create_study (its class, for names and messages)
    elif torchvision is not None:
        # torch: only a study with its own model loads it
        from moo_compress.models.user import torchvision_classifiers

        if torchvision not in torchvision_classifiers():
            raise model.error(
                "torchvision",
                "must be a torchvision classification architecture (e.g. resnet18, "
                f"mobilenet_v3_small, efficientnet_b0). Got {describe(torchvision)} instead.",
            )
    elif builder.count(":") != 1 or not all(builder.split(":")):
        raise model.error(
            "builder", f"must be 'package.module:callable'. Got {describe(builder)} instead."
        )
    given = model.path_string("weights")
    weights = (study_path.parent / given).resolve()
    if not weights.is_file():
        raise model.error(
            "weights",
            f"must name the model's weights file (safetensors or a torch.save state dict, "
            f"relative to the study file); {weights} does not exist. Got {describe(given)} instead.",
        )
    num_classes = model.integer("num_classes", None, low=2, high=1_000_000)
    kwargs = model.raw("kwargs", {}) or {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise model.error(
            "kwargs",
            f"must be a mapping of the builder's keyword arguments. Got {describe(kwargs)} instead.",
        )
    features_layer = model.string("features_layer", None)
    norm = {}
    for key in ("mean", "std"):
        value = model.raw(key, None)
        if value is None:
            continue
        if (
            not isinstance(value, list)
            or len(value) not in (1, 3)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or (key == "std" and not all(v > 0 for v in value))
        ):
            raise model.error(
                key,
                f"must be a list of 3 numbers (one per RGB channel{', each > 0' if key == 'std' else ''}). Got {describe(value)} instead.",
            )
        norm[key] = tuple(float(v) for v in value)
    if len(norm) == 1:
        missing = "std" if "mean" in norm else "mean"
        raise model.error(
            missing, "must be given with model.mean and model.std together. Got nothing instead."
        )
    model.finish()
    user = UserModelConfig(
        weights=str(weights),
        weights_sha256=file_digest(weights),
        torchvision=torchvision,
        builder=builder,
        python=python,
        num_classes=num_classes,
        kwargs=dict(kwargs),
        features_layer=features_layer,
        mean=norm.get("mean"),
        std=norm.get("std"),
    )
    _check_weights(model, user)
    return user


def _check_weights(model: Section, user: UserModelConfig) -> None:
    """Build the model and read the weights now (refused if they would run code), and when
    the number of classes is known check that they fit: a bad model fails before anything
    is written."""
    # torch: only a study with its own model loads it
    from moo_compress.models.user import UserModel, builder_model, live_model, torchvision_model

    classes = user.num_classes or user.kwargs.get("num_classes")
    kwargs = {**user.kwargs, "num_classes": int(classes or 2)}
    try:
        if user.python:
            net = live_model(user.weights_sha256)
            if net is None:  # read in another process (status, pareto): the weights only
                load_state_dict(user.weights)
                return
        elif user.torchvision:
            net = torchvision_model(user.torchvision, **kwargs)
        else:
            net = builder_model(user.builder, **kwargs)
        UserModel(net, user.features_layer, mean=user.mean, std=user.std)
    except ConfigError as exc:  # said of the model section of this study file
        raise ConfigError(model.source, model.key(exc.key), exc.message) from None
    except TypeError as exc:  # the builder's keyword arguments
        raise model.error("kwargs", f"the builder refused them ({exc})") from None
    try:
        if classes is None:  # the dataset's: the fit is checked when the baseline is read
            load_state_dict(user.weights)
        else:
            load_weights(net, user.weights)
    except DataError as exc:
        raise model.error("weights", str(exc)) from None

"""The study file: one place that knows every key, its type and its allowed values.

Everything is checked here, before any study, database or cache file is created. The typed
settings are declared in :mod:`moo_compress.settings`, the
readers of the larger sections in :mod:`moo_compress.config._sections`.
"""

from __future__ import annotations

from pathlib import Path

from moo_compress.compression.params import PARAMETERS
from moo_compress.config._fidelity import parse_ladder
from moo_compress.config._sections import (
    _adversarial_config,
    _check_cache_dir,
    _constraints,
    _dataset_config,
    _record,
    _reference,
    _train_config,
    _user_model_config,
)
from moo_compress.corruptions import CORRUPTIONS, SEVERITIES, STANDARD
from moo_compress.corruptions.parameters import AUTO, parameter_names
from moo_compress.drivers import DRIVER_INFO, DRIVERS
from moo_compress.errors import ConfigError
from moo_compress.models import layer_names, task_architectures
from moo_compress.objectives import OBJECTIVE_INFO, TASKS, task_objectives
from moo_compress.settings import (
    BASELINE_TRAINING,
    DIRECTIONS,
    FINETUNING,
    MAX_NAME_CHARS,
    MAX_SEED,
    NO_TRIAL_LIMIT,
    DetectionConfig,
    LatencyConfig,
    ObjectiveSpec,
    ProxyConfig,
    StudyConfig,
    WorkersConfig,
    default_max_failures,
)
from moo_compress.settings.reader import (
    Section,
    check_storage_url,
    describe,
    file_problem,
    load_yaml,
    read_settings,
)
from moo_compress.space import load_space

__all__ = ["TOP_LEVEL_KEYS", "load_study_config"]

TOP_LEVEL_KEYS = (
    "study",
    "dataset",
    "model",
    "baseline",
    "finetune",
    "search_space",
    "objectives",
    "driver",
    "budget",
    "corruptions",
    "robustness",
    "adversarial",
    "proxy",
    "latency",
    "workers",
    "record",
    "constraints",
    "detection",
    "storage",
    "cache_dir",
)


def load_study_config(
    path: str | Path,
    *,
    n_trials: int | None = None,
    seed: int | None = None,
    storage: str | None = None,
) -> StudyConfig:
    """Read and check a study file; command-line overrides are checked the same way.

    The sections are read in the file's documented order, each by its own reader (the
    typed settings by :func:`~moo_compress.settings.reader.read_settings` from their
    dataclass fields); this function keeps the rules that span several sections.

    Args:
        path: The study YAML file.
        n_trials: Overrides ``budget.n_trials`` (``--n-trials``).
        seed: Overrides ``study.seed`` (``--seed``).
        storage: Overrides ``storage`` (``--storage``).

    Returns:
        The validated configuration.

    Raises:
        ConfigError: For any unknown key, wrong type or out-of-range value.
    """
    source = str(path)
    path = Path(path)
    data = load_yaml(path, source, "study")
    top = Section(data if data is not None else {}, source)
    top.expect(TOP_LEVEL_KEYS)  # a misspelt section is reported before what it lacks

    name, seed_value, task, file_seed = _study_section(top.section("study", None), seed)
    dataset = _dataset_config(top.section("dataset"), path, task)
    arch, width, archs, user_model = _model_section(top.section("model"), path, task)
    baseline = _train_config(top.section("baseline"), BASELINE_TRAINING)
    finetune = _train_config(top.section("finetune"), FINETUNING)
    space_path, space = _search_space(top, path, task, arch, width, archs, user_model)
    objectives, unset_bounds = _objectives(top, source, task)
    drv = top.section("driver")
    driver, options = _driver_section(drv, space)
    n_trials_value, max_failures, budget_seconds = _budget(top.section("budget"), n_trials)
    cor = top.section("corruptions")
    names, severities, corruption_images, corruption_parameters, cache_gb = _corruptions(cor, task)

    reference = _reference(top.section("robustness"), path)
    adversarial = _adversarial_config(top.section("adversarial"))
    proxy = read_settings(top.section("proxy"), ProxyConfig)
    latency = read_settings(top.section("latency"), LatencyConfig)
    wk = top.section("workers")
    workers = read_settings(wk, WorkersConfig)
    if workers.grace_seconds <= workers.heartbeat_seconds:
        raise wk.error(
            "grace_seconds",
            f"must be larger than heartbeat_seconds ({workers.heartbeat_seconds}). Got {workers.grace_seconds} instead.",
        )
    constraints = _constraints(top, task, {o.name: o.bounds for o in objectives})
    record = _record(top, objectives, task, extra=[c.objective for c in constraints])
    if DRIVER_INFO[driver].fidelity:  # the ladder names recorded objectives and corruptions
        options.update(
            parse_ladder(
                drv,
                record=tuple(record),
                corruptions=names,
                severities=severities,
                kinds={n: i.kind for n, i in OBJECTIVE_INFO.items()},
                task=task,
                ranked=tuple([o.name for o in objectives] + [c.objective for c in constraints]),
                max_epochs=_max_finetune_epochs(space),
            )
        )
        drv.finish()
    detection = read_settings(top.section("detection"), DetectionConfig)
    needs_standard = {"mce", "relative_mce"} & set(record)
    if needs_standard and not set(names) & set(STANDARD):
        raise cor.error(
            "names",
            f"must include at least one of the 15 standard corruptions when {sorted(needs_standard)[0]} is measured ({', '.join(STANDARD)}). Got {describe(list(names))} instead.",
        )
    storage_value = _storage(top, storage)
    cache_dir = _cache_dir(top, path)
    top.finish()

    return StudyConfig(
        source=source,
        path=path.resolve(),
        name=name,
        seed=seed_value,
        dataset=dataset,
        arch=arch,
        width=width,
        baseline=baseline,
        finetune=finetune,
        space_path=space_path,
        space=space,
        objectives=objectives,
        driver=driver,
        driver_options=options,
        n_trials=n_trials_value,
        max_failures=max_failures,
        budget_seconds=budget_seconds,
        corruptions=names,
        severities=severities,
        storage=storage_value,
        cache_dir=cache_dir,
        reference=reference,
        adversarial=adversarial,
        proxy=proxy,
        latency=latency,
        workers=workers,
        record=record,
        constraints=constraints,
        unset_bounds=unset_bounds,
        task=task,
        detection=detection,
        file_seed=file_seed,
        user_model=user_model,
        corruption_images=corruption_images,
        corruption_parameters=corruption_parameters,
        corruption_cache_gb=cache_gb,
    )


def _study_section(study: Section, seed: int | None) -> tuple[str, int, str, int | None]:
    """``study``: (name, seed, task, the file's seed when ``--seed`` overrides it)."""
    study.expect(("name", "seed", "task", "description"))
    name = study.string("name")
    if len(name) > MAX_NAME_CHARS:  # Optuna stores study names of up to 512 characters
        raise study.error(
            "name",
            f"must be at most {MAX_NAME_CHARS} characters. Got {describe(name)} instead.",
        )
    seed_value = study.integer("seed", 0, low=0, high=MAX_SEED)
    task = study.string("task", "classification", choices=list(TASKS))
    study.raw("description", None)
    study.finish()
    if seed is None:
        return name, seed_value, task, None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(
            "seed", "", f"must be an int in [0, {MAX_SEED}]. Got {describe(seed)} instead."
        )
    return name, seed, task, seed_value


def _model_section(model: Section, path: Path, task: str):
    """``model``: (arch, width, the task's architectures, the user's own model or None)."""
    archs = task_architectures(task)
    if task == "classification" and any(model.has(k) for k in ("torchvision", "builder", "python")):
        # the user's own trained model: the baseline, never retrained
        user_model = _user_model_config(model, path)
        return user_model.name, 1.0, [user_model.name], user_model
    arch = model.string(
        "arch", "small_cnn" if task == "classification" else archs[0], choices=archs
    )
    width = model.number("width", 1.0, low=0.0625, high=16.0)
    model.finish()
    return arch, width, archs, None


def _search_space(top: Section, path: Path, task: str, arch, width, archs, user_model):
    """``search_space``: (the file's path, the space, bound to the model's layers)."""
    space_file = top.path_string("search_space")
    space_path = (path.parent / space_file).resolve()
    problem = file_problem(space_path)
    if problem == "does not exist" or problem == "is a directory, not a file":
        raise top.error(
            "search_space",
            f"must name an existing search-space file (relative to the study file). Got {describe(space_file)} instead; {space_path} {problem}.",
        )
    space = load_space(space_path, source=str(space_path))
    for a in space.archs(arch):
        if a not in archs:
            raise ConfigError(
                str(space_path),
                "variables.arch",
                f"must name {task} architectures, one of {{{', '.join(archs)}}}. Got {describe(a)} instead.",
            )
    if space.per_layer:
        space.bind(layer_names(arch, width, user_model=user_model))
    return space_path, space


def _objectives(
    top: Section, source: str, task: str
) -> tuple[tuple[ObjectiveSpec, ...], frozenset[str]]:
    """``objectives``: (the objectives, the names whose bounds the file does not set)."""
    raw_objectives = top.raw("objectives")
    if not isinstance(raw_objectives, list) or not raw_objectives:
        raise top.error(
            "objectives",
            f"must be a non-empty list of {{name, direction}}. Got {describe(raw_objectives)} instead.",
        )
    objectives: list[ObjectiveSpec] = []
    unset_bounds = set()
    for i, item in enumerate(raw_objectives):
        if isinstance(item, str):
            item = {"name": item}
        sec = Section(item, source, f"objectives[{i}]")
        sec.expect(("name", "direction", "bounds"))
        oname = sec.string("name", choices=task_objectives(task))
        info = OBJECTIVE_INFO[oname]
        direction = sec.string("direction", info.default_direction, choices=DIRECTIONS)
        if not sec.has("bounds"):  # derived from the baseline and constraints (settings.bounds)
            unset_bounds.add(oname)
        bounds = sec.raw("bounds", list(info.bounds))
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
            or not bounds[0] < bounds[1]
        ):
            raise sec.error(
                "bounds",
                f"must be a list [low, high] of two numbers with low < high. Got {describe(bounds)} instead.",
            )
        sec.finish()
        if oname in [o.name for o in objectives]:
            raise sec.error("name", f"must not repeat an objective. Got {describe(oname)} twice.")
        objectives.append(ObjectiveSpec(oname, direction, (float(bounds[0]), float(bounds[1]))))
    return tuple(objectives), frozenset(unset_bounds)


def _max_finetune_epochs(space) -> int:
    """The most fine-tuning epochs a configuration of ``space`` can have."""
    var = space.variables.get("finetune_epochs")
    if var is None:
        return int(PARAMETERS["finetune_epochs"].default)
    if var.type == "fixed":
        return int(var.value)
    if var.type == "categorical":
        return int(max(var.choices))
    return int(var.high)


def _driver_section(drv: Section, space) -> tuple[str, dict]:
    """``driver``: (name, options from its ``DRIVER_INFO`` entry). A multi-fidelity
    driver's ladder is read later (it names recorded objectives and corruptions), so its
    section is finished there."""
    driver = drv.string("name", "pymoo-nsga2", choices=DRIVERS.names())
    options = {}
    for opt, (default, low) in DRIVER_INFO[driver].options.items():
        options[opt] = drv.integer(opt, default, low=low, high=100_000)
    if not DRIVER_INFO[driver].fidelity:
        drv.finish()
    if DRIVER_INFO[driver].needs_grid:
        continuous = [v.name for v in space.searched if v.grid_size() is None]
        if continuous:
            raise drv.error(
                "name",
                f"{driver} needs a finite grid for every searched variable; give {continuous[0]} a step. Got {describe(driver)} instead.",
            )
    return driver, options


def _budget(budget: Section, n_trials: int | None) -> tuple[int, int, float | None]:
    """``budget``, with ``--n-trials``: (n_trials, max_failures, seconds)."""
    budget.expect(("n_trials", "seconds", "max_failures"))
    budget_seconds = budget.number("seconds", None, low=0.0, high=None, low_open=True)
    if budget_seconds is None and not budget.has("n_trials"):
        raise budget.error(
            "n_trials",
            "is required unless budget.seconds is given (the search stops at whichever budget is met first). Got nothing instead.",
        )
    n_trials_value = budget.integer("n_trials", NO_TRIAL_LIMIT, low=1, high=NO_TRIAL_LIMIT)
    max_failures = budget.integer("max_failures", None, low=0, high=NO_TRIAL_LIMIT)
    budget.finish()
    if n_trials is not None:
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            raise ConfigError(
                "n_trials", "", f"must be an int >= 1. Got {describe(n_trials)} instead."
            )
        n_trials_value = n_trials
    if max_failures is None:
        explicit = budget.has("n_trials") or n_trials is not None
        max_failures = default_max_failures(n_trials_value, seconds_only=not explicit)
    return n_trials_value, max_failures, budget_seconds


def _corruptions(
    cor: Section, task: str
) -> tuple[tuple[str, ...], tuple[int, ...], int | None, str, float]:
    """``corruptions``: (names, severities sorted, the search's validation images, the
    parameter set, the cache's gigabytes)."""
    names = cor.raw("names", CORRUPTIONS.names())
    if not isinstance(names, list) or not names:
        raise cor.error(
            "names", f"must be a non-empty list of corruption names. Got {describe(names)} instead."
        )
    for i, cname in enumerate(names):
        if cname not in CORRUPTIONS:
            raise ConfigError(
                cor.source,
                f"{cor.key('names')}[{i}]",
                f"must be one of {{{', '.join(CORRUPTIONS.names())}}}. Got {describe(cname)} instead.",
            )
    if len(set(names)) != len(names):
        raise cor.error("names", f"must not repeat a corruption. Got {describe(names)} instead.")
    severities = cor.raw("severities", list(SEVERITIES))
    if (
        not isinstance(severities, list)
        or not severities
        or any(s not in SEVERITIES or isinstance(s, bool) for s in severities)
        or len(set(severities)) != len(severities)
    ):
        raise cor.error(
            "severities",
            f"must be a non-empty list of distinct ints in [1, 5]. Got {describe(severities)} instead.",
        )
    n_images = cor.integer("n_images", None, low=1, high=100_000_000)
    if n_images is not None and task != "classification":
        raise cor.error(
            "n_images", f"applies to classification studies only. Got {n_images} instead."
        )
    parameters = cor.string("parameters", AUTO, choices=parameter_names())
    cache_gb = cor.number("cache_gb", 50.0, low=0.0, high=1e6)
    cor.finish()
    return tuple(names), tuple(sorted(severities)), n_images, parameters, cache_gb


def _storage(top: Section, storage: str | None) -> str | None:
    """``storage``, or ``--storage`` in its place."""
    storage_value = top.raw("storage", None)
    if storage_value is not None:
        check_storage_url(storage_value, top.source, top.key("storage"))
    if storage is not None:
        storage_value = check_storage_url(storage, "storage")
    return storage_value


def _cache_dir(top: Section, path: Path) -> Path:
    """``cache_dir`` (default: the study file's name with ``.cache``), checked writable."""
    cache = top.raw("cache_dir", None)
    if cache is not None:
        if not isinstance(cache, str) or not cache:
            raise top.error(
                "cache_dir", f"must be a directory path. Got {describe(cache)} instead."
            )
        cache = top.path_string("cache_dir")
    cache_dir = (path.parent / cache).resolve() if cache else path.resolve().with_suffix(".cache")
    _check_cache_dir(top, cache_dir, cache)
    return cache_dir

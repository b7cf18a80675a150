"""The study file: one place that knows every key, its type and its allowed values.

Everything is checked here, before any study, database or cache file is created.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moo_compress._utils.hashing import digest
from moo_compress.config._constraints import Constraint, allowed_kinds, parse_shorthand
from moo_compress.config._reader import Section, describe, file_problem, load_yaml
from moo_compress.corruptions import CORRUPTIONS, SEVERITIES, STANDARD
from moo_compress.data import DATASET_INFO, REQUIRED, task_datasets
from moo_compress.drivers import DRIVER_INFO, DRIVERS
from moo_compress.errors import ConfigError
from moo_compress.models import task_architectures
from moo_compress.objectives import OBJECTIVE_INFO, TASKS, task_objectives

if TYPE_CHECKING:  # the space module reads its files with this package's reader
    from moo_compress.space import SearchSpace

__all__ = [
    "EvaluationSpec",
    "DIRECTIONS",
    "MAX_NAME_CHARS",
    "TOP_LEVEL_KEYS",
    "AdversarialConfig",
    "DatasetConfig",
    "DetectionConfig",
    "LatencyConfig",
    "ObjectiveSpec",
    "ProxyConfig",
    "StudyConfig",
    "TrainConfig",
    "WorkersConfig",
    "load_study_config",
]

DIRECTIONS = ("maximize", "minimize")
MAX_NAME_CHARS = 512
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


@dataclass(frozen=True)
class DatasetConfig:
    """The study's ``dataset`` section.

    Args:
        name: The dataset's name (a ``DATASETS`` entry, or ``shapes``/``coco`` for
            detection).
        options: The loader's keyword arguments (e.g. ``test_fraction`` or ``root``).
        corrupted_root: A CIFAR-C style folder to read corrupted test sets from instead of
            generating them (default None: generate them).
        greyscale: Turn every image (clean and corrupted) into Rec. 601 luma replicated to 3
            channels, as seed 001 does (default False).
        validation_fraction: Share of the training data held out (stratified, from the study
            seed) as the validation split every search objective is measured on; the test
            split is only touched by ``export`` and ``evaluate`` (default 0.2).
    """

    name: str
    options: dict[str, Any]
    corrupted_root: str | None = None
    greyscale: bool = False
    validation_fraction: float = 0.2


@dataclass(frozen=True)
class AdversarialConfig:
    """L-infinity attacks in pixel space [0, 1]; defaults of seed 001 (no random start).

    Args:
        eps: L-infinity radius of FGSM and PGD (default 0.05).
        step: PGD step size (default 0.02).
        steps: PGD steps (default 5).
        random_start: Start PGD at a random point of the eps-ball (default False).
        n_images: Test images attacked, from the first (default None: all).
    """

    eps: float = 0.05
    step: float = 0.02
    steps: int = 5
    random_start: bool = False
    n_images: int | None = None


@dataclass(frozen=True)
class DetectionConfig:
    """Detection post-processing before COCOeval.

    Args:
        score_threshold: Detections scoring less are dropped (default 0.05).
        nms_iou: IoU above which non-maximum suppression drops the weaker box (default 0.5).
        max_detections: Detections kept per image (default 100).
    """

    score_threshold: float = 0.05
    nms_iou: float = 0.5
    max_detections: int = 100


@dataclass(frozen=True)
class LatencyConfig:
    """Latency objective: the smallest block median of ``repeats`` timed forward passes
    after ``warmup`` untimed ones (:mod:`moo_compress.objectives.latency`).

    Args:
        batch_size: Test images per forward pass (default 1).
        warmup: Untimed passes first (default 5).
        repeats: Timed passes (default 30).
        threads: PyTorch and ONNX Runtime threads, pinned while timing so the figure
            repeats on a busy machine (default 1).
    """

    batch_size: int = 1
    warmup: int = 5
    repeats: int = 30
    threads: int = 1


@dataclass(frozen=True)
class WorkersConfig:
    """Several workers on one study: heartbeat period, how long a silent worker's trial
    stays RUNNING before another worker fails and re-queues it, and how often.

    Args:
        heartbeat_seconds: Period of a running trial's heartbeat (default 10).
        grace_seconds: Silence after which a running trial is failed and re-queued
            (default 30; more than ``heartbeat_seconds``).
        max_retry: Times a failed trial's configuration is re-queued (default 3).
    """

    heartbeat_seconds: int = 10
    grace_seconds: int = 30
    max_retry: int = 3

    def heartbeat(self) -> dict[str, int]:
        """The settings as the storage's heartbeat options (``interval``, ``grace``,
        ``max_retry``)."""
        return {
            "interval": self.heartbeat_seconds,
            "grace": self.grace_seconds,
            "max_retry": self.max_retry,
        }


@dataclass(frozen=True)
class ProxyConfig:
    """Clustering proxy (seed 003).

    Args:
        multicut_points: Test images sampled for the multicut graph (default 200).
    """

    multicut_points: int = 200


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer settings for baseline training or per-trial fine-tuning (SGD, cosine).

    Args:
        epochs: Passes over the training data (0 for ``finetune``: the search variable
            ``finetune_epochs`` sets it).
        batch_size: Images per step.
        lr: Initial learning rate.
        momentum: SGD momentum.
        weight_decay: L2 weight decay.
    """

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float


@dataclass(frozen=True)
class ObjectiveSpec:
    """One objective the study optimizes.

    Args:
        name: The objective's name (an ``OBJECTIVE_INFO`` entry).
        direction: ``"maximize"`` or ``"minimize"``.
        bounds: ``(low, high)`` mapped to 0 and 1 when the hypervolume is normalized.
    """

    name: str
    direction: str
    bounds: tuple[float, float]


@dataclass(frozen=True)
class EvaluationSpec:
    """Everything an evaluation depends on: what the search measured with, stored in the
    study and with every exported model, enough to re-measure one.

    Args:
        task: ``classification`` or ``detection``.
        seed: The study seed.
        dataset: The dataset and its split settings.
        detection: Detection post-processing (detection studies).
        arch: The study's architecture.
        width: Channel width multiplier of the architectures.
        baseline: Baseline training settings.
        finetune: Fine-tuning settings.
        corruptions: Corruptions measured.
        severities: Severities measured.
        reference: ``baseline`` or the path of the robustness reference model.
        adversarial: PGD/FGSM settings.
        proxy: Clustering-proxy settings.
        latency: Latency measurement settings.
        record: Objectives measured and stored per trial.
    """

    task: str
    seed: int
    dataset: DatasetConfig
    detection: DetectionConfig
    arch: str
    width: float
    baseline: TrainConfig
    finetune: TrainConfig
    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    reference: str = "baseline"
    adversarial: AdversarialConfig = AdversarialConfig()
    proxy: ProxyConfig = ProxyConfig()
    latency: LatencyConfig = LatencyConfig()
    record: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with studies and exported models (its digest is part of the
        study fingerprint and of every cache key)."""
        return {
            "task": self.task,
            "seed": self.seed,
            "dataset": asdict(self.dataset),
            "detection": asdict(self.detection),
            "arch": self.arch,
            "width": self.width,
            "baseline": asdict(self.baseline),
            "finetune": asdict(self.finetune),
            "corruptions": list(self.corruptions),
            "severities": list(self.severities),
            "reference": self.reference,
            "adversarial": asdict(self.adversarial),
            "proxy": asdict(self.proxy),
            "latency": asdict(self.latency),
            "record": list(self.record),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvaluationSpec:
        """Read a stored spec; sections or keys it lacks take today's defaults.

        Args:
            d: A dict as written by :meth:`to_dict`.
        """

        def section(kind, key):
            return kind(**(d.get(key) or {}))

        return cls(
            task=d.get("task", "classification"),
            seed=int(d["seed"]),
            dataset=DatasetConfig(**d["dataset"]),
            detection=section(DetectionConfig, "detection"),
            arch=d["arch"],
            width=d["width"],
            baseline=TrainConfig(**d["baseline"]),
            finetune=TrainConfig(**d["finetune"]),
            corruptions=tuple(d["corruptions"]),
            severities=tuple(d["severities"]),
            reference=d.get("reference", "baseline"),
            adversarial=section(AdversarialConfig, "adversarial"),
            proxy=section(ProxyConfig, "proxy"),
            latency=section(LatencyConfig, "latency"),
            record=tuple(d.get("record") or ()),
        )


@dataclass(frozen=True)
class StudyConfig:
    """A validated study file.

    ``fingerprint`` identifies everything that changes results (not budget or storage), so
    a resume with a changed file is refused instead of mixing incompatible trials.

    Args:
        source: The study file as given (for messages).
        path: The study file, resolved.
        name: The study's name.
        seed: The study's seed.
        dataset: The ``dataset`` section.
        arch: The architecture (``model.arch``).
        width: The architecture's width multiplier (``model.width``).
        baseline: Training of the uncompressed baseline.
        finetune: Fine-tuning of each compressed model.
        space_path: The search-space file, resolved.
        space: The search space read from it (bound to the architecture's layers when it
            has per-layer variables).
        objectives: The optimized objectives, in order.
        driver: The driver's name.
        driver_options: The driver's options (those of its ``DRIVER_INFO`` entry).
        n_trials: Completed trials to reach (``budget.n_trials``; 1,000,000 when only
            ``budget.seconds`` is given).
        max_failures: The search stops when more trials than this have failed
            (``budget.max_failures``; the loader's default is ``max(10, n_trials)``).
        corruptions: The corruptions evaluated.
        severities: Their severities, ascending.
        storage: The Optuna storage URL (None: :meth:`default_storage`).
        cache_dir: Folder of baselines, corrupted sets and artifacts.
        reference: The robustness reference: ``"baseline"`` (default) or a stored model's
            path.
        adversarial: Attack settings.
        proxy: Clustering-proxy settings.
        task: ``"classification"`` (default) or ``"detection"``.
        detection: Detection post-processing.
        latency: Latency settings.
        workers: Settings of several workers on one study.
        record: Every objective measured and stored per trial (the optimized ones
            included), in table order.
        budget_seconds: Evaluation seconds to spend (``budget.seconds``: the summed wall
            time of every evaluation, complete or failed, by every worker; None: no
            limit). The search stops at whichever budget is met first.
        constraints: Bounds a model must meet to enter the archive (``constraints``
            section; :class:`~moo_compress.config._constraints.Constraint`).
    """

    source: str
    path: Path
    name: str
    seed: int
    dataset: DatasetConfig
    arch: str
    width: float
    baseline: TrainConfig
    finetune: TrainConfig
    space_path: Path
    space: SearchSpace = field(repr=False)
    objectives: tuple[ObjectiveSpec, ...]
    driver: str
    driver_options: dict[str, Any]
    n_trials: int
    max_failures: int
    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    storage: str | None
    cache_dir: Path
    reference: str = "baseline"
    adversarial: AdversarialConfig = AdversarialConfig()
    proxy: ProxyConfig = ProxyConfig()
    task: str = "classification"
    detection: DetectionConfig = DetectionConfig()
    latency: LatencyConfig = LatencyConfig()
    workers: WorkersConfig = WorkersConfig()
    record: tuple[str, ...] = ()
    budget_seconds: float | None = None
    constraints: tuple[Constraint, ...] = ()

    @property
    def objective_names(self) -> list[str]:
        """The optimized objectives' names, in order."""
        return [o.name for o in self.objectives]

    @property
    def directions(self) -> list[str]:
        """The optimized objectives' directions, in order."""
        return [o.direction for o in self.objectives]

    def default_storage(self) -> str:
        """The SQLite URL used when no storage is given: ``<study>.db`` next to the file."""
        return f"sqlite:///{self.path.with_suffix('.db')}"

    def evaluation(self) -> EvaluationSpec:
        """The typed evaluation spec of this study."""
        return EvaluationSpec(
            task=self.task,
            seed=self.seed,
            dataset=self.dataset,
            detection=self.detection,
            arch=self.arch,
            width=self.width,
            baseline=self.baseline,
            finetune=self.finetune,
            corruptions=tuple(self.corruptions),
            severities=tuple(self.severities),
            reference=self.reference,
            adversarial=self.adversarial,
            proxy=self.proxy,
            latency=self.latency,
            record=tuple(self.record),
        )

    def evaluation_spec(self) -> dict[str, Any]:
        """What an evaluation depends on, as stored JSON (:meth:`evaluation` as a dict)."""
        return self.evaluation().to_dict()

    def settings(self) -> dict[str, Any]:
        """Everything a study's identity covers: evaluation, space, objectives, driver and
        constraints (only when there are some, so studies made before constraints existed
        keep their fingerprint)."""
        out = {
            "evaluation": self.evaluation_spec(),
            "space": self.space.describe(),
            "objectives": [asdict(o) for o in self.objectives],
            "driver": self.driver,
            "driver_options": self.driver_options,
        }
        if self.constraints:
            out["constraints"] = [c.to_dict() for c in self.constraints]
        return out

    def fingerprint(self) -> str:
        """Digest of :meth:`settings`: a resumed study must have the same."""
        return digest(self.settings())


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


def load_study_config(
    path: str | Path,
    *,
    n_trials: int | None = None,
    seed: int | None = None,
    storage: str | None = None,
) -> StudyConfig:
    """Read and check a study file; command-line overrides are checked the same way.

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

    study = top.section("study", None)
    study.expect(("name", "seed", "task", "description"))
    name = study.string("name")
    if len(name) > MAX_NAME_CHARS:  # Optuna stores study names of up to 512 characters
        raise study.error(
            "name",
            f"must be at most {MAX_NAME_CHARS} characters. Got {describe(name)} instead.",
        )
    seed_value = study.integer("seed", 0, low=0, high=2**31 - 1)
    task = study.string("task", "classification", choices=list(TASKS))
    study.raw("description", None)
    study.finish()
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
            raise ConfigError(
                "--seed", "", f"must be an int in [0, {2**31 - 1}]. Got {describe(seed)} instead."
            )
        seed_value = seed

    dataset = _dataset_config(top.section("dataset"), path, task)

    model = top.section("model")
    archs = task_architectures(task)
    arch = model.string(
        "arch", "small_cnn" if task == "classification" else archs[0], choices=archs
    )
    width = model.number("width", 1.0, low=0.0625, high=16.0)
    model.finish()

    baseline = _train_config(
        top.section("baseline"),
        {"epochs": 20, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
    )
    finetune = _train_config(
        top.section("finetune"),
        {"epochs": 0, "batch_size": 64, "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0},
    )

    space_file = top.path_string("search_space")
    space_path = (path.parent / space_file).resolve()
    problem = file_problem(space_path)
    if problem == "does not exist" or problem == "is a directory, not a file":
        raise top.error(
            "search_space",
            f"must name an existing search-space file (relative to the study file). Got {describe(space_file)} instead; {space_path} {problem}.",
        )
    from moo_compress.space import load_space

    space = load_space(space_path, source=str(space_path))
    for a in space.archs(arch):
        if a not in archs:
            raise ConfigError(
                str(space_path),
                "variables.arch",
                f"must name {task} architectures, one of {{{', '.join(archs)}}}. Got {describe(a)} instead.",
            )
    if space.per_layer:
        from moo_compress.models import layer_names

        space.bind(layer_names(arch, width))

    raw_objectives = top.raw("objectives")
    if not isinstance(raw_objectives, list) or not raw_objectives:
        raise top.error(
            "objectives",
            f"must be a non-empty list of {{name, direction}}. Got {describe(raw_objectives)} instead.",
        )
    objectives = []
    for i, item in enumerate(raw_objectives):
        if isinstance(item, str):
            item = {"name": item}
        sec = Section(item, source, f"objectives[{i}]")
        sec.expect(("name", "direction", "bounds"))
        oname = sec.string("name", choices=task_objectives(task))
        info = OBJECTIVE_INFO[oname]
        direction = sec.string("direction", info.default_direction, choices=DIRECTIONS)
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

    drv = top.section("driver")
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

    budget = top.section("budget")
    budget.expect(("n_trials", "seconds", "max_failures"))
    budget_seconds = budget.number("seconds", None, low=0.0, high=None, low_open=True)
    if budget_seconds is None and not budget.has("n_trials"):
        raise budget.error(
            "n_trials",
            "is required unless budget.seconds is given (the search stops at whichever budget is met first). Got nothing instead.",
        )
    n_trials_value = budget.integer("n_trials", 1_000_000, low=1, high=1_000_000)
    max_failures = budget.integer("max_failures", None, low=0, high=1_000_000)
    budget.finish()
    if n_trials is not None:
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            raise ConfigError(
                "--n-trials", "", f"must be an int >= 1. Got {describe(n_trials)} instead."
            )
        n_trials_value = n_trials
    if max_failures is None:
        explicit = budget.has("n_trials") or n_trials is not None
        max_failures = max(10, n_trials_value) if explicit else 100

    cor = top.section("corruptions")
    names = cor.raw("names", CORRUPTIONS.names())
    if not isinstance(names, list) or not names:
        raise cor.error(
            "names", f"must be a non-empty list of corruption names. Got {describe(names)} instead."
        )
    for i, cname in enumerate(names):
        if cname not in CORRUPTIONS:
            raise ConfigError(
                source,
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
    cor.finish()

    reference = _reference(top.section("robustness"), path)
    adversarial = _adversarial_config(top.section("adversarial"))
    proxy_sec = top.section("proxy")
    proxy = ProxyConfig(
        multicut_points=proxy_sec.integer(
            "multicut_points", ProxyConfig.multicut_points, low=10, high=2000
        )
    )
    proxy_sec.finish()
    lat = top.section("latency")
    latency = LatencyConfig(
        batch_size=lat.integer("batch_size", LatencyConfig.batch_size, low=1, high=4096),
        warmup=lat.integer("warmup", LatencyConfig.warmup, low=0, high=1000),
        repeats=lat.integer("repeats", LatencyConfig.repeats, low=1, high=10000),
        threads=lat.integer("threads", LatencyConfig.threads, low=1, high=1024),
    )
    lat.finish()
    wk = top.section("workers")
    workers = WorkersConfig(
        heartbeat_seconds=wk.integer("heartbeat_seconds", 10, low=1, high=3600),
        grace_seconds=wk.integer("grace_seconds", 30, low=2, high=86400),
        max_retry=wk.integer("max_retry", 3, low=0, high=100),
    )
    wk.finish()
    if workers.grace_seconds <= workers.heartbeat_seconds:
        raise wk.error(
            "grace_seconds",
            f"must be larger than heartbeat_seconds ({workers.heartbeat_seconds}). Got {workers.grace_seconds} instead.",
        )
    constraints = _constraints(top, task, {o.name: o.bounds for o in objectives})
    record = _record(top, objectives, task, extra=[c.objective for c in constraints])
    if DRIVER_INFO[driver].fidelity:  # the ladder names recorded objectives and corruptions
        from moo_compress.config._fidelity import parse_ladder

        options.update(
            parse_ladder(
                drv,
                record=tuple(record),
                corruptions=tuple(names),
                severities=tuple(sorted(severities)),
                kinds={n: i.kind for n, i in OBJECTIVE_INFO.items()},
                task=task,
                ranked=tuple([o.name for o in objectives] + [c.objective for c in constraints]),
            )
        )
        drv.finish()
    det = top.section("detection")
    detection = DetectionConfig(
        score_threshold=det.number(
            "score_threshold", DetectionConfig.score_threshold, low=0.0, high=1.0
        ),
        nms_iou=det.number("nms_iou", DetectionConfig.nms_iou, low=0.0, high=1.0, low_open=True),
        max_detections=det.integer(
            "max_detections", DetectionConfig.max_detections, low=1, high=10000
        ),
    )
    det.finish()
    needs_standard = {"mce", "relative_mce"} & set(record)
    if needs_standard and not set(names) & set(STANDARD):
        raise cor.error(
            "names",
            f"must include at least one of the 15 standard corruptions when {sorted(needs_standard)[0]} is measured ({', '.join(STANDARD)}). Got {describe(names)} instead.",
        )

    storage_value = top.raw("storage", None)
    if storage_value is not None and (
        not isinstance(storage_value, str) or "://" not in storage_value
    ):
        raise top.error(
            "storage",
            f"must be an Optuna storage URL such as sqlite:///path.db. Got {describe(storage_value)} instead.",
        )
    if storage is not None:
        if "://" not in storage:
            raise ConfigError(
                "--storage",
                "",
                f"must be an Optuna storage URL such as sqlite:///path.db or postgresql://host/db. Got {describe(storage)} instead.",
            )
        storage_value = storage

    cache = top.raw("cache_dir", None)
    if cache is not None:
        if not isinstance(cache, str) or not cache:
            raise top.error(
                "cache_dir", f"must be a directory path. Got {describe(cache)} instead."
            )
        cache = top.path_string("cache_dir")
    cache_dir = (path.parent / cache).resolve() if cache else path.resolve().with_suffix(".cache")
    _check_cache_dir(top, cache_dir, cache)
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
        objectives=tuple(objectives),
        driver=driver,
        driver_options=options,
        n_trials=n_trials_value,
        max_failures=max_failures,
        budget_seconds=budget_seconds,
        corruptions=tuple(names),
        severities=tuple(sorted(severities)),
        storage=storage_value,
        cache_dir=cache_dir,
        reference=reference,
        adversarial=adversarial,
        proxy=proxy,
        latency=latency,
        workers=workers,
        record=record,
        constraints=constraints,
        task=task,
        detection=detection,
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

"""Every setting of a study, with its default, stated once: the typed configuration that
the loader (:func:`moo_compress.config.load_study_config`) fills from the study file and that everything
downstream receives (or its ``asdict``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from moo_compress._utils.hashing import digest
from moo_compress.settings.constraints import Constraint

__all__ = [
    "BASELINE_TRAINING",
    "DIRECTIONS",
    "FINETUNING",
    "MAX_NAME_CHARS",
    "MAX_SEED",
    "OPTIMIZERS",
    "NO_TRIAL_LIMIT",
    "AdversarialConfig",
    "DatasetConfig",
    "DetectionConfig",
    "EvaluationSpec",
    "LatencyConfig",
    "ObjectiveSpec",
    "ProxyConfig",
    "StudyConfig",
    "TrainConfig",
    "UserModelConfig",
    "WorkersConfig",
    "default_max_failures",
    "setting",
]

DIRECTIONS = ("maximize", "minimize")


def setting(
    default: Any,
    kind: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: tuple[str, ...] = (),
) -> Any:
    """A setting's default, type and range, stated once on its dataclass field; the study
    file's section is read from them by :func:`moo_compress.settings.reader.read_settings`.

    Args:
        default: The default value.
        kind: ``"int"``, ``"float"``, ``"bool"``, ``"choice"`` (one of ``choices``) or
            ``"target"`` (a ``"package.module:callable"`` of the user's code, imported when
            the section is read).
        low: Smallest allowed value (default None: no bound).
        high: Largest allowed value (default None: no bound).
        low_open: Exclude ``low`` itself (default False).
        choices: The allowed values of a ``"choice"`` (default: none).
    """
    meta = {"kind": kind, "low": low, "high": high, "low_open": low_open, "choices": choices}
    return field(default=default, metadata=meta)


MAX_NAME_CHARS = 512
#: The largest ``study.seed`` (and ``--seed``): seeds are 31-bit, as NumPy and PyTorch take.
MAX_SEED = 2**31 - 1
#: ``budget.n_trials`` when only ``budget.seconds`` is given (and its largest value).
NO_TRIAL_LIMIT = 1_000_000


def default_max_failures(n_trials: int, seconds_only: bool) -> int:
    """``budget.max_failures`` when the study file does not set it: a tenth of the trials
    to complete (rounded up), at least 3 (a 32-trial study stops at its 5th failure); 10
    for a budget in seconds only (no count of trials to take a tenth of).

    Failures are evaluations that raised or produced NaN: a few are a configuration the
    pipeline cannot build; many mean something is broken (the data, memory), and a first
    run should say so early rather than spend its budget failing.

    Args:
        n_trials: ``budget.n_trials``.
        seconds_only: Only ``budget.seconds`` was given.
    """
    if seconds_only:
        return 10
    return max(3, -(-n_trials // 10))


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
        num_workers: Processes decoding images, for datasets read from image files (default
            0: the search's own process). Not part of the study's identity.
    """

    name: str
    options: dict[str, Any]
    corrupted_root: str | None = None
    greyscale: bool = False
    validation_fraction: float = 0.2
    num_workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The section as stored with a study and digested into cache keys: without
        ``num_workers``, which changes how fast the images are read, not which."""
        out = asdict(self)
        del out["num_workers"]
        return out


@dataclass(frozen=True)
class UserModelConfig:
    """The user's own trained model (``model: {torchvision | builder, weights, ...}``): the
    baseline, measured and never retrained.

    Args:
        weights: Its weights file (safetensors or a ``torch.save`` state dict), resolved.
        weights_sha256: The file's digest (part of the study fingerprint: a changed model
            is refused on resume).
        torchvision: A torchvision classification architecture's name (None: ``builder``).
        builder: ``"package.module:callable"`` of the user's builder (None:
            ``torchvision``).
        python: The class (``module.Class``) of a model passed to the Python API as an
            object (None: ``torchvision`` or ``builder``); only the process holding the
            object can rebuild it.
        num_classes: Classes its output has (default None: the dataset's).
        kwargs: More keyword arguments of the builder (default: none).
        features_layer: The layer whose input is the penultimate representation (default
            None: the last Linear layer).
        mean: Per-channel mean the model's input is normalised with (default None: none;
            pixels in [0, 1] enter the model).
        std: Per-channel standard deviation of that normalisation (default None: none).
    """

    weights: str
    weights_sha256: str
    torchvision: str | None = None
    builder: str | None = None
    python: str | None = None
    num_classes: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    features_layer: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def name(self) -> str:
        """The architecture's name in trials and reports: ``torchvision:<name>`` or
        ``builder:<package.module:callable>``."""
        if self.python:
            return f"python:{self.python}"
        return f"torchvision:{self.torchvision}" if self.torchvision else f"builder:{self.builder}"

    def arch_spec(self, num_classes: int) -> dict[str, Any]:
        """How to rebuild it, as stored in packed artifacts
        (:func:`moo_compress.models.build_model`).

        Args:
            num_classes: The dataset's classes (used when ``num_classes`` is None).
        """
        kwargs = {"num_classes": self.num_classes or num_classes, **self.kwargs}
        spec: dict[str, Any] = {"name": self.name, "kwargs": kwargs}
        if self.python:
            spec["python"] = self.weights_sha256
        elif self.torchvision:
            spec["torchvision"] = self.torchvision
        else:
            spec["builder"] = self.builder
        for key in ("features_layer", "mean", "std"):
            value = getattr(self, key)
            if value is not None:
                spec[key] = list(value) if isinstance(value, tuple) else value
        return spec

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UserModelConfig:
        """Read a stored one.

        Args:
            d: A dict as ``dataclasses.asdict`` writes it.
        """
        d = dict(d)
        for key in ("mean", "std"):
            if d.get(key) is not None:
                d[key] = tuple(float(v) for v in d[key])
        return cls(**d)


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

    eps: float = setting(0.05, "float", low=0.0, high=1.0, low_open=True)
    step: float = setting(0.02, "float", low=0.0, high=1.0, low_open=True)
    steps: int = setting(5, "int", low=1, high=1000)
    random_start: bool = setting(False, "bool")
    n_images: int | None = setting(None, "int", low=1, high=10_000_000)


@dataclass(frozen=True)
class DetectionConfig:
    """Detection post-processing before COCOeval.

    Args:
        score_threshold: Detections scoring less are dropped (default 0.05).
        nms_iou: IoU above which non-maximum suppression drops the weaker box (default 0.5).
        max_detections: Detections kept per image (default 100).
    """

    score_threshold: float = setting(0.05, "float", low=0.0, high=1.0)
    nms_iou: float = setting(0.5, "float", low=0.0, high=1.0, low_open=True)
    max_detections: int = setting(100, "int", low=1, high=10000)


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

    batch_size: int = setting(1, "int", low=1, high=4096)
    warmup: int = setting(5, "int", low=0, high=1000)
    repeats: int = setting(30, "int", low=1, high=10000)
    threads: int = setting(1, "int", low=1, high=1024)


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

    heartbeat_seconds: int = setting(10, "int", low=1, high=3600)
    grace_seconds: int = setting(30, "int", low=2, high=86400)
    max_retry: int = setting(3, "int", low=0, high=100)

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

    multicut_points: int = setting(200, "int", low=10, high=2000)


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer settings for baseline training or per-trial fine-tuning (SGD or AdamW with
    a cosine schedule, or the user's own optimizer and step).

    Args:
        epochs: Passes over the training data (0 for ``finetune``: the search variable
            ``finetune_epochs`` sets it).
        batch_size: Images per step.
        lr: Initial learning rate.
        momentum: SGD momentum (not used by AdamW).
        weight_decay: Weight decay (L2 for SGD, decoupled for AdamW).
        optimizer: ``"sgd"`` (default) or ``"adamw"``.
        step: The user's training step, ``"package.module:callable"``: ``step(model,
            (images, labels)) -> loss``, images float in [0, 1] on the model's device
            (default None: the task's loss on the model's outputs).
        optimizer_factory: The user's optimizer, ``"package.module:callable"``:
            ``factory(params) -> torch.optim.Optimizer`` (default None: ``optimizer`` with
            ``lr``, ``momentum`` and ``weight_decay``). The cosine schedule applies to it.
    """

    epochs: int = setting(0, "int", low=1, high=1000)
    batch_size: int = setting(64, "int", low=1, high=65536)
    lr: float = setting(0.01, "float", low=0.0, high=10.0, low_open=True)
    momentum: float = setting(0.9, "float", low=0.0, high=0.999)
    weight_decay: float = setting(0.0, "float", low=0.0, high=1.0)
    optimizer: str = setting("sgd", "choice", choices=("sgd", "adamw"))
    step: str | None = setting(None, "target")
    optimizer_factory: str | None = setting(None, "target")

    def to_dict(self) -> dict[str, Any]:
        """The settings as stored with a study; the optimizer choices only where they differ
        from the defaults (studies made before they existed keep their fingerprint)."""
        out = asdict(self)
        for name in ("optimizer", "step", "optimizer_factory"):
            if out[name] == TrainConfig.__dataclass_fields__[name].default:
                del out[name]
        return out


#: The optimizers of the ``baseline`` and ``finetune`` sections' ``optimizer``.
OPTIMIZERS = TrainConfig.__dataclass_fields__["optimizer"].metadata["choices"]
#: The ``baseline`` section's defaults: training a built-in architecture from scratch.
BASELINE_TRAINING = TrainConfig(epochs=20, lr=0.05, weight_decay=5e-4)
#: The ``finetune`` section's defaults, the fields' (its length is the search variable
#: ``finetune_epochs``, so ``epochs`` is 0 and not read).
FINETUNING = TrainConfig()


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
        user_model: The user's own model, the baseline (default None: ``arch`` is a
            built-in architecture trained here).
        corruption_images: Validation images the search measures on (``corruptions.n_images``;
            a stratified, seeded subset, corrupted alone; default None: all). ``export`` and
            ``evaluate`` measure the whole test split.
        corruption_parameters: ``corruptions.parameters``: the published set of corruption
            parameters, or ``auto`` (the set nearest to the image size; default).
        corruption_cache_gb: ``corruptions.cache_gb``: most gigabytes the corrupted
            validation sets may take in the cache; larger ones are made anew at each
            measurement (the same values; not part of the study's identity; default 50).
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
    user_model: UserModelConfig | None = None
    corruption_images: int | None = None
    corruption_parameters: str = "auto"
    corruption_cache_gb: float = 50.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with studies and exported models (its digest is part of the
        study fingerprint and of every cache key). ``user_model``, ``corruption_images`` and
        ``corruption_parameters`` are written only when set, so the specs of studies without
        them are unchanged."""
        out = {
            "task": self.task,
            "seed": self.seed,
            "dataset": self.dataset.to_dict(),
            "detection": asdict(self.detection),
            "arch": self.arch,
            "width": self.width,
            "baseline": self.baseline.to_dict(),
            "finetune": self.finetune.to_dict(),
            "corruptions": list(self.corruptions),
            "severities": list(self.severities),
            "reference": self.reference,
            "adversarial": asdict(self.adversarial),
            "proxy": asdict(self.proxy),
            "latency": asdict(self.latency),
            "record": list(self.record),
        }
        if self.user_model is not None:
            out["user_model"] = asdict(self.user_model)
        if self.corruption_images is not None:
            out["corruption_images"] = self.corruption_images
        if self.corruption_parameters != "auto":
            out["corruption_parameters"] = self.corruption_parameters
        return out

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
            corruption_images=d.get("corruption_images"),
            corruption_parameters=d.get("corruption_parameters", "auto"),
            user_model=(
                UserModelConfig.from_dict(d["user_model"]) if d.get("user_model") else None
            ),
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
        n_trials: Completed trials to reach (``budget.n_trials``; :data:`NO_TRIAL_LIMIT`
            when only ``budget.seconds`` is given).
        max_failures: The search stops when more trials than this have failed
            (``budget.max_failures``; default :func:`default_max_failures`).
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
            section; :class:`~moo_compress.settings.constraints.Constraint`).
        unset_bounds: The optimized objectives whose study file sets no ``bounds``: their
            hypervolume bounds are derived from the baseline and the constraints when the
            study is created (:mod:`moo_compress.settings.bounds`). Default empty: every
            objective's ``bounds`` are used as given.
        file_seed: The study file's own ``study.seed`` when ``--seed`` was given (None:
            the seed is the file's). A study searched with another seed than its file's
            stores both, so that later commands reading the unchanged file use the seed it
            was searched with (:func:`moo_compress.storage.as_searched`).
        user_model: The user's own model (``model: {torchvision | builder, weights}``;
            default None: ``arch`` is a built-in architecture trained here).
        corruption_images: ``corruptions.n_images`` (default None: every validation image;
            see :class:`EvaluationSpec`).
        corruption_parameters: ``corruptions.parameters`` (default ``auto``; see
            :class:`EvaluationSpec`).
        corruption_cache_gb: ``corruptions.cache_gb`` (default 50; see
            :class:`EvaluationSpec`).
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
    # a moo_compress.space.SearchSpace, not imported even for typing: the space sits with
    # the techniques, whose parameter table names every criterion module
    space: Any = field(repr=False)
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
    unset_bounds: frozenset[str] = frozenset()
    file_seed: int | None = None
    user_model: UserModelConfig | None = None
    corruption_images: int | None = None
    corruption_parameters: str = "auto"
    corruption_cache_gb: float = 50.0

    @property
    def objective_names(self) -> list[str]:
        """The optimized objectives' names, in order."""
        return [o.name for o in self.objectives]

    @property
    def directions(self) -> list[str]:
        """The optimized objectives' directions, in order."""
        return [o.direction for o in self.objectives]

    @property
    def seconds_only(self) -> bool:
        """Whether the budget is ``budget.seconds`` alone (no count of trials)."""
        return self.budget_seconds is not None and self.n_trials >= NO_TRIAL_LIMIT

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
            user_model=self.user_model,
            corruption_images=self.corruption_images,
            corruption_parameters=self.corruption_parameters,
            corruption_cache_gb=self.corruption_cache_gb,
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

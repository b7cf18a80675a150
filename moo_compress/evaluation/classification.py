"""The classification evaluator: baseline -> technique chain -> packed artifact -> objectives.

A :class:`ClassificationEvaluator` is prepared once per process (data, cached baseline,
cached corrupted test sets, the reference errors for mCE) and then evaluates one configuration
at a time. Every objective is measured on the model *loaded back from its packed artifact*,
so what is recorded is exactly what ``export`` ships and ``evaluate`` re-measures. Baselines
and the facts measured on them live in a :class:`~moo_compress.evaluation.baselines.BaselineCache`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress._utils.hashing import derived_seed, digest
from moo_compress._utils.io import take_rows
from moo_compress._utils.registry import import_target
from moo_compress.artifact import decode_model
from moo_compress.compression.pipeline import Build, build, technique_name
from moo_compress.corruptions import suite as corruption_suite
from moo_compress.corruptions.parameters import resolve_parameters
from moo_compress.corruptions.suite import CorruptedOnTheFly, cached_corrupted_set
from moo_compress.data import DATASET_INFO, DATASETS
from moo_compress.data.base import (
    SPLITS,
    greyscale,
    greyscale_dataset,
    select_split,
    stratified_rows,
)
from moo_compress.errors import ArtifactError, DataError
from moo_compress.evaluation.base import ModelEvaluator
from moo_compress.evaluation.baselines import BaselineCache
from moo_compress.evaluation.measurements import ModelMeasurements
from moo_compress.evaluation.results import Reference, TrialResult, trial_seed
from moo_compress.models import ARCHITECTURES, build_model
from moo_compress.models.weights import load_weights
from moo_compress.objectives import OBJECTIVES
from moo_compress.objectives.base import ObjectiveResult, UndefinedObjective
from moo_compress.settings import EvaluationSpec
from moo_compress.training import accuracy, predict, train
from moo_compress.weights.codec import deflate_size, encode_model, model_bytes

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "BASELINE_VERSION",
    "ClassificationEvaluator",
    "EvaluationSet",
    "Reference",
    "TrialResult",
    "trial_seed",
]

# Bump when training or evaluation code changes in a way that invalidates cached baselines.
BASELINE_VERSION = 1

# Image sizes the CIFAR-10-C parameters note was given for in this process.
_SAID_SIZES: set[tuple[tuple[int, ...], str]] = set()


@dataclasses.dataclass(frozen=True)
class EvaluationSet:
    """The images an evaluator measures on: its split's data and the corrupted copies of
    the evaluation images.

    Args:
        dataset: The split (``x_train``, ``y_train``, ``x_test``, ``y_test``,
            ``num_classes``, ``name``).
        corrupted: Corruption -> the evaluation images at every severity, severity 1 first.
        images: The size of the image subset this set holds (default None: the whole split).
        task_data: What a task's evaluator keeps besides (detection: its COCO data).
    """

    dataset: Any
    corrupted: dict[str, np.ndarray]
    images: int | None = None
    task_data: Any = None


class ClassificationEvaluator(ModelEvaluator):
    """Prepared evaluation of a classification study.

    Each architecture a configuration may name (``arch``, else the study's) gets its own
    cached baseline and its own reference: CR and mCE of a model are relative to the
    baseline of its architecture, as in seed 000.

    Args:
        spec: ``StudyConfig.evaluation_spec()`` (also stored with exported models).
        cache_dir: Where the baseline and corrupted test sets are cached.
        reference: A stored reference of the study's architecture (when re-measuring an
            exported model); computed from the baseline when omitted.
        log: Callable for progress messages (default None: silent).
        split: ``"validation"`` (default: what the search sees, held out from the training
            data) or ``"test"`` (only ``export`` and ``evaluate`` measure on it). Both train
            on the same rows, so a configuration builds the same model for either.
        evaluation_set: The images to measure on (default None: load the split's data and
            its corrupted copies; :meth:`at_fidelity` passes a subset).
        baselines: The baseline cache (default None: a new one; :meth:`at_fidelity` shares
            its evaluator's).
    """

    measurements_class: type[ModelMeasurements] = ModelMeasurements
    quality = "accuracy"  # the objective a rebuilt or re-measured model must reproduce
    images: int | None = None  # a multi-fidelity rung's image subset (see at_fidelity)

    def __init__(
        self,
        spec: EvaluationSpec | dict[str, Any],
        cache_dir: Path,
        *,
        reference: dict[str, Any] | None = None,
        log: Callable[[str], None] | None = None,
        split: str = "validation",
        evaluation_set: EvaluationSet | None = None,
        baselines: BaselineCache | None = None,
    ) -> None:

        if not isinstance(spec, EvaluationSpec):  # stored JSON (study, exported model)
            spec = EvaluationSpec.from_dict(spec)

        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}. Got {split!r} instead.")
        self.split = split
        self.spec = spec
        self.seed = int(spec.seed)
        self.cache_dir = Path(cache_dir)
        self.log = log or (lambda msg: None)
        self.corruptions = list(spec.corruptions)
        self.severities = list(spec.severities)
        t0 = time.perf_counter()
        if evaluation_set is not None:  # a fidelity view: its study's images and set
            self.corruption_parameters = self._corruption_parameters(
                evaluation_set.dataset.x_test, say=False
            )
        self.evaluation_set = evaluation_set or self._load_data()
        self.dataset = self.evaluation_set.dataset
        self.corrupted = self.evaluation_set.corrupted
        self.images = self.evaluation_set.images
        self._data_seconds = time.perf_counter() - t0
        self.baselines = baselines or BaselineCache(self.log, builders=self.builders)
        self.arch = self.arch_spec(spec.arch)
        self._references: dict[str, Reference] = {}
        self._baseline_values: dict[str, dict[str, float]] = {}
        self._fidelity_views: dict[str, ClassificationEvaluator] = {}
        if reference is not None:
            self._references[self.arch["name"]] = Reference.from_dict(reference)
        if evaluation_set is None:  # a study's evaluator is ready once built (not its views)
            _ = self.reference

    def _corruption_parameters(self, x: np.ndarray, *, say: bool) -> str:
        """The corruption parameter set for test images ``x`` (``corruptions.parameters``,
        ``auto``: by their size); with ``say``, a note once per process, size and set when
        the set is not made for that size (``export`` builds two evaluators: one note)."""
        if x.ndim != 4:
            return "cifar"
        name, note = resolve_parameters(self.spec.corruption_parameters, *x.shape[1:3])
        if say and note and self.corruptions and (x.shape[1:3], name) not in _SAID_SIZES:
            _SAID_SIZES.add((x.shape[1:3], name))
            self.log(note)
        return name

    @property
    def setup_seconds(self) -> dict[str, float]:
        """Seconds spent loading the data and training baselines in this process."""
        return {"data": self._data_seconds, **self.baselines.seconds}

    def _load_data(self) -> EvaluationSet:
        """The split's data and its corrupted evaluation images."""

        ds = self.spec.dataset
        streamed = (
            {"cache_dir": self.cache_dir, "num_workers": ds.num_workers, "log": self.log}
            if DATASET_INFO[ds.name].streams
            else {}
        )
        dataset = select_split(
            DATASETS.get(ds.name)(seed=self.seed, **ds.options, **streamed),
            self.split,
            self.validation_fraction,
            self.seed,
        )
        if ds.greyscale:
            dataset = greyscale_dataset(dataset)
        #: The published set of corruption parameters the images are corrupted with.
        self.corruption_parameters = self._corruption_parameters(dataset.x_test, say=True)
        search_images = self.spec.corruption_images
        if self.split == "validation" and search_images and search_images < len(dataset.y_test):
            # the search measures on a stratified, seeded subset (corruptions.n_images), and
            # only it is corrupted; export and evaluate measure the whole test split
            rows = stratified_rows(
                dataset.y_test, search_images, derived_seed(self.seed, "n_images")
            )
            dataset = replace(
                dataset, x_test=take_rows(dataset.x_test, rows), y_test=dataset.y_test[rows]
            )
        else:
            search_images = None
        # images decoded into the cache (memory-mapped files named by the image files' key):
        # every cache made from them is keyed by them too, so changed images are measured anew
        self._content = "|".join(
            Path(a.filename).name
            for a in (dataset.x_train, dataset.x_test)
            if isinstance(a, np.memmap) and a.filename
        ) + (f"|n_images={search_images}" if search_images else "")
        if ds.corrupted_root and self.split == "test":
            # a published corrupted set (CIFAR-10-C, or the ImageNet-C layout) holds corrupted
            # *test* images; validation images are corrupted here, by the same suite
            corrupted = import_target(DATASET_INFO[ds.name].corrupted_folder)(
                Path(ds.corrupted_root),
                self.corruptions,
                y_test=dataset.y_test,
                options=ds.options,
                cache_dir=self.cache_dir,
                num_workers=ds.num_workers,
                log=self.log,
            )
            decoded = (Path(self.cache_dir) / "images").resolve()
            self._content += "".join(  # decoded from the folder's image files: keyed by them
                f"|{Path(a.filename).name}"
                for a in corrupted.values()
                if isinstance(a, np.memmap) and a.filename and Path(a.filename).parent == decoded
            )
        else:
            corrupted = cached_corrupted_set(
                dataset.x_test,
                dataset.y_test,
                self.corruptions,
                self.cache_dir,
                seed=self.seed,
                data_key=self.data_key(),
                log=self.log,
                parameters=self.corruption_parameters,
                cache_gb=self.spec.corruption_cache_gb,
            )
        if ds.greyscale:  # corruptions may add colour (frost): the model sees grey
            corrupted = {
                k: v.with_transform(greyscale) if isinstance(v, CorruptedOnTheFly) else greyscale(v)
                for k, v in corrupted.items()
            }
        return EvaluationSet(dataset, corrupted)

    @property
    def validation_fraction(self) -> float:
        """Share of the training data held out as the validation split (default 0.2)."""
        return float(self.spec.dataset.validation_fraction)

    def data_key(self, **extra: Any) -> str:
        """Cache key of this split's evaluation images (clean and corrupted).

        Args:
            extra: More items for the key (the detection evaluator adds its task).
        """
        return digest(
            {
                "dataset": self.spec.dataset.to_dict(),
                "split": self.split,
                **self._content_key(),
                **extra,
            }
        )

    def _content_key(self) -> dict[str, str]:
        """``{"content": ...}`` when the images were decoded into the cache (see
        :meth:`_load_data`), else nothing (the dataset's options name its content)."""
        content = getattr(self, "_content", "")
        return {"content": content} if content else {}

    # -- baselines, one per architecture ---------------------------------------------------
    def settings(self, section: str) -> dict[str, Any]:
        """A section of the evaluation spec (``adversarial``, ``latency``, ``proxy``,
        ``detection``) as a dict; keys a stored spec lacked hold the configuration's defaults.

        Args:
            section: The section's name.
        """
        return asdict(getattr(self.spec, section))

    def arch_spec(self, name: str) -> dict[str, Any]:
        """How to build architecture ``name`` for this study's data and width.

        Args:
            name: The architecture's name.

        Returns:
            ``{"name", "kwargs"}`` as stored in packed artifacts (the user's model: see
            :meth:`UserModelConfig.arch_spec <moo_compress.settings.UserModelConfig.arch_spec>`).
        """
        user = self.spec.user_model
        if user is not None and name == user.name:
            return user.arch_spec(self.dataset.num_classes)
        return {
            "name": name,
            "kwargs": {"num_classes": self.dataset.num_classes, "width": self.spec.width},
        }

    @property
    def builders(self) -> tuple[str, ...]:
        """The user builders trusted to rebuild this study's models (its own, if any)."""
        user = self.spec.user_model
        return (user.builder,) if user is not None and user.builder else ()

    def arch_of(self, config: dict[str, Any]) -> str:
        """The architecture a configuration uses: its ``arch``, else the study's.

        Args:
            config: A full pipeline configuration.
        """
        return config.get("arch") or self.arch["name"]

    def baseline_path_for(self, arch: str) -> Path:
        """Where the baseline of ``arch`` is cached (keyed by everything that trains it).

        Args:
            arch: The architecture's name.
        """
        key = digest(
            {
                "v": BASELINE_VERSION,
                "seed": self.seed,
                "dataset": self.spec.dataset.to_dict(),
                "arch": self.arch_spec(arch),
                "train": self.spec.baseline.to_dict(),
            }
        )
        return self.cache_dir / "baselines" / f"{key}.mcz"

    def baseline_for(self, arch: str) -> nn.Module:
        """The trained uncompressed model of ``arch`` (trained once, cached on disk).

        Args:
            arch: The architecture's name.
        """
        user = self.spec.user_model
        return self.baselines.model(
            self.baseline_path_for(arch),
            lambda: self._train_baseline(arch),
            name=arch,
            detail=f" on {self.dataset.name}",
            verb=(
                "reading your trained model (the baseline, not retrained)"
                if user is not None and arch == user.name
                else "training baseline"
            ),
        )

    def reference_for(self, arch: str) -> Reference:
        """The reference of ``arch``'s models (computed once, cached next to its baseline).

        Args:
            arch: The architecture's name.
        """
        if arch not in self._references:
            self._references[arch] = self._baseline_reference(arch)
        return self._references[arch]

    def baseline_values(
        self, arch: str, *, fidelity: dict[str, Any] | None = None
    ) -> dict[str, float]:
        """Every recorded objective of the uncompressed baseline of ``arch`` on this split:
        what constraints relative to the baseline compare with. Measured once, then cached
        next to the baseline (keyed by everything the measurement depends on).

        Args:
            arch: The architecture's name.
            fidelity: Measured on this data subset (see :meth:`at_fidelity`; default None:
                this evaluator's data).

        Returns:
            The values by objective name (objectives undefined for the baseline left out).
        """
        if fidelity:
            return self.at_fidelity(fidelity).baseline_values(arch)
        if arch not in self._baseline_values:
            path = self.baseline_path_for(arch)
            key = digest(
                {
                    "spec": self.spec.to_dict(),
                    "split": self.split,
                    **({"images": self.images} if self.images else {}),
                    **self._content_key(),
                    "arch": arch,
                    "reference": self.reference_for(arch).to_dict(),
                    "corruptions": corruption_suite.IMPLEMENTATION_VERSION,  # read now: tests bump it
                }
            )

            def measure() -> dict[str, float]:
                results = self.measure(
                    self.baseline_for(arch), path.read_bytes(), reference=self.reference_for(arch)
                )
                return {
                    k: float(r.value) for k, r in results.items() if "undefined" not in r.details
                }

            self._baseline_values[arch] = self.baselines.facts(
                path.with_name(f"{path.stem}.{key}.values.json"), measure
            )
        return dict(self._baseline_values[arch])

    def prepare(self, archs: list[str]) -> None:
        """Train (or load) the baseline and compute the reference of every architecture.

        Args:
            archs: The architectures' names.
        """
        for arch in archs:
            self.reference_for(arch)

    @property
    def baseline_path(self) -> Path:
        """Where the baseline of the study's architecture is cached."""
        return self.baseline_path_for(self.arch["name"])

    @property
    def baseline(self) -> nn.Module:
        """The baseline of the study's architecture."""
        return self.baseline_for(self.arch["name"])

    @property
    def reference(self) -> Reference:
        """The reference of the study's architecture."""
        return self.reference_for(self.arch["name"])

    def _train_baseline(self, arch: str) -> bytes:
        user = self.spec.user_model
        if user is not None and arch == user.name:
            return self._user_baseline(user)
        import torch

        cfg = self.spec.baseline
        torch.manual_seed(self.seed)
        spec = self.arch_spec(arch)
        model = ARCHITECTURES.get(arch)(**spec["kwargs"])
        train(
            model,
            self.dataset.x_train,
            self.dataset.y_train,
            cfg,
            epochs=cfg.epochs,
            seed=self.seed,
        )
        return encode_model(model.cpu(), spec)

    def _user_baseline(self, user: Any) -> bytes:
        """The user's trained model, packed as it is: the baseline (never retrained)."""

        spec = self.arch_spec(user.name)
        model = build_model(spec, builders=self.builders)
        load_weights(model.net, user.weights)
        outputs = spec["kwargs"]["num_classes"]
        labels = max(int(self.dataset.y_train.max()), int(self.dataset.y_test.max())) + 1
        if labels > outputs:
            raise DataError(
                f"{self.dataset.name}: labels go up to {labels - 1}, outside the model's "
                f"{outputs} classes (model.num_classes)"
            )
        return encode_model(model.cpu().eval(), spec)

    def _baseline_reference(self, arch: str) -> Reference:
        """Baseline facts and the robustness reference's errors, cached next to the baseline."""

        ref_name = self.spec.reference
        ref_data = None if ref_name == "baseline" else Path(ref_name).read_bytes()
        ref_id = "baseline" if ref_data is None else hashlib.sha256(ref_data).hexdigest()[:16]
        baseline_path = self.baseline_path_for(arch)
        model = self.baseline_for(arch)
        ref_path = baseline_path.with_name(
            f"{baseline_path.stem}.{self._reference_key(ref_id)}.reference.json"
        )
        stored = self.baselines.read(ref_path)
        if stored is not None:
            cached = Reference.from_dict(stored)
            if set(cached.corruption_errors) >= set(self.corruptions):
                cached.corruption_errors = {
                    k: cached.corruption_errors[k] for k in self.corruptions
                }
                return cached
        data = baseline_path.read_bytes()
        n = len(self.dataset.y_test)
        self.log(
            f"measuring the reference of {arch} on {n} clean and "
            f"{n * len(self.corruptions) * len(self.severities)} corrupted {self.split} images "
            "(once; cached next to the baseline)"
        )
        if ref_data is None:
            ref_model, name = model, "baseline"
        else:
            try:
                ref_model, _ = decode_model(ref_data, builders=self.builders)
            except Exception as exc:  # noqa: BLE001
                raise DataError(f"{ref_name}: cannot load the reference model ({exc})") from None
            name = ref_name
        try:
            ref_acc = accuracy(ref_model, self.dataset.x_test, self.dataset.y_test)
            errors = self.corruption_errors(ref_model)
        except RuntimeError as exc:
            raise DataError(
                f"{ref_name}: the reference model does not accept this study's data ({str(exc).splitlines()[0]})"
            ) from None
        ref = Reference(
            baseline_accuracy=accuracy(model, self.dataset.x_test, self.dataset.y_test),
            baseline_deflate_bytes=deflate_size(model_bytes(data)),
            corruption_errors=errors,
            name=name,
            accuracy=ref_acc,
        )
        self.baselines.write(ref_path, ref.to_dict())
        return ref

    def _reference_key(self, ref_id: str) -> str:
        """Cache key of the reference's errors: the reference model, the severities and the
        corrupted images they were measured on (the corruption implementation's version, or
        the user's corrupted folder), so errors of different corruption code never mix."""

        return digest(
            {
                "reference": ref_id,
                "severities": self.severities,
                "corruptions": corruption_suite.IMPLEMENTATION_VERSION,  # read now: tests bump it
                "corrupted_root": self.spec.dataset.corrupted_root,
                "split": self.split,
                **(
                    {"parameters": self.corruption_parameters}
                    if self.corruption_parameters != "cifar"
                    else {}
                ),
                **({"images": self.images} if self.images else {}),
                **self._content_key(),
            }
        )

    # -- measurements ---------------------------------------------------------------------
    def corruption_errors(self, model: nn.Module) -> dict[str, list[float]]:
        """Top-1 error per corruption and severity (the study's severities, in order).

        Args:
            model: The model to measure.
        """

        n = len(self.dataset.y_test)
        y = self.dataset.y_test
        out = {}
        for name in self.corruptions:
            arr = self.corrupted[name]
            if list(self.severities) == [1, 2, 3, 4, 5]:
                pred = predict(model, arr).argmax(1).numpy().reshape(5, n)
            else:
                pred = np.stack(
                    [
                        predict(model, arr[(s - 1) * n : s * n]).argmax(1).numpy()
                        for s in self.severities
                    ]
                )
            out[name] = [float(e) for e in (pred != y[None, :]).mean(axis=1)]
        return out

    def score_outputs(self, logits: torch.Tensor) -> dict[str, float]:
        """The recorded quality objective from outputs on the whole clean test split.

        Args:
            logits: The model's logits, one row per test image.

        Returns:
            ``{"accuracy": percent}``.
        """
        pred = logits.argmax(1).numpy()
        return {"accuracy": 100.0 * float((pred == self.dataset.y_test).mean())}

    def measure(
        self,
        model: nn.Module,
        artifact: bytes,
        objectives: list[str] | None = None,
        *,
        reference: Reference | None = None,
    ) -> dict[str, ObjectiveResult]:
        """Compute objectives of a loaded model.

        An objective without a value for this model (it raised
        :class:`~moo_compress.objectives.base.UndefinedObjective`) gets NaN and the reason
        under ``details["undefined"]``.

        Args:
            model: The model loaded back from ``artifact``.
            artifact: The packed model's bytes.
            objectives: Names to measure (default None: the spec's ``record``, else every
                registered objective).
            reference: What to compare against (default None: the study architecture's).

        Returns:
            Each objective's result, by name.
        """

        m = self.measurements_class(self, model, artifact, reference)
        names = objectives or list(self.spec.record) or OBJECTIVES.names()
        out = {}
        for name in names:
            try:
                out[name] = OBJECTIVES.get(name)(m)
            except UndefinedObjective as exc:  # no value for this model: say why
                out[name] = ObjectiveResult(float("nan"), {"undefined": str(exc)})
        return out

    def evaluate(self, config: dict[str, Any], config_key: str) -> TrialResult:
        """Compress the baseline with ``config``, pack it, load it back and measure it.

        Args:
            config: A full pipeline configuration.
            config_key: Its key (the evaluation's seed derives from it).

        Returns:
            The values, details, technique, artifact and wall time.

        Raises:
            FloatingPointError: An objective is NaN or infinite.
        """
        return super().evaluate(config, config_key)

    def build(self, config: dict[str, Any], config_key: str) -> bytes:
        """Compress the baseline with ``config`` and pack it (the ``.mcz`` bytes).

        Args:
            config: A full pipeline configuration.
            config_key: Its key (the evaluation's seed derives from it).
        """
        return self.build_paused(config, config_key)[0]

    def build_paused(
        self,
        config: dict[str, Any],
        config_key: str,
        *,
        last_epochs: int | None = None,
        checkpoint: bytes | None = None,
    ) -> tuple[bytes, Build]:
        """Compress the baseline with ``config``, its last fine-tuning run paused after
        ``last_epochs`` epochs or continued from ``checkpoint``
        (:func:`moo_compress.compression.pipeline.build`), and pack it.

        A checkpoint that does not load (unreadable, of another build) is set aside and the
        model is built from the baseline: the same model, at a higher cost.

        Args:
            config: A full pipeline configuration.
            config_key: Its key (the evaluation's seed derives from it).
            last_epochs: Epochs of the last fine-tuning run (default None: all).
            checkpoint: A paused run of this configuration to continue (default None).

        Returns:
            ``(packed bytes, the build)``.
        """
        arch = self.arch_of(config)
        kw = {
            "x_train": self.dataset.x_train,
            "y_train": self.dataset.y_train,
            "finetune": self.spec.finetune,
            "seed": trial_seed(self.seed, config_key),
            "adversarial": asdict(self.spec.adversarial),
            "last_epochs": last_epochs,
        }
        try:
            made = build(self.baseline_for(arch), config, checkpoint=checkpoint, **kw)
        except ArtifactError:
            if checkpoint is None:
                raise
            made = build(self.baseline_for(arch), config, **kw)
        model = made.model
        metadata: dict[str, Any] = {"config": config}
        notes = getattr(model, "compression_skipped", None)
        if notes:  # what a stage could not do to some layer (see pruning.skipped)
            metadata["skipped"] = list(notes)
        return encode_model(model.cpu(), self.arch_spec(arch), metadata=metadata), made

    def evaluate_rung(
        self,
        config: dict[str, Any],
        config_key: str,
        *,
        objectives: list[str] | None = None,
        fidelity: dict[str, Any] | None = None,
        artifact: bytes | None = None,
        finetune_epochs: int | None = None,
        checkpoint: bytes | None = None,
    ) -> TrialResult:
        """Measure ``objectives`` of a configuration's model, on a data subset when asked:
        one rung of a multi-fidelity search (:meth:`evaluate` is the full evaluation).

        Args:
            config: A full pipeline configuration.
            config_key: Its key (the evaluation's seed derives from it).
            objectives: Names to measure (default None: the spec's ``record``).
            fidelity: ``{"corruptions", "severities", "images"}`` subsets (None entries:
                the study's; default None: the full evaluation data).
            artifact: The model's packed bytes from a lower rung (default None: compress
                the baseline now). The same configuration builds the same model.
            finetune_epochs: Pause the build's last fine-tuning run after this many epochs
                (default None: the full build; ignored with ``artifact``).
            checkpoint: A lower rung's paused run to continue (default None: build from
                the baseline; one that does not load is built again, identically).

        Returns:
            The values, details, technique, artifact and wall time.

        Raises:
            FloatingPointError: An objective is NaN or infinite.
        """

        t0 = time.perf_counter()
        paused = None
        if artifact is None:
            if finetune_epochs is None and checkpoint is None:
                artifact = self.build(config, config_key)
            else:
                artifact, paused = self.build_paused(
                    config, config_key, last_epochs=finetune_epochs, checkpoint=checkpoint
                )
        arch = self.arch_of(config)
        loaded, _ = decode_model(artifact, builders=self.builders)
        ev = self.at_fidelity(fidelity)
        results = ev.measure(loaded, artifact, objectives, reference=ev.reference_for(arch))
        values = {k: float(r.value) for k, r in results.items() if "undefined" not in r.details}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(f"objective {bad[0]} is {values[bad[0]]}")
        details = {k: r.details for k, r in results.items() if r.details}
        out = TrialResult(
            values, details, technique_name(config), artifact, time.perf_counter() - t0
        )
        if paused is not None and paused.checkpoint is not None:
            out.finetune_epochs = paused.epochs
            out.checkpoint = paused.checkpoint
        return out

    def at_fidelity(self, fidelity: dict[str, Any] | None) -> ClassificationEvaluator:
        """This evaluator measuring on a subset of its corruptions, severities or images:
        an evaluator of the same class built on the subset, sharing this one's baseline
        cache. Its references are measured on the same subset, so a corruption error is
        relative to the reference on the same images. Built once per subset.

        Args:
            fidelity: ``{"corruptions", "severities", "images"}`` (None entries: all; None:
                this evaluator itself).

        Raises:
            ValueError: ``images`` is set for a dataset whose test split is not an image
                array (detection).
        """
        if not fidelity or not any(
            fidelity.get(k) for k in ("corruptions", "severities", "images")
        ):
            return self
        ident = json.dumps(fidelity, sort_keys=True)
        if ident not in self._fidelity_views:
            corruptions = self.corruptions
            if fidelity.get("corruptions"):
                corruptions = [c for c in self.corruptions if c in fidelity["corruptions"]]
            severities = self.severities
            if fidelity.get("severities"):
                severities = sorted(int(s) for s in fidelity["severities"])
            spec = dataclasses.replace(
                self.spec, corruptions=tuple(corruptions), severities=tuple(severities)
            )
            view = type(self)(
                spec,
                self.cache_dir,
                log=self.log,
                split=self.split,
                evaluation_set=self._image_subset(fidelity.get("images"), corruptions),
                baselines=self.baselines,
            )
            view._content = getattr(self, "_content", "")  # the same images: the same keys
            self._fidelity_views[ident] = view
        return self._fidelity_views[ident]

    def _image_subset(self, images: int | None, corruptions: list[str]) -> EvaluationSet:
        """This evaluator's images, only ``images`` of them (seeded; all when None)."""
        n = len(self.dataset.y_test)
        if not images or int(images) >= n:
            return dataclasses.replace(self.evaluation_set, images=None)
        if not isinstance(self.dataset.x_test, np.ndarray):
            raise ValueError("an images subset needs image arrays (classification data)")
        rng = np.random.default_rng(derived_seed(self.seed, "rung-images"))
        idx = np.sort(rng.choice(n, size=int(images), replace=False))
        rows = np.concatenate([idx + (s - 1) * n for s in range(1, 6)])
        return dataclasses.replace(
            self.evaluation_set,
            dataset=dataclasses.replace(
                self.dataset, x_test=self.dataset.x_test[idx], y_test=self.dataset.y_test[idx]
            ),
            corrupted={k: self.corrupted[k][rows] for k in corruptions},
            images=int(images),
        )

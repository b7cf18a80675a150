"""Evaluation pipeline: baseline -> technique chain -> packed artifact -> objectives.

An :class:`Evaluator` is prepared once per process (data, cached baseline, cached corrupted
test sets, the reference errors for mCE) and then evaluates one configuration at a time.
Every objective is measured on the model *loaded back from its packed artifact*, so what is
recorded is exactly what ``export`` ships and ``evaluate`` re-measures.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress._utils.hashing import derived_seed, digest
from moo_compress._utils.io import atomic_write
from moo_compress.errors import DataError
from moo_compress.evaluation.measurements import Measurements
from moo_compress.evaluation.results import Reference, TrialResult, trial_seed
from moo_compress.objectives import OBJECTIVES

if TYPE_CHECKING:
    import torch
    from torch import nn

    from moo_compress.objectives.base import ObjectiveResult
    from moo_compress.settings import EvaluationSpec

__all__ = [
    "BASELINE_VERSION",
    "Evaluator",
    "Measurements",
    "Reference",
    "TrialResult",
    "trial_seed",
]

# Bump when training or evaluation code changes in a way that invalidates cached baselines.
BASELINE_VERSION = 1


class Evaluator:
    """Prepared evaluation for one study.

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
    """

    measurements_class = Measurements
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
    ) -> None:
        from moo_compress.data.base import SPLITS
        from moo_compress.settings import EvaluationSpec

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
        self._load_data()
        self.setup_seconds = {"data": time.perf_counter() - t0}
        self.arch = self.arch_spec(spec.arch)
        self._baselines: dict[str, Any] = {}
        self._references: dict[str, Reference] = {}
        self._baseline_values: dict[str, dict[str, float]] = {}
        if reference is not None:
            self._references[self.arch["name"]] = Reference.from_dict(reference)
        _ = self.reference

    def _load_data(self) -> None:
        """Set ``dataset`` (train/test split) and ``corrupted`` (corruption -> test images at
        every severity, severity 1 first)."""
        from moo_compress.corruptions.suite import cached_corrupted_set
        from moo_compress.data import DATASETS
        from moo_compress.data.base import greyscale, greyscale_dataset, select_split

        ds = self.spec.dataset
        self.dataset = select_split(
            DATASETS.get(ds.name)(seed=self.seed, **ds.options),
            self.split,
            self.validation_fraction,
            self.seed,
        )
        if ds.greyscale:
            self.dataset = greyscale_dataset(self.dataset)
        if ds.corrupted_root and self.split == "test":
            # a CIFAR-C folder holds corrupted *test* images; validation images are
            # corrupted here, by the same suite
            from moo_compress.data.cifar import load_corrupted_folder

            self.corrupted = load_corrupted_folder(
                Path(ds.corrupted_root), self.corruptions, y_test=self.dataset.y_test
            )
        else:
            self.corrupted = cached_corrupted_set(
                self.dataset.x_test,
                self.dataset.y_test,
                self.corruptions,
                self.cache_dir,
                seed=self.seed,
                data_key=self.data_key(),
            )
        if ds.greyscale:  # corruptions may add colour (frost): the model sees grey
            self.corrupted = {k: greyscale(v) for k, v in self.corrupted.items()}

    @property
    def validation_fraction(self) -> float:
        """Share of the training data held out as the validation split (default 0.2)."""
        return float(self.spec.dataset.validation_fraction)

    def data_key(self, **extra: Any) -> str:
        """Cache key of this split's evaluation images (clean and corrupted).

        Args:
            extra: More items for the key (the detection evaluator adds its task).
        """
        return digest({"dataset": asdict(self.spec.dataset), "split": self.split, **extra})

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
            ``{"name", "kwargs"}`` as stored in packed artifacts.
        """
        return {
            "name": name,
            "kwargs": {"num_classes": self.dataset.num_classes, "width": self.spec.width},
        }

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
                "dataset": asdict(self.spec.dataset),
                "arch": self.arch_spec(arch),
                "train": asdict(self.spec.baseline),
            }
        )
        return self.cache_dir / "baselines" / f"{key}.mcz"

    def baseline_for(self, arch: str) -> nn.Module:
        """The trained uncompressed model of ``arch`` (trained once, cached on disk).

        Args:
            arch: The architecture's name.
        """
        if arch not in self._baselines:
            from moo_compress.artifact import decode_model

            path = self.baseline_path_for(arch)
            if not path.exists():
                t0 = time.perf_counter()
                self.log(f"training baseline {arch} on {self.dataset.name} (cached at {path})")
                atomic_write(path, self._train_baseline(arch))
                self.setup_seconds[f"baseline_training:{arch}"] = time.perf_counter() - t0
            self._baselines[arch], _ = decode_model(path.read_bytes())
        return self._baselines[arch]

    def reference_for(self, arch: str) -> Reference:
        """The reference of ``arch``'s models (computed once, cached next to its baseline).

        Args:
            arch: The architecture's name.
        """
        if arch not in self._references:
            self._references[arch] = self._baseline_reference(arch)
        return self._references[arch]

    def baseline_values(self, arch: str) -> dict[str, float]:
        """Every recorded objective of the uncompressed baseline of ``arch`` on this split:
        what constraints relative to the baseline compare with. Measured once, then cached
        next to the baseline (keyed by everything the measurement depends on).

        Args:
            arch: The architecture's name.

        Returns:
            The values by objective name (objectives undefined for the baseline left out).
        """
        if arch not in self._baseline_values:
            from moo_compress.corruptions.suite import IMPLEMENTATION_VERSION

            path = self.baseline_path_for(arch)
            key = digest(
                {
                    "spec": self.spec.to_dict(),
                    "split": self.split,
                    **({"images": self.images} if self.images else {}),
                    "arch": arch,
                    "reference": self.reference_for(arch).to_dict(),
                    "corruptions": IMPLEMENTATION_VERSION,
                }
            )
            cache = path.with_name(f"{path.stem}.{key}.values.json")
            if cache.exists():
                values = json.loads(cache.read_text())
            else:
                results = self.measure(
                    self.baseline_for(arch), path.read_bytes(), reference=self.reference_for(arch)
                )
                values = {
                    k: float(r.value) for k, r in results.items() if "undefined" not in r.details
                }
                atomic_write(cache, json.dumps(values, indent=1).encode())
            self._baseline_values[arch] = values
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
        import torch

        from moo_compress.artifact import encode_model
        from moo_compress.models import ARCHITECTURES
        from moo_compress.training import train

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

    def _baseline_reference(self, arch: str) -> Reference:
        """Baseline facts and the robustness reference's errors, cached next to the baseline."""
        from moo_compress.artifact import decode_model, deflate_size, model_bytes
        from moo_compress.training import accuracy

        ref_name = self.spec.reference
        ref_data = None if ref_name == "baseline" else Path(ref_name).read_bytes()
        ref_id = "baseline" if ref_data is None else hashlib.sha256(ref_data).hexdigest()[:16]
        baseline_path = self.baseline_path_for(arch)
        model = self.baseline_for(arch)
        ref_path = baseline_path.with_name(
            f"{baseline_path.stem}.{self._reference_key(ref_id)}.reference.json"
        )
        if ref_path.exists():
            cached = Reference.from_dict(json.loads(ref_path.read_text()))
            if set(cached.corruption_errors) >= set(self.corruptions):
                cached.corruption_errors = {
                    k: cached.corruption_errors[k] for k in self.corruptions
                }
                return cached
        data = baseline_path.read_bytes()
        if ref_data is None:
            ref_model, name = model, "baseline"
        else:
            try:
                ref_model, _ = decode_model(ref_data)
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
        atomic_write(ref_path, json.dumps(ref.to_dict(), indent=1).encode())
        return ref

    def _reference_key(self, ref_id: str) -> str:
        """Cache key of the reference's errors: the reference model, the severities and the
        corrupted images they were measured on (the corruption implementation's version, or
        the user's corrupted folder), so errors of different corruption code never mix."""
        from moo_compress.corruptions.suite import IMPLEMENTATION_VERSION

        return digest(
            {
                "reference": ref_id,
                "severities": self.severities,
                "corruptions": IMPLEMENTATION_VERSION,
                "corrupted_root": self.spec.dataset.corrupted_root,
                "split": self.split,
                **({"images": self.images} if self.images else {}),
            }
        )

    # -- measurements ---------------------------------------------------------------------
    def corruption_errors(self, model: nn.Module) -> dict[str, list[float]]:
        """Top-1 error per corruption and severity (the study's severities, in order).

        Args:
            model: The model to measure.
        """
        from moo_compress.training import predict

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
        from moo_compress.objectives.base import ObjectiveResult, UndefinedObjective

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
        return self.evaluate_rung(config, config_key)

    def build(self, config: dict[str, Any], config_key: str) -> bytes:
        """Compress the baseline with ``config`` and pack it (the ``.mcz`` bytes).

        Args:
            config: A full pipeline configuration.
            config_key: Its key (the evaluation's seed derives from it).
        """
        from moo_compress.artifact import encode_model
        from moo_compress.compression.pipeline import compress

        arch = self.arch_of(config)
        model = compress(
            self.baseline_for(arch),
            config,
            x_train=self.dataset.x_train,
            y_train=self.dataset.y_train,
            finetune=self.spec.finetune,
            seed=trial_seed(self.seed, config_key),
            adversarial=asdict(self.spec.adversarial),
        )
        return encode_model(model.cpu(), self.arch_spec(arch), metadata={"config": config})

    def evaluate_rung(
        self,
        config: dict[str, Any],
        config_key: str,
        *,
        objectives: list[str] | None = None,
        fidelity: dict[str, Any] | None = None,
        artifact: bytes | None = None,
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

        Returns:
            The values, details, technique, artifact and wall time.

        Raises:
            FloatingPointError: An objective is NaN or infinite.
        """
        from moo_compress.artifact import decode_model
        from moo_compress.compression.pipeline import technique_name

        t0 = time.perf_counter()
        if artifact is None:
            artifact = self.build(config, config_key)
        arch = self.arch_of(config)
        loaded, _ = decode_model(artifact)
        ev = self.at_fidelity(fidelity)
        results = ev.measure(loaded, artifact, objectives, reference=ev.reference_for(arch))
        values = {k: float(r.value) for k, r in results.items() if "undefined" not in r.details}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(f"objective {bad[0]} is {values[bad[0]]}")
        details = {k: r.details for k, r in results.items() if r.details}
        return TrialResult(
            values, details, technique_name(config), artifact, time.perf_counter() - t0
        )

    def at_fidelity(self, fidelity: dict[str, Any] | None) -> Evaluator:
        """This evaluator measuring on a subset of its corruptions, severities or images
        (a view sharing data and baselines; its references are measured on the same subset,
        so a corruption error is relative to the reference on the same images).

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
        views = self.__dict__.setdefault("_fidelity_views", {})
        if ident in views:
            return views[ident]
        import copy
        import dataclasses

        view = copy.copy(self)
        view.__dict__["_fidelity_views"] = {}
        spec = self.spec
        if fidelity.get("corruptions"):
            view.corruptions = [c for c in self.corruptions if c in fidelity["corruptions"]]
        if fidelity.get("severities"):
            view.severities = sorted(int(s) for s in fidelity["severities"])
        spec = dataclasses.replace(
            spec, corruptions=tuple(view.corruptions), severities=tuple(view.severities)
        )
        view.spec = spec
        view.images = None
        images = fidelity.get("images")
        n = len(self.dataset.y_test)
        if images and int(images) < n:
            view.images = int(images)
            idx = np.sort(
                np.random.default_rng(derived_seed(self.seed, "rung-images")).choice(
                    n, size=int(images), replace=False
                )
            )
            if not isinstance(self.dataset.x_test, np.ndarray):
                raise ValueError("an images subset needs image arrays (classification data)")
            view.dataset = dataclasses.replace(
                self.dataset, x_test=self.dataset.x_test[idx], y_test=self.dataset.y_test[idx]
            )
            rows = np.concatenate([idx + (s - 1) * n for s in range(1, 6)])
            view.corrupted = {k: self.corrupted[k][rows] for k in view.corruptions}
        view._references = {}
        view._baseline_values = {}
        views[ident] = view
        return view

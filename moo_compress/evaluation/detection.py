"""Evaluation of detection studies: the classification pipeline (baseline per architecture,
technique chain, packed artifact, objectives measured on the loaded model) with detection
data and detection measurements.

Objectives: ``map`` and ``ap50`` (COCOeval on the clean test split), ``map_corrupted`` (mean
mAP over the study's corruptions and severities), ``map_pgd`` (mAP under PGD on the detection
loss, seed 001's settings), plus the shared ``cr`` and ``latency_ms``.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, replace
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from moo_compress._utils.device import get_device
from moo_compress._utils.hashing import digest
from moo_compress.adversarial import pgd
from moo_compress.corruptions.suite import cached_corrupted_set
from moo_compress.data.base import greyscale, to_tensor, to_uint8, validation_indices
from moo_compress.detection.data import load_detection_dataset
from moo_compress.detection.metrics import coco_map, postprocess
from moo_compress.detection.model import decode, encode_targets
from moo_compress.evaluation.classification import ClassificationEvaluator, EvaluationSet
from moo_compress.evaluation.measurements import ModelMeasurements
from moo_compress.evaluation.results import Reference
from moo_compress.settings import DetectionConfig
from moo_compress.training import predict
from moo_compress.weights.codec import deflate_size, model_bytes

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["DEFAULTS", "DetectionEvaluator", "DetectionMeasurements"]

#: Post-processing defaults (the study configuration's, for specs that lack them).
DEFAULTS = asdict(DetectionConfig())


class DetectionMeasurements(ModelMeasurements):
    """Lazily computed detection measurements of one model (constructed as
    :class:`~moo_compress.evaluation.measurements.ModelMeasurements`, whose attributes it
    keeps)."""

    @functools.cached_property
    def clean(self) -> dict[str, float]:
        """``map`` and ``ap50`` (fractions) on the clean test split."""
        return self._ev.score(self.model, self.x_test)

    @functools.cached_property
    def corrupted_maps(self) -> dict[str, list[float]]:
        """mAP per corruption and severity (see :meth:`DetectionEvaluator.corrupted_maps`)."""
        return self._ev.corrupted_maps(self.model)

    @functools.cached_property
    def pgd(self) -> dict[str, float]:
        """``map`` and ``ap50`` (fractions) on the first ``adversarial.n_images`` test images
        (all when unset) attacked by PGD on the detection loss; an int8 model is attacked
        through its float twin and scored on its own outputs."""
        import torch

        cfg = self.adversarial
        n = cfg["n_images"] or self.n_test
        # an int8 model is attacked through its float twin (ONNX Runtime has no gradients)
        attacked = getattr(self.model, "float_model", self.model)
        device = get_device()
        attacked.eval().to(device)
        gen = torch.Generator().manual_seed(self.seed)
        advs = []
        for i in range(0, n, 64):
            x = to_tensor(self.x_test[i : min(n, i + 64)]).to(device)
            y = torch.as_tensor(self._ev.dataset.y_test[i : min(n, i + 64)], device=device)
            adv = pgd(
                attacked,
                x,
                y,
                eps=cfg["eps"],
                step=cfg["step"],
                steps=cfg["steps"],
                random_start=cfg["random_start"],
                gen=gen,
            )
            advs.append(to_uint8(adv))
        return self._ev.score(self.model, np.concatenate(advs), n_images=n)


class DetectionEvaluator(ClassificationEvaluator):
    """Prepared evaluation of a detection study (see :class:`ClassificationEvaluator`)."""

    measurements_class = DetectionMeasurements
    quality = "map"

    @property
    def data(self) -> Any:
        """The detection data (COCO ground truth, image ids and scales per split)."""
        return self.evaluation_set.task_data

    @functools.cached_property
    def post(self) -> dict[str, Any]:
        """Detection post-processing settings (score threshold, NMS, detections kept)."""
        return self.settings("detection")

    def _load_data(self) -> EvaluationSet:

        ds = self.spec.dataset
        size = int(ds.options["image_size"])
        data = load_detection_dataset(
            ds.to_dict(), seed=self.seed, cache_dir=self.cache_dir, image_size=size
        )
        tr, va = validation_indices(
            np.zeros(len(data.train.images), np.int64), self.validation_fraction, self.seed
        )

        def rows(split, idx):
            return replace(
                split,
                images=split.images[idx],
                image_ids=split.image_ids[idx],
                scales=split.scales[idx],
            )

        # validation images keep the training split's COCO ground truth; mAP is computed
        # over their image ids only
        data = replace(
            data,
            train=rows(data.train, tr),
            test=rows(data.train, va) if self.split == "validation" else data.test,
        )
        grey = greyscale if ds.greyscale else (lambda a: a)
        dataset = SimpleNamespace(
            name=data.name,
            num_classes=data.num_classes,
            x_train=grey(data.train.images),
            y_train=encode_targets(data.train.boxes(), data.num_classes, size),
            x_test=grey(data.test.images),
            y_test=encode_targets(data.test.boxes(), data.num_classes, size),
        )
        self.corruption_parameters = self._corruption_parameters(dataset.x_test, say=True)
        corrupted = cached_corrupted_set(
            dataset.x_test,
            np.zeros(len(dataset.x_test), np.int64),  # detection has no image labels
            self.corruptions,
            self.cache_dir,
            seed=self.seed,
            data_key=self.data_key(task="detection"),
            log=self.log,
            parameters=self.corruption_parameters,
            cache_gb=self.spec.corruption_cache_gb,
        )
        return EvaluationSet(dataset, {k: grey(v) for k, v in corrupted.items()}, task_data=data)

    # -- scoring --------------------------------------------------------------------------
    def detections(self, out: torch.Tensor) -> list[dict[str, Any]]:
        """COCO detections (original image coordinates) from the detector's outputs on the
        first rows of the test split.

        Args:
            out: The detector's raw outputs, one row per test image from the first.
        """

        split = self.data.test
        dets: list[dict[str, Any]] = []
        for (boxes, scores, labels), image_id, scale in zip(
            decode(out, self.data.num_classes), split.image_ids, split.scales, strict=False
        ):
            dets += postprocess(
                boxes,
                scores,
                labels,
                image_id=int(image_id),
                scale=scale,
                category_ids=self.data.category_ids,
                score_threshold=self.post["score_threshold"],
                iou_threshold=self.post["nms_iou"],
                max_detections=self.post["max_detections"],
            )
        return dets

    def score(
        self, model: nn.Module, images: np.ndarray, *, n_images: int | None = None
    ) -> dict[str, float]:
        """mAP@[.50:.95] and AP50 of ``model`` on (possibly altered) test images.

        Args:
            model: The detector.
            images: uint8 test images in test-split order (clean, corrupted or attacked).
            n_images: Score only the first this many (default None: all of ``images``).

        Returns:
            COCOeval's figures (``map``, ``ap50``, fractions).
        """

        n = n_images or len(images)
        out = predict(model, images[:n], batch_size=128)
        return coco_map(self.data.test.coco, self.detections(out), self.data.test.image_ids[:n])

    def score_outputs(self, out: torch.Tensor) -> dict[str, float]:
        """The recorded quality objective from outputs on the whole clean test split.

        Args:
            out: The detector's raw outputs, one row per test image.

        Returns:
            ``{"map": percent}``.
        """

        split = self.data.test
        return {"map": 100.0 * coco_map(split.coco, self.detections(out), split.image_ids)["map"]}

    def corrupted_maps(self, model: nn.Module) -> dict[str, list[float]]:
        """mAP per corruption and severity (the study's severities, in order).

        Args:
            model: The detector to measure.
        """
        n = len(self.dataset.x_test)
        return {
            name: [
                self.score(model, self.corrupted[name][(s - 1) * n : s * n])["map"]
                for s in self.severities
            ]
            for name in self.corruptions
        }

    def _baseline_reference(self, arch: str) -> Reference:
        """The baseline's mAP and deflated size (CR's denominator), cached next to it; its
        corruption "errors" are 1 - mAP per corruption and severity."""

        path = self.baseline_path_for(arch)
        model = self.baseline_for(arch)
        ref_path = path.with_name(
            f"{path.stem}.{digest(['detection', self.corruptions, self._reference_key('baseline'), self.post])}.reference.json"
        )
        stored = self.baselines.read(ref_path)
        if stored is not None:
            return Reference.from_dict(stored)
        ref = Reference(
            baseline_accuracy=self.score(model, self.dataset.x_test)["map"],
            baseline_deflate_bytes=deflate_size(model_bytes(path.read_bytes())),
            corruption_errors={
                k: [1.0 - v for v in maps] for k, maps in self.corrupted_maps(model).items()
            },
        )
        self.baselines.write(ref_path, ref.to_dict())
        return ref

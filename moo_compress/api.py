"""The Python API: compress your own trained model, from Python, as Optuna studies are made.

::

    import moo_compress as mc

    study = mc.create_study(
        name="my-resnet",
        model=model,  # the trained nn.Module: the baseline, measured, never retrained
        data=mc.ImageClassificationData(train=train_ds, val=val_ds, test=test_ds),
        space="search_spaces/default.yaml",  # or a dict
        objectives=["accuracy", "cr", "mce"],
        constraints={"accuracy": {"max_drop": 1.0}},
        seed=0,
        load_if_exists=True,
    )
    study.optimize(n_trials=50)  # resumable, as the CLI's search
    study.pareto()  # a pandas DataFrame
    study.export("exports/my-resnet")

``create_study`` writes the study as a study file (``study.yaml``) with what it needs (the
model's weights as safetensors, the datasets as uint8 ``.npy`` files, the space) in
the study's folder, and reads it back with the study-file loader: every argument is checked
at once, with the study file's messages, and nothing is left behind when one is refused.
The CLI's read commands (``status``, ``pareto``, ``report``) and Optuna's tools read the same
study; ``moo-compress search <folder>/study.yaml`` continues it.

A model passed as an object can be rebuilt only in the process that holds it: run the same
script again to resume (``load_if_exists=True``). To search with ``worker`` processes or on
other machines, give the model in the study file's form,
``model={"builder": "package.module:callable", "weights": "path"}`` or
``model={"torchvision": "resnet50", "num_classes": 10, "weights": "path"}``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moo_compress._utils.registry import import_target
from moo_compress.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import optuna
    import pandas as pd

    from moo_compress.settings import StudyConfig

__all__ = ["ImageClassificationData", "Study", "create_study", "load_study"]

#: The file a study's folder holds its settings in.
STUDY_FILE = "study.yaml"
#: Where a study's folder is by default: ``<name>.moo`` in the current directory.
SUFFIX = ".moo"


@dataclass(frozen=True)
class ImageClassificationData:
    """The user's images, as torch datasets of ``(image, label)`` pairs.

    An image is a PIL image, a uint8 array ``(H, W, 3)`` or a float tensor ``(3, H, W)`` in
    [0, 1] (what ``transforms.ToTensor()`` gives; normalisation belongs to the model, see
    ``create_study(mean=, std=)``). Every image of the three splits has the same size.
    ``create_study`` reads them once, a batch at a time through a DataLoader, into uint8
    ``.npy`` files of the study's folder, which the search reads memory-mapped: a set larger
    than memory is never held in it.

    Args:
        train: The training split (fine-tuning, calibration, data-driven criteria).
        test: The test split, touched only by ``export`` and ``evaluate``.
        val: The validation split every search objective is measured on (default None:
            held out from ``train``, stratified and seeded, by ``validation_fraction``).
        num_workers: DataLoader processes reading the datasets (default 0: this one).
    """

    train: Any
    test: Any
    val: Any = None
    num_workers: int = 0

    def write(self, folder: str | os.PathLike) -> None:
        """Each split as ``x_<split>.npy`` (uint8 images (N, H, W, 3)) and ``y_<split>.npy``
        (int64 labels) in ``folder``, read through a DataLoader one batch at a time.

        Args:
            folder: The folder (created).

        Raises:
            ConfigError: An image of an unknown kind, a bad item, or sizes that differ.
        """
        import numpy as np

        # loaded when called: ``import moo_compress`` loads no numpy or torch
        from moo_compress._utils.io import atomic_save_npy
        from moo_compress.data.torch_datasets import SPLITS, write_split
        from moo_compress.errors import DataError

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        sizes = set()
        for split in SPLITS:
            ds = getattr(self, split)
            if ds is None:
                continue
            try:
                labels, _ = write_split(ds, folder / f"x_{split}.npy", num_workers=self.num_workers)
            except DataError as exc:
                raise ConfigError("create_study", f"data.{split}", str(exc)) from None
            atomic_save_npy(folder / f"y_{split}.npy", labels)
            sizes.add(tuple(np.load(folder / f"x_{split}.npy", mmap_mode="r").shape[1:]))
        if len(sizes) > 1:
            raise ConfigError(
                "create_study",
                "data",
                f"must hold images of one size. Got {sorted(sizes)} instead.",
            )

    def arrays(self) -> dict[str, np.ndarray]:
        """The splits as uint8 images ``x_<split>`` (N, H, W, 3) and int64 labels
        ``y_<split>``, in memory (:meth:`write` keeps them on disk).

        Raises:
            ConfigError: An image of an unknown kind, or sizes that differ.
        """
        import tempfile

        import numpy as np

        with tempfile.TemporaryDirectory() as tmp:
            self.write(tmp)
            return {f.stem: np.load(f, allow_pickle=False) for f in sorted(Path(tmp).iterdir())}


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _save_weights(model: Any, folder: Path) -> tuple[Path, str]:
    """The model's weights as safetensors in ``folder`` (named by their digest)."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / "weights.tmp"
    try:
        save_file(state, str(tmp))
    except RuntimeError:  # tensors sharing memory (tied weights): each saved on its own
        save_file({k: v.clone() for k, v in state.items()}, str(tmp))
    sha = _digest(tmp)
    path = folder / f"weights-{sha[:16]}.safetensors"
    os.replace(tmp, path)
    return path, sha


def _absolute(value: Any, key: str) -> Any:
    """Paths in a study-file form given from Python are relative to the current directory."""
    if isinstance(value, dict):
        out = dict(value)
        for k in ("weights", "root", "corrupted_root"):
            if isinstance(out.get(k), str):
                out[k] = str(Path(out[k]).resolve())
        return out
    return value


def create_study(
    *,
    name: str,
    model: Any,
    data: ImageClassificationData | dict[str, Any],
    space: str | os.PathLike | dict[str, Any],
    objectives: Sequence[str | dict[str, Any]] = ("accuracy", "cr", "mce"),
    constraints: dict[str, Any] | None = None,
    storage: str | None = None,
    directory: str | os.PathLike | None = None,
    driver: str = "optuna-tpe",
    driver_options: dict[str, Any] | None = None,
    seed: int = 0,
    n_trials: int = 32,
    num_classes: int | None = None,
    features_layer: str | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    finetune: dict[str, Any] | None = None,
    finetune_step: Callable[..., Any] | str | None = None,
    optimizer_factory: Callable[..., Any] | str | None = None,
    corruptions: dict[str, Any] | None = None,
    record: str | Sequence[str] = "all",
    validation_fraction: float | None = None,
    load_if_exists: bool = False,
) -> Study:
    """Create (or, with ``load_if_exists``, resume) a study of the user's own model.

    Every argument is keyword-only and checked at once, with the study file's messages
    (the key named is the study file's, e.g. ``model.weights``).

    Args:
        name: The study's name (in the storage).
        model: The trained ``nn.Module`` (its ``forward`` gives logits; the baseline,
            measured and never retrained), or the study file's form ``{"torchvision": name,
            "num_classes": n, "weights": path}`` / ``{"builder": "package.module:callable",
            "weights": path}``.
        data: The images (:class:`ImageClassificationData`), or the study file's
            ``dataset`` form (e.g. ``{"name": "imagefolder", "root": ..., "image_size": 224}``,
            or ``{"factory": "package.module:callable"}``, a function of the user's code
            returning the datasets, which every process of the study imports).
        space: The search space: a search-space YAML file, or its content as a dict.
        objectives: The optimized objectives, names or ``{"name", "direction", "bounds"}``
            (default accuracy, cr, mce).
        constraints: Bounds a model must meet, as the study file's ``constraints`` section
            (e.g. ``{"accuracy": {"max_drop": 1.0}}``; default None: none).
        storage: An Optuna storage URL (default None: ``sqlite:///<directory>/study.db``).
        directory: The study's folder (default None: ``<name>.moo`` in the current
            directory).
        driver: The search driver (default ``optuna-tpe``).
        driver_options: The driver's options (default None: its defaults).
        seed: The study seed (default 0).
        n_trials: The completed trials :meth:`Study.optimize` reaches by default (32).
        num_classes: Classes of the model's output (default None: the data's).
        features_layer: The layer whose input is the penultimate representation the
            clustering proxy reads (default None: the last Linear layer).
        mean: Per-channel normalisation mean the model expects (default None: none).
        std: Per-channel normalisation standard deviation (default None: none).
        finetune: Fine-tuning settings, as the study file's ``finetune`` section (default
            None: its defaults: SGD, or ``{"optimizer": "adamw"}``, with ``lr``,
            ``momentum``, ``weight_decay``, ``batch_size``).
        finetune_step: The user's training step, ``step(model, (images, labels)) -> loss``
            (images float in [0, 1] on the model's device; a scalar loss to minimise), a
            module-level function or its ``"package.module:callable"`` (default None: the
            task's loss). Stored by name, so every process that runs the study imports it.
        optimizer_factory: The user's optimizer, ``factory(params) ->
            torch.optim.Optimizer``, a module-level function or its
            ``"package.module:callable"`` (default None: the ``finetune`` settings'); the
            cosine schedule applies to it.
        corruptions: The study file's ``corruptions`` section (default None: the 15
            standard corruptions at severities 1-5).
        record: Objectives measured per trial besides the optimized ones (default ``all``).
        validation_fraction: Share of ``train`` held out for validation when ``data`` has
            no ``val`` (default None: 0.2).
        load_if_exists: Resume a study of that name in the storage (default False: such a
            study is an error). A resumed study must have the same settings and model.

    Returns:
        The study.

    Raises:
        ConfigError: An argument is refused (nothing is written then).
    """
    import yaml

    # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
    from moo_compress.config import load_study_config

    if not isinstance(name, str) or not name:
        raise ConfigError(
            "create_study", "name", f"must be a non-empty string. Got {name!r} instead."
        )
    folder = Path(directory) if directory is not None else Path(f"{name}{SUFFIX}")
    folder = folder.resolve()
    existed = folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    before = set(folder.iterdir())
    draft = folder / f".{STUDY_FILE}.draft"
    try:
        section = _model_section(model, folder, num_classes, features_layer, mean, std)
        dataset = _data_section(data, folder, validation_fraction)
        if isinstance(space, dict):
            (folder / "space.yaml").write_text(yaml.safe_dump(space, sort_keys=False))
            space_file = "space.yaml"
        else:
            space_file = str(Path(space).resolve())
        text: dict[str, Any] = {
            "study": {"name": name, "seed": seed},
            "dataset": dataset,
            "model": section,
            "search_space": space_file,
            "objectives": list(objectives),
            "driver": {"name": driver, **(driver_options or {})},
            "budget": {"n_trials": n_trials},
            "record": record if isinstance(record, str) else list(record),
            "storage": storage or f"sqlite:///{folder / 'study.db'}",
            "cache_dir": "cache",
        }
        finetune = _finetune_section(finetune, finetune_step, optimizer_factory)
        for key, value in (
            ("constraints", constraints),
            ("finetune", finetune),
            ("corruptions", corruptions),
        ):
            if value is not None:
                text[key] = value
        draft.write_text(yaml.safe_dump(text, sort_keys=False))
        cfg = load_study_config(draft)  # the study file's checks and messages
        _check_new_or_same(cfg, load_if_exists)
        os.replace(draft, folder / STUDY_FILE)
    except BaseException:
        draft.unlink(missing_ok=True)
        for item in set(folder.iterdir()) - before:  # nothing half-written stays
            shutil.rmtree(item) if item.is_dir() else item.unlink()
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return Study(folder / STUDY_FILE)


def _finetune_section(finetune, step, factory) -> dict[str, Any] | None:
    """The ``finetune`` section with the user's step and optimizer factory named."""
    if step is None and factory is None:
        return finetune
    if finetune is not None and not isinstance(finetune, dict):
        return finetune  # the study file's check names the bad section
    section = dict(finetune or {})
    for key, argument, value in (
        ("step", "finetune_step", step),
        ("optimizer_factory", "optimizer_factory", factory),
    ):
        if value is not None:
            section[key] = _callable_name(value, argument)
    return section


def _callable_name(value: Any, key: str) -> str:
    """``"module:qualname"`` of a module-level callable, or the string given (the study
    file's check imports it)."""
    if isinstance(value, str):
        return value
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", "")
    name = f"{module}:{qualname}"
    shown = f"{module}.{qualname}" if qualname else repr(value)
    if not callable(value) or not module or "<" in qualname or "." in qualname:
        raise ConfigError(
            "create_study",
            key,
            "must be a module-level function (stored by name, so that a resumed study and "
            f"every worker import it) or 'package.module:callable'. Got {shown} instead.",
        )
    try:
        found = import_target(name)
    except (ImportError, AttributeError):
        found = None
    if found is not value:
        raise ConfigError(
            "create_study", key, f"must be importable as {name!r}; it is not. Got {shown} instead."
        )
    return name


def _model_section(model, staging: Path, num_classes, features_layer, mean, std) -> dict[str, Any]:
    if isinstance(model, dict):
        section = _absolute(model, "model")
    else:
        from torch import nn

        # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
        from moo_compress.models.user import register_live_model

        if not isinstance(model, nn.Module):
            raise ConfigError(
                "create_study",
                "model",
                "must be a trained torch.nn.Module or a study-file form such as "
                f"{{'builder': 'pkg.mod:build', 'weights': path}}. Got {type(model).__name__} instead.",
            )
        path, sha = _save_weights(model, staging)
        register_live_model(sha, model)
        section = {
            "python": f"{type(model).__module__}.{type(model).__qualname__}",
            "weights": path.name,
        }
    for key, value in (
        ("num_classes", num_classes),
        ("features_layer", features_layer),
        ("mean", list(mean) if mean is not None else None),
        ("std", list(std) if std is not None else None),
    ):
        if value is not None:
            section[key] = value
    return section


def _data_section(data, staging: Path, validation_fraction) -> dict[str, Any]:
    if isinstance(data, dict):
        section = _absolute(data, "dataset")
    elif isinstance(data, ImageClassificationData):
        tmp = staging / "data.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        data.write(tmp)
        h = hashlib.sha256()
        for f in sorted(tmp.iterdir()):
            h.update(f"{f.name}:{_digest(f)}".encode())
        path = staging / f"data-{h.hexdigest()[:16]}"
        if path.exists():  # the same images, written before
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, path)
        section = {"name": "arrays", "root": path.name}
    else:
        raise ConfigError(
            "create_study",
            "data",
            "must be an ImageClassificationData or a study-file dataset section. "
            f"Got {type(data).__name__} instead.",
        )
    if validation_fraction is not None:
        section["validation_fraction"] = validation_fraction
    return section


def _check_new_or_same(cfg: StudyConfig, load_if_exists: bool) -> None:
    """A study of that name must be new, or (``load_if_exists``) have the same settings."""
    # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
    from moo_compress import storage as st

    url = st.storage_url(cfg)
    if not st.study_exists(url, cfg.name):
        return
    if not load_if_exists:
        raise ConfigError(
            "create_study",
            "name",
            f"a study named {cfg.name!r} exists in {url}; pass load_if_exists=True to resume it.",
        )
    st.check_existing_study(cfg, url)


def load_study(
    *, name: str, storage: str | None = None, directory: str | os.PathLike | None = None
) -> Study:
    """A study made by :func:`create_study` (or a study file's folder), to continue it or to
    read its results.

    Args:
        name: The study's name.
        storage: Its storage URL (default None: the study folder's ``study.db``).
        directory: The study's folder (default None: ``<name>.moo`` in the current
            directory).

    Raises:
        ConfigError: No such study.
    """
    folder = Path(directory) if directory is not None else Path(f"{name}{SUFFIX}")
    path = folder.resolve() / STUDY_FILE
    if not path.is_file():
        raise ConfigError(
            "load_study",
            "directory",
            f"must be the folder create_study wrote ({STUDY_FILE} in it). Got {str(folder)!r}, which has none.",
        )
    study = Study(path, storage=storage)
    if study.cfg.name != name:
        raise ConfigError(
            "load_study",
            "name",
            f"must be the study's name {study.cfg.name!r}. Got {name!r} instead.",
        )
    return study


class Study:
    """A moo-compress study: search, results, export.

    Args:
        path: Its study file.
        storage: Its storage URL (default None: the study file's).
    """

    def __init__(self, path: str | os.PathLike, *, storage: str | None = None) -> None:
        self.path = Path(path)
        self._storage_url = storage
        self.cfg = self._config()

    def _config(self, n_trials: int | None = None) -> StudyConfig:
        # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
        from moo_compress.config import load_study_config

        return load_study_config(self.path, n_trials=n_trials, storage=self._storage_url)

    @property
    def name(self) -> str:
        """The study's name."""
        return self.cfg.name

    @property
    def storage(self) -> str:
        """The storage URL."""
        # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
        from moo_compress import storage as st

        return st.storage_url(self.cfg)

    @property
    def optuna_study(self) -> optuna.Study:
        """The Optuna study (every trial, its values and attributes)."""
        import optuna

        return optuna.load_study(study_name=self.name, storage=self.storage)

    def optimize(
        self,
        n_trials: int | None = None,
        *,
        show_progress: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Search until ``n_trials`` trials are complete (resuming what is stored).

        Args:
            n_trials: Completed trials to reach (default None: ``create_study``'s).
            show_progress: Draw a progress bar on stderr (default True).
            log: Callable for progress messages (default None: stderr).

        Returns:
            The search's summary (trials complete and failed, archive, hypervolume, times).
        """
        # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
        from moo_compress.runner import run_search

        cfg = self._config(n_trials)
        return run_search(
            cfg,
            show_progress=show_progress,
            log=log or (lambda m: print(m, file=sys.stderr)),
        )

    def _read(self):
        # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
        from moo_compress import storage as st
        from moo_compress.report import study_view

        study, meta = st.load_for_reading(self.storage, self.name, source="load_study", key="name")
        return study_view(study, meta, st.as_searched(self.cfg, meta)), study

    def pareto(self, *, all_trials: bool = False) -> pd.DataFrame:
        """The Pareto archive (or every completed trial), one row per model, as ``pareto``
        shows it.

        Args:
            all_trials: Every completed trial instead of the archive (default False).
        """
        # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
        from moo_compress.report import pareto_frame

        view, study = self._read()
        return pareto_frame(view, study, all_trials=all_trials)

    def status(self) -> dict[str, Any]:
        """Trial counts, generation, archive size and hypervolume, as ``status`` prints."""
        # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
        from moo_compress.report import status

        view, study = self._read()
        return status(view, study)

    def export(
        self, out: str | os.PathLike, *, force: bool = False, select: str | None = None
    ) -> list[dict[str, Any]]:
        """Export every Pareto-optimal model (ONNX, int8, model cards), as ``export``.

        Args:
            out: The folder to write.
            force: Replace a folder that holds files (default False).
            select: Keep the models meeting clauses such as ``cr>=8`` (default None: all).

        Returns:
            One row per exported model (as ``manifest.csv``).
        """
        # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
        from moo_compress import storage as st
        from moo_compress.export import export_pareto

        study, meta = st.load_for_reading(self.storage, self.name, source="load_study", key="name")
        return export_pareto(
            st.as_searched(self.cfg, meta),
            study,
            out,
            force=force,
            select=select,
            log=lambda m: print(m, file=sys.stderr),
        )

    def report(self, out: str | os.PathLike) -> dict[str, Any]:
        """Write the study's report (HTML, Markdown, PNG plots), as ``report``.

        Args:
            out: The report folder.
        """
        # loaded when called: ``import moo_compress`` loads no numpy, YAML or torch
        from moo_compress.study_report import write_report

        view, study = self._read()
        return write_report(view, study, Path(out), log=lambda m: print(m, file=sys.stderr))

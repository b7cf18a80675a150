"""Apply corruptions to whole test sets and cache them in the CIFAR-10-C on-disk layout."""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from moo_compress._utils.device import get_device
from moo_compress._utils.io import atomic_memmap, atomic_save_npy, atomic_write
from moo_compress._utils.registry import import_target
from moo_compress.corruptions import CORRUPTIONS, SEVERITIES
from moo_compress.corruptions._filters import truncate_grey
from moo_compress.corruptions.parameters import parameter_names, resolve_parameters
from moo_compress.data import CIFAR_C_LAYOUT, DATASET_INFO, DATASETS, REQUIRED
from moo_compress.data.base import to_tensor
from moo_compress.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "BATCH_PIXELS",
    "IMPLEMENTATION_VERSION",
    "CorruptedOnTheFly",
    "cached_corrupted_set",
    "corrupt_dataset",
    "corrupt_images",
    "corrupted_to_uint8",
    "corruption_seed",
    "iter_corrupted",
    "write_corrupted_set",
]

# Bump when an implementation changes, so caches made by older code are not reused.
# 3: glass_blur copies pixels as the published CIFAR-10-C does, frost crops the original
#    photographs, and the uint8 conversion truncates like the reference's np.uint8(...).
IMPLEMENTATION_VERSION = 3


def corruption_seed(seed: int, name: str, severity: int) -> int:
    """The generator seed of one corruption at one severity (stable across runs).

    Args:
        seed: The study's (or command's) seed.
        name: The corruption's name.
        severity: 1..5.
    """
    return (seed * 1_000_003 + zlib.crc32(name.encode()) * 7 + severity) % (2**63 - 1)


#: Pixels corrupted at once (float32 on the device, with a corruption's intermediates):
#: 2048 images of 32x32.
BATCH_PIXELS = 2048 * 32 * 32


def corrupt_images(
    images: np.ndarray,
    name: str,
    severity: int,
    *,
    seed: int,
    batch_size: int | None = None,
    out: np.ndarray | None = None,
    parameters: str = "cifar",
) -> np.ndarray:
    """Corrupt uint8 images (N, H, W, 3) at one severity; returns uint8 of the same shape.

    The same ``(seed, name, severity)`` gives the same output on every run.

    Args:
        images: uint8 images (N, H, W, 3).
        name: A name in :data:`~moo_compress.corruptions.CORRUPTIONS`.
        severity: 1..5.
        seed: Seed of the corruption's random draws (see :func:`corruption_seed`).
        batch_size: Images per batch on the engine's device (default None:
            :data:`BATCH_PIXELS` pixels' worth, 2048 images of 32x32 or 41 of 224x224, so
            memory stays bounded at any image size).
        out: Where to write the result, an array of the images' shape and dtype (for
            example a slice of a memory-mapped file; default None: a new array).
        parameters: The published set of parameters (default ``cifar``; see
            :mod:`moo_compress.corruptions.parameters`).
    """
    import torch

    fn = CORRUPTIONS.get(name)
    gen = torch.Generator().manual_seed(corruption_seed(seed, name, severity))
    device = get_device()
    out = np.empty(images.shape, dtype=np.uint8) if out is None else out
    if batch_size is None:
        batch_size = max(1, BATCH_PIXELS // (images.shape[1] * images.shape[2]))
    for i in range(0, len(images), batch_size):
        batch = to_tensor(images[i : i + batch_size]).to(device)
        out[i : i + batch_size] = corrupted_to_uint8(
            fn(batch, severity, gen, parameters=parameters)
        )
    return out


def iter_corrupted(
    images: np.ndarray, name: str, severity: int, *, seed: int, parameters: str = "cifar"
):
    """:func:`corrupt_images`' output one batch at a time (uint8 (b, H, W, 3), in order):
    the same batches, drawn from the same generator, so the concatenation is its output.

    Args:
        images: uint8 images (N, H, W, 3).
        name: A corruption's name.
        severity: 1..5.
        seed: Seed of the corruption's random draws.
        parameters: The published set of parameters (default ``cifar``).
    """
    import torch

    fn = CORRUPTIONS.get(name)
    gen = torch.Generator().manual_seed(corruption_seed(seed, name, severity))
    device = get_device()
    batch_size = max(1, BATCH_PIXELS // (images.shape[1] * images.shape[2]))
    for i in range(0, len(images), batch_size):
        batch = to_tensor(images[i : i + batch_size]).to(device)
        yield corrupted_to_uint8(fn(batch, severity, gen, parameters=parameters))


class CorruptedOnTheFly:
    """A corrupted set, ``(5 * N, H, W, 3)`` uint8, severity 1 first, made when it is read
    and never stored: what :func:`cached_corrupted_set` would write, value for value (the
    same batches from the same generator), at the cost of corrupting again at every read.

    Read it in order (``x[i : j]`` with growing ``i``, as :func:`moo_compress.training.predict`
    does): each batch is then corrupted once per pass and at most one batch is held. A read
    further back starts its severity again; an index array gathers its rows in one pass.

    Args:
        images: The clean uint8 images (N, H, W, 3) (a memory-mapped file is read a batch
            at a time).
        name: The corruption.
        seed: Seed of its random draws.
        parameters: The published set of parameters (default ``cifar``).
        transform: Applied to every corrupted batch (default None; e.g. greyscale).
    """

    def __init__(
        self,
        images: np.ndarray,
        name: str,
        *,
        seed: int,
        parameters: str = "cifar",
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.images, self.name, self.seed, self.parameters = images, name, seed, parameters
        self.transform = transform
        self.n = len(images)
        self.shape = (len(SEVERITIES) * self.n, *images.shape[1:])
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4
        self._severity = None
        self._batches = None
        self._start = 0  # block row of the batch held
        self._held = np.empty((0, *images.shape[1:]), np.uint8)

    def __len__(self) -> int:
        return self.shape[0]

    def with_transform(self, transform: Callable[[np.ndarray], np.ndarray]) -> CorruptedOnTheFly:
        """The same set with ``transform`` applied to every batch read."""
        return CorruptedOnTheFly(
            self.images, self.name, seed=self.seed, parameters=self.parameters, transform=transform
        )

    def _block_rows(self, severity: int, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of one severity's block."""
        if self._severity != severity or start < self._start:
            self._severity = severity
            self._batches = iter_corrupted(
                self.images, self.name, severity, seed=self.seed, parameters=self.parameters
            )
            self._start, self._held = 0, self._held[:0]
        pieces = []
        while start < stop:
            end = self._start + len(self._held)
            if start >= end:  # the next batch
                self._start, self._held = end, next(self._batches)
                if self.transform is not None:
                    self._held = self.transform(self._held)
                continue
            take = min(stop, end)
            pieces.append(self._held[start - self._start : take - self._start])
            start = take
        if not pieces:
            return np.empty((0, *self.shape[1:]), np.uint8)
        return np.concatenate(pieces) if len(pieces) > 1 else pieces[0].copy()

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                return self[np.arange(start, stop, step)]
            pieces = []
            while start < stop:
                k, row = divmod(start, self.n)
                take = min(stop, (k + 1) * self.n)
                pieces.append(self._block_rows(k + 1, row, row + take - start))
                start = take
            if not pieces:
                return np.empty((0, *self.shape[1:]), np.uint8)
            return np.concatenate(pieces)
        if isinstance(key, (int, np.integer)):
            return self[int(key) : int(key) + 1][0]
        rows = np.asarray(key)
        out = np.empty((len(rows), *self.shape[1:]), np.uint8)
        for k in np.unique(rows // self.n):
            picked = np.flatnonzero(rows // self.n == k)
            block = rows[picked] - k * self.n
            for i in np.argsort(block, kind="stable"):  # one pass over the block, in order
                out[picked[i]] = self._block_rows(int(k) + 1, int(block[i]), int(block[i]) + 1)[0]
        return out


def corrupted_to_uint8(batch: torch.Tensor) -> np.ndarray:
    """A corruption's float output (N, C, H, W) in [0, 1] -> uint8 (N, H, W, C), truncated.

    The reference stores ``np.uint8(corruption(img))``: every corruption there returns
    ``np.clip(x, 0, 1) * 255`` (or a 0..255 float array), which this truncates, or an image
    that is whole grey levels already (JPEG, pixelate, ImageMagick's motion blur), which our
    versions return as exact ``k / 255`` and truncation keeps. Truncation allows
    :data:`~moo_compress.corruptions._filters.TRUNCATION_SLACK` for float32 error.
    ``moo_compress.data.base.to_uint8`` rounds and stays so for its other callers.

    Args:
        batch: A corruption's output, float (N, C, H, W), on any device.
    """

    scaled = truncate_grey(batch.clamp(0, 1).mul(255.0)).clamp(0, 255)
    return scaled.to("cpu").byte().permute(0, 2, 3, 1).contiguous().numpy()


def write_corrupted_set(
    images: np.ndarray,
    labels: np.ndarray,
    names,
    out_dir: Path,
    *,
    seed: int,
    log: Callable[[str], None] | None = None,
    parameters: str = "cifar",
) -> None:
    """Write ``<name>.npy`` (all five severities, severity 1 first) and ``labels.npy``.

    Files are written under a temporary name and renamed, so an interrupted run never
    leaves a half-written file that looks complete. Files that exist already are kept.

    Args:
        images: uint8 images (N, H, W, 3).
        labels: Their labels (N,), stored as uint8, repeated for each severity.
        names: Corruption names to write.
        out_dir: The folder (created if missing).
        seed: Seed of the corruptions' random draws.
        log: Callable for a progress line per corruption generated (default None: silent).
        parameters: The published set of parameters (default ``cifar``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(names)
    missing = [n for n in names if not (out_dir / f"{n}.npy").exists()]
    n = len(images)
    for i, name in enumerate(missing, 1):
        t0 = time.perf_counter()
        # written severity by severity into a memory-mapped file: 5 copies of a large
        # validation set need not fit in memory
        with atomic_memmap(
            out_dir / f"{name}.npy", (len(SEVERITIES) * n, *images.shape[1:])
        ) as out:
            for k, s in enumerate(SEVERITIES):
                corrupt_images(
                    images,
                    name,
                    s,
                    seed=seed,
                    out=out[k * n : (k + 1) * n],
                    parameters=parameters,
                )
        if log is not None:
            log(
                f"corrupted {len(images)} images with {name}, severities 1-5 ({i}/{len(missing)}, "
                f"{time.perf_counter() - t0:.1f} s; cached in {out_dir})"
            )
    labels_path = out_dir / "labels.npy"
    if not labels_path.exists():
        atomic_save_npy(labels_path, np.tile(np.asarray(labels, dtype=np.uint8), len(SEVERITIES)))


def cached_corrupted_set(
    images: np.ndarray,
    labels: np.ndarray,
    names,
    cache_root: Path,
    *,
    seed: int,
    data_key: str,
    log: Callable[[str], None] | None = None,
    parameters: str = "cifar",
    cache_gb: float | None = None,
) -> dict[str, np.ndarray | CorruptedOnTheFly]:
    """Memory-mapped corrupted test sets, generated on first use and reused afterwards; or,
    when they would take more than ``cache_gb`` on disk, made on the fly at every read
    (:class:`CorruptedOnTheFly`: the same values, never stored).

    Args:
        images: uint8 test images (N, H, W, 3).
        labels: Their labels (N,).
        names: Corruption names.
        cache_root: The cache folder; sets go to ``corrupted/<digest>`` below it.
        seed: Seed of the corruptions' random draws.
        data_key: Identity of the test set; with the seed and :data:`IMPLEMENTATION_VERSION`
            it names the cache folder.
        log: Callable for a progress line per corruption generated (default None: silent).
        parameters: The published set of parameters (default ``cifar``; another set is
            part of the folder's name).
        cache_gb: Most gigabytes the sets may take on disk (default None: no limit).

    Returns:
        Corruption name -> uint8 array (5 * N, H, W, 3), severity 1 first.
    """
    names = list(names)
    size_gb = len(names) * len(SEVERITIES) * images.size / 1e9
    if cache_gb is not None and size_gb > cache_gb:
        if log is not None:
            log(
                f"note: the corrupted images would take {size_gb:.1f} GB on disk, more than "
                f"corruptions.cache_gb ({cache_gb:g}); they are made anew at every measurement "
                "(the same values; corruptions.n_images measures on fewer)"
            )
        return {
            name: CorruptedOnTheFly(images, name, seed=seed, parameters=parameters)
            for name in names
        }
    # random corruptions draw per batch: a batch other than 2048 images (images larger than
    # 32x32, see BATCH_PIXELS) is part of the key, so sets drawn in other batches never mix
    batch = BATCH_PIXELS // (images.shape[1] * images.shape[2])
    extra = f"|batch{batch}" if batch != 2048 else ""
    extra += f"|parameters={parameters}" if parameters != "cifar" else ""
    digest = hashlib.sha256(
        f"{data_key}|{seed}|v{IMPLEMENTATION_VERSION}{extra}".encode()
    ).hexdigest()[:16]
    folder = cache_root / "corrupted" / digest
    write_corrupted_set(images, labels, names, folder, seed=seed, log=log, parameters=parameters)
    return {
        name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in names
    }


def corrupt_dataset(
    *,
    out: Path,
    dataset: str | None = None,
    root: str | None = None,
    images: str | None = None,
    labels: str | None = None,
    names=None,
    seed: int = 0,
    test_fraction: float = 0.3,
    parameters: str = "auto",
    log=None,
) -> dict:
    """Write a "-C" version of a test set in the CIFAR-10-C layout (``moo-compress corrupt``).

    The source is a built-in dataset's test split (``dataset``, with ``root`` for CIFAR) or
    your own uint8 images (N, H, W, 3) and labels in ``.npy`` files. ``corrupt.json`` records
    what was written; rerunning the same command completes an interrupted run, and a
    different command on the same folder is refused.

    Args:
        out: The output folder (new, empty, or one this same command started).
        dataset: A built-in dataset whose test split is corrupted (when ``images`` is None).
        root: The dataset's folder (required for CIFAR).
        images: A ``.npy`` file of uint8 images (N, H, W, 3), instead of ``dataset``.
        labels: A ``.npy`` file of their N integer labels in [0, 255] (required with
            ``images``).
        names: Corruption names (default None: every registered corruption).
        seed: Seed of the dataset split and of the corruptions (default 0).
        test_fraction: Test share of the ``digits`` dataset, in [0.05, 0.9] (default 0.3).
        parameters: The published set of parameters, or ``auto``: the one nearest to the
            images' size (see :func:`~moo_compress.corruptions.parameters.auto_parameters`;
            default ``auto``).
        log: Called with a progress line per corruption (default None: silent).

    Returns:
        ``n_images``, ``n_corruptions`` and the ``seconds`` it took.

    Raises:
        ConfigError: For bad arguments, naming the option, the allowed values and the value.
    """
    import json
    import time

    log = log or (lambda m: None)
    t0 = time.perf_counter()
    names = list(names) if names else CORRUPTIONS.names()
    for name in names:
        if name not in CORRUPTIONS:
            raise ConfigError(
                "--corruptions",
                "",
                f"must be a comma-separated list of {{{', '.join(CORRUPTIONS.names())}}}. Got {name!r} instead.",
            )
    if len(set(names)) != len(names):
        raise ConfigError(
            "--corruptions", "", f"must not repeat a corruption. Got {names} instead."
        )
    if parameters not in parameter_names():
        raise ConfigError(
            "--parameters",
            "",
            f"must be one of {{{', '.join(parameter_names())}}}. Got {parameters!r} instead.",
        )
    if images is not None:
        if labels is None:
            raise ConfigError(
                "--labels", "", "is required with --images (a .npy file of N labels)."
            )
        x = _load_user_array(images, "--images")
        y = _load_user_array(labels, "--labels")
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] != 3:
            raise ConfigError(
                "--images",
                "",
                f"must hold uint8 images (N, H, W, 3). Got {x.dtype} {x.shape} instead.",
            )
        if (
            y.ndim != 1
            or len(y) != len(x)
            or y.dtype.kind not in "iu"
            or (len(y) and y.min() < 0)
            or (len(y) and y.max() > 255)
        ):
            raise ConfigError(
                "--labels",
                "",
                f"must hold {len(x)} integer labels in [0, 255]. Got {y.dtype} {y.shape} instead.",
            )
        source = {"images": str(Path(images).resolve()), "n": len(x)}
    else:
        x, y, source = _dataset_test_split(
            dataset, {"root": root, "test_fraction": test_fraction}, seed
        )
    parameters, note = resolve_parameters(parameters, *x.shape[1:3])
    if note:
        log(note)
    meta = {"source": source, "seed": seed, "implementation": IMPLEMENTATION_VERSION}
    if parameters != "cifar":  # folders written before the sets existed are CIFAR's
        meta["parameters"] = parameters
    out = Path(out)
    meta_path = out / "corrupt.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if {k: old.get(k) for k in meta} != meta:
            raise ConfigError(
                "--out",
                "",
                f"{out} holds a corrupted set made with other settings ({meta_path}); choose another folder.",
            )
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(
            "--out", "", f"must be a new or empty folder. Got {str(out)!r}, which holds files."
        )
    out.mkdir(parents=True, exist_ok=True)

    atomic_write(meta_path, json.dumps({**meta, "corruptions": names}, indent=1).encode())
    for i, name in enumerate(names, 1):
        t1 = time.perf_counter()
        write_corrupted_set(x, y, [name], out, seed=seed, parameters=parameters)
        log(f"[{i}/{len(names)}] {name}: {time.perf_counter() - t1:.1f} s")
    return {
        "n_images": len(x),
        "n_corruptions": len(names),
        "seconds": time.perf_counter() - t0,
        "parameters": parameters,
    }


def _dataset_test_split(
    dataset: str | None, given: dict, seed: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """A built-in classification dataset's test split, its options read from the command
    line against the dataset's entry of ``DATASET_INFO`` (``--root``, ``--test-fraction``).

    Returns:
        The images, the labels and what ``corrupt.json`` records of the source (the options
        but folders, which may move).
    """

    # the datasets whose test split a CIFAR-C style folder can hold
    names = [n for n in DATASETS.names() if DATASET_INFO[n].corrupted_folder == CIFAR_C_LAYOUT]
    if dataset not in names:
        raise ConfigError(
            "--dataset", "", f"must be one of {{{', '.join(names)}}}. Got {dataset!r} instead."
        )
    info = DATASET_INFO[dataset]
    options: dict = {}
    for opt in info.options:
        flag = "--" + opt.name.replace("_", "-")
        value = given.get(opt.name)
        if value is None:
            if opt.default is REQUIRED:
                raise ConfigError(flag, "", f"is required with --dataset {dataset}.")
            value = opt.default
            if value is None:
                continue
        if opt.kind in ("number", "integer") and not (
            (opt.low is None or value >= opt.low) and (opt.high is None or value <= opt.high)
        ):
            raise ConfigError(
                flag, "", f"must be a number in [{opt.low}, {opt.high}]. Got {value} instead."
            )
        options[opt.name] = str(Path(value).resolve()) if opt.kind == "path" else value
    if info.check:
        problem = import_target(info.check)(dataset, options)
        if problem:
            key, text = problem
            raise ConfigError(
                "--" + key.replace("_", "-"), "", f"{text}. Got {given.get(key)!r} instead."
            )
    ds = DATASETS.get(dataset)(seed=seed, **options)
    kinds = {o.name: o.kind for o in info.options}
    source = {"dataset": dataset, "n": len(ds.x_test)}
    source.update({k: v for k, v in options.items() if kinds[k] != "path"})
    return ds.x_test, ds.y_test, source


def _load_user_array(path: str, option: str) -> np.ndarray:

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            option, "", f"must be a readable .npy file. Got {path!r} ({type(exc).__name__})."
        ) from None

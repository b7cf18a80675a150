"""The one place that chooses where tensors live."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["get_device"]


@functools.lru_cache(maxsize=1)
def get_device() -> torch.device:
    """CUDA when available, else CPU; ``MOO_COMPRESS_DEVICE`` overrides (e.g. ``cpu``)."""
    import torch

    wanted = os.environ.get("MOO_COMPRESS_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")

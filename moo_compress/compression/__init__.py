"""Compression techniques and the per-trial pipeline.

This package's ``__init__`` stays free of torch so that configuration checks can use
:data:`PARAMETERS` (the variables a search space may contain) without loading it.
"""

from __future__ import annotations

from moo_compress.compression.params import PARAMETERS, ParamDomain

__all__ = ["PARAMETERS", "ParamDomain"]

"""moo-compress: multi-objective search for compressed, robust neural networks.

The Python API (:mod:`moo_compress.api`): :func:`create_study`, :func:`load_study`,
:class:`Study` and :class:`ImageClassificationData`. The package keeps heavy imports (torch,
optuna, pymoo) out of this module so that the command-line interface can print ``--help``
without loading them.
"""

from __future__ import annotations

from moo_compress.api import ImageClassificationData, Study, create_study, load_study

__version__ = "0.1.0"

__all__ = ["ImageClassificationData", "Study", "__version__", "create_study", "load_study"]

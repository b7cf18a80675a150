"""moo-compress: multi-objective search for compressed, robust neural networks.

The package keeps heavy imports (torch, optuna, pymoo) out of this module so that the
command-line interface can print ``--help`` without loading them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

"""Search drivers, found by name. Each proposes configurations and records every evaluation
in the study's Optuna storage through :class:`moo_compress.search.SearchSession`.

``DRIVER_OPTIONS`` lists the options each driver accepts in the study file's ``driver``
section, with (default, minimum) for the integer options.
"""

from __future__ import annotations

from moo_compress._utils.registry import Registry

DRIVERS = Registry(
    "driver",
    {
        "pymoo-nsga2": "moo_compress.drivers.pymoo_nsga2:PymooNSGA2Driver",
        "optuna-tpe": "moo_compress.drivers.optuna_samplers:OptunaDriver",
        "optuna-nsga2": "moo_compress.drivers.optuna_samplers:OptunaDriver",
        "optuna-random": "moo_compress.drivers.optuna_samplers:OptunaDriver",
        "grid": "moo_compress.drivers.grid:GridDriver",
    },
)

DRIVER_OPTIONS: dict[str, dict[str, tuple[int, int]]] = {
    "pymoo-nsga2": {"population_size": (8, 2)},
    "optuna-tpe": {"n_startup_trials": (8, 0)},
    "optuna-nsga2": {"population_size": (8, 2)},
    "optuna-random": {},
    "grid": {},
}

__all__ = ["DRIVERS", "DRIVER_OPTIONS"]

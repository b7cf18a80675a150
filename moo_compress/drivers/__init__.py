"""Search drivers, found by name. Each proposes configurations and records every evaluation
in the study's Optuna storage through :class:`moo_compress.search.SearchSession`.

:data:`DRIVER_INFO` is the one table of drivers: adding one = a new module with its class
(``Driver(cfg[, pool]).run(session, interrupted=[...])``) and one entry here that says
where it is, which options the study file's ``driver`` section takes and how it scales out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from moo_compress._utils.registry import Registry


@dataclass(frozen=True)
class DriverInfo:
    """One driver.

    Args:
        name: The ``driver.name`` of study files.
        target: ``"module:Class"`` of its implementation.
        options: Integer options of the ``driver`` section: name -> (default, minimum).
        scale_out: How it uses several workers: ``"workers"`` (independent ``worker``
            processes share the study through its storage), ``"dask"`` (one driver, each
            generation evaluated on a Dask cluster) or ``None`` (one process).
        needs_grid: Every searched variable must have a finite grid.
        needs_searched: The space must search at least one variable.
        fidelity: The driver climbs a fidelity ladder (its section also takes ``sampler``
            and ``rungs``, see :mod:`moo_compress.config._fidelity`).
    """

    name: str
    target: str
    options: dict[str, tuple[int, int]] = field(default_factory=dict)
    scale_out: str | None = None
    needs_grid: bool = False
    needs_searched: bool = True
    fidelity: bool = False


_OPTUNA = "moo_compress.drivers.optuna_samplers:OptunaDriver"
_INFO = [
    DriverInfo(
        "pymoo-nsga2",
        "moo_compress.drivers.pymoo_nsga2:PymooNSGA2Driver",
        {"population_size": (8, 2)},
        scale_out="dask",
    ),
    DriverInfo("optuna-tpe", _OPTUNA, {"n_startup_trials": (8, 0)}, scale_out="workers"),
    DriverInfo("optuna-gp", _OPTUNA, {"n_startup_trials": (8, 0)}, scale_out="workers"),
    DriverInfo("optuna-nsga2", _OPTUNA, {"population_size": (8, 2)}, scale_out="workers"),
    DriverInfo("optuna-random", _OPTUNA, {}, scale_out="workers"),
    DriverInfo(
        "mo-asha",
        "moo_compress.drivers.mo_asha:MoAshaDriver",
        {"eta": (3, 2), "n_startup_trials": (8, 0), "population_size": (8, 2)},
        scale_out="workers",
        fidelity=True,
    ),
    DriverInfo(
        "grid",
        "moo_compress.drivers.grid:GridDriver",
        needs_grid=True,
        needs_searched=False,
    ),
]
DRIVER_INFO: dict[str, DriverInfo] = {d.name: d for d in _INFO}
DRIVERS = Registry("driver", {d.name: d.target for d in _INFO})
#: Options each driver accepts, with (default, minimum); derived from :data:`DRIVER_INFO`.
DRIVER_OPTIONS: dict[str, dict[str, tuple[int, int]]] = {d.name: d.options for d in _INFO}


def drivers_that(scale_out: str) -> list[str]:
    """Names of the drivers that scale out this way (for messages).

    Args:
        scale_out: ``"workers"`` or ``"dask"``.
    """
    return [d.name for d in _INFO if d.scale_out == scale_out]


__all__ = ["DRIVERS", "DRIVER_INFO", "DRIVER_OPTIONS", "DriverInfo", "drivers_that"]

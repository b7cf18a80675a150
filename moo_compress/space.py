"""Search space: named variables mapped to Optuna distributions and pymoo variables.

A space is read from a YAML file of the form::

    variables:
      prune_ratio: {type: float, low: 0.0, high: 0.95, step: 0.05}
      prune_granularity: {type: categorical, choices: [unstructured, filter]}
      quant_bits: 8                      # fixed
      cluster_count: {fixed: 16}         # fixed, explicit form
    per_layer:                           # optional: one variable per conv/linear layer
      quant_bits: {type: categorical, choices: [4, 8, 32]}

Variables left out take the pipeline default (stage off). Every value a variable can take is
checked against :data:`moo_compress.compression.PARAMETERS` when the space is built.
``per_layer`` variables (mixed precision, per-layer sparsity) become ``<name>@<layer>`` once
the space is bound to an architecture's layers (:meth:`SearchSpace.bind`); they replace the
global variable of the same name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moo_compress.compression.params import (
    PARAMETERS,
    PER_LAYER,
    TECHNIQUE_DEFAULTS,
    TECHNIQUES,
    ParamDomain,
    layer_values,
    model_parameters,
    resolve,
)
from moo_compress.errors import ConfigError
from moo_compress.settings.reader import Section, describe, load_yaml

if TYPE_CHECKING:
    import optuna

_MAX_INT_VALUES = 100_000


@dataclass(frozen=True)
class Variable:
    """One searched or fixed variable.

    Args:
        name: The pipeline variable it sets.
        type: ``"float"``, ``"int"``, ``"categorical"`` or ``"fixed"``.
        low: Lower bound (numeric types).
        high: Upper bound (numeric types).
        step: Grid step, or None for a continuous float / step 1 int.
        log: Sample on a log scale (numeric types, no step).
        choices: Options (categorical).
        value: The value (fixed).
    """

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    value: Any = None

    @property
    def searched(self) -> bool:
        """Whether the variable is searched (not fixed)."""
        return self.type != "fixed"

    def snap(self, value: Any) -> Any:
        """Return ``value`` on this variable's grid with a canonical Python type.

        Numbers are rounded to the grid and clamped to [low, high]; a fixed variable
        returns its value whatever ``value`` is.

        Args:
            value: A value proposed for this variable.

        Raises:
            ValueError: ``value`` is not one of a categorical variable's choices.
        """
        if self.type == "float":
            v = float(value)
            if self.step is not None:
                v = self.low + round((v - self.low) / self.step) * self.step
            return round(min(max(v, self.low), self.high), 10)
        if self.type == "int":
            step = int(self.step or 1)
            v = int(round(float(value)))
            v = int(self.low + round((v - self.low) / step) * step)
            return min(max(v, int(self.low)), int(self.high))
        if self.type == "categorical":
            for c in self.choices:
                if c == value:
                    return c
            raise ValueError(f"{value!r} is not a choice of {self.name}")
        return self.value

    def optuna_distribution(self) -> optuna.distributions.BaseDistribution:
        """The variable's Optuna distribution.

        Raises:
            ValueError: The variable is fixed.
        """
        import optuna.distributions as d

        if self.type == "float":
            return d.FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return d.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        if self.type == "categorical":
            return d.CategoricalDistribution(list(self.choices))
        raise ValueError("fixed variables have no distribution")

    def grid_values(self) -> list[Any]:
        """Every value of a finite grid, in order.

        Raises:
            ValueError: The variable is a continuous float.
        """
        if self.type == "categorical":
            return list(self.choices)
        if self.type == "fixed":
            return [self.value]
        n = self.grid_size()
        if n is None:
            raise ValueError(f"{self.name} is a continuous float: it has no grid")
        if self.type == "int":
            return [int(self.low) + i * int(self.step or 1) for i in range(n)]
        return [self.snap(self.low + i * self.step) for i in range(n)]

    def grid_size(self) -> int | None:
        """Number of grid points, or None for a continuous float."""
        if self.type == "float":
            return None if self.step is None else int(round((self.high - self.low) / self.step)) + 1
        if self.type == "int":
            return (int(self.high) - int(self.low)) // int(self.step or 1) + 1
        if self.type == "categorical":
            return len(self.choices)
        return 1


class SearchSpace:
    """An ordered set of variables over the compression pipeline.

    Args:
        variables: Variables by name, in file order.
        source: File the space was read from (for messages and reports; default
            ``"<memory>"``).
        per_layer: Templates of the per-layer variables by name (default None: none); they
            become variables when the space is bound to layers (:meth:`bind`).
    """

    def __init__(
        self,
        variables: dict[str, Variable],
        source: str = "<memory>",
        per_layer: dict[str, Variable] | None = None,
    ) -> None:
        self.variables = dict(variables)
        self.source = source
        self.per_layer = dict(per_layer or {})
        self.layers: list[str] | None = None

    def bind(self, layers: list[str]) -> SearchSpace:
        """Create the ``per_layer`` variables for these layers (conv/linear, module order).

        Only the first call on a space with per-layer variables binds it; later calls
        change nothing.

        Args:
            layers: The architecture's layer names.

        Returns:
            The same space.
        """
        if self.layers is not None or not self.per_layer:
            return self
        self.layers = list(layers)
        for template in self.per_layer.values():
            for layer in self.layers:
                name = f"{template.name}@{layer}"
                self.variables[name] = replace(template, name=name)
        return self

    def archs(self, default: str) -> list[str]:
        """The architectures this space's configurations use.

        Args:
            default: The study's architecture, used when the space has no ``arch`` variable.
        """
        var = self.variables.get("arch")
        if var is None:
            return [default]
        return list(var.choices) if var.searched else [var.value]

    @property
    def searched(self) -> list[Variable]:
        """The searched (not fixed) variables, in order."""
        return [v for v in self.variables.values() if v.searched]

    def full_config(self, params: dict[str, Any]) -> dict[str, Any]:
        """Complete pipeline configuration: searched values, fixed values, defaults.

        Args:
            params: A value for every searched variable, by name (snapped to its grid).

        Returns:
            The canonical (resolved) configuration.

        Raises:
            RuntimeError: The space has per-layer variables but is not bound to layers.
        """
        if self.per_layer and self.layers is None:
            raise RuntimeError("a space with per_layer variables must be bound to layers first")

        def value(var: Variable) -> Any:
            return var.snap(params[var.name]) if var.searched else var.value

        config: dict[str, Any] = {}
        for name, dom in PARAMETERS.items():
            var = self.variables.get(name)
            config[name] = dom.default if var is None else value(var)
        for name in model_parameters():
            if name in self.variables:
                config[name] = value(self.variables[name])
        for name in PER_LAYER:
            config[f"layer_{name}"] = {
                var.name.split("@", 1)[1]: value(var)
                for var in self.variables.values()
                if var.name.startswith(f"{name}@")
            }
        return resolve(config)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Ask an Optuna trial for every searched variable; return the full configuration.

        Args:
            trial: The trial to ask.
        """
        params = {}
        for var in self.searched:
            if var.type == "float":
                params[var.name] = trial.suggest_float(
                    var.name, var.low, var.high, step=var.step, log=var.log
                )
            elif var.type == "int":
                params[var.name] = trial.suggest_int(
                    var.name, int(var.low), int(var.high), step=int(var.step or 1), log=var.log
                )
            else:
                params[var.name] = trial.suggest_categorical(var.name, list(var.choices))
        return self.full_config(params)

    def distributions(self) -> dict[str, Any]:
        """The Optuna distribution of every searched variable, by name."""
        return {v.name: v.optuna_distribution() for v in self.searched}

    def searched_params(self, config: dict[str, Any]) -> dict[str, Any]:
        """The searched variables' values of a (canonical) configuration, for Optuna.

        Canonicalisation resets the settings of stages that do not run (``prune_method`` of
        an unpruned model becomes ``magnitude``), which may lie outside the variable's
        domain; any value of the domain builds the same model then, so the first one (or the
        nearest bound) stands in.

        Args:
            config: A canonical configuration.
        """
        out = {}
        for v in self.searched:
            if "@" in v.name:
                base, layer = v.name.split("@", 1)
                value = layer_values(config, base).get(layer, config[base])
            else:
                value = config[v.name]
            if v.type == "categorical" and value not in v.choices:
                value = v.choices[0]
            elif v.type in ("float", "int"):
                value = v.snap(value)
            out[v.name] = value
        return out

    def pymoo_variables(self) -> dict[str, Any]:
        """The searched variables as pymoo variables, by name.

        Floats with a step and ints are searched as integer grid indices (``Integer``), so no
        operator can propose a value off the grid; categoricals are ``Choice`` variables over
        the choices' indices, continuous floats ``Real``.
        """
        from pymoo.core.variable import Choice, Integer, Real

        out = {}
        for var in self.searched:
            if var.type == "categorical":
                out[var.name] = Choice(options=list(range(len(var.choices))))
            elif var.type == "float" and var.step is None:
                out[var.name] = Real(bounds=(var.low, var.high))
            else:
                out[var.name] = Integer(bounds=(0, var.grid_size() - 1))
        return out

    def from_pymoo(self, x: dict[str, Any]) -> dict[str, Any]:
        """The full configuration of a pymoo individual (see :meth:`pymoo_variables`).

        Args:
            x: The individual's ``X``: a value per searched variable, by name.
        """
        params = {}
        for var in self.searched:
            raw = x[var.name]
            if var.type == "categorical":
                params[var.name] = var.choices[int(raw)]
            elif var.type == "float" and var.step is None:
                params[var.name] = var.snap(raw)
            elif var.type == "float":
                params[var.name] = var.snap(var.low + int(raw) * var.step)
            else:
                params[var.name] = var.snap(int(var.low) + int(raw) * int(var.step or 1))
        return self.full_config(params)

    @staticmethod
    def config_key(config: dict[str, Any]) -> str:
        """Stable identity of a configuration (used to never evaluate one twice).

        Args:
            config: A configuration (JSON-serialisable).

        Returns:
            16 hex digits of the SHA-256 of its canonical JSON.
        """
        text = json.dumps(config, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> list[dict[str, Any]]:
        """One row (``name``, ``type``, ``domain``) per variable, per-layer ones once as
        ``<name>@<layer>``."""
        rows = []
        templates = [replace(v, name=f"{v.name}@<layer>") for v in self.per_layer.values()]
        for var in [*self.variables.values(), *templates]:
            if "@" in var.name and not var.name.endswith("@<layer>"):
                continue
            if var.type == "fixed":
                rows.append({"name": var.name, "type": "fixed", "domain": describe(var.value)})
            elif var.type == "categorical":
                rows.append({"name": var.name, "type": var.type, "domain": list(var.choices)})
            else:
                rows.append(
                    {"name": var.name, "type": var.type, "domain": [var.low, var.high, var.step]}
                )
        return rows


def _check_value(dom: ParamDomain, value: Any, error) -> None:
    if not dom.contains(value):
        raise error(f"must be {dom.allowed}. Got {describe(value)} instead.")


def _parse_variable(name: str, spec: Any, source: str, path: str) -> Variable:
    dom = PARAMETERS.get(name) or model_parameters()[name]

    def err(key: str):
        return lambda msg: ConfigError(source, f"{path}.{key}" if key else path, msg)

    if not isinstance(spec, dict):
        _check_value(dom, spec, err(""))
        return Variable(name=name, type="fixed", value=spec)
    sec = Section(spec, source, path)
    if sec.has("fixed"):
        value = sec.raw("fixed")
        sec.finish()
        _check_value(dom, value, err("fixed"))
        return Variable(name=name, type="fixed", value=value)
    allowed_types = {
        "float": ["float", "categorical"],
        "int": ["int", "categorical"],
        "categorical": ["categorical"],
    }[dom.kind]
    vtype = sec.string("type", choices=allowed_types)
    if vtype == "categorical":
        choices = sec.raw("choices")
        sec.finish()
        if not isinstance(choices, list) or not choices:
            raise sec.error(
                "choices", f"must be a non-empty list. Got {describe(choices)} instead."
            )
        for i, c in enumerate(choices):
            _check_value(dom, c, err(f"choices[{i}]"))
        if len(set(map(repr, choices))) != len(choices):
            raise sec.error("choices", f"must not repeat a value. Got {describe(choices)} instead.")
        return Variable(name=name, type="categorical", choices=tuple(choices))
    log = sec.boolean("log", False)
    if vtype == "float":
        low = sec.number("low")
        high = sec.number("high")
        step = sec.number("step", None, low=0.0, low_open=True)
        sec.finish()
        _check_value(dom, low, err("low"))
        _check_value(dom, high, err("high"))
    else:
        low = sec.integer("low")
        high = sec.integer("high")
        step = sec.integer("step", None, low=1)
        sec.finish()
        _check_value(dom, low, err("low"))
        _check_value(dom, high, err("high"))
    if low > high:
        raise sec.error("high", f"must be >= low ({low}). Got {describe(high)} instead.")
    if log and (step is not None or low <= 0):
        raise sec.error(
            "log",
            f"needs low > 0 and no step. Got low={describe(low)}, step={describe(step)} instead.",
        )
    if vtype == "float" and step is not None:
        n = (high - low) / step
        if abs(n - round(n)) > 1e-9:
            raise sec.error(
                "step", f"must divide high - low ({high - low:g}). Got {describe(step)} instead."
            )
    if vtype == "int":
        n_values = (high - low) // (step or 1) + 1
        if n_values > _MAX_INT_VALUES:
            raise sec.error(
                "high", f"gives more than {_MAX_INT_VALUES} values. Got {describe(high)} instead."
            )
        for v in range(low, high + 1, step or 1):
            if not dom.contains(v):
                raise ConfigError(
                    source,
                    path,
                    f"every value must be {dom.allowed}; the range [{low}, {high}] includes {v}. "
                    f"Use type: categorical with a list of choices instead.",
                )
    return Variable(name=name, type=vtype, low=low, high=high, step=step, log=log)


def load_space(path: str | Path, source: str | None = None) -> SearchSpace:
    """Read and check a search-space YAML file.

    Args:
        path: The file.
        source: Name used in error messages (defaults to ``path``).

    Raises:
        ConfigError: The file is missing, not YAML, or a variable is unknown or out of range.
    """
    path = Path(path)
    source = source or str(path)
    data = load_yaml(path, source, "search-space")
    top = Section(data if data is not None else {}, source)
    variables_sec = top.section("variables", None)
    per_layer_sec = top.section("per_layer", None)
    top.raw("description", None)
    top.finish()
    variables: dict[str, Variable] = {}
    known = [*PARAMETERS, *model_parameters()]
    for name, spec in variables_sec.data.items():
        key = variables_sec.key(str(name))
        if name not in known:
            raise ConfigError(
                source,
                key,
                f"is not a known variable. Allowed: {{{', '.join(known)}}}. Got {describe(name)} instead.",
            )
        variables[name] = _parse_variable(name, spec, source, key)
    per_layer: dict[str, Variable] = {}
    for name, spec in per_layer_sec.data.items():
        key = per_layer_sec.key(str(name))
        if name not in PER_LAYER:
            raise ConfigError(
                source,
                key,
                f"cannot be set per layer. Allowed: {{{', '.join(PER_LAYER)}}}. Got {describe(name)} instead.",
            )
        if name in variables:
            raise ConfigError(
                source,
                key,
                f"replaces variables.{name}; give {name} either globally or per layer, not both.",
            )
        per_layer[name] = _parse_variable(name, spec, source, key)
    if per_layer and "arch" in variables:
        raise ConfigError(
            source,
            "per_layer",
            "addresses the layers of one architecture; remove per_layer or variables.arch (the study's model.arch then applies).",
        )
    _check_technique_settings(variables, per_layer, source)
    return SearchSpace(variables, source=source, per_layer=per_layer)


def _in_domain(var: Variable, value: Any) -> bool:
    """Whether a searched variable can take ``value`` (on its grid)."""
    if var.type == "categorical":
        return any(value == c and type(value) is type(c) for c in var.choices)
    if var.type == "fixed":
        return value == var.value
    if not var.low - 1e-12 <= value <= var.high + 1e-12:
        return False
    if var.step is None:
        return True
    n = (value - var.low) / var.step
    return abs(n - round(n)) < 1e-9


def _check_technique_settings(
    variables: dict[str, Variable], per_layer: dict[str, Variable], source: str
) -> None:
    """Refuse a space whose technique can run a stage with a setting its variable cannot hold.

    A named technique that switches a stage on while the stage's variable says "off" builds
    the stage with seed 000's setting (:data:`TECHNIQUE_DEFAULTS`). The trial must store the
    value the model was built with, so that value must be one the variable can take.
    """

    tech = variables.get("technique")
    if tech is None:
        return
    names = [tech.value] if tech.type == "fixed" else list(tech.choices)
    stage_of = {"prune_ratio": 0, "cluster_count": 1, "quant_bits": 2}
    for name, stage in stage_of.items():
        forcing = [t for t in names if t != "auto" and TECHNIQUES[t][1][stage]]
        candidates = [(f"variables.{name}", variables.get(name))]
        candidates.append((f"per_layer.{name}", per_layer.get(name)))
        for key, var in candidates:
            if not forcing or var is None or not var.searched:
                continue
            off, setting = PARAMETERS[name].default, TECHNIQUE_DEFAULTS[name]
            if _in_domain(var, off) and not _in_domain(var, setting):
                raise ConfigError(
                    source,
                    key,
                    f"technique {forcing[0]!r} runs this stage with seed 000's setting "
                    f"{setting} when the variable is {off} (off), and {setting} is not a value "
                    f"of this variable: include {setting}, leave {off} out, or fix the variable. "
                    f"Got {describe(var.choices if var.type == 'categorical' else [var.low, var.high])} instead.",
                )


__all__ = ["SearchSpace", "Variable", "load_space"]

"""The variables of the compression pipeline: their domains and their values when not searched.

A search space (``search_spaces/*.yaml``) may search over, fix, narrow or remove each of
these; a removed variable takes its ``default``, which always means "this stage is off"
or a neutral setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moo_compress._utils.registry import Registry
from moo_compress.models import ARCHITECTURES

__all__ = [
    "CONFIG_COLUMNS",
    "PARAMETERS",
    "PER_LAYER",
    "PRUNE_METHODS",
    "TECHNIQUES",
    "TECHNIQUE_DEFAULTS",
    "ParamDomain",
    "config_row",
    "layer_values",
    "model_parameters",
    "resolve",
    "stage_value",
]


@dataclass(frozen=True)
class ParamDomain:
    """What values one pipeline variable may take.

    Args:
        name: Variable name as written in search-space files.
        kind: ``"float"``, ``"int"`` or ``"categorical"``.
        default: Value used when the variable is not in the search space.
        allowed: Human-readable description used in error messages.
        contains: Predicate telling whether a single value is allowed.
        low: Smallest allowed value for numeric kinds (for range checks).
        high: Largest allowed value for numeric kinds.
        choices: The allowed values of a categorical variable (None for numeric kinds).
    """

    name: str
    kind: str
    default: Any
    allowed: str
    contains: Callable[[Any], bool]
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _choice(name: str, choices: tuple[Any, ...], default: Any) -> ParamDomain:
    return ParamDomain(
        name=name,
        kind="categorical",
        default=default,
        allowed="one of {"
        + ", ".join(str(c).lower() if isinstance(c, bool) else str(c) for c in choices)
        + "}",
        contains=lambda v: any(v == c and type(v) is type(c) for c in choices),
        choices=choices,
    )


def _int_range(name: str, low: int, high: int, default: int) -> ParamDomain:
    return ParamDomain(
        name=name,
        kind="int",
        default=default,
        allowed=f"an int in [{low}, {high}]",
        contains=lambda v: _is_int(v) and low <= v <= high,
        low=low,
        high=high,
    )


# Seed 000's 16 techniques, by number, with the stages each one switches on, in the order
# of ``compression.pipeline.STAGES`` (pruning, clustering, QAT, post-training int8).
TECHNIQUES: dict[str, tuple[int, tuple[bool, bool, bool, bool]]] = {
    "original": (1, (False, False, False, False)),
    "post-training int8": (2, (False, False, False, True)),
    "pruning": (3, (True, False, False, False)),
    "pruning + int8": (4, (True, False, False, True)),
    "clustering": (5, (False, True, False, False)),
    "clustering + int8": (6, (False, True, False, True)),
    "pruning + clustering": (7, (True, True, False, False)),
    "pruning + clustering + int8": (8, (True, True, False, True)),
    "QAT": (9, (False, False, True, False)),
    "QAT + int8": (10, (False, False, True, True)),
    "CQAT": (11, (False, True, True, False)),
    "CQAT + int8": (12, (False, True, True, True)),
    "PQAT": (13, (True, False, True, False)),
    "PQAT + int8": (14, (True, False, True, True)),
    "PCQAT": (15, (True, True, True, False)),
    "PCQAT + int8": (16, (True, True, True, True)),
}
TECHNIQUE_BY_STAGES = {stages: name for name, (_, stages) in TECHNIQUES.items()}


# When a technique switches a stage on whose variable says "off", the stage runs with
# seed 000's setting: 50 % sparsity, 16 clusters per layer, 8-bit QAT.
TECHNIQUE_DEFAULTS = {"prune_ratio": 0.5, "cluster_count": 16, "quant_bits": 8}


def model_parameters() -> dict[str, ParamDomain]:
    """Variables that choose the model rather than a compression stage.

    They are not in :data:`PARAMETERS`: a configuration holds ``arch`` only when its search
    space names it (otherwise the study's ``model.arch`` applies), so studies that do not
    search architectures keep their configuration identities.

    Returns:
        ``{"arch": ...}``, a categorical over the registered architectures (no default).
    """

    return {"arch": _choice("arch", tuple(ARCHITECTURES.names()), None)}


#: Pruning criteria: name -> the function computing its keep-masks
#: (``(model, PruneContext) -> {layer: mask}``, see :mod:`moo_compress.compression.pruning`).
#: Adding a criterion is one module and one line here; ``prune_method``'s choices are these.
PRUNE_METHODS = Registry(
    "prune_method",
    {
        "magnitude": "moo_compress.compression.magnitude:magnitude_masks",
        "random": "moo_compress.compression.magnitude:random_masks",
        "hydra": "moo_compress.compression.hydra:hydra_masks",
        "deeplift": "moo_compress.compression.deeplift:deeplift_masks",
        "saliency": "moo_compress.compression.datafree:saliency_masks",
        "datafree": "moo_compress.compression.datafree:datafree_masks",
    },
)
GRANULARITIES = ("unstructured", "kernel", "filter")
# Criteria that prune whole hidden units of fully connected layers (seed 002): the
# granularity does not apply to them.
UNIT_PRUNE_METHODS = ("saliency", "datafree")

PARAMETERS: dict[str, ParamDomain] = {
    p.name: p
    for p in [
        _choice("technique", ("auto", *TECHNIQUES), "auto"),
        ParamDomain(
            name="prune_ratio",
            kind="float",
            default=0.0,
            allowed="a float in [0, 0.99]",
            contains=lambda v: _is_num(v) and 0.0 <= v <= 0.99,
            low=0.0,
            high=0.99,
        ),
        _choice("prune_method", tuple(PRUNE_METHODS.names()), "magnitude"),
        _choice("prune_granularity", GRANULARITIES, "unstructured"),
        _int_range("score_epochs", 1, 100, 2),
        _choice("deeplift_baseline", ("zero", "mean"), "zero"),
        _choice("robust_training", (False, True), False),
        ParamDomain(
            name="cluster_count",
            kind="int",
            default=0,
            allowed="0 (clustering off) or an int in [4, 256]",
            contains=lambda v: _is_int(v) and (v == 0 or 4 <= v <= 256),
            low=0,
            high=256,
        ),
        _choice("cluster_init", ("kmeans++", "linear"), "kmeans++"),
        ParamDomain(
            name="quant_bits",
            kind="int",
            default=32,
            allowed="an int in [2, 8], or 32 (not quantized)",
            contains=lambda v: _is_int(v) and (2 <= v <= 8 or v == 32),
            low=2,
            high=32,
        ),
        _choice("act_bits", (32, 8), 32),
        _choice("int8", (False, True), False),
        _int_range("replicate", 0, 1000, 0),
        _int_range("finetune_epochs", 0, 50, 1),
    ]
}

# Variables a search space may also set per layer (``per_layer:``), as mixed-precision and
# per-layer-sparsity allocations. In a configuration they live in ``layer_<name>`` maps.
PER_LAYER = ("prune_ratio", "quant_bits")


def layer_values(config: dict[str, Any], name: str) -> dict[str, Any]:
    """A configuration's per-layer values of one variable (empty when it has none).

    Args:
        config: A configuration.
        name: A variable of :data:`PER_LAYER`.

    Returns:
        Layer name -> value, from the configuration's ``layer_<name>`` map.
    """
    return config.get(f"layer_{name}") or {}


def stage_value(config: dict[str, Any], name: str, layer: str) -> Any:
    """The value of a per-layer-capable variable for one layer.

    Args:
        config: A resolved configuration (the variable's global value is its fallback).
        name: A variable of :data:`PER_LAYER`.
        layer: The layer's qualified name.
    """
    return layer_values(config, name).get(layer, config[name])


CONFIG_COLUMNS = (*PARAMETERS, *(f"layer_{name}" for name in PER_LAYER))


def config_row(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration as flat table columns (per-layer maps as ``layer=value`` lists).

    Args:
        config: A configuration; a variable it lacks is None in the row.

    Returns:
        Column -> value, for the columns :data:`CONFIG_COLUMNS`.
    """
    row = {name: config.get(name) for name in PARAMETERS}
    for name in PER_LAYER:
        values = layer_values(config, name)
        row[f"layer_{name}"] = " ".join(f"{k}={v}" for k, v in values.items())
    return row


def resolve(config: dict[str, Any]) -> dict[str, Any]:
    """The canonical form of a configuration: technique named, inactive settings neutral.

    ``technique: auto`` takes the technique the stage variables realise; a named technique
    switches stages on (with :data:`TECHNIQUE_DEFAULTS` for a stage whose variable is off)
    and off. Settings of stages that do not run return to their defaults, so two
    configurations that build the same model have the same identity.

    Args:
        config: A configuration (missing variables take their defaults; not modified).

    Returns:
        A new dict: every variable of :data:`PARAMETERS`, the per-layer maps and any other
        key of ``config`` (such as ``arch``).
    """
    c = {name: dom.default for name, dom in PARAMETERS.items()}
    c.update(config)
    for name in PER_LAYER:
        c[f"layer_{name}"] = dict(sorted(layer_values(c, name).items()))

    def on(name: str) -> bool:
        off = PARAMETERS[name].default
        return any(v != off for v in [c[name], *c.get(f"layer_{name}", {}).values()])

    if c["technique"] == "auto":
        c["technique"] = TECHNIQUE_BY_STAGES[
            (on("prune_ratio"), c["cluster_count"] > 0, on("quant_bits"), bool(c["int8"]))
        ]
    prune, cluster, qat, int8 = TECHNIQUES[c["technique"]][1]
    for name, wanted in (("prune_ratio", prune), ("cluster_count", cluster), ("quant_bits", qat)):
        if wanted and on(name):
            continue
        value = TECHNIQUE_DEFAULTS[name] if wanted else PARAMETERS[name].default
        per_layer = c.get(f"layer_{name}") or {}
        if wanted and per_layer:
            # every layer of a per-layer space takes the setting, so the configuration is
            # one its per-layer variables can express (and store)
            c[f"layer_{name}"] = dict.fromkeys(per_layer, value)
            continue
        c[name] = value
        if name in PER_LAYER:  # the global value now applies to every layer
            c[f"layer_{name}"] = {}
    c["int8"] = int8
    neutral = []
    if not prune:
        neutral += ["prune_method", "prune_granularity"]
    if not (prune and c["prune_method"] == "hydra"):
        neutral.append("score_epochs")
    if not (prune and c["prune_method"] == "deeplift"):
        neutral.append("deeplift_baseline")
    if not cluster:
        neutral.append("cluster_init")
    if not qat:
        neutral.append("act_bits")
    if prune and c["prune_method"] in UNIT_PRUNE_METHODS and c["prune_granularity"] == "kernel":
        # They mask whole hidden units of FC layers, where kernel and unstructured
        # granularity build the same model (``filter`` removes the units physically).
        c["prune_granularity"] = "unstructured"
    if not (prune or cluster or qat):
        neutral.append("replicate")
        c["finetune_epochs"] = 0
    trains = c["finetune_epochs"] > 0 or (prune and c["prune_method"] == "hydra")
    if not trains:  # nothing is trained, so PGD in training changes nothing
        neutral.append("robust_training")
    for name in neutral:
        c[name] = PARAMETERS[name].default
    return c

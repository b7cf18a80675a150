"""The fidelity ladder of a multi-fidelity driver (``driver.rungs`` of a study file).

A ladder is a list of cheaper *rungs* below the study's full evaluation (the implicit top
rung). Every rung evaluates the same model (the configuration, fine-tuned exactly as the
full evaluation fine-tunes it, built once and kept); rungs differ in what they measure:

- ``objectives``: which of the recorded objectives a rung measures (default: all);
- ``corruptions`` / ``severities``: a subset of the study's corruptions and severities for
  the objectives that need corrupted images (default: all of the study's);
- ``images``: the number of validation images measured (default: all);
- ``finetune_epochs``: epochs of the build's last fine-tuning run at this rung (default:
  all of them). The run pauses there; promoted, the configuration continues the same run
  from its checkpoint (kept with the trial artifacts), on the schedule of the whole run, so
  its top rung stores exactly the model a full evaluation builds
  (:func:`moo_compress.compression.pipeline.build` says what a pause pauses). Rungs go up
  in epochs; nothing measured on a paused model is reused above it.

An objective measured at a rung on the full data (no subset that concerns it) is not
measured again above it: its value is reused. The default ladder is one rung that measures
the optimized and constrained objectives that need no corrupted images (what promotions
rank by); the corrupted-image objectives (the 95 corrupted passes of mCE) and every other
recorded objective are left to the full evaluation.
"""

from __future__ import annotations

from typing import Any

from moo_compress.drivers.ladder import Rung
from moo_compress.errors import ConfigError
from moo_compress.settings.reader import Section, describe

__all__ = ["BASE_SAMPLERS", "TIE_BREAKS", "corrupted_kinds", "parse_ladder"]

#: Base samplers a multi-fidelity driver proposes new configurations with. TPE (the
#: default) and NSGA-II are fitted on every configuration's rung-0 result, not only on the
#: few full evaluations (see :class:`moo_compress.drivers.mo_asha.MoAshaDriver`).
BASE_SAMPLERS = ("random", "tpe", "gp", "nsga2")
#: How promotions order configurations of the same non-dominated front.
TIE_BREAKS = ("crowding", "hypervolume")
#: Objective kinds measured on corrupted images (``ObjectiveInfo.kind``).
corrupted_kinds = ("robustness",)
MAX_RUNGS = 8


def parse_ladder(
    drv: Section,
    *,
    record: tuple[str, ...],
    corruptions: tuple[str, ...],
    severities: tuple[int, ...],
    kinds: dict[str, str],
    task: str,
    ranked: tuple[str, ...] = (),
    max_epochs: int | None = None,
) -> dict[str, Any]:
    """Read ``sampler`` and ``rungs`` of a multi-fidelity driver's section.

    Args:
        drv: The study file's ``driver`` section.
        record: The objectives every trial records (the full evaluation).
        corruptions: The study's corruptions.
        severities: The study's severities.
        kinds: Objective name -> kind (``ObjectiveInfo.kind``).
        task: The study's task.
        ranked: The objectives promotions rank by and the constrained ones (default ():
            every recorded objective).
        max_epochs: The most fine-tuning epochs the search space allows (default None:
            unknown, not checked).

    Returns:
        ``{"sampler": name, "rungs": [Rung.to_dict(), ...]}`` (the top rung not included).

    Raises:
        ConfigError: A key, value or rung is invalid (named with its key path).
    """
    sampler = drv.string("sampler", "tpe", choices=BASE_SAMPLERS)
    tie_break = drv.string("tie_break", "crowding", choices=TIE_BREAKS)
    raw = drv.raw("rungs", None)
    ranked = tuple(o for o in record if o in ranked) if ranked else tuple(record)
    cheap = tuple(o for o in ranked if kinds.get(o) not in corrupted_kinds)
    if raw is None:
        if not cheap or (cheap == tuple(record)):
            raise drv.error(
                "rungs",
                "must be given here: the default lower rung measures the optimized and "
                "constrained objectives that need no corrupted images, and leaves the rest to "
                f"the full evaluation, which here is {'nothing' if cheap else 'everything'}; "
                f"give a rung with `objectives: [...]` or `images: N`. Got {describe(raw)} instead.",
            )
        raw = [{"objectives": list(cheap)}]
    if not isinstance(raw, list) or not raw or len(raw) > MAX_RUNGS:
        raise drv.error(
            "rungs",
            f"must be a list of 1 to {MAX_RUNGS} rungs below the full evaluation, each a mapping "
            f"with objectives, corruptions, severities, images or finetune_epochs. Got {describe(raw)} instead.",
        )
    rungs = []
    epochs_below: int | None = 0
    for i, item in enumerate(raw):
        sec = Section(item, drv.source, f"{drv.key('rungs')}[{i}]")
        sec.expect(("objectives", "corruptions", "severities", "images", "finetune_epochs"))
        objs = sec.raw("objectives", list(record))
        if (
            not isinstance(objs, list)
            or not objs
            or any(o not in record for o in objs)
            or len(set(objs)) != len(objs)
        ):
            raise sec.error(
                "objectives",
                f"must be a non-empty list of distinct recorded objectives, from {{{', '.join(record)}}}. Got {describe(objs)} instead.",
            )
        cors = sec.raw("corruptions", None)
        if cors is not None and (
            not isinstance(cors, list)
            or not cors
            or any(c not in corruptions for c in cors)
            or len(set(cors)) != len(cors)
        ):
            raise sec.error(
                "corruptions",
                f"must be a non-empty list of distinct corruptions of the study, from {{{', '.join(corruptions)}}}. Got {describe(cors)} instead.",
            )
        sevs = sec.raw("severities", None)
        if sevs is not None and (
            not isinstance(sevs, list)
            or not sevs
            or any(isinstance(s, bool) or s not in severities for s in sevs)
            or len(set(sevs)) != len(sevs)
        ):
            raise sec.error(
                "severities",
                f"must be a non-empty list of distinct severities of the study, from {{{', '.join(map(str, severities))}}}. Got {describe(sevs)} instead.",
            )
        images = sec.integer("images", None, low=10, high=10_000_000)
        if images is not None and task != "classification":
            raise sec.error(
                "images",
                f"is supported for classification studies only (detection rungs measure every image). Got {describe(images)} instead.",
            )
        epochs = sec.integer("finetune_epochs", None, low=1, high=1000)
        if epochs is not None:
            if max_epochs is not None and epochs >= max_epochs:
                raise sec.error(
                    "finetune_epochs",
                    f"must be below the full evaluation's fine-tuning epochs (the search space allows at most {max_epochs}). Got {describe(epochs)} instead.",
                )
            if epochs_below is None or epochs < epochs_below:
                raise sec.error(
                    "finetune_epochs",
                    "must not be below the epochs of a rung under it (rungs go up in epochs; a "
                    f"rung without finetune_epochs trains them all). Got {describe(epochs)} instead.",
                )
        epochs_below = epochs
        sec.finish()
        subset_c = tuple(c for c in corruptions if c in cors) if cors else None
        subset_s = tuple(sorted(sevs)) if sevs else None
        if subset_c is not None and set(subset_c) == set(corruptions):
            subset_c = None
        if subset_s is not None and set(subset_s) == set(severities):
            subset_s = None
        measured = tuple(o for o in record if o in objs)
        exact = tuple(
            o
            for o in measured
            if images is None
            and epochs is None
            and (kinds.get(o) not in corrupted_kinds or (subset_c is None and subset_s is None))
        )
        rung = Rung(measured, subset_c, subset_s, images, exact, epochs)
        if set(rung.exact) == set(record):
            raise ConfigError(
                drv.source,
                f"{drv.key('rungs')}[{i}]",
                "must be cheaper than the full evaluation (a subset of the objectives, "
                f"corruptions, severities or images, or fewer finetune_epochs). Got {describe(item)} instead.",
            )
        rungs.append(rung)
    out = {"sampler": sampler, "rungs": [r.to_dict() for r in rungs]}
    if tie_break != "crowding":  # stored only when given: studies made before keep theirs
        out["tie_break"] = tie_break
    return out

"""Multi-fidelity multi-objective search: asynchronous successive halving promoted by
non-dominated rank (MO-ASHA, as Syne Tune's MOASHA; Optuna's pruners are single-objective).

A base sampler (random, TPE or NSGA-II) proposes new configurations; each is measured first
at the cheapest rung of the study's fidelity ladder (``driver.rungs``, see
:mod:`moo_compress.config._fidelity`). Whenever a worker needs work it looks, from the top
rung down, for a configuration among the best ``1/eta`` of those that finished a rung and
promotes the best-ranked one not promoted yet; only when there is none does it ask the base
sampler for a new configuration. "Best" is feasibility first (the constraints on the
objectives known at that rung; infeasible ones by their total violation, each constraint's
divided by its scale, :meth:`~moo_compress.settings.constraints.Constraint.scaled`), then
non-dominated rank over the optimized objectives known there, then crowding distance (the
less crowded first), then trial number.

The base sampler learns from every configuration's rung-0 result
(:meth:`MoAshaDriver.shadow_study`): TPE and NSGA-II see each result's scaled constraint
values, and NSGA-II's generations are the rung-0 results in trial order, so it evolves
from them.

Every rung measures the same model: it is built (compressed and fine-tuned exactly as the
full evaluation builds it) at rung 0, its artifact is kept, and a promotion loads it back
and measures only what the rungs below did not measure exactly; the top rung's values are
those a full evaluation of the configuration stores.

Storage: one Optuna trial per rung evaluation, marked with its rung
(:func:`moo_compress.record.rung`). A trial below the top rung is PRUNED with the values
known at its rung; the top rung's trial is COMPLETE and is the only kind that counts toward
``budget.n_trials``, enters the archive, the hypervolume history and ``export``. Every
decision is computed from storage, ordered by trial number: a killed search resumes with the
same decisions. ``worker`` processes claim a (configuration, rung), and for the top rung one
of the ``n_trials`` budget slots, in the database (:func:`moo_compress.storage.claim`): of
racing workers exactly one wins each, so no two evaluate the same promotion and the budget
is never overshot.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from moo_compress import record
from moo_compress import storage as st
from moo_compress.drivers.base import RANDOM_AFTER_DUPLICATES, DuplicateRun, make_sampler
from moo_compress.drivers.ladder import Rung
from moo_compress.drivers.optuna_samplers import POLL_SECONDS
from moo_compress.settings.constraints import scaled_values

__all__ = ["MoAshaDriver", "LadderEntry", "promotion_order"]

_NOT_EVALUATED = (record.INTERRUPTED, record.DUPLICATE, record.SKIPPED, record.ABANDONED)


@dataclass
class LadderEntry:
    """A rung evaluation read from storage.

    Args:
        number: Its trial number.
        key: The configuration's key.
        config: The configuration.
        rung: The rung it measured.
        state: ``"running"``, ``"done"`` (PRUNED below the top, COMPLETE at it) or
            ``"failed"`` (the evaluation failed: not tried again).
        values: The values known at the rung (done entries).
        violation: The sum of its constraint violations, each divided by its constraint's
            scale (the positive :attr:`constraints`; 0.0: feasible).
        trial: The stored trial (its details and artifact digest are read when promoted).
        constraints: Its constraint values at the rung on the shared scale, by label
            (:func:`~moo_compress.settings.constraints.scaled_values`; done entries).
    """

    number: int
    key: str
    config: dict[str, Any]
    rung: int
    state: str
    values: dict[str, float]
    violation: float
    trial: Any = None
    constraints: dict[str, float] = field(default_factory=dict)


def promotion_order(
    values: np.ndarray,
    violation: np.ndarray,
    numbers: np.ndarray,
    *,
    tie_break: str = "crowding",
) -> list[int]:
    """Indices from the best to the worst: feasible first (then by violation), then by
    non-dominated rank, then by the tie-break within a front (largest first), then trial
    number.

    Args:
        values: ``(n, m)`` objective values, every column to minimize.
        violation: ``(n,)`` constraint violations (0: feasible).
        numbers: ``(n,)`` trial numbers (the last tie-break).
        tie_break: ``"crowding"`` (NSGA-II's crowding distance) or ``"hypervolume"`` (each
            point's exclusive hypervolume contribution to its front, against the reference
            point (1, ..., 1): pass values normalized to [0, 1]).
    """
    n = len(values)
    if n == 0:
        return []
    rank = np.full(n, -1)
    crowd = np.zeros(n)
    infeasible = violation > 0
    remaining = np.flatnonzero(~infeasible)  # infeasible ones are ordered by violation only
    level = 0
    while remaining.size:
        v = values[remaining]
        dominated = np.zeros(len(remaining), bool)
        for i in range(len(remaining)):
            better = np.all(v <= v[i], axis=1) & np.any(v < v[i], axis=1)
            dominated[i] = better.any()
        front = remaining[~dominated]
        rank[front] = level
        crowd[front] = (
            _contributions(values[front])
            if tie_break == "hypervolume"
            else _crowding(values[front])
        )
        remaining = remaining[dominated]
        level += 1
    return sorted(
        range(n), key=lambda i: (infeasible[i], violation[i], rank[i], -crowd[i], numbers[i])
    )


def _contributions(front: np.ndarray) -> np.ndarray:
    """Each point's exclusive hypervolume contribution to its (normalized) front."""
    from pymoo.indicators.hv import HV

    hv = HV(ref_point=np.ones(front.shape[1]))
    pts = np.minimum(front, 1.0)
    total = float(hv(pts))
    return np.array([total - float(hv(np.delete(pts, i, axis=0))) for i in range(len(pts))])


def _crowding(front: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each point of one front (boundary points: inf)."""
    n, m = front.shape
    if n <= 2:
        return np.full(n, np.inf)
    dist = np.zeros(n)
    for j in range(m):
        order = np.argsort(front[:, j], kind="stable")
        col = front[order, j]
        span = col[-1] - col[0]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


class MoAshaDriver:
    """Multi-fidelity search over the study's ladder (see the module docstring).

    Args:
        cfg: The study configuration (``driver_options``: ``eta``, ``sampler``, ``rungs``
            and the base sampler's options).
    """

    #: Duplicate proposals in a row after which new configurations are drawn at random
    #: (as :class:`~moo_compress.drivers.optuna_samplers.OptunaDriver`).
    random_after_duplicates = RANDOM_AFTER_DUPLICATES

    def __init__(self, cfg) -> None:
        self.cfg = cfg
        opts = cfg.driver_options
        self.eta = int(opts["eta"])
        self.sampler_name = opts["sampler"]
        self.tie_break = opts.get("tie_break", "crowding")
        self.rungs: list[Rung] = [Rung.from_dict(d) for d in opts["rungs"]]
        self.top = len(self.rungs)
        self.record = tuple(cfg.record)
        self.evaluated = 0  # rung evaluations run by this process

    # -- what each rung measures ------------------------------------------------------------
    def known(self, rung: int) -> tuple[str, ...]:
        """The objectives whose values are known at ``rung`` (all at the top rung)."""
        if rung >= self.top:
            return self.record
        names = {o for r in self.rungs[: rung + 1] for o in r.objectives}
        return tuple(o for o in self.record if o in names)

    def exact_below(self, rung: int) -> set[str]:
        """Objectives measured below ``rung`` exactly as the full evaluation measures them
        (reused, never measured again)."""
        return {o for r in self.rungs[:rung] for o in r.exact}

    def to_measure(self, rung: int) -> list[str]:
        """The objectives ``rung`` measures (those known there and not exact below)."""
        reuse = self.exact_below(rung)
        return [o for o in self.known(rung) if o not in reuse]

    def make_sampler(self, seed: int):
        """The base sampler proposing new configurations
        (:func:`moo_compress.drivers.base.make_sampler` with the driver's options).

        Args:
            seed: The sampler's seed.
        """
        return make_sampler(self.sampler_name, self.cfg.driver_options, seed)

    def shadow_study(self, entries: list[LadderEntry], seed: int):
        """The throw-away in-memory study the base sampler proposes from, built from
        storage alone (a resumed search proposes the same): one COMPLETE trial per
        configuration's rung-0 result, by trial number, with the values known at rung 0 and
        its constraint values on the shared scale (:attr:`LadderEntry.constraints`, stored
        as ``Trial.set_constraint`` stores them). For NSGA-II the results form its
        generations in that order (``population_size`` each): the i-th result is in
        generation ``i // population_size``, so NSGA-II selects parents among the
        populations' results (elitist, feasibility first) and crosses and mutates them;
        until the first population is full it samples at random, as NSGA-II starts.

        Args:
            entries: :meth:`entries` of the study.
            seed: The base sampler's seed.
        """
        import optuna

        names = list(self.cfg.objective_names)
        known = set(self.known(0))
        cols = [i for i, n in enumerate(names) if n in known]
        sampler = self.make_sampler(seed)
        shadow = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            directions=[self.cfg.directions[i] for i in cols],
            sampler=sampler,
        )
        done = [e for e in entries if e.rung == 0 and e.state == "done"]
        population = (
            int(self.cfg.driver_options["population_size"])
            if self.sampler_name == "nsga2"
            else None
        )
        shadow.add_trials(
            [
                optuna.trial.create_trial(
                    params=e.trial.params,
                    distributions=e.trial.distributions,
                    values=[e.values[names[i]] for i in cols],
                    constraints=e.constraints or None,
                    system_attrs=(
                        st.ga_generation_attrs(sampler, i // population) if population else None
                    ),
                )
                for i, e in enumerate(done)
            ]
        )
        return shadow

    def propose(self, space, entries: list[LadderEntry], seed: int) -> dict[str, Any]:
        """A new configuration from TPE or NSGA-II fitted on every configuration's rung-0
        result (most configurations never reach a higher rung, and a study's Optuna
        samplers learn only from its complete trials), asked from :meth:`shadow_study`.

        Args:
            space: The study's search space (:class:`moo_compress.space.SearchSpace`).
            entries: :meth:`entries` of the study.
            seed: The base sampler's seed.
        """
        return space.suggest(self.shadow_study(entries, seed).ask())

    # -- reading the ladder from storage ----------------------------------------------------
    def entries(self, trials: list) -> list[LadderEntry]:
        """Every rung evaluation of the study that holds or held a claim, by trial number.

        Args:
            trials: The study's trials as just read.
        """
        from optuna.trial import TrialState

        out = []
        for t in trials:
            info = record.rung(t)
            key = record.config_key(t)
            if info is None or not key:
                continue
            if t.state == TrialState.RUNNING:
                state = "running"
            elif t.state in (TrialState.PRUNED, TrialState.COMPLETE):
                state = "done"
            elif t.state == TrialState.FAIL:
                reason = str(record.fail_reason(t))
                # a dead worker's trial (no reason: failed by the stale-heartbeat check) and
                # proposals never evaluated hold no claim; a failed evaluation does
                if not reason or reason.startswith(_NOT_EVALUATED):
                    continue
                state = "failed"
            else:
                continue
            scaled = (
                scaled_values(self.cfg.constraints, record.constraints(t))
                if state == "done"
                else {}
            )
            out.append(
                LadderEntry(
                    t.number,
                    key,
                    record.config(t) or {},
                    int(info["rung"]),
                    state,
                    record.objectives(t) if state == "done" else {},
                    sum(max(0.0, v) for v in scaled.values()),
                    t,
                    scaled,
                )
            )
        return sorted(out, key=lambda e: e.number)

    def next_job(self, entries: list[LadderEntry]) -> LadderEntry | None:
        """The rung evaluation to promote next (its next rung is to run), or None: propose a
        new configuration.

        Args:
            entries: :meth:`entries` of the study.
        """
        taken = {(e.key, e.rung) for e in entries}
        names = list(self.cfg.objective_names)
        directions = list(self.cfg.directions)
        for r in range(self.top - 1, -1, -1):
            done = [e for e in entries if e.rung == r and e.state == "done"]
            k = len(done) // self.eta
            if k == 0:
                continue
            known = set(self.known(r))
            cols = [i for i, n in enumerate(names) if n in known]
            vals = np.array(
                [
                    [
                        e.values[names[i]] * (-1.0 if directions[i] == "maximize" else 1.0)
                        for i in cols
                    ]
                    for e in done
                ],
                dtype=float,
            ).reshape(len(done), len(cols))
            if self.tie_break == "hypervolume":  # normalized as the study's hypervolume
                bounds = [self.cfg.objectives[i].bounds for i in cols]
                lo = np.array([b[0] for b in bounds])
                hi = np.array([b[1] for b in bounds])
                signs = np.array([-1.0 if directions[i] == "maximize" else 1.0 for i in cols])
                raw = vals * signs  # back to each objective's own sign
                scaled = (raw - lo) / (hi - lo)
                vals = np.clip(np.where(signs > 0, scaled, 1.0 - scaled), 0.0, 1.0)
            order = promotion_order(
                vals,
                np.array([e.violation for e in done], dtype=float),
                np.array([e.number for e in done]),
                tie_break=self.tie_break,
            )
            for i in order[:k]:
                if (done[i].key, r + 1) not in taken:
                    return done[i]
        return None

    # -- the loop ---------------------------------------------------------------------------
    def run(
        self,
        session,
        *,
        interrupted: list[dict[str, Any]],
        worker: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> dict[str, float]:
        """Promote or propose, evaluate and store until the budget is met.

        Interrupted trials need no queue: the decision that started them is made again from
        storage (the same promotion, or the base sampler's same proposal).

        Args:
            session: The search session (:class:`moo_compress.search.SearchSession`).
            interrupted: Configurations of trials an earlier run left unfinished (unused,
                see above).
            worker: This process's worker id when it is one of several ``worker`` processes
                (default None: the search's only driver).
            log: Callable for messages (default None: silent).

        Returns:
            Seconds spent waiting for other workers' trials (``wait_seconds``).

        Raises:
            MooCompressError: 200 proposals in a row were already evaluated.
        """
        from optuna.trial import TrialState

        del interrupted
        session.fill_hypervolume_history()
        # duplicate proposals in a row, restored from storage (promotions are no proposals)
        duplicates = DuplicateRun(
            session.duplicates_in_a_row(passed_over=self._not_a_proposal),
            self.random_after_duplicates,
        )
        wait_seconds = 0.0
        while True:
            if worker is not None:
                session.sync(self.cfg.workers.grace_seconds, refresh=True)
            listed = session.trials()
            waiting = [t for t in listed if t.state == TrialState.WAITING]
            if waiting:  # a dead worker's trial re-queued by Optuna: decided anew below
                session.skip("queued copy of a trial: promotions are decided from storage")
                continue
            if session.budget_left() == 0:
                if worker is None or not any(t.state == TrialState.RUNNING for t in listed):
                    if session.n_complete >= self.cfg.n_trials:  # no promotion can come
                        for key in {e.key for e in self.entries(listed)}:
                            session.drop_checkpoints(key)
                    break
                time.sleep(POLL_SECONDS)  # wait for running trials (a dead one until failed)
                wait_seconds += POLL_SECONDS
                continue
            entries = self.entries(listed)
            job = self.next_job(entries)
            if job is not None:
                self._promote(session, job, worker)
                continue
            seed = session.proposal_seed()
            if self.sampler_name == "random" or duplicates.at_random:
                trial, config = session.propose(make_sampler("random", {}, seed))
            else:
                trial, config = session.ask_config(self.propose(session.space, entries, seed))
            key = session.space.config_key(config)
            first = next((e for e in entries if e.key == key and e.rung == 0), None)
            known = session.lookup(config)
            if first is not None or known is not None:
                number = first.number if first is not None else known.trial_number
                record.write_config(trial, config, key)
                session.fail(
                    trial, f"{record.DUPLICATE} of trial {number}: configuration already proposed"
                )
                duplicates.proposed(True)
                continue
            duplicates.proposed(False)
            self._evaluate(session, trial, config, key, 0, None, worker)
        return {"wait_seconds": wait_seconds, "evaluated": self.evaluated}

    @staticmethod
    def _not_a_proposal(trial) -> bool:
        """Trials a run of duplicate proposals passes over: promotions (a rung above 0) and
        skipped queued copies."""
        info = record.rung(trial)
        if info is not None and int(info["rung"]) > 0:
            return True
        return str(record.fail_reason(trial)).startswith(record.SKIPPED)

    # -- one rung evaluation ----------------------------------------------------------------
    def _promote(self, session, job: LadderEntry, worker: str | None) -> None:
        trial, config = session.ask_config(job.config)
        key = session.space.config_key(config)
        self._evaluate(session, trial, config, key, job.rung + 1, job, worker)

    def _evaluate(
        self,
        session,
        trial,
        config: dict[str, Any],
        key: str,
        rung: int,
        below: LadderEntry | None,
        worker: str | None,
    ) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        try:
            with session.running(trial):
                note = None
                epochs = self.rung_epochs(rung)
                if rung < self.top:
                    paused = (
                        f" after {epochs} epochs of its last fine-tuning run"
                        if epochs is not None
                        else ""
                    )
                    note = (
                        f"rung {rung} of {self.top} measured ({', '.join(self.known(rung))})"
                        f"{paused}; the configuration goes on to rung {rung + 1} only while it "
                        f"is among the best 1/{self.eta} of rung {rung} (feasibility, "
                        "non-dominated rank, crowding)"
                    )

                def write_rung(batch) -> None:
                    record.write_rung(
                        batch, rung, self.top, below.number if below else None, note, epochs
                    )

                session.stamp(trial, config, key, worker=worker, more=write_rung)
                if worker is not None:
                    reason = self._claim(session, trial, key, rung)
                    if reason is not None:
                        session.fail(trial, reason)
                        return
                compute = partial(self._compute, session, config, key, rung, below)
                before = session.n_complete
                outcome = session.evaluate_trial(
                    trial, config, compute=compute, lower_rung=rung < self.top
                )
                self.evaluated += 1
                self._tidy_checkpoints(session, key, rung, outcome)
                if session.n_complete > before:
                    session.record_hypervolume()
        except (UpdateFinishedTrialError, ValueError):  # ValueError: study.tell's "Cannot tell"
            # a worker too slow to beat (an overloaded machine): another worker failed the
            # trial, which frees its claims; the next decision is made anew from storage
            if worker is None or not session.failed_elsewhere(trial):
                raise

    def _claim(self, session, trial, key: str, rung: int) -> str | None:
        """Why this rung evaluation must not run (its (configuration, rung) is claimed, or
        running and complete top-rung trials hold every budget slot), or None.

        The (configuration, rung) and, at the top rung, a budget slot are claimed in the
        database (:func:`moo_compress.drivers.base.claim_evaluation`): of racing trials
        exactly one wins each. Finished rung evaluations that hold no claim (a ``search``
        wrote them) count too."""

        def taken() -> int | None:
            for e in self.entries(session.trials()):
                if e.key == key and e.rung == rung and e.number != trial.number:
                    if e.state != "running":
                        return e.number
            return None

        return session.claim(
            trial,
            st.rung_claim(key, rung),
            taken=taken,
            n_trials=self.cfg.n_trials if rung == self.top else None,
            what=f"rung {rung} of this configuration is claimed",
        )

    def rung_epochs(self, rung: int) -> int | None:
        """Epochs of the last fine-tuning run at ``rung`` (None: all, the full build's)."""
        return self.rungs[rung].finetune_epochs if rung < self.top else None

    def _tidy_checkpoints(self, session, key: str, rung: int, outcome) -> None:
        """Delete the paused runs of ``key`` no rung can continue any more: all of them once
        its top rung is stored or a rung failed (a failed configuration is not tried
        again), else those of fewer epochs than the rung just stored."""
        if rung >= self.top or not outcome.complete:
            session.drop_checkpoints(key)
        elif self.rung_epochs(rung) is not None:
            session.drop_checkpoints(key, below=self.rung_epochs(rung))

    def _compute(self, session, config, key: str, rung: int, below: LadderEntry | None):
        """Measure ``rung`` of ``config``: reuse the model and exact values from below, or
        continue its paused fine-tuning run to the rung's epochs."""
        ev = session.evaluator
        kept_values: dict[str, float] = {}
        kept_details: dict[str, Any] = {}
        artifact = checkpoint = None
        epochs = self.rung_epochs(rung)
        carried: tuple[int, bytes] | None = None
        if below is not None:
            reuse = self.exact_below(rung)
            stored = record.result(below.trial)
            details = stored.get("details") or {}
            kept_values = {k: v for k, v in below.values.items() if k in reuse}
            kept_details = {k: v for k, v in details.items() if k in reuse}
            if rung < self.top:  # the estimates below stay known until measured better
                kept_values = {**below.values, **kept_values}
            checkpoint = session.read_checkpoint(key, stored)
            # the model below is this rung's when the epochs are the same, or when its
            # fine-tuning had finished (no paused run was kept)
            if epochs == self.rung_epochs(below.rung) or not stored.get("checkpoint_sha256"):
                artifact = session.read_artifact(key, stored)
                if artifact is not None and checkpoint is not None:
                    carried = (int(stored["finetune_epochs"]), checkpoint)
        fidelity = self.rungs[rung].fidelity() if rung < self.top else None
        # only a ladder that pauses fine-tuning asks for it: evaluators written before
        # epoch rungs take the other arguments alone
        paused = (
            {"finetune_epochs": epochs, "checkpoint": checkpoint}
            if any(r.finetune_epochs is not None for r in self.rungs)
            else {}
        )
        res = ev.evaluate_rung(
            config,
            key,
            objectives=self.to_measure(rung),
            fidelity=fidelity,
            artifact=artifact,
            **paused,
        )
        if carried is not None:  # the same paused run goes on up the ladder
            res.finetune_epochs, res.checkpoint = carried
        values = {**kept_values, **res.values}
        details = {**kept_details, **res.details}
        baseline = None
        on_subset = (
            [
                c
                for c in session.constraints
                if c.relative
                and c.objective in res.values
                and c.objective not in self.rungs[rung].exact
            ]
            if rung < self.top and fidelity
            else []
        )
        if on_subset:  # compared with the baseline measured on the same subset
            full = ev.baseline_values(ev.arch_of(config))
            part = ev.baseline_values(ev.arch_of(config), fidelity=fidelity)
            baseline = {**full, **{k: part[k] for k in res.values if k in part}}
        return dataclasses.replace(
            res,
            values=values,
            details=details,
            measured=self.known(rung) if rung < self.top else None,
            baseline=baseline,
        )

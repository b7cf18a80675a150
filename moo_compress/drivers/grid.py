"""Grid driver: every point of the search space once, in a fixed order.

For designed experiments (a factorial study with replicates, such as seed 001's methods x
granularities x pruning ratios x 10 runs) rather than a search. Points are visited in the
order of the space file's variables (the last one varies fastest); points that build the
same model (the same canonical configuration) are evaluated once. A resumed study skips
every point already stored. Every searched variable needs a finite grid (categorical, int,
or float with a ``step``).
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["GridDriver"]


class GridDriver:
    """Evaluate the whole grid (or its first ``n_trials`` distinct models).

    Args:
        cfg: The study configuration (:class:`moo_compress.config.StudyConfig`).
    """

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def run(self, session, *, interrupted: list[dict[str, Any]]) -> None:
        """Evaluate the interrupted configurations, then every grid point not stored yet,
        until the budget is spent.

        Args:
            session: The search session (:class:`moo_compress.search.SearchSession`) that
                evaluates, stores and counts configurations.
            interrupted: Configurations of trials an earlier run left unfinished, evaluated first.
        """
        space = session.space
        session.fill_hypervolume_history()
        for config in interrupted:
            if session.budget_left() <= 0:
                return
            if session.evaluate_config(config).complete:
                session.record_hypervolume()
        names = [v.name for v in space.searched]
        for point in itertools.product(*(v.grid_values() for v in space.searched)):
            if session.budget_left() <= 0:
                return
            config = space.full_config(dict(zip(names, point, strict=True)))
            if session.lookup(config) is not None:
                continue
            if session.evaluate_config(config).complete:
                session.record_hypervolume()

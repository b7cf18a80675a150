"""Latency is measured so that it repeats on a busy machine: pinned threads, a robust
statistic, and its spread stored with it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from moo_compress.objectives.latency import latency, robust_latency


def test_a_burst_of_load_or_one_slow_pass_does_not_move_the_value():
    quiet = [1.0] * 30
    assert robust_latency(quiet) == (1.0, [1.0] * 5)
    burst = quiet[:12] + [200.0] * 6 + quiet[18:]  # a whole block slowed down by load
    value, medians = robust_latency(burst)
    assert value == 1.0 and max(medians) == 200.0
    spikes = [1.0 + (50.0 if i % 7 == 0 else 0.0) for i in range(30)]  # one per block
    assert robust_latency(spikes)[0] == 1.0
    # a machine loaded during the whole measurement stays slow: the figure is honest
    assert robust_latency([9.0] * 30)[0] == 9.0
    assert robust_latency([2.0]) == (2.0, [2.0])


class _ThreadSpy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 32 * 32, 10)
        self.seen = set()

    def forward(self, x):
        self.seen.add(torch.get_num_threads())
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_are_pinned_while_timing_and_restored(threads):
    model = _ThreadSpy()
    before = torch.get_num_threads()
    m = SimpleNamespace(
        model=model,
        x_test=np.zeros((4, 32, 32, 3), np.uint8),
        latency={"batch_size": 1, "warmup": 2, "repeats": 10, "threads": threads},
    )
    r = latency(m)
    assert model.seen == {threads}
    assert torch.get_num_threads() == before
    d = r.details
    assert d["threads"] == threads and len(d["block_medians_ms"]) == 5
    assert r.value == min(d["block_medians_ms"])
    assert d["min_ms"] <= r.value <= d["max_ms"]
    assert d["spread_ms"] == pytest.approx(max(d["block_medians_ms"]) - r.value)

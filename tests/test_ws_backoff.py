"""``venues/_ws.py`` ``Backoff``: exponential reconnect delays with jitter, capped, reset after a success."""

from __future__ import annotations

import random

import pytest

from trio_hedge.venues._ws import Backoff


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delays_double_up_to_the_cap_with_jitter_and_reset(seed: int) -> None:
    random.seed(seed)
    b = Backoff(min_s=0.1, max_s=2.0)
    bases = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0] + [2.0] * 40  # capped, and no overflow after many failures
    for base in bases:
        d = b.next_delay_s()
        assert isinstance(d, float)
        assert 0.5 * base <= d < 1.5 * base, (base, d)
    b.reset()
    assert 0.05 <= b.next_delay_s() < 0.15  # back to min_s after a success

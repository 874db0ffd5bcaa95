"""``venues/_ws.py``: ``Backoff`` (exponential reconnect delays with jitter, capped, reset after a success) and
``connection_reason`` (what the reconnect loop logs about a dropped connection)."""

from __future__ import annotations

import random

import pytest
from trio_websocket import ConnectionRejected

from trio_hedge.venues import VenueUnavailable
from trio_hedge.venues._ws import Backoff, connection_reason


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


def test_a_rejected_upgrade_is_logged_by_status_only() -> None:
    """``str(ConnectionRejected)`` holds the response headers and body (a Set-Cookie, an error echoing the
    request): the reconnect loop must log only the status."""
    exc = ConnectionRejected(401, [(b"set-cookie", b"gravity=SESSION-SECRET")], b'{"key":"API-KEY-SECRET"}')
    assert "SECRET" in str(exc)  # what a naive f"{exc}" would have logged
    reason = connection_reason(exc)
    assert reason == "upgrade rejected with HTTP 401"
    assert connection_reason(VenueUnavailable("grvt", "no pong within 1s")) == str(
        VenueUnavailable("grvt", "no pong within 1s"))
    assert connection_reason(ConnectionRefusedError(111, "Connect call failed")).startswith("ConnectionRefusedError")

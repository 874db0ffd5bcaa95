"""The per-venue rate limiter and the retries by error class (issue 6).

The bucket and the :class:`RateLimitedVenue` wrapper are driven against a fake venue boundary that records
when each request reaches it; the retry classes are exercised on the full market scope over the in-process
simulator, through a fake venue wrapper that raises the chosen venue errors on chosen calls.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_hedge.domain import OrderRequest, OrderStatus, OrderType, Position, Side
from trio_hedge.engine import (
    BACKPACK_COSTS,
    GRVT_COSTS,
    MarketHalted,
    MarketStats,
    RateLimitedVenue,
    RateLimitSettings,
    RetryPolicy,
    SubmitOutcome,
    TokenBucket,
    UnresolvedOrder,
    run_market,
    submit_order,
    urgent,
    wrap_rate_limited,
)
from trio_hedge.venues import (
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderReport,
    PostOnlyWouldCross,
    RateLimited,
    UnknownOutcome,
    VenueUnavailable,
)

from .synth import (
    HEDGE,
    HEDGE_SYMBOL,
    PRIMARY,
    PRIMARY_SYMBOL,
    Fault,
    FaultyVenue,
    market_settings,
    sim_pair,
    static_book,
    steady_trades,
)

D = Decimal


class _RecordingVenue:
    """A fake venue boundary: answers every request at once and records (trio time, method) on arrival.
    ``errors`` holds exceptions to raise on the next calls of a method."""

    name = "fake"

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self.errors: dict[str, list[Exception]] = {}

    def _arrive(self, method: str) -> None:
        self.arrivals.append((trio.current_time(), method))
        pending = self.errors.get(method)
        if pending:
            raise pending.pop(0)

    async def place(self, request: OrderRequest) -> OrderReport:
        self._arrive("place")
        await trio.lowlevel.checkpoint()
        return OrderReport(request.client_order_id, None, request.symbol, request.side, request.size, request.price,
                           OrderStatus.OPEN, D(0))

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        self._arrive("cancel")
        await trio.lowlevel.checkpoint()

    async def cancel_all(self, symbol: str) -> int:
        self._arrive("cancel_all")
        await trio.lowlevel.checkpoint()
        return 0

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        self._arrive("order_status")
        await trio.lowlevel.checkpoint()
        return None

    async def positions(self) -> dict[str, Position]:
        self._arrive("positions")
        await trio.lowlevel.checkpoint()
        return {}

    def new_client_order_id(self) -> str:
        return "x"


def _quote(i: int) -> OrderRequest:
    return OrderRequest(f"q{i}", "S", Side.BUY, D("0.001"), OrderType.LIMIT, D("100"), post_only=True, reason="quote")


# ------------------------------------------------------------------ the bucket


async def test_a_request_the_bucket_can_serve_at_once_is_no_schedule_point(
        autojump_clock: trio.testing.MockClock) -> None:
    """The hedge's path from fill to frame must not yield to every task the fill woke: with tokens there and
    nobody waiting, acquire takes them without a schedule point; short of tokens it waits (and yields)."""
    bucket = TokenBucket(RateLimitSettings(rate_per_s=10.0, burst=2.0, reserved=0.0))
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        await bucket.acquire(1, priority=False)
        await bucket.acquire(1, priority=True)
        assert ran == []  # no schedule point: the other task has not run yet
        await bucket.acquire(1, priority=False)  # the bucket is empty: waits 0.1 s for a token
        assert ran == ["other"]
    assert bucket.stats.normal.requests == 2 and bucket.stats.priority.requests == 1
    assert bucket.stats.normal.waited == 1


async def test_bucket_keeps_the_rate_and_the_reserve_under_a_burst(autojump_clock: trio.testing.MockClock) -> None:
    s = RateLimitSettings(rate_per_s=10.0, burst=10.0, reserved=3.0)
    bucket = TokenBucket(s)
    t0 = trio.current_time()
    served: list[float] = []
    priority_waits: list[float] = []

    async def normal() -> None:
        await bucket.acquire(1, priority=False)
        served.append(trio.current_time() - t0)

    async def priority_at(at: float) -> None:
        await trio.sleep(at)
        asked = trio.current_time()
        await bucket.acquire(1, priority=True)
        priority_waits.append(trio.current_time() - asked)

    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(normal)
        for at in (0.0, 0.55, 1.5, 3.05):
            nursery.start_soon(priority_at, at)
    # normal traffic never takes more than (burst - reserved) + rate * t ...
    for i, t in enumerate(sorted(served)):
        assert i + 1 <= (s.burst - s.reserved) + s.rate_per_s * t + 1e-6
    # ... and needs about (50 - 7) / 10 s; the priority requests (the reserve) never waited for it
    assert sorted(served)[-1] == pytest.approx((50 - 7 + 4) / 10, abs=0.15)
    assert max(priority_waits) <= 1 / s.rate_per_s
    assert bucket.stats.normal.waited > 40 and bucket.stats.priority.requests == 4


async def test_cancel_goes_out_promptly_during_a_flood_of_quotes(autojump_clock: trio.testing.MockClock) -> None:
    inner = _RecordingVenue()
    venue = RateLimitedVenue(inner, RateLimitSettings(rate_per_s=10.0, burst=10.0, reserved=3.0,
                                                      costs=BACKPACK_COSTS))
    done: dict[str, float] = {}

    async def flood() -> None:
        async with trio.open_nursery() as nursery:
            for i in range(100):
                nursery.start_soon(venue.place, _quote(i))
        done["flood"] = trio.current_time()

    async def cancel_later(method: str, at: float) -> None:
        await trio.sleep(at)
        asked = trio.current_time()
        if method == "cancel":
            await venue.cancel("S", "q1")
        elif method == "flatten_positions":
            await urgent(venue).positions()
        else:
            await venue.positions()
        done[method] = trio.current_time() - asked

    async with trio.open_nursery() as nursery:
        nursery.start_soon(flood)
        nursery.start_soon(cancel_later, "cancel", 2.0)
        nursery.start_soon(cancel_later, "flatten_positions", 4.0)
        nursery.start_soon(cancel_later, "normal_positions", 4.0)
    assert done["flood"] > 9.0  # 100 quotes at 10/s (7 at once)
    assert done["cancel"] < 0.01 and done["flatten_positions"] < 0.01  # the reserved lane
    assert done["normal_positions"] > 1.0  # the same query on the normal lane waits behind the quotes
    cancel_at = next(t for t, m in inner.arrivals if m == "cancel")
    assert sum(1 for t, m in inner.arrivals if m == "place" and t > cancel_at) > 50


async def test_grvt_weights_keep_a_cancel_all_for_the_cleanup(autojump_clock: trio.testing.MockClock) -> None:
    inner = _RecordingVenue()
    venue = RateLimitedVenue(inner, RateLimitSettings(50.0, 100.0, 50.0, GRVT_COSTS))
    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(venue.order_status, "S", "x")  # 20 each, normal lane
        await trio.sleep(0.1)
        asked = trio.current_time()
        await venue.cancel_all("S")  # 50, priority lane
        assert trio.current_time() - asked < 0.01
    statuses = [t for t, m in inner.arrivals if m == "order_status"]
    # 2 at once (100 - 50 reserved), then one per 20/50 s, slowed once by the cancel-all's 50
    assert statuses[-1] >= (10 - 2) * 20 / 50


async def test_a_venue_rate_limit_pauses_both_lanes(autojump_clock: trio.testing.MockClock) -> None:
    inner = _RecordingVenue()
    inner.errors["place"] = [RateLimited("fake", "slow down", code="429", retry_after_s=1.0)]
    venue = RateLimitedVenue(inner, RateLimitSettings(10.0, 10.0, 3.0))
    t0 = trio.current_time()
    with pytest.raises(RateLimited):
        await venue.place(_quote(1))
    await venue.cancel("S", "q1")
    assert trio.current_time() - t0 >= 1.0
    assert venue.bucket.stats.venue_rate_limited == 1


def test_wrapping_is_optional_and_never_doubled() -> None:
    async def main() -> None:
        inner = _RecordingVenue()
        assert wrap_rate_limited(inner, None) is inner  # type: ignore[arg-type]
        once = wrap_rate_limited(inner, RateLimitSettings(10.0, 10.0, 3.0))  # type: ignore[arg-type]
        assert isinstance(once, RateLimitedVenue) and wrap_rate_limited(once, RateLimitSettings(1.0, 5.0, 1.0)) is once
        assert once.new_client_order_id() == "x" and once.name == "fake"
        with pytest.raises(ValueError, match="burst"):
            RateLimitSettings(10.0, 10.0, 9.5)  # a normal call (1) could never pass the reserve

    trio.run(main)


# ------------------------------------------------------------------ retry classes, unit


@pytest.mark.parametrize(
    "errors,outcome,calls",
    [
        ([], SubmitOutcome.ACCEPTED, 1),
        ([RateLimited("f", "x"), RateLimited("f", "x")], SubmitOutcome.ACCEPTED, 3),
        ([RateLimited("f", "x")] * 6, SubmitOutcome.FAILED, 6),  # 5 retries, then give up
        ([VenueUnavailable("f", "down")] * 2, SubmitOutcome.ACCEPTED, 3),
        ([VenueUnavailable("f", "down")] * 4, SubmitOutcome.FAILED, 4),  # 3 retries
        ([PostOnlyWouldCross("f", "cross")], SubmitOutcome.REFUSED, 1),
        ([UnknownOutcome("f", "timeout")], SubmitOutcome.UNKNOWN, 1),
        ([DuplicateClientOrderId("f", "dup")], SubmitOutcome.UNKNOWN, 1),
    ],
)
async def test_submit_retries_by_error_class(autojump_clock: trio.testing.MockClock, errors: list[Exception],
                                             outcome: SubmitOutcome, calls: int) -> None:
    inner = _RecordingVenue()
    inner.errors["place"] = list(errors)
    result = await submit_order(inner, _quote(1), policy=RetryPolicy())  # type: ignore[arg-type]
    assert result.outcome is outcome and result.attempts == calls == len(inner.arrivals)


@pytest.mark.parametrize("error", [InsufficientMargin("f", "no margin", code="2080"), InvalidOrder("f", "bad tick")])
async def test_halting_refusals_are_never_retried(autojump_clock: trio.testing.MockClock, error: Exception) -> None:
    inner = _RecordingVenue()
    inner.errors["place"] = [error]
    with pytest.raises(MarketHalted, match=f"{type(error).__name__}.*Not retried"):
        await submit_order(inner, _quote(1), policy=RetryPolicy())  # type: ignore[arg-type]
    assert len(inner.arrivals) == 1
    inner.errors["place"] = [error]  # the reduce-only unwind and the flatten re-read the position instead
    result = await submit_order(inner, _quote(2), policy=RetryPolicy(), halt_on_refusal=False)  # type: ignore[arg-type]
    assert result.outcome is SubmitOutcome.REFUSED and len(inner.arrivals) == 2


# ------------------------------------------------------------------ retry classes, on the market scope


def _is_hedge(args: tuple[Any, ...]) -> bool:
    return args[0].reason == "hedge"


def _is_quote(args: tuple[Any, ...]) -> bool:
    return args[0].reason == "quote"


async def _run(tmp_path: Path, faults: list[Fault], **overrides: Any) -> tuple[Any, MarketStats, FaultyVenue,
                                                                              FaultyVenue, tuple[Decimal, Decimal]]:
    primary_rec = steady_trades(tmp_path / "p.gz")
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "5")], [("100.1", "5")])
    s = market_settings(order_deadline_s=2.0, **overrides)
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, p, h):
        primary = FaultyVenue(p, [f for f in faults if f.method != "hedge:place"])
        hedge = FaultyVenue(h, [Fault("place", f.error, times=f.times, when=_is_hedge, after_call=f.after_call)
                                for f in faults if f.method == "hedge:place"])
        outcome = await run_market(s, primary, hedge, stats, trio.Event())  # type: ignore[arg-type]
        positions = (exchange.engine(PRIMARY, PRIMARY_SYMBOL).position().size,
                     exchange.engine(HEDGE, HEDGE_SYMBOL).position().size)
    return outcome, stats, primary, hedge, positions


async def test_rate_limited_hedge_backs_off_with_jitter_and_retries_the_same_order(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    # one hedge in flight at a time: the second maker fill's hedge then starts after the first one's retries
    # (with two in flight it may take one of the two injected rate limits, and the timing below is per order)
    outcome, stats, _p, hedge, flat = await _run(
        tmp_path, [Fault("hedge:place", lambda: RateLimited(HEDGE, "tier limit", code="1006"), times=2)],
        max_hedges_in_flight=1)
    assert outcome.failure is None and stats.cycles_completed == 1 and flat == (0, 0)
    calls = [(t, args[0].client_order_id) for t, m, args in hedge.calls if m == "place" and _is_hedge(args)]
    first_three = calls[:3]
    assert len({coid for _, coid in first_three}) == 1  # the same client order id, resent
    d1, d2 = first_three[1][0] - first_three[0][0], first_three[2][0] - first_three[1][0]
    assert 0.05 <= d1 <= 0.1 + 0.01 and 0.1 <= d2 <= 0.2 + 0.01  # 0.1 * 2^n * U(0.5, 1), plus latency
    assert len({coid for _, coid in calls}) == 2  # two maker fills, two hedges: nothing doubled


@pytest.mark.parametrize("where", ["hedge", "quote"])
async def test_insufficient_margin_or_invalid_order_halts_without_retry(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, where: str
) -> None:
    if where == "hedge":
        faults = [Fault("hedge:place", lambda: InsufficientMargin(HEDGE, "insufficient margin", code="2080"))]
    else:
        faults = [Fault("place", lambda: InvalidOrder(PRIMARY, "price off the tick grid"), when=_is_quote)]
    outcome, stats, primary, hedge, flat = await _run(tmp_path, faults)
    assert isinstance(outcome.failure, MarketHalted) and "Not retried" in str(outcome.failure)
    assert flat == (0, 0) and outcome.flat
    venue = hedge if where == "hedge" else primary
    assert len(venue.placed(where)) == 1  # never retried
    assert len(stats.halts) == 1
    expected = "InsufficientMargin: insufficient margin" if where == "hedge" else "InvalidOrder: price off"
    assert expected in stats.halts[0].reason


async def test_transient_errors_are_retried_a_bounded_number_of_times(autojump_clock: trio.testing.MockClock,
                                                                      tmp_path: Path) -> None:
    outcome, stats, _p, hedge, flat = await _run(
        tmp_path, [Fault("hedge:place", lambda: VenueUnavailable(HEDGE, "connection refused"), times=6)],
        retry=RetryPolicy(transient_retries=3))
    assert outcome.failure is None and stats.cycles_completed == 1 and flat == (0, 0)
    per_order: dict[str, int] = {}
    for request in hedge.placed("hedge"):
        per_order[request.client_order_id] = per_order.get(request.client_order_id, 0) + 1
    counts = list(per_order.values())
    assert counts[0] == 4  # 1 + 3 retries, then that order is given up (nothing was sent)...
    assert max(counts) <= 4 and sum(counts) >= 7  # ... and the router sends a new one for the fill


async def test_unknown_outcome_is_resolved_before_any_new_hedge(autojump_clock: trio.testing.MockClock,
                                                                tmp_path: Path) -> None:
    # The first hedge reaches the venue and fills, but its answer is lost.
    outcome, stats, _p, hedge, flat = await _run(
        tmp_path, [Fault("hedge:place", lambda: UnknownOutcome(HEDGE, "read timeout"), after_call=True)])
    assert outcome.failure is None and stats.cycles_completed == 1 and flat == (0, 0)
    hedges = hedge.placed("hedge")
    assert len(hedges) == 2 and hedges[0].client_order_id != hedges[1].client_order_id  # one per maker fill
    assert stats.cycles[0].hedge_filled == stats.cycles[0].maker_filled == D("0.002")


@pytest.mark.parametrize("in_flight", [1, 2])
async def test_unknown_outcome_that_cannot_be_resolved_fails_the_market_and_sends_nothing_new(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, in_flight: int
) -> None:
    # The hedge never reached the venue and the answer is lost: the status query says "unknown" until the
    # order deadline; it is never re-sent under a new id; the market fails and flattens. With one hedge in
    # flight no other hedge is sent in the meantime; with two, the second maker fill gets its own hedge (for
    # its own size: the two never add up to more than was filled), and nothing more.
    outcome, stats, _p, hedge, flat = await _run(
        tmp_path, [Fault("hedge:place", lambda: UnknownOutcome(HEDGE, "connection reset"))],
        max_hedges_in_flight=in_flight)
    assert isinstance(outcome.failure, UnresolvedOrder) and flat == (0, 0) and outcome.flat
    hedges = hedge.placed("hedge")
    assert 1 <= len(hedges) <= in_flight
    assert len({h.client_order_id for h in hedges}) == len(hedges)
    assert sum(h.size for h in hedges) <= stats.cycles[0].maker_filled
    queried = [args[1] for _, m, args in hedge.calls if m == "order_status"]
    placed = {args[0].client_order_id for _, m, args in hedge.calls if m == "place"}
    assert hedges[0].client_order_id in queried and set(queried) <= placed
    assert "UnresolvedOrder" in stats.halts[0].reason


# ------------------------------------------------------------------ configuration


def test_config_gives_each_venue_its_budget_below_the_published_limit() -> None:
    from trio_hedge.app import ConfigError, load_config

    c = load_config(None)
    m = c.markets[0]
    assert m.primary_rate_limit == RateLimitSettings(10.0, 10.0, 3.0, BACKPACK_COSTS)  # Backpack: 20 req/s
    assert m.hedge_rate_limit == RateLimitSettings(50.0, 100.0, 50.0, GRVT_COSTS)  # GRVT: 100 units/s
    assert m.retry == RetryPolicy(backoff_s=0.1, backoff_max_s=2.0, rate_limit_retries=5, transient_retries=3)
    assert load_config(None, ["venues.grvt.rate_limit_per_s=0"]).markets[0].hedge_rate_limit is None
    with pytest.raises(ConfigError) as info:
        load_config(None, ["venues.grvt.rate_limit_burst=60"])  # 60 < 50 reserved + a 20-unit query
    assert info.value.key == "venues.grvt.rate_limit_burst"
    with pytest.raises(ConfigError) as info:
        load_config(None, ["venues.grvt.rate_limit_costs=kraken"])
    assert info.value.key == "venues.grvt.rate_limit_costs"

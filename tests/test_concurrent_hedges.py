"""Concurrent hedges (``engine/_hedger.py``, ``max_hedges_in_flight``): a maker fill that arrives while a hedge
is in flight starts its own routed hedge at once on an idle worker; the routes in flight never add up to more
than was filled; every fill is hedged exactly once (by trade id, duplicates delivered by the stream included);
past the bound, fills are hedged together by the next free worker; a failed route fails the market as itself."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_hedge.domain import OrderStatus
from trio_hedge.engine import Hedger, MarketHalted, MarketStats, OrderTracker, RiskEngine
from trio_hedge.venues import InsufficientMargin

from .synth import (
    HEDGE,
    HEDGE_SYMBOL,
    PRIMARY,
    PRIMARY_SYMBOL,
    Fault,
    FaultyVenue,
    market_settings,
    rising_bids,
    sim_pair,
    static_book,
)

D = Decimal


async def _run_cycle(tmp_path: Path, in_flight: int) -> dict[str, Any]:
    """One cycle of 0.020 quoted into 0.001 maker fills every 20 ms (each stream event delivered twice), hedged
    on a venue that takes 70 ms more per order: fills keep arriving while hedges are in flight. At every hedge
    order sent, records what was filled and hedged so far and how many hedge orders were in flight."""
    primary_rec = rising_bids(tmp_path / "p.gz")
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "50")], [("110.0", "50")])
    s = market_settings(cycles=1, order_size=D("0.020"), requote_after_s=0.03, max_position=D("0.05"))
    stats = MarketStats()
    seen: dict[str, Any] = {"over_hedged": [], "max_open_hedges": 0, "quote_while_pending": []}
    async with sim_pair(primary_rec, hedge_rec) as (exchange, p, h):
        async with trio.open_nursery() as nursery:
            primary = FaultyVenue(p, nursery=nursery, duplicate_fills=True)
            hedge = FaultyVenue(h, place_delay_s=0.07)
            risk = RiskEngine(s, stats, primary, hedge)
            ptrack = OrderTracker(primary, PRIMARY_SYMBOL, inbox_capacity=64, on_fill=risk.on_primary_fill)
            htrack = OrderTracker(hedge, HEDGE_SYMBOL, inbox_capacity=64, on_fill=risk.on_hedge_fill)
            hedger = Hedger(s, primary, hedge, ptrack, htrack, stats, trio.Event(), risk=risk,
                            max_hedges_in_flight=in_flight)

            def on_hedge_place(request: Any) -> None:
                # the hedge orders sent so far (this one included; every earlier one fills in full here)
                sent = sum(o.request.size for o in htrack.orders.values() if o.request.reason == "hedge")
                filled = sum(o.filled_size for o in ptrack.orders.values() if o.request.reason == "quote")
                if sent > filled:
                    seen["over_hedged"].append(f"{sent} hedged with {filled} filled")
                open_hedges = sum(1 for o in htrack.orders.values() if o.request.reason == "hedge"
                                  and not o.is_terminal)
                seen["max_open_hedges"] = max(seen["max_open_hedges"], open_hedges)

            def on_primary_place(request: Any) -> None:
                if request.reason != "quote":
                    return
                maker = sum(o.filled_size for o in ptrack.orders.values() if o.request.reason == "quote")
                hedged = sum(o.filled_size for o in htrack.orders.values() if o.request.reason == "hedge")
                if maker != hedged or ptrack.inbox.statistics().current_buffer_used:
                    seen["quote_while_pending"].append(f"quote sent with {maker} filled, {hedged} hedged")

            hedge.on_place = on_hedge_place
            primary.on_place = on_primary_place
            await nursery.start(ptrack.run)
            await nursery.start(htrack.run)
            await nursery.start(risk.run)
            await hedger.run()
            nursery.cancel_scope.cancel()
        p_engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        h_engine = exchange.engine(HEDGE, HEDGE_SYMBOL)
        maker_fills = [f for f in p_engine.fills if f.is_maker]
        hedge_orders = [h_engine.get_order(r.client_order_id) for r in hedge.placed("hedge")]
    seen.update(stats=stats, hedger=hedger, primary=primary, maker_fills=maker_fills, hedge_orders=hedge_orders,
                position=(p_engine.position().size, h_engine.position().size))
    return seen


def _assert_hedged_exactly_once(r: dict[str, Any]) -> None:
    stats, hedger, maker_fills, hedge_orders = r["stats"], r["hedger"], r["maker_fills"], r["hedge_orders"]
    assert stats.cycles_completed == 1
    assert r["over_hedged"] == []  # the routes in flight never add up to more than was filled
    assert r["quote_while_pending"] == []  # no new quote while a received fill is unhedged
    assert len(maker_fills) == 20
    delivered = [f.trade_id for f in r["primary"].delivered_fills if f.is_maker]
    assert sorted(delivered) == sorted(2 * [f.trade_id for f in maker_fills])  # each delivered twice...
    assert hedger.hedged_trade_ids == {f.trade_id for f in maker_fills}  # ...and hedged once
    assert stats.maker_fills == len(maker_fills)
    assert sum(o.filled_size for o in hedge_orders) == sum(f.size for f in maker_fills) == D("0.020")
    assert all(o.status is OrderStatus.FILLED for o in hedge_orders)
    assert hedger.hedge_pending == 0
    assert r["position"] == (0, 0)  # the cycle unwound both legs


@pytest.mark.parametrize("in_flight", [2, 4])
async def test_a_fill_during_a_hedge_in_flight_starts_its_own_hedge_at_once(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, in_flight: int
) -> None:
    r = await _run_cycle(tmp_path, in_flight)
    _assert_hedged_exactly_once(r)
    # fills 20 ms apart, hedges 70+ ms each: several hedges in flight at once, never more than the bound
    assert 2 <= r["hedger"].max_routes_seen <= in_flight
    assert 2 <= r["max_open_hedges"] <= in_flight
    one_lot = sum(1 for o in r["hedge_orders"] if o.request.size == D("0.001"))
    assert one_lot >= len(r["hedge_orders"]) - 2  # (almost) every fill got a one-lot hedge of its own at once


async def test_one_hedge_in_flight_hedges_the_fills_that_wait_together(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    r = await _run_cycle(tmp_path, 1)
    _assert_hedged_exactly_once(r)
    assert r["hedger"].max_routes_seen == 1 and r["max_open_hedges"] == 1
    assert max(o.request.size for o in r["hedge_orders"]) > D("0.001")  # queued fills joined one hedge


async def test_a_failed_route_among_concurrent_ones_fails_the_market_as_itself(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    # The third hedge order is refused for margin (a halting refusal) while another hedge is in flight: the
    # hedger raises MarketHalted as itself (not inside an exception group), the other route cancelled (the
    # market scope then flattens, as for any failure: tests/test_routing.py).
    primary_rec = rising_bids(tmp_path / "p.gz")
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "50")], [("110.0", "50")])
    s = market_settings(cycles=1, order_size=D("0.020"), requote_after_s=0.03, max_position=D("0.05"))
    stats = MarketStats()
    hedges_seen: list[str] = []

    def third_hedge(args: tuple[Any, ...]) -> bool:
        if args[0].reason != "hedge":
            return False
        hedges_seen.append(args[0].client_order_id)
        return len(hedges_seen) == 3

    refusal = Fault("place", lambda: InsufficientMargin(HEDGE, "margin"), when=third_hedge)
    async with sim_pair(primary_rec, hedge_rec) as (_exchange, p, h):
        async with trio.open_nursery() as nursery:
            hedge = FaultyVenue(h, [refusal], place_delay_s=0.07)
            _ptrack, _htrack, hedger = await _start_engine(nursery, s, stats, p, hedge, 2)
            with pytest.raises(MarketHalted, match="InsufficientMargin"):
                await hedger.run()
            nursery.cancel_scope.cancel()
    assert len(hedges_seen) == 3
    assert hedger.max_routes_seen == 2  # the refusal came while another route was in flight


def test_max_hedges_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_hedges_in_flight"):
        Hedger(market_settings(), None, None, None, None, MarketStats(), trio.Event(),  # type: ignore[arg-type]
               max_hedges_in_flight=0)


async def _start_engine(nursery: trio.Nursery, s: Any, stats: MarketStats, primary: Any, hedge: Any,
                        in_flight: int) -> tuple[OrderTracker, OrderTracker, Hedger]:
    """The market's engine over ``primary`` and ``hedge`` (risk, both trackers started in ``nursery``) and its
    hedger with ``in_flight`` routes: (primary tracker, hedge tracker, hedger)."""
    risk = RiskEngine(s, stats, primary, hedge)
    ptrack = OrderTracker(primary, PRIMARY_SYMBOL, inbox_capacity=64, on_fill=risk.on_primary_fill)
    htrack = OrderTracker(hedge, HEDGE_SYMBOL, inbox_capacity=64, on_fill=risk.on_hedge_fill)
    hedger = Hedger(s, primary, hedge, ptrack, htrack, stats, trio.Event(), risk=risk, max_hedges_in_flight=in_flight)
    await nursery.start(ptrack.run)
    await nursery.start(htrack.run)
    await nursery.start(risk.run)
    return ptrack, htrack, hedger


def _burst_trades(path: Path, *, burst: int, every_s: float = 0.5, until_s: float = 30.0) -> Path:
    """A primary book 100.0 / 100.3 with nothing resting ahead at the bid, and every ``every_s`` a burst of
    ``burst`` sells of 0.001 into the bid at the same instant (takers arriving together)."""
    from .synth import Recording

    r = Recording()
    r.snapshot(0.0, [("100.0", "0.001"), ("90.0", "5")], [("100.3", "5")])
    t = 0.3
    while t < until_s:
        for _ in range(burst):
            r.trade(t, "100.0", "0.001", buyer_is_maker=True)
        r.delta(t + every_s / 2, bids=[("90.0", "5")])
        t += every_s
    return r.write(path)


async def test_fills_delivered_together_are_hedged_by_one_route(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """A burst of maker fills (one stream delivery) reaches the hedger before it routes: the venue's stream
    hands them over without yielding while its channel has room, and the tracker drains what is queued
    (trio_hedge/_streams.py, "Bursts"), so each burst is one hedge order, not one per fill, with two routes
    allowed in flight (where each fill would otherwise start its own)."""
    primary_rec = _burst_trades(tmp_path / "p.gz", burst=3)
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "50")], [("100.1", "50")])
    s = market_settings(cycles=1, order_size=D("0.009"), requote_after_s=30.0, max_position=D("0.05"))
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, p, h):
        async with trio.open_nursery() as nursery:
            ptrack, htrack, hedger = await _start_engine(nursery, s, stats, p, h, 2)
            await hedger.run()
            nursery.cancel_scope.cancel()
        maker_fills = [f for f in exchange.engine(PRIMARY, PRIMARY_SYMBOL).fills
                       if ptrack.orders[f.client_order_id].request.reason == "quote"]
        hedges = [o for o in htrack.orders.values() if o.request.reason == "hedge"]
        assert stats.cycles_completed == 1
        assert len(maker_fills) == 9 and sum(f.size for f in maker_fills) == D("0.009")
        assert sum(o.filled_size for o in hedges) == D("0.009")
        bursts: dict[int, Decimal] = {}
        for f in maker_fills:  # the fills of one burst share the trade's timestamp
            bursts[f.ts_ns] = bursts.get(f.ts_ns, D(0)) + f.size
        assert max(bursts.values()) == D("0.003")  # bursts of three fills did reach the quote
        assert sorted(o.request.size for o in hedges) == sorted(bursts.values())  # one hedge order per burst
        assert exchange.engine(PRIMARY, PRIMARY_SYMBOL).position().size == 0
        assert exchange.engine(HEDGE, HEDGE_SYMBOL).position().size == 0


class _View(trio.abc.ReceiveChannel[Any]):
    """A wrapper's view of a venue's event channel: ``receive`` only (no ``receive_nowait``)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def receive(self) -> Any:
        return await self.inner.receive()

    async def aclose(self) -> None:
        await self.inner.aclose()


class _ViewedVenue:
    """A venue whose events are read through a :class:`_View` (everything else is the inner venue's)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, item: str) -> Any:
        return getattr(self._inner, item)

    def events(self, symbol: str) -> _View:
        return _View(self._inner.events(symbol))


async def test_a_channel_without_receive_nowait_is_read_one_event_at_a_time(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The tracker drains a burst with ``receive_nowait`` where the channel has it; a wrapper's view without it
    (and the journal's recording view over such a view) is read with ``receive`` alone: every fill is still
    hedged exactly once and the cycle ends flat."""
    from trio_hedge.engine import JournaledVenue

    class _Counting:
        """The journal's recorder, counting what it is given."""

        def __init__(self) -> None:
            self.events = self.intents = 0

        async def record_intent(self, key: str, request: Any, market: str | None) -> None:
            self.intents += 1

        def post_report(self, key: str, report: Any) -> None:
            pass

        def post_event(self, key: str, event: Any) -> None:
            self.events += 1

    recorder = _Counting()

    primary_rec = _burst_trades(tmp_path / "p.gz", burst=3)
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "50")], [("100.1", "50")])
    s = market_settings(cycles=1, order_size=D("0.009"), requote_after_s=30.0, max_position=D("0.05"))
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, p, h):
        primary = JournaledVenue(_ViewedVenue(p), recorder, "p")  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            ptrack, htrack, hedger = await _start_engine(nursery, s, stats, primary, _ViewedVenue(h), 2)
            await hedger.run()
            nursery.cancel_scope.cancel()
        assert stats.cycles_completed == 1
        hedged = sum(o.filled_size for o in htrack.orders.values() if o.request.reason == "hedge")
        assert hedged == sum(o.filled_size for o in ptrack.orders.values() if o.request.reason == "quote")
        assert hedged == D("0.009")
        assert recorder.intents >= 1 and recorder.events >= 9  # every event read through the recording view
        assert exchange.engine(PRIMARY, PRIMARY_SYMBOL).position().size == 0
        assert exchange.engine(HEDGE, HEDGE_SYMBOL).position().size == 0

"""Late and out-of-order reports through the order tracker and the hedger: a REJECTED, EXPIRED or OPEN report
after a partial fill, fills after a terminal status, the same fill from the stream and from a reconciliation
query. Every fill the venue made is applied and forwarded exactly once, none is dropped; and the hedger's own
de-duplication by trade id holds when the same fill reaches its inbox twice (bypassing the tracker's).

The venue is the in-process simulator; :class:`~tests.synth.FaultyVenue` relays its private stream and rewrites
it (holds, reorders, adds reports); the truth is the simulated exchange's own record of fills."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_hedge.domain import Fill, OrderRequest, OrderStatus, OrderUpdate, Side
from trio_hedge.engine import Hedger, InboxFill, MarketStats, OrderTracker, RiskEngine

from .synth import (
    HEDGE_SYMBOL,
    PRIMARY,
    PRIMARY_SYMBOL,
    FaultyVenue,
    market_settings,
    rising_bids,
    sim_pair,
    static_book,
    steady_trades,
)

D = Decimal
Rewrite = Callable[[Any], list[Any]]


def _late_status(status: OrderStatus) -> Callable[[], Rewrite]:
    """After the first fill of each order, a report of ``status`` for it (a late or bogus report)."""
    def make() -> Rewrite:
        done: set[str] = set()

        def rewrite(ev: Any) -> list[Any]:
            if isinstance(ev, Fill) and ev.client_order_id not in done:
                done.add(ev.client_order_id)
                return [ev, OrderUpdate(ev.venue, ev.symbol, ev.client_order_id, status, reason="late report")]
            return [ev]
        return rewrite
    return make


def _open_after_first_fill() -> Rewrite:
    """The order's OPEN ack held back and delivered after its first fill (an ack overtaken by a fill)."""
    held: dict[str, Any] = {}

    def rewrite(ev: Any) -> list[Any]:
        if isinstance(ev, OrderUpdate) and ev.status is OrderStatus.OPEN:
            held[ev.client_order_id] = ev
            return []
        if isinstance(ev, Fill) and ev.client_order_id in held:
            return [ev, held.pop(ev.client_order_id)]
        return [ev]
    return rewrite


def _fills_after_terminal() -> Rewrite:
    """Every fill held back until its order's terminal report, then delivered after it."""
    held: dict[str, list[Any]] = {}

    def rewrite(ev: Any) -> list[Any]:
        if isinstance(ev, Fill):
            held.setdefault(ev.client_order_id, []).append(ev)
            return []
        if isinstance(ev, OrderUpdate) and ev.status.is_terminal:
            return [ev, *held.pop(ev.client_order_id, [])]
        return [ev]
    return rewrite


def _first_fill_only_by_query() -> Rewrite:
    """Each order's first fill dropped from the stream until after its terminal report (the tracker has to
    find it by query first), then delivered late as well: the same fill from both paths."""
    dropped: dict[str, Any] = {}
    late: list[Any] = []

    def rewrite(ev: Any) -> list[Any]:
        if isinstance(ev, Fill) and ev.client_order_id not in dropped:
            dropped[ev.client_order_id] = ev
            return []
        if isinstance(ev, OrderUpdate) and ev.status.is_terminal and ev.client_order_id in dropped:
            late.append(dropped[ev.client_order_id])
            return [ev]
        if late and not isinstance(ev, Fill):  # the next unrelated event carries the late copy
            return [ev, late.pop()]
        return [ev]
    return rewrite


SCENARIOS: dict[str, Callable[[], Rewrite]] = {
    "rejected_after_partial": _late_status(OrderStatus.REJECTED),
    "expired_after_partial": _late_status(OrderStatus.EXPIRED),
    "open_after_partial": _open_after_first_fill,
    "fills_after_terminal": _fills_after_terminal,
    "stream_and_query": _first_fill_only_by_query,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_every_fill_is_applied_and_forwarded_once(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, scenario: str
) -> None:
    """A resting 0.005 buy fills in 0.001 slices; once 0.003 filled it is cancelled and resolved."""
    primary_rec = steady_trades(tmp_path / "p.gz")
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "50")], [("100.1", "50")])
    async with sim_pair(primary_rec, hedge_rec) as (exchange, p, _h):
        engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        async with trio.open_nursery() as nursery:
            venue = FaultyVenue(p, nursery=nursery, rewrite=SCENARIOS[scenario]())
            tracker = OrderTracker(venue, PRIMARY_SYMBOL, inbox_capacity=64)
            await nursery.start(tracker.run)
            req = OrderRequest(venue.new_client_order_id(), PRIMARY_SYMBOL, Side.BUY, D("0.005"), price=D("100.0"),
                               post_only=True, reason="quote")
            tracker.register(req, forward=True)
            await venue.place(req)
            with trio.fail_after(30):
                while engine.get_order(req.client_order_id).filled_size < D("0.003"):  # noqa: ASYNC110
                    await trio.sleep(0.01)
            await venue.cancel(PRIMARY_SYMBOL, req.client_order_id)
            order = await tracker.resolve_within(req.client_order_id, deadline_s=10, event_grace_s=0.5,
                                                 query_interval_s=0.2)
            await trio.sleep(2)  # anything still on its way (late copies) arrives
            forwarded = []
            while True:
                try:
                    item = tracker.inbox.receive_nowait()
                except trio.WouldBlock:
                    break
                if isinstance(item, InboxFill):
                    forwarded.append(item.fill.trade_id)
            nursery.cancel_scope.cancel()
        venue_order = engine.get_order(req.client_order_id)
        venue_fills = [f.trade_id for f in engine.fills if f.client_order_id == req.client_order_id]
    assert venue_order.status is OrderStatus.CANCELLED and len(venue_fills) >= 3
    assert sorted(forwarded) == sorted(venue_fills)  # each fill forwarded exactly once, none dropped
    assert order.filled_size == venue_order.filled_size == tracker.net_filled
    assert order.is_terminal and order.status is not OrderStatus.REJECTED


async def _cycle(tmp_path: Path, *, rewrite: Rewrite | None = None, twice_in_inbox: bool = False) -> dict[str, Any]:
    """One hedge cycle of 0.010 quoted into 0.001 maker fills (the quote keeps falling off the top and is
    re-quoted). ``rewrite`` changes the primary's stream; ``twice_in_inbox`` puts every fill the tracker
    forwards into the hedger's inbox twice (the tracker's own de-duplication bypassed)."""
    primary_rec = rising_bids(tmp_path / "p.gz")
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "50")], [("110.0", "50")])
    s = market_settings(cycles=1, order_size=D("0.010"), requote_after_s=0.03, max_position=D("0.05"))
    stats = MarketStats()
    async with sim_pair(primary_rec, hedge_rec) as (exchange, p, h):
        async with trio.open_nursery() as nursery:
            primary = FaultyVenue(p, nursery=nursery, rewrite=rewrite)
            risk = RiskEngine(s, stats, primary, h)
            ptrack = OrderTracker(primary, PRIMARY_SYMBOL, inbox_capacity=64, on_fill=risk.on_primary_fill)
            htrack = OrderTracker(h, HEDGE_SYMBOL, inbox_capacity=64, on_fill=risk.on_hedge_fill)
            if twice_in_inbox:
                from_tracker = ptrack.inbox
                tx, ptrack.inbox = trio.open_memory_channel[Any](64)

                async def doubler() -> None:
                    async with from_tracker, tx:
                        async for item in from_tracker:
                            await tx.send(item)
                            if isinstance(item, InboxFill):
                                await tx.send(item)

                nursery.start_soon(doubler)
            hedger = Hedger(s, primary, h, ptrack, htrack, stats, trio.Event(), risk=risk, max_hedges_in_flight=2)
            await nursery.start(ptrack.run)
            await nursery.start(htrack.run)
            await nursery.start(risk.run)
            await hedger.run()
            nursery.cancel_scope.cancel()
        p_engine = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
        h_engine = exchange.engine("grvt", HEDGE_SYMBOL)
        maker_fills = [f for f in p_engine.fills if f.is_maker]
        hedge_filled = sum((f.size for f in h_engine.fills
                            if h_engine.get_order(f.client_order_id).request.reason == "hedge"), D(0))
        positions = (p_engine.position().size, h_engine.position().size)
    return dict(stats=stats, hedger=hedger, maker_fills=maker_fills, hedge_filled=hedge_filled, positions=positions)


def _hedged_exactly_once(r: dict[str, Any]) -> None:
    maker_fills = r["maker_fills"]
    assert r["stats"].cycles_completed == 1
    assert sum((f.size for f in maker_fills), D(0)) == D("0.010") == r["hedge_filled"]
    assert r["hedger"].hedged_trade_ids == {f.trade_id for f in maker_fills}
    assert r["stats"].maker_fills == len(maker_fills)
    assert r["positions"] == (0, 0)


@pytest.mark.parametrize("scenario", ["rejected_after_partial", "open_after_partial"])
async def test_late_reports_through_the_hedger_every_fill_hedged_once(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, scenario: str
) -> None:
    _hedged_exactly_once(await _cycle(tmp_path, rewrite=SCENARIOS[scenario]()))


async def test_the_hedger_hedges_a_fill_once_when_its_inbox_gets_it_twice(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    r = await _cycle(tmp_path, twice_in_inbox=True)
    _hedged_exactly_once(r)
    assert len(r["maker_fills"]) >= 5  # many fills, each delivered to the hedger twice

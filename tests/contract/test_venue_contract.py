"""The Venue contract: what :class:`~trio_hedge.venues.Venue` (trio_hedge/venues/_base.py) promises, checked
against every venue kind in ``conftest.KINDS`` (the in-process sim venue, the Backpack adapter on the Backpack
wire simulator, the GRVT adapter on the GRVT wire simulator), on real loopback sockets and the real clock.

Where a kind declares it cannot do something (``Venue.capabilities``, the names in ``venues/_base.py``), the test
checks the declared fallback instead. Every wait is bounded (``WITHIN_S``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
import trio

from trio_hedge.domain import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    TimeInForce,
    VenueEvent,
)
from trio_hedge.engine import session_down
from trio_hedge.venues import STREAMS, PostOnlyWouldCross, UnknownOutcome

from .conftest import ASK, ASK_SIZE, BID, RESTING_BUY, WITHIN_S, Kit, poll

D = Decimal
Events = list[VenueEvent]


def _order(kit: Kit, side: Side, size: str, price: Decimal | None, *, tif: TimeInForce = TimeInForce.GTT,
           post_only: bool = False, reduce_only: bool = False) -> OrderRequest:  # fmt: skip
    return OrderRequest(
        client_order_id=kit.venue.new_client_order_id(), symbol=kit.symbol, side=side, size=D(size),
        order_type=OrderType.LIMIT if price is not None else OrderType.MARKET, price=price, tif=tif,
        post_only=post_only, reduce_only=reduce_only,
    )  # fmt: skip


def _ioc(kit: Kit, side: Side, size: str, price: Decimal) -> OrderRequest:
    return _order(kit, side, size, price, tif=TimeInForce.IOC)


def _updates(events: Events, cid: str) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate) and e.client_order_id == cid]


def _fills(events: Events, cid: str | None = None) -> list[Fill]:
    return [e for e in events if isinstance(e, Fill) and (cid is None or e.client_order_id == cid)]


def _terminal(cid: str) -> Callable[[Events], bool]:
    return lambda evs: any(u.status.is_terminal for u in _updates(evs, cid))


def _status(cid: str, status: OrderStatus) -> Callable[[Events], bool]:
    return lambda evs: any(u.status is status for u in _updates(evs, cid))


async def _collect(rx: trio.MemoryReceiveChannel[VenueEvent], events: Events, done: Callable[[Events], bool]) -> Events:
    with trio.fail_after(WITHIN_S):
        while not done(events):
            events.append(await rx.receive())
    return events


async def _drain(rx: trio.MemoryReceiveChannel[VenueEvent], events: Events, for_s: float = 0.4) -> Events:
    """Everything that follows within ``for_s`` (nothing must follow twice)."""
    with trio.move_on_after(for_s):
        while True:
            events.append(await rx.receive())
    return events


def _each_fill_once(events: Events) -> None:
    ids = [f.trade_id for f in _fills(events)]
    assert len(ids) == len(set(ids)), f"a fill was delivered twice: {ids}"


# ---------------------------------------------------------------------------------------------- market data
async def test_instrument_and_book(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    inst = venue.instrument(sym)
    assert (inst.symbol, inst.tick_size, inst.lot_size, inst.min_size) == (sym, D("0.1"), D("0.001"), D("0.001"))
    with pytest.raises(KeyError):
        venue.instrument("NO_SUCH_SYMBOL")
    book = venue.book(sym)
    assert book.valid and venue.feed_state(sym).connected
    assert book.best_bid() == (BID, D("1.0")) and book.best_ask() == (ASK, ASK_SIZE)
    before = venue.feed_state(sym).last_message_s
    with trio.fail_after(WITHIN_S):
        await venue.wait_book_change(sym)  # the far level moves every 50 ms
    assert venue.feed_state(sym).last_message_s > before


# ---------------------------------------------------------------------------------------------- orders
async def test_place_ack_then_fill_events_each_fill_once_by_trade_id(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    rx = venue.events(sym)
    req = _ioc(kit, Side.BUY, "0.001", ASK)
    ack = await venue.place(req)
    assert ack.client_order_id == req.client_order_id and ack.symbol == sym and ack.side is Side.BUY
    events = await _collect(rx, [], _status(req.client_order_id, OrderStatus.FILLED))
    events = await _drain(rx, events)
    fills = _fills(events, req.client_order_id)
    assert sum(f.size for f in fills) == D("0.001") and all(f.price == ASK and not f.is_maker for f in fills)
    _each_fill_once(events)
    assert [u.status for u in _updates(events, req.client_order_id)].count(OrderStatus.FILLED) == 1
    history = await venue.fills_since(sym, 0)
    assert {f.trade_id for f in history} == {f.trade_id for f in fills}
    status = await venue.order_status(sym, req.client_order_id)
    assert status is not None and (status.status, status.filled_size) == (OrderStatus.FILLED, D("0.001"))
    assert len(kit.control.engine.fills) == len(fills)


async def test_place_is_idempotent_by_client_order_id(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    rx = venue.events(sym)
    req = _order(kit, Side.BUY, "0.001", RESTING_BUY, post_only=True)
    first = await venue.place(req)
    await _collect(rx, [], _status(req.client_order_id, OrderStatus.OPEN))
    again = await venue.place(req)  # answered from the venue's state: nothing is sent
    assert again.client_order_id == first.client_order_id and again.status is OrderStatus.OPEN
    assert kit.control.resting() == 1
    await venue.cancel(sym, req.client_order_id)
    await _collect(rx, [], _status(req.client_order_id, OrderStatus.CANCELLED))
    later = await venue.place(req)  # a repeat after the order ended reports it and sends nothing
    assert later.status is OrderStatus.CANCELLED and kit.control.resting() == 0


async def test_post_only_that_would_cross_is_refused_and_never_rests(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    rx = venue.events(sym)
    req = _order(kit, Side.BUY, "0.001", ASK, post_only=True)
    if "post_only_reject_sync" in kit.caps:
        with pytest.raises(PostOnlyWouldCross):
            await venue.place(req)
    else:  # declared fallback: acked, then REJECTED on the stream; a repeat tells the refusal
        ack = await venue.place(req)
        assert not ack.status.is_terminal
        events = await _collect(rx, [], _status(req.client_order_id, OrderStatus.REJECTED))
        assert _updates(events, req.client_order_id)[-1].filled_size in (None, D(0))
        with pytest.raises(PostOnlyWouldCross):
            await venue.place(req)
    assert kit.control.resting() == 0 and kit.control.engine.fills == []


async def test_ioc_fills_what_the_level_holds_and_expires_the_rest(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    rx = venue.events(sym)
    req = _ioc(kit, Side.BUY, "0.005", ASK)
    await venue.place(req)
    events = await _collect(rx, [], _terminal(req.client_order_id))
    events = await _collect(rx, events, lambda evs: sum(f.size for f in _fills(evs, req.client_order_id)) >= ASK_SIZE)
    last = _updates(events, req.client_order_id)[-1]
    assert last.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED) and last.filled_size == ASK_SIZE
    assert sum(f.size for f in _fills(events, req.client_order_id)) == ASK_SIZE
    status = await venue.order_status(sym, req.client_order_id)
    assert status is not None and status.status is last.status and status.filled_size == ASK_SIZE
    assert kit.control.resting() == 0


async def test_cancel_cancel_all_order_status_and_open_orders(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    rx = venue.events(sym)
    reqs = [
        _order(kit, Side.BUY, "0.001", RESTING_BUY, post_only=True),
        _order(kit, Side.BUY, "0.001", RESTING_BUY - 1, post_only=True),
        _order(kit, Side.SELL, "0.001", ASK + 10, post_only=True),
    ]
    assert len({r.client_order_id for r in reqs}) == 3
    for r in reqs:
        await venue.place(r)
    cids = {r.client_order_id for r in reqs}
    events = await _collect(rx, [], lambda evs: all(_status(c, OrderStatus.OPEN)(evs) for c in cids))
    assert {r.client_order_id for r in await venue.open_orders(sym)} == cids
    first = reqs[0].client_order_id
    await venue.cancel(sym, first)
    events = await _collect(rx, events, _status(first, OrderStatus.CANCELLED))
    status = await venue.order_status(sym, first)
    assert status is not None and status.status is OrderStatus.CANCELLED
    await venue.cancel(sym, first)  # already terminal: not an error
    assert await venue.cancel_all(sym) == 2
    others = cids - {first}
    await _collect(rx, events, lambda evs: all(_status(c, OrderStatus.CANCELLED)(evs) for c in others))
    assert await venue.open_orders(sym) == [] and kit.control.resting() == 0
    assert await venue.cancel_all(sym) == 0
    assert await venue.order_status(sym, venue.new_client_order_id()) is None  # never sent


async def test_positions_report_every_symbol_flat_ones_as_zero(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    rx = venue.events(sym)
    flat = await venue.positions()
    assert sym in flat and flat[sym].size == 0
    buy = _ioc(kit, Side.BUY, "0.001", ASK)
    await venue.place(buy)
    events = await _collect(rx, [], lambda evs: any(isinstance(e, PositionUpdate) and e.position.size == D("0.001")
                                                    for e in evs))  # fmt: skip
    assert (await venue.positions())[sym].size == D("0.001")
    sell = _order(kit, Side.SELL, "0.001", BID, tif=TimeInForce.IOC, reduce_only=True)
    await venue.place(sell)
    await _collect(rx, events, _status(sell.client_order_id, OrderStatus.FILLED))
    await poll(lambda: kit.control.engine.position().size == 0)
    again = await venue.positions()
    assert sym in again and again[sym].size == 0  # flat again: still reported, as 0


async def test_fills_since_is_oldest_first_and_bounded_by_venue_time(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    rx = venue.events(sym)
    reqs = [_ioc(kit, Side.BUY, "0.001", ASK) for _ in range(2)]
    events: Events = []
    for r in reqs:
        await venue.place(r)
        events = await _collect(rx, events, _status(r.client_order_id, OrderStatus.FILLED))
    history = await venue.fills_since(sym, 0)
    assert {f.trade_id for f in history} == {f.trade_id for f in _fills(events)} and len(history) == 2
    assert [f.ts_ns for f in history] == sorted(f.ts_ns for f in history)
    newest = history[-1].ts_ns
    assert history[-1].trade_id in {f.trade_id for f in await venue.fills_since(sym, newest)}
    assert await venue.fills_since(sym, newest + 1) == []


# ---------------------------------------------------------------------------------------------- faults
async def test_a_reset_private_stream_is_reconciled_without_losing_or_repeating_a_fill(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    rx = venue.events(sym)
    req = _ioc(kit, Side.BUY, "0.002", ASK)
    if "private_reconcile" not in kit.caps:
        # declared fallback: the stream is in process and cannot drop; the venue's history agrees with it
        await venue.place(req)
        events = await _drain(rx, await _collect(rx, [], _status(req.client_order_id, OrderStatus.FILLED)))
        _each_fill_once(events)
        history = await venue.fills_since(sym, 0)
        assert sorted(f.trade_id for f in history) == sorted(f.trade_id for f in _fills(events))
        return
    async with kit.control.private_outage():
        await venue.place(req)  # over REST while the stream is down
        await poll(lambda: kit.control.engine.position().size == D("0.002"))
    events = await _collect(rx, [], lambda evs: _status(req.client_order_id, OrderStatus.FILLED)(evs)
                            and sum(f.size for f in _fills(evs, req.client_order_id)) == D("0.002")
                            and any(isinstance(e, PositionUpdate) for e in evs))  # fmt: skip
    events = await _drain(rx, events, 0.6)
    _each_fill_once(events)
    assert sum(f.size for f in _fills(events, req.client_order_id)) == D("0.002")
    assert [u.status for u in _updates(events, req.client_order_id)].count(OrderStatus.FILLED) == 1
    assert [e.position.size for e in events if isinstance(e, PositionUpdate)][-1] == D("0.002")
    assert len(kit.control.engine.fills) == len(_fills(events, req.client_order_id))


async def test_a_private_stream_down_past_its_budget_reports_the_session_down(kit: Kit) -> None:
    # engine/_portfolio.py halts every market on a venue whose session_down names a reason (issue 13); a ccxt
    # kind's sign of life is its private subscription's connection answering pings, or its order polls answering
    venue = kit.venue
    assert session_down(venue) is None
    if "private_reconcile" not in kit.caps:  # the in-process stream cannot drop: the simulator takes it down
        kit.control.exchange.kill_private(kit.control.venue, "cut by the test")
        assert session_down(venue) == "cut by the test"
        kit.control.exchange.kill_private(kit.control.venue, None)
        assert session_down(venue) is None
        return
    async with kit.control.session_outage():
        assert session_down(venue) is None  # just noticed: within its budget (3 s) it is not down yet
        await poll(lambda: session_down(venue) is not None, within_s=3.0 + WITHIN_S)
        assert "private stream" in str(session_down(venue))
    await poll(lambda: session_down(venue) is None, within_s=WITHIN_S)


async def test_a_lost_order_answer_is_resolved_by_query_to_one_order(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    req = _ioc(kit, Side.BUY, "0.001", ASK)
    if "unknown_outcome" not in kit.caps:
        # declared fallback: every place is answered; a repeat is the same order, never a second one
        first = await venue.place(req)
        again = await venue.place(req)
        assert again.client_order_id == first.client_order_id
    else:
        kit.control.lose_next_order_answer()
        with pytest.raises(UnknownOutcome):
            await venue.place(req)
        kit.control.answers_flow()
        found = None
        with trio.fail_after(WITHIN_S):
            while found is None:
                found = await venue.order_status(sym, req.client_order_id)
                if found is None:
                    await trio.sleep(0.05)
        assert found.status is OrderStatus.FILLED
        again = await venue.place(req)  # resolved by a query, never sent a second time
        assert again.status is OrderStatus.FILLED and again.client_order_id == req.client_order_id
    await poll(lambda: kit.control.engine.position().size == D("0.001"))
    await trio.sleep(0.3)
    assert kit.control.engine.position().size == D("0.001") and len(kit.control.engine.fills) == 1


async def test_a_blackholed_feed_invalidates_the_book_within_the_heartbeat_deadline(kit: Kit) -> None:
    venue, sym = kit.venue, kit.symbol
    book = venue.book(sym)
    if "feed_heartbeat" not in kit.caps:
        # declared fallback: no heartbeat; the feed's last message time stops, which the stale-book guard reads
        await kit.control.blackhole_feed(True)
        await trio.sleep(0.6)
        assert trio.current_time() - venue.feed_state(sym).last_message_s >= 0.4
        await kit.control.blackhole_feed(False)
        with trio.fail_after(WITHIN_S):
            while trio.current_time() - venue.feed_state(sym).last_message_s > 0.2:
                await venue.wait_book_change(sym)
        return
    def healthy() -> bool:
        return book.valid and venue.feed_state(sym).connected

    await kit.control.blackhole_feed(True)
    deadline_s = kit.control.heartbeat_deadline_s
    # the heartbeat deadline, plus scheduling slack for a loaded machine
    with trio.fail_after(deadline_s + 0.5):
        while book.valid:
            await venue.wait_book_change(sym)
    assert not venue.feed_state(sym).connected
    await kit.control.blackhole_feed(False)
    with trio.fail_after(WITHIN_S):
        while not healthy():
            await venue.wait_book_change(sym)
    assert book.best_bid() == (BID, D("1.0"))


# ---------------------------------------------------------------------------------------------- polled streams
async def test_a_stream_the_kind_lacks_is_polled_within_its_interval_and_rate_budget(kit: Kit) -> None:
    """The REST-polling fallback of a missing stream (``book_stream``/``order_stream``/``fill_stream`` not declared):
    an external change arrives within one ``poll_interval_s`` plus one request budget, and the polls keep to
    ``poll_rate_per_s`` REST calls per second (counted on the wire, at the REST proxy). The other contract tests
    (each fill once, reconciliation, the book's validity) run through the polls too."""
    polled = STREAMS - kit.caps
    if not polled:
        pytest.skip("every stream is pushed: nothing is polled")
    venue, sym = kit.venue, kit.symbol
    interval_s, rate = float(venue.poll_interval_s), float(venue.poll_rate_per_s)  # type: ignore[attr-defined]
    assert 0 < interval_s and 0 < rate
    rx = venue.events(sym)
    window_s = 2.0
    if "order_stream" in polled:
        assert "fill_stream" in polled or kit.kind.startswith("ccxt")  # fills then come with the order polls
        req = _order(kit, Side.BUY, "0.001", RESTING_BUY, post_only=True)
        await venue.place(req)
        await _collect(rx, [], _status(req.client_order_id, OrderStatus.OPEN))
        # while it rests the polls run, within the budget (nothing else is sent in the window)
        calls, sent = venue.poll_calls, kit.control.rest_requests()  # type: ignore[attr-defined]
        await trio.sleep(window_s)
        polled_calls = venue.poll_calls - calls  # type: ignore[attr-defined]
        on_wire = kit.control.rest_requests() - sent
        assert polled_calls >= 2 and on_wire >= polled_calls - 1  # it polls, and the polls are what went out
        assert on_wire <= rate * window_s + 2, f"{on_wire} REST requests in {window_s}s over a budget of {rate}/s"
        # the venue ends the order by itself: the polls report it
        (resting,) = kit.control.engine.open_orders()
        kit.control.exchange.cancel(kit.control.venue, sym, resting.client_order_id)
        began = trio.current_time()
        await _collect(rx, [], _status(req.client_order_id, OrderStatus.CANCELLED))
        assert trio.current_time() - began <= interval_s + 1.0 + 0.5  # an interval, a request budget, slack
    elif "fill_stream" in polled:
        # order stream, no trade stream: an update that counts fills not yet delivered waits for them, read over
        # REST within the poll budget, so the fills still come first
        calls = venue.poll_calls  # type: ignore[attr-defined]
        req = _ioc(kit, Side.BUY, "0.001", ASK)
        await venue.place(req)
        events = await _collect(rx, [], _status(req.client_order_id, OrderStatus.FILLED))
        fills = [i for i, e in enumerate(events) if isinstance(e, Fill) and e.client_order_id == req.client_order_id]
        filled = [i for i, e in enumerate(events) if e in _updates(events, req.client_order_id)
                  and e.status is OrderStatus.FILLED]  # fmt: skip
        assert fills and max(fills) < min(filled) and venue.poll_calls > calls  # type: ignore[attr-defined]
    if "book_stream" in polled:
        sent, last, gaps = kit.control.rest_requests(), venue.feed_state(sym).last_message_s, []
        with trio.move_on_after(window_s):
            while True:
                await venue.wait_book_change(sym)
                now = venue.feed_state(sym).last_message_s
                gaps.append(now - last)
                last = now
        on_wire = kit.control.rest_requests() - sent
        assert len(gaps) >= 2 and max(gaps) <= interval_s + 0.3, gaps
        assert on_wire <= rate * window_s + 2, f"{on_wire} REST requests in {window_s}s over a budget of {rate}/s"
        assert venue.book(sym).valid and venue.book(sym).best_bid() == (BID, D("1.0"))

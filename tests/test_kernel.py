"""The venue session kernel's own rules (trio_hedge/venues/_kernel/): the event gate and the reconciliation
order. The adapters using them are covered end to end by tests/contract/ and the adapter tests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio
from loguru import logger

from tests.contract.conftest import ASK, _market
from trio_hedge._streams import SymbolEventStreams
from trio_hedge.domain import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PositionUpdate,
    Side,
    TimeInForce,
    VenueEvent,
)
from trio_hedge.sim import SimSettings, open_sim_exchange, open_sim_venue
from trio_hedge.venues._kernel import EventGate, Reconciler
from trio_hedge.venues._ws import Backoff

D = Decimal
SYM = "BTC_USDT_Perp"


def _update(cid: str, status: OrderStatus, filled: str | None, symbol: str = SYM) -> OrderUpdate:
    return OrderUpdate("v", symbol, cid, status, filled_size=None if filled is None else D(filled))


def _fill(trade_id: str, cid: str = "c1") -> Fill:
    return Fill("v", SYM, cid, trade_id, Side.BUY, D("100"), D("0.001"), D("0"), False, 1)


def _drain(rx: trio.MemoryReceiveChannel[VenueEvent]) -> list[VenueEvent]:
    out: list[VenueEvent] = []
    while True:
        try:
            out.append(rx.receive_nowait())
        except trio.WouldBlock:
            return out


async def test_event_gate_passes_each_fill_once_and_only_advancing_updates() -> None:
    streams = SymbolEventStreams("v", [SYM], 64)
    rx = streams.take(SYM)
    ended: list[tuple[str, str]] = []
    gate = EventGate(streams, on_terminal=lambda symbol, cid: ended.append((symbol, cid)))
    assert await gate.fill(_fill("t1")) and not await gate.fill(_fill("t1")) and await gate.fill(_fill("t2"))
    assert await gate.update(_update("c1", OrderStatus.OPEN, "0"))
    assert await gate.update(_update("c1", OrderStatus.PARTIALLY_FILLED, "0.001"))
    assert not await gate.update(_update("c1", OrderStatus.OPEN, "0"))  # a late ack after a fill: stale
    assert not await gate.update(_update("c1", OrderStatus.PARTIALLY_FILLED, "0.001"))  # a repeat
    assert await gate.update(_update("c1", OrderStatus.PARTIALLY_FILLED, "0.002"))  # more filled, same rank
    assert await gate.update(_update("c1", OrderStatus.FILLED, "0.003"))
    assert not await gate.update(_update("c1", OrderStatus.CANCELLED, "0.003"))  # nothing after terminal
    assert ended == [(SYM, "c1")] and gate.is_terminal(SYM, "c1")
    gate.begin(SYM, "c1")  # the id is sent again (a venue reusing ids): a new order's progress
    assert await gate.update(_update("c1", OrderStatus.OPEN, "0"))
    assert not await gate.update(_update("c9", OrderStatus.OPEN, "0", symbol="OTHER"))  # not our symbol
    flat = PositionUpdate(Position("v", SYM, D("0")), 1)
    assert await gate.position(flat) and not await gate.position(flat)
    assert await gate.position(PositionUpdate(Position("v", SYM, D("0.001"), D("100")), 2))
    events = _drain(rx)
    assert [type(e).__name__ for e in events].count("Fill") == 2 and len(events) == 2 + 5 + 2


async def test_reconciliation_emits_missed_fills_before_the_status_then_positions_once(tmp_path: Path) -> None:
    market = _market(tmp_path, "simv", SYM, "USDT")
    async with open_sim_exchange(SimSettings(speed=1.0, latency_s=0.001), [market]) as exchange:
        async with open_sim_venue(exchange, "simv") as venue:
            venue.events(SYM)  # the stream the reconciliation stands in for is not read here
            req = OrderRequest(venue.new_client_order_id(), SYM, Side.BUY, D("0.002"), OrderType.LIMIT, ASK,
                               tif=TimeInForce.IOC)  # fmt: skip
            await venue.place(req)
            streams = SymbolEventStreams("simv", [SYM], 64)
            rx = streams.take(SYM)
            gate = EventGate(streams)
            await gate.update(_update(req.client_order_id, OrderStatus.PENDING, None))  # what the stream had said
            reconciler = Reconciler(venue, gate, [SYM], live=lambda _s: [req.client_order_id], ours=lambda _c: True,
                                    venue_time_ns=lambda: 0, backoff=Backoff(), log=logger)  # fmt: skip
            with trio.fail_after(5):
                await reconciler.reconcile(0)
            events = _drain(rx)[1:]
            kinds = [type(e).__name__ for e in events]
            assert kinds == ["Fill", "OrderUpdate", "PositionUpdate"], kinds
            assert isinstance(events[1], OrderUpdate) and events[1].status is OrderStatus.FILLED
            assert isinstance(events[2], PositionUpdate) and events[2].position.size == D("0.002")
            with trio.fail_after(5):
                await reconciler.reconcile(0)
            assert _drain(rx) == []  # a second pass repeats nothing

"""A ccxt venue without a trade stream (ccxt.pro's Backpack: ``has["watchMyTrades"]`` false) reads its fills over
REST when an order update shows one; the update comes on the WebSocket, which on Backpack also carries both
markets' depth. Under CPU load that connection ran seconds behind REST (an order's first update 0.4-2 s after
its REST ack at the median, up to 5.8 s, in the 20-cycle acceptance run with two busy loops beside it), so a fill
reached the engine that late while the position check read the venue's position over REST, fresh, and waited its
0.5 s ``risk.event_grace_ms``: ``PositionDrift``, the venue one fill ahead of the fills the engine had seen.

A position read therefore reads the fills first (the kernel Reconciler's safe order: fills, then positions):
every fill the position counts has been emitted before the position is returned. Against the Backpack wire
simulator on loopback, the WebSocket held at the fault proxy (nothing comes down it: the order stream as late as
it gets)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

from tests.contract.conftest import ASK, KINDS, poll
from tests.test_kernel import _drain
from trio_hedge.domain import Fill, OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.sim._faultproxy import Direction

D = Decimal


async def test_a_position_read_emits_the_fills_it_counts_before_it_returns_while_the_order_stream_lags(
        tmp_path: Path) -> None:  # fmt: skip
    async with KINDS["ccxt:backpack"](tmp_path) as kit:
        venue, sym = kit.venue, kit.symbol
        assert "fill_stream" not in kit.caps and "order_stream" in kit.caps
        events = venue.events(sym)
        ws = kit.control.ws  # type: ignore[attr-defined]
        await poll(lambda: bool(ws.connections(lambda c: c.is_websocket)))
        held = ws.connections(lambda c: c.is_websocket)
        for conn in held:  # book and order stream: one connection, nothing comes down it from here
            conn.half_open(Direction.DOWN)
        try:
            _drain(events)
            cid = venue.new_client_order_id()
            await venue.place(OrderRequest(client_order_id=cid, symbol=sym, side=Side.BUY, size=D("0.001"),
                                           order_type=OrderType.LIMIT, price=ASK, tif=TimeInForce.IOC))  # fmt: skip
            with trio.fail_after(5):
                positions = await venue.positions()
            assert positions[sym].size == D("0.001")  # the venue counts the fill
            fills = [e for e in _drain(events) if isinstance(e, Fill)]
            # ... and so does the event stream, already: before, nothing until the order's update came down
            assert [(f.client_order_id, f.side, f.size, f.price) for f in fills] == [(cid, Side.BUY, D("0.001"), ASK)]
            with trio.fail_after(5):  # read again: the same fill is not emitted twice
                await venue.positions()
            assert not [e for e in _drain(events) if isinstance(e, Fill)]
        finally:
            for conn in held:
                conn.half_open(Direction.DOWN, False)

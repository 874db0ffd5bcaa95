"""The ccxt venue's order poll (``ccxt_poll = ["watchOrders"]``) over one session trading two symbols, against the
Backpack wire simulator on loopback: a fill of either symbol reaches the engine, and a poll pass costs the same REST
calls as with one symbol (its cost is how late a fill arrives: read symbol by symbol, two markets doubled it and a
maker fill reached the engine after ``risk.event_grace_ms``, so the position check saw a drift)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio

from tests.contract.conftest import ASK, CCXT_FAST, RESTING_BUY, contract_recording
from tests.rigs import backpack_rig
from trio_hedge.domain import Fill, Instrument, OrderRequest, OrderType, Side, TimeInForce
from trio_hedge.sim import ContractSpec, SimMarket
from trio_hedge.venues.ccxt import CcxtSettings, open_ccxt_venue, simulator_urls

D = Decimal
SYMBOLS = ("BTC_USDC_PERP", "ETH_USDC_PERP")
POLL_INTERVAL_S = 1.0  # a pass (a few calls at 50/s) ends well within it: the calls between two passes are one pass's


def _market(tmp_path: Path, symbol: str) -> SimMarket:
    instrument = Instrument("backpack", symbol, symbol.split("_")[0], "USDC", D("0.1"), D("0.001"), D("0.001"), D("5"))
    return SimMarket("backpack", instrument, contract_recording(tmp_path / f"{symbol}.gz"),
                     ContractSpec(lot_size=D("0.001")), D("-0.1"), D("4.5"))  # fmt: skip


def _request(cid: str, symbol: str, price: Decimal, tif: TimeInForce) -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=symbol, side=Side.BUY, size=D("0.001"), order_type=OrderType.LIMIT,
                        price=price, tif=tif, post_only=tif is TimeInForce.GTT)  # fmt: skip


async def _fill_of(events: trio.MemoryReceiveChannel, cid: str) -> Fill:
    async for ev in events:
        if isinstance(ev, Fill) and ev.client_order_id == cid:
            return ev
    raise AssertionError("event stream ended")


async def test_an_order_poll_pass_over_two_symbols_costs_one_symbols_calls_and_delivers_both_fills(
        tmp_path: Path) -> None:  # fmt: skip
    async with backpack_rig([_market(tmp_path, s) for s in SYMBOLS]) as rig:
        settings = CcxtSettings("backpack", "backpack", SYMBOLS, {"apiKey": rig.info.api_key,
                                "secret": rig.info.api_secret}, simulator_urls("backpack", rig.info.rest, rig.info.ws,
                                rig.info.ws), timeouts=CCXT_FAST, poll=frozenset({"watchOrders"}),
                                poll_interval_s=POLL_INTERVAL_S, poll_rate_per_s=50.0)  # fmt: skip
        async with open_ccxt_venue(settings) as venue:
            assert "order_stream" not in venue.capabilities and "fill_stream" not in venue.capabilities
            for symbol in SYMBOLS:  # one resting order each: both symbols polled
                await venue.place(_request(venue.new_client_order_id(), symbol, RESTING_BUY, TimeInForce.GTT))
            with trio.fail_after(3 * POLL_INTERVAL_S + 5):
                start = venue.poll_calls
                # a pass began (a counter, no event to wait on); the next one begins POLL_INTERVAL_S after it
                while venue.poll_calls == start:  # noqa: ASYNC110
                    await trio.sleep(0.01)
                await trio.sleep(POLL_INTERVAL_S / 2)
                before = venue.poll_calls
                await trio.sleep(POLL_INTERVAL_S)
            # the open orders and the fills of both symbols, one call each (read one by one, with the positions
            # read in the pass: 5 calls, 2.5 times a fill's delay)
            assert venue.poll_calls - before == 2
            # an IOC on each symbol takes the ask: each fill is delivered on its symbol's stream
            cids = {s: venue.new_client_order_id() for s in SYMBOLS}
            for symbol, cid in cids.items():
                await venue.place(_request(cid, symbol, ASK, TimeInForce.IOC))
            with trio.fail_after(3 * POLL_INTERVAL_S + 5):
                for symbol, cid in cids.items():
                    fill = await _fill_of(venue.events(symbol), cid)
                    assert (fill.symbol, fill.side, fill.size, fill.price) == (symbol, Side.BUY, D("0.001"), ASK)

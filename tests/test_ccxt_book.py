"""The ccxt venue's book across a lost WebSocket, against the Backpack wire simulator on loopback behind the fault
proxy. ccxt.pro's Backpack client keeps the book it had when the connection dropped and applies the new
connection's depth updates to it (``handle_order_book`` in ``ccxt/pro/backpack.py`` loads a REST snapshot only for
a book with no nonce yet): a level removed while the connection was down stayed in the book for good, and one
that left the book crossed ended the whole venue session (BookInvalid escaped the feed loop: seen in the
20-cycle acceptance run under CPU load, after ccxt.pro closed a connection on missed pongs). The adapter drops
ccxt's book of the symbol when the connection is lost, so the next watch starts from a snapshot; a crossed book
marks the feed down instead of ending the session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from tests.contract.conftest import CCXT_FAST, poll
from tests.rigs import BackpackRig, backpack_rig, proxied
from tests.synth import Recording
from trio_hedge.domain import Instrument
from trio_hedge.sim import ContractSpec, SimMarket
from trio_hedge.sim._faultproxy import FaultProxy
from trio_hedge.venues.ccxt import CcxtSettings, CcxtVenue, open_ccxt_venue, simulator_urls

D = Decimal
SYMBOL = "BTC_USDC_PERP"
GONE_ASK, NEXT_ASK = D("60000.1"), D("60000.2")
GONE_AT_S = 6.0
"""Recording time (speed 1: about the test's own) at which the best ask level is removed from the book."""


def _recording(path: Path) -> Path:
    r = Recording()
    r.snapshot(0, [(f"{D('60000.0') - D(i) / 10}", "1.0") for i in range(20)],
               [(f"{GONE_ASK + D(i) / 10}", "1.0") for i in range(20)])  # fmt: skip
    for k in range(1, 400):  # a far level changes every 50 ms: the feed never sleeps
        t_s = k * 0.05
        asks = [("60001.0", f"{1 + k % 5}.5")]
        if abs(t_s - GONE_AT_S) < 1e-9:
            asks.append((f"{GONE_ASK}", "0"))
        r.delta(t_s, bids=[("59999.0", f"{1 + k % 7}.{k % 10}")], asks=asks)
    return r.write(path)


@asynccontextmanager
async def _venue(tmp_path: Path) -> AsyncIterator[tuple[CcxtVenue, BackpackRig, FaultProxy]]:
    instrument = Instrument("backpack", SYMBOL, "BTC", "USDC", D("0.1"), D("0.001"), D("0.001"), D("5"))
    market = SimMarket("backpack", instrument, _recording(tmp_path / "book.gz"), ContractSpec(lot_size=D("0.001")),
                       D("-0.1"), D("4.5"))  # fmt: skip
    async with backpack_rig([market]) as rig, proxied(rig.info.ws) as ws:
        ws_url = f"ws://127.0.0.1:{ws.port}/"
        settings = CcxtSettings("backpack", "backpack", (SYMBOL,), {"apiKey": rig.info.api_key,
                                "secret": rig.info.api_secret}, simulator_urls("backpack", rig.info.rest, ws_url,
                                ws_url), timeouts=CCXT_FAST)  # fmt: skip
        async with open_ccxt_venue(settings) as venue:
            yield venue, rig, ws


async def test_a_level_removed_while_the_connection_was_down_is_gone_from_the_book_after_it(tmp_path: Path) -> None:
    async with _venue(tmp_path) as (venue, rig, ws):
        truth = rig.exchange.market_book("backpack", SYMBOL)
        await poll(lambda: venue.book(SYMBOL).valid)
        assert venue.book(SYMBOL).best_ask()[0] == GONE_ASK  # type: ignore[index]
        assert truth.best_ask()[0] == GONE_ASK, "the session took too long to start: the level is gone already"  # type: ignore[index]
        ws.refuse()
        try:
            ws.reset_all()  # book and private stream: one connection; new ones refused until the level is gone
            await poll(lambda: truth.best_ask()[0] == NEXT_ASK, within_s=GONE_AT_S + 5)  # type: ignore[index]
        finally:
            ws.refuse(False)
        with trio.fail_after(10):
            while True:  # reconnected: the book is valid again and follows the venue's
                book = venue.book(SYMBOL)
                if book.valid and book.best_ask()[0] == NEXT_ASK:  # type: ignore[index]
                    break
                await trio.sleep(0.05)
        for _ in range(10):  # and stays so: before, the old book came back with the removed level in it
            await trio.sleep(0.1)
            assert venue.book(SYMBOL).best_ask()[0] in (NEXT_ASK, None)  # type: ignore[index]


async def _store_bid(client: Any, unified: str, price: float, size: float) -> None:
    """On the asyncio side: set a bid level of ccxt.pro's own book of ``unified`` (size 0 removes it)."""
    client.orderbooks[unified]["bids"].store(price, size)


async def test_a_crossed_book_from_ccxt_marks_the_feed_down_and_the_session_goes_on(tmp_path: Path) -> None:
    async with _venue(tmp_path) as (venue, _rig, _ws):
        await poll(lambda: venue.book(SYMBOL).valid)
        unified, bridge, client = venue._unified[SYMBOL], venue._bridge, venue._x
        await bridge.call(_store_bid, client, unified, 60005.0, 1.0)  # above the best ask: the next update crosses
        await poll(lambda: not venue.book(SYMBOL).valid)
        assert "crossed" in str(venue.book(SYMBOL).invalid_reason)
        await bridge.call(_store_bid, client, unified, 60005.0, 0.0)
        await poll(lambda: venue.book(SYMBOL).valid)  # the next update is whole again: valid, the session still up
        assert venue.book(SYMBOL).best_bid()[0] < GONE_ASK  # type: ignore[index]

"""Several symbols on one native adapter session share ONE public market-data WebSocket per venue
(issue 13: "one WebSocket per venue carrying every symbol's subscriptions"), with per-symbol book validity.

Both wire simulators serve two markets (BTC and ETH, synthetic recordings from tests/synth.py whose far level
changes every 50 ms, so deltas keep flowing); the connections are counted at the shared loopback fault proxy
(trio_hedge/sim/_faultproxy.py), which also drops one symbol's delta (a sequence gap on that symbol only) and
resets every connection. Every wait is bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from trio_hedge.domain import Instrument
from trio_hedge.sim import ContractSpec, SimMarket
from trio_hedge.sim._faultproxy import Direction, FaultProxy, ProxyConnection
from trio_hedge.venues import Venue
from trio_hedge.venues.backpack import open_backpack_venue
from trio_hedge.venues.grvt import open_grvt_venue

from .rigs import backpack_rig, grvt_rig, is_backpack_private, proxied
from .synth import Recording

D = Decimal
pytestmark = pytest.mark.timeout(120)  # waits on sockets: a hang fails the test, not the run


def _recording(path: Path, symbol: str, mid: int) -> Path:
    """Bid ``mid`` / ask ``mid + 0.1`` (1 each, never moving) over 20 levels; a deeper bid changes every 50 ms."""
    r = Recording(symbol=symbol)
    r.snapshot(0.0, [(f"{mid - D(i) / 10}", "1") for i in range(20)],
               [(f"{mid + D(i + 1) / 10}", "1") for i in range(20)])  # fmt: skip
    for k in range(1, 1200):
        r.delta(k * 0.05, bids=[(f"{mid - 10}", f"{1 + k % 7}")])
    return r.write(path)


def _markets(tmp_path: Path, venue: str, symbols: tuple[str, str], quote: str) -> list[SimMarket]:
    out = []
    for symbol, base, mid in zip(symbols, ("BTC", "ETH"), (60000, 3000), strict=True):
        inst = Instrument(venue, symbol, base, quote, D("0.1"), D("0.001"), D("0.001"))
        rec = _recording(tmp_path / f"{venue}_{base}.gz", f"{base}{quote}", mid)
        out.append(SimMarket(venue, inst, rec, ContractSpec(lot_size=D("0.001")), D("0"), D("4")))
    return out


async def _until(cond: Callable[[], bool], *, within_s: float) -> None:
    """Poll state of the proxy or the books (nothing to wait on across both symbols) until true."""
    with trio.fail_after(within_s):
        while not cond():  # noqa: ASYNC110
            await trio.sleep(0.01)


@asynccontextmanager
async def _watch_valid(venue: Venue, symbol: str) -> AsyncIterator[list[bool]]:
    """Record ``symbol``'s book validity at every change while the block runs."""
    seen: list[bool] = []

    async def watch() -> None:
        while True:
            await venue.wait_book_change(symbol)
            seen.append(venue.book(symbol).valid)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        yield seen
        nursery.cancel_scope.cancel()


BP = ("BTC_USDC_PERP", "ETH_USDC_PERP")
GV = ("BTC_USDT_Perp", "ETH_USDT_Perp")


def _bp_public(proxy: FaultProxy) -> list[ProxyConnection]:
    """Backpack's public WebSocket connections (the private stream shares the endpoint)."""
    return proxy.connections(lambda c: c.is_websocket and not is_backpack_private(c))


@asynccontextmanager
async def _backpack(tmp_path: Path) -> AsyncIterator[tuple[FaultProxy, Venue]]:
    async with backpack_rig(_markets(tmp_path, "backpack", BP, "USDC")) as sim, proxied(sim.info.ws) as proxy:
        with trio.fail_after(10):
            async with open_backpack_venue(sim.settings(ws_url=f"ws://127.0.0.1:{proxy.port}/")) as venue:
                yield proxy, venue


@asynccontextmanager
async def _grvt(tmp_path: Path) -> AsyncIterator[tuple[FaultProxy, Venue]]:
    async with grvt_rig(_markets(tmp_path, "grvt", GV, "USDT")) as r:
        with trio.fail_after(10):
            async with open_grvt_venue(r.settings()) as venue:
                yield r.md, venue  # the market-data socket's own proxy


@dataclass(frozen=True)
class _Case:
    """One venue: its session on a proxy, its symbols, its market-data connections at the proxy, and which
    server frame is a (non-snapshot) book delta of a symbol."""

    open: Callable[[Path], AbstractAsyncContextManager[tuple[FaultProxy, Venue]]]
    symbols: tuple[str, str]
    market_data: Callable[[FaultProxy], list[ProxyConnection]]
    delta_of: Callable[[str], Callable[[bytes], bool]]
    bids: tuple[Decimal, Decimal] = (D("60000.0"), D("3000.0"))


CASES = {
    "backpack": _Case(_backpack, BP, _bp_public, lambda s: lambda f: f'"stream":"depth.{s}"'.encode() in f),
    "grvt": _Case(_grvt, GV, lambda proxy: proxy.connections(),
                  lambda s: lambda f: b'"v1.book.d"' in f and s.encode() in f and b'"sequence_number":"0"' not in f),
}  # fmt: skip
venues = pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))


@venues
async def test_two_symbols_share_one_market_data_connection(tmp_path: Path, case: _Case) -> None:
    async with case.open(tmp_path) as (proxy, venue):
        await _until(lambda: all(venue.book(s).valid for s in case.symbols), within_s=3)
        await trio.sleep(0.3)
        public = case.market_data(proxy)
        assert len(public) == 1 and len(proxy.connections(lambda c: c.is_websocket)) <= 2  # + Backpack's private
        down = public[0].head(Direction.DOWN)
        assert all(s.encode() in down for s in case.symbols)  # both symbols' frames came over that one
        for symbol, bid in zip(case.symbols, case.bids, strict=True):
            assert venue.book(symbol).best_bid() == (bid, D("1"))


@venues
async def test_a_gap_on_one_symbol_resyncs_it_alone(tmp_path: Path, case: _Case) -> None:
    btc_sym, eth_sym = case.symbols
    async with case.open(tmp_path) as (proxy, venue):
        await _until(lambda: all(venue.book(s).valid for s in case.symbols), within_s=3)
        btc_since = venue.feed_state(btc_sym).since_s
        accepted = proxy.statistics().accepted
        async with _watch_valid(venue, btc_sym) as btc, _watch_valid(venue, eth_sym) as eth:
            proxy.drop_ws_frames(case.delta_of(eth_sym))
            await _until(lambda: False in eth, within_s=2)
            await _until(lambda: venue.book(eth_sym).valid, within_s=3)
            await trio.sleep(0.2)
        assert proxy.statistics().ws_frames_dropped == 1
        assert btc and all(btc), "the other symbol's book stayed valid throughout"
        assert venue.feed_state(btc_sym).connected and venue.feed_state(btc_sym).since_s == btc_since
        assert proxy.statistics().accepted == accepted and len(case.market_data(proxy)) == 1  # no reconnect


@venues
async def test_a_connection_reset_invalidates_both_and_both_come_back(tmp_path: Path, case: _Case) -> None:
    async with case.open(tmp_path) as (proxy, venue):
        await _until(lambda: all(venue.book(s).valid for s in case.symbols), within_s=3)
        async with _watch_valid(venue, case.symbols[0]) as btc, _watch_valid(venue, case.symbols[1]) as eth:
            proxy.reset_all()
            await _until(lambda: False in btc and False in eth, within_s=2)
            await _until(lambda: all(venue.book(s).valid for s in case.symbols), within_s=5)
        assert all(venue.feed_state(s).connected for s in case.symbols)
        await _until(lambda: len(case.market_data(proxy)) == 1, within_s=2)

"""Build small synthetic recordings in the recorded Binance format, for controlled simulator scenarios.

A recording is gzip text, one ``<recv_ns> <json>`` per line: a REST snapshot, then ``depthUpdate``
(futures style, with ``pu``) and ``trade`` messages. Used where the real recordings cannot force a
situation (many small partial fills, a thin book).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

T0_NS = 1_723_161_300_000_000_000


@dataclass
class Recording:
    """Accumulates messages; ``write(path)`` produces the file."""

    symbol: str = "BTCUSDT"
    lines: list[str] = field(default_factory=list)
    seq: int = 1000
    trade_id: int = 1

    def snapshot(self, t_s: float, bids: Iterable[tuple[str, str]], asks: Iterable[tuple[str, str]]) -> None:
        body = {"lastUpdateId": self.seq, "E": 0, "T": 0, "bids": [list(b) for b in bids],
                "asks": [list(a) for a in asks]}
        self.lines.append(f"{T0_NS + int(t_s * 1e9)} {json.dumps(body)}")

    def delta(self, t_s: float, bids: Iterable[tuple[str, str]] = (), asks: Iterable[tuple[str, str]] = ()) -> None:
        prev = self.seq
        self.seq += 1
        ms = (T0_NS + int(t_s * 1e9)) // 1_000_000
        data = {"e": "depthUpdate", "E": ms, "T": ms, "s": self.symbol, "U": self.seq, "u": self.seq, "pu": prev,
                "b": [list(b) for b in bids], "a": [list(a) for a in asks]}
        self.lines.append(f"{T0_NS + int(t_s * 1e9)} {json.dumps({'stream': 'x@depth@0ms', 'data': data})}")

    def trade(self, t_s: float, price: str, qty: str, *, buyer_is_maker: bool) -> None:
        ms = (T0_NS + int(t_s * 1e9)) // 1_000_000
        data = {"e": "trade", "E": ms, "T": ms, "s": self.symbol, "t": self.trade_id, "p": price, "q": qty,
                "m": buyer_is_maker}
        self.trade_id += 1
        self.lines.append(f"{T0_NS + int(t_s * 1e9)} {json.dumps({'stream': 'x@trade', 'data': data})}")

    def write(self, path: Path) -> Path:
        with gzip.open(path, "wt") as f:
            f.write("\n".join(self.lines) + "\n")
        return path


def venue_overrides(name: str, recording: Path, *, symbol: str, lot: str = "0.001") -> list[str]:
    """``--set`` overrides pointing venue ``name`` at ``recording`` as a linear contract."""
    return [
        f"venues.{name}.recording={json.dumps(str(recording))}",
        f"venues.{name}.contract=linear",
        f"venues.{name}.contract_value_quote=1",
        f"venues.{name}.lot_size={lot}",
        f"venues.{name}.min_size={lot}",
        f"venues.{name}.symbol={symbol}",
    ]


# ---------------------------------------------------------------------------------------------------------
# Engine-level helpers (routing, risk and rate-limit tests): the in-process simulator venues over synthetic
# recordings, books for common scenarios, test market settings, and a fake of the venue boundary that injects
# venue errors or duplicates stream events.

from collections.abc import AsyncIterator, Callable  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Any  # noqa: E402

import trio  # noqa: E402

PRIMARY = "backpack"
HEDGE = "grvt"
PRIMARY_SYMBOL = "BTC_USDC_PERP"
HEDGE_SYMBOL = "BTC_USDT_Perp"


def steady_trades(path: Path, *, bid: str = "100.0", ask: str = "100.1", queue: str = "0.003", qty: str = "0.001",
                  every_s: float = 0.05, until_s: float = 60.0) -> Path:
    """A primary book ``bid``/``ask`` with ``queue`` resting ahead of us at each, deep levels one tick away,
    and a sell of ``qty`` into the bid plus a buy of ``qty`` at the ask every ``every_s``: a resting quote at
    the top fills in ``qty`` slices on either side. Far-away deltas keep the feed alive."""
    r = Recording()
    tick = Decimal("0.1")
    r.snapshot(0.0, [(bid, queue), (str(Decimal(bid) - tick), "5")], [(ask, queue), (str(Decimal(ask) + tick), "5")])
    t = 0.1
    while t < until_s:
        r.trade(t, bid, qty, buyer_is_maker=True)
        r.trade(t + every_s / 5, ask, qty, buyer_is_maker=False)
        r.delta(t + 2 * every_s / 5, bids=[("90.0", "1")])
        t += every_s
    return r.write(path)


def static_book(path: Path, bids: list[tuple[str, str]], asks: list[tuple[str, str]], *, until_s: float = 60.0,
                every_s: float = 0.05) -> Path:
    """A book that never changes near the top (deltas only at 1.0 and 1000.0 keep the feed alive): what our
    takers consume stays consumed (the simulator has no refill until the recording names the level)."""
    r = Recording()
    r.snapshot(0.0, bids, asks)
    t = 0.1
    while t < until_s:
        r.delta(t, bids=[("1.0", "1")], asks=[("1000.0", "1")])
        t += every_s
    return r.write(path)


@asynccontextmanager
async def sim_pair(
    primary_rec: Path, hedge_rec: Path, *, latency_s: float = 0.002, speed: float = 1.0,
    primary_fees: tuple[str, str] = ("0", "2.4"), hedge_fees: tuple[str, str] = ("-0.1", "4.5"),
    min_size: str = "0.001",
) -> AsyncIterator[tuple[Any, Any, Any]]:
    """The simulated exchange with a linear primary ("backpack") and hedge ("grvt") venue on these recordings
    (lot 0.001, min size ``min_size``, tick 0.1, no min notional), and an in-process venue session on each.
    Yields (exchange, primary venue, hedge venue)."""
    from trio_hedge.domain import Instrument
    from trio_hedge.sim import ContractSpec, SimMarket, SimSettings, SimVenueSettings, open_sim_exchange, open_sim_venue

    lot = Decimal("0.001")

    def market(venue: str, symbol: str, rec: Path, fees: tuple[str, str]) -> SimMarket:
        inst = Instrument(venue, symbol, "BTC", "USD", Decimal("0.1"), lot, Decimal(min_size), Decimal(0))
        return SimMarket(venue, inst, rec, ContractSpec(lot_size=lot), Decimal(fees[0]), Decimal(fees[1]))

    markets = [market(PRIMARY, PRIMARY_SYMBOL, primary_rec, primary_fees),
               market(HEDGE, HEDGE_SYMBOL, hedge_rec, hedge_fees)]
    async with open_sim_exchange(SimSettings(speed=speed, latency_s=latency_s), markets) as exchange:
        async with open_sim_venue(exchange, PRIMARY, SimVenueSettings()) as primary:
            async with open_sim_venue(exchange, HEDGE, SimVenueSettings()) as hedge:
                yield exchange, primary, hedge


def market_settings(**overrides: Any) -> Any:
    """MarketSettings for engine tests: one cycle of 0.002, no edge gate or band (min_edge -10000 bps, band
    10000 bps), patient staleness; ``overrides`` replace any field."""
    from trio_hedge.engine import MarketSettings

    base: dict[str, Any] = dict(
        name="BTC", primary_symbol=PRIMARY_SYMBOL, hedge_symbol=HEDGE_SYMBOL, cycles=1, order_size=Decimal("0.002"),
        slippage_cap_bps=Decimal("10"), min_edge_bps=Decimal("-10000"), price_band_bps=Decimal("10000"),
        book_stale_s=30.0, cleanup_deadline_s=10.0,
    )
    base.update(overrides)
    return MarketSettings(**base)


class Fault:
    """One injected venue error.

    Args:
        method: the Venue request it applies to (``place``, ``cancel``, ``order_status``, ``positions``...).
        error: builds the VenueError to raise.
        times: how many matching calls fail.
        when: a predicate on the call's arguments (for ``place``: ``(request,)``).
        after_call: call the real venue first, then raise (the request went through; the answer was lost).
    """

    def __init__(self, method: str, error: Callable[[], Exception], *, times: int = 1,
                 when: Callable[[tuple[Any, ...]], bool] = lambda args: True, after_call: bool = False) -> None:
        self.method = method
        self.error = error
        self.times = times
        self.when = when
        self.after_call = after_call


class FaultyVenue:
    """A fake of the venue boundary: forwards everything to a real ``inner`` venue, except that requests
    matching a :class:`Fault` raise its error, and (with ``nursery``) the private stream is relayed through a
    task that can deliver every fill twice, or ``rewrite`` each event into the events to deliver instead
    (none, itself, later, with others: late and out-of-order reports). Records every request as
    ``(trio time, method, args)`` in ``calls`` and every fill it delivered in ``delivered_fills``."""

    def __init__(self, inner: Any, faults: list[Fault] | None = None, *, nursery: trio.Nursery | None = None,
                 duplicate_fills: bool = False, place_delay_s: float = 0.0,
                 rewrite: Callable[[Any], list[Any]] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.faults = list(faults or [])
        self.calls: list[tuple[float, str, tuple[Any, ...]]] = []
        self.delivered_fills: list[Any] = []
        self.on_place: Callable[[Any], None] | None = None
        self._nursery = nursery
        self._duplicate = duplicate_fills
        self._place_delay_s = place_delay_s
        self._rewrite = rewrite

    def __getattr__(self, item: str) -> Any:
        if item == "inner":
            raise AttributeError(item)
        return getattr(self.inner, item)

    def instrument(self, symbol: str) -> Any:
        return self.inner.instrument(symbol)

    def book(self, symbol: str) -> Any:
        return self.inner.book(symbol)

    def feed_state(self, symbol: str) -> Any:
        return self.inner.feed_state(symbol)

    async def wait_book_change(self, symbol: str) -> None:
        await self.inner.wait_book_change(symbol)

    def new_client_order_id(self) -> str:
        return self.inner.new_client_order_id()

    def events(self, symbol: str) -> Any:
        rx = self.inner.events(symbol)
        if self._nursery is None:
            return rx
        from trio_hedge.domain import Fill

        tx, out = trio.open_memory_channel[Any](256)

        async def relay() -> None:
            async with rx, tx:
                async for received in rx:
                    for event in self._rewrite(received) if self._rewrite else [received]:
                        await self._relay_one(tx, event, Fill)

        self._nursery.start_soon(relay)
        return out

    async def _relay_one(self, tx: Any, event: Any, fill_type: type) -> None:
        await tx.send(event)
        if isinstance(event, fill_type):
            self.delivered_fills.append(event)
            if self._duplicate:
                await tx.send(event)
                self.delivered_fills.append(event)

    async def _call(self, method: str, fn: Callable[..., Any], *args: Any) -> Any:
        self.calls.append((trio.current_time(), method, args))
        for f in self.faults:
            if f.method == method and f.times > 0 and f.when(args):
                f.times -= 1
                if f.after_call:
                    await fn(*args)
                raise f.error()
        return await fn(*args)

    async def place(self, request: Any) -> Any:
        if self.on_place is not None:
            self.on_place(request)
        if self._place_delay_s:
            await trio.sleep(self._place_delay_s)
        return await self._call("place", self.inner.place, request)

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        await self._call("cancel", self.inner.cancel, symbol, client_order_id)

    async def cancel_all(self, symbol: str) -> int:
        return await self._call("cancel_all", self.inner.cancel_all, symbol)

    async def order_status(self, symbol: str, client_order_id: str) -> Any:
        return await self._call("order_status", self.inner.order_status, symbol, client_order_id)

    async def open_orders(self, symbol: str) -> Any:
        return await self._call("open_orders", self.inner.open_orders, symbol)

    async def positions(self) -> Any:
        return await self._call("positions", self.inner.positions)

    async def fills_since(self, symbol: str, since_ns: int) -> Any:
        return await self._call("fills_since", self.inner.fills_since, symbol, since_ns)

    def placed(self, reason: str) -> list[Any]:
        """The OrderRequests of the ``place`` calls with this reason, in order (retries repeat a request)."""
        return [args[0] for _, m, args in self.calls if m == "place" and args[0].reason == reason]


def rising_bids(path: Path, *, every_s: float = 0.02, step_s: float = 0.1, until_s: float = 30.0) -> Path:
    """A primary book whose best bid rises one tick (0.1) every ``step_s`` from 100.0 (0.001 resting at each new
    best, the ask 0.3 above), with a sell of 0.001 into the best bid every ``every_s``: a BUY quote fills in
    part, falls off the top, and is re-quoted over and over while partial fills keep arriving."""
    r = Recording()
    bid = Decimal("100.0")
    tick = Decimal("0.1")
    r.snapshot(0.0, [(str(bid), "0.001"), ("90.0", "5")], [(str(bid + 3 * tick), "5")])
    t = 0.1
    next_step = step_s
    while t < until_s:
        if t >= next_step:
            next_step += step_s
            r.delta(t, bids=[(str(bid + tick), "0.001")], asks=[(str(bid + 3 * tick), "0"), (str(bid + 4 * tick), "5")])
            bid += tick
        r.trade(t + every_s / 4, str(bid), "0.001", buyer_is_maker=True)
        t += every_s
    return r.write(path)


async def wait_both_legs_exposed(exchange: Any, *, after_s: float) -> tuple[Decimal, Decimal]:
    """After ``after_s`` (a few cycles first), wait until the simulated primary and hedge venues both hold a
    position (a hedge has filled and the cycle has not unwound yet); returns (primary, hedge) sizes."""
    primary = exchange.engine(PRIMARY, PRIMARY_SYMBOL)
    hedge = exchange.engine(HEDGE, HEDGE_SYMBOL)
    await trio.sleep(after_s)
    while primary.position().size == 0 or hedge.position().size == 0:  # noqa: ASYNC110 - simulator state
        await trio.sleep(0.001)
    return primary.position().size, hedge.position().size

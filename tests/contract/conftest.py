"""The venue kinds the Venue contract suite runs against, each as a :class:`Kit`: a connected
:class:`~trio_hedge.venues.Venue` and a :class:`VenueControl` over the simulated exchange underneath (move the
market, inject a fault, reset a stream).

Every kind trades the same synthetic market (:func:`contract_recording`), so the suite can name prices:
bids ``60000.0`` down in 0.1 steps (1.0 each), asks ``60000.1`` x ``0.002`` (:data:`ASK_SIZE`, thin, for the IOC
partial fill) then ``60000.2`` up (1.0 each); a far level each side changes every 50 ms so the feed never sleeps.

Adding a venue kind (issue 12's ccxt venue, ...) is one entry: a ``_<kind>_kit`` context manager that brings the
venue up on a simulated exchange and returns its control, listed in :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.rigs import backpack_rig, grvt_rig, is_backpack_private, proxied
from tests.synth import Recording
from trio_hedge.domain import Instrument
from trio_hedge.sim import ContractSpec, SimExchange, SimMarket, SimSettings, open_sim_exchange, open_sim_venue
from trio_hedge.sim._faultproxy import FaultProxy
from trio_hedge.venues import Capability, SessionTimeouts, Venue, capabilities
from trio_hedge.venues.backpack import open_backpack_venue
from trio_hedge.venues.ccxt import CcxtSettings, open_ccxt_venue, simulator_urls
from trio_hedge.venues.grvt import open_grvt_venue

D = Decimal
BID, ASK = D("60000.0"), D("60000.1")
ASK_SIZE = D("0.002")
"""Size at the best ask: an IOC for more at that limit fills this much and no more."""
RESTING_BUY = D("59990.0")
"""A buy price that rests and never fills (below every bid the recording moves)."""

WITHIN_S = 5.0
"""Bound of every wait for an event or a venue state in the suite."""


def contract_recording(path: Path, seconds: float = 60.0) -> Path:
    r = Recording()
    asks = [(f"{ASK}", f"{ASK_SIZE}")] + [(f"{ASK + D(i) / 10}", "1.0") for i in range(1, 20)]
    r.snapshot(0, [(f"{BID - D(i) / 10}", "1.0") for i in range(20)], asks)
    for k in range(1, int(seconds / 0.05)):
        r.delta(k * 0.05, bids=[("59999.0", f"{1 + k % 7}.{k % 10}")], asks=[("60001.0", f"{1 + k % 5}.5")])
    return r.write(path)


def _market(tmp_path: Path, venue: str, symbol: str, quote: str) -> SimMarket:
    instrument = Instrument(venue, symbol, "BTC", quote, D("0.1"), D("0.001"), D("0.001"), D("5"))
    return SimMarket(venue, instrument, contract_recording(tmp_path / f"{venue}.gz"),
                     ContractSpec(lot_size=D("0.001")), D("-0.1"), D("4.5"))  # fmt: skip


async def poll(cond: Callable[[], bool], *, within_s: float = WITHIN_S, step_s: float = 0.01) -> None:
    """Poll state owned by another component (the simulated exchange, a proxy) that offers nothing to wait on."""
    with trio.fail_after(within_s):
        while not cond():  # noqa: ASYNC110
            await trio.sleep(step_s)


# ---------------------------------------------------------------------------------------------- control
@dataclass
class VenueControl:
    """The simulated exchange under a venue kind, and the faults the suite injects into it.

    Attributes:
        exchange (SimExchange): the exchange; its matching engine is the truth.
        venue (str), symbol (str): where the kit trades.
        heartbeat_deadline_s (float): ping period + pong deadline of the kit's session (kinds with
            ``feed_heartbeat``).
    """

    exchange: SimExchange
    venue: str
    symbol: str
    heartbeat_deadline_s: float = 0.0

    @property
    def engine(self) -> Any:
        return self.exchange.engine(self.venue, self.symbol)

    def resting(self) -> int:
        """Orders resting on the simulated venue."""
        return len(self.engine.open_orders())

    def private_outage(self) -> AbstractAsyncContextManager[None]:
        """Inside the block the private stream is cut and cannot reconnect (``private_reconcile`` kinds); it
        is entered once the session has noticed (a reconnect attempt was refused)."""
        raise NotImplementedError

    def session_outage(self) -> AbstractAsyncContextManager[None]:
        """Inside the block the session's private channel is cut as :meth:`private_outage` cuts it: its private
        stream, or for a kind that polls its orders over REST (no ``order_stream``), that REST."""
        return self.private_outage()

    def lose_next_order_answer(self) -> None:
        """The next order's answer is lost on the way back (``unknown_outcome`` kinds)."""
        raise NotImplementedError

    def answers_flow(self) -> None:
        """Undo :meth:`lose_next_order_answer` for later requests."""

    async def blackhole_feed(self, on: bool) -> None:
        """Make the market-data connection silent (or release it)."""
        raise NotImplementedError

    def rest_requests(self) -> int:
        """HTTP requests the venue sent so far (kinds that poll a missing stream over REST)."""
        raise NotImplementedError


@dataclass
class _SimControl(VenueControl):
    async def blackhole_feed(self, on: bool) -> None:
        if on:
            self.exchange.blackhole_feed(self.venue)
        else:
            self.exchange.restore_feed(self.venue)


@dataclass
class _BackpackControl(VenueControl):
    rest: FaultProxy | None = None
    ws: FaultProxy | None = None

    async def _told_apart(self) -> FaultProxy:
        """The WebSocket proxy, once the public connection has carried market data (until then the two
        connections look alike)."""
        ws = self.ws
        assert ws is not None
        await poll(lambda: any(c.is_websocket and not is_backpack_private(c) for c in ws.connections()))
        return ws

    @asynccontextmanager
    async def private_outage(self) -> AsyncIterator[None]:
        ws = await self._told_apart()
        before = ws.statistics().refused
        ws.refuse()
        try:
            for conn in ws.connections(is_backpack_private):
                conn.reset()
            await poll(lambda: ws.statistics().refused > before)
            yield
        finally:
            ws.refuse(False)

    def lose_next_order_answer(self) -> None:
        assert self.rest is not None
        self.rest.set_latency(down_s=1.5)  # the answer comes after the session's request budget

    def answers_flow(self) -> None:
        assert self.rest is not None
        self.rest.set_latency(down_s=0.0)

    def rest_requests(self) -> int:
        assert self.rest is not None
        return self.rest.statistics().http_requests

    async def blackhole_feed(self, on: bool) -> None:
        ws = await self._told_apart()
        for conn in ws.connections(lambda c: c.is_websocket and not is_backpack_private(c)):
            conn.blackhole(on)  # this connection only: the reconnect goes through


@dataclass
class _GrvtControl(VenueControl):
    rest: FaultProxy | None = None
    md: FaultProxy | None = None
    trades: FaultProxy | None = None

    @asynccontextmanager
    async def private_outage(self) -> AsyncIterator[None]:
        assert self.trades is not None
        before = self.trades.statistics().refused
        self.trades.refuse()
        try:
            self.trades.reset_all()
            await poll(lambda: self.trades is not None and self.trades.statistics().refused > before)
            yield
        finally:
            self.trades.refuse(False)

    def lose_next_order_answer(self) -> None:
        assert self.trades is not None
        self.trades.drop_ws_frames(lambda f: b'"method":"v1/create_order"' in f)

    def rest_requests(self) -> int:
        assert self.rest is not None
        return self.rest.statistics().http_requests

    async def blackhole_feed(self, on: bool) -> None:
        assert self.md is not None
        self.md.blackhole(on)


@dataclass
class _CcxtBackpackControl(_BackpackControl):
    """ccxt.pro keys its WebSocket clients by URL and Backpack has one URL: market data and the private stream
    share one connection, so the faults act on every WebSocket connection."""

    def _sockets(self) -> list[Any]:
        assert self.ws is not None
        return list(self.ws.connections(lambda c: c.is_websocket))

    @asynccontextmanager
    async def private_outage(self) -> AsyncIterator[None]:
        ws = self.ws
        assert ws is not None
        await poll(lambda: bool(self._sockets()))
        before = ws.statistics().refused
        ws.refuse()
        try:
            for conn in self._sockets():
                conn.reset()
            await poll(lambda: ws.statistics().refused > before)
            yield
        finally:
            ws.refuse(False)

    async def blackhole_feed(self, on: bool) -> None:
        await poll(lambda: bool(self._sockets()))
        for conn in self._sockets():
            conn.blackhole(on)


@dataclass
class _CcxtBackpackPolledControl(_CcxtBackpackControl):
    """Orders and fills polled over REST: the session's private channel is the REST connection (the WebSocket
    carries only the book), so a session outage refuses and resets REST."""

    @asynccontextmanager
    async def session_outage(self) -> AsyncIterator[None]:
        rest = self.rest
        assert rest is not None
        before = rest.statistics().refused
        rest.refuse()
        try:
            rest.reset_all()
            await poll(lambda: rest.statistics().refused > before)
            yield
        finally:
            rest.refuse(False)


@dataclass
class _CcxtGrvtControl(_GrvtControl):
    """ccxt sends GRVT orders over REST (``create_order``), not the trades WebSocket: a lost answer is a REST answer
    later than the session's request budget."""

    def lose_next_order_answer(self) -> None:
        assert self.rest is not None
        self.rest.set_latency(down_s=1.5)

    def answers_flow(self) -> None:
        assert self.rest is not None
        self.rest.set_latency(down_s=0.0)


@dataclass
class _CcxtGrvtPolledBookControl(_CcxtGrvtControl):
    """The book is polled over REST: a silent feed is a silent REST connection."""

    async def blackhole_feed(self, on: bool) -> None:
        assert self.rest is not None
        self.rest.blackhole(on)


# ---------------------------------------------------------------------------------------------- kinds
@dataclass
class Kit:
    """One venue kind under test: the connected venue, its control, and what it declares it can do."""

    kind: str
    venue: Venue
    control: VenueControl

    @property
    def symbol(self) -> str:
        return self.control.symbol

    @property
    def caps(self) -> frozenset[Capability]:
        return capabilities(self.venue)


@asynccontextmanager
async def _sim_kit(tmp_path: Path) -> AsyncIterator[Kit]:
    market = _market(tmp_path, "simv", "BTC_USDT_Perp", "USDT")
    async with open_sim_exchange(SimSettings(speed=1.0, latency_s=0.001), [market]) as exchange:
        async with open_sim_venue(exchange, "simv") as venue:
            yield Kit("sim", venue, _SimControl(exchange, "simv", "BTC_USDT_Perp"))


@asynccontextmanager
async def _backpack_kit(tmp_path: Path, private_ws: str = "wsproto") -> AsyncIterator[Kit]:
    symbol = "BTC_USDC_PERP"
    async with backpack_rig([_market(tmp_path, "backpack", symbol, "USDC")]) as rig, \
            proxied(rig.info.rest) as rest, proxied(rig.info.ws) as ws:  # fmt: skip
        settings = rig.settings(rest_url=f"http://127.0.0.1:{rest.port}", ws_url=f"ws://127.0.0.1:{ws.port}/",
                                private_stream_budget_s=3.0, private_ws=private_ws)  # fmt: skip
        control = _BackpackControl(rig.exchange, "backpack", symbol,
                                   settings.heartbeat_interval_s + settings.heartbeat_timeout_s, rest, ws)
        async with open_backpack_venue(settings) as venue:
            yield Kit("backpack", venue, control)


@asynccontextmanager
async def _grvt_kit(tmp_path: Path, private_ws: str = "wsproto") -> AsyncIterator[Kit]:
    symbol = "BTC_USDT_Perp"
    async with grvt_rig([_market(tmp_path, "grvt", symbol, "USDT")]) as rig:
        settings = rig.settings(order_ack_timeout_s=0.5, cod_countdown_ms=0, private_ws=private_ws)
        control = _GrvtControl(rig.exchange, "grvt", symbol,
                               settings.heartbeat_interval_s + settings.heartbeat_timeout_s, rig.rest, rig.md,
                               rig.trades)  # fmt: skip
        async with open_grvt_venue(settings) as venue:
            yield Kit("grvt", venue, control)


CCXT_FAST = SessionTimeouts(connect_s=5.0, request_s=1.0, close_s=2.0, heartbeat_s=0.4, heartbeat_deadline_s=0.6,
                            private_stream_budget_s=3.0)
"""The ccxt venue's budgets on loopback: a book silent for 1 s (heartbeat_s + heartbeat_deadline_s) is stale."""


POLL_INTERVAL_S, POLL_RATE_PER_S = 0.2, 10.0
"""The polled kinds' interval and rate budget on loopback."""


@asynccontextmanager
async def _ccxt_backpack_kit(tmp_path: Path, poll: frozenset[str] = frozenset()) -> AsyncIterator[Kit]:
    symbol = "BTC_USDC_PERP"
    async with backpack_rig([_market(tmp_path, "backpack", symbol, "USDC")]) as rig, \
            proxied(rig.info.rest) as rest, proxied(rig.info.ws) as ws:  # fmt: skip
        ws_url = f"ws://127.0.0.1:{ws.port}/"
        settings = CcxtSettings("backpack", "backpack", (symbol,), {"apiKey": rig.info.api_key,
                                "secret": rig.info.api_secret}, simulator_urls("backpack", f"http://127.0.0.1:{rest.port}",
                                ws_url, ws_url), timeouts=CCXT_FAST, poll=poll, poll_interval_s=POLL_INTERVAL_S,
                                poll_rate_per_s=POLL_RATE_PER_S)  # fmt: skip
        make = _CcxtBackpackPolledControl if "watchOrders" in poll else _CcxtBackpackControl
        control = make(rig.exchange, "backpack", symbol, CCXT_FAST.heartbeat_s + CCXT_FAST.heartbeat_deadline_s, rest,
                       ws)  # fmt: skip
        async with open_ccxt_venue(settings) as venue:
            yield Kit("ccxt:backpack" + ("-polled" if poll else ""), venue, control)


@asynccontextmanager
async def _ccxt_grvt_kit(tmp_path: Path, poll: frozenset[str] = frozenset()) -> AsyncIterator[Kit]:
    symbol = "BTC_USDT_Perp"
    async with grvt_rig([_market(tmp_path, "grvt", symbol, "USDT")]) as rig:
        info = rig.info
        settings = CcxtSettings(
            "grvt", "grvt", (symbol,),
            {"privateKey": "0x" + info.private_key, "options": {"accountId": info.sub_account_id, "builderFee": False}},
            simulator_urls("grvt", f"http://127.0.0.1:{rig.rest.port}",
                           f"ws://127.0.0.1:{rig.md.port}/market-data/ws/full",
                           f"ws://127.0.0.1:{rig.trades.port}/trades/ws/full"),
            timeouts=CCXT_FAST, poll=poll, poll_interval_s=POLL_INTERVAL_S, poll_rate_per_s=POLL_RATE_PER_S,
        )  # fmt: skip
        make = _CcxtGrvtPolledBookControl if "watchOrderBook" in poll else _CcxtGrvtControl
        control = make(rig.exchange, "grvt", symbol, CCXT_FAST.heartbeat_s + CCXT_FAST.heartbeat_deadline_s, rig.rest,
                       rig.md, rig.trades)  # fmt: skip
        async with open_ccxt_venue(settings) as venue:
            yield Kit("ccxt:grvt" + ("-polled-book" if poll else ""), venue, control)


KINDS: dict[str, Callable[[Path], AbstractAsyncContextManager[Kit]]] = {
    "sim": _sim_kit,
    "backpack": _backpack_kit,
    "grvt": _grvt_kit,
    # the wire adapters' hot private connections on the other client (venues.<name>.private_ws; the two above
    # use the default, the direct wsproto client of venues/_wsdirect.py)
    "backpack:trio-websocket": partial(_backpack_kit, private_ws="trio-websocket"),
    "grvt:trio-websocket": partial(_grvt_kit, private_ws="trio-websocket"),
    "ccxt:backpack": _ccxt_backpack_kit,
    "ccxt:grvt": _ccxt_grvt_kit,
    # the REST-polling fallbacks (venues/ccxt/_subscriptions.py), declared by the missing stream capabilities:
    # Backpack's order stream switched off (ccxt has no Backpack trade stream: both polled), GRVT's book polled
    "ccxt:backpack-polled": partial(_ccxt_backpack_kit, poll=frozenset({"watchOrders", "watchMyTrades"})),
    "ccxt:grvt-polled-book": partial(_ccxt_grvt_kit, poll=frozenset({"watchOrderBook"})),
}
"""Every venue kind the bot can trade, by name; the suite runs once per entry."""


@pytest.fixture(params=sorted(KINDS))
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    """A connected venue of each kind, closed after the test (each kind's start is bounded: the wire
    adapters by their open budgets, the in-process venue by the exchange's first snapshot)."""
    async with KINDS[request.param](tmp_path) as entered:
        yield entered

"""Bring-up shared by the adapter tests, the chaos-style tests and the Venue contract suite (tests/contract/):
a simulated exchange on a small synthetic recording, the venue's wire simulator serving it on 127.0.0.1, and
the shared loopback TCP fault proxy (trio_hedge/sim/_faultproxy.py) in front of the connections a test wants
to break.

* :func:`backpack_rig`: ``serve_backpack`` (REST and WebSocket on one port); the adapter's settings point at it
  directly, a test puts a proxy in front of a URL with :func:`proxied`.
* :func:`grvt_rig`: ``serve_grvt`` behind three proxies (REST, market-data WebSocket, trades WebSocket).

Every wait in a caller is bounded by the caller (``fail_after``); the rigs only start and stop things.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import trio

from trio_hedge.sim import SimExchange, SimMarket, SimSettings, open_sim_exchange
from trio_hedge.sim._backpack_server import BackpackSimInfo, serve_backpack
from trio_hedge.sim._faultproxy import Direction, FaultProxy, ProxyConnection, open_fault_proxy
from trio_hedge.sim._grvt_server import GrvtSimInfo, serve_grvt
from trio_hedge.venues.backpack import BackpackSettings
from trio_hedge.venues.grvt import GrvtSettings

BACKPACK_FAST: dict[str, Any] = {
    "heartbeat_interval_s": 0.25,
    "heartbeat_timeout_s": 0.4,
    "private_stream_budget_s": 1.0,
    "reconnect_min_s": 0.05,
    "reconnect_max_s": 0.2,
    "request_budget_s": 0.8,
}
"""Backpack session budgets for loopback tests (seconds): fast heartbeats and reconnects."""

GRVT_FAST: dict[str, Any] = {
    "heartbeat_interval_s": 0.2,
    "heartbeat_timeout_s": 0.4,
    "reconnect_min_s": 0.05,
    "reconnect_max_s": 0.2,
    "connect_timeout_s": 1.0,
    "order_ack_timeout_s": 1.0,
    "backoff_min_s": 0.05,
    "backoff_max_s": 0.3,
    "open_timeout_s": 10.0,
    "book_delta_rate_ms": 50,
}
"""GRVT session budgets for loopback tests (seconds): fast heartbeats, reconnects and read retries."""


def port_of(url: str) -> int:
    """The port of ``http://127.0.0.1:P``, ``ws://127.0.0.1:P/`` or ``ws://127.0.0.1:P/ws/full``."""
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


@asynccontextmanager
async def proxied(url: str) -> AsyncIterator[FaultProxy]:
    """The shared fault proxy in front of the simulator's port named in ``url`` (``http://`` or ``ws://``)."""
    async with open_fault_proxy("127.0.0.1", port_of(url)) as proxy:
        yield proxy


def is_backpack_private(conn: ProxyConnection) -> bool:
    """A Backpack WebSocket connection carrying the private stream: the server sent it no market data (client
    frames are masked, so only what the server sent tells the two kinds apart)."""
    down = conn.head(Direction.DOWN)
    return conn.is_websocket and b"depth" not in down and b"bookTicker" not in down


# ---------------------------------------------------------------------------------------------- Backpack
@dataclass
class BackpackRig:
    """A simulated exchange served by the Backpack wire simulator.

    Attributes:
        exchange (SimExchange): the exchange (truth: its matching engines).
        info (BackpackSimInfo): URLs and credentials.
        nursery (trio.Nursery): where the server runs (a test may start relays there).
        symbols (tuple[str, ...]): the venue's markets.
        venue (str): the venue's name on the exchange.
    """

    exchange: SimExchange
    info: BackpackSimInfo
    nursery: trio.Nursery
    symbols: tuple[str, ...]
    venue: str = "backpack"

    def settings(self, **overrides: Any) -> BackpackSettings:
        """Adapter settings on this simulator with :data:`BACKPACK_FAST` budgets, then ``overrides``."""
        base = BackpackSettings(
            rest_url=self.info.rest, ws_url=self.info.ws, api_key=self.info.api_key,
            api_secret=self.info.api_secret, symbols=self.symbols, **BACKPACK_FAST,
        )  # fmt: skip
        return replace(base, **overrides)

    def engine_orders(self, symbol: str | None = None) -> list[str]:
        """The venue order ids resting on the simulated venue (Backpack's own ids)."""
        engine = self.exchange.engine(self.venue, symbol or self.symbols[0])
        return [o.client_order_id for o in engine.open_orders()]


@asynccontextmanager
async def backpack_rig(
    markets: Sequence[SimMarket], *, venue: str = "backpack", sim: SimSettings | None = None, **server: Any
) -> AsyncIterator[BackpackRig]:
    """Start a simulated exchange on ``markets`` and the Backpack wire simulator for ``venue``; ``server``
    goes to ``serve_backpack`` (``rate_limit_per_s``...)."""
    symbols = tuple(m.instrument.symbol for m in markets if m.venue == venue)
    async with open_sim_exchange(sim or SimSettings(speed=1.0), markets) as exchange, trio.open_nursery() as nursery:
        info = await nursery.start(partial(serve_backpack, exchange, venue, **server))
        try:
            yield BackpackRig(exchange, info, nursery, symbols, venue)
        finally:
            nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------------------------------- GRVT
@dataclass
class GrvtRig:
    """A simulated exchange served by the GRVT wire simulator behind three fault proxies.

    Attributes:
        exchange (SimExchange): the exchange (truth: its matching engines).
        info (GrvtSimInfo): URLs and credentials.
        rest (FaultProxy), md (FaultProxy), trades (FaultProxy): proxies in front of REST, the market-data
            WebSocket and the trades WebSocket.
        symbols (tuple[str, ...]): the venue's markets.
    """

    exchange: SimExchange
    info: GrvtSimInfo
    rest: FaultProxy
    md: FaultProxy
    trades: FaultProxy
    symbols: tuple[str, ...]
    venue: str = "grvt"

    def settings(self, **kw: Any) -> GrvtSettings:
        """Adapter settings through the proxies with :data:`GRVT_FAST` budgets, then ``kw``."""
        rest = f"http://127.0.0.1:{self.rest.port}"
        return GrvtSettings(
            edge_url=rest, market_data_url=rest, trades_url=rest,
            market_data_ws_url=f"ws://127.0.0.1:{self.md.port}/ws/full",
            trades_ws_url=f"ws://127.0.0.1:{self.trades.port}/ws/full",
            api_key=kw.pop("api_key", self.info.api_key), private_key=self.info.private_key,
            sub_account_id=self.info.sub_account_id, chain_id=self.info.chain_id, symbols=self.symbols,
            **{**GRVT_FAST, **kw},
        )  # fmt: skip

    @property
    def engine(self) -> Any:
        """The matching engine of the first symbol."""
        return self.exchange.engine(self.venue, self.symbols[0])


@asynccontextmanager
async def grvt_rig(
    markets: Sequence[SimMarket], *, venue: str = "grvt", sim: SimSettings | None = None, **server_kw: Any
) -> AsyncIterator[GrvtRig]:
    """Start a simulated exchange on ``markets``, the GRVT wire simulator for ``venue`` (``server_kw`` goes to
    ``serve_grvt``) and the three proxies."""
    symbols = tuple(m.instrument.symbol for m in markets if m.venue == venue)
    async with open_sim_exchange(sim or SimSettings(speed=1.0, latency_s=0.001), markets) as exchange:
        async with trio.open_nursery() as nursery:
            info: GrvtSimInfo = await nursery.start(partial(serve_grvt, exchange, venue, **server_kw))
            port = port_of(info.rest)
            async with open_fault_proxy("127.0.0.1", port) as rest, open_fault_proxy("127.0.0.1", port) as md, \
                    open_fault_proxy("127.0.0.1", port) as trades:  # fmt: skip
                yield GrvtRig(exchange, info, rest, md, trades, symbols, venue)
            nursery.cancel_scope.cancel()

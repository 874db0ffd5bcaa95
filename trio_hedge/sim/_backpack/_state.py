"""The served Backpack venue's state: WebSocket connections, the depth hubs (one :class:`BookMirror` per market,
Backpack's ``depth`` and ``bookTicker`` frames) and the base class holding orders, ids and positions."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

import orjson
import trio
from loguru import logger
from starlette.websockets import WebSocket

from ...domain import ZERO, Fill, Instrument, Level, Position
from ...protocols.backpack import (
    decimal_places,
    format_book_ticker,
    format_depth_update,
    format_ws_frame,
)
from .._exchange import SimExchange
from .._wire import CLOSE_INTERNAL, BookDiff, BookMirror, RequestGate, WsConnection
from ._errors import _ApiError
from ._model import (
    _FIRST_ORDER_ID,
    _FIRST_POSITION_ID,
    _FIRST_TRADE_ID,
    _FIRST_UPDATE_ID,
    WS_QUEUE_FRAMES,
    _OrderRecord,
)

if TYPE_CHECKING:
    from loguru import Logger


# ---------------------------------------------------------------------------------------------- WebSocket state


class _Conn(WsConnection):
    """One WebSocket connection (:class:`WsConnection`: the bounded outbox, kill on overflow) and its
    subscriptions."""

    __slots__ = ("private", "public")

    def __init__(self, websocket: WebSocket, log: Logger) -> None:
        super().__init__(websocket, capacity=WS_QUEUE_FRAMES, log=log)
        # stream name as subscribed -> (kind, symbol or None for all markets)
        self.private: dict[str, tuple[str, str | None]] = {}
        self.public: dict[str, tuple[str, str]] = {}


class _DepthHub(BookMirror):
    """One market's public book as the venue publishes it (:class:`BookMirror`: the mirror and its update ids),
    in Backpack's depth and bookTicker frames, with the REST ticker's statistics."""

    def __init__(self, server: _BackpackState, instrument: Instrument) -> None:
        super().__init__(
            server.exchange, server.venue, instrument.symbol, log=server.log, first_update_id=_FIRST_UPDATE_ID
        )
        self.price_places = decimal_places(instrument.tick_size)
        self.size_places = decimal_places(instrument.lot_size)
        self._top: tuple[Level | None, Level | None] = (None, None)
        # conn -> names subscribed ("depth.X", "depth.200ms.X" / "bookTicker.X")
        self.depth_subs: dict[_Conn, set[str]] = {}
        self.ticker_subs: dict[_Conn, set[str]] = {}
        # Ticker statistics: book mids seen since the hub started.
        self.first_mid: Decimal | None = None
        self.last_mid: Decimal | None = None
        self.high_mid: Decimal | None = None
        self.low_mid: Decimal | None = None

    def on_reset(self) -> None:
        self.close_subscribers(CLOSE_INTERNAL, "order book resync")

    def on_end(self, *, feed_down: bool) -> None:
        self.close_subscribers(CLOSE_INTERNAL, "market data unavailable")

    def close_subscribers(self, code: int, reason: str) -> None:
        for conn in list(self.depth_subs) + list(self.ticker_subs):
            conn.close(code, reason)
        self.depth_subs.clear()
        self.ticker_subs.clear()

    def on_diff(self, diff: BookDiff) -> None:
        """One depth frame per batch (``U`` = ``first_id``, ``u`` = ``last_id``) and a bookTicker frame when the
        inside moved (Backpack WS docs)."""
        now_ns = self.exchange.now_ns()
        if self.depth_subs:
            data = format_depth_update(
                self.symbol,
                bids=sorted(diff.bids.items()),
                asks=sorted(diff.asks.items()),
                first_update_id=diff.first_id,
                last_update_id=diff.last_id,
                event_ns=now_ns,
                engine_ns=diff.ts_ns,
                price_places=self.price_places,
                size_places=self.size_places,
            )
            _fan_out(self.depth_subs, orjson.dumps(data).decode("utf-8"))
        top = (self.book.best_bid(), self.book.best_ask())
        if top != self._top:
            self._top = top
            self._track_mid()
            if self.ticker_subs:
                bid, ask = top
                ticker = format_book_ticker(
                    self.symbol,
                    bid=bid,
                    ask=ask,
                    update_id=diff.last_id,
                    event_ns=now_ns,
                    engine_ns=diff.ts_ns,
                    price_places=self.price_places,
                    size_places=self.size_places,
                )
                _fan_out(self.ticker_subs, orjson.dumps(ticker).decode("utf-8"))

    def _track_mid(self) -> None:
        mid = self.book.mid()
        if mid is None:
            return
        if self.first_mid is None:
            self.first_mid = mid
        self.last_mid = mid
        self.high_mid = mid if self.high_mid is None or mid > self.high_mid else self.high_mid
        self.low_mid = mid if self.low_mid is None or mid < self.low_mid else self.low_mid


def _fan_out(subs: Mapping[_Conn, set[str]], data_json: str) -> None:
    for conn, names in list(subs.items()):
        for name in names:
            conn.send_text(format_ws_frame(name, data_json))


class _BackpackState:
    """The state of one served venue (orders, ids, positions as streamed, depth hubs, private subscribers) and
    the helpers its REST routes (:mod:`._rest`) and streams (:mod:`._stream`) share. Built by the server class
    (``sim/_backpack_server.py``); :func:`~trio_hedge.sim._backpack_server.serve_backpack` sets :attr:`nursery`."""

    def __init__(
        self,
        exchange: SimExchange,
        venue: str,
        instruments: Mapping[str, Instrument],
        public_key: str,
        rate_limit_per_s: float | None,
    ) -> None:
        self.exchange = exchange
        self.venue = venue
        self.instruments = dict(instruments)
        self.public_key = public_key
        self.log = logger.bind(tag=f"SIM_{venue}_WIRE")
        self.nursery: trio.Nursery
        self.hubs = {symbol: _DepthHub(self, inst) for symbol, inst in self.instruments.items()}
        # requests wait the exchange's one-way latency on the way in; over the rate limit: 429
        self.gate = RequestGate(
            rate_limit_per_s=rate_limit_per_s,
            rate_limited=lambda: _ApiError(429, "TOO_MANY_REQUESTS", "Too many requests"),
            latency_in_s=exchange.settings.latency_s,
        )
        self._orders: dict[str, _OrderRecord] = {}  # by order id == the engine's client order id
        self._live_client: dict[int, _OrderRecord] = {}  # clientId -> latest order using it
        self._next_order_id = _FIRST_ORDER_ID
        self._trade_ids: dict[str, int] = {}  # engine trade id -> Backpack trade id
        self._next_trade_id = _FIRST_TRADE_ID
        self._position_ids = {symbol: _FIRST_POSITION_ID + i for i, symbol in enumerate(self.instruments)}
        self._positions: dict[str, Position] = {}  # as the private stream has reported them
        self._private_conns: set[_Conn] = set()

    def _mark(self, symbol: str, pos: Position) -> Decimal:
        mid = self.exchange.market_book(self.venue, symbol).mid()
        if mid is not None:
            return mid
        return pos.entry_price if pos.entry_price is not None else ZERO

    def _trade_id(self, fill: Fill) -> int:
        """The Backpack trade id (int64, unique across symbols) of an engine fill."""
        tid = self._trade_ids.get(fill.trade_id)
        if tid is None:
            self._next_trade_id += 1
            tid = self._trade_ids[fill.trade_id] = self._next_trade_id
        return tid

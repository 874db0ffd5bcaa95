"""Backpack Exchange wire-protocol simulator: one simulated venue of a :class:`SimExchange`, served over real
loopback HTTP and WebSocket so that the Backpack adapter (and ccxt) can talk to it as to the real venue.

Wire formats: the Backpack API docs (https://docs.backpack.exchange/, from their OpenAPI 1.0 document, whose
``Streams`` tag is the WebSocket documentation), backpack-exchange/bpx-api-client @dc5d8b1
(https://github.com/backpack-exchange/bpx-api-client) and ccxt 4.5.90; the JSON shapes (keys and JSON types)
follow the real captured responses in ``tests/fixtures/backpack/`` (``captured.json``, ``captured_ticker.json``,
``ws_order_update_examples.json``; origins in ``tests/fixtures/SOURCES.md``). Citations below use the names of
the protocol package's docstring (:mod:`trio_hedge.protocols.backpack`: "Backpack REST docs", "Backpack WS
docs"). Signing and its verification are
:mod:`trio_hedge.protocols.backpack` (``_signing``); request parsing reuses the same package.
Claims marked [I] are inferences where no source fixes the venue's behaviour.

Endpoints (one Starlette app served by :func:`~trio_hedge.sim._asgi.serve_asgi`, HTTP and WebSocket on one port):

* Public REST: ``GET /api/v1/markets`` (``?marketType=``), ``/api/v1/market?symbol=``, ``/api/v1/depth?symbol=
  [&limit=]``, ``/api/v1/ticker?symbol=``, ``/api/v1/tickers``, ``/api/v1/assets`` and ``/api/v1/securities``
  (the last two so that ccxt's ``load_markets`` works).
* Signed REST (``X-API-Key``/``X-Signature``/``X-Timestamp``/``X-Window``, ED25519 over the sorted signing string,
  timestamp within the window of the wall clock): ``POST /api/v1/order`` (orderExecute), ``GET /api/v1/order``
  (orderQuery), ``DELETE /api/v1/order`` (orderCancel), ``GET /api/v1/orders`` (orderQueryAll), ``DELETE
  /api/v1/orders`` (orderCancelAll), ``GET /api/v1/position`` (positionQuery), ``GET /wapi/v1/history/fills``
  (fillHistoryQueryAll), ``GET /wapi/v1/history/orders`` (orderHistoryQueryAll). Not served: batch orders,
  trigger/TP/SL orders, ``quoteQuantity`` market orders (``NOT_IMPLEMENTED``), balances and collateral (the
  simulator keeps no account equity).
* WebSocket at ``/`` (the real endpoint is the bare host ``wss://ws.backpack.exchange``): ``SUBSCRIBE`` /
  ``UNSUBSCRIBE`` of ``depth.<symbol>`` (``depth.<200|600|1000>ms.<symbol>`` are served like the realtime
  stream), ``bookTicker.<symbol>``, and the signed ``account.orderUpdate[.<symbol>]`` /
  ``account.positionUpdate[.<symbol>]`` (and ``account.rfqUpdate[.<symbol>]``, accepted and
  silent: no RFQ markets). Frames are ``{"stream": <name as subscribed>, "data": {...}}``; no ack
  is sent for a subscription [I]; errors are ``{"id": <the message's id or null>, "error": {"code", "message"}}``
  with 4006 "Invalid stream" (captured), 4000 for a malformed message and 4001 for a refused signature [I].
  The server sends a WebSocket Ping every ``ping_interval_s`` (60 s on the real venue).

Errors follow the venue: HTTP 4xx with ``{"code": <ApiErrorCode>, "message": ...}``; payload and parameter parse
failures are the venue's plain-text 400 (``parse request payload error: ...``, ``failed to parse parameter
`x`: ...``; captured in bpx-api-client issue #49 and ccxt's ``backpack.py`` comments); a handler failure is a
500 ``SERVER_ERROR`` JSON body, never a traceback. Choices where the venue's answer is not documented [I]:

* signature refused: 400 ``INVALID_SIGNATURE``; missing/unknown key, bad window, stale or future timestamp:
  401 ``UNAUTHORIZED``;
* a post-only order that would take: 400 ``INVALID_ORDER`` "Order would immediately match and take" (the REST
  order object has no ``expiryReason``, so an ``Expired`` answer could not say why); a reduce-only order that
  would not reduce: 400 ``INVALID_ORDER`` "Reduce only order not reduced". Neither creates an order;
* off-tick price: ``INVALID_PRICE``; off-step, zero or below-minimum quantity: ``INVALID_QUANTITY``; below the
  market's minimum notional: ``INVALID_ORDER``; a limit price beyond the published ``minMultiplier`` /
  ``maxMultiplier`` band around the book mid: ``INVALID_PRICE`` "Price is too far from the last active price"
  (message captured); a live ``clientId`` reused: ``INVALID_CLIENT_REQUEST`` "Duplicate client id";
* cancel of an unknown or no longer open order: 400 ``INVALID_CLIENT_REQUEST`` "Order not found" (the answer a
  public hummingbot-based ``backpack_perpetual`` connector matches on); ``GET /api/v1/order`` of such an
  order: 404 ``RESOURCE_NOT_FOUND`` (Backpack REST docs);
* over the optional rate limit (token bucket, burst one second's worth): 429 ``TOO_MANY_REQUESTS``;
* the simulated book unavailable (feed killed by fault injection, or the venue book being rebuilt): REST depth
  and ticker 503 ``MAINTENANCE``; an order 400 ``TRADING_PAUSED``; depth WebSocket subscribers are closed
  (code 1011) and may reconnect.

Orders: the engine's IOC/market remainder, FOK and reduce-only cap are answered and streamed ``Expired`` with
the OpenAPI ``OrderExpiryReason`` (``ImmediateOrCancel``, ``InsufficientLiquidity`` for a market order,
``FillOrKill``, ``ReduceOnlyNotReduced``; the same PascalCase text in the stream's ``R`` [I]). Ids are numeric and
unique across symbols: order ids strings; trade and position ids strings in REST (``tradeId``, ``positionId``)
and numbers in the stream (``t``, ``i``), as captured. REST ``clientId`` and ``createdAt`` are strings and
``reduceOnly`` is ``null`` unless set, as captured; stream ``E``/``T`` are microsecond strings as in the newest
captures (the docs show numbers; every parser here accepts both), ``c`` is a number, ``t`` is ``null`` except on
fills, ``Q`` (price x quantity) is sent for limit orders only. A market order's ``quoteQuantity`` is its executed
quote quantity [I].

Depth: each market's book is served by a hub started on demand (first REST depth/ticker request or WebSocket
subscription). The hub applies the exchange's market-data batches to its own :class:`OrderBook`, numbering
updates itself: one depth frame per batch with ``U`` = first and ``u`` = last update id of the batch, always
``U == previous u + 1``; a replacement snapshot from the exchange becomes a delta (the levels that differ). REST
``lastUpdateId`` is the hub book's id, read between batches, so it always equals the ``u`` of a frame (or the
initial id). ``bookTicker`` is sent when the inside bid or ask changes, with ``u`` = the depth update id. The
REST ticker has no public trades to summarise: its prices are book mids seen by the hub; volumes and trade
count are ``0`` [I].

Timestamps: venue times (``createdAt``, ``E``, ``T``, fill ``timestamp``, depth ``timestamp``) are the simulated
venue clock :meth:`SimExchange.now_ns` (recording time); only the signature freshness check uses the wall clock,
as clients sign with theirs. Private events leave at the exchange's ``deliver_at``; requests are delayed by
``SimSettings.latency_s`` on the way in.

Secrets: the server keeps only the API key (the public key); a generated seed is returned in
:class:`BackpackSimInfo` and never logged or shown in a repr.
"""

from __future__ import annotations

import base64
import datetime
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException
from functools import partial
from typing import TYPE_CHECKING, Final, NoReturn

import nacl.signing
import orjson
import trio
from loguru import logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..domain import (
    ZERO,
    AuthError,
    BadValue,
    Fill,
    Instrument,
    Level,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PositionUpdate,
    Side,
    TimeInForce,
    VenueEvent,
    is_multiple,
)
from ..protocols.backpack import (
    BackpackProtocolError,
    BackpackSigner,
    decimal_text,
    decode_json,
    instruction_for,
    parse_subscribe_message,
    verify_request,
    verify_ws_subscribe,
)
from ._asgi import serve_asgi
from ._exchange import SimExchange, SimUnavailable
from ._matching import (
    REASON_BOOK_UNAVAILABLE,
    REASON_CANCELLED_BY_USER,
    REASON_FOK_NOT_FILLABLE,
    REASON_IOC_REMAINDER,
    REASON_POST_ONLY_WOULD_CROSS,
    REASON_REDUCE_ONLY_CAPPED,
    REASON_REDUCE_ONLY_WOULD_INCREASE,
)
from ._wire import CLOSE_INTERNAL, BookDiff, BookMirror, GateMiddleware, RequestGate, SimApiError, WsConnection

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["BackpackSimInfo", "serve_backpack"]

# ---------------------------------------------------------------------------------------------- tunables

WS_QUEUE_FRAMES: Final = 4096
"""Frames buffered per WebSocket connection; a client this far behind is closed (1008), as a venue drops a
slow consumer rather than buffer without bound."""

HUB_READY_WAIT_S: Final = 5.0
"""How long a REST depth/ticker request waits for a just-started depth hub's first book, seconds."""

DEFAULT_PING_INTERVAL_S: Final = 60.0
"""Server Ping period of the real venue (OpenAPI Streams "Keeping the connection alive")."""

_FIRST_ORDER_ID: Final = 8_300_000_000  # order ids are numeric strings of this size since 2025-06-09 (REST docs)
_FIRST_TRADE_ID: Final = 3_000_000
_FIRST_POSITION_ID: Final = 5_400_000_000
_FIRST_UPDATE_ID: Final = 1_000_000_000

_MAX_EXPONENT: Final = 30
_FILL_LIMIT_DEFAULT: Final = 100
_HISTORY_LIMIT_MAX: Final = 1_000
_DEPTH_LIMITS: Final = frozenset({"5", "10", "20", "50", "100", "500", "1000"})
_DEPTH_LIMIT_DEFAULT: Final = 1_000  # levels per side (OpenAPI changelog 2025-11-10, Backpack REST docs)

_WS_ERR_INVALID_REQUEST: Final = 4000  # [I]
_WS_ERR_UNAUTHORIZED: Final = 4001  # [I]
_WS_ERR_INVALID_STREAM: Final = 4006  # captured: {"id":null,"error":{"code":4006,"message":"Invalid stream"}}


_JSON_TYPE: Final = "application/json; charset=utf-8"
_TEXT_TYPE: Final = "text/plain; charset=utf-8"

# Published market parameters that the simulated venue does not model otherwise (values as in the captured
# SOL_USDC_PERP market, ccxt 4.5.90 backpack.py parse_market comment).
_MAX_PRICE_MULTIPLIER: Final = Decimal("1.25")
_MIN_PRICE_MULTIPLIER: Final = Decimal("0.75")
_IMF: Final = "0.02"
_MMF: Final = "0.0125"
_IMF_FUNCTION: Final = {"base": "0.02", "factor": "0.0001275", "type": "sqrt"}
_MMF_FUNCTION: Final = {"base": "0.0125", "factor": "0.0000765", "type": "sqrt"}
_MARKET_CREATED_AT: Final = "2024-01-01T00:00:00"
_SIM_USER_ID: Final = "1000001"

_SIDE_TEXT: Final[Mapping[Side, str]] = {Side.BUY: "Bid", Side.SELL: "Ask"}
_SIDES: Final[Mapping[str, Side]] = {"Bid": Side.BUY, "Ask": Side.SELL}
_TIF: Final[Mapping[str, TimeInForce]] = {"GTC": TimeInForce.GTT, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
_STP: Final = ("RejectTaker", "RejectMaker", "RejectBoth")
_FILL_TYPES: Final = (
    "User",
    "BookLiquidation",
    "Adl",
    "Backstop",
    "Liquidation",
    "AllLiquidation",
    "CollateralConversion",
    "CollateralConversionAndSpotLiquidation",
)
_MARKET_TYPES: Final = ("SPOT", "PERP", "IPERP", "DATED", "PREDICTION", "RFQ")
_UNSUPPORTED_ORDER_KEYS: Final = (
    "triggerPrice",
    "triggerQuantity",
    "triggerBy",
    "stopLossTriggerPrice",
    "stopLossLimitPrice",
    "stopLossTriggerBy",
    "takeProfitTriggerPrice",
    "takeProfitLimitPrice",
    "takeProfitTriggerBy",
)
_NULL_TRIGGER_FIELDS: Final = {
    "stopLossLimitPrice": None,
    "stopLossTriggerBy": None,
    "stopLossTriggerPrice": None,
    "strategyId": None,
    "takeProfitLimitPrice": None,
    "takeProfitTriggerBy": None,
    "takeProfitTriggerPrice": None,
    "triggerBy": None,
    "triggerPrice": None,
    "triggerQuantity": None,
}

# Engine reason -> OpenAPI OrderExpiryReason, for orders that existed and ended without filling completely.
_EXPIRY_REASONS: Final[Mapping[str, str]] = {
    REASON_IOC_REMAINDER: "ImmediateOrCancel",
    REASON_FOK_NOT_FILLABLE: "FillOrKill",
    REASON_REDUCE_ONLY_CAPPED: "ReduceOnlyNotReduced",
}

_ORDER_UPDATE: Final = "account.orderUpdate"
_POSITION_UPDATE: Final = "account.positionUpdate"


# ---------------------------------------------------------------------------------------------- public API


@dataclass(frozen=True, slots=True)
class BackpackSimInfo:
    """Where a running Backpack simulator listens and the credentials it accepts.

    Attributes:
        rest (str): REST base URL, ``http://127.0.0.1:PORT`` (the real venue: ``https://api.backpack.exchange``).
        ws (str): WebSocket URL, ``ws://127.0.0.1:PORT/``: the stream endpoint is the root path, as on the real
            venue (``wss://ws.backpack.exchange``); it shares the REST port.
        api_key (str): base64 ED25519 verifying key; Backpack's API key IS the public key (Backpack docs:
            signing). Not in the repr.
        api_secret (str): base64 32-byte ED25519 seed, or ``""`` when the server was given only the key. Not in
            the repr.
    """

    rest: str
    ws: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)

    def to_json(self) -> dict[str, object]:
        """The four fields as a JSON-ready dict (credentials included: write it only where a client reads it)."""
        return {"rest": self.rest, "ws": self.ws, "api_key": self.api_key, "api_secret": self.api_secret}


async def serve_backpack(
    exchange: SimExchange,
    venue: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    api_secret: str | None = None,
    rate_limit_per_s: float | None = None,
    ping_interval_s: float = DEFAULT_PING_INTERVAL_S,
    task_status: trio.TaskStatus[BackpackSimInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the simulated venue ``venue`` of ``exchange`` with Backpack's REST and WebSocket protocol, until
    cancelled (start it with ``await nursery.start(serve_backpack, exchange, "backpack")``).

    It takes the venue's account stream (:meth:`SimExchange.take_account_stream`: one server per venue) and fans
    the events out to every authenticated private subscriber; market data is subscribed per symbol on demand.
    See the module docstring for the protocol served.

    Args:
        exchange: the running simulated exchange.
        venue: the simulated venue to serve (``"backpack"`` in the default config).
        host: loopback address to bind (``127.0.0.1``, ``::1`` or ``localhost``).
        port: TCP port; 0 picks a free one (reported in the :class:`BackpackSimInfo`).
        api_key: the accepted API key (base64 verifying key). With ``api_secret`` it must be that secret's key.
        api_secret: base64 ED25519 seed of the account; when both are None a fresh key pair is generated.
        rate_limit_per_s: REST requests per second (token bucket, burst of one second), None for no limit.
        ping_interval_s: seconds between server Pings on each WebSocket connection, > 0.
        task_status: receives the :class:`BackpackSimInfo` once the socket listens.

    Raises:
        BadValue: a non-loopback host, an unknown venue, a malformed key or secret, a key that does not match the
            secret, a non-positive rate or ping interval.
        RuntimeError: the venue's account stream was already taken.
        OSError: the address cannot be bound.
    """
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise BadValue(f"backpack sim: refusing to bind {host[:60]!r}; loopback only")
    if rate_limit_per_s is not None and not (math.isfinite(rate_limit_per_s) and rate_limit_per_s > 0):
        raise BadValue(f"backpack sim: rate_limit_per_s={rate_limit_per_s!r} must be a finite number > 0")
    if not (math.isfinite(ping_interval_s) and ping_interval_s > 0):
        raise BadValue(f"backpack sim: ping_interval_s={ping_interval_s!r} must be a finite number > 0")
    instruments = exchange.instruments(venue)
    if not instruments:
        raise BadValue(f"backpack sim: the exchange has no venue {venue[:40]!r}")
    public_key, secret = _resolve_keys(api_key, api_secret)
    server = _BackpackServer(exchange, venue, instruments, public_key, rate_limit_per_s)
    account = exchange.take_account_stream(venue)
    async with trio.open_nursery() as nursery:
        server.nursery = nursery
        await nursery.start(server.run_account_stream, account)
        bound = await nursery.start(
            partial(serve_asgi, server.app, host=host, port=port, websocket_ping_interval_s=ping_interval_s)
        )
        server.log.info("serving {} on {} ({} markets)", venue, bound.http_url, len(instruments))
        task_status.started(BackpackSimInfo(bound.http_url, bound.ws_url + "/", public_key, secret))


def _resolve_keys(api_key: str | None, api_secret: str | None) -> tuple[str, str]:
    """(verifying key, seed) from what was given; generates a pair when neither was. Raises BadValue."""
    if api_secret is not None:
        signer = BackpackSigner(api_secret)
        if api_key is not None and api_key.strip() != signer.api_key:
            raise BadValue("backpack sim: api_key is not the public key of api_secret (values withheld)")
        return signer.api_key, api_secret
    if api_key is not None:
        try:
            raw = base64.b64decode(api_key.strip(), validate=True)
        except ValueError:
            raise BadValue("backpack sim: api_key is not base64 (value withheld)") from None
        if len(raw) != 32:
            raise BadValue(f"backpack sim: api_key must be a 32-byte key, got {len(raw)} bytes")
        return api_key.strip(), ""
    seed = nacl.signing.SigningKey.generate()
    secret = base64.b64encode(bytes(seed)).decode("ascii")
    return BackpackSigner(secret).api_key, secret


# ---------------------------------------------------------------------------------------------- formatting


def _dt(value: Decimal) -> str:
    """A decimal as Backpack sends it: a plain string without exponent (``decimal_text``)."""
    return decimal_text(value)


def _places(step: Decimal) -> int:
    """Decimal places of a tick or lot (``0.10`` -> 1, ``5`` -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _fixed(value: Decimal, places: int) -> str:
    """``value`` with at least ``places`` decimals, as book levels are sent (``"18.70"``, ``"0.000"``); more
    decimals are kept when the value has them (it is never rounded)."""
    v = value.normalize()
    exponent = v.as_tuple().exponent
    own = max(0, -exponent) if isinstance(exponent, int) else 0
    return format(v, f".{max(own, places)}f")


def _iso_ms(ts_ns: int) -> str:
    """Naive UTC ISO time with milliseconds, as in fill and order history (``"2025-08-13T17:26:01.197"``)."""
    moment = datetime.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=datetime.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{(ts_ns // 1_000_000) % 1000:03d}"


def _json_bytes(value: object) -> bytes:
    return orjson.dumps(value)


def _frame(stream: str, data_json: str) -> str:
    """``{"stream": ..., "data": ...}`` with ``data`` already encoded (encoded once, sent to many)."""
    return '{"stream":' + orjson.dumps(stream).decode("utf-8") + ',"data":' + data_json + "}"


def _error_frame(msg_id: object, code: int, message: str) -> str:
    return orjson.dumps({"id": msg_id, "error": {"code": code, "message": message}}).decode("utf-8")


# ---------------------------------------------------------------------------------------------- request errors


class _ApiError(SimApiError):
    """Answered as HTTP ``status`` with ``{"code", "message"}`` (the venue's error format, Backpack REST docs)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        return _json_response(self.status, {"code": self.code, "message": self.message})


class _ParseError(Exception):
    """Answered as the venue's plain-text 400 for a payload or parameter it cannot parse."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _not_found() -> _ApiError:
    return _ApiError(400, "INVALID_CLIENT_REQUEST", "Order not found")


class _Params:
    """Typed access to a request's parameters: the JSON body object (``payload`` names its OpenAPI type, for the
    error text) or the query parameters (strings). Every failure raises :class:`_ParseError`."""

    __slots__ = ("_data", "_payload")

    def __init__(self, data: Mapping[str, object], *, payload: str | None) -> None:
        self._data = data
        self._payload = payload

    @property
    def data(self) -> Mapping[str, object]:
        return self._data

    def fail(self, key: str, detail: str) -> NoReturn:
        if self._payload is not None:
            raise _ParseError(f'parse request payload error: {detail} (occurred while parsing "{self._payload}")')
        raise _ParseError(f"failed to parse parameter `{key}`: {detail}")

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def text(self, key: str, *, required: bool = False) -> str | None:
        v = self._data.get(key)
        if v is None:
            if required:
                self.fail(key, f'Type "String" expects an input value for `{key}`.')
            return None
        if not isinstance(v, str) or not v or len(v) > 200:
            self.fail(key, f'failed to parse "String" for `{key}`: expected a non-empty string.')
        return v

    def enum(self, key: str, allowed: Iterable[str], type_name: str, *, required: bool = False) -> str | None:
        v = self.text(key, required=required)
        if v is not None and v not in allowed:
            self.fail(key, f'failed to parse "{type_name}": Expect a valid enumeration value.')
        return v

    def decimal(self, key: str) -> Decimal | None:
        v = self._data.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            self.fail(key, f'failed to parse "Decimal" for `{key}`: expected a decimal string.')
        try:
            d = Decimal(v.strip() if isinstance(v, str) else v)
        except (DecimalException, ValueError):
            self.fail(key, f'failed to parse "Decimal" for `{key}`: invalid decimal.')
        if not d.is_finite() or (d and not -_MAX_EXPONENT <= d.adjusted() <= _MAX_EXPONENT):
            self.fail(key, f'failed to parse "Decimal" for `{key}`: invalid decimal.')
        return d

    def integer(self, key: str, *, limit: int, type_name: str) -> int | None:
        """A non-negative integer <= ``limit``: a JSON number in a body, decimal digits in a query."""
        v = self._data.get(key)
        if v is None:
            return None
        n = -1
        if self._payload is not None:
            if isinstance(v, int) and not isinstance(v, bool):
                n = v
        elif isinstance(v, str) and 0 < len(v) <= 20 and v.isascii() and v.isdigit():
            n = int(v)
        if not 0 <= n <= limit:
            self.fail(key, f'failed to parse "{type_name}" for `{key}`.')
        return n

    def flag(self, key: str) -> bool:
        v = self._data.get(key)
        if v is None:
            return False
        if self._payload is None and v in ("true", "false"):
            return v == "true"
        if not isinstance(v, bool):
            self.fail(key, f'failed to parse "Boolean" for `{key}`.')
        return v

    def order_id(self, key: str) -> str | None:
        """An order id: a string, or a number (ccxt sends ``"orderId": 8284661092``, Backpack REST docs)."""
        v = self._data.get(key)
        if v is None:
            return None
        if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            return str(v)
        if isinstance(v, str) and 0 < len(v) <= 40 and v.isascii() and v.isdigit():
            return v
        self.fail(key, f'failed to parse "String" for `{key}`: not an order id.')


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

    def __init__(self, server: _BackpackServer, instrument: Instrument) -> None:
        super().__init__(
            server.exchange, server.venue, instrument.symbol, log=server.log, first_update_id=_FIRST_UPDATE_ID
        )
        self._price_places = _places(instrument.tick_size)
        self._size_places = _places(instrument.lot_size)
        self._top: tuple[Level | None, Level | None] = (None, None)
        # conn -> names subscribed ("depth.X", "depth.200ms.X" / "bookTicker.X")
        self.depth_subs: dict[_Conn, set[str]] = {}
        self.ticker_subs: dict[_Conn, set[str]] = {}
        # Ticker statistics: book mids seen since the hub started.
        self.first_mid: Decimal | None = None
        self.last_mid: Decimal | None = None
        self.high_mid: Decimal | None = None
        self.low_mid: Decimal | None = None

    def price_text(self, price: Decimal) -> str:
        return _fixed(price, self._price_places)

    def size_text(self, size: Decimal) -> str:
        return _fixed(size, self._size_places)

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
        now_us = str(self.exchange.now_ns() // 1_000)
        ts_us = str(diff.ts_ns // 1_000)
        if self.depth_subs:
            data = {
                "e": "depth",
                "E": now_us,
                "s": self.symbol,
                "a": [[self.price_text(p), self.size_text(s)] for p, s in sorted(diff.asks.items())],
                "b": [[self.price_text(p), self.size_text(s)] for p, s in sorted(diff.bids.items())],
                "U": diff.first_id,
                "u": diff.last_id,
                "T": ts_us,
            }
            _fan_out(self.depth_subs, orjson.dumps(data).decode("utf-8"))
        top = (self.book.best_bid(), self.book.best_ask())
        if top != self._top:
            self._top = top
            self._track_mid()
            if self.ticker_subs:
                ticker: dict[str, object] = {"e": "bookTicker", "E": now_us, "s": self.symbol}
                bid, ask = top
                if ask is not None:
                    ticker["a"], ticker["A"] = self.price_text(ask[0]), self.size_text(ask[1])
                if bid is not None:
                    ticker["b"], ticker["B"] = self.price_text(bid[0]), self.size_text(bid[1])
                ticker["u"] = diff.last_id
                ticker["T"] = ts_us
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
            conn.send_text(_frame(name, data_json))


# ---------------------------------------------------------------------------------------------- orders


@dataclass(slots=True, eq=False)
class _OrderRecord:
    """The venue-side facts of one accepted order that the engine does not hold (ids, wire options), and what
    the private stream has reported of it so far. The engine's :class:`Order` (client id = :attr:`id`) holds
    its status and fills."""

    id: str
    client_id: int | None
    symbol: str
    side: Side
    market: bool
    price: Decimal | None
    quantity: Decimal
    tif: str
    post_only: bool
    reduce_only: bool
    stp: str
    created_ns: int
    accepted_sent: bool = False
    pending_fill: Fill | None = None
    ws_executed: Decimal = ZERO
    ws_executed_quote: Decimal = ZERO


def _is_live(order: Order) -> bool:
    return order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING)


def _expiry_reason(rec: _OrderRecord, reason: str) -> str:
    if reason == REASON_IOC_REMAINDER and rec.market:
        return "InsufficientLiquidity"
    return _EXPIRY_REASONS.get(reason, "Unknown")


def _status_text(order: Order) -> str:
    """Backpack ``OrderStatus`` of an engine order (an unfilled remainder the venue ended is ``Expired``)."""
    status = order.status
    if status is OrderStatus.OPEN or status is OrderStatus.PENDING:
        return "New"
    if status is OrderStatus.PARTIALLY_FILLED:
        return "PartiallyFilled"
    if status is OrderStatus.FILLED:
        return "Filled"
    if status is OrderStatus.CANCELLED and order.reason == REASON_CANCELLED_BY_USER:
        return "Cancelled"
    return "Expired"


def _order_json(rec: _OrderRecord, order: Order) -> dict[str, object]:
    """The REST ``Order`` object (``POST/GET/DELETE /api/v1/order``, ``/api/v1/orders``), keys and JSON types as
    the captured ``createOrder``/``cancelOrder``/``fetchOpenOrder`` responses (limit and market variants)."""
    body: dict[str, object] = {
        "clientId": None if rec.client_id is None else str(rec.client_id),
        "createdAt": str(rec.created_ns // 1_000_000),
        "executedQuantity": _dt(order.filled_size),
        "executedQuoteQuantity": _dt(order.filled_notional),
        "id": rec.id,
        "orderType": "Market" if rec.market else "Limit",
        "quantity": _dt(rec.quantity),
        "reduceOnly": True if rec.reduce_only else None,
        "relatedOrderId": None,
        "selfTradePrevention": rec.stp,
        "side": _SIDE_TEXT[rec.side],
        "status": _status_text(order),
        "symbol": rec.symbol,
        "timeInForce": rec.tif,
        "triggeredAt": None,
        **_NULL_TRIGGER_FIELDS,
    }
    if rec.market:
        body["quoteQuantity"] = _dt(order.filled_notional)
    else:
        assert rec.price is not None
        body["postOnly"] = rec.post_only
        body["price"] = _dt(rec.price)
    return dict(sorted(body.items()))


def _history_json(rec: _OrderRecord, order: Order) -> dict[str, object]:
    """One ``GET /wapi/v1/history/orders`` item: ISO ``createdAt``, ``expiryReason``, ``quoteQuantity``,
    ``systemOrderType`` (captured ``fetchOrders`` response)."""
    status = _status_text(order)
    body: dict[str, object] = {
        "clientId": None if rec.client_id is None else str(rec.client_id),
        "createdAt": _iso_ms(rec.created_ns),
        "executedQuantity": _dt(order.filled_size),
        "executedQuoteQuantity": _dt(order.filled_notional),
        "expiryReason": _expiry_reason(rec, order.reason) if status == "Expired" else None,
        "id": rec.id,
        "orderType": "Market" if rec.market else "Limit",
        "postOnly": rec.post_only,
        "price": None if rec.price is None else _dt(rec.price),
        "quantity": _dt(rec.quantity),
        "quoteQuantity": _dt(order.filled_notional if rec.price is None else rec.price * rec.quantity),
        "selfTradePrevention": rec.stp,
        "side": _SIDE_TEXT[rec.side],
        "status": status,
        "symbol": rec.symbol,
        "systemOrderType": None,
        "timeInForce": rec.tif,
        **{k: v for k, v in _NULL_TRIGGER_FIELDS.items()},
    }
    return dict(sorted(body.items()))


# ---------------------------------------------------------------------------------------------- the server

_Handler = Callable[[_Params], Awaitable[object]]


def _json_response(status: int, body: object) -> Response:
    return Response(_json_bytes(body), status_code=status, media_type=_JSON_TYPE)


class _BackpackServer:
    """State and handlers of one served venue. Built by :func:`serve_backpack`, which sets :attr:`nursery`."""

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
        self.app = GateMiddleware(
            Starlette(routes=[*self._routes(), WebSocketRoute("/", self._ws_endpoint)]), self.gate
        )

    # ================================================================== REST plumbing
    def _routes(self) -> list[Route]:
        r = self._route
        return [
            r("GET", "/api/v1/markets", self._h_markets, signed=False),
            r("GET", "/api/v1/market", self._h_market, signed=False),
            r("GET", "/api/v1/depth", self._h_depth, signed=False),
            r("GET", "/api/v1/ticker", self._h_ticker, signed=False),
            r("GET", "/api/v1/tickers", self._h_tickers, signed=False),
            r("GET", "/api/v1/assets", self._h_assets, signed=False),
            r("GET", "/api/v1/securities", self._h_securities, signed=False),
            r("POST", "/api/v1/order", self._h_execute, payload="OrderExecutePayload"),
            r("GET", "/api/v1/order", self._h_query),
            r("DELETE", "/api/v1/order", self._h_cancel, payload="OrderCancelPayload"),
            r("GET", "/api/v1/orders", self._h_open_orders),
            r("DELETE", "/api/v1/orders", self._h_cancel_all, payload="OrderCancelAllPayload"),
            r("GET", "/api/v1/position", self._h_positions),
            r("GET", "/wapi/v1/history/fills", self._h_fills),
            r("GET", "/wapi/v1/history/orders", self._h_order_history),
        ]

    def _route(
        self, method: str, path: str, handler: _Handler, *, signed: bool = True, payload: str | None = None
    ) -> Route:
        instruction = instruction_for(method, path) if signed else ""

        async def endpoint(request: Request) -> Response:
            try:
                params = await self._read(request, payload)
                if signed:
                    self._verify(request, instruction, params)
                result = await handler(params)
            except _ApiError as exc:
                return exc.response()
            except _ParseError as exc:
                return Response(exc.text, status_code=400, media_type=_TEXT_TYPE)
            except Exception as exc:  # a bug here must reach the client as the venue's 500, not a traceback
                self.log.error("{} {} failed: {}: {}", method, path, type(exc).__name__, str(exc)[:300])
                return _json_response(500, {"code": "SERVER_ERROR", "message": "Internal server error"})
            return _json_response(200, result)

        return Route(path, endpoint, methods=[method])

    async def _read(self, request: Request, payload: str | None) -> _Params:
        """The request's parameters: the query (GET) or the JSON object body. Raises _ParseError."""
        if payload is None:
            data: dict[str, object] = {}
            for key in request.query_params:
                values = request.query_params.getlist(key)
                data[key] = values[-1] if len(values) == 1 else list(values)
            return _Params(data, payload=None)
        raw = await request.body()
        if len(raw) > 65_536:
            raise _ParseError(f'parse request payload error: payload too large (occurred while parsing "{payload}")')
        try:
            value = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError:
            raise _ParseError(
                f'parse request payload error: invalid JSON (occurred while parsing "{payload}")'
            ) from None
        if not isinstance(value, dict):
            shown = raw[:200].decode("utf-8", "replace")
            raise _ParseError(f'parse request payload error: Expected input type "{payload}", found {shown}')
        for key, v in value.items():
            if v is None or isinstance(v, (float, dict, list)):
                raise _ParseError(
                    f"parse request payload error: unexpected {type(v).__name__} for `{key[:40]}` "
                    f'(occurred while parsing "{payload}")'
                )
        return _Params(value, payload=payload)

    def _verify(self, request: Request, instruction: str, params: _Params) -> None:
        """Check the signed headers against the parameters received (Backpack docs: signing). Raises _ApiError."""
        now_ms = time.time_ns() // 1_000_000
        try:
            verify_request(request.headers, instruction, params.data or None, self.public_key, now_ms, venue=self.venue)
        except AuthError as exc:
            code = exc.code or "UNAUTHORIZED"
            raise _ApiError(400 if code == "INVALID_SIGNATURE" else 401, code, exc.message) from None

    def _symbol(self, p: _Params, *, required: bool) -> str | None:
        symbol = p.text("symbol", required=required)
        if symbol is not None and symbol not in self.instruments:
            p.fail("symbol", 'failed to parse "MarketSymbol": Invalid market symbol')
        return symbol

    def _need_symbol(self, p: _Params) -> str:
        symbol = self._symbol(p, required=True)
        assert symbol is not None
        return symbol

    def _market_types(self, p: _Params) -> list[str] | None:
        raw = p.data.get("marketType")
        if raw is None:
            return None
        values = raw if isinstance(raw, list) else [raw]
        for v in values:
            if v not in _MARKET_TYPES:
                p.fail("marketType", 'failed to parse "MarketType": Expect a valid enumeration value.')
        return [str(v) for v in values]

    # ================================================================== public REST
    def _market_json(self, inst: Instrument) -> dict[str, object]:
        """A ``Market`` object (``GET /api/v1/markets``), keys and types as the captured SOL_USDC_PERP market, plus
        ``visible`` (required by the OpenAPI schema) and ``filters.quantity.minNotional`` when the simulated market
        has a minimum notional (read by ``_wire.parse_market``)."""
        quantity: dict[str, object] = {
            "maxQuantity": None,
            "minQuantity": _dt(inst.min_size),
            "stepSize": _dt(inst.lot_size),
        }
        if inst.min_notional > ZERO:
            quantity["minNotional"] = _dt(inst.min_notional)
        return {
            "baseSymbol": inst.base,
            "createdAt": _MARKET_CREATED_AT,
            "filters": {
                "price": {
                    "borrowEntryFeeMaxMultiplier": None,
                    "borrowEntryFeeMinMultiplier": None,
                    "maxImpactMultiplier": "1.03",
                    "maxMultiplier": _dt(_MAX_PRICE_MULTIPLIER),
                    "maxPrice": _dt(inst.tick_size * Decimal(10) ** 9),
                    "meanMarkPriceBand": {"maxMultiplier": "1.1", "minMultiplier": "0.9"},
                    "meanPremiumBand": {"tolerancePct": "0.05"},
                    "minImpactMultiplier": "0.97",
                    "minMultiplier": _dt(_MIN_PRICE_MULTIPLIER),
                    "minPrice": _dt(inst.tick_size),
                    "tickSize": _dt(inst.tick_size),
                },
                "quantity": quantity,
            },
            "fundingInterval": "28800000",
            "fundingRateLowerBound": "-100",
            "fundingRateUpperBound": "100",
            "imfFunction": dict(_IMF_FUNCTION),
            "marketType": "PERP",
            "mmfFunction": dict(_MMF_FUNCTION),
            "openInterestLimit": "0",
            "orderBookState": "Open",
            "quoteSymbol": inst.quote,
            "symbol": inst.symbol,
            "visible": True,
        }

    async def _h_markets(self, p: _Params) -> object:
        types = self._market_types(p)
        if types is not None and "PERP" not in types:
            return []
        return [self._market_json(inst) for inst in self.instruments.values()]

    async def _h_market(self, p: _Params) -> object:
        return self._market_json(self.instruments[self._need_symbol(p)])

    async def _ready_hub(self, symbol: str) -> _DepthHub:
        """The symbol's depth hub, started and holding a valid book. Raises _ApiError 503 otherwise."""
        hub = self.hubs[symbol]
        try:
            await hub.start(self.nursery)
        except SimUnavailable:
            raise _ApiError(503, "MAINTENANCE", "Market data is unavailable") from None
        if not hub.book.valid:
            with trio.move_on_after(HUB_READY_WAIT_S):
                await hub.wait_valid()
        if not hub.book.valid:
            raise _ApiError(503, "MAINTENANCE", "Order book is unavailable")
        return hub

    async def _h_depth(self, p: _Params) -> object:
        symbol = self._need_symbol(p)
        limit_text = p.enum("limit", _DEPTH_LIMITS, "DepthLimit")
        limit = _DEPTH_LIMIT_DEFAULT if limit_text is None else int(limit_text)
        hub = await self._ready_hub(symbol)
        book = hub.book
        bids, asks = book.snapshot(limit)
        # Both sides ascending by price, as the OpenAPI Depth example (clients re-sort, Backpack REST docs).
        return {
            "asks": [[hub.price_text(px), hub.size_text(sz)] for px, sz in asks],
            "bids": [[hub.price_text(px), hub.size_text(sz)] for px, sz in reversed(bids)],
            "lastUpdateId": str(book.seq),
            "timestamp": book.ts_ns // 1_000,
        }

    def _ticker_json(self, hub: _DepthHub) -> dict[str, object]:
        mid = hub.book.mid() or ZERO
        first = hub.first_mid or mid
        last = hub.last_mid or mid
        high = hub.high_mid or mid
        low = hub.low_mid or mid
        change = last - first
        pct = (change / first).quantize(Decimal("0.000001")) if first else ZERO
        return {
            "firstPrice": hub.price_text(first),
            "high": hub.price_text(high),
            "lastPrice": hub.price_text(last),
            "low": hub.price_text(low),
            "priceChange": _dt(change),
            "priceChangePercent": _dt(pct),
            "quoteVolume": "0",
            "symbol": hub.symbol,
            "trades": "0",
            "volume": "0",
        }

    async def _h_ticker(self, p: _Params) -> object:
        symbol = self._need_symbol(p)
        p.enum("interval", ("1d", "1w"), "TickerInterval")
        return self._ticker_json(await self._ready_hub(symbol))

    async def _h_tickers(self, p: _Params) -> object:
        p.enum("interval", ("1d", "1w"), "TickerInterval")
        return [self._ticker_json(await self._ready_hub(symbol)) for symbol in self.instruments]

    async def _h_assets(self, p: _Params) -> object:
        assets = sorted({i.base for i in self.instruments.values()} | {i.quote for i in self.instruments.values()})
        return [{"coingeckoId": None, "displayName": a, "symbol": a, "tokens": []} for a in assets]

    async def _h_securities(self, p: _Params) -> object:
        return []

    # ================================================================== orders
    def _engine_order(self, rec: _OrderRecord) -> Order | None:
        return self.exchange.engine(self.venue, rec.symbol).get_order(rec.id)

    def _find(self, symbol: str, order_id: str | None, client_id: int | None) -> tuple[_OrderRecord, Order] | None:
        """The order named by id (and, if both are given, also by clientId) in ``symbol``, with its engine state."""
        if order_id is not None:
            rec = self._orders.get(order_id)
            if rec is not None and client_id is not None and rec.client_id != client_id:
                rec = None
        else:
            rec = None if client_id is None else self._live_client.get(client_id)
        if rec is None or rec.symbol != symbol:
            return None
        order = self._engine_order(rec)
        return None if order is None else (rec, order)

    def _forget_client(self, rec: _OrderRecord) -> None:
        if rec.client_id is not None and self._live_client.get(rec.client_id) is rec:
            del self._live_client[rec.client_id]

    def _validate(self, inst: Instrument, market: bool, price: Decimal | None, quantity: Decimal) -> None:
        """The venue's field rules (tick, step, minimum quantity and notional, price band). Raises _ApiError."""
        try:
            if price is not None and (price <= ZERO or not is_multiple(price, inst.tick_size)):
                raise _ApiError(
                    400, "INVALID_PRICE", f"Price must be a positive multiple of the tick size {inst.tick_size}"
                )
            if quantity <= ZERO or not is_multiple(quantity, inst.lot_size):
                raise _ApiError(
                    400, "INVALID_QUANTITY", f"Quantity must be a positive multiple of the step size {inst.lot_size}"
                )
            if quantity < inst.min_size:
                raise _ApiError(400, "INVALID_QUANTITY", f"Quantity is below the minimum of {inst.min_size}")
            if price is not None and price * quantity < inst.min_notional:
                raise _ApiError(400, "INVALID_ORDER", f"Order value is below the minimum of {inst.min_notional}")
            mid = self.exchange.market_book(self.venue, inst.symbol).mid()
            if price is not None and not market and mid is not None:
                if price > mid * _MAX_PRICE_MULTIPLIER or price < mid * _MIN_PRICE_MULTIPLIER:
                    raise _ApiError(400, "INVALID_PRICE", "Price is too far from the last active price")
        except DecimalException:
            raise _ApiError(400, "INVALID_ORDER", "Invalid order") from None

    async def _h_execute(self, p: _Params) -> object:
        """``POST /api/v1/order`` (orderExecute, Backpack REST docs)."""
        symbol = self._need_symbol(p)
        side = _SIDES[p.enum("side", _SIDES, "Side", required=True) or ""]
        order_type = p.enum("orderType", ("Limit", "Market"), "OrderTypeEnum", required=True)
        price = p.decimal("price")
        quantity = p.decimal("quantity")
        quote_quantity = p.decimal("quoteQuantity")
        tif = p.enum("timeInForce", _TIF, "TimeInForce") or "GTC"
        post_only = p.flag("postOnly")
        reduce_only = p.flag("reduceOnly")
        client_id = p.integer("clientId", limit=2**32 - 1, type_name="uint32")
        stp = p.enum("selfTradePrevention", _STP, "SelfTradePrevention") or "RejectTaker"
        p.integer("brokerId", limit=2**16 - 1, type_name="uint16")
        for key in ("autoLend", "autoLendRedeem", "autoBorrow", "autoBorrowRepay"):
            p.flag(key)
        market = order_type == "Market"
        if any(p.has(key) for key in _UNSUPPORTED_ORDER_KEYS):
            raise _ApiError(400, "NOT_IMPLEMENTED", "Trigger, take-profit and stop-loss orders are not simulated")
        if quote_quantity is not None:
            if market:
                raise _ApiError(400, "NOT_IMPLEMENTED", "Market orders by quoteQuantity are not simulated")
            raise _ApiError(400, "INVALID_ORDER", "quoteQuantity is only valid for market orders")
        if quantity is None:
            raise _ApiError(400, "INVALID_QUANTITY", "Quantity is required")
        if market:
            price = None  # a market order's price is ignored (ccxt's createOrder doc)
            if post_only:
                raise _ApiError(400, "INVALID_ORDER", "A market order cannot be post only")
        elif price is None:
            raise _ApiError(400, "INVALID_PRICE", "Price is required for a limit order")
        if post_only and tif != "GTC":
            raise _ApiError(400, "INVALID_ORDER", "A post only order must be good till cancelled")
        inst = self.instruments[symbol]
        self._validate(inst, market, price, quantity)
        if client_id is not None:
            prior = self._live_client.get(client_id)
            prior_order = None if prior is None else self._engine_order(prior)
            if prior_order is not None and _is_live(prior_order):
                raise _ApiError(400, "INVALID_CLIENT_REQUEST", "Duplicate client id")
        self._next_order_id += 1
        rec = _OrderRecord(
            id=str(self._next_order_id),
            client_id=client_id,
            symbol=symbol,
            side=side,
            market=market,
            price=price,
            quantity=quantity,
            tif=tif,
            post_only=post_only,
            reduce_only=reduce_only,
            stp=stp,
            created_ns=self.exchange.now_ns(),
        )
        try:
            request = OrderRequest(
                client_order_id=rec.id,
                symbol=symbol,
                side=side,
                size=quantity,
                order_type=OrderType.MARKET if market else OrderType.LIMIT,
                price=price,
                tif=_TIF[tif],
                post_only=post_only,
                reduce_only=reduce_only,
            )
        except BadValue as exc:
            raise _ApiError(400, "INVALID_ORDER", str(exc)[:200]) from None
        self._orders[rec.id] = rec
        self.exchange.submit(self.venue, request)
        order = self._engine_order(rec)
        if order is None or order.status is OrderStatus.REJECTED:
            del self._orders[rec.id]
            raise _rejection(order.reason if order is not None else "")
        if client_id is not None:
            self._live_client[client_id] = rec
        return _order_json(rec, order)

    async def _h_query(self, p: _Params) -> object:
        """``GET /api/v1/order`` (orderQuery): an open order by ``orderId`` or ``clientId`` (Backpack REST docs)."""
        symbol = self._need_symbol(p)
        order_id = p.order_id("orderId")
        client_id = p.integer("clientId", limit=2**32 - 1, type_name="uint32")
        if (order_id is None) == (client_id is None):
            raise _ApiError(400, "INVALID_CLIENT_REQUEST", "Specify exactly one of orderId and clientId")
        found = self._find(symbol, order_id, client_id)
        if found is None or not _is_live(found[1]):
            raise _ApiError(404, "RESOURCE_NOT_FOUND", "Order not found")
        return _order_json(*found)

    async def _h_cancel(self, p: _Params) -> object:
        """``DELETE /api/v1/order`` (orderCancel): by ``orderId`` (string or number) or ``clientId`` (Backpack REST
        docs)."""
        symbol = self._need_symbol(p)
        order_id = p.order_id("orderId")
        client_id = p.integer("clientId", limit=2**32 - 1, type_name="uint32")
        if order_id is None and client_id is None:
            raise _ApiError(400, "INVALID_CLIENT_REQUEST", "Specify orderId or clientId")
        found = self._find(symbol, order_id, client_id)
        if found is None or not _is_live(found[1]):
            raise _not_found()
        rec, order = found
        self.exchange.cancel(self.venue, symbol, rec.id)
        self._forget_client(rec)
        return _order_json(rec, order)

    async def _h_cancel_all(self, p: _Params) -> object:
        """``DELETE /api/v1/orders`` (orderCancelAll): the cancelled orders, ``[]`` when none (Backpack REST docs)."""
        symbol = self._need_symbol(p)
        kind = p.enum("orderType", ("RestingLimitOrder", "ConditionalOrder"), "CancelOrderTypeEnum")
        if kind == "ConditionalOrder":
            return []
        engine = self.exchange.engine(self.venue, symbol)
        recs = [rec for o in engine.open_orders() if (rec := self._orders.get(o.client_order_id)) is not None]
        self.exchange.cancel_all(self.venue, symbol)
        out = []
        for rec in recs:
            order = engine.get_order(rec.id)
            self._forget_client(rec)
            if order is not None:
                out.append(_order_json(rec, order))
        return out

    async def _h_open_orders(self, p: _Params) -> object:
        """``GET /api/v1/orders`` (orderQueryAll): open orders, oldest first."""
        symbol = self._symbol(p, required=False)
        types = self._market_types(p)
        if types is not None and "PERP" not in types:
            return []
        out = []
        for sym in [symbol] if symbol is not None else list(self.instruments):
            for order in self.exchange.engine(self.venue, sym).open_orders():
                rec = self._orders.get(order.client_order_id)
                if rec is not None:
                    out.append(_order_json(rec, order))
        return out

    async def _h_order_history(self, p: _Params) -> object:
        """``GET /wapi/v1/history/orders`` (orderHistoryQueryAll): orders no longer open [I: open orders are
        answered by ``/api/v1/orders``], newest first unless ``sortDirection=Asc``."""
        symbol = self._symbol(p, required=False)
        order_id = p.order_id("orderId")
        p.text("strategyId")
        limit, offset, descending = self._page(p)
        types = self._market_types(p)
        if types is not None and "PERP" not in types:
            return []
        items = []
        for rec in self._orders.values():
            if (symbol is not None and rec.symbol != symbol) or (order_id is not None and rec.id != order_id):
                continue
            order = self._engine_order(rec)
            if order is not None and not _is_live(order):
                items.append((rec, order))
        if descending:
            items.reverse()
        return [_history_json(rec, order) for rec, order in items[offset : offset + limit]]

    @staticmethod
    def _page(p: _Params) -> tuple[int, int, bool]:
        limit = p.integer("limit", limit=2**63 - 1, type_name="uint64")
        offset = p.integer("offset", limit=2**63 - 1, type_name="uint64") or 0
        direction = p.enum("sortDirection", ("Asc", "Desc"), "SortDirection") or "Desc"
        limit = _FILL_LIMIT_DEFAULT if limit is None else min(limit, _HISTORY_LIMIT_MAX)
        return limit, offset, direction == "Desc"

    # ================================================================== positions and fills
    def _mark(self, symbol: str, pos: Position) -> Decimal:
        mid = self.exchange.market_book(self.venue, symbol).mid()
        if mid is not None:
            return mid
        return pos.entry_price if pos.entry_price is not None else ZERO

    def _position_json(self, pos: Position) -> dict[str, object]:
        """A ``FuturePositionWithMargin`` (``GET /api/v1/position``), keys and types as the captured response.
        Margin, funding and liquidation fields are fixed simulator values (funding is not simulated)."""
        mark = self._mark(pos.symbol, pos)
        qty = pos.size
        entry = pos.entry_price if pos.entry_price is not None else ZERO
        return {
            "breakEvenPrice": _dt(entry),
            "cumulativeFundingPayment": "0",
            "cumulativeInterest": "0",
            "entryPrice": _dt(entry),
            "estLiquidationPrice": "0",
            "imf": _IMF,
            "imfFunction": dict(_IMF_FUNCTION),
            "markPrice": _dt(mark),
            "mmf": _MMF,
            "mmfFunction": dict(_MMF_FUNCTION),
            "netCost": _dt(entry * qty),
            "netExposureNotional": _dt(abs(qty) * mark),
            "netExposureQuantity": _dt(abs(qty)),
            "netQuantity": _dt(qty),
            "pnlRealized": _dt(pos.realized_pnl),
            "pnlUnrealized": _dt((mark - entry) * qty),
            "positionId": str(self._position_ids[pos.symbol]),
            "subaccountId": None,
            "symbol": pos.symbol,
            "userId": _SIM_USER_ID,
        }

    async def _h_positions(self, p: _Params) -> object:
        """``GET /api/v1/position`` (positionQuery): open positions only."""
        symbol = self._symbol(p, required=False)
        types = self._market_types(p)
        if types is not None and "PERP" not in types:
            return []
        out = []
        for sym in [symbol] if symbol is not None else list(self.instruments):
            pos = self.exchange.engine(self.venue, sym).position()
            if pos.size != ZERO:
                out.append(self._position_json(pos))
        return out

    def _trade_id(self, fill: Fill) -> int:
        """The Backpack trade id (int64, unique across symbols) of an engine fill."""
        tid = self._trade_ids.get(fill.trade_id)
        if tid is None:
            self._next_trade_id += 1
            tid = self._trade_ids[fill.trade_id] = self._next_trade_id
        return tid

    def _fill_json(self, fill: Fill, rec: _OrderRecord) -> dict[str, object]:
        """One ``OrderFill`` (``GET /wapi/v1/history/fills``), keys and types as the captured ``fetchMyTrades``
        response (``tradeId`` a string there); the fee is in the quote asset (perpetuals, Backpack REST docs)."""
        return {
            "clientId": None if rec.client_id is None else str(rec.client_id),
            "fee": _dt(fill.fee),
            "feeSymbol": self.instruments[fill.symbol].quote,
            "isMaker": fill.is_maker,
            "orderId": rec.id,
            "price": _dt(fill.price),
            "quantity": _dt(fill.size),
            "side": _SIDE_TEXT[fill.side],
            "symbol": fill.symbol,
            "systemOrderType": None,
            "timestamp": _iso_ms(fill.ts_ns),
            "tradeId": str(self._trade_id(fill)),
        }

    async def _h_fills(self, p: _Params) -> object:
        """``GET /wapi/v1/history/fills`` (fillHistoryQueryAll): ``symbol``, ``orderId``, ``from``/``to`` (ms,
        inclusive), ``limit`` (default 100, at most 1000), ``offset``, ``sortDirection`` (default Desc)."""
        symbol = self._symbol(p, required=False)
        order_id = p.order_id("orderId")
        p.text("strategyId")
        from_ms = p.integer("from", limit=2**63 - 1, type_name="int64")
        to_ms = p.integer("to", limit=2**63 - 1, type_name="int64")
        fill_type = p.enum("fillType", _FILL_TYPES, "FillType")
        limit, offset, descending = self._page(p)
        types = self._market_types(p)
        if (types is not None and "PERP" not in types) or fill_type not in (None, "User"):
            return []
        items: list[tuple[Fill, _OrderRecord]] = []
        for sym in [symbol] if symbol is not None else list(self.instruments):
            for fill in self.exchange.engine(self.venue, sym).fills:
                rec = self._orders.get(fill.client_order_id)
                if rec is None or (order_id is not None and rec.id != order_id):
                    continue
                ts_ms = fill.ts_ns // 1_000_000
                if (from_ms is not None and ts_ms < from_ms) or (to_ms is not None and ts_ms > to_ms):
                    continue
                items.append((fill, rec))
        items.sort(key=lambda item: (item[0].ts_ns, self._trade_id(item[0])))
        if descending:
            items.reverse()
        return [self._fill_json(fill, rec) for fill, rec in items[offset : offset + limit]]

    # ================================================================== private stream
    async def run_account_stream(
        self,
        rx: trio.MemoryReceiveChannel[tuple[float, VenueEvent]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Fan the venue's account stream ``rx`` (:meth:`SimExchange.take_account_stream`) out, as Backpack
        frames, to the private subscribers, each event at its ``deliver_at``."""
        for symbol in self.instruments:
            self._positions[symbol] = self.exchange.engine(self.venue, symbol).position()
        task_status.started()
        async with rx:
            async for deliver_at, event in rx:
                if deliver_at > trio.current_time():
                    await trio.sleep_until(deliver_at)
                try:
                    frames = self._translate(event)
                except (BadValue, DecimalException) as exc:  # a value no frame can carry: say so, keep serving
                    self.log.error("private event not sent ({}): {}", exc, event)
                    continue
                for kind, symbol, data in frames:
                    self._publish_private(kind, symbol, data)

    def _now_us(self) -> str:
        return str(self.exchange.now_ns() // 1_000)

    def _translate(self, event: VenueEvent) -> list[tuple[str, str, dict[str, object]]]:
        """The Backpack stream payloads for one engine event (Backpack WS docs; OpenAPI Streams "Order update")."""
        if isinstance(event, PositionUpdate):
            return [self._position_event(event)]
        rec = self._orders.get(event.client_order_id)
        if rec is None:
            return []  # refused synchronously over REST: the order never existed on the venue
        out: list[tuple[str, str, dict[str, object]]] = []
        if isinstance(event, Fill):
            if not rec.accepted_sent:
                out.append(self._order_event(rec, "orderAccepted", "New", ts_ns=event.ts_ns))
            rec.pending_fill = event
            rec.ws_executed += event.size
            rec.ws_executed_quote += event.price * event.size
            return out
        assert isinstance(event, OrderUpdate)
        status = event.status
        if status is OrderStatus.OPEN or status is OrderStatus.PENDING:
            if not rec.accepted_sent:
                out.append(self._order_event(rec, "orderAccepted", "New", ts_ns=event.ts_ns))
        elif status is OrderStatus.PARTIALLY_FILLED or status is OrderStatus.FILLED:
            fill, rec.pending_fill = rec.pending_fill, None
            if fill is not None:
                x = "Filled" if status is OrderStatus.FILLED else "PartiallyFilled"
                out.append(self._order_event(rec, "orderFill", x, ts_ns=event.ts_ns, fill=fill))
        elif status is OrderStatus.CANCELLED or status is OrderStatus.EXPIRED:
            if not rec.accepted_sent:
                out.append(self._order_event(rec, "orderAccepted", "New", ts_ns=event.ts_ns))
            if status is OrderStatus.CANCELLED and event.reason == REASON_CANCELLED_BY_USER:
                out.append(self._order_event(rec, "orderCancelled", "Cancelled", ts_ns=event.ts_ns))
            else:
                reason = _expiry_reason(rec, event.reason)
                out.append(self._order_event(rec, "orderExpired", "Expired", ts_ns=event.ts_ns, reason=reason))
        return out

    def _order_event(
        self,
        rec: _OrderRecord,
        event_type: str,
        status: str,
        *,
        ts_ns: int,
        fill: Fill | None = None,
        reason: str | None = None,
    ) -> tuple[str, str, dict[str, object]]:
        """An ``account.orderUpdate`` payload: keys as the captured frames (``O``, ``V``, ``r``, ``t`` null unless a
        fill), ``c`` only with a clientId, ``p``/``Q`` only for limit orders, ``y`` only when post-only, ``R`` only
        on ``orderExpired``, ``l``/``L``/``m``/``n``/``N``/``t`` only on ``orderFill`` (OpenAPI Streams)."""
        if event_type == "orderAccepted":
            rec.accepted_sent = True
        data: dict[str, object] = {
            "e": event_type,
            "E": self._now_us(),
            "s": rec.symbol,
            "S": _SIDE_TEXT[rec.side],
            "o": "MARKET" if rec.market else "LIMIT",
            "f": rec.tif,
            "q": _dt(rec.quantity),
            "X": status,
            "i": rec.id,
            "t": None,
            "z": _dt(rec.ws_executed),
            "Z": _dt(rec.ws_executed_quote),
            "V": rec.stp,
            "T": str(ts_ns // 1_000),
            "O": "USER",
            "r": rec.reduce_only,
        }
        if rec.client_id is not None:
            data["c"] = rec.client_id
        if rec.price is not None:
            data["p"] = _dt(rec.price)
            data["Q"] = _dt(rec.price * rec.quantity)
        if rec.post_only:
            data["y"] = True
        if fill is not None:
            data["t"] = self._trade_id(fill)
            data["l"] = _dt(fill.size)
            data["L"] = _dt(fill.price)
            data["m"] = fill.is_maker
            data["n"] = _dt(fill.fee)
            data["N"] = self.instruments[rec.symbol].quote
        if reason is not None:
            data["R"] = reason
        return _ORDER_UPDATE, rec.symbol, data

    def _position_fields(self, pos: Position, *, ts_ns: int) -> dict[str, object]:
        """An ``account.positionUpdate`` payload without ``e`` (the on-subscribe snapshot form); keys as the
        captured ``positionOpened`` frame. ``b`` (break-even) is the entry price; ``l`` is always 0 (Backpack WS
        docs)."""
        mark = self._mark(pos.symbol, pos)
        qty = pos.size
        entry = pos.entry_price if pos.entry_price is not None else ZERO
        return {
            "B": _dt(entry),
            "E": self._now_us(),
            "M": _dt(mark),
            "P": _dt((mark - entry) * qty),
            "Q": _dt(abs(qty)),
            "T": str(ts_ns // 1_000),
            "b": _dt(entry),
            "f": _IMF,
            "i": self._position_ids[pos.symbol],
            "l": "0",
            "m": _MMF,
            "n": _dt(abs(qty) * mark),
            "p": _dt(pos.realized_pnl),
            "q": _dt(qty),
            "s": pos.symbol,
        }

    def _position_event(self, update: PositionUpdate) -> tuple[str, str, dict[str, object]]:
        pos = update.position
        prior = self._positions.get(pos.symbol)
        before = ZERO if prior is None else prior.size
        self._positions[pos.symbol] = pos
        if pos.size == ZERO:
            event_type = "positionClosed"
        elif before == ZERO:
            event_type = "positionOpened"
        else:
            event_type = "positionAdjusted"
        data: dict[str, object] = {"e": event_type, **self._position_fields(pos, ts_ns=update.ts_ns)}
        return _POSITION_UPDATE, pos.symbol, data

    def _publish_private(self, kind: str, symbol: str, data: dict[str, object]) -> None:
        data_json: str | None = None
        for conn in list(self._private_conns):
            for name, (sub_kind, sub_symbol) in conn.private.items():
                if sub_kind == kind and (sub_symbol is None or sub_symbol == symbol):
                    if data_json is None:
                        data_json = orjson.dumps(data).decode("utf-8")
                    conn.send_text(_frame(name, data_json))

    # ================================================================== WebSocket
    async def _ws_endpoint(self, websocket: WebSocket) -> None:
        """One WebSocket connection at ``/``: read client messages while the connection's writer drains its
        outbox (:meth:`WsConnection.serve`; hypercorn sends a Ping every ``ping_interval_s``:
        :func:`serve_backpack`); unsubscribe everything on exit."""
        await websocket.accept()
        conn = _Conn(websocket, self.log)
        try:
            await conn.serve(partial(self._on_ws_message, conn))
        finally:
            self._drop_conn(conn)

    async def _on_ws_message(self, conn: _Conn, raw: str | bytes) -> None:
        """Handle one client frame: SUBSCRIBE / UNSUBSCRIBE (Backpack WS docs)."""
        try:
            decoded = decode_json(raw, venue=self.venue)
        except BackpackProtocolError:
            conn.send_text(_error_frame(None, _WS_ERR_INVALID_REQUEST, "Invalid request: not JSON"))
            return
        msg_id = decoded.get("id") if isinstance(decoded, dict) else None
        if isinstance(msg_id, bool) or not isinstance(msg_id, (int, str)):
            msg_id = None
        try:
            request = parse_subscribe_message(decoded, venue=self.venue)
        except BackpackProtocolError as exc:
            conn.send_text(_error_frame(msg_id, _WS_ERR_INVALID_REQUEST, f"Invalid request: {exc.message[:200]}"))
            return
        targets: list[tuple[str, tuple[str, str | None]]] = []
        for name in request.streams:
            target = self._classify(name)
            if target is None:
                conn.send_text(_error_frame(msg_id, _WS_ERR_INVALID_STREAM, "Invalid stream"))
                return
            targets.append((name, target))
        if request.method == "UNSUBSCRIBE":
            for name, _ in targets:
                self._unsubscribe(conn, name)
            return
        if any(kind.startswith("account.") for _, (kind, _) in targets):
            try:
                verify_ws_subscribe(request.signature, self.public_key, time.time_ns() // 1_000_000, venue=self.venue)
            except AuthError as exc:
                text = f"Signature verification failed: {exc.message}"
                conn.send_text(_error_frame(msg_id, _WS_ERR_UNAUTHORIZED, text))
                return
        for name, (kind, symbol) in targets:
            await self._subscribe(conn, name, kind, symbol)

    def _classify(self, name: str) -> tuple[str, str | None] | None:
        """(kind, symbol) of a stream this server serves, or None (Backpack WS docs stream names)."""
        parts = name.split(".")
        # account.rfqUpdate: the real venue's RFQ order stream (ccxt.pro subscribes to it beside orderUpdate); the
        # simulator has no RFQ markets, so the subscription is accepted and stays silent
        if (
            parts[0] == "account"
            and len(parts) in (2, 3)
            and parts[1] in ("orderUpdate", "positionUpdate", "rfqUpdate")
        ):
            if len(parts) == 2:
                return f"account.{parts[1]}", None
            return (f"account.{parts[1]}", parts[2]) if parts[2] in self.instruments else None
        if parts[0] == "depth":
            if len(parts) == 2 and parts[1] in self.instruments:
                return "depth", parts[1]
            if len(parts) == 3 and parts[1] in ("200ms", "600ms", "1000ms") and parts[2] in self.instruments:
                return "depth", parts[2]
        if parts[0] == "bookTicker" and len(parts) == 2 and parts[1] in self.instruments:
            return "bookTicker", parts[1]
        return None

    async def _subscribe(self, conn: _Conn, name: str, kind: str, symbol: str | None) -> None:
        if kind in ("depth", "bookTicker"):
            assert symbol is not None
            if name in conn.public:
                return
            hub = self.hubs[symbol]
            try:
                await hub.start(self.nursery)
            except SimUnavailable:
                conn.close(CLOSE_INTERNAL, "market data unavailable")
                return
            if conn.closed or name in conn.public:
                return
            (hub.depth_subs if kind == "depth" else hub.ticker_subs).setdefault(conn, set()).add(name)
            conn.public[name] = (kind, symbol)
            return
        if name in conn.private:
            return
        conn.private[name] = (kind, symbol)
        self._private_conns.add(conn)
        if kind == _POSITION_UPDATE:
            now_ns = self.exchange.now_ns()
            for sym, pos in self._positions.items():
                if pos.size != ZERO and (symbol is None or sym == symbol):
                    conn.send_text(_frame(name, orjson.dumps(self._position_fields(pos, ts_ns=now_ns)).decode("utf-8")))

    def _unsubscribe(self, conn: _Conn, name: str) -> None:
        public = conn.public.pop(name, None)
        if public is not None:
            hub = self.hubs[public[1]]
            subs = hub.depth_subs if public[0] == "depth" else hub.ticker_subs
            names = subs.get(conn)
            if names is not None:
                names.discard(name)
                if not names:
                    del subs[conn]
        if conn.private.pop(name, None) is not None and not conn.private:
            self._private_conns.discard(conn)

    def _drop_conn(self, conn: _Conn) -> None:
        for name in list(conn.public) + list(conn.private):
            self._unsubscribe(conn, name)
        self._private_conns.discard(conn)


def _rejection(reason: str) -> _ApiError:
    """The HTTP answer for an order the engine refused on arrival (see the module docstring)."""
    if reason == REASON_POST_ONLY_WOULD_CROSS:
        return _ApiError(400, "INVALID_ORDER", "Order would immediately match and take")
    if reason == REASON_REDUCE_ONLY_WOULD_INCREASE:
        return _ApiError(400, "INVALID_ORDER", "Reduce only order not reduced")
    if reason == REASON_BOOK_UNAVAILABLE:
        return _ApiError(400, "TRADING_PAUSED", "Order book unavailable")
    return _ApiError(400, "INVALID_ORDER", "Invalid order")

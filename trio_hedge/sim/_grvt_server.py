"""GRVT wire-protocol simulator: one simulated venue of a :class:`~trio_hedge.sim.SimExchange`, served over
loopback HTTP and WebSocket in GRVT's own formats, so real GRVT clients (our adapter, grvt-pysdk, ccxt)
cannot tell it from the venue.

Formats: the GRVT API docs (https://api-docs.grvt.io/: login, the REST routes, the WebSocket streams and
JSON-RPC, the error codes; generated from https://github.com/gravity-technologies/api-spec @ eed18e5, whose
``src/codegen/apispec.json`` gives every struct, enum and per-route error code), grvt-pysdk 0.2.1
(https://github.com/gravity-technologies/grvt-pysdk: order signing, cookie handling), ccxt 4.5.90 (``grvt.py``,
``pro/grvt.py``), and the captured bodies and frames in ``tests/fixtures/grvt/`` (origins in
``tests/fixtures/SOURCES.md``). Citations below use the names of the protocol package's docstring
(:mod:`trio_hedge.protocols.grvt`: "GRVT docs: <route>", "GRVT WS docs"). Every JSON shape is produced by that
codec; the shapes it has no formatter for (login body, ticker, account summaries, ``v1.cancel`` feed) are built
here.

One base URL serves every GRVT host (edge/auth, market-data, trades), like a reverse proxy in front of them:

* ``POST /auth/api_key/login`` ``{"api_key"}`` and ``POST /auth/wallet/login`` (EIP-712 ``WalletLogin``, what
  ccxt uses) -> ``Set-Cookie: gravity=<token>; Expires=<"%a, %d %b %Y %H:%M:%S GMT">; Path=/; HttpOnly`` and
  ``X-Grvt-Account-Id`` (GRVT docs: login). No ``Secure`` attribute: the simulator speaks plain HTTP, where cookie jars
  drop Secure cookies. Sessions last one day (help.grvt.io).
* ``POST /full/v1/<route>``: market data (``instruments``, ``all_instruments``, ``instrument``, ``currency``,
  ``book``, ``ticker``, ``mini``) are public; trading and account routes (``create_order``, ``cancel_order``,
  ``cancel_all_orders``, ``cancel_on_disconnect``, ``order``, ``open_orders``, ``order_history``,
  ``positions``, ``fill_history``, ``account_summary``, ``aggregated_account_summary``, ``get_sub_accounts``)
  need ``Cookie: gravity=…`` and ``X-Grvt-Account-Id``. Bodies must be JSON objects sent with
  ``Content-Type: application/json`` (the venue answers 1003 otherwise, ccxt ``grvt.sign`` comment).
  Answers: ``{"result": …}`` or ``{"code","message","status"}`` with the HTTP status of the code table (GRVT docs: error
  codes).
* ``/ws/full``: JSON-RPC 2.0 ``subscribe``/``unsubscribe`` and ``v1/<route>`` (any route above; the result is
  the whole REST body, GRVT WS docs: JSON-RPC). ``/ws`` speaks the legacy subscribe format (GRVT WS docs: subscribe). A
  WebSocket upgrade that carries a ``gravity`` cookie that is not a live session (or lacks the account-id header) is
  refused with HTTP 401 (help.grvt.io); without a cookie the connection serves public streams only, and private streams
  and trading methods answer error 1000.

Streams (GRVT WS docs: streams):

* ``v1.book.s`` ``{instrument}@{rate}-{depth}``: the top ``depth`` levels, sequence 0, every ``rate`` ms while
  the book changes.
* ``v1.book.d`` ``{instrument}@{rate}``: a full snapshot (sequence 0), then one delta per replay batch with
  only the changed levels (size ``"0"`` removes a level). Deltas are numbered by a per-instrument gateway
  counter: ``sequence_number`` = previous + 1, ``prev_sequence_number`` = the previous delta's number. The
  subscribe result's ``first_sequence_number`` is the number of the first delta the subscriber will get and
  ``latest_sequence_number`` the one before it (so ``snapshot_seq = first - 1``). The rate is validated but
  deltas are sent per replay batch, not coalesced per ``rate``.
* ``v1.order``, ``v1.state``, ``v1.fill``, ``v1.position`` with selector ``{sub_account_id}``,
  ``{sub_account_id}-{instrument}`` or ``{sub_account_id}-{kind}-{base}-{quote}``; ``v1.cancel`` with
  ``{sub_account_id}``. Numbered per subscription from 1 (``prev`` = the previous number);
  ``v1.position`` first sends the open positions as snapshots numbered 0.
* A subscriber whose outgoing buffer fills up (``OUTBOX_CAPACITY`` frames) is disconnected (close 1008), as
  venues drop slow consumers; when the exchange kills the feed (fault injection) every connection subscribed
  to that instrument's book is closed (1011) and new book subscriptions answer 1002.

Orders (GRVT docs: create_order; grvt-pysdk signing): the EIP-712 signature is verified (``recover_order_signer``; a
signer that differs from the wire's ``signature.signer`` is 2002, a consistent signature by another key 2000, malformed
v/r/s 2005/2006/2007, an expired signature 2001, more than 30 days ahead 2008, a ``signature.chain_id`` other than
the venue's 1012); then the field rules (one leg 2042, order book TIF 2030, post-only only with GTT 2032,
a market order with a limit price 2020, a limit order without one 2021, min size 2062, size off the lot grid
2065, price off the tick 2064, min notional 2066, reduce-only 2400/2401/2402, a live duplicate
``client_order_id`` 2012, an unknown instrument 2061). An accepted order is submitted to the matching engine as an
:class:`~trio_hedge.domain.OrderRequest` whose ``client_order_id`` is the wire ``client_order_id`` and acked
as GRVT does: the order echoed with ``order_id "0x00"`` and state ``PENDING``; outcomes follow on the streams
(post-only crossing -> ``REJECTED``/``FAIL_POST_ONLY``, IOC remainder -> ``CANCELLED``/``IOC_CANCEL``...).
Venue order ids are 128-bit hex strings ``0x01010105…``.

Cancels (GRVT docs: cancel_order, apispec ``ApiCancelOrderRequest`` / ``ApiCancelOnDisconnectRequest``): by ``order_id``
or ``client_order_id`` (reason ``CLIENT_CANCEL``; ``cancel_all_orders``: ``CLIENT_BULK_CANCEL``); a cancel by
``client_order_id`` of an order not seen yet stays armed for ``time_to_live_ms`` (rounded down to 100 ms,
capped at 5000, default ``DEFAULT_CANCEL_TTL_MS``) and kills that order on arrival (acked, then
``CANCELLED``, never in the book); unused, it expires with a ``v1.cancel`` ``EXPIRED`` event (a second cancel
inside the window: ``DROPPED_DUPLICATE``). ``cancel_on_disconnect`` ``countdown_time`` ms (above 1000: armed,
rounded down to the second; 0-1000: disarmed; above 300000: 6000) cancels every open order with reason
``CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED`` unless refreshed in time.

Deviations (the real venue's exact behaviour is unknown or not modelled): a ``client_order_id`` already used
by a finished order of the same instrument is acked and then ``REJECTED`` with ``OVERLAPPING_CLIENT_ORDER_ID``
(the matching engine never reuses an id); margin, funding, trigger orders, builder fees, lite encodings
(``/lite/v1``, ``/ws/lite``) and the ticker/mini/trade/candle streams are not modelled; a GTT order does not
expire with its signature.

Time: venue timestamps (``event_time``, ``create_time``, fills) are the exchange's replay clock
(:meth:`SimExchange.now_ns`); cookie and signature expiries are wall-clock (clients compare them with
``time.time``). Countdowns (cancel-on-disconnect, cancel TTL) and stream rates run on trio time. Every
request, response and stream event waits the exchange's one-way ``latency_s``.
"""

from __future__ import annotations

import hmac
import math
import random
import secrets
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import coincurve
import trio
from loguru import logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..domain import (
    ZERO,
    BadValue,
    Fill,
    Instrument,
    OrderStatus,
    OrderUpdate,
    PositionUpdate,
    Side,
    TrioHedgeError,
    VenueEvent,
    is_multiple,
)
from ..protocols.grvt import (
    COOKIE_NAME,
    NO_ORDER_ID,
    STREAM_BOOK_DELTA,
    STREAM_BOOK_SNAPSHOT,
    STREAM_CANCEL,
    STREAM_FILL,
    STREAM_ORDER,
    STREAM_ORDER_STATE,
    STREAM_POSITION,
    GrvtInstrumentMeta,
    GrvtOrder,
    GrvtOrderState,
    GrvtProtocolError,
    GrvtSigner,
    GrvtTimeInForce,
    InvalidSignature,
    SigningInstrument,
    decode_json,
    encode_json,
    format_book,
    format_decimal,
    format_error_body,
    format_feed,
    format_fill,
    format_instrument,
    format_order,
    format_order_state,
    format_position,
    format_rest_result,
    format_rpc_error,
    format_rpc_result,
    format_set_cookie,
    format_subscribe_result,
    keccak256,
    parse_order,
    parse_rpc_request,
    parse_subscribe_params,
    recover_order_signer,
)
from ._asgi import serve_asgi
from ._exchange import SimExchange, SimUnavailable
from ._matching import (
    REASON_BOOK_UNAVAILABLE,
    REASON_CANCELLED_BY_USER,
    REASON_DUPLICATE_CLIENT_ORDER_ID,
    REASON_FOK_NOT_FILLABLE,
    REASON_INVALID_ORDER,
    REASON_IOC_REMAINDER,
    REASON_POST_ONLY_WOULD_CROSS,
    REASON_REDUCE_ONLY_CAPPED,
    REASON_REDUCE_ONLY_WOULD_INCREASE,
)
from ._wire import CLOSE_INTERNAL, BookDiff, BookMirror, GateMiddleware, RequestGate, SimApiError, WsConnection

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["GrvtSimInfo", "make_test_credentials", "serve_grvt"]

# ---------------------------------------------------------------------------------------------- constants
SESSION_LIFETIME_S: Final = 86_400
"""API-key session lifetime (help.grvt.io: "API Key login: 1 day")."""

MAX_SIGNATURE_AHEAD_NS: Final = 30 * 24 * 3600 * 1_000_000_000
"""Signature expirations further ahead are refused with 2008 (grvt-pysdk signing)."""

DEFAULT_CANCEL_TTL_MS: Final = 1_000
"""TTL of a cancel-by-client-order-id sent without ``time_to_live_ms`` (the venue's default is not documented)."""

MAX_CANCEL_TTL_MS: Final = 5_000
"""Cancel TTLs are rounded down to 100 ms and capped here (apispec ``ApiCancelOrderRequest``)."""

COD_MAX_MS: Final = 300_000
"""Largest cancel-on-disconnect countdown; larger answers 6000 (apispec ``ApiCancelOnDisconnectRequest``)."""

OUTBOX_CAPACITY: Final = 4_096
"""Frames buffered per WebSocket connection before the server drops it as a slow consumer."""

MAX_BODY_BYTES: Final = 1 << 20
"""Largest request body or WebSocket frame accepted (1 MiB)."""

SIM_BALANCE_QUOTE: Final = Decimal("100000")
"""The simulated sub-account's collateral, quote units (margin is not modelled; only reported)."""

SIM_LEVERAGE: Final = Decimal(10)
"""Leverage used to report initial margin (``format_position`` reports ``"10.0"``)."""

_ORDER_ID_PREFIX: Final = 0x01010105  # real ids look like 0x01010105034cddc7000000006621285c
_ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_UINT64_MAX: Final = 2**64 - 1
_KNOWN_HASHES: Final = {"BTC_USDT_Perp": "0x030501"}  # the hash GRVT uses for BTC_USDT_Perp (GRVT docs: instrument)

_REASONS: Final = {
    REASON_POST_ONLY_WOULD_CROSS: "FAIL_POST_ONLY",
    REASON_FOK_NOT_FILLABLE: "FOK_CANCEL",
    REASON_REDUCE_ONLY_WOULD_INCREASE: "FAIL_REDUCE_ONLY",
    REASON_REDUCE_ONLY_CAPPED: "REDUCE_ONLY_LIMIT",
    REASON_DUPLICATE_CLIENT_ORDER_ID: "OVERLAPPING_CLIENT_ORDER_ID",
    REASON_BOOK_UNAVAILABLE: "SYSTEM_FAILOVER",
}
"""Matching-engine reasons -> GRVT ``OrderRejectReason`` (GRVT WS docs: trading streams). Cancels and IOC remainders
depend on the order (see :meth:`_GrvtSim._wire_reason`)."""

_TRIGGER_NONE: Final = {
    "trigger_type": "UNSPECIFIED",
    "tpsl": {"trigger_by": "UNSPECIFIED", "trigger_price": "0.0", "close_position": False},
}

# EIP-712 WalletLogin (ccxt ``eip_definitions``; docs /auth/): digest = keccak(0x1901 || domain || struct).
_DOMAIN_TYPEHASH: Final = keccak256(b"EIP712Domain(string name,string version,uint256 chainId)")
_WALLET_LOGIN_TYPEHASH: Final = keccak256(b"WalletLogin(address signer,uint32 nonce,int64 expiration)")


# ---------------------------------------------------------------------------------------------- public API
@dataclass(frozen=True, slots=True)
class GrvtSimInfo:
    """Where a running GRVT simulator listens and the credentials it accepts.

    Attributes:
        rest (str): base URL of every REST host (edge/auth, market-data, trades): ``http://127.0.0.1:PORT``.
        ws (str): JSON-RPC WebSocket URL: ``ws://127.0.0.1:PORT/ws/full`` (legacy format: ``…/ws``).
        ws_market_data (str), ws_trades (str): the same JSON-RPC endpoint under two more paths
            (``/market-data/ws/full``, ``/trades/ws/full``), as the real venue has two hosts
            (``market-data.grvt.io``, ``trades.grvt.io``): a client that keys its connections by URL (ccxt.pro)
            opens the trading stream with its auth cookie on a connection of its own.
        api_key (str): the API key ``/auth/api_key/login`` accepts (secret: not in repr).
        private_key (str): hex secp256k1 key whose address must sign orders (secret: not in repr).
        sub_account_id (str): the trading sub-account id (uint64 decimal string).
        chain_id (int): EIP-712 domain chain id orders are verified against (325 prod, 326 testnet).
    """

    rest: str
    ws: str
    api_key: str = field(repr=False)
    private_key: str = field(repr=False)
    sub_account_id: str
    chain_id: int
    ws_market_data: str = ""
    ws_trades: str = ""

    def to_json(self) -> dict[str, object]:
        """The fields as a JSON-able dict (for the ``sim`` command's JSON line; it holds the secrets)."""
        return {
            "rest": self.rest,
            "ws": self.ws,
            "ws_market_data": self.ws_market_data,
            "ws_trades": self.ws_trades,
            "api_key": self.api_key,
            "private_key": self.private_key,
            "sub_account_id": self.sub_account_id,
            "chain_id": self.chain_id,
        }


def make_test_credentials(seed: int | None = None) -> tuple[str, str, str]:
    """Fresh simulator credentials: ``(api_key, private_key_hex, sub_account_id)``.

    The API key is 27 base-62 characters like GRVT key ids (``2WYgf9fKibj9wUB1mMb9BpMgFZn``, docs overview);
    the private key 64 hex digits (a valid secp256k1 secret); the sub-account id a 16-digit uint64 string.

    Args:
        seed: a seed for reproducible credentials (tests); None draws from the OS (``secrets``).
    """
    rng: random.Random = random.Random(seed) if seed is not None else secrets.SystemRandom()
    api_key = "".join(rng.choice(_BASE62) for _ in range(27))
    while True:
        k = rng.getrandbits(256)
        if 0 < k < _SECP256K1_N:
            break
    sub_account_id = str(rng.randrange(10**15, 2**53))
    return api_key, f"{k:064x}", sub_account_id


async def serve_grvt(
    exchange: SimExchange,
    venue: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    private_key: str | None = None,
    sub_account_id: str | None = None,
    chain_id: int = 325,
    rate_limit_per_s: float | None = None,
    ping_interval_s: float | None = None,
    task_status: trio.TaskStatus[GrvtSimInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``exchange``'s simulated venue ``venue`` in GRVT's wire protocol until cancelled.

    Takes the venue's private account stream (one taker per venue) and fans its events out to every
    authenticated private subscriber; subscribes to an instrument's market data when a client first asks
    for its book stream. Start it with ``info = await nursery.start(serve_grvt, exchange, "grvt")``.

    Args:
        exchange: the running simulated exchange.
        venue: the venue name in ``exchange`` (e.g. ``"grvt"``).
        host, port: where to listen (port 0 = ephemeral); loopback only.
        api_key, private_key, sub_account_id: the credentials to accept; any left None is drawn by
            :func:`make_test_credentials`. ``private_key``'s address is the only signer accepted on orders
            and wallet logins.
        chain_id: EIP-712 chain id (325 prod, 326 testnet, 327 staging/dev).
        rate_limit_per_s: when set, a token bucket of this rate (burst: one second's worth, at least 1)
            over every REST request and WebSocket ``v1/…`` call; over it the venue answers 1006 / HTTP 429.
        ping_interval_s: seconds between WebSocket Pings hypercorn sends on every connection (its own
            ``websocket_ping_interval``); None (the default) sends none: GRVT's docs describe no server ping.

    Raises:
        KeyError: ``venue`` is not a venue of ``exchange``.
        RuntimeError: the venue's account stream was already taken.
        BadValue: a malformed private key or sub-account id, an unknown chain id, a rate or ping interval that
            is not > 0.
        OSError: the address cannot be bound.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise BadValue(f"the GRVT simulator serves loopback only, not {host!r}")
    if chain_id not in (325, 326, 327):
        raise BadValue(f"unknown GRVT chain id {chain_id!r} (325, 326 or 327)")
    if rate_limit_per_s is not None and not (isinstance(rate_limit_per_s, (int, float)) and rate_limit_per_s > 0):
        raise BadValue("rate_limit_per_s must be a number > 0")
    if ping_interval_s is not None and not (math.isfinite(ping_interval_s) and ping_interval_s > 0):
        raise BadValue("ping_interval_s must be a finite number > 0")
    d_key, d_pk, d_sub = make_test_credentials()
    api_key = api_key if api_key is not None else d_key
    private_key = private_key if private_key is not None else d_pk
    sub_account_id = sub_account_id if sub_account_id is not None else d_sub
    if not (sub_account_id.isascii() and sub_account_id.isdigit() and int(sub_account_id) <= _UINT64_MAX):
        raise BadValue("sub_account_id must be a uint64 decimal string")
    if not api_key:
        raise BadValue("api_key must not be empty")
    signer = GrvtSigner(private_key)
    instruments = exchange.instruments(venue)
    if not instruments:
        raise KeyError(venue)
    account_rx = exchange.take_account_stream(venue)
    sim = _GrvtSim(
        exchange,
        venue,
        instruments,
        api_key=api_key,
        signer_address=signer.address,
        sub_account_id=sub_account_id,
        chain_id=chain_id,
        rate_limit_per_s=rate_limit_per_s,
    )
    del signer
    async with trio.open_nursery() as nursery:
        sim.nursery = nursery
        nursery.start_soon(sim.forward_account_stream, account_rx)
        nursery.start_soon(sim.pump_events)
        nursery.start_soon(sim.cod_watchdog)
        nursery.start_soon(sim.ttl_watchdog)
        bound = await nursery.start(
            partial(serve_asgi, sim.app, host=host, port=port, websocket_ping_interval_s=ping_interval_s)
        )
        sim.log.info("GRVT simulator for {} listening on {}", venue, bound.http_url)
        task_status.started(
            GrvtSimInfo(
                rest=bound.http_url,
                ws=f"{bound.ws_url}/ws/full",
                api_key=api_key,
                private_key=private_key,
                sub_account_id=sub_account_id,
                chain_id=chain_id,
                ws_market_data=f"{bound.ws_url}/market-data/ws/full",
                ws_trades=f"{bound.ws_url}/trades/ws/full",
            )
        )


# ---------------------------------------------------------------------------------------------- internals
class _ApiError(SimApiError):
    """A venue error answer: GRVT ``code`` (and HTTP status from the code table unless given)."""

    def __init__(self, code: int, message: str | None = None, *, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message or ''}")
        self.code = code
        self.message = message
        self.http_status = http_status

    def body(self) -> tuple[int, dict[str, Any]]:
        return format_error_body(self.code, self.message, http_status=self.http_status)

    def response(self) -> Response:
        """``{"code","message","status"}`` with the code table's HTTP status; 1006 (rate limited) with
        ``Retry-After: 1``."""
        status, payload = self.body()
        headers = {"Retry-After": "1"} if self.code == 1006 else None
        return Response(encode_json(payload), status, headers=headers, media_type="application/json")


def _meta_for(instrument: Instrument, taken: set[str]) -> GrvtInstrumentMeta:
    """The GRVT metadata the simulator lists for ``instrument``: ``instrument_hash`` (``0x030501`` for
    BTC_USDT_Perp, else a stable ``0x03xxxx`` derived from the symbol), ``base_decimals`` 9, ``quote_decimals``
    6 (USDT), kind PERPETUAL."""
    h = _KNOWN_HASHES.get(instrument.symbol, "")
    if not h or h in taken:
        n = zlib.crc32(instrument.symbol.encode()) & 0xFFFF
        while (h := f"0x03{n:04x}") in taken or h in _KNOWN_HASHES.values():
            n = (n + 1) & 0xFFFF
    taken.add(h)
    return GrvtInstrumentMeta(instrument.symbol, h, 9, 6, "PERPETUAL")


@dataclass(slots=True)
class _OrderRecord:
    """What the server knows about one order beyond the matching engine: the signed wire order, the venue
    id, the cancel reason it asked for, and (for orders the engine never saw) a synthetic final state."""

    order_id: str
    order: GrvtOrder
    create_time_ns: int
    update_time_ns: int
    cancel_reason: str = ""
    synthetic: tuple[OrderStatus, str] | None = None
    stream_filled: Decimal = ZERO
    stream_notional: Decimal = ZERO

    @property
    def symbol(self) -> str:
        return self.order.symbol

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id


@dataclass(frozen=True, slots=True)
class _CancelStatus:
    """A ``v1.cancel`` event (TTL cancel expired or dropped as a duplicate)."""

    client_order_id: str
    cancel_status: str
    update_time_ns: int


@dataclass(slots=True)
class _PrivateSub:
    stream: str
    selector: str
    symbols: frozenset[str] | None  # None = every instrument
    seq: int = 0


@dataclass(eq=False, slots=True)
class _BookSub:
    conn: _Conn
    stream: str
    selector: str
    symbol: str
    depth: int
    rate_s: float
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


class _Conn(WsConnection):
    """One WebSocket connection (:class:`WsConnection`: the bounded outbox, kill on overflow) and its
    subscriptions."""

    __slots__ = ("authenticated", "legacy", "private", "books")

    def __init__(self, websocket: WebSocket, log: Logger, *, authenticated: bool, legacy: bool) -> None:
        super().__init__(websocket, capacity=OUTBOX_CAPACITY, log=log)
        self.authenticated = authenticated
        self.legacy = legacy
        self.private: dict[tuple[str, str], _PrivateSub] = {}
        self.books: dict[tuple[str, str], _BookSub] = {}

    def send(self, frame: Mapping[str, Any]) -> None:
        """Queue one frame (JSON-encoded here); a full outbox drops the connection (slow consumer, close 1008)."""
        if not self.closed:
            self.send_text(encode_json(frame).decode())


class _BookHub(BookMirror):
    """One instrument's market data (:class:`BookMirror`: the mirror of the exchange's book and its per-batch
    diffs), fanned out to book subscribers in GRVT's feeds: numbers its own deltas (the gateway counter of
    ``v1.book.d``) and bumps ``version`` whenever the book changes (``v1.book.s`` sends when it moved).
    """

    def __init__(self, sim: _GrvtSim, symbol: str) -> None:
        super().__init__(sim.exchange, sim.venue, symbol, log=sim.log)
        self.seq = 0
        self.version = 0
        self.deltas: set[_BookSub] = set()
        self.snapshots: set[_BookSub] = set()

    def on_end(self, *, feed_down: bool) -> None:
        """Stop fanning out. When the exchange killed the feed, drop every subscriber's connection (1011),
        as a venue whose market-data gateway fails does."""
        if feed_down:
            for sub in list(self.deltas) + list(self.snapshots):
                sub.conn.close(CLOSE_INTERNAL, "market data unavailable")
        self.deltas.clear()
        self.snapshots.clear()

    def on_valid(self) -> None:
        """First snapshot, or a recovery: every delta subscriber restarts from a snapshot."""
        self.version += 1
        for sub in list(self.deltas):
            sub.conn.send(self.snapshot_frame(sub))

    def on_diff(self, diff: BookDiff) -> None:
        self.version += 1
        bids = sorted(diff.bids.items(), reverse=True)
        asks = sorted(diff.asks.items())
        self.seq += 1
        feed = format_book(self.symbol, bids, asks, event_time_ns=self.event_time_ns(), num_orders_as_string=False)
        for sub in list(self.deltas):
            sub.conn.send(format_feed(STREAM_BOOK_DELTA, sub.selector, self.seq, self.seq - 1, feed))

    def event_time_ns(self) -> int:
        return self.book.ts_ns or self.exchange.now_ns()

    def snapshot_frame(self, sub: _BookSub) -> dict[str, Any]:
        bids, asks = self.book.snapshot(sub.depth or None)
        feed = format_book(self.symbol, bids, asks, event_time_ns=self.event_time_ns(), num_orders_as_string=False)
        return format_feed(sub.stream, sub.selector, 0, 0, feed)


_RouteFn = Callable[[dict[str, Any]], dict[str, Any]]


class _GrvtSim:
    """The simulator's state and handlers (see the module docstring)."""

    def __init__(
        self,
        exchange: SimExchange,
        venue: str,
        instruments: Mapping[str, Instrument],
        *,
        api_key: str,
        signer_address: str,
        sub_account_id: str,
        chain_id: int,
        rate_limit_per_s: float | None,
    ) -> None:
        self.exchange = exchange
        self.venue = venue
        self.log = logger.bind(tag=f"SIM_{venue.upper()}_WIRE")
        self.instruments = dict(instruments)
        taken: set[str] = set()
        self.meta = {sym: _meta_for(inst, taken) for sym, inst in self.instruments.items()}
        self.signing = {sym: SigningInstrument(sym, m.instrument_hash, m.base_decimals) for sym, m in self.meta.items()}
        self._api_key = api_key
        self.signer_address = signer_address
        self.account_id = signer_address.lower()
        self.sub_account_id = sub_account_id
        self.chain_id = chain_id
        self.latency_s = exchange.settings.latency_s
        # every request and answer waits the one-way latency; over the rate limit: 1006 (HTTP 429, Retry-After)
        self.gate = RequestGate(
            rate_limit_per_s=rate_limit_per_s,
            rate_limited=lambda: _ApiError(1006),
            latency_in_s=self.latency_s,
            latency_out_s=self.latency_s,
        )
        self.create_time_ns = exchange.now_ns()
        self._sessions: dict[str, float] = {}
        self.nursery: trio.Nursery | None = None
        self.hubs = {symbol: _BookHub(self, symbol) for symbol in self.instruments}
        self.conns: set[_Conn] = set()
        # orders
        self._next_order = 0
        self.by_coid: dict[str, _OrderRecord] = {}
        self.by_symbol_coid: dict[tuple[str, str], _OrderRecord] = {}
        self.by_order_id: dict[str, _OrderRecord] = {}
        # event pipeline: exchange account stream + synthetic events, in delivery order
        capacity = max(16, exchange.settings.account_capacity)
        self._events_tx, self._events_rx = trio.open_memory_channel[
            tuple[float, VenueEvent | _CancelStatus, _OrderRecord | None]
        ](capacity)
        # cancel-on-disconnect and cancel TTLs
        self.cod_deadline: float | None = None
        self._cod_changed = trio.Event()
        self.ttl_traps: dict[str, float] = {}
        self._ttl_changed = trio.Event()
        self.routes: dict[str, tuple[bool, _RouteFn]] = {
            # public market data
            "instruments": (False, self.r_instruments),
            "all_instruments": (False, self.r_all_instruments),
            "instrument": (False, self.r_instrument),
            "currency": (False, self.r_currency),
            "book": (False, self.r_book),
            "ticker": (False, self.r_ticker),
            "mini": (False, self.r_mini),
            # private trading / account
            "create_order": (True, self.r_create_order),
            "cancel_order": (True, self.r_cancel_order),
            "cancel_all_orders": (True, self.r_cancel_all_orders),
            "cancel_on_disconnect": (True, self.r_cancel_on_disconnect),
            "order": (True, self.r_order),
            "open_orders": (True, self.r_open_orders),
            "order_history": (True, self.r_order_history),
            "positions": (True, self.r_positions),
            "fill_history": (True, self.r_fill_history),
            "account_summary": (True, self.r_account_summary),
            "aggregated_account_summary": (True, self.r_aggregated_account_summary),
            "get_sub_accounts": (True, self.r_get_sub_accounts),
        }
        self.app = GateMiddleware(
            Starlette(
                routes=[
                    WebSocketRoute("/ws/full", partial(self.ws_endpoint, legacy=False)),
                    WebSocketRoute("/market-data/ws/full", partial(self.ws_endpoint, legacy=False)),
                    WebSocketRoute("/trades/ws/full", partial(self.ws_endpoint, legacy=False)),
                    WebSocketRoute("/ws", partial(self.ws_endpoint, legacy=True)),
                    Route(
                        "/{path:path}", self.http_endpoint, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
                    ),
                ]
            ),
            self.gate,
        )

    # ================================================================== auth
    def _new_session(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        expires_s = int(time.time()) + SESSION_LIFETIME_S
        now = time.time()
        for k in [k for k, exp in self._sessions.items() if exp <= now]:
            del self._sessions[k]
        self._sessions[token] = float(expires_s)
        return token, expires_s

    def _session_ok(self, cookies: Mapping[str, str], headers: Mapping[str, str]) -> bool | None:
        """None: no session cookie; True: a live session with the right account id; False otherwise."""
        token = cookies.get(COOKIE_NAME)
        if not token:
            return None
        expires = self._sessions.get(token)
        if expires is None or expires <= time.time():
            return False
        account = headers.get("x-grvt-account-id", "")
        return hmac.compare_digest(account.lower().encode(), self.account_id.encode())

    def _login_response(self) -> Response:
        token, expires_s = self._new_session()
        body = {
            "status": "success",
            "location": "",
            "funding_account_address": self.account_id,
            "sub_account_id": self.sub_account_id,
        }
        headers = {
            "Set-Cookie": format_set_cookie(token, expires_s, secure=False),
            "X-Grvt-Account-Id": self.account_id,
        }
        return Response(encode_json(body), 200, headers=headers, media_type="application/json")

    def _check_api_key_login(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("api_key"), str):
            raise _ApiError(1003, "api_key: expected a string")
        if not hmac.compare_digest(body["api_key"].encode(), self._api_key.encode()):
            raise _ApiError(1000)

    def _check_wallet_login(self, body: Any) -> None:
        """Verify ccxt's wallet login: ``{"address", "signature": {signer, r, s, v, expiration, nonce}}``
        signed as EIP-712 ``WalletLogin(address signer,uint32 nonce,int64 expiration)`` (ccxt
        ``sign_in_with_private_key``, GRVT docs: login)."""
        if not isinstance(body, dict) or not isinstance(body.get("signature"), dict):
            raise _ApiError(1003, "wallet login needs address and signature")
        sig = body["signature"]
        address = body.get("address")
        try:
            signer_word = _address_word(address)
            nonce = _uint_field(sig.get("nonce"), 2**32 - 1, "nonce")
            expiration = _uint_field(sig.get("expiration"), 2**63 - 1, "expiration")
            v = int(sig["v"]) if isinstance(sig.get("v"), (int, str)) and str(sig["v"]) in ("27", "28") else None
            r, s = _hex32(sig.get("r")), _hex32(sig.get("s"))
        except (BadValue, KeyError):
            raise _ApiError(1003, "malformed wallet login signature") from None
        if v is None:
            raise _ApiError(2005)
        if expiration <= time.time_ns():
            raise _ApiError(2001)
        struct = keccak256(
            _WALLET_LOGIN_TYPEHASH + signer_word + nonce.to_bytes(32, "big") + expiration.to_bytes(32, "big")
        )
        digest = keccak256(b"\x19\x01" + _domain_separator(self.chain_id) + struct)
        try:
            pub = coincurve.PublicKey.from_signature_and_message(
                r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((v - 27,)), digest, hasher=None
            )
        except Exception:
            raise _ApiError(2002) from None
        recovered = "0x" + keccak256(pub.format(compressed=False)[1:])[12:].hex()
        if recovered != str(address).lower() or recovered != self.account_id:
            raise _ApiError(1000)

    # ================================================================== HTTP
    async def http_endpoint(self, request: Request) -> Response:
        """Every HTTP request: auth routes and ``/full/v1/<route>``; always a GRVT-shaped answer."""
        path = request.url.path
        try:
            if request.method != "POST":
                raise _ApiError(1003, "all GRVT requests are POST", http_status=405)
            raw = await _read_body(request)
            body = _decode_body(raw, request.headers.get("content-type", ""))
            if path == "/auth/api_key/login":
                self._check_api_key_login(body)
                response = self._login_response()
                self.log.info("api-key login: session opened")
                return response
            if path == "/auth/wallet/login":
                self._check_wallet_login(body)
                response = self._login_response()
                self.log.info("wallet login: session opened")
                return response
            if not path.startswith("/full/v1/"):
                raise _ApiError(1004, f"no route {path[:80]!r}", http_status=404)
            name = path[len("/full/v1/") :]
            authed = self._session_ok(request.cookies, request.headers) is True
            status, payload = self.dispatch(name, body, authenticated=authed)
        except _ApiError as exc:
            return exc.response()
        except Exception as exc:  # never a traceback to the client
            self.log.exception("unexpected error on {}: {}", path[:80], type(exc).__name__)
            return _ApiError(1002).response()
        return Response(encode_json(payload), status, media_type="application/json")

    def dispatch(self, name: str, body: Any, *, authenticated: bool) -> tuple[int, dict[str, Any]]:
        """Run route ``name`` on ``body``: ``(http_status, response body)``.

        Raises:
            _ApiError: any venue error.
        """
        entry = self.routes.get(name)
        if entry is None:
            raise _ApiError(1004, f"no route {name[:60]!r}", http_status=404)
        private, fn = entry
        if private and not authenticated:
            raise _ApiError(1000)
        if not isinstance(body, dict):
            raise _ApiError(1003, "request body must be a JSON object")
        return 200, fn(body)

    # ================================================================== helpers
    def _check_sub(self, body: Mapping[str, Any], *, mismatch_code: int = 1001) -> None:
        raw = body.get("sub_account_id")
        if raw is None:
            raise _ApiError(1003, "sub_account_id: missing")
        text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
        if not isinstance(text, str) or not (text.isascii() and text.isdigit() and len(text) <= 20):
            raise _ApiError(3020)
        if int(text) > _UINT64_MAX:
            raise _ApiError(3020)
        if int(text) != int(self.sub_account_id):
            raise _ApiError(mismatch_code)

    def _symbols(self, body: Mapping[str, Any]) -> list[str]:
        """The venue's symbols matching the optional ``kind``/``base``/``quote`` list filters (and a single
        ``instrument``, as pysdk's ``fill_history`` sends)."""
        filters = {name: _str_list(body, name) for name in ("kind", "base", "quote")}
        instrument = body.get("instrument")
        if instrument is not None and not isinstance(instrument, str):
            raise _ApiError(1003, "instrument: expected a string")
        out = []
        for sym, inst in self.instruments.items():
            meta = self.meta[sym]
            if instrument is not None and sym != instrument:
                continue
            if filters["kind"] is not None and meta.kind not in filters["kind"]:
                continue
            if filters["base"] is not None and inst.base not in filters["base"]:
                continue
            if filters["quote"] is not None and inst.quote not in filters["quote"]:
                continue
            out.append(sym)
        return out

    def _mid(self, symbol: str) -> Decimal | None:
        return self.exchange.market_book(self.venue, symbol).mid()

    def _instrument_json(self, symbol: str) -> dict[str, Any]:
        out = format_instrument(self.instruments[symbol], self.meta[symbol], create_time_ns=self.create_time_ns)
        out.update(
            {
                "max_position_size": "1000.0",
                "funding_interval_hours": 8,
                "adjusted_funding_rate_cap": "0.3",
                "adjusted_funding_rate_floor": "-0.3",
            }
        )
        return out

    # ================================================================== market data routes
    def r_instruments(self, body: dict[str, Any]) -> dict[str, Any]:
        limit = _opt_uint(body, "limit", default=1000)
        active = body.get("is_active")
        if active is not None and not isinstance(active, bool):
            raise _ApiError(1003, "is_active: expected a boolean")
        if active is False:
            return format_rest_result([])
        return format_rest_result([self._instrument_json(s) for s in self._symbols(body)][: max(limit, 0) or 1000])

    def r_all_instruments(self, body: dict[str, Any]) -> dict[str, Any]:
        active = body.get("is_active")
        if active is False:
            return format_rest_result([])
        return format_rest_result([self._instrument_json(s) for s in self.instruments])

    def r_instrument(self, body: dict[str, Any]) -> dict[str, Any]:
        return format_rest_result(self._instrument_json(self._instrument_arg(body)))

    def _instrument_arg(self, body: Mapping[str, Any]) -> str:
        symbol = body.get("instrument")
        if not isinstance(symbol, str):
            raise _ApiError(1003, "instrument: expected a string")
        if symbol not in self.instruments:
            raise _ApiError(3000)
        return symbol

    def r_currency(self, body: dict[str, Any]) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        known = {"USDT": (3, 6), "USDC": (2, 6)}
        next_id = 10
        for asset in sorted({i.quote for i in self.instruments.values()} | {i.base for i in self.instruments.values()}):
            cid, dec = known.get(asset, (0, 9))
            if cid == 0:
                cid, next_id = next_id, next_id + 1
            out.append({"id": cid, "symbol": asset, "balance_decimals": dec, "quantity_multiplier": str(10**dec)})
        return format_rest_result(out)

    def r_book(self, body: dict[str, Any]) -> dict[str, Any]:
        symbol = self._instrument_arg(body)
        depth = _opt_uint(body, "depth", default=10)
        if depth not in (10, 50, 100, 500):
            raise _ApiError(3031)
        book = self.exchange.market_book(self.venue, symbol)
        bids, asks = book.snapshot(depth) if book.valid else ([], [])
        return format_rest_result(format_book(symbol, bids, asks, event_time_ns=self.exchange.now_ns()))

    def _ticker(self, symbol: str) -> dict[str, Any]:
        book = self.exchange.market_book(self.venue, symbol)
        bid = book.best_bid() if book.valid else None
        ask = book.best_ask() if book.valid else None
        mid = (bid[0] + ask[0]) / 2 if bid and ask else (bid or ask or (ZERO, ZERO))[0]
        d = format_decimal
        return {
            "event_time": str(self.exchange.now_ns()),
            "instrument": symbol,
            "mark_price": d(mid),
            "index_price": d(mid),
            "last_price": d(mid),
            "last_size": "0.0",
            "mid_price": d(mid),
            "best_bid_price": d(bid[0] if bid else ZERO),
            "best_bid_size": d(bid[1] if bid else ZERO),
            "best_ask_price": d(ask[0] if ask else ZERO),
            "best_ask_size": d(ask[1] if ask else ZERO),
        }

    def r_ticker(self, body: dict[str, Any]) -> dict[str, Any]:
        out = self._ticker(self._instrument_arg(body))
        now_ns = self.exchange.now_ns()
        period = 8 * 3600 * 1_000_000_000
        out.update(
            {
                "funding_rate_8h_curr": "0.0", "funding_rate_8h_avg": "0.0", "interest_rate": "0.0",
                "forward_price": "0.0", "buy_volume_24h_b": "0.0", "sell_volume_24h_b": "0.0",
                "buy_volume_24h_q": "0.0", "sell_volume_24h_q": "0.0", "high_price": out["mid_price"],
                "low_price": out["mid_price"], "open_price": out["mid_price"], "open_interest": "0.0",
                "long_short_ratio": "1.0", "funding_rate": "0.0",
                "next_funding_time": str((now_ns // period + 1) * period),
            }
        )  # fmt: skip
        return format_rest_result(out)

    def r_mini(self, body: dict[str, Any]) -> dict[str, Any]:
        return format_rest_result(self._ticker(self._instrument_arg(body)))

    # ================================================================== orders
    def _new_order_id(self) -> str:
        self._next_order += 1
        return f"0x{_ORDER_ID_PREFIX:08x}{self._next_order:024x}"

    def _is_live(self, rec: _OrderRecord) -> bool:
        if rec.synthetic is not None:
            return False
        order = self.exchange.engine(self.venue, rec.symbol).get_order(rec.client_order_id)
        return order is not None and not order.is_terminal

    def _order_json(
        self, rec: _OrderRecord, state: GrvtOrderState, order_id: str, *, stream: bool = False
    ) -> dict[str, Any]:
        """A full GRVT ``Order`` with the fields real answers carry. The signature's ``v`` and ``nonce`` are
        strings in REST answers and numbers on the ``v1.order`` stream, as in the captures (GRVT REST docs "type
        drift": ccxt static fixture vs ccxt.pro ``handle_order`` comment)."""
        out = format_order(replace(rec.order, order_id=order_id, state=state, create_time_ns=rec.create_time_ns))
        sig = rec.order.signature
        v, nonce = int(str(sig.get("v"))), int(str(sig.get("nonce")))  # both validated on create
        out["signature"] = {
            "signer": str(sig.get("signer") or self.signer_address).lower(),
            "r": sig.get("r"),
            "s": sig.get("s"),
            "v": v if stream else str(v),
            "expiration": str(sig.get("expiration")),
            "nonce": nonce if stream else str(nonce),
            "chain_id": str(sig.get("chain_id") or "0"),
        }
        out["metadata"].update(
            {"trigger": _TRIGGER_NONE, "broker": "UNSPECIFIED", "is_position_transfer": False, "allow_crossing": False}
        )
        out["builder"] = "0x00"
        out["builder_fee"] = "0.0"
        return out

    def _wire_reason(self, domain_reason: str, rec: _OrderRecord) -> str:
        if not domain_reason:
            return ""
        if domain_reason == REASON_CANCELLED_BY_USER:
            return rec.cancel_reason or "CLIENT_CANCEL"
        if domain_reason == REASON_IOC_REMAINDER:
            return "MARKET_CANCEL" if rec.order.is_market else "IOC_CANCEL"
        if domain_reason.startswith(REASON_INVALID_ORDER):
            return "INVALID_ORDER_TYPE"
        return _REASONS.get(domain_reason, "UNSPECIFIED")

    def _current_state(self, rec: _OrderRecord) -> GrvtOrderState:
        """The order's state now: the engine's record (or the synthetic one)."""
        if rec.synthetic is not None:
            status, reason = rec.synthetic
            filled, avg = ZERO, None
        else:
            order = self.exchange.engine(self.venue, rec.symbol).get_order(rec.client_order_id)
            if order is None:  # cannot happen: records are made before submitting
                status, reason, filled, avg = OrderStatus.PENDING, "", ZERO, None
            else:
                status, reason, filled, avg = order.status, order.reason, order.filled_size, order.avg_fill_price
        return GrvtOrderState.from_domain(
            status,
            size=rec.order.size,
            filled_size=filled,
            avg_fill_price=avg,
            update_time_ns=rec.update_time_ns,
            reject_reason=self._wire_reason(reason, rec),
        )

    def _rest_order(self, rec: _OrderRecord) -> dict[str, Any]:
        return self._order_json(rec, self._current_state(rec), rec.order_id)

    def _validate_create(self, body: dict[str, Any]) -> GrvtOrder:
        """Check a create_order body the way the venue does (grvt-pysdk signing; GRVT docs: create_order errors; codes
        from apispec). Returns the parsed order. Raises _ApiError."""
        o = body.get("order")
        if not isinstance(o, dict):
            raise _ApiError(1003, "order: expected an object")
        self._check_sub(o, mismatch_code=2003)
        if o.get("order_id") not in (None, "", NO_ORDER_ID, "0x0", "0"):
            raise _ApiError(2010)
        if o.get("state") is not None:
            raise _ApiError(2050)
        md = o.get("metadata")
        coid = md.get("client_order_id") if isinstance(md, dict) else None
        if coid is None or coid == "":
            raise _ApiError(2011)
        if isinstance(md, dict) and isinstance(md.get("trigger"), dict):
            if md["trigger"].get("trigger_type") not in (None, "UNSPECIFIED"):
                raise _ApiError(2112, "trigger orders are not supported by the simulator")
        legs = o.get("legs")
        if not isinstance(legs, list):
            raise _ApiError(1003, "legs: expected an array")
        if not legs:
            raise _ApiError(2040)
        if len(legs) > 1:
            raise _ApiError(2042)
        leg = legs[0]
        if not isinstance(leg, dict):
            raise _ApiError(1003, "legs[0]: expected an object")
        symbol = leg.get("instrument")
        if not isinstance(symbol, str) or symbol not in self.instruments:
            raise _ApiError(2061)
        tif = o.get("time_in_force")
        if not isinstance(tif, str) or tif not in GrvtTimeInForce.__members__:
            raise _ApiError(1003, "time_in_force: unknown value")
        if tif not in ("GOOD_TILL_TIME", "IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"):
            raise _ApiError(2030)
        sig = o.get("signature")
        if not isinstance(sig, dict):
            raise _ApiError(1003, "signature: expected an object")
        wire_chain = sig.get("chain_id")
        if wire_chain not in (None, "", 0, "0") and str(wire_chain) != str(self.chain_id):
            raise _ApiError(1012)
        try:
            recovered = recover_order_signer(body, self.signing, self.chain_id)
        except InvalidSignature as exc:
            raise _ApiError(exc.code) from None
        except BadValue as exc:
            raise _ApiError(1003, str(exc)[:200]) from None
        claimed = sig.get("signer")
        if isinstance(claimed, str) and claimed.lower() != recovered.lower():
            raise _ApiError(2002)
        if recovered.lower() != self.account_id:
            raise _ApiError(2000 if isinstance(claimed, str) else 2002)
        expiration = int(str(sig["expiration"]))  # validated by recover_order_signer
        now_ns = time.time_ns()
        if expiration <= now_ns:
            raise _ApiError(2001)
        if expiration > now_ns + MAX_SIGNATURE_AHEAD_NS:
            raise _ApiError(2008)
        is_market = o.get("is_market") is True
        raw_price = leg.get("limit_price")
        price_zero = raw_price is None or _decimal_or_none(raw_price) == ZERO
        if is_market and not price_zero:
            raise _ApiError(2020)
        if not is_market and price_zero:
            raise _ApiError(2021)
        if o.get("post_only") is True and (tif != "GOOD_TILL_TIME" or is_market):
            raise _ApiError(2032)
        try:
            order = parse_order(o, venue=self.venue)
        except GrvtProtocolError as exc:
            raise _ApiError(1003, str(exc)[:200]) from None
        inst = self.instruments[symbol]
        if order.size < inst.min_size:
            raise _ApiError(2062)
        if not is_multiple(order.size, inst.lot_size):
            raise _ApiError(2065)
        px = order.limit_price
        if px is not None:
            if not is_multiple(px, inst.tick_size):
                raise _ApiError(2064)
            if px * order.size < inst.min_notional:
                raise _ApiError(2066)
        else:
            mid = self._mid(symbol)
            if mid is not None and mid * order.size < inst.min_notional:
                raise _ApiError(2066)
        if order.reduce_only:
            pos = self.exchange.engine(self.venue, symbol).position().size
            if pos == ZERO:
                raise _ApiError(2400)
            if (pos > ZERO) == (order.side is Side.BUY):
                raise _ApiError(2401)
            if order.size > abs(pos):
                raise _ApiError(2402)
        existing = self.by_coid.get(order.client_order_id)
        if existing is not None and self._is_live(existing):
            raise _ApiError(2012)
        return order

    def r_create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        order = self._validate_create(body)
        try:
            request = order.to_request(reason="grvt-wire")
        except GrvtProtocolError as exc:
            raise _ApiError(1003, str(exc)[:200]) from None
        now_ns = self.exchange.now_ns()
        rec = _OrderRecord(self._new_order_id(), order, now_ns, now_ns)
        coid = order.client_order_id
        engine = self.exchange.engine(self.venue, order.symbol)
        self.by_order_id[rec.order_id] = rec
        trap = self.ttl_traps.pop(coid, None)
        if trap is not None and trap >= trio.current_time():
            # A cancel-by-client-order-id arrived first and is still armed: the order never reaches the book.
            rec.synthetic = (OrderStatus.CANCELLED, REASON_CANCELLED_BY_USER)
            rec.cancel_reason = "CLIENT_CANCEL"
            self._register(rec)
            self._inject(self._update(rec, OrderStatus.CANCELLED, REASON_CANCELLED_BY_USER, now_ns), rec)
            self.log.info("order {} cancelled on arrival by an armed cancel TTL", coid)
        elif engine.get_order(coid) is not None:
            # The engine never reuses a client order id (a finished order had it): reject on the stream.
            rec.synthetic = (OrderStatus.REJECTED, REASON_DUPLICATE_CLIENT_ORDER_ID)
            self._inject(self._update(rec, OrderStatus.REJECTED, REASON_DUPLICATE_CLIENT_ORDER_ID, now_ns), rec)
        else:
            self._register(rec)
            self.exchange.submit(self.venue, request)
        pending = GrvtOrderState.from_domain(
            OrderStatus.PENDING, size=order.size, filled_size=ZERO, avg_fill_price=None, update_time_ns=now_ns
        )
        return format_rest_result(self._order_json(rec, pending, NO_ORDER_ID))

    def _register(self, rec: _OrderRecord) -> None:
        self.by_coid[rec.client_order_id] = rec
        self.by_symbol_coid[(rec.symbol, rec.client_order_id)] = rec

    def _update(self, rec: _OrderRecord, status: OrderStatus, reason: str, ts_ns: int) -> OrderUpdate:
        return OrderUpdate(
            venue=self.venue,
            symbol=rec.symbol,
            client_order_id=rec.client_order_id,
            status=status,
            venue_order_id=rec.order_id,
            filled_size=ZERO,
            reason=reason,
            ts_ns=ts_ns,
        )

    def _cancel(self, rec: _OrderRecord, reason: str) -> None:
        rec.cancel_reason = reason
        rec.update_time_ns = self.exchange.now_ns()
        self.exchange.cancel(self.venue, rec.symbol, rec.client_order_id)

    def _cancel_symbols(self, symbols: Iterable[str], reason: str) -> int:
        n = 0
        now_ns = self.exchange.now_ns()
        for sym in symbols:
            for order in self.exchange.engine(self.venue, sym).open_orders():
                rec = self.by_symbol_coid.get((sym, order.client_order_id))
                if rec is not None:
                    rec.cancel_reason = reason
                    rec.update_time_ns = now_ns
            n += self.exchange.cancel_all(self.venue, sym)
        return n

    def r_cancel_order(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        oid, coid = body.get("order_id"), body.get("client_order_id")
        has_oid, has_coid = oid not in (None, "", NO_ORDER_ID), coid not in (None, "")
        if has_oid == has_coid:
            raise _ApiError(3021)
        ttl_ms = _opt_uint(body, "time_to_live_ms", default=0)
        ttl_ms = min(MAX_CANCEL_TTL_MS, ttl_ms // 100 * 100) or DEFAULT_CANCEL_TTL_MS
        if has_oid:
            if not isinstance(oid, str):
                raise _ApiError(1003, "order_id: expected a string")
            rec = self.by_order_id.get(oid)
            if rec is not None and self._is_live(rec):
                self._cancel(rec, "CLIENT_CANCEL")
            return format_rest_result({"ack": True})
        coid_s = str(coid) if isinstance(coid, int) and not isinstance(coid, bool) else coid
        if not isinstance(coid_s, str) or not (coid_s.isascii() and coid_s.isdigit()) or int(coid_s) > _UINT64_MAX:
            raise _ApiError(1003, "client_order_id: expected a uint64 decimal string")
        rec = self.by_coid.get(coid_s)
        if rec is None:
            now = trio.current_time()
            armed = self.ttl_traps.get(coid_s)
            if armed is not None and armed >= now:
                self._inject(_CancelStatus(coid_s, "DROPPED_DUPLICATE", self.exchange.now_ns()), None)
            else:
                self.ttl_traps[coid_s] = now + ttl_ms / 1000
                self._ttl_changed.set()
                self._ttl_changed = trio.Event()
        elif self._is_live(rec):
            self._cancel(rec, "CLIENT_CANCEL")
        return format_rest_result({"ack": True})

    def r_cancel_all_orders(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        self._cancel_symbols(self._symbols(body), "CLIENT_BULK_CANCEL")
        return format_rest_result({"ack": True})

    def r_cancel_on_disconnect(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        countdown_ms = _opt_uint(body, "countdown_time", default=0)
        if countdown_ms > COD_MAX_MS:
            raise _ApiError(6000)
        countdown_ms = countdown_ms // 1000 * 1000 if countdown_ms > 1000 else 0  # apispec: 0..1000 terminates
        self.cod_deadline = trio.current_time() + countdown_ms / 1000 if countdown_ms else None
        self._cod_changed.set()
        self._cod_changed = trio.Event()
        return format_rest_result({"ack": True})

    def r_order(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        oid, coid = body.get("order_id"), body.get("client_order_id")
        rec: _OrderRecord | None = None
        if oid not in (None, "", NO_ORDER_ID):
            rec = self.by_order_id.get(oid) if isinstance(oid, str) else None
        elif coid not in (None, ""):
            rec = self.by_coid.get(str(coid))
        else:
            raise _ApiError(3021)
        if rec is None:
            raise _ApiError(1004)
        return format_rest_result(self._rest_order(rec))

    def r_open_orders(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        out = []
        for sym in self._symbols(body):
            for order in self.exchange.engine(self.venue, sym).open_orders():
                rec = self.by_symbol_coid.get((sym, order.client_order_id))
                if rec is not None:
                    out.append(self._rest_order(rec))
        return format_rest_result(out)

    def r_order_history(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        symbols = set(self._symbols(body))
        recs = [r for r in self.by_order_id.values() if r.symbol in symbols and not self._is_live(r)]
        recs.sort(key=lambda r: r.create_time_ns, reverse=True)
        page, cursor = _page(recs, body)
        return format_rest_result([self._rest_order(r) for r in page], next_cursor=cursor)

    def r_positions(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        return format_rest_result(self._positions(self._symbols(body)))

    def _positions(self, symbols: Iterable[str]) -> list[dict[str, Any]]:
        out = []
        now_ns = self.exchange.now_ns()
        for sym in symbols:
            pos = self.exchange.engine(self.venue, sym).position()
            if pos.size != ZERO:
                mark = self._mid(sym)
                out.append(
                    format_position(pos, sub_account_id=self.sub_account_id, event_time_ns=now_ns, mark_price=mark)
                )
        return out

    def r_fill_history(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        start = _opt_uint(body, "start_time", default=0)
        end = _opt_uint(body, "end_time", default=2**63 - 1)
        fills: list[Fill] = []
        for sym in self._symbols(body):
            fills.extend(f for f in self.exchange.engine(self.venue, sym).fills if start <= f.ts_ns <= end)
        fills.sort(key=lambda f: f.ts_ns, reverse=True)
        page, cursor = _page(fills, body)
        return format_rest_result([self._fill_json(f) for f in page], next_cursor=cursor)

    def _fill_json(self, fill: Fill) -> dict[str, Any]:
        rec = self.by_symbol_coid.get((fill.symbol, fill.client_order_id))
        return format_fill(
            fill,
            sub_account_id=self.sub_account_id,
            order_id=rec.order_id if rec is not None else NO_ORDER_ID,
            signer=self.account_id,
            mark_price=self._mid(fill.symbol),
        )

    def _equity(self) -> tuple[Decimal, Decimal, Decimal, list[dict[str, Any]]]:
        """(total equity, unrealized pnl, initial margin, positions JSON) of the sub-account."""
        unrealized = realized = margin = ZERO
        for sym in self.instruments:
            pos = self.exchange.engine(self.venue, sym).position()
            realized += pos.realized_pnl
            if pos.size != ZERO and pos.entry_price is not None:
                mark = self._mid(sym) or pos.entry_price
                unrealized += (mark - pos.entry_price) * pos.size
                margin += abs(mark * pos.size) / SIM_LEVERAGE
        equity = SIM_BALANCE_QUOTE + realized + unrealized
        return equity, unrealized, margin, self._positions(self.instruments)

    def r_account_summary(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_sub(body)
        equity, unrealized, margin, positions = self._equity()
        d = format_decimal
        quote = next(iter(self.instruments.values())).quote
        return format_rest_result(
            {
                "event_time": str(self.exchange.now_ns()),
                "sub_account_id": self.sub_account_id,
                "margin_type": "SIMPLE_CROSS_MARGIN",
                "settle_currency": quote,
                "unrealized_pnl": d(unrealized),
                "total_equity": d(equity),
                "initial_margin": d(margin),
                "maintenance_margin": d(margin / 2),
                "available_balance": d(equity - margin),
                "spot_balances": [{"currency": quote, "balance": d(equity - unrealized), "index_price": "1.0"}],
                "positions": positions,
                "settle_index_price": "1.0",
                "derisk_margin": "0.0",
                "derisk_to_maintenance_margin_ratio": "1.0",
                "total_cross_equity": d(equity),
                "cross_unrealized_pnl": d(unrealized),
            }
        )

    def r_aggregated_account_summary(self, body: dict[str, Any]) -> dict[str, Any]:
        equity, unrealized, margin, _ = self._equity()
        d = format_decimal
        quote = next(iter(self.instruments.values())).quote
        return format_rest_result(
            {
                "main_account_id": self.account_id,
                "total_equity": d(equity),
                "spot_balances": [{"currency": quote, "balance": d(equity - unrealized), "index_price": "1.0"}],
                "vault_investments": [],
                "total_sub_account_balance": d(equity),
                "total_sub_account_equity": d(equity),
                "total_vault_investments_balance": "0.0",
                "total_sub_account_available_balance": d(equity - margin),
                "total_usd_notional_invested": "0.0",
            }
        )

    def r_get_sub_accounts(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"sub_account_ids": [self.sub_account_id]}  # apispec ApiGetSubAccountsResponse: no envelope

    # ================================================================== countdowns
    async def cod_watchdog(self) -> None:
        """Cancel-on-disconnect: when the countdown runs out without a refresh, cancel every open order of
        the sub-account with reason ``CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED`` (apispec.json
        ``ApiCancelOnDisconnectRequest``; GRVT docs: cancel_on_disconnect)."""
        while True:
            changed, deadline = self._cod_changed, self.cod_deadline
            with trio.move_on_at(deadline if deadline is not None else math.inf):
                await changed.wait()
                continue
            if self.cod_deadline == deadline:
                self.cod_deadline = None
                n = self._cancel_symbols(self.instruments, "CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED")
                self.log.warning("cancel-on-disconnect countdown ran out: {} open orders cancelled", n)

    async def ttl_watchdog(self) -> None:
        """Expire armed cancel TTLs whose order never came: a ``v1.cancel`` ``EXPIRED`` event each."""
        while True:
            changed = self._ttl_changed
            now = trio.current_time()
            for coid in [c for c, t in self.ttl_traps.items() if t < now]:
                del self.ttl_traps[coid]
                self._inject(_CancelStatus(coid, "EXPIRED", self.exchange.now_ns()), None)
            nxt = min(self.ttl_traps.values(), default=math.inf)
            with trio.move_on_at(nxt + 0.001 if nxt != math.inf else math.inf):
                await changed.wait()

    # ================================================================== private event pipeline
    def _inject(self, item: VenueEvent | _CancelStatus, rec: _OrderRecord | None) -> None:
        try:
            self._events_tx.send_nowait((trio.current_time() + self.latency_s, item, rec))
        except trio.WouldBlock:
            self.log.error("private event buffer full; synthetic event dropped: {}", item)

    async def forward_account_stream(self, account_rx: trio.MemoryReceiveChannel[tuple[float, VenueEvent]]) -> None:
        async with account_rx:
            async for at, event in account_rx:
                await self._events_tx.send((at, event, None))

    async def pump_events(self) -> None:
        """Deliver private events in order, each at its delivery time, to every matching subscription."""
        async for at, item, rec in self._events_rx:
            await trio.sleep_until(at)
            try:
                self._deliver(item, rec)
            except TrioHedgeError as exc:  # a malformed event must not kill the stream
                self.log.error("private event not deliverable ({}): {}", exc, item)

    def _deliver(self, item: VenueEvent | _CancelStatus, rec: _OrderRecord | None) -> None:
        frames: list[tuple[str, str | None, dict[str, Any]]] = []
        if isinstance(item, _CancelStatus):
            feed = {
                "sub_account_id": self.sub_account_id,
                "client_order_id": item.client_order_id,
                "order_id": NO_ORDER_ID,
                "reason": "UNSPECIFIED",
                "update_time": str(item.update_time_ns),
                "cancel_status": item.cancel_status,
            }
            frames.append((STREAM_CANCEL, None, feed))
        elif isinstance(item, OrderUpdate):
            rec = rec or self.by_symbol_coid.get((item.symbol, item.client_order_id))
            if rec is None:
                self.log.error("order update for an unknown order {}", item.client_order_id)
                return
            rec.update_time_ns = max(rec.update_time_ns, item.ts_ns)
            avg = rec.stream_notional / rec.stream_filled if rec.stream_filled > ZERO else None
            state = GrvtOrderState.from_domain(
                item.status,
                size=rec.order.size,
                filled_size=item.filled_size if item.filled_size is not None else rec.stream_filled,
                avg_fill_price=avg,
                update_time_ns=item.ts_ns,
                reject_reason=self._wire_reason(item.reason, rec),
            )
            frames.append((STREAM_ORDER, rec.symbol, self._order_json(rec, state, rec.order_id, stream=True)))
            state_feed = {
                "order_id": rec.order_id,
                "client_order_id": rec.client_order_id,
                "order_state": format_order_state(state),
            }
            frames.append((STREAM_ORDER_STATE, rec.symbol, state_feed))
        elif isinstance(item, Fill):
            rec = self.by_symbol_coid.get((item.symbol, item.client_order_id))
            if rec is not None:
                rec.stream_filled += item.size
                rec.stream_notional += item.size * item.price
            frames.append((STREAM_FILL, item.symbol, self._fill_json(item)))
        elif isinstance(item, PositionUpdate):
            pos = item.position
            feed = format_position(
                pos, sub_account_id=self.sub_account_id, event_time_ns=item.ts_ns, mark_price=self._mid(pos.symbol)
            )
            frames.append((STREAM_POSITION, pos.symbol, feed))
        for stream, symbol, feed in frames:
            for conn in list(self.conns):
                for sub in list(conn.private.values()):
                    if sub.stream != stream:
                        continue
                    if symbol is None and sub.symbols is not None:
                        continue
                    if symbol is not None and sub.symbols is not None and symbol not in sub.symbols:
                        continue
                    sub.seq += 1
                    conn.send(format_feed(stream, sub.selector, sub.seq, sub.seq - 1, feed))

    # ================================================================== WebSocket
    def _ws_auth(self, websocket: WebSocket) -> bool | None:
        return self._session_ok(websocket.cookies, websocket.headers)

    async def ws_endpoint(self, websocket: WebSocket, *, legacy: bool) -> None:
        """One WebSocket connection (``/ws/full`` JSON-RPC, ``/ws`` legacy)."""
        auth = self._ws_auth(websocket)
        if auth is False:
            status, body = format_error_body(1000)
            await websocket.send_denial_response(Response(encode_json(body), status, media_type="application/json"))
            return
        await websocket.accept()
        conn = _Conn(websocket, self.log, authenticated=auth is True, legacy=legacy)
        self.conns.add(conn)
        try:
            await conn.serve(partial(self._on_ws_message, conn), max_message_bytes=MAX_BODY_BYTES)
        finally:
            self.conns.discard(conn)
            for sub in conn.books.values():
                sub.scope.cancel()
                hub = self.hubs.get(sub.symbol)
                if hub is not None:
                    hub.deltas.discard(sub)
                    hub.snapshots.discard(sub)
            conn.books.clear()
            conn.private.clear()

    async def _on_ws_message(self, conn: _Conn, data: str | bytes) -> None:
        try:
            if conn.legacy:
                await self._handle_legacy(conn, data)
            else:
                await self._handle_rpc(conn, data)
        except Exception as exc:  # a bug must not kill the server; answer like the venue does
            self.log.exception("unexpected error on a WebSocket request: {}", type(exc).__name__)
            conn.send(format_rpc_error(None, "", 1002) if not conn.legacy else format_error_body(1002)[1])

    async def _handle_rpc(self, conn: _Conn, data: str | bytes) -> None:
        try:
            req = parse_rpc_request(data, venue=self.venue)
        except GrvtProtocolError as exc:
            conn.send(format_rpc_error(_raw_id(data), "", 1003, str(exc)[:200]))
            return
        method = req.method
        try:
            if method in ("subscribe", "unsubscribe"):
                try:
                    stream, selectors, _global = parse_subscribe_params(req.params, venue=self.venue)
                except GrvtProtocolError as exc:
                    raise _ApiError(1003, str(exc)[:200]) from None
                rid = req.request_id
                if method == "subscribe":
                    await self._subscribe(
                        conn, stream, selectors, lambda result: conn.send(format_rpc_result(rid, "subscribe", result))
                    )
                else:  # the docs answer an unsubscribe with method "subscribe" (GRVT WS docs: subscribe)
                    self._unsubscribe(conn, stream, selectors)
                    conn.send(format_rpc_result(rid, "subscribe", {"stream": stream, "unsubs": list(selectors)}))
                return
            if not method.startswith("v1/"):
                raise _ApiError(1003, f"unknown method {method[:40]!r}")
            self.gate.admit()
            await self.gate.delay_in()
            _, body = self.dispatch(method[3:], req.params, authenticated=conn.authenticated)
            await self.gate.delay_out()
            conn.send(format_rpc_result(req.request_id, method, body))
        except _ApiError as exc:
            conn.send(format_rpc_error(req.request_id, method, exc.code, exc.message))

    async def _handle_legacy(self, conn: _Conn, data: str | bytes) -> None:
        """Legacy ``/ws`` subscribe: ``{"request_id","stream","feed":[…],"method","is_full"}`` (GRVT WS docs:
        subscribe)."""
        try:
            obj = decode_json(data, venue=self.venue)
            if not isinstance(obj, dict):
                raise _ApiError(1003)
            method, stream, feeds = obj.get("method"), obj.get("stream"), obj.get("feed")
            request_id = obj.get("request_id")
            if method not in ("subscribe", "unsubscribe") or not isinstance(stream, str):
                raise _ApiError(1003)
            if not isinstance(feeds, list) or not feeds or not all(isinstance(f, str) and f for f in feeds):
                raise _ApiError(1003)
        except GrvtProtocolError:
            conn.send(format_error_body(1003)[1])
            return
        except _ApiError as exc:
            conn.send(exc.body()[1])
            return

        def respond(result: dict[str, Any]) -> None:
            conn.send({"request_id": request_id, **result})

        try:
            if method == "subscribe":
                await self._subscribe(conn, stream, tuple(feeds), respond)
            else:
                self._unsubscribe(conn, stream, tuple(feeds))
                respond({"stream": stream, "subs": [], "unsubs": list(feeds)})
        except _ApiError as exc:
            conn.send(exc.body()[1])

    # ------------------------------------------------------------------ subscriptions
    async def _subscribe(
        self, conn: _Conn, stream: str, selectors: Sequence[str], respond: Callable[[dict[str, Any]], None]
    ) -> None:
        """Validate every selector, then (with no await in between) answer, register and send snapshots.

        Raises:
            _ApiError: a bad selector (1101, 3000, 3020, 3030, 3031), an unauthenticated private stream
                (1000), a stream the simulator does not serve (1004), the feed down (1002).
        """
        if stream in (STREAM_BOOK_SNAPSHOT, STREAM_BOOK_DELTA):
            parsed = [self._parse_book_selector(stream, s) for s in selectors]
            for symbol, _, _ in parsed:
                await self._ensure_hub(symbol)
            hubs = [self.hubs[symbol] for symbol, _, _ in parsed]
            if not all(hub.running for hub in hubs):  # the feed died while we were starting other hubs
                raise _ApiError(1002, "market data unavailable")
            firsts = [h.seq + 1 for h in hubs] if stream == STREAM_BOOK_DELTA else [0] * len(hubs)
            respond(
                format_subscribe_result(
                    stream,
                    list(selectors),
                    first_sequence_numbers=firsts,
                    latest_sequence_numbers=[max(f - 1, 0) for f in firsts],
                )
            )
            for selector, (symbol, depth, rate_s), hub in zip(selectors, parsed, hubs, strict=True):
                old = conn.books.pop((stream, symbol), None)  # same primary selector: replaced
                if old is not None:
                    old.scope.cancel()
                    hub.deltas.discard(old)
                    hub.snapshots.discard(old)
                sub = _BookSub(conn, stream, selector, symbol, depth, rate_s)
                conn.books[(stream, symbol)] = sub
                if stream == STREAM_BOOK_DELTA:
                    hub.deltas.add(sub)
                    if hub.book.valid:
                        conn.send(hub.snapshot_frame(sub))
                else:
                    hub.snapshots.add(sub)
                    assert conn.nursery is not None
                    conn.nursery.start_soon(self._book_s_loop, hub, sub)
            return
        if stream in (STREAM_ORDER, STREAM_ORDER_STATE, STREAM_FILL, STREAM_POSITION, STREAM_CANCEL):
            if not conn.authenticated:
                raise _ApiError(1000)
            filters = [self._parse_account_selector(stream, s) for s in selectors]
            snapshots: list[list[dict[str, Any]]] = []
            for symbols in filters:
                if stream == STREAM_POSITION:
                    snapshots.append(self._positions(symbols if symbols is not None else self.instruments))
                else:
                    snapshots.append([])
            respond(
                format_subscribe_result(
                    stream,
                    list(selectors),
                    first_sequence_numbers=[1] * len(selectors),
                    latest_sequence_numbers=[0] * len(selectors),
                    num_snapshots=[len(s) for s in snapshots],
                )
            )
            for selector, symbols, snaps in zip(selectors, filters, snapshots, strict=True):
                conn.private[(stream, selector)] = _PrivateSub(stream, selector, symbols)
                for feed in snaps:
                    conn.send(format_feed(stream, selector, 0, 0, feed))
            return
        raise _ApiError(1004, f"stream {stream[:40]!r} is not served by the simulator")

    def _unsubscribe(self, conn: _Conn, stream: str, selectors: Sequence[str]) -> None:
        for selector in selectors:
            conn.private.pop((stream, selector), None)
            symbol = selector.split("@", 1)[0]
            sub = conn.books.get((stream, symbol))
            if sub is not None and sub.selector == selector:
                del conn.books[(stream, symbol)]
                sub.scope.cancel()
                hub = self.hubs.get(symbol)
                if hub is not None:
                    hub.deltas.discard(sub)
                    hub.snapshots.discard(sub)

    def _parse_book_selector(self, stream: str, selector: str) -> tuple[str, int, float]:
        """``(symbol, depth, rate_s)`` of a book selector (GRVT WS docs: selectors). Raises _ApiError
        1101/3000/3030/3031."""
        symbol, at, secondary = selector.partition("@")
        if not at or not secondary:
            raise _ApiError(1101)
        if symbol not in self.instruments:
            raise _ApiError(3000)
        if stream == STREAM_BOOK_SNAPSHOT:
            rate, dash, depth_s = secondary.partition("-")
            if not dash or not rate.isdigit() or not depth_s.isdigit():
                raise _ApiError(1103)
            if int(rate) not in (500, 1000):
                raise _ApiError(3030)
            if int(depth_s) not in (10, 50, 100, 500):
                raise _ApiError(3031)
            return symbol, int(depth_s), int(rate) / 1000
        if not secondary.isdigit():
            raise _ApiError(1103)
        if int(secondary) not in (50, 100, 500, 1000):
            raise _ApiError(3030)
        return symbol, 0, int(secondary) / 1000

    def _parse_account_selector(self, stream: str, selector: str) -> frozenset[str] | None:
        """The symbols a private selector covers (None = all): ``{sub}``, ``{sub}-{instrument}``,
        ``{sub}-{kind}-{base}-{quote}`` (GRVT WS docs: selectors). Raises _ApiError 3020/1001/3000/1102."""
        sub, dash, rest = selector.partition("-")
        if not (sub.isascii() and sub.isdigit() and len(sub) <= 20) or int(sub) > _UINT64_MAX:
            raise _ApiError(3020)
        if int(sub) != int(self.sub_account_id):
            raise _ApiError(1001)
        if not dash:
            return None
        if stream == STREAM_CANCEL:
            raise _ApiError(1102)
        if rest in self.instruments:
            return frozenset({rest})
        parts = rest.split("-")
        if len(parts) == 3:
            kind, base, quote = parts
            found = frozenset(
                s
                for s, inst in self.instruments.items()
                if self.meta[s].kind == kind and inst.base == base and inst.quote == quote
            )
            if found:
                return found
        raise _ApiError(3000)

    async def _ensure_hub(self, symbol: str) -> _BookHub:
        """The symbol's book hub, running. Raises _ApiError 1002 when the feed is down."""
        hub = self.hubs[symbol]
        assert self.nursery is not None
        try:
            await hub.start(self.nursery)
        except SimUnavailable:
            raise _ApiError(1002, "market data unavailable") from None
        return hub

    async def _book_s_loop(self, hub: _BookHub, sub: _BookSub) -> None:
        """``v1.book.s``: a snapshot of the top ``depth`` levels every ``rate`` while the book moves."""
        with sub.scope:
            last = -1
            while True:
                if hub.book.valid and hub.version != last:
                    last = hub.version
                    sub.conn.send(hub.snapshot_frame(sub))
                await trio.sleep(sub.rate_s)


# ---------------------------------------------------------------------------------------------- small helpers
async def _read_body(request: Request) -> bytes:
    """The request body, at most ``MAX_BODY_BYTES``. A larger body is read to its end (up to 4x the limit)
    and discarded before the 1003 answer, so that the client, still sending, gets to read it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > 4 * MAX_BODY_BYTES:
        raise _ApiError(1003, "request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > 4 * MAX_BODY_BYTES:
            break
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
    if size > MAX_BODY_BYTES:
        raise _ApiError(1003, "request body too large")
    return b"".join(chunks)


def _decode_body(raw: bytes, content_type: str) -> Any:
    """A request body as the venue reads it: JSON with ``Content-Type: application/json`` (else 1003)."""
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise _ApiError(1003, "Content-Type must be application/json")
    try:
        return decode_json(raw or b"{}")
    except GrvtProtocolError as exc:
        raise _ApiError(1003, str(exc)[:200]) from None


def _raw_id(data: str | bytes) -> int | None:
    try:
        obj = decode_json(data)
    except GrvtProtocolError:
        return None
    rid = obj.get("id", obj.get("i")) if isinstance(obj, dict) else None
    return rid if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid < 2**32 else None


def _opt_uint(body: Mapping[str, Any], name: str, *, default: int) -> int:
    """An optional unsigned integer field (int or decimal string). Raises _ApiError 1003."""
    value = body.get(name)
    if value is None or value == "":
        return default
    try:
        return _uint_field(value, 2**63 - 1, name)
    except BadValue as exc:
        raise _ApiError(1003, str(exc)) from None


def _uint_field(value: Any, maximum: int, name: str) -> int:
    if isinstance(value, bool):
        raise BadValue(f"{name}: expected an unsigned integer")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 20):
            raise BadValue(f"{name}: expected an unsigned integer")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= maximum:
        raise BadValue(f"{name}: expected an unsigned integer <= {maximum}")
    return value


def _str_list(body: Mapping[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _ApiError(1003, f"{name}: expected an array of strings")
    return value


def _decimal_or_none(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        d = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _page(items: list[Any], body: Mapping[str, Any]) -> tuple[list[Any], str]:
    """One page of a newest-first history: ``limit`` (default 500, max 1000) from the ``cursor`` (an offset
    this server issued). Returns (page, next cursor or "")."""
    limit = min(_opt_uint(body, "limit", default=500) or 500, 1000)
    cursor = body.get("cursor")
    start = 0
    if cursor not in (None, ""):
        if not isinstance(cursor, str) or not cursor.isdigit() or len(cursor) > 12:
            raise _ApiError(1003, "cursor: not a cursor this venue issued")
        start = int(cursor)
    page = items[start : start + limit]
    return page, str(start + limit) if start + limit < len(items) else ""


def _address_word(address: Any) -> bytes:
    if not isinstance(address, str) or len(address) != 42 or not address.startswith(("0x", "0X")):
        raise BadValue("address: expected 0x + 40 hex digits")
    try:
        return bytes(12) + bytes.fromhex(address[2:])
    except ValueError:
        raise BadValue("address: expected 0x + 40 hex digits") from None


def _hex32(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or not 3 <= len(value) <= 66:
        raise BadValue("signature r/s: expected 0x-prefixed hex")
    try:
        n = int(value, 16)
    except ValueError:
        raise BadValue("signature r/s: expected 0x-prefixed hex") from None
    if not 0 < n < _SECP256K1_N:
        raise BadValue("signature r/s out of range")
    return n


def _domain_separator(chain_id: int) -> bytes:
    """EIP-712 domain separator of ``{"name": "GRVT Exchange", "version": "0", "chainId": chain_id}`` (grvt-pysdk
    signing)."""
    return keccak256(_DOMAIN_TYPEHASH + keccak256(b"GRVT Exchange") + keccak256(b"0") + chain_id.to_bytes(32, "big"))

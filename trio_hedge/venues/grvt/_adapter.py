"""The GRVT venue adapter: native Trio, over httpx (REST) and trio-websocket (JSON-RPC ``/ws/full``).

Implements :class:`~trio_hedge.venues.Venue`. grvt-pysdk is not called (it is sync ``requests`` or asyncio,
wire-formats A6); only our pure pieces are reused: :mod:`._signing` (EIP-712 order signatures) and
:mod:`._wire` (every REST/WS shape, the error mapping, the cookie, client order ids).

Sources: ``/work/shared/docs/wire-formats.md`` part A (A1 auth, A2 REST, A4 WebSocket, A5 errors) and
``/work/shared/docs/reliability-notes.md`` (§0 G2/G3/G4: unknown outcomes, cancel-on-disconnect, heartbeat).

Task tree (inside :func:`open_grvt_venue`'s nursery)::

    auth              refresh the ``gravity`` session cookie before it expires (A1)
    cancel-on-disc.   POST cancel_on_disconnect every ``cod_refresh_s`` while the session is open; 0 on close
    feed × symbol     market-data ``/ws/full``: subscribe ``v1.book.d`` (a snapshot, then deltas, A4.4),
                      apply in-task to the local OrderBook with sequence checks (levels handed to the
                      book as decoded: ``OrderBook.apply_raw_*`` parses them); heartbeat; on a gap, a
                      malformed frame or a dead socket: book invalid, reconnect (A4.4: "gap => reconnect")
    private stream    trades ``/ws/full`` (cookie + X-Grvt-Account-Id on the upgrade, A4.1): subscribe
                      ``v1.order``/``v1.state``/``v1.fill``/``v1.position``, route events to bounded
                      per-symbol channels, carry JSON-RPC ``v1/create_order`` requests and their answers;
                      heartbeat; after a reconnect (or a private sequence gap) reconcile by REST

Order path: :meth:`GrvtVenue.place` signs the order (random nonce, expiration ``now + order_expiry_s``),
sends it as JSON-RPC over the trades WebSocket and waits ``order_ack_timeout_s`` for the answer; when that
socket is down it POSTs ``create_order`` instead. No answer, a broken connection after sending, a 5xx or a
garbled success body raise :class:`UnknownOutcome`; the order stays resolvable by client order id
(:meth:`order_status`), and a repeated ``place`` with the same id never sends a second order.

Cancel-on-disconnect policy: armed for the whole session (not only while orders rest), so an order placed
just before the process dies is covered too; refreshed every ``cod_refresh_s``, disabled (countdown 0) on
a clean close. Cost: one request per refresh (ccxt rate-limit cost 100, reliability-notes §6).

Secrets: the API key, the private key and the session cookie never reach a log line, a repr or an
exception text. :meth:`GrvtSettings.secrets` and :meth:`GrvtVenue.secrets` list them for the app's
redaction; every new cookie is also registered with :func:`trio_hedge._redact.register_secret`.
"""

from __future__ import annotations

import http.cookiejar
import itertools
import math
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, Final

import httpx
import trio
from loguru import logger
from trio_websocket import ConnectionRejected, WebSocketConnection

from ..._redact import register_secret
from ...domain import (
    ZERO,
    BadValue,
    BookInvalid,
    Fill,
    Instrument,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    PositionUpdate,
    VenueEvent,
    leaves,
    to_decimal,
)
from .._base import FeedState, OrderReport
from .._errors import (
    AuthError,
    DuplicateClientOrderId,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
)
from .._streams import SymbolEventStreams
from .._ws import WS_ERRORS, Backoff, heartbeat, open_ws, reconnect_forever
from ._signing import GrvtSigner, SigningInstrument, build_order_payload, build_order_rpc_payload, new_nonce
from ._wire import (
    STREAM_BOOK_DELTA,
    STREAM_FILL,
    STREAM_ORDER,
    STREAM_ORDER_STATE,
    STREAM_POSITION,
    ClientOrderIdGenerator,
    GrvtCookie,
    GrvtFeedMessage,
    GrvtInstrumentMeta,
    GrvtProtocolError,
    GrvtRawBookUpdate,
    GrvtRpcResponse,
    account_selector,
    apply_raw_book_update,
    book_delta_selector,
    build_subscribe,
    encode_json,
    is_api_client_order_id,
    parse_ack,
    parse_book,
    parse_book_feed_raw,
    parse_fills,
    parse_instrument,
    parse_order,
    parse_order_state_feed,
    parse_orders,
    parse_positions,
    parse_private_event,
    parse_rest_page,
    parse_set_cookie,
    parse_subscribe_result,
    parse_ws_message,
    rejection_error,
    unwrap_rest,
)

LOGIN_PATH: Final = "/auth/api_key/login"
"""API-key login route on the edge host (wire-formats A1)."""

ACCOUNT_HEADER: Final = "X-Grvt-Account-Id"
"""Header carrying the login response's account id on every private request and WS upgrade (A1)."""

PRIVATE_STREAMS: Final = (STREAM_ORDER, STREAM_ORDER_STATE, STREAM_FILL, STREAM_POSITION)
"""Private streams the adapter subscribes to on the trades WebSocket (A4.3, A4.5)."""

_FILL_PAGE_LIMIT: Final = 1000  # fill_history max page size (A2.8)
_MAX_FILL_PAGES: Final = 50
_MAX_REMEMBERED: Final = 100_000  # trade ids / order ids remembered for de-duplication
_RPC_ID_MOD: Final = 2**32 - 1
_STATUS_RANK: Final = {
    OrderStatus.PENDING: 0,
    OrderStatus.OPEN: 1,
    OrderStatus.PARTIALLY_FILLED: 2,
    OrderStatus.FILLED: 3,
    OrderStatus.CANCELLED: 3,
    OrderStatus.REJECTED: 3,
    OrderStatus.EXPIRED: 3,
}


# ---------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True, slots=True)
class GrvtSettings:
    """Settings of one GRVT session. ``repr`` never shows ``api_key`` or ``private_key``.

    Attributes:
        edge_url (str): auth host base URL (``https://edge.grvt.io``), A1.
        market_data_url (str): market-data REST base URL (``https://market-data.grvt.io``).
        trades_url (str): trade-data REST base URL (``https://trades.grvt.io``).
        market_data_ws_url (str): market-data JSON-RPC WebSocket URL (``wss://market-data.grvt.io/ws/full``).
        trades_ws_url (str): trade-data JSON-RPC WebSocket URL (``wss://trades.grvt.io/ws/full``).
        api_key (str): API key id (secret).
        private_key (str): the API key's signer, 64 hex digits (secret).
        sub_account_id (str): trading sub-account, uint64 decimal string.
        chain_id (int): EIP-712 chain id: 325 prod, 326 testnet, 327 staging/dev.
        symbols (tuple[str, ...]): instruments to trade (``"BTC_USDT_Perp"``).
        name (str): configured venue name (domain objects and errors carry it).
        heartbeat_interval_s (float), heartbeat_timeout_s (float): WS ping period and pong deadline.
        cod_countdown_ms (int): cancel-on-disconnect countdown, 1000..300000 ms; 0 leaves COD off.
        cod_refresh_s (float): COD refresh period (must be well below the countdown).
        event_capacity (int): per-symbol private event channel capacity.
        order_expiry_s (float): signature expiration of each order, seconds from now (GTT orders die then).
        reconnect_min_s (float), reconnect_max_s (float): WS reconnect backoff bounds (jittered).
        book_delta_rate_ms (int): ``v1.book.d`` rate: 50, 100, 500 or 1000 (A4.3).
        connect_timeout_s (float): TCP/TLS connect bound of a REST request.
        rest_timeout_s (float): read/write/pool bound of a REST request.
        order_ack_timeout_s (float): wait for a WS ``create_order`` answer before UnknownOutcome.
        subscribe_timeout_s (float): wait for a subscribe answer before reconnecting.
        snapshot_timeout_s (float): a (re)connected book must sync within this, else reconnect.
        open_timeout_s (float): bound of :func:`open_grvt_venue`'s start (login, instruments, books, stream).
        close_timeout_s (float): bound of the shielded cleanup on close.
        cancel_ttl_ms (int): ``time_to_live_ms`` of cancels by client order id (0..5000, A2.5).
        read_attempts (int): tries of an idempotent read on rate limits and transport errors.
        backoff_min_s (float), backoff_max_s (float): retry backoff of idempotent reads.
        cookie_refresh_margin_s (float): log in again this long before the cookie expires.
        reconcile_margin_s (float): after a private-stream drop, fills are queried from the last venue
            time seen before the drop minus this margin.
        size_step (str): lot of the Instrument: ``"min_size"`` (ccxt 4.5.90 ``parse_market``: amount
            precision is min_size) or ``"base_decimals"`` (``10**-base_decimals``).
    """

    edge_url: str
    market_data_url: str
    trades_url: str
    market_data_ws_url: str
    trades_ws_url: str
    api_key: str = field(repr=False)
    private_key: str = field(repr=False)
    sub_account_id: str
    chain_id: int
    symbols: tuple[str, ...]
    name: str = "grvt"
    heartbeat_interval_s: float = 1.0
    heartbeat_timeout_s: float = 1.5
    cod_countdown_ms: int = 15000
    cod_refresh_s: float = 5.0
    event_capacity: int = 256
    order_expiry_s: float = 300.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0
    book_delta_rate_ms: int = 100
    connect_timeout_s: float = 3.0
    rest_timeout_s: float = 5.0
    order_ack_timeout_s: float = 3.0
    subscribe_timeout_s: float = 3.0
    snapshot_timeout_s: float = 5.0
    open_timeout_s: float = 20.0
    close_timeout_s: float = 3.0
    cancel_ttl_ms: int = 1000
    read_attempts: int = 4
    backoff_min_s: float = 0.2
    backoff_max_s: float = 5.0
    cookie_refresh_margin_s: float = 60.0
    reconcile_margin_s: float = 10.0
    size_step: str = "min_size"

    def __post_init__(self) -> None:
        for attr in ("edge_url", "market_data_url", "trades_url", "market_data_ws_url", "trades_ws_url"):
            url = getattr(self, attr)
            if not isinstance(url, str) or "://" not in url:
                raise BadValue(f"GrvtSettings.{attr} must be an absolute URL")
        if not isinstance(self.api_key, str) or not self.api_key:
            raise BadValue("GrvtSettings.api_key must be a non-empty string")
        if not isinstance(self.private_key, str) or not self.private_key:
            raise BadValue("GrvtSettings.private_key must be a non-empty string")
        sub = self.sub_account_id
        if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or int(sub) >= 2**64:
            raise BadValue("GrvtSettings.sub_account_id must be a uint64 decimal string")
        if self.chain_id not in (325, 326, 327):
            raise BadValue(f"GrvtSettings.chain_id {self.chain_id!r} is not 325, 326 or 327")
        if (
            not isinstance(self.symbols, tuple)
            or not self.symbols
            or not all(isinstance(s, str) and s for s in self.symbols)
        ):
            raise BadValue("GrvtSettings.symbols must be a non-empty tuple of symbols")
        if self.cod_countdown_ms != 0 and not 1000 <= self.cod_countdown_ms <= 300_000:
            raise BadValue("GrvtSettings.cod_countdown_ms must be 0 or in [1000, 300000]")
        if self.cod_countdown_ms and not 0 < self.cod_refresh_s * 1000 < self.cod_countdown_ms:
            raise BadValue("GrvtSettings.cod_refresh_s must be > 0 and below the COD countdown")
        if self.book_delta_rate_ms not in (50, 100, 500, 1000):
            raise BadValue("GrvtSettings.book_delta_rate_ms must be 50, 100, 500 or 1000")
        if not 0 <= self.cancel_ttl_ms <= 5000:
            raise BadValue("GrvtSettings.cancel_ttl_ms must be in [0, 5000]")
        if self.size_step not in ("min_size", "base_decimals"):
            raise BadValue("GrvtSettings.size_step must be 'min_size' or 'base_decimals'")
        if self.event_capacity < 1 or self.read_attempts < 1:
            raise BadValue("GrvtSettings.event_capacity and read_attempts must be >= 1")
        if not 0 < self.order_expiry_s <= 30 * 24 * 3600:
            raise BadValue("GrvtSettings.order_expiry_s must be in (0, 30 days]")
        for attr in (
            "heartbeat_interval_s", "heartbeat_timeout_s", "reconnect_min_s", "reconnect_max_s",
            "connect_timeout_s", "rest_timeout_s", "order_ack_timeout_s", "subscribe_timeout_s",
            "snapshot_timeout_s", "open_timeout_s", "close_timeout_s", "backoff_min_s", "backoff_max_s",
        ):  # fmt: skip
            v = getattr(self, attr)
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise BadValue(f"GrvtSettings.{attr} must be a finite number > 0")

    @classmethod
    def for_single_host(cls, rest: str, ws: str, **kw: Any) -> GrvtSettings:
        """Settings for a server that serves every GRVT host on one address (the wire simulator).

        Args:
            rest: the one REST base URL (``http://127.0.0.1:PORT``) for edge, market-data and trades.
            ws: the one ``/ws/full`` URL for market-data and trades WebSockets.
            **kw: every other field (``api_key``, ``private_key``, ``sub_account_id``, ``chain_id``,
                ``symbols``, ...).

        Raises:
            BadValue: as the constructor.
        """
        return cls(edge_url=rest, market_data_url=rest, trades_url=rest, market_data_ws_url=ws, trades_ws_url=ws, **kw)

    def secrets(self) -> tuple[str, ...]:
        """The configured credentials, for log redaction: the API key and the private key (as given and
        in its bare lower-case hex form)."""
        pk = self.private_key
        bare = pk[2:] if pk[:2] in ("0x", "0X") else pk
        out = [self.api_key, pk, bare, bare.lower(), "0x" + bare.lower()]
        return tuple(dict.fromkeys(s for s in out if s))


@dataclass(frozen=True, slots=True)
class GrvtAccountSummary:
    """The parts of ``account_summary`` (A2.8) a hedge bot checks, in ``settle_currency`` units.

    Attributes:
        settle_currency (str): ``"USDT"``.
        total_equity (Decimal), available_balance (Decimal), initial_margin (Decimal),
        maintenance_margin (Decimal), unrealized_pnl (Decimal): as the venue reports them.
        event_time_ns (int): venue time of the summary, ns.
    """

    settle_currency: str
    total_equity: Decimal
    available_balance: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    unrealized_pnl: Decimal
    event_time_ns: int


def parse_account_summary(result: Any, *, venue: str = "grvt") -> GrvtAccountSummary:
    """Parse the ``result`` of ``POST /full/v1/account_summary`` (wire-formats A2.8, real capture).

    Raises:
        GrvtProtocolError: not an object, a missing field, a non-decimal or non-finite amount.
    """
    if not isinstance(result, dict):
        raise GrvtProtocolError("account_summary: expected an object", venue=venue)

    def dec(name: str) -> Decimal:
        value = result.get(name)
        if not isinstance(value, str):
            raise GrvtProtocolError(f"account_summary.{name}: expected a decimal string", venue=venue)
        try:
            return to_decimal(value, what=f"account_summary.{name}")
        except BadValue as exc:
            raise GrvtProtocolError(str(exc), venue=venue) from None

    currency = result.get("settle_currency", "")
    et = result.get("event_time", "0")
    if not isinstance(currency, str) or not isinstance(et, str | int) or not str(et).isdigit():
        raise GrvtProtocolError("account_summary: bad settle_currency or event_time", venue=venue)
    return GrvtAccountSummary(
        settle_currency=currency,
        total_equity=dec("total_equity"),
        available_balance=dec("available_balance"),
        initial_margin=dec("initial_margin"),
        maintenance_margin=dec("maintenance_margin"),
        unrealized_pnl=dec("unrealized_pnl"),
        event_time_ns=int(et),
    )


# ---------------------------------------------------------------------------------------------- internals
_CONN_ERRORS: Final[tuple[type[BaseException], ...]] = (*WS_ERRORS, VenueUnavailable, RateLimited, trio.TooSlowError)


class _Resync(VenueUnavailable):
    """A feed must reconnect: sequence gap, invalid book, malformed frame, no snapshot in time."""


def _apply_book_feed(
    venue: str,
    symbol: str,
    book: OrderBook,
    msg: GrvtFeedMessage,
    snapshot_seq: int | None,
    base_known: bool,
) -> GrvtRawBookUpdate:
    """Apply one ``v1.book.d`` message of ``symbol``'s feed to ``book`` through the book's one-pass raw path
    (:func:`parse_book_feed_raw`: envelope and payload fields checked, levels left as decoded;
    :func:`apply_raw_book_update`: the book parses and checks each value while applying it). As
    :func:`~trio_hedge.venues.grvt._wire.apply_book_update`, except that a snapshot at a known sequence 0 (a
    fresh gateway counter, ``base_known``) still gets the bridge check: its first delta must have prev 0.

    Returns:
        GrvtRawBookUpdate: the message (applied, or dropped as a duplicate).

    Raises:
        _Resync: a malformed payload, a book for another instrument, a bad value, a sequence gap or a crossed
            book; the book is invalid.
    """
    try:
        update = parse_book_feed_raw(msg, venue=venue)
        if update.symbol != symbol:
            raise GrvtProtocolError(f"book for {update.symbol} on {msg.selector}", venue=venue)
        apply_raw_book_update(book, update, snapshot_seq=snapshot_seq, base_known=base_known, venue=venue)
    except (BookInvalid, GrvtProtocolError) as exc:
        if book.valid:
            book.invalidate(str(exc))
        raise _Resync(venue, f"{symbol}: {exc}; resubscribing", code="resync") from None
    return update


class _CookieRejected(VenueUnavailable):
    """The WS upgrade was refused with 401/403: log in again before the next attempt."""


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """httpx must not keep the session cookie in its jar: we send it ourselves (and only to GRVT hosts)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class _Slot:
    __slots__ = ("event", "response")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.response: GrvtRpcResponse | None = None


class _RpcConn:
    """One live trades WebSocket and the JSON-RPC requests waiting on it."""

    __slots__ = ("ws", "slots", "open")

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.slots: dict[int, _Slot] = {}
        self.open = True

    def resolve(self, response: GrvtRpcResponse) -> bool:
        slot = self.slots.pop(response.request_id, None) if response.request_id is not None else None
        if slot is None:
            return False
        slot.response = response
        slot.event.set()
        return True

    def fail_all(self) -> None:
        self.open = False
        for slot in self.slots.values():
            slot.event.set()  # response stays None: "connection lost"
        self.slots.clear()


def _report_update(report: OrderReport, venue: str) -> OrderUpdate:
    return OrderUpdate(
        venue=venue,
        symbol=report.symbol,
        client_order_id=report.client_order_id,
        status=report.status,
        venue_order_id=report.venue_order_id,
        filled_size=report.filled_size,
        reason=report.reason,
    )


def _retry_after_s(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 <= value <= 300 else None


# ---------------------------------------------------------------------------------------------- the venue
class GrvtVenue:
    """A GRVT session implementing :class:`~trio_hedge.venues.Venue`. Create it with :func:`open_grvt_venue`.

    Attributes:
        name (str): configured venue name.
    """

    def __init__(self, settings: GrvtSettings, client: httpx.AsyncClient, signer: GrvtSigner) -> None:
        self.name = settings.name
        self._s = settings
        self._client = client
        self._signer = signer
        self._log = logger.bind(tag=settings.name.upper())
        self._cookie: GrvtCookie | None = None
        self._account_id = ""
        self._cookies_seen: list[str] = []
        self._login_lock = trio.Lock()
        self._cookie_stale = False
        self._instruments: dict[str, Instrument] = {}
        self._meta: dict[str, GrvtInstrumentMeta] = {}
        self._signing: dict[str, SigningInstrument] = {}
        now = trio.current_time()
        self._books = {s: OrderBook(s) for s in settings.symbols}
        self._feed = {s: FeedState(False, now, -math.inf) for s in settings.symbols}
        self._book_lots = {s: trio.lowlevel.ParkingLot() for s in settings.symbols}
        self._streams = SymbolEventStreams(settings.name, settings.symbols, settings.event_capacity)
        self._ids = ClientOrderIdGenerator()
        self._rpc_ids = itertools.count(random.randrange(1, 2**20))
        self._conn: _RpcConn | None = None
        # Orders this session may have created on the venue: client order id -> symbol (v1.state names no
        # instrument), and the subset not yet known terminal (reconciled after a private-stream drop).
        self._order_symbols: OrderedDict[str, str] = OrderedDict()
        self._live: dict[str, str] = {}
        self._emitted_trades: OrderedDict[str, None] = OrderedDict()
        self._last_update: dict[str, tuple[Decimal, int]] = {}
        self._last_position: dict[str, tuple[Decimal, Decimal | None]] = {}
        self._private_seq: dict[tuple[str, str], int] = {}
        self._venue_clock_ns = 0  # latest venue timestamp seen (books, fills, orders)
        self._private_down_ns = 0  # venue time when the private stream was last known healthy before a drop
        self._reconcile_tx: trio.MemorySendChannel[None] | None = None
        # Bound of a WebSocket close handshake: a socket that missed its pong will not answer a close either.
        self._close_ws_s = min(1.0, settings.heartbeat_timeout_s)

    def __repr__(self) -> str:
        return f"GrvtVenue(name={self.name!r}, sub_account_id={self._s.sub_account_id!r}, symbols={self._s.symbols!r})"

    # ------------------------------------------------------------------ secrets
    def secrets(self) -> tuple[str, ...]:
        """Every credential this session holds, for log redaction: the settings' secrets and the session
        cookies of the last four logins (the live one included; each is also registered with
        :func:`trio_hedge._redact.register_secret` the moment it arrives)."""
        return (*self._s.secrets(), *self._cookies_seen)

    # ------------------------------------------------------------------ market data (Venue)
    def instrument(self, symbol: str) -> Instrument:
        return self._instruments[symbol]

    def instrument_meta(self, symbol: str) -> GrvtInstrumentMeta:
        """GRVT signing metadata of ``symbol`` (instrument hash, base decimals). Raises KeyError if unknown."""
        return self._meta[symbol]

    def book(self, symbol: str) -> OrderBook:
        return self._books[symbol]

    def feed_state(self, symbol: str) -> FeedState:
        return self._feed[symbol]

    async def wait_book_change(self, symbol: str) -> None:
        await self._book_lots[symbol].park()

    def events(self, symbol: str) -> trio.MemoryReceiveChannel[VenueEvent]:
        return self._streams.take(symbol)

    def new_client_order_id(self) -> str:
        """A uint64 decimal client order id in [2^63, 2^64-1] (wire-formats A3.3)."""
        return self._ids.next_id()

    # ------------------------------------------------------------------ auth
    def _auth_headers(self) -> dict[str, str]:
        if self._cookie is None:
            raise AuthError(self.name, "not logged in", code="1000")
        headers = {"Cookie": self._cookie.header}
        if self._account_id:
            headers[ACCOUNT_HEADER] = self._account_id
        return headers

    async def _login(self) -> None:
        """``POST {edge}/auth/api_key/login`` (A1): keep the ``gravity`` cookie and the account id header.

        Raises:
            AuthError: the key is refused or no usable cookie came back.
            VenueUnavailable: the edge host cannot be reached, answers 5xx, or times out.
            RateLimited: the login was rate limited.
        """
        url = self._s.edge_url.rstrip("/") + LOGIN_PATH
        try:
            resp = await self._client.post(url, content=encode_json({"api_key": self._s.api_key}))
        except httpx.HTTPError as exc:
            raise VenueUnavailable(self.name, f"login failed: {type(exc).__name__}", code="login") from None
        if not 200 <= resp.status_code < 300:
            try:
                parse_rest_page(resp.content, http_status=resp.status_code, venue=self.name)
            except (AuthError, RateLimited):
                raise
            except UnknownOutcome:
                raise VenueUnavailable(self.name, f"login: HTTP {resp.status_code}", code="login") from None
            except VenueError as exc:
                raise AuthError(self.name, f"login refused: {exc.message}", code=exc.code) from None
            raise AuthError(self.name, f"login refused: HTTP {resp.status_code}", code="login")
        cookie: GrvtCookie | None = None
        for header in resp.headers.get_list("set-cookie"):
            try:
                cookie = parse_set_cookie(header, venue=self.name)
                break
            except GrvtProtocolError:
                continue
        if cookie is None:
            raise AuthError(self.name, "login answered without a usable 'gravity' cookie", code="login")
        register_secret(cookie.value)
        self._cookies_seen.append(cookie.value)
        del self._cookies_seen[:-4]
        self._cookie = cookie
        self._account_id = resp.headers.get(ACCOUNT_HEADER.lower(), "") or self._account_id
        self._cookie_stale = False
        self._log.info("logged in (session valid for {:.0f}s)", cookie.expires_s - time.time())

    async def _relogin(self, stale: GrvtCookie | None) -> None:
        """Log in again unless another task already replaced ``stale`` (single flight)."""
        async with self._login_lock:
            if self._cookie is not stale and not self._cookie_stale:
                return
            await self._login()

    async def _run_auth(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refresh the cookie ``cookie_refresh_margin_s`` before it expires; retry with backoff; raise
        AuthError only once the cookie has actually expired and the key is still refused."""
        task_status.started()
        backoff = Backoff(self._s.backoff_min_s, self._s.backoff_max_s)
        while True:
            cookie = self._cookie
            if cookie is not None and not self._cookie_stale:
                wait_s = cookie.expires_s - self._s.cookie_refresh_margin_s - time.time()
                if wait_s > 0:
                    await trio.sleep(min(wait_s, 60.0))
                    continue
            try:
                self._cookie_stale = True
                await self._relogin(cookie)
                backoff.reset()
            except (VenueUnavailable, RateLimited, AuthError) as exc:
                expired = cookie is None or cookie.expires_s <= time.time()
                if isinstance(exc, AuthError) and expired:
                    raise
                delay = backoff.next_delay_s()
                self._log.warning("cookie refresh failed ({}); retrying in {:.2f}s", exc, delay)
                await trio.sleep(delay)

    # ------------------------------------------------------------------ REST plumbing
    async def _post(
        self, base_url: str, route: str, body: Mapping[str, Any], *, private: bool, idempotent: bool
    ) -> tuple[Any, str]:
        """POST ``{base}/full/v1/{route}`` and return ``(result, next_cursor)`` (A2 envelope).

        Idempotent reads retry rate limits (1006/429: exponential backoff with jitter, at least the
        server's ``Retry-After``), transport errors and 5xx up to ``read_attempts`` times. Other calls
        surface the first failure. A session that expired (1000) is renewed once and the call repeated:
        an unauthenticated request was not acted upon.

        Raises:
            RateLimited: rate limited (after the retries of a read).
            VenueUnavailable: nothing reached the venue (connect failure), or a read kept failing.
            UnknownOutcome: a non-idempotent call was sent and its answer is missing, 5xx or garbled.
            AuthError, OrderRejected, DuplicateClientOrderId, OrderNotFound, GrvtProtocolError: as mapped.
        """
        url = f"{base_url.rstrip('/')}/full/v1/{route}"
        content = encode_json(body)
        backoff = Backoff(self._s.backoff_min_s, self._s.backoff_max_s)
        relogged = False
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self._s.read_attempts or not idempotent
            cookie = self._cookie
            headers = self._auth_headers() if private else None
            try:
                resp = await self._client.post(url, content=content, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
                if last:
                    raise VenueUnavailable(self.name, f"{route}: {type(exc).__name__}", code="connect") from None
                await trio.sleep(backoff.next_delay_s())
                continue
            except httpx.HTTPError as exc:  # sent (or partly sent): read/write timeout, reset, protocol error
                if not idempotent:
                    raise UnknownOutcome(
                        self.name, f"{route}: {type(exc).__name__} after sending", code="transport"
                    ) from None
                if last:
                    raise VenueUnavailable(self.name, f"{route}: {type(exc).__name__}", code="transport") from None
                await trio.sleep(backoff.next_delay_s())
                continue
            retry_after = _retry_after_s(resp)
            try:
                return parse_rest_page(resp.content, http_status=resp.status_code, venue=self.name,
                                       retry_after_s=retry_after)  # fmt: skip
            except RateLimited as exc:
                if last:
                    raise
                delay = max(exc.retry_after_s or 0.0, backoff.next_delay_s())
                self._log.warning("{}: rate limited; retrying in {:.2f}s", route, delay)
                await trio.sleep(delay)
            except AuthError as exc:
                if not private or relogged or exc.code != "1000":
                    raise
                relogged = True
                attempt -= 1
                self._cookie_stale = True
                await self._relogin(cookie)
            except UnknownOutcome as exc:  # 5xx
                if not idempotent:
                    raise
                if last:
                    raise VenueUnavailable(self.name, f"{route}: {exc.message}", code=exc.code) from None
                await trio.sleep(backoff.next_delay_s())
            except GrvtProtocolError as exc:
                if not idempotent and 200 <= resp.status_code < 300:
                    raise UnknownOutcome(self.name, f"{route}: unreadable success body: {exc.message}",
                                         code="protocol") from None  # fmt: skip
                raise

    async def _trade_read(self, route: str, body: Mapping[str, Any]) -> tuple[Any, str]:
        return await self._post(self._s.trades_url, route, body, private=True, idempotent=True)

    # ------------------------------------------------------------------ REST reads (Venue and extras)
    async def _load_instruments(self) -> None:
        """Load every configured symbol (``POST /full/v1/instrument``, A2.1) with its signing metadata.

        Raises:
            VenueError: a symbol is unknown (``3000``), malformed, or the venue is unreachable.
        """
        for symbol in self._s.symbols:
            result, _ = await self._post(
                self._s.market_data_url, "instrument", {"instrument": symbol}, private=False, idempotent=True
            )
            inst, meta = parse_instrument(result, venue=self.name, size_step=self._s.size_step)
            if inst.symbol != symbol:
                raise GrvtProtocolError(f"instrument {symbol}: the venue answered for {inst.symbol}", venue=self.name)
            self._instruments[symbol] = inst
            self._meta[symbol] = meta
            try:
                self._signing[symbol] = SigningInstrument(symbol, meta.instrument_hash, meta.base_decimals)
            except BadValue as exc:
                raise GrvtProtocolError(f"instrument {symbol}: {exc}", venue=self.name) from None

    async def fetch_book(self, symbol: str, depth: int = 10) -> OrderBook:
        """A one-off REST snapshot (``POST /full/v1/book``, A2.2) as a fresh, valid OrderBook.

        Args:
            symbol: instrument; depth: 10, 50, 100 or 500 levels a side.

        Raises:
            RateLimited, VenueUnavailable, GrvtProtocolError, BookInvalid (crossed or bad snapshot).
        """
        result, _ = await self._post(
            self._s.market_data_url, "book", {"instrument": symbol, "depth": depth}, private=False, idempotent=True
        )
        update = parse_book(result, venue=self.name)
        book = OrderBook(symbol)
        book.apply_snapshot(update.bids, update.asks, seq=0, ts_ns=update.event_time_ns)
        return book

    def _filters(self, symbol: str) -> dict[str, Any]:
        inst = self._instruments[symbol]
        return {"kind": [self._meta[symbol].kind], "base": [inst.base], "quote": [inst.quote]}

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        """``POST /full/v1/order`` by client order id (A2.6); None when the venue does not know it (1004).

        Raises:
            RateLimited, VenueUnavailable, GrvtProtocolError.
        """
        try:
            result, _ = await self._trade_read(
                "order", {"sub_account_id": self._s.sub_account_id, "client_order_id": client_order_id}
            )
        except OrderNotFound:
            return None
        order = parse_order(result, venue=self.name)
        if order.client_order_id != client_order_id:
            raise GrvtProtocolError(f"order query for {client_order_id} answered {order.client_order_id}",
                                    venue=self.name)  # fmt: skip
        self._note_venue_time(order.state.update_time_ns if order.state else 0)
        return order.to_report()

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """``POST /full/v1/open_orders`` filtered to ``symbol`` (A2.6). Raises RateLimited, VenueUnavailable."""
        body = {"sub_account_id": self._s.sub_account_id, **self._filters(symbol)}
        result, _ = await self._trade_read("open_orders", body)
        return [o.to_report() for o in parse_orders(result, venue=self.name) if o.symbol == symbol]

    async def positions(self) -> dict[str, Position]:
        """``POST /full/v1/positions`` (A2.7), by symbol. GRVT lists open positions only: a configured symbol
        it leaves out is reported flat (size 0). Raises RateLimited, VenueUnavailable."""
        result, _ = await self._trade_read("positions", {"sub_account_id": self._s.sub_account_id})
        out = {s: Position(self.name, s, ZERO) for s in self._s.symbols}
        out.update((p.symbol, p) for p in parse_positions(result, venue=self.name))
        return out

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        """``POST /full/v1/fill_history`` from ``since_ns`` (A2.8), every page, oldest first.

        Raises:
            RateLimited, VenueUnavailable, GrvtProtocolError (also when the history is longer than
            50 pages of 1000: narrow ``since_ns``).
        """
        body: dict[str, Any] = {
            "sub_account_id": self._s.sub_account_id,
            **self._filters(symbol),
            "start_time": str(max(0, since_ns)),
            "limit": _FILL_PAGE_LIMIT,
        }
        fills: dict[str, Fill] = {}
        for _ in range(_MAX_FILL_PAGES):
            result, cursor = await self._trade_read("fill_history", body)
            page = parse_fills(result, venue=self.name)
            for f in page:
                if f.symbol == symbol and f.ts_ns >= since_ns:
                    fills.setdefault(f.trade_id, f)
            if not cursor or not page:
                return sorted(fills.values(), key=lambda f: f.ts_ns)
            body["cursor"] = cursor
        raise GrvtProtocolError(f"fill_history for {symbol}: more than {_MAX_FILL_PAGES} pages", venue=self.name)

    async def account_summary(self) -> GrvtAccountSummary:
        """``POST /full/v1/account_summary`` (A2.8). Raises RateLimited, VenueUnavailable, GrvtProtocolError."""
        result, _ = await self._trade_read("account_summary", {"sub_account_id": self._s.sub_account_id})
        return parse_account_summary(result, venue=self.name)

    # ------------------------------------------------------------------ orders
    def _note_venue_time(self, ts_ns: int) -> None:
        if ts_ns > self._venue_clock_ns:
            self._venue_clock_ns = ts_ns

    def _remember_order(self, coid: str, symbol: str) -> None:
        self._order_symbols[coid] = symbol
        self._order_symbols.move_to_end(coid)
        self._live[coid] = symbol
        while len(self._order_symbols) > _MAX_REMEMBERED:
            old, _ = self._order_symbols.popitem(last=False)
            self._live.pop(old, None)
            self._last_update.pop(old, None)

    def _forget_order(self, coid: str) -> None:
        """The venue definitively did not create this order (a synchronous refusal, nothing sent)."""
        self._order_symbols.pop(coid, None)
        self._live.pop(coid, None)

    async def place(self, request: OrderRequest) -> OrderReport:
        """Sign and send ``request``: JSON-RPC ``v1/create_order`` over the trades WebSocket (A4.6), or
        ``POST /full/v1/create_order`` (A2.4) when that socket is down.

        Idempotent by client order id: an id this session already sent is queried, never sent again
        (GRVT only refuses duplicates among *active* orders, A3.3, so a resend of a filled IOC would
        trade twice). The ack carries ``order_id "0x00"`` and status PENDING; outcomes such as a post-only
        that would cross arrive as events (A2.4).

        Returns:
            OrderReport: the acknowledged (or, for a repeat, the current) state.

        Raises:
            InvalidOrder: unknown symbol, a client order id outside [2^63, 2^64-1], a value that cannot
                be signed exactly, or the venue's validation codes (2062/2064/2065/2066, ...).
            InsufficientMargin, PostOnlyWouldCross, OrderRejected: definitive refusals.
            DuplicateClientOrderId: the id is active on the venue but was not sent by this session.
            RateLimited: the venue refused for rate (1006/429/2090); the order does not exist.
            UnknownOutcome: sent, no readable answer; resolve with :meth:`order_status`.
            VenueUnavailable: nothing was sent.
        """
        coid = request.client_order_id
        symbol = request.symbol
        if symbol not in self._signing:
            raise InvalidOrder(self.name, f"order {coid}: unknown symbol {symbol[:40]!r}", code="symbol")
        if not is_api_client_order_id(coid):
            raise InvalidOrder(self.name, f"order {coid[:40]!r}: client order id must be in [2^63, 2^64-1]",
                               code="client_order_id")  # fmt: skip
        if coid in self._order_symbols:
            return await self._place_repeat(request)
        conn = self._conn
        if conn is not None and conn.open and conn.ws.closed is None:
            return await self._place_ws(conn, request)
        return await self._place_rest(request)

    async def _place_repeat(self, request: OrderRequest) -> OrderReport:
        coid = request.client_order_id
        report = await self.order_status(request.symbol, coid)
        if report is None:
            raise UnknownOutcome(self.name, f"order {coid} was sent before and is not visible yet; query again",
                                 code="unresolved")  # fmt: skip
        if report.status is OrderStatus.REJECTED:
            self._live.pop(coid, None)
            raise rejection_error(report.reason or "UNSPECIFIED", venue=self.name, client_order_id=coid)
        return report

    def _sign(self, request: OrderRequest, request_id: int | None) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "sub_account_id": self._s.sub_account_id,
            "nonce": new_nonce(),
            "expiration_ns": time.time_ns() + int(self._s.order_expiry_s * 1e9),
            "chain_id": self._s.chain_id,
            "signer": self._signer,
        }
        try:
            if request_id is None:
                return build_order_payload(request, self._signing[request.symbol], **kw)
            return build_order_rpc_payload(request, self._signing[request.symbol], request_id=request_id, **kw)
        except BadValue as exc:
            raise InvalidOrder(self.name, f"order {request.client_order_id}: {exc}", code="sign") from None

    async def _place_ws(self, conn: _RpcConn, request: OrderRequest) -> OrderReport:
        coid = request.client_order_id
        cookie = self._cookie
        rid = self._next_rpc_id()
        data = encode_json(self._sign(request, rid)).decode()
        slot = _Slot()
        conn.slots[rid] = slot
        self._remember_order(coid, request.symbol)
        try:
            try:
                await conn.ws.send_message(data)
            except WS_ERRORS:
                raise UnknownOutcome(self.name, f"order {coid}: connection failed while sending",
                                     code="transport") from None  # fmt: skip
            with trio.move_on_after(self._s.order_ack_timeout_s):
                await slot.event.wait()
        finally:
            conn.slots.pop(rid, None)
        response = slot.response
        if response is None:
            why = "connection lost" if slot.event.is_set() else f"no answer within {self._s.order_ack_timeout_s}s"
            raise UnknownOutcome(self.name, f"order {coid}: {why}", code="timeout")
        error, result = response.error, None
        if error is None:
            try:
                result, _ = unwrap_rest(response.result, venue=self.name)
            except VenueError as exc:
                error = exc
        if error is None:
            return self._create_ack(request, result)
        if isinstance(error, AuthError) and error.code == "1000":
            # The session expired: the venue did not act on the order. Log in again and send it by REST
            # (this socket goes on with its old session until the venue closes it).
            self._log.warning("order {}: session expired on the trades socket; logging in again", coid)
            self._cookie_stale = True
            await self._relogin(cookie)
            return await self._place_rest(request)
        raise self._create_error(request, error)

    async def _place_rest(self, request: OrderRequest) -> OrderReport:
        coid = request.client_order_id
        body = self._sign(request, None)
        self._remember_order(coid, request.symbol)
        try:
            result, _ = await self._post(self._s.trades_url, "create_order", body, private=True, idempotent=False)
        except VenueUnavailable:
            self._forget_order(coid)  # connect failed: nothing was sent
            raise
        except VenueError as exc:
            raise self._create_error(request, exc) from None
        return self._create_ack(request, result)

    def _create_error(self, request: OrderRequest, exc: VenueError) -> VenueError:
        """Map a create_order error: definitive refusals forget the order; anything not understood is
        an unknown outcome (never assumed rejected)."""
        coid = request.client_order_id
        if isinstance(exc, OrderRejected | RateLimited | AuthError):
            self._forget_order(coid)
            return exc
        if isinstance(exc, DuplicateClientOrderId):
            self._forget_order(coid)  # first send of this id: the active order holding it is not ours
            return exc
        if isinstance(exc, UnknownOutcome | GrvtProtocolError) or type(exc) is VenueError:
            return UnknownOutcome(self.name, f"order {coid}: {exc.message}", code=exc.code or "unknown")
        return exc

    def _create_ack(self, request: OrderRequest, result: Any) -> OrderReport:
        coid = request.client_order_id
        try:
            order = parse_order(result, venue=self.name)
        except GrvtProtocolError as exc:
            raise UnknownOutcome(self.name, f"order {coid}: unreadable ack: {exc.message}", code="protocol") from None
        if order.client_order_id != coid:
            raise UnknownOutcome(self.name, f"order {coid}: ack names {order.client_order_id}", code="protocol")
        report = order.to_report()
        if report.status is OrderStatus.REJECTED:
            self._forget_order(coid)
            raise rejection_error(report.reason or "UNSPECIFIED", venue=self.name, client_order_id=coid)
        return report

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        """``POST /full/v1/cancel_order`` by client order id with ``time_to_live_ms`` (A2.5): the cancel
        stays armed that long, so an order still in flight is cancelled when it arrives. The outcome
        arrives as an event; an order already gone (1004) is not an error.

        Raises:
            RateLimited, UnknownOutcome (sent, answer missing), VenueUnavailable (nothing sent).
        """
        body: dict[str, Any] = {"sub_account_id": self._s.sub_account_id, "client_order_id": client_order_id}
        if self._s.cancel_ttl_ms:
            body["time_to_live_ms"] = str(self._s.cancel_ttl_ms)
        try:
            result, _ = await self._post(self._s.trades_url, "cancel_order", body, private=True, idempotent=False)
        except OrderNotFound:
            return
        if not parse_ack(result, venue=self.name):
            raise UnknownOutcome(self.name, f"cancel {client_order_id}: not acknowledged", code="ack")

    async def cancel_all(self, symbol: str) -> int:
        """Cancel every open order in ``symbol``: ``POST /full/v1/cancel_all_orders`` with the symbol's
        kind/base/quote filters (A2.5). GRVT answers only an ack, so the count returned is the number of
        open orders listed just before the cancel.

        Raises:
            RateLimited, UnknownOutcome, VenueUnavailable.
        """
        n = len(await self.open_orders(symbol))
        body = {"sub_account_id": self._s.sub_account_id, **self._filters(symbol)}
        result, _ = await self._post(self._s.trades_url, "cancel_all_orders", body, private=True, idempotent=False)
        if not parse_ack(result, venue=self.name):
            raise UnknownOutcome(self.name, f"cancel_all {symbol}: not acknowledged", code="ack")
        return n

    async def _set_cancel_on_disconnect(self, countdown_ms: int) -> None:
        body = {"sub_account_id": self._s.sub_account_id, "countdown_time": countdown_ms}
        result, _ = await self._post(self._s.trades_url, "cancel_on_disconnect", body, private=True, idempotent=True)
        if not parse_ack(result, venue=self.name):
            raise VenueUnavailable(self.name, "cancel_on_disconnect not acknowledged", code="ack")

    async def _run_cod(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Arm cancel-on-disconnect at start, then refresh it every ``cod_refresh_s`` (reliability-notes
        G3: countdown 15 s, refresh 5 s). Each refresh retries transient failures itself (it is idempotent);
        one that still fails is logged and the next period tries again. If refreshes keep failing the venue
        cancels our orders when the countdown runs out, which is the point."""
        await self._set_cancel_on_disconnect(self._s.cod_countdown_ms)
        task_status.started()
        while True:
            await trio.sleep(self._s.cod_refresh_s)
            try:
                await self._set_cancel_on_disconnect(self._s.cod_countdown_ms)
            except VenueError as exc:
                self._log.error("cancel-on-disconnect refresh failed: {}", exc)

    # ------------------------------------------------------------------ WebSocket plumbing
    def _next_rpc_id(self) -> int:
        return next(self._rpc_ids) % _RPC_ID_MOD + 1

    async def _subscribe(self, ws: WebSocketConnection, conn: _RpcConn | None, stream: str, selector: str) -> int:
        """Send a subscribe; with ``conn`` wait for its answer (raise on error). Returns the request id."""
        rid = self._next_rpc_id()
        slot = None
        if conn is not None:
            slot = _Slot()
            conn.slots[rid] = slot
        await ws.send_message(build_subscribe(stream, [selector], rid).decode())
        if slot is None:
            return rid
        with trio.move_on_after(self._s.subscribe_timeout_s):
            await slot.event.wait()
        if slot.response is None:
            if conn is not None:
                conn.slots.pop(rid, None)
            raise VenueUnavailable(self.name, f"subscribe {stream}: no answer", code="subscribe")
        self._check_subscribe(slot.response, stream)
        return rid

    def _check_subscribe(self, response: GrvtRpcResponse, stream: str) -> None:
        if response.error is not None:
            if isinstance(response.error, AuthError):
                self._cookie_stale = True
                raise _CookieRejected(self.name, f"subscribe {stream}: {response.error.message}", code="auth")
            if isinstance(response.error, RateLimited | UnknownOutcome | VenueUnavailable):
                raise VenueUnavailable(self.name, f"subscribe {stream}: {response.error.message}", code="subscribe")
            raise response.error  # a configuration problem (bad selector, instrument): do not loop
        parse_subscribe_result(response.result, venue=self.name)

    async def _reconnecting(
        self,
        session: Callable[[Backoff], Awaitable[None]],
        *,
        what: str,
        on_down: Callable[[], None],
    ) -> None:
        """Run ``session(backoff)`` forever (:func:`~trio_hedge.venues._ws.reconnect_forever` over
        :data:`_CONN_ERRORS`); on a connection error call ``on_down`` and wait the backoff. A rejected upgrade
        (401/403) marks the session cookie stale. Errors that are not connection errors propagate."""
        backoff = Backoff(self._s.reconnect_min_s, self._s.reconnect_max_s)

        def on_error(exc: BaseException) -> None:
            if isinstance(exc, ConnectionRejected) and exc.status_code in (401, 403):
                self._cookie_stale = True

        await reconnect_forever(partial(session, backoff), name=self.name.upper(), backoff=backoff,
                                on_down=lambda _reason: on_down(), on_error=on_error, errors=_CONN_ERRORS,
                                what=what)

    async def _ensure_fresh_cookie(self) -> None:
        cookie = self._cookie
        if self._cookie_stale or cookie is None or cookie.should_refresh(time.time(), 5.0):
            self._cookie_stale = True
            await self._relogin(cookie)

    # ------------------------------------------------------------------ market-data feed
    def _set_connected(self, symbol: str, connected: bool) -> None:
        st = self._feed[symbol]
        if st.connected != connected:
            self._feed[symbol] = FeedState(connected, trio.current_time(), st.last_message_s)

    async def _run_feed(self, symbol: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        book = self._books[symbol]
        lot = self._book_lots[symbol]
        started = False

        def synced() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        def down() -> None:
            book.invalidate("market-data feed disconnected")
            self._set_connected(symbol, False)
            lot.unpark_all()

        async def session(backoff: Backoff) -> None:
            await self._feed_session(symbol, backoff, synced)

        await self._reconnecting(session, what=f"{symbol} market-data feed", on_down=down)

    async def _feed_session(self, symbol: str, backoff: Backoff, synced: Callable[[], None]) -> None:
        """One market-data connection: subscribe ``v1.book.d`` (first message a snapshot, A4.4) and apply
        every message in this task. Returns never; raises to reconnect."""
        book = self._books[symbol]
        lot = self._book_lots[symbol]
        selector = book_delta_selector(symbol, rate_ms=self._s.book_delta_rate_ms)
        async with open_ws(
            self._s.market_data_ws_url,
            connect_timeout_s=self._s.connect_timeout_s,
            disconnect_timeout_s=self._close_ws_s,
        ) as ws:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._heartbeat, ws)
                    await self._feed_loop(ws, symbol, selector, backoff, synced)
            finally:
                # At once, not after the close handshake (up to a second on a blackholed socket).
                if book.valid:
                    book.invalidate("market-data connection lost")
                self._set_connected(symbol, False)
                lot.unpark_all()

    async def _feed_loop(
        self, ws: WebSocketConnection, symbol: str, selector: str, backoff: Backoff, synced: Callable[[], None]
    ) -> None:
        """Subscribe, then read and apply until something forces a reconnect (raises :class:`_Resync`)."""
        book = self._books[symbol]
        lot = self._book_lots[symbol]
        rid = await self._subscribe(ws, None, STREAM_BOOK_DELTA, selector)
        snapshot_seq: int | None = None
        base_known = False
        subscribed = False
        deadline = trio.current_time() + self._s.snapshot_timeout_s
        while True:
            with trio.move_on_at(math.inf if book.valid else deadline):
                raw = await ws.get_message()
                msg = self._parse_feed_frame(raw, symbol)
                if isinstance(msg, GrvtRpcResponse):
                    if msg.request_id == rid and not subscribed:
                        self._check_subscribe(msg, STREAM_BOOK_DELTA)
                        subscribed = True
                        snapshot_seq = parse_subscribe_result(msg.result, venue=self.name).snapshot_seq(selector)
                    elif msg.error is not None:
                        self._log.warning("{} feed: venue error {}", symbol, msg.error)
                    continue
                if msg.stream != STREAM_BOOK_DELTA or msg.selector != selector:
                    continue
                update = _apply_book_feed(self.name, symbol, book, msg, snapshot_seq, base_known)
                if update.is_snapshot:
                    base_known = snapshot_seq is not None
                self._note_venue_time(update.event_time_ns)
                now = trio.current_time()
                st = self._feed[symbol]
                valid = book.valid
                self._feed[symbol] = FeedState(valid, st.since_s if st.connected == valid else now, now)
                lot.unpark_all()
                if valid:
                    backoff.reset()
                    synced()
                continue
            raise _Resync(
                self.name, f"{symbol}: no book snapshot within {self._s.snapshot_timeout_s}s", code="snapshot"
            )

    def _parse_feed_frame(self, raw: str | bytes, symbol: str) -> GrvtFeedMessage | GrvtRpcResponse:
        try:
            return parse_ws_message(raw, venue=self.name)
        except GrvtProtocolError as exc:
            book = self._books[symbol]
            if book.valid:
                book.invalidate(f"malformed frame: {exc.message}")
            raise _Resync(self.name, f"{symbol}: malformed frame ({exc.message})", code="protocol") from None

    async def _heartbeat(self, ws: WebSocketConnection) -> None:
        await heartbeat(ws, interval_s=self._s.heartbeat_interval_s, timeout_s=self._s.heartbeat_timeout_s)

    # ------------------------------------------------------------------ private stream
    async def _run_private(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        started = False
        was_up = False

        def ready() -> None:
            nonlocal started, was_up
            was_up = True
            if not started:
                started = True
                task_status.started()

        def down() -> None:
            nonlocal was_up
            conn = self._conn
            self._conn = None
            if conn is not None:
                conn.fail_all()
            if was_up:
                was_up = False
                self._private_down_ns = self._venue_clock_ns

        async def session(backoff: Backoff) -> None:
            await self._private_session(backoff, ready, reconcile=started)

        await self._reconnecting(session, what="private stream", on_down=down)

    async def _private_session(self, backoff: Backoff, ready: Callable[[], None], *, reconcile: bool) -> None:
        await self._ensure_fresh_cookie()
        headers = list(self._auth_headers().items())
        try:
            async with open_ws(
                self._s.trades_ws_url,
                headers=headers,
                connect_timeout_s=self._s.connect_timeout_s,
                disconnect_timeout_s=self._close_ws_s,
            ) as ws:
                conn = _RpcConn(ws)
                request_tx, request_rx = trio.open_memory_channel[None](1)
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._heartbeat, ws)
                        nursery.start_soon(self._private_reader, conn)
                        selector = account_selector(self._s.sub_account_id)
                        self._private_seq.clear()
                        for stream in PRIVATE_STREAMS:
                            await self._subscribe(ws, conn, stream, selector)
                        self._conn = conn
                        self._reconcile_tx = request_tx
                        nursery.start_soon(self._reconcile_worker, request_rx)
                        if reconcile:
                            request_tx.send_nowait(None)
                        backoff.reset()
                        ready()
                        self._log.info("private stream subscribed")
                finally:
                    self._reconcile_tx = None
                    if self._conn is conn:
                        self._conn = None
                    conn.fail_all()
        except* ConnectionRejected as eg:
            auth = [e for e in leaves(eg) if isinstance(e, ConnectionRejected) and e.status_code in (401, 403)]
            if auth:
                self._cookie_stale = True
                raise _CookieRejected(
                    self.name, f"trades WS upgrade rejected ({auth[0].status_code})", code="auth"
                ) from None
            raise

    async def _private_reader(self, conn: _RpcConn) -> None:
        """Read the trades socket: JSON-RPC answers wake their callers; feed messages become events."""
        while True:
            raw = await conn.ws.get_message()
            try:
                msg = parse_ws_message(raw, venue=self.name)
            except GrvtProtocolError as exc:
                self._log.error("private stream: malformed frame ({}); reconciling", exc.message)
                self._request_reconcile()
                continue
            if isinstance(msg, GrvtRpcResponse):
                if not conn.resolve(msg) and msg.error is not None:
                    self._log.warning("private stream: venue error {}", msg.error)
                continue
            await self._on_private(msg)

    async def _on_private(self, msg: GrvtFeedMessage) -> None:
        key = (msg.stream, msg.selector)
        last = self._private_seq.get(key)
        if last is not None and msg.sequence_number > last + 1 and msg.prev_sequence_number != last:
            self._log.warning("{} sequence gap ({} -> {}); reconciling", msg.stream, last, msg.sequence_number)
            self._request_reconcile()
        if last is None or msg.sequence_number > last:
            self._private_seq[key] = msg.sequence_number
        try:
            if msg.stream == STREAM_ORDER_STATE:
                ev = parse_order_state_feed(msg.feed, venue=self.name)
                symbol = self._order_symbols.get(ev.client_order_id)
                if symbol is None:
                    return  # not an order of this session; v1.order carries it with its instrument
                self._note_venue_time(ev.state.update_time_ns)
                await self._emit_update(ev.to_update(symbol=symbol, venue=self.name))
                return
            if msg.stream not in (STREAM_ORDER, STREAM_FILL, STREAM_POSITION):
                return
            event = parse_private_event(msg, venue=self.name)
        except GrvtProtocolError as exc:
            self._log.error("{}: malformed payload ({}); reconciling", msg.stream, exc.message)
            self._request_reconcile()
            return
        if isinstance(event, Fill):
            self._note_venue_time(event.ts_ns)
            await self._emit_fill(event)
        elif isinstance(event, OrderUpdate):
            self._note_venue_time(event.ts_ns)
            await self._emit_update(event)
        else:
            self._note_venue_time(event.ts_ns)
            await self._emit_position(event)

    def _request_reconcile(self) -> None:
        tx = self._reconcile_tx
        if tx is not None:
            try:
                tx.send_nowait(None)
            except trio.WouldBlock:
                pass  # one is already pending

    async def _reconcile_worker(self, requests: trio.MemoryReceiveChannel[None]) -> None:
        backoff = Backoff(self._s.backoff_min_s, self._s.backoff_max_s)
        async for _ in requests:
            while True:
                try:
                    await self._reconcile()
                    backoff.reset()
                    break
                except VenueError as exc:
                    delay = backoff.next_delay_s()
                    self._log.warning("reconciliation failed ({}); retrying in {:.2f}s", exc, delay)
                    await trio.sleep(delay)

    async def _reconcile(self) -> None:
        """Catch up on what the private stream may have missed (after a reconnect or a gap): fills of this
        session's orders since the drop (venue time minus ``reconcile_margin_s``), the state of every
        order not known terminal, open orders, positions. Events already emitted are not emitted again
        (fills by trade id; order updates unless they advance; positions unless they changed)."""
        since = max(0, self._private_down_ns - int(self._s.reconcile_margin_s * 1e9)) if self._private_down_ns else 0
        n_fills = n_updates = 0
        for symbol in self._s.symbols:
            for f in await self.fills_since(symbol, since):
                if f.client_order_id in self._order_symbols and await self._emit_fill(f):
                    n_fills += 1
        for coid, symbol in list(self._live.items()):
            report = await self.order_status(symbol, coid)
            if report is not None and await self._emit_update(_report_update(report, self.name)):
                n_updates += 1
        for symbol in self._s.symbols:
            for report in await self.open_orders(symbol):
                if report.client_order_id in self._order_symbols and await self._emit_update(
                    _report_update(report, self.name)
                ):
                    n_updates += 1
        positions = await self.positions()
        for symbol in self._s.symbols:
            await self._emit_position(PositionUpdate(positions[symbol], self._venue_clock_ns))
        self._log.info("reconciled since {}: {} missed fills, {} order updates", since, n_fills, n_updates)

    # ------------------------------------------------------------------ event routing
    async def _emit(self, symbol: str, event: VenueEvent) -> None:
        await self._streams.send(symbol, event)

    async def _emit_fill(self, fill: Fill) -> bool:
        if fill.trade_id in self._emitted_trades:
            return False
        self._emitted_trades[fill.trade_id] = None
        while len(self._emitted_trades) > _MAX_REMEMBERED:
            self._emitted_trades.popitem(last=False)
        await self._emit(fill.symbol, fill)
        return True

    async def _emit_update(self, update: OrderUpdate) -> bool:
        """Emit unless it repeats or regresses the last update emitted for the order."""
        coid = update.client_order_id
        filled = update.filled_size if update.filled_size is not None else ZERO
        key = (filled, _STATUS_RANK[update.status])
        prev = self._last_update.get(coid)
        if prev is not None and key <= prev:
            return False
        self._last_update[coid] = key
        if update.status.is_terminal:
            self._live.pop(coid, None)
        await self._emit(update.symbol, update)
        return True

    async def _emit_position(self, update: PositionUpdate) -> bool:
        p = update.position
        key = (p.size, p.entry_price)
        if self._last_position.get(p.symbol) == key:
            return False
        self._last_position[p.symbol] = key
        await self._emit(p.symbol, update)
        return True

    # ------------------------------------------------------------------ close
    async def _close(self) -> None:
        """Disable cancel-on-disconnect (a clean close), then close the event channels. Shielded, bounded."""
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self._s.close_timeout_s) as scope:
                if self._s.cod_countdown_ms and self._cookie is not None:
                    try:
                        await self._set_cancel_on_disconnect(0)
                    except VenueError as exc:
                        self._log.warning("could not disable cancel-on-disconnect: {}", exc)
            if scope.cancelled_caught:
                self._log.warning("cancel-on-disconnect not disabled within {}s", self._s.close_timeout_s)
        self._streams.close()


@asynccontextmanager
async def open_grvt_venue(settings: GrvtSettings) -> AsyncIterator[GrvtVenue]:
    """Open a GRVT session: log in, load the instruments, arm cancel-on-disconnect, start the private
    stream and one market-data feed per symbol; return once every book is synced and the private stream
    is subscribed (bounded by ``settings.open_timeout_s``). On exit: stop the tasks, disable
    cancel-on-disconnect, close the HTTP client (shielded, bounded by ``close_timeout_s``). Resting
    orders are not cancelled here (the engine flattens; COD covers a crash).

    Raises:
        BadValue: the private key is malformed (the text never contains it).
        AuthError: the API key is refused.
        VenueUnavailable: the venue could not be reached or the start did not finish in time.
        VenueError: a configured symbol is unknown (3000) or an answer is malformed.
    """
    for secret in settings.secrets():
        register_secret(secret)
    signer = GrvtSigner(settings.private_key)
    timeout = httpx.Timeout(settings.rest_timeout_s, connect=settings.connect_timeout_s)
    client = httpx.AsyncClient(
        timeout=timeout,
        headers={"Content-Type": "application/json"},
        cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
        follow_redirects=False,
        trust_env=False,
    )
    venue = GrvtVenue(settings, client, signer)
    deadline = trio.current_time() + settings.open_timeout_s
    too_slow = VenueUnavailable(settings.name, f"session did not start within {settings.open_timeout_s}s", code="open")
    try:
        # Before the nursery, so that a refused key or an unknown symbol surfaces as itself, not in a group.
        with trio.move_on_at(deadline) as scope:
            await venue._login()
            await venue._load_instruments()
        if scope.cancelled_caught:
            raise too_slow
        async with trio.open_nursery() as nursery:
            with trio.move_on_at(deadline) as scope:
                await nursery.start(venue._run_auth)
                if settings.cod_countdown_ms:
                    await nursery.start(venue._run_cod)
                await nursery.start(venue._run_private)
                for symbol in settings.symbols:
                    await nursery.start(venue._run_feed, symbol)
            if scope.cancelled_caught:
                raise too_slow
            try:
                yield venue
            finally:
                nursery.cancel_scope.cancel()
    finally:
        try:
            await venue._close()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(settings.close_timeout_s):
                await client.aclose()


__all__ = [
    "GrvtAccountSummary",
    "GrvtSettings",
    "GrvtVenue",
    "open_grvt_venue",
    "parse_account_summary",
]

"""The state of one GRVT session (:class:`_GrvtSession`), the JSON-RPC connection record shared by the order
path and the private stream, and the adapter's constants."""

from __future__ import annotations

import http.cookiejar
import itertools
import random
from collections import OrderedDict
from typing import Any, Final

import httpx
import trio
from loguru import logger

from ..._streams import SymbolEventStreams
from ...domain import BookInvalid, Instrument, OrderBook
from ...protocols.grvt import (
    CLIENT_ORDER_ID_MAX,
    CLIENT_ORDER_ID_MIN,
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
    GrvtSigner,
    SigningInstrument,
    apply_raw_book_update,
    parse_book_feed_raw,
)
from .._base import Capability
from .._errors import RateLimited, VenueUnavailable
from .._kernel import EventGate, FeedBook, Reconciler, RestCaller, Resync, VenueAccessors
from .._ws import WS_ERRORS, WsConnection
from ._settings import GrvtSettings

LOGIN_PATH: Final = "/auth/api_key/login"
"""API-key login route on the edge host (https://api-docs.grvt.io/: Authentication)."""

ACCOUNT_HEADER: Final = "X-Grvt-Account-Id"
"""Header carrying the login response's account id on every private request and WS upgrade (https://api-docs.grvt.io/:
Authentication)."""

PRIVATE_STREAMS: Final = (STREAM_ORDER, STREAM_ORDER_STATE, STREAM_FILL, STREAM_POSITION)
"""Private streams the adapter subscribes to on the trades WebSocket (https://api-docs.grvt.io/trading_streams/)."""

_FILL_PAGE_LIMIT: Final = 1000  # fill_history max page size (trading API: Fill History ``limit``)
_MAX_FILL_PAGES: Final = 50
_MAX_REMEMBERED: Final = 100_000  # trade ids / order ids remembered for de-duplication
_RPC_ID_MOD: Final = 2**32 - 1

_CONN_ERRORS: Final[tuple[type[BaseException], ...]] = (*WS_ERRORS, VenueUnavailable, RateLimited, trio.TooSlowError)


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
    :func:`apply_raw_book_update`: the book parses and checks each value while applying it, with GRVT's
    sequencing). A snapshot at a known sequence 0 (a fresh gateway counter, ``base_known``) still gets the bridge
    check: its first delta must have prev 0.

    Returns:
        GrvtRawBookUpdate: the message (applied, or dropped as a duplicate).

    Raises:
        Resync: a malformed payload, a book for another instrument, a bad value, a sequence gap or a crossed
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
        raise Resync(venue, f"{symbol}: {exc}; resubscribing", code="resync") from None
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

    def __init__(self, ws: WsConnection) -> None:
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

class _GrvtSession(VenueAccessors):
    """The state of a GRVT session and what every part of the adapter uses: the Venue accessors, the venue
    clock, the orders this session sent. :class:`~trio_hedge.venues.grvt.GrvtVenue` is made of it, its
    auth, routes and subscriptions.

    Attributes:
        name (str): configured venue name.
        capabilities (frozenset[Capability]): a crossing post-only order is acked, then REJECTED on the stream
            (trading API: Create Order answers an ack; the outcome is an order state on ``v1.order``), so
            ``post_only_reject_sync`` is not among them.
    """

    capabilities: Final[frozenset[Capability]] = frozenset(
        {"feed_heartbeat", "private_reconcile", "unknown_outcome", "book_stream", "order_stream", "fill_stream"})

    def __init__(self, settings: GrvtSettings, client: httpx.AsyncClient, signer: GrvtSigner) -> None:
        self.name = settings.name
        self._s = settings
        self._client = client
        self._signer = signer
        self._log = logger.bind(tag=settings.name.upper())
        self._rest = RestCaller(
            settings.name, budget_s=settings.connect_timeout_s + settings.rest_timeout_s,
            read_attempts=settings.read_attempts, backoff_min_s=settings.backoff_min_s,
            backoff_max_s=settings.backoff_max_s, protocol_errors=(GrvtProtocolError,), log=self._log,
        )  # fmt: skip
        self._cookie: GrvtCookie | None = None
        self._account_id = ""
        self._cookies_seen: list[str] = []
        self._login_lock = trio.Lock()
        self._cookie_stale = False
        self._instruments: dict[str, Instrument] = {}
        self._meta: dict[str, GrvtInstrumentMeta] = {}
        self._signing: dict[str, SigningInstrument] = {}
        self._feeds = {s: FeedBook(s) for s in settings.symbols}
        self._streams = SymbolEventStreams(settings.name, settings.symbols, settings.event_capacity)
        self._ids = ClientOrderIdGenerator()
        self._rpc_ids = itertools.count(random.randrange(1, 2**20))
        self._conn: _RpcConn | None = None
        self._private_down_at: float | None = None  # trio time the private stream went down (None: up)
        # Orders this session may have created on the venue: client order id -> symbol (v1.state names no
        # instrument), and the subset not yet known terminal (reconciled after a private-stream drop).
        self._order_symbols: OrderedDict[str, str] = OrderedDict()
        self._live: dict[str, str] = {}
        self._gate = EventGate(self._streams, on_terminal=lambda _symbol, coid: self._live.pop(coid, None))
        self._reconciler: Reconciler  # made by GrvtVenue, whose REST reads it uses
        self._private_seq: dict[tuple[str, str], int] = {}
        self._venue_clock_ns = 0  # latest venue timestamp seen (books, fills, orders)
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
    def instrument_meta(self, symbol: str) -> GrvtInstrumentMeta:
        """GRVT signing metadata of ``symbol`` (instrument hash, base decimals). Raises KeyError if unknown."""
        return self._meta[symbol]

    client_order_id_range = (CLIENT_ORDER_ID_MIN, CLIENT_ORDER_ID_MAX)
    """The numeric client order ids the venue takes (the journal reserves blocks of ids inside it)."""

    def new_client_order_id(self) -> str:
        """A uint64 decimal client order id in [2^63, 2^64-1] (trading API, ``client_order_id``: the upper half of
        uint64 is the API's range, the lower half the UI's)."""
        return self._ids.next_id()

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

    def _forget_order(self, coid: str) -> None:
        """The venue definitively did not create this order (a synchronous refusal, nothing sent)."""
        self._order_symbols.pop(coid, None)
        self._live.pop(coid, None)

    def _next_rpc_id(self) -> int:
        return next(self._rpc_ids) % _RPC_ID_MOD + 1

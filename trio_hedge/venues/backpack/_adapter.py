"""The Backpack Exchange venue adapter, native Trio: REST over ``httpx.AsyncClient``, WebSocket over
trio-websocket (:mod:`trio_hedge.venues._ws`), ED25519 request signing (:mod:`._signing`) and the wire codec
(:mod:`._wire`). Implements :class:`~trio_hedge.venues.Venue`.

Wire formats: ``/work/shared/docs/wire-formats.md`` part B (B2 signing, B3 REST, B4 WebSocket), which cites the
Backpack OpenAPI document, backpack-exchange/bpx-api-client and ccxt 4.5.90.

Task tree (inside :func:`open_backpack_venue`'s nursery)::

    feed × symbol   one public WS per symbol, subscribed to ``depth.<symbol>``; REST depth snapshot fetched while
                    the deltas that arrive meanwhile are buffered; deltas applied IN the task with U/u continuity
                    (levels handed to the book as decoded: ``OrderBook.apply_raw_delta`` parses them);
                    a gap, a crossed book or a malformed frame invalidates the book and resyncs; heartbeat under a
                    deadline; reconnect with backoff and jitter (:func:`~trio_hedge.venues._ws.reconnect_forever`)
    private stream  one WS with a signed SUBSCRIBE to ``account.orderUpdate`` and ``account.positionUpdate``
                    -> domain events -> one bounded channel per symbol (never dropped while a consumer listens);
                    heartbeat; reconnect; after every reconnect (and after a malformed private frame) a
                    reconciliation over REST (status of every order we hold live, fills since the drop by the
                    venue clock, positions) emits what the stream may have missed, deduplicated (fills by trade
                    id, order updates only when they advance the order, positions only when they changed)
    watchdog        Backpack has no cancel-on-disconnect (``/work/shared/docs/reliability-notes.md`` §1):
                    see below

**No cancel-on-disconnect: the private-stream watchdog.** When the private stream (its connection or its
heartbeat) has given no sign of life (a subscription, a frame, a pong) for longer than
``private_stream_budget_s``, the adapter is blind to its own orders, so it cancels its resting orders itself over
REST (``DELETE /api/v1/orders`` per symbol) and confirms with ``GET /api/v1/orders`` that none is left. Until the
stream shows life again it refuses new *resting* orders (GTT limit orders) with :class:`VenueUnavailable`
(nothing is sent); IOC/FOK and market orders still go out (the engine's flatten path needs them). If the cancel
cannot be confirmed (REST fails too), the venue is marked failed in a way the engine sees: every unconfirmed
symbol's :class:`FeedState` turns disconnected and its book invalid with the reason
(``book(symbol).invalid_reason``), so the engine's risk guard fails the market once the feed has been down past
its budget; an error is logged. The watchdog keeps retrying the cancel every
``private_stream_budget_s``; a confirmed cancel lifts the mark.

Error classification (like the GRVT adapter): HTTP 429 / ``TOO_MANY_REQUESTS`` -> :class:`RateLimited`;
insufficient margin / invalid order -> :class:`OrderRejected` subclasses (a post-only order that would take ->
:class:`PostOnlyWouldCross`, whether the venue answers 400 or returns the order ``Expired`` with reason
``PostOnlyTaker``); a venue "Duplicate client id" -> :class:`DuplicateClientOrderId`; ``RESOURCE_NOT_FOUND`` on
an order query -> None (after a look in the order history for an order whose venue id we know); for requests
that change state (order, cancel, cancel all) our own deadline (``request_budget_s``), a transport error after the
connection was made, a 5xx and an unreadable 2xx body -> :class:`UnknownOutcome`; a connection that cannot be
made -> :class:`VenueUnavailable`. For read-only requests every such failure is :class:`VenueUnavailable`.

A refused private subscription (an ``AuthError`` frame) ends the session with :class:`AuthError`: a key or clock
problem is a configuration problem, not retried blindly.

Secrets: the API key and secret never reach a log line, a repr or an exception text (the secret lives only in
:class:`BackpackSigner`; venue error messages are scrubbed of both before they are kept).
:meth:`BackpackSettings.secrets` lists them so the app can register them for log redaction (the session also
registers them with :func:`trio_hedge._redact.register_secret`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Final

import httpx
import trio
from loguru import logger
from trio_websocket import WebSocketConnection

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
    OrderType,
    Position,
    PositionUpdate,
    TimeInForce,
    VenueEvent,
)
from .._base import Capability, FeedState, OrderReport, SessionTimeouts
from .._errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    RateLimited,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
)
from .._kernel import (
    EventGate,
    FeedBook,
    PrivateWatchdog,
    ReadyLatch,
    Reconciler,
    RestCaller,
    Resync,
    retry_after_s,
)
from .._streams import SymbolEventStreams
from .._ws import Backoff, heartbeat, open_ws, reconnect_forever
from ._signing import MAX_WINDOW_MS, BackpackSigner, instruction_for
from ._wire import (
    BackpackProtocolError,
    BookTicker,
    ClientIdAllocator,
    DepthSnapshot,
    RawDepthDelta,
    WsError,
    apply_delta_raw,
    apply_snapshot,
    book_ticker_stream,
    check_depth_levels,
    client_id_from_str,
    decode_json,
    depth_stream,
    encode_json,
    error_from_order_report,
    error_from_response,
    order_cancel_all_body,
    order_cancel_body,
    order_execute_body,
    order_query_params,
    order_update_stream,
    parse_book_ticker,
    parse_depth_delta_raw,
    parse_depth_snapshot,
    parse_fill_history,
    parse_market,
    parse_order,
    parse_order_events,
    parse_orders,
    parse_position_updates,
    parse_positions,
    parse_ws_frame,
    position_update_stream,
    private_subscribe_message,
    subscribe_message,
)

if TYPE_CHECKING:
    from loguru import Logger

FILL_PAGE_LIMIT: Final = 1000
"""``limit`` of one ``GET /wapi/v1/history/fills`` page (the venue's maximum, B3)."""

FILL_MAX_PAGES: Final = 20
"""Pages :meth:`BackpackVenue.fills_since` reads at most (20 000 fills)."""

RECONCILE_MARGIN_NS: Final = 2_000_000_000
"""Reconciliation asks for fills from this long (venue clock, ns) before the last event seen before a drop."""

DELTA_BUFFER_MAX: Final = 10_000
"""Depth deltas buffered while a snapshot is fetched, at most (oldest dropped; continuity checks catch it)."""

SYNC_ATTEMPTS: Final = 5
"""Snapshot + buffered-delta joins tried on one connection before it is dropped and opened again."""

ORDER_MEMORY: Final = 20_000
"""Order records kept for idempotent ``place`` and deduplication (oldest terminal ones forgotten first)."""


# Expiry reasons (OpenAPI ``OrderExpiryReason``, B3) that mean "refused", for an unfilled EXPIRED order answer.
_REFUSAL_REASONS: Final[Mapping[str, type[OrderRejected]]] = {
    "ReduceOnlyNotReduced": InvalidOrder,
    "InsufficientMargin": InsufficientMargin,
    "InsufficientFunds": InsufficientMargin,
    "PriceOutOfBounds": InvalidOrder,
    "InvalidPrice": InvalidOrder,
    "InvalidQuantity": InvalidOrder,
}


@dataclass(frozen=True, slots=True)
class BackpackSettings:
    """Settings of one Backpack venue session.

    Attributes:
        rest_url (str): REST base URL (``https://api.backpack.exchange``; the simulator's ``http://127.0.0.1:P``).
        ws_url (str): WebSocket URL (``wss://ws.backpack.exchange``; the simulator's ``ws://127.0.0.1:P``).
        api_key (str): base64 ED25519 verifying key (``X-API-Key``). Secret: not in the repr.
        api_secret (str): base64 ED25519 seed. Secret: not in the repr.
        symbols (tuple[str, ...]): markets to trade (``"SOL_USDC_PERP"``...).
        name (str): venue name in events, errors and logs.
        window_ms (int): ``X-Window`` of signed requests, ms (1..60000; B2).
        heartbeat_interval_s (float), heartbeat_timeout_s (float): WS ping period and pong deadline, seconds.
        private_stream_budget_s (float): private stream (or its heartbeat) silent longer than this, seconds ->
            cancel resting orders over REST (module docstring).
        event_capacity (int): per-symbol private event channel capacity, events.
        reconnect_min_s (float), reconnect_max_s (float): reconnect backoff bounds, seconds.
        request_budget_s (float): the adapter's own deadline on one HTTP exchange and on one WebSocket opening
            handshake, seconds (a state-changing request past it is :class:`UnknownOutcome`; a peer that resets
            the connection mid-handshake is otherwise only noticed by trio-websocket's connect timeout).
            Callers' deadlines apply on top.
        connect_budget_s (float | None): bound of opening a connection (a WebSocket handshake; httpx's connect
            phase gets half of it), seconds; None: ``request_budget_s``.
        close_budget_s (float): bound of the shielded cleanup when the session closes, seconds.
        read_attempts (int): tries of a read-only request on a transport failure, a 5xx or a rate limit (1: a
            read surfaces its first failure, and the engine's retry policy decides).

    Raises:
        BadValue: a field out of range (the message never contains a secret).
    """

    rest_url: str
    ws_url: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    symbols: tuple[str, ...]
    name: str = "backpack"
    window_ms: int = 5000
    heartbeat_interval_s: float = 1.0
    heartbeat_timeout_s: float = 1.5
    private_stream_budget_s: float = 3.0
    event_capacity: int = 256
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0
    request_budget_s: float = 5.0
    read_attempts: int = 1
    connect_budget_s: float | None = None
    close_budget_s: float = 2.0

    def __post_init__(self) -> None:
        symbols = self.symbols
        if not isinstance(symbols, tuple) or not symbols or not all(isinstance(s, str) and s for s in symbols):
            raise BadValue(f"{self.name}: symbols must be a non-empty tuple of symbol names")
        if len(set(self.symbols)) != len(self.symbols):
            raise BadValue(f"{self.name}: a symbol is listed twice")
        window = self.window_ms
        if isinstance(window, bool) or not isinstance(window, int) or not 0 < window <= MAX_WINDOW_MS:
            raise BadValue(f"{self.name}: window_ms must be an int in 1..{MAX_WINDOW_MS}")
        for what in ("heartbeat_interval_s", "heartbeat_timeout_s", "private_stream_budget_s", "reconnect_min_s",
                     "reconnect_max_s", "request_budget_s", "connect_budget_s", "close_budget_s"):
            value = self.connect_s if what == "connect_budget_s" else getattr(self, what)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise BadValue(f"{self.name}: {what} must be a finite number > 0")
        if self.heartbeat_interval_s >= self.private_stream_budget_s:
            raise BadValue(f"{self.name}: heartbeat_interval_s must be shorter than private_stream_budget_s")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise BadValue(f"{self.name}: reconnect_min_s must not exceed reconnect_max_s")
        for what in ("event_capacity", "read_attempts"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadValue(f"{self.name}: {what} must be an int >= 1")
        if not isinstance(self.api_key, str) or not isinstance(self.api_secret, str):
            raise BadValue(f"{self.name}: api_key and api_secret must be strings")

    def secrets(self) -> tuple[str, ...]:
        """The values to redact from logs: ``(api_key, api_secret)`` (the venues layer never imports the app)."""
        return (self.api_key, self.api_secret)

    @property
    def connect_s(self) -> float:
        """The effective connect budget, seconds."""
        return self.request_budget_s if self.connect_budget_s is None else self.connect_budget_s

    def with_timeouts(self, t: SessionTimeouts) -> BackpackSettings:
        """These settings with the session budgets ``t`` (``[venues.<name>.timeouts]``).

        Raises:
            BadValue: a budget out of range (e.g. the heartbeat not shorter than the private-stream budget).
        """
        return replace(self, connect_budget_s=t.connect_s, request_budget_s=t.request_s, close_budget_s=t.close_s,
                       heartbeat_interval_s=t.heartbeat_s, heartbeat_timeout_s=t.heartbeat_deadline_s,
                       private_stream_budget_s=t.private_stream_budget_s)  # fmt: skip


@dataclass(slots=True)
class _OrderState:
    """What this session knows about one order (ours, or seen on the stream)."""

    symbol: str
    request: OrderRequest | None = None
    venue_order_id: str | None = None
    send: str = "none"  # none | sending | acked | unknown | refused
    last_report: OrderReport | None = None


class BackpackVenue:
    """A session on Backpack. Create it with :func:`open_backpack_venue`; see the module docstring."""

    capabilities: Final[frozenset[Capability]] = frozenset(
        {"feed_heartbeat", "private_reconcile", "unknown_outcome", "post_only_reject_sync"}
    )

    def __init__(self, settings: BackpackSettings, signer: BackpackSigner, http: httpx.AsyncClient) -> None:
        self.name = settings.name
        self._settings = settings
        self._signer = signer
        self._http = http
        self._secrets = tuple(s for s in settings.secrets() if s)
        self._log = logger.bind(tag=settings.name.upper())
        self._rest = RestCaller(
            settings.name, budget_s=settings.request_budget_s, read_attempts=settings.read_attempts,
            backoff_min_s=settings.reconnect_min_s, backoff_max_s=settings.reconnect_max_s,
            protocol_errors=(BackpackProtocolError, BadValue), log=self._log,
        )  # fmt: skip
        self._instruments: dict[str, Instrument] = {}
        symbols = settings.symbols
        self._feeds = {s: FeedBook(s) for s in symbols}
        self._tickers: dict[str, BookTicker] = {}
        self._streams = SymbolEventStreams(settings.name, symbols, settings.event_capacity)
        self._ids = ClientIdAllocator()
        self._orders: OrderedDict[tuple[str, str], _OrderState] = OrderedDict()
        self._gate = EventGate(self._streams, on_terminal=lambda _symbol, cid: self._release(cid))
        self._venue_ts_ns = 0  # latest venue timestamp seen (private events, depth), ns
        # private stream health
        self._private_connected = False
        self._watchdog = PrivateWatchdog(
            settings.name, self._feeds, budget_s=settings.private_stream_budget_s, cancel_all=self.cancel_all,
            open_orders=self.open_orders, log=self._log,
        )  # fmt: skip
        self._reconciler = Reconciler(
            self, self._gate, symbols, live=self._live, ours=lambda _cid: True,
            venue_time_ns=lambda: self._venue_ts_ns,
            backoff=Backoff(settings.reconnect_min_s, settings.reconnect_max_s), log=self._log,
        )  # fmt: skip
        # Bound of a WebSocket close handshake: a socket that missed its pong will not answer a close either.
        self._close_ws_s = min(1.0, settings.heartbeat_timeout_s)

    def secrets(self) -> tuple[str, ...]:
        """The values to redact from logs (the settings' API key and secret)."""
        return self._settings.secrets()

    def __repr__(self) -> str:
        symbols = list(self._settings.symbols)
        return f"BackpackVenue(name={self.name!r}, symbols={symbols!r}, key_id={self._signer.key_id!r})"

    # ================================================================== market data
    def instrument(self, symbol: str) -> Instrument:
        return self._instruments[symbol]

    def book(self, symbol: str) -> OrderBook:
        return self._feeds[symbol].book

    def ticker(self, symbol: str) -> BookTicker | None:
        """The last ``bookTicker`` (best bid/ask) the public stream sent for ``symbol``, or None. It is a
        separately sequenced stream: the book (``book(symbol)``) stays the source of truth for trading."""
        return self._tickers.get(symbol)

    def feed_state(self, symbol: str) -> FeedState:
        return self._feeds[symbol].feed_state()

    async def wait_book_change(self, symbol: str) -> None:
        await self._feeds[symbol].wait_change()

    async def _run_feed(self, symbol: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep ``symbol``'s book synced forever (reconnecting). ``started`` once the book is first valid."""
        backoff = Backoff(self._settings.reconnect_min_s, self._settings.reconnect_max_s)
        latch = ReadyLatch(task_status)

        def ready() -> None:
            backoff.reset()
            latch()

        await reconnect_forever(
            partial(self._feed_session, symbol, ready),
            name=f"{self.name.upper()}_{symbol}",
            backoff=backoff,
            on_down=self._feeds[symbol].down,
        )

    async def _feed_session(self, symbol: str, ready: Callable[[], None]) -> None:
        """One public connection: subscribe, sync from a snapshot, apply deltas; returns or raises when it ends.
        The book turns invalid the moment the connection fails (its heartbeat), not after the close handshake."""
        log = self._log.bind(tag=f"{self.name.upper()}_{symbol}")
        feed = self._feeds[symbol]
        with feed.session():
            await feed.wait_unmarked()
            async with open_ws(self._settings.ws_url, connect_timeout_s=self._settings.connect_s,
                               disconnect_timeout_s=self._close_ws_s) as ws:  # fmt: skip
                try:
                    await ws.send_message(subscribe_message([depth_stream(symbol), book_ticker_stream(symbol)]))
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._heartbeat, ws)
                        while True:
                            await self._sync_book(symbol, ws)
                            ready()
                            try:
                                await self._pump_depth(symbol, ws)
                            except Resync as exc:
                                log.warning("book invalid ({}); resyncing from a REST snapshot", exc.message)
                                feed.down(exc.message)
                finally:
                    feed.down("public connection lost")

    async def _heartbeat(self, ws: WebSocketConnection) -> None:
        s = self._settings
        await heartbeat(ws, interval_s=s.heartbeat_interval_s, timeout_s=s.heartbeat_timeout_s, venue=self.name)

    def _depth_of(self, symbol: str, raw: str | bytes) -> RawDepthDelta | None:
        """The depth delta for ``symbol`` in a public frame (levels left raw), None for other streams.

        Raises:
            Resync: malformed frame. VenueUnavailable: an error frame (subscription refused).
        """
        return _depth_of(self.name, symbol, raw, self._tickers, self._log)

    async def _sync_book(self, symbol: str, ws: WebSocketConnection) -> None:
        """Fetch the REST snapshot while buffering the deltas that arrive, then apply both (U/u continuity).
        Tries :data:`SYNC_ATTEMPTS` times with backoff. Raises VenueUnavailable (snapshot failed, or the book did
        not resync: the caller reconnects) or a WS error."""
        feed = self._feeds[symbol]
        book = feed.book
        backoff = Backoff(self._settings.reconnect_min_s, self._settings.reconnect_max_s)
        for attempt in range(SYNC_ATTEMPTS):
            if attempt:
                await trio.sleep(backoff.next_delay_s())
            buffered: deque[RawDepthDelta] = deque(maxlen=DELTA_BUFFER_MAX)
            corrupt: list[str] = []

            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._buffer_deltas, symbol, ws, buffered, corrupt)
                snapshot = await self._fetch_snapshot(symbol)
                nursery.cancel_scope.cancel()
            if corrupt:
                self._log.bind(tag=f"{self.name.upper()}_{symbol}").warning(
                    "malformed frame during resync ({}); fetching again", corrupt[0]
                )
                continue
            try:
                apply_snapshot(book, snapshot)
                for delta in buffered:
                    apply_delta_raw(book, delta, venue=self.name)
            except BookInvalid as exc:
                self._log.bind(tag=f"{self.name.upper()}_{symbol}").warning(
                    "snapshot {} does not join the buffered deltas ({}); fetching again", snapshot.last_update_id, exc
                )
                feed.down(str(exc))
                continue
            self._venue_ts_ns = max(self._venue_ts_ns, book.ts_ns)
            feed.applied()
            return
        raise VenueUnavailable(self.name, f"{symbol}: book did not resync in {SYNC_ATTEMPTS} attempts", code="resync")

    async def _buffer_deltas(
        self, symbol: str, ws: WebSocketConnection, buffered: deque[RawDepthDelta], corrupt: list[str]
    ) -> None:
        """Collect ``symbol``'s deltas into ``buffered`` (and malformed-frame notes into ``corrupt``) until
        cancelled. Cancellation-safe: a received frame is stored before the next checkpoint."""
        while True:
            raw = await ws.get_message()
            try:
                delta = self._depth_of(symbol, raw)
            except Resync as exc:
                corrupt.append(exc.message)
                continue
            if delta is not None:
                buffered.append(delta)

    async def _fetch_snapshot(self, symbol: str) -> DepthSnapshot:
        try:
            _, data = await self._call("GET", "/api/v1/depth", query={"symbol": symbol}, signed=False)
            return parse_depth_snapshot(data, venue=self.name)
        except RateLimited as exc:
            await trio.sleep(min(exc.retry_after_s or 0.0, self._settings.reconnect_max_s))
            raise VenueUnavailable(self.name, f"depth snapshot rate limited: {exc.message}", code=exc.code) from None
        except (VenueError, BadValue) as exc:
            if isinstance(exc, VenueUnavailable):
                raise
            raise VenueUnavailable(self.name, f"depth snapshot: {str(exc)[:300]}", code="snapshot") from None

    async def _pump_depth(self, symbol: str, ws: WebSocketConnection) -> None:
        """Apply deltas as they come (levels parsed by the book's one-pass raw path, :func:`apply_delta_raw`).
        Raises Resync on a gap/crossing/malformed frame or bad value, or a WS error."""
        feed = self._feeds[symbol]
        book = feed.book
        name = self.name
        tickers = self._tickers
        log = self._log
        while True:
            raw = await ws.get_message()
            delta = _depth_of(name, symbol, raw, tickers, log)
            if delta is None:
                continue
            try:
                applied = apply_delta_raw(book, delta, venue=name)
            except BookInvalid as exc:
                raise Resync(name, str(exc), code="resync") from None
            if applied:
                if book.ts_ns > self._venue_ts_ns:
                    self._venue_ts_ns = book.ts_ns
                feed.applied()

    # ================================================================== private stream
    def events(self, symbol: str) -> trio.MemoryReceiveChannel[VenueEvent]:
        return self._streams.take(symbol)

    async def _run_private(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the private stream subscribed forever. ``started`` after the first signed SUBSCRIBE is sent."""
        backoff = Backoff(self._settings.reconnect_min_s, self._settings.reconnect_max_s)
        started = False

        def ready() -> None:
            nonlocal started
            backoff.reset()
            if not started:
                started = True
                task_status.started()

        await reconnect_forever(
            partial(self._private_session, ready), name=f"{self.name.upper()}_PRIVATE", backoff=backoff,
            on_down=self._private_down,
        )

    def _private_down(self, reason: str) -> None:
        if self._private_connected:
            self._private_connected = False
            self._request_reconcile()
            self._log.warning("private stream down ({}); last sign of life {:.2f}s ago", reason[:200],
                              trio.current_time() - self._watchdog.last_alive_s)

    def _request_reconcile(self) -> None:
        self._reconciler.request(self._venue_ts_ns - RECONCILE_MARGIN_NS if self._venue_ts_ns else 0)

    async def _private_session(self, ready: Callable[[], None]) -> None:
        async with open_ws(self._settings.ws_url, connect_timeout_s=self._settings.connect_s) as ws:
            message = private_subscribe_message(
                [order_update_stream(), position_update_stream()],
                self._signer,
                timestamp_ms=time.time_ns() // 1_000_000,
                window_ms=self._settings.window_ms,
            )
            await ws.send_message(message)
            del message
            self._private_connected = True
            self._stamp_alive()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._private_heartbeat, ws)
                nursery.start_soon(self._reconciler.run)
                ready()
                while True:
                    raw = await ws.get_message()
                    self._stamp_alive()
                    await self._on_private_frame(raw)

    async def _private_heartbeat(self, ws: WebSocketConnection) -> None:
        """The heartbeat, with every pong stamped as a sign of life (the watchdog's clock)."""
        s = self._settings
        await heartbeat(ws, interval_s=s.heartbeat_interval_s, timeout_s=s.heartbeat_timeout_s, venue=self.name,
                        on_pong=self._stamp_alive)  # fmt: skip

    def _stamp_alive(self) -> None:
        """The private stream showed life (subscribed, a frame, a pong): the watchdog's clock restarts."""
        self._watchdog.alive()

    async def _on_private_frame(self, raw: str | bytes) -> None:
        try:
            frame = parse_ws_frame(raw, venue=self.name)
        except BackpackProtocolError as exc:
            self._log.error("malformed private frame ({}); reconciling over REST", exc.message[:200])
            self._request_reconcile()
            return
        if isinstance(frame, WsError):
            exc2 = frame.to_exception(venue=self.name)
            if isinstance(exc2, AuthError):
                self._log.error("private subscription refused: {}", self._scrub(exc2.message))
                raise AuthError(self.name, self._scrub(exc2.message), code=exc2.code)
            raise VenueUnavailable(self.name, f"private stream error {frame.code}: {self._scrub(frame.message)}",
                                   code="ws_error")
        kind = frame.kind
        try:
            if kind == "account.orderUpdate":
                events: list[VenueEvent] = list(parse_order_events(frame.data, venue=self.name))
            elif kind == "account.positionUpdate":
                events = list(parse_position_updates(frame.data, venue=self.name))
            else:
                return
        except (BackpackProtocolError, BadValue) as exc:
            self._log.error("malformed {} message ({}); reconciling over REST", kind, str(exc)[:200])
            self._request_reconcile()
            return
        for event in events:
            await self._deliver(event)

    def _state(self, symbol: str, client_order_id: str) -> _OrderState:
        key = (symbol, client_order_id)
        st = self._orders.get(key)
        if st is None:
            st = _OrderState(symbol)
            self._orders[key] = st
            self._forget_old_orders()
        return st

    def _forget_old_orders(self) -> None:
        excess = len(self._orders) - ORDER_MEMORY
        if excess <= 0:
            return
        for key in list(itertools.islice(self._orders, excess * 2)):
            st = self._orders[key]
            if self._gate.is_terminal(*key) or st.send == "refused":
                self._orders.pop(key, None)
                excess -= 1
                if excess <= 0:
                    return

    async def _deliver(self, event: VenueEvent) -> None:
        """Route one stream event to its symbol's channel through the kernel's event gate (each fill once,
        order updates only when they advance, positions only when they changed)."""
        if event.ts_ns > self._venue_ts_ns:
            self._venue_ts_ns = event.ts_ns
        if isinstance(event, PositionUpdate):
            await self._gate.position(event)
        elif isinstance(event, Fill):
            await self._gate.fill(event)
        else:
            if event.client_order_id and event.venue_order_id:
                st = self._state(event.symbol, event.client_order_id)
                if st.venue_order_id is None:
                    st.venue_order_id = event.venue_order_id
            await self._gate.update(event)

    def _release(self, client_order_id: str) -> None:
        try:
            self._ids.release(client_order_id)
        except BadValue:
            pass

    def _live(self, symbol: str) -> list[str]:
        """Client order ids this session holds live in ``symbol`` (their statuses are reconciled)."""
        return [cid for (sym, cid), st in list(self._orders.items())
                if sym == symbol and cid and st.send in ("acked", "unknown", "none")
                and not self._gate.is_terminal(sym, cid)]  # fmt: skip

    # ================================================================== REST
    def _scrub(self, text: str) -> str:
        for s in self._secrets:
            if len(s) >= 6 and s in text:
                text = text.replace(s, "***")
        return text

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: dict[str, object] | None = None,
        signed: bool = True,
        write: bool = False,
    ) -> tuple[int, object | None]:
        """One HTTP exchange through the kernel's :class:`RestCaller` (its read/write semantics, the module
        docstring): under ``request_budget_s``, a read tried ``read_attempts`` times. Returns ``(status, decoded
        JSON or None)`` for a 2xx.

        Raises:
            The mapped VenueError (module docstring); for reads, UnknownOutcome becomes VenueUnavailable.
        """
        headers: dict[str, str] = {}
        content: bytes | None = None
        if body is not None:
            content = encode_json(body)
            headers["Content-Type"] = "application/json; charset=utf-8"
        if signed:
            headers.update(
                self._signer.headers(
                    instruction_for(method, path),
                    body if body is not None else query,
                    timestamp_ms=time.time_ns() // 1_000_000,
                    window_ms=self._settings.window_ms,
                )
            )
        send = partial(self._http.request, method, path, params=query, content=content, headers=headers)
        return await self._rest.call(f"{method} {path}", send, self._decode, write=write)

    def _decode(self, response: httpx.Response) -> tuple[int, object | None]:
        """A 2xx answer -> ``(status, decoded JSON or None)`` (a 202 or an empty body: None); any other status
        -> raise its mapped error (:func:`error_from_response`; the body scrubbed of our secrets)."""
        status = response.status_code
        raw = response.content
        if 200 <= status < 300:
            if status == 202 or not raw.strip():
                try:
                    return status, decode_json(raw, venue=self.name) if raw.strip() else None
                except BackpackProtocolError:
                    return status, None
            return status, decode_json(raw, venue=self.name)
        body_text = self._scrub(raw[:2000].decode("utf-8", "replace"))
        raise error_from_response(
            status, body_text, venue=self.name, retry_after_s=retry_after_s(response.headers.get("Retry-After"))
        )

    async def _load_markets(self) -> dict[str, Instrument]:
        """``GET /api/v1/markets`` -> the configured symbols' instruments.

        Raises:
            BadValue: a configured symbol is not listed. BackpackProtocolError, VenueUnavailable, RateLimited.
        """
        _, data = await self._call("GET", "/api/v1/markets", signed=False)
        if not isinstance(data, list):
            raise BackpackProtocolError(self.name, "markets: expected an array", code="PROTOCOL")
        wanted = set(self._settings.symbols)
        out: dict[str, Instrument] = {}
        for item in data:
            if isinstance(item, dict) and item.get("symbol") in wanted:
                inst = parse_market(item, venue=self.name)
                out[inst.symbol] = inst
        missing = sorted(wanted - set(out))
        if missing:
            raise BadValue(f"{self.name}: symbols not listed by the venue: {', '.join(m[:40] for m in missing)}")
        return out

    # ------------------------------------------------------------------ orders
    def new_client_order_id(self) -> str:
        """A fresh Backpack ``clientId`` (uint32) as a decimal string, unique among our live orders."""
        return self._ids.new_client_order_id()

    async def place(self, request: OrderRequest) -> OrderReport:
        """``POST /api/v1/order`` (B3). Idempotent by client order id: a repeat is answered by a status query and
        sends nothing. See :meth:`Venue.place` for the contract.

        Raises:
            InvalidOrder: unknown symbol, a client id that is not a uint32 string, off-grid price/size (nothing
                sent), or the venue refused it. PostOnlyWouldCross: the post-only order would have taken (400, or
                answered ``Expired``/``PostOnlyTaker``). InsufficientMargin, OrderRejected: refused.
            RateLimited: 429. UnknownOutcome: see the module docstring; resolve with :meth:`order_status`.
            DuplicateClientOrderId: the same id is being sent right now, or the venue holds a live order with it
                (``INVALID_CLIENT_REQUEST`` "Duplicate client id"); query it. VenueUnavailable: nothing was sent
                (cannot connect; or a resting order while the private stream is lost past its budget).
            AuthError: the signature was refused.
        """
        cid = request.client_order_id
        instrument = self._instruments.get(request.symbol)
        if instrument is None:
            raise InvalidOrder(self.name, f"order {cid[:24]}: unknown symbol {request.symbol[:40]!r}", code="local")
        try:
            body = order_execute_body(request, instrument)
        except BadValue as exc:
            raise InvalidOrder(self.name, f"order refused before sending: {str(exc)[:300]}", code="local") from None
        key = (request.symbol, cid)
        prior = self._orders.get(key)
        if prior is not None and prior.send in ("sending", "acked", "unknown"):
            return await self._place_repeat(request, prior)
        if self._watchdog.blind and request.order_type is OrderType.LIMIT and request.tif is TimeInForce.GTT:
            raise VenueUnavailable(
                self.name,
                "private stream lost past its budget: resting orders are refused until it is back",
                code="private_stream_down",
            )
        st = _OrderState(request.symbol, request=request, send="sending")
        self._orders[key] = st
        self._orders.move_to_end(key)
        self._forget_old_orders()
        self._gate.begin(request.symbol, cid)
        self._ids.reserve(cid)
        try:
            _, data = await self._call("POST", "/api/v1/order", body=body, write=True)
        except OrderRejected as exc:
            if "duplicate" in exc.message.lower():
                # The venue holds a live order with this clientId (another session's, or a process before a
                # restart): it exists, so it is not a refusal of it. A repeat of this call queries it.
                st.send = "unknown"
                raise DuplicateClientOrderId(self.name, f"order {cid}: {exc.message}", code=exc.code) from None
            st.send = "refused"
            self._gate.close(request.symbol, cid)
            self._release(cid)
            raise
        except (RateLimited, VenueUnavailable, AuthError):
            # Not taken by the venue (429, cannot connect, maintenance, signature refused): may be sent again.
            self._orders.pop(key, None)
            self._release(cid)
            raise
        except BaseException:
            # UnknownOutcome, or cancelled by the caller's deadline while in flight: resolve by query.
            st.send = "unknown"
            raise
        if data is None:  # 202: accepted, not executed yet
            st.send = "acked"
            return OrderReport(
                client_order_id=cid, venue_order_id=None, symbol=request.symbol, side=request.side,
                size=request.size, price=request.price, status=OrderStatus.PENDING, filled_size=ZERO,
                reduce_only=request.reduce_only, post_only=request.post_only,
            )
        try:
            report = parse_order(data, venue=self.name)
        except (BackpackProtocolError, BadValue) as exc:
            st.send = "unknown"
            text = f"order {cid}: unreadable answer ({str(exc)[:200]})"
            raise UnknownOutcome(self.name, text, code="PROTOCOL") from None
        if report.client_order_id not in ("", cid) or report.symbol != request.symbol:
            st.send = "unknown"
            raise UnknownOutcome(self.name, f"order {cid}: the answer is about another order", code="PROTOCOL")
        st.send = "acked"
        st.venue_order_id = report.venue_order_id
        st.last_report = report
        rejection = _refusal(self.name, report)
        if rejection is not None:
            st.send = "refused"
            self._gate.close(request.symbol, cid)
            self._release(cid)
            raise rejection
        if report.status.is_terminal:
            self._release(cid)
        return report

    async def _place_repeat(self, request: OrderRequest, prior: _OrderState) -> OrderReport:
        cid = request.client_order_id
        if prior.send == "sending":
            raise DuplicateClientOrderId(self.name, f"order {cid} is being sent right now; query it", code="local")
        report = await self.order_status(request.symbol, cid)
        if report is not None:
            rejection = _refusal(self.name, report)
            if rejection is not None:
                raise rejection
            return report
        if prior.send == "acked" and prior.last_report is not None:
            return prior.last_report
        raise UnknownOutcome(self.name, f"order {cid}: the earlier send is still unresolved", code="unresolved")

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        """``DELETE /api/v1/order`` by ``clientId`` (B3). An order the venue no longer knows is not an error.

        Raises:
            RateLimited, UnknownOutcome, VenueUnavailable, AuthError.
        """
        try:
            client_id = client_id_from_str(client_order_id)
        except BadValue:
            self._log.warning("cancel: {!r} is not a Backpack clientId; nothing to cancel", client_order_id[:24])
            return
        try:
            await self._call("DELETE", "/api/v1/order", body=order_cancel_body(symbol, client_id=client_id), write=True)
        except OrderNotFound:
            return
        except OrderRejected as exc:
            self._log.info("cancel {}: venue says {} (treated as already terminal)", client_order_id, exc.message[:120])

    async def cancel_all(self, symbol: str) -> int:
        """``DELETE /api/v1/orders`` (B3). Returns how many orders the venue listed as cancelled (0 on a 202).

        Raises:
            RateLimited, UnknownOutcome, VenueUnavailable, AuthError.
        """
        _, data = await self._call("DELETE", "/api/v1/orders", body=order_cancel_all_body(symbol), write=True)
        if data is None:
            return 0
        try:
            return len(parse_orders(data, venue=self.name))
        except (BackpackProtocolError, BadValue) as exc:
            raise UnknownOutcome(self.name, f"cancel all {symbol}: unreadable answer ({str(exc)[:200]})",
                                 code="PROTOCOL") from None

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        """``GET /api/v1/order?clientId=`` (resting orders only, B3); for an order no longer resting whose venue
        id we know, ``GET /wapi/v1/history/orders?orderId=``. None if neither knows it.

        Raises:
            RateLimited, VenueUnavailable, BackpackProtocolError (malformed answer), AuthError.
        """
        try:
            client_id = client_id_from_str(client_order_id)
        except BadValue:
            return None
        try:
            _, data = await self._call("GET", "/api/v1/order", query=order_query_params(symbol, client_id=client_id))
        except OrderNotFound:
            return await self._order_from_history(symbol, client_order_id)
        if data is None:
            return None
        report = parse_order(data, venue=self.name)
        st = self._orders.get((symbol, client_order_id))
        if st is not None and st.venue_order_id is None:
            st.venue_order_id = report.venue_order_id
        return report

    async def _order_from_history(self, symbol: str, client_order_id: str) -> OrderReport | None:
        st = self._orders.get((symbol, client_order_id))
        if st is None or st.venue_order_id is None:
            return None
        try:
            _, data = await self._call(
                "GET", "/wapi/v1/history/orders", query={"orderId": st.venue_order_id, "symbol": symbol}
            )
        except (OrderNotFound, BackpackProtocolError, OrderRejected) as exc:
            self._log.debug("order history for {} unavailable: {}", client_order_id, exc.message[:120])
            return None
        if data is None:
            return None
        for report in parse_orders(data if isinstance(data, list) else [data], venue=self.name):
            if report.venue_order_id == st.venue_order_id and report.client_order_id in ("", client_order_id):
                return report
        return None

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """``GET /api/v1/orders?symbol=`` (B3). Raises RateLimited, VenueUnavailable, BackpackProtocolError."""
        _, data = await self._call("GET", "/api/v1/orders", query={"symbol": symbol})
        return [r for r in parse_orders(data if data is not None else [], venue=self.name) if r.symbol == symbol]

    async def positions(self) -> dict[str, Position]:
        """``GET /api/v1/position`` (B3), by symbol. Backpack lists open positions only: a configured symbol it
        leaves out is reported flat (size 0), as the Venue interface promises. Raises RateLimited,
        VenueUnavailable, BackpackProtocolError."""
        _, data = await self._call("GET", "/api/v1/position")
        out = {s: Position(self.name, s, ZERO) for s in self._settings.symbols}
        out.update(parse_positions(data if data is not None else [], venue=self.name))
        return out

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        """``GET /wapi/v1/history/fills?symbol=&from=<ms>&fillType=User&sortDirection=Asc`` (B3), paged by
        ``offset`` (ascending, so fills arriving meanwhile only extend the last page), oldest first,
        ``ts_ns >= since_ns`` (venue clock).

        Raises:
            RateLimited, VenueUnavailable, BackpackProtocolError, BadValue (malformed answer).
        """
        since_ms = max(0, since_ns) // 1_000_000
        out: dict[str, Fill] = {}
        for page in range(FILL_MAX_PAGES):
            query = {
                "fillType": "User",
                "from": str(since_ms),
                "limit": str(FILL_PAGE_LIMIT),
                "offset": str(page * FILL_PAGE_LIMIT),
                "sortDirection": "Asc",
                "symbol": symbol,
            }
            _, data = await self._call("GET", "/wapi/v1/history/fills", query=query)
            items = data if isinstance(data, list) else []
            for fill in parse_fill_history(items, venue=self.name):
                if fill.symbol == symbol and fill.ts_ns >= since_ns:
                    out.setdefault(fill.trade_id, fill)
            if len(items) < FILL_PAGE_LIMIT:
                break
        return sorted(out.values(), key=lambda f: f.ts_ns)


def _depth_of(
    venue: str, symbol: str, raw: str | bytes, tickers: dict[str, BookTicker], log: Logger
) -> RawDepthDelta | None:
    """Decode one public frame (orjson, :func:`parse_ws_frame`): the ``depth`` delta for ``symbol`` with its
    levels left raw (:func:`parse_depth_delta_raw`: every field but the level values checked; the values are
    checked by the book as it applies them, :func:`apply_delta_raw`); a ``bookTicker`` for ``symbol`` is
    stored in ``tickers``; anything else is None. A depth delta for another symbol is ignored after its levels
    are checked (as the decoded path did: a malformed frame is a malformed frame).

    Raises:
        Resync: a malformed frame or depth message. VenueUnavailable: an error frame (subscription refused).
    """
    try:
        frame = parse_ws_frame(raw, venue=venue)
    except BackpackProtocolError as exc:
        raise Resync(venue, f"malformed frame: {exc.message[:200]}", code="protocol") from None
    if isinstance(frame, WsError):
        raise VenueUnavailable(venue, f"public stream error {frame.code}: {frame.message[:200]}", code="ws_error")
    kind = frame.kind
    if kind == "bookTicker":
        try:
            ticker = parse_book_ticker(frame.data, venue=venue)
        except (BackpackProtocolError, BadValue) as exc:
            log.warning("malformed bookTicker ignored: {}", str(exc)[:200])
            return None
        if ticker.symbol == symbol:
            tickers[symbol] = ticker
        return None
    if kind != "depth":
        return None
    try:
        delta = parse_depth_delta_raw(frame.data, venue=venue)
        if delta.symbol != symbol:
            check_depth_levels(delta, venue=venue)
            return None
    except (BackpackProtocolError, BadValue) as exc:
        raise Resync(venue, f"malformed depth message: {str(exc)[:200]}", code="protocol") from None
    return delta


def _refusal(venue: str, report: OrderReport) -> OrderRejected | None:
    """The rejection an ``Expired``, unfilled order answer stands for (post-only taker, reduce-only...), else None."""
    rejection = error_from_order_report(report, venue=venue)
    if rejection is not None:
        return rejection
    if report.status is OrderStatus.EXPIRED and report.filled_size == ZERO:
        cls = _REFUSAL_REASONS.get(report.reason)
        if cls is not None:
            return cls(venue, f"order {report.client_order_id or report.venue_order_id} expired: {report.reason}",
                       code=report.reason)
    return None


@asynccontextmanager
async def open_backpack_venue(settings: BackpackSettings) -> AsyncIterator[BackpackVenue]:
    """Open a Backpack session: load the instruments, start the private stream (returns once its signed
    SUBSCRIBE is sent), one depth feed per symbol (returns once every book is synced) and the watchdog; cancel
    them and close the HTTP client (shielded, bounded) on exit. Blocks until ready: bound it with a deadline.

    Raises:
        AuthError: ``api_key`` is not the key of ``api_secret``, or the venue refused the signature.
        BadValue: a malformed secret, or a configured symbol the venue does not list.
        VenueUnavailable, RateLimited, BackpackProtocolError: loading the markets failed.
    """
    for secret in settings.secrets():
        register_secret(secret)
    signer = BackpackSigner(settings.api_secret)
    if signer.api_key != settings.api_key.strip():
        raise AuthError(settings.name, "api_key is not the public key of api_secret (values withheld)", code="config")
    http = httpx.AsyncClient(
        base_url=settings.rest_url,
        timeout=httpx.Timeout(None, connect=settings.connect_s / 2),
        trust_env=False,
        follow_redirects=False,
    )
    try:
        venue = BackpackVenue(settings, signer, http)
        venue._instruments = await venue._load_markets()
        async with trio.open_nursery() as nursery:
            await nursery.start(venue._run_private)
            for symbol in settings.symbols:
                await nursery.start(venue._run_feed, symbol)
            await nursery.start(venue._watchdog.run)
            try:
                yield venue
            finally:
                nursery.cancel_scope.cancel()
                venue._streams.close()
    finally:
        with trio.move_on_after(settings.close_budget_s, shield=True):
            await http.aclose()


__all__ = ["BackpackSettings", "BackpackVenue", "open_backpack_venue"]

"""Backpack subscriptions (https://docs.backpack.exchange/: Streams; frames as captured:
``tests/fixtures/backpack/ws_order_update_examples.json``): ONE public connection per session carrying every
symbol's depth + bookTicker streams, each symbol synced from its own REST snapshot with U/u continuity and its
deltas applied in-task to its feed book (a gap resyncs that symbol only); the signed private stream
(order and position updates through the kernel's event gate, reconciliation by the kernel's reconciler after a
drop, signs of life for the kernel's watchdog); each reconnecting with backoff."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import trio
from trio_websocket import WebSocketConnection

from ..._hotpath import FILL_PRIORITY
from ...domain import BadValue, BookInvalid, Fill, VenueEvent
from ...protocols.backpack import (
    BackpackProtocolError,
    BookTicker,
    DepthSnapshot,
    RawDepthDelta,
    WsError,
    apply_delta_raw,
    apply_snapshot,
    book_ticker_stream,
    check_depth_levels,
    depth_stream,
    order_update_stream,
    parse_book_ticker,
    parse_depth_delta_raw,
    parse_depth_snapshot,
    parse_order_events,
    parse_position_updates,
    parse_ws_frame,
    position_update_stream,
    private_subscribe_message,
    subscribe_message,
)
from .._errors import AuthError, RateLimited, VenueError, VenueUnavailable
from .._kernel import FeedBook, ReadyLatch, Resync
from .._ws import Backoff, WsConnection, heartbeat, open_ws, reconnect_forever
from .._wsdirect import open_private_ws

if TYPE_CHECKING:
    from loguru import Logger

from ._session import DELTA_BUFFER_MAX, RECONCILE_MARGIN_NS, SYNC_ATTEMPTS, _BackpackSession


class _Subscriptions(_BackpackSession):
    """Depth feeds and the private stream of a Backpack session."""

    async def _run_feeds(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep every symbol's book synced forever over ONE public connection (reconnecting).
        ``started`` once every symbol's book has been valid once."""
        backoff = Backoff(self._settings.reconnect_min_s, self._settings.reconnect_max_s)
        latch = ReadyLatch(task_status)
        waiting = set(self._feeds)

        def ready(symbol: str) -> None:
            backoff.reset()
            waiting.discard(symbol)
            if not waiting:
                latch()

        def down(reason: str) -> None:
            for feed in self._feeds.values():
                feed.down(reason)

        await reconnect_forever(partial(self._feeds_session, ready), name=f"{self.name.upper()}_PUBLIC",
                                backoff=backoff, on_down=down)  # fmt: skip

    async def _feeds_session(self, ready: Callable[[str], None]) -> None:
        """One public connection carrying every symbol's ``depth`` and ``bookTicker`` streams (one SUBSCRIBE
        with all of them, Backpack WS docs): each symbol syncs from its own REST snapshot and is then applied
        in this task. A gap or a bad frame of one symbol resyncs that symbol only (a fresh snapshot joined to
        the deltas buffered meanwhile; the connection and the other books stay); a connection loss turns every
        book invalid at once (its heartbeat), not after the close handshake. Returns or raises when it ends."""
        syncs = {symbol: _DepthSync(feed) for symbol, feed in self._feeds.items()}
        streams = [name for symbol in syncs for name in (depth_stream(symbol), book_ticker_stream(symbol))]
        async with open_ws(self._settings.ws_url, connect_timeout_s=self._settings.connect_s,
                           disconnect_timeout_s=self._close_ws_s) as ws:  # fmt: skip
            try:
                await ws.send_message(subscribe_message(streams))
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._heartbeat, ws)

                    def resync(st: _DepthSync, reason: str | None) -> None:
                        if st.buffered is not None:  # already syncing: that snapshot must not join
                            if reason is not None:
                                st.corrupt.append(reason)
                            return
                        if reason is not None:
                            self._log.bind(tag=f"{self.name.upper()}_{st.feed.symbol}").warning(
                                "book invalid ({}); resyncing from a REST snapshot", reason)
                            st.feed.down(reason)
                        st.buffered = deque(maxlen=DELTA_BUFFER_MAX)
                        nursery.start_soon(self._sync_book, st, ready)

                    for st in syncs.values():
                        resync(st, None)
                    await self._pump_depth(ws, syncs, resync)
            finally:
                for feed in self._feeds.values():
                    feed.down("public connection lost")

    async def _heartbeat(self, ws: WebSocketConnection) -> None:
        s = self._settings
        await heartbeat(ws, interval_s=s.heartbeat_interval_s, timeout_s=s.heartbeat_timeout_s, venue=self.name)

    async def _sync_book(self, st: _DepthSync, ready: Callable[[str], None]) -> None:
        """Fetch ``st``'s REST snapshot while the pump buffers its deltas, then apply both (U/u continuity); try
        again with backoff until they join (logged as an error after :data:`SYNC_ATTEMPTS` tries; the feed stays
        down meanwhile, the connection and the other symbols go on). Waits while a watchdog holds the feed."""
        feed = st.feed
        symbol = feed.symbol
        book = feed.book
        log = self._log.bind(tag=f"{self.name.upper()}_{symbol}")
        backoff = Backoff(self._settings.reconnect_min_s, self._settings.reconnect_max_s)
        attempt = 0
        while True:
            await feed.wait_unmarked()
            if attempt:
                await trio.sleep(backoff.next_delay_s())
                if attempt == SYNC_ATTEMPTS:
                    log.error("book did not resync in {} attempts; still trying", SYNC_ATTEMPTS)
            attempt += 1
            buffered: deque[RawDepthDelta] = deque(maxlen=DELTA_BUFFER_MAX)
            st.buffered = buffered
            st.corrupt.clear()
            try:
                snapshot = await self._fetch_snapshot(symbol)
            except VenueUnavailable as exc:
                log.warning("depth snapshot failed ({}); fetching again", exc.message[:200])
                continue
            if feed.marked:
                continue
            if st.corrupt:
                log.warning("malformed frame during resync ({}); fetching again", st.corrupt[0])
                continue
            try:  # no checkpoint from here to the switch: the pump cannot interleave
                apply_snapshot(book, snapshot)
                for delta in buffered:
                    apply_delta_raw(book, delta, venue=self.name)
            except BookInvalid as exc:
                log.warning("snapshot {} does not join the buffered deltas ({}); fetching again",
                            snapshot.last_update_id, exc)  # fmt: skip
                feed.down(str(exc))
                continue
            st.buffered = None
            self._venue_ts_ns = max(self._venue_ts_ns, book.ts_ns)
            feed.applied()
            ready(symbol)
            return

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

    async def _pump_depth(
        self, ws: WebSocketConnection, syncs: dict[str, _DepthSync], resync: Callable[[_DepthSync, str | None], None]
    ) -> None:
        """Read the public connection and apply each delta to its symbol's book in this task (levels parsed by
        the book's one-pass raw path, :func:`apply_delta_raw`); a symbol being synced has its deltas buffered.
        A gap, crossing or bad frame calls ``resync`` for that symbol (every symbol when the frame names none).
        Raises VenueUnavailable (an error frame) or a WS error."""
        name = self.name
        tickers = self._tickers
        log = self._log
        step_aside = FILL_PRIORITY.step_aside
        while True:
            raw = await ws.get_message()
            await step_aside()  # a maker fill on its way to its hedge goes first (trio_hedge/_hotpath.py)
            try:
                delta = _route_depth(name, raw, tickers, log, syncs)
            except _FrameResync as exc:
                for st in syncs.values() if exc.symbol is None else (syncs[exc.symbol],):
                    resync(st, exc.message)
                continue
            if delta is None:
                continue
            st = syncs[delta.symbol]
            buffered = st.buffered
            if buffered is not None:
                buffered.append(delta)
                continue
            feed = st.feed
            book = feed.book
            try:
                applied = apply_delta_raw(book, delta, venue=name)
            except BookInvalid as exc:
                resync(st, str(exc))
                continue
            if applied:
                if book.ts_ns > self._venue_ts_ns:
                    self._venue_ts_ns = book.ts_ns
                feed.applied()

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
        # the hot private stream: read in this task (settings.private_ws, venues/_wsdirect.py)
        async with open_private_ws(self._settings.private_ws, self._settings.ws_url,
                                   connect_timeout_s=self._settings.connect_s) as ws:
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
                received = getattr(ws, "received", None)  # the direct client's (venues/_wsdirect.py)
                while True:
                    raw = await ws.get_message()
                    received_ns = time.perf_counter_ns()  # the fills' receipt stamp (Fill.received_ns)
                    self._stamp_alive()
                    await self._on_private_frame(raw, received_ns)
                    if FILL_PRIORITY.open and received is not None:
                        # a maker fill is on its way to its hedge: while another fill is among the frames already
                        # received, read on (no yield: one route for the burst); otherwise the rest (and the
                        # socket: a frame behind the fill, e.g. its position update, is often there already)
                        # waits until the hedge is out
                        if not any(type(m) is str and '"orderFill"' in m for m in received()):
                            await FILL_PRIORITY.step_aside()

    async def _private_heartbeat(self, ws: WsConnection) -> None:
        """The heartbeat, with every pong stamped as a sign of life (the watchdog's clock)."""
        s = self._settings
        await heartbeat(ws, interval_s=s.heartbeat_interval_s, timeout_s=s.heartbeat_timeout_s, venue=self.name,
                        on_pong=self._stamp_alive)  # fmt: skip

    def _stamp_alive(self) -> None:
        """The private stream showed life (subscribed, a frame, a pong): the watchdog's clock restarts."""
        self._watchdog.alive()

    async def _on_private_frame(self, raw: str | bytes, received_ns: int = 0) -> None:
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
                # the fill stamped with the frame's receipt as it is built (Fill.received_ns)
                events: list[VenueEvent] = list(parse_order_events(frame.data, venue=self.name,
                                                                   received_ns=received_ns))
            elif kind == "account.positionUpdate":
                events = list(parse_position_updates(frame.data, venue=self.name))
            else:
                return
        except (BackpackProtocolError, BadValue) as exc:
            self._log.error("malformed {} message ({}); reconciling over REST", kind, str(exc)[:200])
            self._request_reconcile()
            return
        if events and type(events[0]) is Fill:
            self._fill_frame = raw  # what rehearse_fill decodes
        for event in events:
            await self._deliver(event)

    def rehearse_fill(self, symbol: str) -> None:
        """Decode the last fill frame the private stream carried (as :meth:`_on_private_frame` does, nothing
        delivered; nothing before the first fill): ``engine/_rehearse.py`` keeps the fill's decode warm.
        ``symbol`` is the market's (any symbol's frame serves). Raises nothing for a frame that decoded once."""
        raw = self._fill_frame
        if raw is not None:
            frame = parse_ws_frame(raw, venue=self.name)
            if not isinstance(frame, WsError):
                parse_order_events(frame.data, venue=self.name)


@dataclass(slots=True, eq=False)
class _DepthSync:
    """One symbol's depth on the shared public connection: its feed book, and while a REST snapshot is being
    joined (``buffered`` not None) the deltas that arrive meanwhile and notes of malformed frames."""

    feed: FeedBook
    buffered: deque[RawDepthDelta] | None = None
    corrupt: list[str] = field(default_factory=list)


class _FrameResync(Resync):
    """A malformed public frame: resync ``symbol`` (None: the frame names no symbol, resync every one)."""

    def __init__(self, venue: str, message: str, symbol: str | None) -> None:
        super().__init__(venue, message, code="protocol")
        self.symbol = symbol


def _depth_of(
    venue: str, symbol: str, raw: str | bytes, tickers: dict[str, BookTicker], log: Logger
) -> RawDepthDelta | None:
    """:func:`_route_depth` for one symbol (a connection carrying ``symbol`` only)."""
    return _route_depth(venue, raw, tickers, log, (symbol,))


def _route_depth(
    venue: str, raw: str | bytes, tickers: dict[str, BookTicker], log: Logger, symbols: Container[str]
) -> RawDepthDelta | None:
    """Decode one public frame (orjson, :func:`parse_ws_frame`): the ``depth`` delta of one of ``symbols``
    (its ``symbol`` names the book) with its levels left raw (:func:`parse_depth_delta_raw`: every field but
    the level values checked; the values are checked by the book as it applies them, :func:`apply_delta_raw`);
    a ``bookTicker`` of one of ``symbols`` is stored in ``tickers``; anything else is None. A depth delta for
    another symbol is ignored after its levels are checked (a malformed frame is a malformed frame).

    Raises:
        Resync (:class:`_FrameResync`, naming the symbol of the frame's ``depth.<symbol>`` stream, or None):
            a malformed frame or depth message. VenueUnavailable: an error frame (subscription refused).
    """
    try:
        frame = parse_ws_frame(raw, venue=venue)
    except BackpackProtocolError as exc:
        raise _FrameResync(venue, f"malformed frame: {exc.message[:200]}", None) from None
    if isinstance(frame, WsError):
        raise VenueUnavailable(venue, f"public stream error {frame.code}: {frame.message[:200]}", code="ws_error")
    kind = frame.kind
    if kind == "bookTicker":
        try:
            ticker = parse_book_ticker(frame.data, venue=venue)
        except (BackpackProtocolError, BadValue) as exc:
            log.warning("malformed bookTicker ignored: {}", str(exc)[:200])
            return None
        if ticker.symbol in symbols:
            tickers[ticker.symbol] = ticker
        return None
    if kind != "depth":
        return None
    try:
        delta = parse_depth_delta_raw(frame.data, venue=venue)
        if delta.symbol not in symbols:
            check_depth_levels(delta, venue=venue)
            return None
    except (BackpackProtocolError, BadValue) as exc:
        named = frame.stream.rpartition(".")[2]
        raise _FrameResync(venue, f"malformed depth message: {str(exc)[:200]}",
                           named if named in symbols else None) from None  # fmt: skip
    return delta

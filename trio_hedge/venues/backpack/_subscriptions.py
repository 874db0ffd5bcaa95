"""Backpack subscriptions (https://docs.backpack.exchange/: Streams; frames as captured:
``tests/fixtures/backpack/ws_order_update_examples.json``): one public depth + bookTicker stream per symbol, synced
from a REST snapshot with U/u continuity and applied in-task to the kernel's feed book; the signed private stream
(order and position updates through the kernel's event gate, reconciliation by the kernel's reconciler after a
drop, signs of life for the kernel's watchdog); each reconnecting with backoff."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import trio
from trio_websocket import WebSocketConnection

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
from .._kernel import ReadyLatch, Resync
from .._ws import Backoff, heartbeat, open_ws, reconnect_forever

if TYPE_CHECKING:
    from loguru import Logger

from ._session import DELTA_BUFFER_MAX, RECONCILE_MARGIN_NS, SYNC_ATTEMPTS, _BackpackSession


class _Subscriptions(_BackpackSession):
    """Depth feeds and the private stream of a Backpack session."""

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
                    received_ns = time.perf_counter_ns()  # the fills' receipt stamp (Fill.received_ns)
                    self._stamp_alive()
                    await self._on_private_frame(raw, received_ns)

    async def _private_heartbeat(self, ws: WebSocketConnection) -> None:
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
            if received_ns and type(event) is Fill:
                event = replace(event, received_ns=received_ns)
            await self._deliver(event)


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

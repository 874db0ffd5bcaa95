"""GRVT subscriptions (https://api-docs.grvt.io/market_data_streams/, https://api-docs.grvt.io/trading_streams/;
frames as captured: ``tests/fixtures/grvt/ws_frames.json``): the market-data feed per symbol (``v1.book.d``: a snapshot,
then sequenced deltas applied in-task to the kernel's feed book) and the private stream (``v1.order``, ``v1.state``,
``v1.fill``, ``v1.position`` through the kernel's event gate; reconciliation after a drop by the kernel's
reconciler), each reconnecting with backoff."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial

import trio
from trio_websocket import ConnectionRejected, WebSocketConnection

from ...domain import Fill, OrderUpdate, leaves
from ...protocols.grvt import (
    STREAM_BOOK_DELTA,
    STREAM_FILL,
    STREAM_ORDER,
    STREAM_ORDER_STATE,
    STREAM_POSITION,
    GrvtFeedMessage,
    GrvtProtocolError,
    GrvtRpcResponse,
    account_selector,
    book_delta_selector,
    build_subscribe,
    parse_order_state_feed,
    parse_private_event,
    parse_subscribe_result,
    parse_ws_message,
)
from .._errors import AuthError, RateLimited, UnknownOutcome, VenueUnavailable
from .._kernel import ReadyLatch, Resync
from .._ws import Backoff, heartbeat, open_ws, reconnect_forever
from ._auth import _Auth
from ._session import _CONN_ERRORS, PRIVATE_STREAMS, _apply_book_feed, _CookieRejected, _RpcConn, _Slot


class _Subscriptions(_Auth):
    """Market-data feeds and the private stream of a GRVT session."""

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

    # ------------------------------------------------------------------ market-data feed
    async def _run_feed(self, symbol: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        feed = self._feeds[symbol]
        synced = ReadyLatch(task_status)

        async def session(backoff: Backoff) -> None:
            await self._feed_session(symbol, backoff, synced)

        await self._reconnecting(session, what=f"{symbol} market-data feed",
                                 on_down=lambda: feed.down("market-data connection lost"))  # fmt: skip

    async def _feed_session(self, symbol: str, backoff: Backoff, synced: Callable[[], None]) -> None:
        """One market-data connection: subscribe ``v1.book.d`` (first message a snapshot, market_data_streams) and apply
        every message in this task. Returns never; raises to reconnect."""
        feed = self._feeds[symbol]
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
                feed.down("market-data connection lost")

    async def _feed_loop(
        self, ws: WebSocketConnection, symbol: str, selector: str, backoff: Backoff, synced: Callable[[], None]
    ) -> None:
        """Subscribe, then read and apply until something forces a reconnect (raises :class:`Resync`)."""
        feed = self._feeds[symbol]
        book = feed.book
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
                feed.applied()
                if book.valid:
                    backoff.reset()
                    synced()
                continue
            raise Resync(
                self.name, f"{symbol}: no book snapshot within {self._s.snapshot_timeout_s}s", code="snapshot"
            )

    def _parse_feed_frame(self, raw: str | bytes, symbol: str) -> GrvtFeedMessage | GrvtRpcResponse:
        try:
            return parse_ws_message(raw, venue=self.name)
        except GrvtProtocolError as exc:
            book = self._feeds[symbol].book
            if book.valid:
                book.invalidate(f"malformed frame: {exc.message}")
            raise Resync(self.name, f"{symbol}: malformed frame ({exc.message})", code="protocol") from None

    async def _heartbeat(self, ws: WebSocketConnection) -> None:
        s = self._s
        await heartbeat(ws, interval_s=s.heartbeat_interval_s, timeout_s=s.heartbeat_timeout_s, venue=self.name)

    # ------------------------------------------------------------------ private stream
    async def _run_private(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        started = False
        was_up = False

        def ready() -> None:
            nonlocal started, was_up
            was_up = True
            self._private_down_at = None
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
                self._private_down_at = trio.current_time()
                self._request_reconcile()  # runs once the stream is subscribed again

        async def session(backoff: Backoff) -> None:
            await self._private_session(backoff, ready)

        await self._reconnecting(session, what="private stream", on_down=down)

    @property
    def session_down(self) -> str | None:
        """Why the session is down as a whole (the private stream down past ``private_stream_budget_s``), or None
        (``engine/_portfolio.py`` halts every market on a venue down past its budget)."""
        since = self._private_down_at
        if since is None or trio.current_time() - since <= self._s.private_stream_budget_s:
            return None
        return f"{self.name} private stream down for {trio.current_time() - since:.1f}s"

    async def _private_session(self, backoff: Backoff, ready: Callable[[], None]) -> None:
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
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._heartbeat, ws)
                        nursery.start_soon(self._private_reader, conn)
                        selector = account_selector(self._s.sub_account_id)
                        self._private_seq.clear()
                        for stream in PRIVATE_STREAMS:
                            await self._subscribe(ws, conn, stream, selector)
                        self._conn = conn
                        nursery.start_soon(self._reconciler.run)
                        backoff.reset()
                        ready()
                        self._log.info("private stream subscribed")
                finally:
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
            received_ns = time.perf_counter_ns()  # the fills' receipt stamp (Fill.received_ns)
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
            await self._on_private(msg, received_ns)

    async def _on_private(self, msg: GrvtFeedMessage, received_ns: int = 0) -> None:
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
                await self._gate.update(ev.to_update(symbol=symbol, venue=self.name))
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
            await self._gate.fill(replace(event, received_ns=received_ns) if received_ns else event)
        elif isinstance(event, OrderUpdate):
            self._note_venue_time(event.ts_ns)
            await self._gate.update(event)
        else:
            self._note_venue_time(event.ts_ns)
            await self._gate.position(event)

    def _request_reconcile(self, since_ns: int | None = None) -> None:
        """Reconcile everything since ``since_ns`` (default: the latest venue time seen), less
        ``reconcile_margin_s``, once the private stream is subscribed."""
        mark = self._venue_clock_ns if since_ns is None else since_ns
        self._reconciler.request(mark - int(self._s.reconcile_margin_s * 1e9) if mark else 0)

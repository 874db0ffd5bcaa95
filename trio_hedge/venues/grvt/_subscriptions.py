"""GRVT subscriptions (https://api-docs.grvt.io/market_data_streams/, https://api-docs.grvt.io/trading_streams/;
frames as captured: ``tests/fixtures/grvt/ws_frames.json``): ONE market-data connection per session with a
``v1.book.d`` subscription per symbol (a snapshot, then sequenced deltas applied in-task to that symbol's feed book;
a gap resubscribes that symbol only) and the private stream (``v1.order``, ``v1.state``,
``v1.fill``, ``v1.position`` through the kernel's event gate; reconciliation after a drop by the kernel's
reconciler), each reconnecting with backoff."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial

import trio
from trio_websocket import ConnectionRejected, WebSocketConnection

from ..._hotpath import FILL_PRIORITY
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
    build_unsubscribe,
    parse_order_state_feed,
    parse_private_event,
    parse_subscribe_result,
    parse_ws_message,
)
from .._errors import AuthError, RateLimited, UnknownOutcome, VenueUnavailable
from .._kernel import FeedBook, ReadyLatch, Resync
from .._ws import Backoff, WsConnection, heartbeat, open_ws, reconnect_forever
from .._wsdirect import open_private_ws
from ._auth import _Auth
from ._session import _CONN_ERRORS, PRIVATE_STREAMS, _apply_book_feed, _CookieRejected, _RpcConn, _Slot


class _Subscriptions(_Auth):
    """Market-data feeds and the private stream of a GRVT session."""

    async def _subscribe(self, ws: WsConnection, conn: _RpcConn | None, stream: str, selector: str) -> int:
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
    async def _run_feeds(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep every symbol's book synced forever over ONE market-data connection (reconnecting).
        ``started`` once every symbol's book has been valid once."""
        latch = ReadyLatch(task_status)
        waiting = set(self._feeds)

        def ready(symbol: str) -> None:
            waiting.discard(symbol)
            if not waiting:
                latch()

        def down() -> None:
            for feed in self._feeds.values():
                feed.down("market-data connection lost")

        async def session(backoff: Backoff) -> None:
            await self._feeds_session(backoff, ready)

        await self._reconnecting(session, what="market-data feed", on_down=down)

    async def _feeds_session(self, backoff: Backoff, ready: Callable[[str], None]) -> None:
        """One market-data connection carrying every symbol's ``v1.book.d`` subscription (market_data_streams:
        the first message of each is a snapshot); every message is applied in this task to the book its
        selector names. Returns never; raises to reconnect. Every book turns invalid the moment the connection
        fails (its heartbeat), not after the close handshake."""
        rate_ms = self._s.book_delta_rate_ms
        subs = {sub.selector: sub for sub in (_BookSub(feed, book_delta_selector(symbol, rate_ms=rate_ms))
                                              for symbol, feed in self._feeds.items())}  # fmt: skip
        async with open_ws(
            self._s.market_data_ws_url,
            connect_timeout_s=self._s.connect_timeout_s,
            disconnect_timeout_s=self._close_ws_s,
        ) as ws:
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._heartbeat, ws)
                    await self._feed_loop(ws, subs, backoff, ready)
            finally:
                for feed in self._feeds.values():
                    feed.down("market-data connection lost")

    async def _feed_loop(
        self, ws: WebSocketConnection, subs: dict[str, _BookSub], backoff: Backoff, ready: Callable[[str], None]
    ) -> None:
        """Subscribe every selector, then read and apply until the connection fails. A gap, a bad payload, a
        retryable refusal of its subscribe (the venue's 1002) or no snapshot in time for one symbol resubscribes
        that selector only (unsubscribe + subscribe on this
        connection, the documented re-subscribe: a fresh snapshot; the other books stay valid); a frame that
        names no selector resubscribes them all."""
        name = self.name
        pending: dict[int, _BookSub] = {}  # subscribe request id -> its subscription, until answered
        timeout_s = self._s.snapshot_timeout_s
        deadline = math.inf  # the earliest snapshot deadline of a subscription still waiting for its snapshot

        async def subscribe(sub: _BookSub, reason: str | None) -> None:
            nonlocal deadline
            if reason is not None:
                self._log.warning("{} book invalid ({}); resubscribing", sub.feed.symbol, reason)
                sub.feed.down(reason)
                rid = self._next_rpc_id()
                await ws.send_message(build_unsubscribe(STREAM_BOOK_DELTA, [sub.selector], rid).decode())
            sub.rid = await self._subscribe(ws, None, STREAM_BOOK_DELTA, sub.selector)
            pending[sub.rid] = sub
            sub.snapshot_seq = None
            sub.base_known = False
            sub.deadline = trio.current_time() + timeout_s
            deadline = min(deadline, sub.deadline)

        for sub in subs.values():
            await subscribe(sub, None)
        while True:
            with trio.move_on_at(deadline) as scope:
                raw = await ws.get_message()
            if scope.cancelled_caught:
                now = trio.current_time()
                for sub in subs.values():
                    if sub.deadline <= now:
                        await subscribe(sub, f"no book snapshot within {timeout_s}s")
                deadline = min(sub.deadline for sub in subs.values())
                continue
            await FILL_PRIORITY.step_aside()  # a maker fill on its way to its hedge goes first (trio_hedge/_hotpath.py)
            try:
                msg = parse_ws_message(raw, venue=name)
            except GrvtProtocolError as exc:
                for sub in subs.values():
                    await subscribe(sub, f"malformed frame ({exc.message})")
                continue
            if isinstance(msg, GrvtRpcResponse):
                rid = msg.request_id
                answered = pending.pop(rid, None) if rid is not None else None
                if answered is not None and answered.rid == rid:
                    try:
                        self._check_subscribe(msg, STREAM_BOOK_DELTA)
                    except _CookieRejected:
                        raise
                    except VenueUnavailable as exc:  # this selector refused for now (1002...): it alone waits
                        self._log.warning("{} subscription refused ({}); again after {}s", answered.feed.symbol,
                                          exc.message[:200], timeout_s)  # fmt: skip
                        continue  # its snapshot deadline resubscribes it; the other symbols go on
                    answered.snapshot_seq = parse_subscribe_result(msg.result, venue=name).snapshot_seq(
                        answered.selector)
                elif msg.error is not None:
                    self._log.warning("market-data feed: venue error {}", msg.error)
                continue
            if msg.stream != STREAM_BOOK_DELTA:
                continue
            current = subs.get(msg.selector)
            if current is None:
                continue
            feed = current.feed
            book = feed.book
            try:
                update = _apply_book_feed(name, feed.symbol, book, msg, current.snapshot_seq, current.base_known)
            except Resync as exc:
                if current.deadline != math.inf:
                    continue  # the previous subscription's tail while the fresh snapshot is on its way
                await subscribe(current, exc.message)
                continue
            if update.is_snapshot:
                current.base_known = current.snapshot_seq is not None
            self._note_venue_time(update.event_time_ns)
            feed.applied()
            if current.deadline != math.inf and book.valid:
                current.deadline = math.inf
                deadline = min(s.deadline for s in subs.values())
                backoff.reset()
                ready(feed.symbol)

    async def _heartbeat(self, ws: WsConnection) -> None:
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
            # the trades socket (private stream + order RPCs), hot: read in the reader's task (settings.private_ws)
            async with open_private_ws(
                self._s.private_ws,
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


@dataclass(slots=True, eq=False)
class _BookSub:
    """One symbol's ``v1.book.d`` subscription on the shared market-data connection: its feed book, selector,
    the request id of its latest subscribe, the snapshot's sequence number from the answer
    (:meth:`GrvtSubscribeResult.snapshot_seq`), whether that base is known, and while it waits for its
    snapshot the deadline (``inf`` once the book is valid)."""

    feed: FeedBook
    selector: str
    rid: int = -1
    snapshot_seq: int | None = None
    base_known: bool = False
    deadline: float = math.inf

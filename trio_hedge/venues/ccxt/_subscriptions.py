"""The streams and polls of a ccxt venue session: books (``watch_order_book`` or ``fetch_order_book`` polled), the
private streams (``watch_orders``, ``watch_my_trades``) or their REST polls, the private streams' liveness (the
watchdog's sign of life: :meth:`_Subscriptions._probe_private`, :func:`_track_private`), order updates held for
their fills, positions read after fills, and ccxt.pro's kept wake-ups (:func:`_keep_wakeups`)."""

from __future__ import annotations

import contextvars
import itertools
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import ccxt
import trio

from ...domain import AuthError, BadValue, BookInvalid, Fill, OrderReport, Position, PositionUpdate, VenueError
from .._kernel import update_from_report
from .._ws import Backoff
from . import _convert as cv
from ._bridge import AsyncioCancelled
from ._errors import Call, map_ccxt_error
from ._routes import _Routes
from ._session import _POLLING
from ._settings import ACCOUNT_WIDE_READS, BOOK_DEPTH, HOLD_S

_PRIVATE_WATCH: contextvars.ContextVar[str | None] = contextvars.ContextVar("ccxt_private_watch", default=None)
"""Set (on the asyncio side) in the task of a private watch call to the watch's name: :func:`_track_private` then
records where ccxt.pro subscribed it."""


class _Subscriptions(_Routes):
    """Book feeds, private streams and their REST polls of a ccxt session (they read through the routes)."""

    async def _run_feed(self, symbol: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        feed = self._feeds[symbol]
        unified = self._unified[symbol]
        x = self._x
        started = False
        backoff = Backoff(0.05, 2.0)
        seq = itertools.count(1)
        log = self._log.bind(tag=f"{self.name.upper()}_{symbol}")
        dec = cv.DecimalCache().dec  # a book's levels repeat from one update to the next: each float read once

        async def next_book() -> tuple[Any, Any, list[list[Any]], list[list[Any]]]:
            ob = await x.watch_order_book(unified)
            return ob.get("nonce"), ob.get("timestamp"), [lv[:2] for lv in ob["bids"][:BOOK_DEPTH]], \
                [lv[:2] for lv in ob["asks"][:BOOK_DEPTH]]  # fmt: skip

        while True:
            try:
                async with self._bridge.open_stream(next_book, capacity=1, conflate=True) as books:
                    async for _nonce, ts_ms, bids, asks in books:
                        try:
                            feed.book.apply_snapshot([(dec(p), dec(q)) for p, q in bids],
                                                     [(dec(p), dec(q)) for p, q in asks], seq=next(seq),
                                                     ts_ns=int(ts_ms or 0) * 1_000_000)  # fmt: skip
                        except (BadValue, ValueError, BookInvalid) as exc:  # BookInvalid: crossed (ccxt's own book)
                            feed.down(f"unreadable book: {exc}")
                            continue
                        feed.applied()
                        backoff.reset()
                        if not started and feed.book.valid:
                            started = True
                            task_status.started()
            except (ccxt.BaseError, OSError) as exc:  # OSError: a socket error ccxt.pro lets through (see below)
                reason = f"watch_order_book failed: {type(exc).__name__}: {str(exc)[:200]}"
                if isinstance(exc, ccxt.NetworkError | OSError):  # the connection is lost: its book is stale
                    with trio.move_on_after(self._settings.timeouts.request_s):
                        try:
                            await self._bridge.call(_forget_book, x, unified)  # the next watch: from a snapshot
                        except AsyncioCancelled:
                            pass  # the bridge is closing: no next watch
            except AsyncioCancelled:
                reason = "watch_order_book cancelled on the asyncio side"
            else:
                reason = "watch_order_book ended"
            feed.down(reason)
            log.warning("{}; reconnecting", reason)
            await trio.sleep(backoff.next_delay_s())

    async def _poll_feed(self, symbol: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The REST fallback of a book stream: ``fetch_order_book`` every ``poll_interval_s`` (within the poll budget)
        -> FeedBook; a failed read marks the feed down until the next one answers."""
        _POLLING.set(True)
        feed, unified, started = self._feeds[symbol], self._unified[symbol], False
        seq = itertools.count(1)
        while True:
            began = trio.current_time()
            try:
                ob = await self._call("fetch_order_book", unified)
                feed.book.apply_snapshot([(cv.dec(p), cv.dec(q)) for p, q, *_ in ob["bids"][:BOOK_DEPTH]],
                                         [(cv.dec(p), cv.dec(q)) for p, q, *_ in ob["asks"][:BOOK_DEPTH]],
                                         seq=next(seq), ts_ns=int(ob.get("timestamp") or 0) * 1_000_000)  # fmt: skip
                feed.applied()
                if not started and feed.book.valid:
                    started = True
                    task_status.started()
            except (VenueError, BadValue, ValueError, KeyError, TypeError) as exc:
                feed.down(f"fetch_order_book failed: {str(exc)[:200]}")
            await trio.sleep_until(began + self.poll_interval_s)

    async def _watch_stale(self, symbol: str) -> None:
        """A book older than ``stale_s`` by our clock is invalid (ccxt.pro reconnects silently: its book may
        simply stop); the next update makes it valid again."""
        feed = self._feeds[symbol]
        stale_s = self._settings.stale_s
        while True:
            last = feed.feed_state().last_message_s
            await trio.sleep_until(max(last, trio.current_time()) + stale_s if last > -1e300 else
                                   trio.current_time() + stale_s)  # fmt: skip
            if feed.book.valid and trio.current_time() - feed.feed_state().last_message_s >= stale_s:
                feed.down(f"no book update for {stale_s:.2f}s")

    # ------------------------------------------------------------------ private streams
    async def _run_private(self, watch: str, handle: Callable[[list[dict[str, Any]]], Awaitable[None]], *,
                           task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Watch ``watch`` (``watch_orders``, ``watch_my_trades``) through a lossless bridge stream, each batch to
        ``handle``; a failed watch is resubscribed after a backoff and the kernel's Reconciler reads what it missed.
        The watch is up (``_private_up``, read by :meth:`_private_down_reason`) from its (re)subscription until it
        fails; each batch is a sign of life for the watchdog."""
        x = self._x
        backoff = Backoff(0.1, 2.0)
        fn = getattr(x, watch)
        first = True
        # one symbol: its own stream (ccxt subscribes the market's topic); several: the account's
        args = (self._unified[self._settings.symbols[0]],) if len(self._settings.symbols) == 1 else ()

        async def next_batch() -> list[dict[str, Any]]:
            _PRIVATE_WATCH.set(watch)  # this asyncio task's own context: _track_private records the subscription
            return [dict(o) for o in await fn(*args)]

        self._private_up[watch] = False
        while True:
            failed_at_ms = self._venue_time_ms
            try:
                # ccxt.pro opens the connection on the first call; whether it holds is _private_down_reason's to say
                async with self._bridge.open_stream(next_batch, capacity=self._settings.event_capacity) as batches:
                    self._private_up[watch] = True
                    if first:
                        first = False
                        task_status.started()
                    else:
                        self._reconciler.request(failed_at_ms * 1_000_000 - 5_000_000_000)
                    async for batch in batches:
                        self._watchdog.alive()
                        await handle(batch)
                        backoff.reset()
            except ccxt.BaseError as exc:
                err = map_ccxt_error(self.name, exc, Call())
                if isinstance(err, AuthError):
                    raise err from None  # refused credentials end the session (exit 78), as a native adapter's
                self._log.warning("{} failed ({}: {}); resubscribing", watch, type(exc).__name__, str(exc)[:200])
            except OSError as exc:
                # ccxt.pro sends a subscription on a connection that is closing without wrapping the socket's
                # error (aiohttp's ClientConnectionResetError, a ConnectionResetError): a lost connection
                self._log.warning("{} failed ({}: {}); resubscribing", watch, type(exc).__name__, str(exc)[:200])
            except AsyncioCancelled:
                self._log.warning("{} cancelled on the asyncio side; resubscribing", watch)
            finally:
                self._private_up[watch] = False
            await trio.sleep(backoff.next_delay_s())

    def _private_down_reason(self, now_ms: float) -> str | None:
        """Why a watched private stream is not alive at wall-clock ``now_ms``, or None when each one is: its watch is
        up (subscribed, not failed since), and the ccxt.pro connection that holds its subscription (the URL and
        subscription hashes of its latest ``watch``, recorded by :func:`_track_private`) is open, still holds the
        subscription, and showed a frame or a pong within ``2 x keepAlive`` (ccxt.pro pings every ``keepAlive``
        ms, set under the budget by :func:`private_keepalive_ms`, and gives up after ``maxPingPongMisses = 2``:
        ``ping_loop`` in ``ccxt/async_support/base/ws/client.py``). It reads ccxt's state across the thread:
        single dict and attribute reads, atomic under the GIL.

        A book on the same connection (Backpack, Lighter: one URL for both) keeps the connection's pongs coming,
        not the private watch up; a private stream with no URL key of its own (Hyperliquid) is found by the URL
        its watch used."""
        where: dict[str, tuple[str, tuple[Any, ...]]] = getattr(self._x, "_trio_hedge_private", {})
        for watch, up in list(self._private_up.items()):
            if not up:
                return f"{watch} is resubscribing"
            at = where.get(watch)
            if at is None:
                return f"{watch} has not subscribed yet"
            url, hashes = at
            c = (self._x.clients or {}).get(url)
            if c is None or not c.isConnected or c.closed():
                return f"{watch}: its connection is not open"
            if any(h not in c.subscriptions for h in hashes):
                return f"{watch}: not subscribed on its connection"
            seen_ms = max(c.lastPong or 0, getattr(c, "last_message_at", None) or 0, c.connectionEstablished or 0)
            if now_ms - seen_ms > 2 * float(c.keepAlive or 0):
                return f"{watch}: its connection silent for {(now_ms - seen_ms) / 1000:.1f}s"
        return None

    async def _probe_private(self) -> None:
        """The watchdog's sign of life between events (an account with no order activity gets none): every
        ``min(heartbeat_s, private_stream_budget_s / 3)``, alive when :meth:`_private_down_reason` finds every
        watched private stream alive."""
        period_s = min(self._settings.timeouts.heartbeat_s, self._settings.timeouts.private_stream_budget_s / 3)
        while True:
            await trio.sleep(period_s)
            if self._private_down_reason(time.time() * 1000) is None:
                self._watchdog.alive()

    async def _poll_orders(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The REST fallback of an order stream: while an order of the session is live, one reconciliation pass
        (statuses, then fills, then positions: the kernel's safe order, through the same event gate) every
        ``poll_interval_s``, its calls within the poll budget. Idle, one cheap private read (``fetch_open_orders``
        of the first symbol) once the last good read is a third of ``private_stream_budget_s`` old. REST is the
        stream here: the watchdog counts each pass or read that answered as life, never one that failed (logged;
        the next interval tries again)."""
        _POLLING.set(True)
        task_status.started()
        probe_s = self._settings.timeouts.private_stream_budget_s / 3
        last_ok = trio.current_time()
        while True:
            began = trio.current_time()
            live = any(self._live.values())
            try:
                if live:
                    await self._poll_pass(max(0, self._venue_time_ms - 60_000) * 1_000_000)
                    read = True
                elif began - last_ok >= probe_s:
                    await self._call("fetch_open_orders", self._unified[self._settings.symbols[0]])
                    read = True
                else:
                    read = False  # nothing read: no evidence either way
            except (VenueError, BadValue) as exc:
                self._log.warning("order poll failed ({}); polling again", str(exc)[:200])
                read = False
            if read:
                last_ok = trio.current_time()
                self._watchdog.alive()
            with trio.move_on_at(began + (self.poll_interval_s if live else min(self.poll_interval_s, probe_s))):
                await self._live_kick.wait()  # idle until an order is placed
                self._live_kick = trio.Event()
                await trio.sleep_until(began + self.poll_interval_s)

    async def _poll_pass(self, since_ns: int) -> None:
        """One pass of the order poll over the symbols with a live order of the session, in the Reconciler's safe
        order: the open orders, a status query for each live order not among them (one that just ended), then the
        fills since ``since_ns`` (emitted first), then the status updates; a fill or a terminal update kicks the
        position read. Its cost bounds how late a fill reaches the engine (``calls / poll_rate_per_s``), so it reads
        every symbol in one call where the exchange can (:data:`ACCOUNT_WIDE_READS`): two symbols read one by one
        cost twice the calls, and a maker fill then reached the engine after ``risk.event_grace_ms``.

        Raises:
            VenueError, BadValue: a read failed (the next pass tries again).
        """
        symbols = [s for s in self._settings.symbols if self._live[s]]
        if not symbols:
            return
        reads = self._reads(symbols)
        reports: dict[str, OrderReport] = {}
        for unified in reads:
            for o in await self._call("fetch_open_orders", unified):
                o = dict(o)
                symbol, cid = self._ours(o.get("symbol")), self._cid_of(o)
                if symbol in symbols and cid in self._sent:
                    reports[cid] = cv.report(symbol, o, cid)
        for symbol in symbols:
            for cid in sorted(self._live[symbol] - reports.keys()):
                report = await self.order_status(symbol, cid)
                if report is not None:
                    reports[cid] = report
        await self._emit_fills(symbols, since_ns)
        ts_ns = self._venue_time_ms * 1_000_000
        for cid in sorted(reports):
            r = reports[cid]
            if await self._gate.update(update_from_report(self.name, r, ts_ns)) and (
                    r.filled_size > 0 or r.status.is_terminal):
                self._position_kick.set()

    async def _on_orders(self, orders: list[dict[str, Any]]) -> None:
        for order in orders:
            symbol = self._ours(order.get("symbol"))
            if symbol is None:
                continue
            cid = self._cid_of(order)
            if not cid or cid not in self._sent:
                continue
            vid = order.get("id")
            if vid is not None:
                self._remember(cid, str(vid))
                await self._flush_trades(str(vid))
            status = str(order.get("status") or "")
            if not self.has_trade_stream and (status != "open" or order.get("filled") not in (None, "0", 0)):
                await self._poll_fills(symbol)  # the fills before the update that counts them
            # ccxt's own filled can lag (ccxt.pro backpack parses "l", the last fill, as filled): the fills we
            # emitted for the order are a floor
            try:
                ours = self._filled.get(cid)
                if ours is not None and (cv.dec_or(order.get("filled"), None) or Decimal(0)) < ours:
                    order = {**order, "filled": str(ours)}
                r = cv.report(symbol, order, cid)
            except BadValue as exc:
                self._log.warning("unreadable order update ({}); reconciling", exc)
                self._reconciler.request(self._venue_time_ms * 1_000_000 - 5_000_000_000)
                continue
            self._venue_time_ms = max(self._venue_time_ms, int(order.get("lastUpdateTimestamp") or
                                                                order.get("timestamp") or 0))  # fmt: skip
            u = cv.update(self.name, r, order.get("lastUpdateTimestamp") or order.get("timestamp"))
            if r.filled_size > self._filled.get(cid, Decimal(0)):
                # the fills come first (a consumer sizes an order by its fills): hold the update until the trade
                # stream has delivered them, or HOLD_S has passed (then they are read over REST)
                self._held[cid] = (u, trio.current_time())
                self._held_kick.set()
                continue
            self._held.pop(cid, None)
            await self._gate.update(u)
            if r.filled_size > 0 or r.status.is_terminal:
                self._position_kick.set()

    async def _on_trades(self, trades: list[dict[str, Any]]) -> None:
        for trade in trades:
            symbol = self._ours(trade.get("symbol"))
            if symbol is None:
                continue
            vid = str(trade.get("order") or "")
            cid = self._cid_by_vid.get(vid) or str(trade.get("clientOrderId") or "")
            if not cid:
                self._pending_trades.setdefault(vid, []).append((symbol, trade))  # its order's ids come next
                continue
            await self._emit_fill(symbol, trade, cid)

    async def _flush_trades(self, vid: str) -> None:
        for symbol, trade in self._pending_trades.pop(vid, []):
            await self._emit_fill(symbol, trade, self._cid_by_vid.get(vid, ""))

    async def _emit_fill(self, symbol: str, trade: dict[str, Any], cid: str) -> None:
        if cid not in self._sent:
            return
        try:
            f = cv.fill(self.name, symbol, trade, cid)
        except (BadValue, KeyError) as exc:
            self._log.warning("unreadable trade ({}); reconciling", exc)
            self._reconciler.request(self._venue_time_ms * 1_000_000 - 5_000_000_000)
            return
        await self._fill(f)

    async def _fill(self, f: Fill) -> None:
        self._venue_time_ms = max(self._venue_time_ms, f.ts_ns // 1_000_000)
        if await self._gate.fill(f):
            cid = f.client_order_id
            self._filled[cid] = self._filled.get(cid, Decimal(0)) + f.size
            self._position_kick.set()
            held = self._held.get(cid)
            if held is not None and (held[0].filled_size or Decimal(0)) <= self._filled[cid]:
                del self._held[cid]
                await self._gate.update(held[0])

    async def _release_held(self) -> None:
        """Order updates held for their fills past HOLD_S: read the fills over REST, then emit the update."""
        while True:
            await self._held_kick.wait()
            while self._held:
                oldest = min(t for _u, t in self._held.values())
                await trio.sleep_until(oldest + HOLD_S)
                due = [(cid, u) for cid, (u, t) in self._held.items() if trio.current_time() - t >= HOLD_S]
                for symbol in {u.symbol for _cid, u in due}:
                    await self._poll_fills(symbol)
                for cid, u in due:
                    if self._held.get(cid, (None,))[0] is u:
                        del self._held[cid]
                        await self._gate.update(u)
                        self._position_kick.set()
            self._held_kick = trio.Event()

    async def _poll_fills(self, symbol: str) -> None:
        """The REST fallback for an exchange without a trade stream: read the recent fills (emitted once each), a
        polled call (within the poll budget)."""
        token = _POLLING.set(True)
        try:
            await self._poll_fills_now(symbol)
        finally:
            _POLLING.reset(token)

    async def _poll_fills_now(self, symbol: str) -> None:
        since_ns = self._recent_ns()
        try:
            await self._emit_fills([symbol], since_ns)
        except VenueError as exc:
            self._log.warning("fills over REST failed ({}); reconciling", exc)
            self._reconciler.request(since_ns)

    def _recent_ns(self) -> int:
        """Where a REST read of recent fills starts: a minute of venue time before the latest seen, ns."""
        return max(0, self._venue_time_ms - 60_000) * 1_000_000

    def _reads(self, symbols: list[str]) -> list[str | None]:
        """The unified symbols to read ``symbols`` by: one account-wide read (None) where the exchange has it
        (:data:`ACCOUNT_WIDE_READS`) and there are several, else one read each."""
        wide = len(symbols) > 1 and self._settings.ccxt_id in ACCOUNT_WIDE_READS
        return [None] if wide else [self._unified[s] for s in symbols]

    async def _emit_fills(self, symbols: list[str], since_ns: int) -> None:
        """Read the fills of ``symbols`` since ``since_ns`` (venue time) over REST and emit those of the session's
        orders not emitted yet, oldest first.

        Raises:
            VenueError, BadValue: a read failed.
        """
        fills = [f for unified in self._reads(symbols) for f in await self._fills_of(unified, since_ns)]
        for f in sorted(fills, key=lambda f: f.ts_ns):
            if f.client_order_id in self._sent:
                await self._fill(f)

    async def positions(self) -> dict[str, Position]:
        """The venue's positions (:meth:`_read_positions`). Without a trade stream the fills are read first, over
        REST (one more call: the kernel Reconciler's safe order, fills then positions): every fill a position
        counts has been emitted before the position is returned. The fills come otherwise only after their
        order's update, on a WebSocket that on Backpack also carries the books and ran seconds behind REST under
        CPU load, while the position check (``engine/_market.py`` ``check_positions``) reads this over REST and
        waits ``risk.event_grace_ms`` (0.5 s) for the fills: a fill that late was a ``PositionDrift``
        (``tests/test_ccxt_positions.py``).

        An unreadable fill is logged and left to the reconciler; the positions are read all the same.

        Raises:
            VenueError: a read failed.
        """
        if not self.has_trade_stream:
            since_ns = self._recent_ns()
            try:
                await self._emit_fills(list(self._settings.symbols), since_ns)
            except (BadValue, KeyError) as exc:
                self._log.warning("unreadable fill before a position read ({}); reconciling", exc)
                self._reconciler.request(since_ns)
        return await self._read_positions()

    async def _emit_positions(self) -> None:
        """Positions read over REST after fills (ccxt's unified API has no position in its order events), off the
        event path: a fill or a terminal update kicks it; kicks while it reads merge into one more read."""
        while True:
            await self._position_kick.wait()
            self._position_kick = trio.Event()
            try:
                positions = await self._read_positions()  # kicked by fills: they are read already
            except VenueError as exc:
                self._log.warning("positions over REST failed ({})", exc)
                continue
            for pos in positions.values():
                await self._gate.position(PositionUpdate(pos, self._venue_time_ms * 1_000_000))

    @property
    def event_delay_s(self) -> float:
        """How late an order event or fill may reach the engine after the venue made it, seconds (beyond transport
        latency): 0 with an order stream; polled, one poll interval plus one pass (its reads and a status query
        or two of orders that just ended, at ``poll_rate_per_s``). The position check waits this long before it
        confirms a drift (``engine/_market.py`` ``check_positions``)."""
        if "order_stream" in self.capabilities:
            return 0.0
        wide = len(self._settings.symbols) > 1 and self._settings.ccxt_id in ACCOUNT_WIDE_READS
        reads = 2 if wide else 2 * len(self._settings.symbols)
        return self.poll_interval_s + (reads + 2) / self.poll_rate_per_s


async def _forget_book(client: Any, unified: str) -> None:
    """Drop ccxt.pro's book of ``unified`` (run on the asyncio side), after its connection was lost: the next
    ``watch_order_book`` makes a new one, filled from a snapshot. ccxt.pro keeps the old book otherwise and some
    clients apply the new connection's updates to it: Backpack's loads a REST snapshot only for a book with no
    nonce yet (``handle_order_book`` in ``ccxt/pro/backpack.py``), so a level removed while the connection was
    down stayed in the book (``tests/test_ccxt_book.py``). Only after a lost connection: the new one subscribes
    afresh, and a client whose snapshot comes with its subscription (GRVT's) gets it."""
    client.orderbooks.pop(unified, None)


def _keep_wakeups(client: Any) -> None:
    """Make each of ``client``'s WebSocket connections keep a resolution nobody was waiting for.

    ccxt.pro wakes a ``watch_*`` caller through a future per message hash, and a message resolving a hash with no
    future pending is dropped (``Client.resolve`` in ``ccxt/async_support/base/ws/client.py``); the data stays in
    ccxt's cache but the next ``watch_*`` waits for the *next* message. Between two calls of a loop (``watch_orders``
    returned, the next not yet registered) the last update of an order (its fill, its end) can be such a message,
    and nothing may follow it for a long time. Here ``resolve`` first creates the future when none is pending, so the
    next ``watch_*`` finds it resolved and returns at once with the cache's current state; a second message before
    that watch leaves the kept future as it is (ccxt's ``resolve`` would delete it: both wake-ups lost).
    """
    make = client.client

    def connection(url: str) -> Any:
        c = make(url)
        if not getattr(c, "_trio_hedge_keeps_wakeups", False):
            resolve, future = c.resolve, c.future

            def keeping(result: Any, message_hash: Any) -> Any:
                waiting = c.futures.get(message_hash) if message_hash is not None else None
                if waiting is not None and waiting.done() and not waiting.cancelled():
                    # a kept wake-up not taken yet stands for this message too (the next watch reads the cache, which
                    # has both); ccxt's resolve would delete it, losing both wake-ups
                    return result
                kept = future(message_hash) if message_hash is not None and message_hash not in c.futures else None
                out = resolve(result, message_hash)
                if kept is not None:
                    c.futures[message_hash] = kept  # resolved: the next watch of the hash takes it
                return out

            def taking(message_hash: Any) -> Any:
                f = c.futures.get(message_hash)
                if f is not None and f.done() and not f.cancelled():
                    del c.futures[message_hash]  # a kept resolution wakes one watch, once
                    return f
                return future(message_hash)

            c.resolve, c.future = keeping, taking
            c._trio_hedge_keeps_wakeups = True
        return c

    client.client = connection


def _track_private(client: Any) -> None:
    """Record where ccxt.pro subscribes each private watch: ``client._trio_hedge_private[name] = (url,
    subscription hashes)`` of the latest ``watch`` / ``watch_multiple`` made in a task whose :data:`_PRIVATE_WATCH`
    is ``name`` (``ccxt/async_support/base/exchange.py``: a watch registers its subscribe hashes in the connection's
    ``subscriptions``; a new connection starts with none). An authentication watch made first is overwritten by
    the stream's own. :meth:`_Subscriptions._private_down_reason` reads it."""
    where: dict[str, tuple[str, tuple[Any, ...]]] = {}
    watch, watch_multiple = client.watch, client.watch_multiple

    def tracked_watch(url: str, message_hash: Any, message: Any = None, subscribe_hash: Any = None,
                      subscription: Any = None) -> Any:
        name = _PRIVATE_WATCH.get()
        if name is not None:
            where[name] = (url, (subscribe_hash,))
        return watch(url, message_hash, message, subscribe_hash, subscription)

    def tracked_watch_multiple(url: str, message_hashes: Any, message: Any = None, subscribe_hashes: Any = None,
                               subscription: Any = None) -> Any:
        name = _PRIVATE_WATCH.get()
        if name is not None:
            where[name] = (url, tuple(subscribe_hashes or ()))
        return watch_multiple(url, message_hashes, message, subscribe_hashes, subscription)

    client.watch, client.watch_multiple = tracked_watch, tracked_watch_multiple
    client._trio_hedge_private = where


def private_keepalive_ms(client: Any, budget_s: float) -> int:
    """The ping period for ``client``'s WebSocket connections (ccxt's ``streaming["keepAlive"]``, ms): its own, or a
    third of the private stream's budget when shorter (ccxt.pro's defaults are minutes: Backpack 119 s, GRVT
    300 s), so a connection that stopped answering shows it within the budget (ccxt.pro closes it after two missed
    pongs, and :meth:`_Subscriptions._private_down_reason` counts it silent after ``2 x keepAlive``)."""
    own = int((getattr(client, "streaming", None) or {}).get("keepAlive") or 0)
    third = max(100, int(budget_s * 1000 / 3))
    return min(own, third) if own > 0 else third

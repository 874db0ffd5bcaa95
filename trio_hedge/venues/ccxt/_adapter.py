"""The ``ccxt`` venue kind: the whole :class:`~trio_hedge.venues.Venue` interface on ccxt's unified async API
(``ccxt.pro``, https://docs.ccxt.com/#/ccxt.pro.manual), run on the asyncio bridge (:mod:`._bridge`).

Task tree (inside :func:`open_ccxt_venue`'s nursery)::

    feed × symbol       watch_order_book through a conflated bridge stream (the latest book wins) -> FeedBook;
                        a watch that fails (ccxt.pro reconnects by itself on the next call): book invalid.
                        Polled (no ``book_stream``): fetch_order_book every ``poll_interval_s``
    staleness × symbol  our own clock: no book within ``stale_s`` -> book invalid until the next one
    orders stream       watch_orders through a lossless bridge stream -> EventGate (order updates by rank).
                        Polled (no ``order_stream``): while an order of the session is live, one reconciliation
                        pass (statuses, then fills, then positions) every ``poll_interval_s``
    trades stream       watch_my_trades -> EventGate (each fill once by trade id). Without it (no ``fill_stream``)
                        the fills of an order are read over REST (fetch_my_trades) before the update that shows
                        it filled more, or by the order polls
    reconciler          the kernel's Reconciler after a private watch failed and came back
    watchdog            the kernel's PrivateWatchdog (ccxt has no cancel-on-disconnect)

REST polling replaces a stream the exchange lacks (``has["watchOrderBook"]``, ``has["watchOrders"]``,
``has["watchMyTrades"]`` false) or one named in ``CcxtSettings.poll`` (``ccxt_poll`` in the config: a stream known
not to deliver). The venue then lacks that stream's capability (``book_stream``, ``order_stream``, ``fill_stream``:
``domain/_venue.py``) and the Venue contract suite checks the fallback. The rate budget: every polled REST call
waits its turn on one pacer per session, spaced at least ``1 / poll_rate_per_s`` apart (default
:data:`POLL_SHARE` of the exchange's published rate, ``1000 / rateLimit`` per second, ccxt's ``rateLimit`` in ms);
the rest of the venue's rate is left to the orders (``engine/_ratelimit.py``). A pass that finds its budget spent
waits for it, so the interval stretches rather than the rate; a polled book older than ``stale_s`` is invalid as a
streamed one is. Without ``cancelAllOrders``, cancel all is one ``cancel_order`` per open order
(``python -m trio_hedge venues`` lists each exchange's fallbacks).

Numbers: ccxt's string number mode (see :mod:`._convert`). Orders carry our client order id in ccxt's unified
``clientOrderId`` param; post-only as ``postOnly``, IOC as ``timeInForce = "IOC"``, reduce-only as ``reduceOnly``.
Errors: :mod:`._errors` (one table).
"""

from __future__ import annotations

import contextvars
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import trio
from loguru import logger

from ..._streams import SymbolEventStreams
from ...domain import (
    AuthError,
    BadValue,
    Capability,
    Fill,
    OrderNotFound,
    OrderRejected,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PositionUpdate,
    PostOnlyWouldCross,
    TimeInForce,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
)
from .._base import SessionTimeouts
from .._kernel import EventGate, FeedBook, PrivateWatchdog, Reconciler, VenueAccessors, update_from_report
from .._ws import Backoff
from . import _convert as cv
from ._bridge import AsyncioBridge, AsyncioCancelled, open_asyncio_bridge
from ._errors import Call, map_ccxt_error

HOLD_S = 0.25
"""How long an order update that counts fills not yet delivered waits for them on the trade stream, seconds."""

BOOK_DEPTH = 50
"""Levels per side copied out of ccxt's order book on each update."""

SYNC_POST_ONLY_REJECT = frozenset({"backpack"})
"""ccxt exchanges that refuse a crossing post-only order in the answer to ``create_order`` (capability
``post_only_reject_sync``); elsewhere it may be acked, then rejected on the stream."""

POLL_SHARE = 0.25
"""The share of an exchange's published request rate (``1000 / rateLimit`` per second) that REST polling may spend
by default (``CcxtSettings.poll_rate_per_s`` overrides it)."""

ACCOUNT_WIDE_READS = frozenset({"backpack"})
"""ccxt exchanges whose ``fetch_open_orders`` and ``fetch_my_trades`` read every symbol of the account in one call
when given no symbol (Backpack: ``GET /api/v1/orders`` and ``GET /wapi/v1/history/fills`` take ``symbol`` as an
optional filter, https://docs.backpack.exchange/#tag/Order/operation/get_open_orders and
https://docs.backpack.exchange/#tag/History/operation/get_fills). The order poll's pass then costs the same REST
calls for any number of symbols; elsewhere it reads symbol by symbol."""

POLLABLE = {"watchOrderBook": "book_stream", "watchOrders": "order_stream", "watchMyTrades": "fill_stream"}
"""ccxt.pro's stream methods the adapter can replace with REST polling, and the capability each stands for."""

_POLLING: contextvars.ContextVar[bool] = contextvars.ContextVar("ccxt_polling", default=False)
"""Set in the tasks that poll: their REST calls wait on the session's poll pacer (the rate budget)."""

CLIENT_ID_FETCH = frozenset({"grvt"})
"""ccxt exchanges whose ``fetch_order`` takes our ``clientOrderId`` param; the others are asked by the venue id
from the ack or, when the ack was lost, found among the open and recent orders."""


@dataclass(frozen=True, slots=True)
class CcxtSettings:
    """One ccxt venue session.

    Attributes:
        name (str): the configured venue name. ccxt_id (str): the ccxt exchange id (``ccxt.exchanges``).
        symbols (tuple[str, ...]): the symbols traded, as configured (ccxt's unified symbol or the market id).
        config (dict): the ccxt client's constructor config (credentials, ``options``: ``ccxt_options``).
        urls (dict): replaces the client's ``urls["api"]`` (the wire simulators); empty keeps ccxt's.
        event_capacity (int): per-symbol private channel capacity.
        timeouts (SessionTimeouts): budgets (``request_s`` per ccxt call; ``heartbeat_s + heartbeat_deadline_s``
            is the staleness budget of a book; ``private_stream_budget_s`` the watchdog's).
        poll (frozenset[str]): streams to replace with REST polling even where ccxt has them (keys of
            :data:`POLLABLE`: a stream known not to deliver); those ccxt lacks are polled anyway.
        poll_interval_s (float | None): the polls' period, seconds; None: ``timeouts.heartbeat_s``.
        poll_rate_per_s (float | None): the most REST calls per second the polls may spend; None:
            :data:`POLL_SHARE` of the exchange's published rate.
    """

    name: str
    ccxt_id: str
    symbols: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    urls: dict[str, Any] = field(default_factory=dict)
    event_capacity: int = 256
    timeouts: SessionTimeouts = field(default_factory=SessionTimeouts)
    poll: frozenset[str] = frozenset()
    poll_interval_s: float | None = None
    poll_rate_per_s: float | None = None

    def __post_init__(self) -> None:
        unknown = set(self.poll) - set(POLLABLE)
        if unknown:
            raise ValueError(f"cannot poll {sorted(unknown)}: only {sorted(POLLABLE)}")

    def with_timeouts(self, timeouts: SessionTimeouts) -> CcxtSettings:
        return replace(self, timeouts=timeouts)

    def secrets(self) -> list[str]:
        """Credential values (registered for redaction)."""
        return [v for k, v in self.config.items() if isinstance(v, str) and k != "options" and v]

    @property
    def stale_s(self) -> float:
        return self.timeouts.heartbeat_s + self.timeouts.heartbeat_deadline_s


class CcxtVenue(VenueAccessors):
    """A venue session over one ccxt.pro client. Create it with :func:`open_ccxt_venue`.

    Capabilities: ``feed_heartbeat`` (staleness from our own clock invalidates a silent book), ``private_reconcile``
    and ``unknown_outcome``; ``post_only_reject_sync`` for the exchanges in :data:`SYNC_POST_ONLY_REJECT` (elsewhere
    a crossing post-only may be acked then rejected; a repeated ``place`` of it raises PostOnlyWouldCross);
    ``book_stream``, ``order_stream``, ``fill_stream`` for each stream it watches (the others are polled).

    Attributes:
        poll_interval_s (float): period of the REST polls that replace a missing stream, seconds.
        poll_rate_per_s (float): the most REST calls per second those polls spend.
        poll_calls (int): REST calls the polls made so far.
    """

    def __init__(self, settings: CcxtSettings, bridge: AsyncioBridge, client: Any) -> None:
        self.name = settings.name
        caps: set[Capability] = {"feed_heartbeat", "private_reconcile", "unknown_outcome"}
        if settings.ccxt_id in SYNC_POST_ONLY_REJECT:
            caps.add("post_only_reject_sync")
        for watch, cap in POLLABLE.items():
            if client.has.get(watch) and watch not in settings.poll:
                caps.add(cap)  # type: ignore[arg-type]
        self.capabilities: frozenset[Capability] = frozenset(caps)
        self.poll_interval_s = settings.poll_interval_s or settings.timeouts.heartbeat_s
        published_per_s = 1000.0 / max(float(client.rateLimit or 1000), 1.0)
        self.poll_rate_per_s = settings.poll_rate_per_s or POLL_SHARE * published_per_s
        self.poll_calls = 0
        self._poll_next_s = 0.0
        self._settings = settings
        self._bridge = bridge
        self._x = client
        self._log = logger.bind(tag=settings.name.upper())
        self._instruments = {}
        self._unified: dict[str, str] = {}
        self._ours_by_unified: dict[str, str] = {}
        self._contract: dict[str, Decimal] = {}
        for sym in settings.symbols:
            market = client.market(sym)
            self._unified[sym] = market["symbol"]
            self._ours_by_unified[market["symbol"]] = sym
            self._contract[sym] = cv.dec(market.get("contractSize") or 1, "contractSize")
            self._instruments[sym] = cv.instrument(settings.name, sym, market, client.precisionMode)
        self._feeds = {s: FeedBook(s) for s in settings.symbols}
        self._streams = SymbolEventStreams(settings.name, settings.symbols, settings.event_capacity)
        self._gate = EventGate(self._streams, on_terminal=self._terminal)
        self._cid_by_vid: dict[str, str] = {}
        self._vid_by_cid: dict[str, str] = {}
        self._live: dict[str, set[str]] = {s: set() for s in settings.symbols}
        self._sent: set[str] = set()
        self._post_only: set[str] = set()
        self._pending_trades: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._filled: dict[str, Decimal] = {}  # cid -> size of the fills emitted for it
        self._position_kick = trio.Event()
        self._held: dict[str, tuple[OrderUpdate, float]] = {}  # cid -> (update waiting for its fills, since)
        self._held_kick = trio.Event()
        self._venue_time_ms = 0
        self._ids = itertools.count(1)
        self._id_base = random.randrange(1, 2**31 - 2**24)
        self.has_trade_stream = "fill_stream" in caps
        self._live_kick = trio.Event()
        self._watchdog = PrivateWatchdog(settings.name, self._feeds, budget_s=settings.timeouts.private_stream_budget_s,
                                         cancel_all=self.cancel_all, open_orders=self.open_orders, log=self._log)
        self._reconciler = Reconciler(self, self._gate, settings.symbols, live=lambda s: tuple(self._live[s]),
                                      ours=lambda cid: cid in self._sent, venue_time_ns=lambda: self._venue_time_ms *
                                      1_000_000, backoff=Backoff(0.1, 2.0), log=self._log)  # fmt: skip

    # ------------------------------------------------------------------ helpers
    def secrets(self) -> list[str]:
        return self._settings.secrets()

    def _terminal(self, symbol: str, cid: str) -> None:
        self._live[symbol].discard(cid)

    def _retry_after_s(self) -> float | None:
        headers = getattr(self._x, "last_response_headers", None) or {}
        try:
            value = headers.get("Retry-After") or headers.get("retry-after")
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    async def _call(self, method: str, *args: Any, write: bool = False, post_only: bool = False) -> Any:
        """``client.<method>(*args)`` on the bridge within ``request_s``; ccxt errors through the table. A write
        past the budget is UnknownOutcome (it may have reached the venue), a read VenueUnavailable."""
        fn: Callable[..., Awaitable[Any]] = getattr(self._x, method)
        if _POLLING.get():
            await self._poll_turn()
        with trio.move_on_after(self._settings.timeouts.request_s) as scope:
            try:
                return await self._bridge.call(fn, *args)
            except ccxt.BaseError as exc:
                raise map_ccxt_error(self.name, exc, Call(write, post_only, self._retry_after_s())) from None
            except AsyncioCancelled as exc:
                raise VenueUnavailable(self.name, f"{method}: {exc}") from None
        assert scope.cancelled_caught
        msg = f"{method}: no answer within {self._settings.timeouts.request_s}s"
        raise (UnknownOutcome if write else VenueUnavailable)(self.name, msg, code="timeout")

    async def _poll_turn(self) -> None:
        """Wait for a polled call's turn: polled calls are spaced ``1 / poll_rate_per_s`` apart (the budget)."""
        now = trio.current_time()
        at = max(now, self._poll_next_s)
        self._poll_next_s = at + 1.0 / self.poll_rate_per_s
        self.poll_calls += 1
        await trio.sleep_until(at)

    def _cid_of(self, order: dict[str, Any]) -> str:
        cid = order.get("clientOrderId")
        vid = order.get("id")
        if cid is not None and str(cid) != "":
            cid = str(cid)
            if vid is not None:
                self._remember(cid, str(vid))
            return cid
        return self._cid_by_vid.get(str(vid), "") if vid is not None else ""

    def _remember(self, cid: str, vid: str) -> None:
        # the latest id wins; a placeholder id is not an id (GRVT acks "0x00" while the order is pending)
        if vid.strip("0x") == "":
            return
        self._vid_by_cid[cid] = vid
        self._cid_by_vid[vid] = cid

    def _ours(self, unified: str | None) -> str | None:
        return self._ours_by_unified.get(unified or "")

    # ------------------------------------------------------------------ market data
    async def _run_feed(self, symbol: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        feed = self._feeds[symbol]
        unified = self._unified[symbol]
        x = self._x
        started = False
        backoff = Backoff(0.05, 2.0)
        seq = itertools.count(1)
        log = self._log.bind(tag=f"{self.name.upper()}_{symbol}")

        async def next_book() -> tuple[Any, Any, list[list[Any]], list[list[Any]]]:
            ob = await x.watch_order_book(unified)
            return ob.get("nonce"), ob.get("timestamp"), [lv[:2] for lv in ob["bids"][:BOOK_DEPTH]], \
                [lv[:2] for lv in ob["asks"][:BOOK_DEPTH]]  # fmt: skip

        while True:
            try:
                async with self._bridge.open_stream(next_book, capacity=1, conflate=True) as books:
                    async for _nonce, ts_ms, bids, asks in books:
                        try:
                            feed.book.apply_snapshot([(cv.dec(p), cv.dec(q)) for p, q in bids],
                                                     [(cv.dec(p), cv.dec(q)) for p, q in asks], seq=next(seq),
                                                     ts_ns=int(ts_ms or 0) * 1_000_000)  # fmt: skip
                        except (BadValue, ValueError) as exc:
                            feed.down(f"unreadable book: {exc}")
                            continue
                        feed.applied()
                        backoff.reset()
                        if not started and feed.book.valid:
                            started = True
                            task_status.started()
            except ccxt.BaseError as exc:
                reason = f"watch_order_book failed: {type(exc).__name__}: {str(exc)[:200]}"
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
        x = self._x
        backoff = Backoff(0.1, 2.0)
        fn = getattr(x, watch)
        first = True
        # one symbol: its own stream (ccxt subscribes the market's topic); several: the account's
        args = (self._unified[self._settings.symbols[0]],) if len(self._settings.symbols) == 1 else ()

        async def next_batch() -> list[dict[str, Any]]:
            return [dict(o) for o in await fn(*args)]

        while True:
            failed_at_ms = self._venue_time_ms
            try:
                # ccxt.pro opens the connection on the first call; the watchdog counts each batch as life
                async with self._bridge.open_stream(next_batch, capacity=self._settings.event_capacity) as batches:
                    if first:
                        first = False
                        task_status.started()
                    else:
                        self._reconciler.request(failed_at_ms * 1_000_000 - 5_000_000_000)
                    self._watchdog.alive()
                    async for batch in batches:
                        self._watchdog.alive()
                        await handle(batch)
                        backoff.reset()
            except ccxt.BaseError as exc:
                err = map_ccxt_error(self.name, exc, Call())
                if isinstance(err, AuthError):
                    raise err from None  # refused credentials end the session (exit 78), as a native adapter's
                self._log.warning("{} failed ({}: {}); resubscribing", watch, type(exc).__name__, str(exc)[:200])
            except AsyncioCancelled:
                self._log.warning("{} cancelled on the asyncio side; resubscribing", watch)
            await trio.sleep(backoff.next_delay_s())

    def _private_ws_url(self) -> str:
        ws = (self._x.urls.get("api") or {}).get("ws")
        if isinstance(ws, str):
            return ws
        if isinstance(ws, dict):
            for key, url in ws.items():
                if "private" in str(key).lower() and isinstance(url, str):
                    return url
        return ""

    async def _watch_private_connection(self) -> None:
        """The watchdog's sign of life between events: ccxt.pro's private WebSocket client is open (ccxt removes
        a closed client from ``clients``; an account with no order activity sends nothing)."""
        url = self._private_ws_url()
        period_s = min(self._settings.timeouts.heartbeat_s, self._settings.timeouts.private_stream_budget_s / 3)
        while True:
            await trio.sleep(period_s)
            clients = list(self._x.clients.items())  # read-only look across the thread: a snapshot of the dict
            if any(u.startswith(url) and not c.closed() for u, c in clients):
                self._watchdog.alive()

    async def _poll_orders(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The REST fallback of an order stream: while an order of the session is live, one reconciliation pass
        (statuses, then fills, then positions: the kernel's safe order, through the same event gate) every
        ``poll_interval_s``, its calls within the poll budget; idle, no call. A failed pass is logged and the next
        one tries again. The watchdog counts each interval as life (REST is the stream here)."""
        _POLLING.set(True)
        task_status.started()
        while True:
            began = trio.current_time()
            if any(self._live.values()):
                since_ns = max(0, self._venue_time_ms - 60_000) * 1_000_000
                try:
                    await self._poll_pass(since_ns)
                except (VenueError, BadValue) as exc:
                    self._log.warning("order poll failed ({}); polling again", str(exc)[:200])
            self._watchdog.alive()
            with trio.move_on_at(began + self.poll_interval_s):
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
        wide = len(symbols) > 1 and self._settings.ccxt_id in ACCOUNT_WIDE_READS
        reads: list[str | None] = [None] if wide else [self._unified[s] for s in symbols]
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
        fills = [f for unified in reads for f in await self._fills_of(unified, since_ns)]
        for f in sorted(fills, key=lambda f: f.ts_ns):
            if f.client_order_id in self._sent:
                await self._fill(f)
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
        since_ns = max(0, self._venue_time_ms - 60_000) * 1_000_000
        try:
            for f in await self.fills_since(symbol, since_ns):
                if f.client_order_id in self._sent:
                    await self._fill(f)
        except VenueError as exc:
            self._log.warning("fills over REST failed ({}); reconciling", exc)
            self._reconciler.request(since_ns)

    async def _emit_positions(self) -> None:
        """Positions read over REST after fills (ccxt's unified API has no position in its order events), off the
        event path: a fill or a terminal update kicks it; kicks while it reads merge into one more read."""
        while True:
            await self._position_kick.wait()
            self._position_kick = trio.Event()
            try:
                positions = await self.positions()
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

    @property
    def session_down(self) -> str | None:
        """Why the session is down as a whole (the private streams silent past their budget), or None
        (``engine/_portfolio.py``)."""
        return self._watchdog.down_reason

    # ------------------------------------------------------------------ requests
    client_order_id_range = (1, 2**31 - 1)
    """The numeric client order ids used (the journal reserves blocks inside it)."""

    def new_client_order_id(self) -> str:
        """A decimal client order id below 2**31 (fits Backpack's uint32 ``clientId`` and GRVT's uint64)."""
        return str(self._id_base + next(self._ids))

    async def place(self, request: OrderRequest) -> OrderReport:
        symbol, cid = request.symbol, request.client_order_id
        if cid in self._sent:  # a repeat: answered from the venue's state when it knows the order
            known = await self.order_status(symbol, cid)
            if known is not None:
                if known.status is OrderStatus.REJECTED and cid in self._post_only:
                    raise PostOnlyWouldCross(self.name, "post-only order rejected (it would have taken)",
                                             code="rejected")
                return known
        if request.post_only and self._watchdog.blind:
            raise VenueUnavailable(self.name, "private stream silent: no new resting orders")
        params: dict[str, Any] = {"clientOrderId": cid}
        if request.post_only:
            params["postOnly"] = True
            self._post_only.add(cid)
        if request.reduce_only:
            params["reduceOnly"] = True
        if request.order_type is OrderType.LIMIT and request.tif in (TimeInForce.IOC, TimeInForce.FOK):
            params["timeInForce"] = request.tif.value
        kind = "limit" if request.order_type is OrderType.LIMIT else "market"
        price = str(request.price) if request.price is not None else None
        self._sent.add(cid)
        self._live[symbol].add(cid)
        self._live_kick.set()
        self._gate.begin(symbol, cid)
        try:
            order = await self._call("create_order", self._unified[symbol], kind, request.side.value.lower(),
                                     str(request.size), price, params, write=True, post_only=request.post_only)
        except OrderRejected:
            self._live[symbol].discard(cid)
            self._gate.close(symbol, cid)
            raise
        order = dict(order)
        order.setdefault("symbol", self._unified[symbol])
        order["clientOrderId"] = order.get("clientOrderId") or cid
        for k, v in (("amount", str(request.size)), ("side", request.side.value.lower()), ("price", price)):
            if order.get(k) is None:
                order[k] = v
        r = cv.report(symbol, order, cid)
        if r.venue_order_id:
            self._remember(cid, r.venue_order_id)
        if r.status is OrderStatus.REJECTED:
            self._gate.close(symbol, cid)
            if request.post_only:
                raise PostOnlyWouldCross(self.name, "post-only order rejected", code="rejected")
            raise OrderRejected(self.name, "order rejected", code="rejected")
        return r

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        vid = self._vid_by_cid.get(client_order_id)
        if vid is None:
            known = await self.order_status(symbol, client_order_id)
            if known is None or known.status.is_terminal or known.venue_order_id is None:
                return
            vid = known.venue_order_id
        try:
            await self._call("cancel_order", vid, self._unified[symbol], {}, write=True)
        except OrderRejected:
            # refused: an order already terminal is not an error (exchanges say it as "not found", a bad request...)
            known = await self.order_status(symbol, client_order_id)
            if known is not None and not known.status.is_terminal:
                raise
        except OrderNotFound:
            return

    async def cancel_all(self, symbol: str) -> int:
        before = await self.open_orders(symbol)
        if self._x.has.get("cancelAllOrders"):
            await self._call("cancel_all_orders", self._unified[symbol], write=True)
        else:  # the fallback: one cancel per open order
            for r in before:
                if r.venue_order_id is not None:
                    try:
                        await self._call("cancel_order", r.venue_order_id, self._unified[symbol], {}, write=True)
                    except OrderNotFound:
                        pass
        return len(before)

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        unified = self._unified[symbol]
        vid = self._vid_by_cid.get(client_order_id)
        try:
            if self._settings.ccxt_id in CLIENT_ID_FETCH:
                order = await self._call("fetch_order", None, unified, {"clientOrderId": client_order_id})
            elif vid is not None:
                order = await self._call("fetch_order", vid, unified)
            else:
                order = await self._find(unified, client_order_id)
        except OrderNotFound:
            return None
        if not order:
            return None
        order = dict(order)
        cid = self._cid_of(order) or client_order_id
        if cid != client_order_id:
            return None
        return cv.report(symbol, order, cid)

    async def _find(self, unified: str, cid: str) -> dict[str, Any] | None:
        """An order by client order id where ``fetch_order`` cannot take one: open orders, then recent orders."""
        for method in ("fetch_open_orders", "fetch_orders" if self._x.has.get("fetchOrders") else None):
            if method is None:
                continue
            for o in await self._call(method, unified):
                if str(o.get("clientOrderId") or "") == cid:
                    return dict(o)
        return None

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        out = []
        for o in await self._call("fetch_open_orders", self._unified[symbol]):
            o = dict(o)
            out.append(cv.report(symbol, o, self._cid_of(o)))
        return out

    async def positions(self) -> dict[str, Position]:
        out = {s: Position(self.name, s, Decimal(0)) for s in self._settings.symbols}
        for p in await self._call("fetch_positions", [self._unified[s] for s in self._settings.symbols]):
            symbol = self._ours(p.get("symbol"))
            if symbol is not None:
                out[symbol] = cv.position(self.name, symbol, dict(p), self._contract[symbol])
        return out

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        return await self._fills_of(self._unified[symbol], since_ns)

    async def _fills_of(self, unified: str | None, since_ns: int) -> list[Fill]:
        """The account's fills of ``unified`` (every symbol of the session when None) at or after ``since_ns``
        (venue time, ns), oldest first."""
        trades = await self._call("fetch_my_trades", unified, since_ns // 1_000_000)
        out: list[Fill] = []
        for t in trades:
            t = dict(t)
            symbol = self._ours(t.get("symbol") if unified is None else unified)
            if symbol is None:
                continue
            vid = str(t.get("order") or "")
            cid = self._cid_by_vid.get(vid) or str(t.get("clientOrderId") or "")
            f = cv.fill(self.name, symbol, t, cid)
            if f.ts_ns >= since_ns:
                out.append(f)
                self._venue_time_ms = max(self._venue_time_ms, f.ts_ns // 1_000_000)
        out.sort(key=lambda f: f.ts_ns)
        return out


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


def make_client(settings: CcxtSettings) -> Any:
    """The ccxt.pro client for ``settings`` (not connected: construction is offline), in string number mode."""
    cls = getattr(ccxt.pro, settings.ccxt_id, None)
    if cls is None:
        raise VenueUnavailable(settings.name, f"ccxt.pro has no exchange {settings.ccxt_id!r}")
    # ccxt's own throttle spaces every call by the exchange's rateLimit (100+ ms on some): off, the bot's limiter
    # (engine/_ratelimit.py, rate_limit_per_s) applies instead; a config may turn it back on
    client = cls({"enableRateLimit": False, **settings.config})
    client.number = str
    _keep_wakeups(client)
    if settings.urls:
        api = dict(client.urls.get("api") or {})
        api.update(settings.urls)
        client.urls["api"] = api
    return client


@asynccontextmanager
async def open_ccxt_venue(settings: CcxtSettings) -> AsyncIterator[CcxtVenue]:
    """Open a ccxt venue session: the bridge (shared), the client, its markets, one book per symbol (returns once
    every book is valid) and the private streams; on exit cancel them and close the client (bounded).

    Raises:
        VenueError (and subclasses): the markets or the positions (the credentials' check: one private read
        before the streams start) could not be loaded (through the error table; AuthError for refused
        credentials). KeyError: a configured symbol is not among the exchange's markets.
    """
    t = settings.timeouts
    async with open_asyncio_bridge(close_s=t.close_s) as bridge:
        client = make_client(settings)
        bridge.add_closer(client.close)
        try:
            with trio.fail_after(t.connect_s + t.request_s):
                await bridge.call(client.load_markets)
        except ccxt.BaseError as exc:
            raise map_ccxt_error(settings.name, exc, Call()) from None
        except trio.TooSlowError:
            raise VenueUnavailable(settings.name, "load_markets: no answer in time") from None
        for sym in settings.symbols:
            try:
                client.market(sym)
            except ccxt.BadSymbol:
                raise KeyError(f"{settings.ccxt_id} has no market {sym!r}") from None
        venue = CcxtVenue(settings, bridge, client)
        # the credentials, checked before any stream starts: one private read (loading the markets is public on
        # most exchanges, and a refused WebSocket subscription comes back as a plain ExchangeError)
        with trio.fail_after(t.connect_s + t.request_s):
            await venue.positions()
        async with trio.open_nursery() as nursery:
            with trio.fail_after(t.connect_s + t.request_s):
                if "order_stream" in venue.capabilities:
                    await nursery.start(venue._run_private, "watch_orders", venue._on_orders)
                else:
                    await nursery.start(venue._poll_orders)
                if venue.has_trade_stream:
                    await nursery.start(venue._run_private, "watch_my_trades", venue._on_trades)
                feed = venue._run_feed if "book_stream" in venue.capabilities else venue._poll_feed
                for sym in settings.symbols:
                    await nursery.start(feed, sym)
            for sym in settings.symbols:
                nursery.start_soon(venue._watch_stale, sym)
            nursery.start_soon(venue._reconciler.run)
            nursery.start_soon(venue._watchdog.run)
            nursery.start_soon(venue._watch_private_connection)
            nursery.start_soon(venue._emit_positions)
            nursery.start_soon(venue._release_held)
            try:
                yield venue
            finally:
                nursery.cancel_scope.cancel()
                venue._streams.close()





def simulator_urls(ccxt_id: str, rest: str, ws_market_data: str, ws_private: str) -> dict[str, Any]:
    """ccxt's ``urls["api"]`` for the embedded wire simulator of ``ccxt_id`` (``backpack``, ``grvt``): only the
    URLs change (the keys are ccxt's own: ``ccxt/backpack.py``, ``ccxt/grvt.py``, ``ccxt/pro/*.py``).

    Raises:
        KeyError: no wire simulator speaks ``ccxt_id``.
    """
    if ccxt_id == "backpack":
        return {"public": rest, "private": rest, "ws": {"public": ws_market_data, "private": ws_private}}
    if ccxt_id == "grvt":
        base = rest.rstrip("/") + "/"
        return {"privateEdge": base, "privateTrading": base, "publicMarket": base,
                "ws": {"publicMarket": ws_market_data, "privateTrading": ws_private}}
    raise KeyError(f"no wire simulator for the ccxt exchange {ccxt_id!r} (backpack and grvt have one)")
__all__ = ["CcxtSettings", "CcxtVenue", "open_ccxt_venue", "simulator_urls"]

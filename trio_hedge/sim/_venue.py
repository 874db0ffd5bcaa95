"""The in-process simulator venue: implements :class:`~trio_hedge.venues.Venue` over a running
:class:`~trio_hedge.sim.SimExchange`, with the same task structure a wire adapter has.

Task tree (inside :func:`open_sim_venue`'s nursery)::

    feed × symbol     subscribe → apply snapshot and sequence-checked deltas to the local OrderBook in-task;
                      on a gap or a closed subscription: book invalid, reconnect with backoff and jitter
    private stream    venue events → one bounded channel per symbol (never dropped while a consumer listens)

Requests (:meth:`SimVenue.place` and friends) sleep the configured one-way latency on the way in and out.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio
from loguru import logger

from .._streams import SymbolEventStreams
from ..domain import (
    BookInvalid,
    Capability,
    FeedState,
    Fill,
    Instrument,
    InvalidOrder,
    Order,
    OrderBook,
    OrderRejected,
    OrderReport,
    OrderRequest,
    OrderStatus,
    Position,
    PositionUpdate,
    PostOnlyWouldCross,
    VenueEvent,
    VenueUnavailable,
)
from ._exchange import SimExchange, SimUnavailable
from ._replay import BookDeltaMsg, BookSnapshotMsg


@dataclass(frozen=True, slots=True)
class SimVenueSettings:
    """Settings of one in-process venue session.

    Attributes:
        event_capacity (int): per-symbol private event channel capacity.
        reconnect_min_s (float), reconnect_max_s (float): feed reconnect backoff bounds (exponential, jittered).
    """

    event_capacity: int = 256
    reconnect_min_s: float = 0.05
    reconnect_max_s: float = 2.0


def _report(order: Order) -> OrderReport:
    r = order.request
    return OrderReport(
        client_order_id=r.client_order_id,
        venue_order_id=order.venue_order_id,
        symbol=r.symbol,
        side=r.side,
        size=r.size,
        price=r.price,
        status=order.status,
        filled_size=order.filled_size,
        avg_fill_price=order.avg_fill_price,
        reduce_only=r.reduce_only,
        post_only=r.post_only,
        reason=order.reason,
    )


class SimVenue:
    """A venue session over the simulated exchange. Create it with :func:`open_sim_venue`.

    Capabilities: ``post_only_reject_sync`` and the streams (pushed in process, nothing polled). In process there
    is no connection to go silent (no heartbeat), no private stream to drop and no answer to lose.
    """

    capabilities: frozenset[Capability] = frozenset(
        {"post_only_reject_sync", "book_stream", "order_stream", "fill_stream"})

    def __init__(self, exchange: SimExchange, name: str, settings: SimVenueSettings) -> None:
        self.name = name
        self._ex = exchange
        self._settings = settings
        self._instruments = exchange.instruments(name)
        self._books = {s: OrderBook(s) for s in self._instruments}
        self._feed = {s: FeedState(False, trio.current_time(), -math.inf) for s in self._instruments}
        self._book_lots = {s: trio.lowlevel.ParkingLot() for s in self._instruments}
        self._streams = SymbolEventStreams(name, self._instruments, settings.event_capacity)
        self._ids = itertools.count(1)
        self._id_prefix = f"{random.getrandbits(32):08x}"
        self._latency_s = exchange.settings.latency_s
        self._log = logger.bind(tag=f"{name.upper()}")

    # ------------------------------------------------------------------ market data
    def instrument(self, symbol: str) -> Instrument:
        return self._instruments[symbol]

    def book(self, symbol: str) -> OrderBook:
        return self._books[symbol]

    def feed_state(self, symbol: str) -> FeedState:
        return self._feed[symbol]

    async def wait_book_change(self, symbol: str) -> None:
        await self._book_lots[symbol].park()

    def _set_connected(self, symbol: str, connected: bool) -> None:
        st = self._feed[symbol]
        if st.connected != connected:
            self._feed[symbol] = FeedState(connected, trio.current_time(), st.last_message_s)

    async def _run_feed(self, symbol: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        book = self._books[symbol]
        lot = self._book_lots[symbol]
        log = self._log.bind(tag=f"{self.name.upper()}_{symbol}")
        backoff_s = self._settings.reconnect_min_s
        started = False
        while True:
            try:
                rx = self._ex.subscribe_market_data(self.name, symbol)
            except SimUnavailable as exc:
                delay = backoff_s * (0.5 + random.random())
                log.warning("market-data subscribe failed ({}); retrying in {:.2f}s", exc, delay)
                await trio.sleep(delay)
                backoff_s = min(backoff_s * 2, self._settings.reconnect_max_s)
                continue
            async with rx:
                async for deliver_at, batch in rx:
                    await trio.sleep_until(deliver_at)
                    try:
                        for msg in batch:
                            if isinstance(msg, BookSnapshotMsg):
                                book.apply_snapshot(msg.bids, msg.asks, seq=msg.seq, ts_ns=msg.ts_ns)
                            elif isinstance(msg, BookDeltaMsg):
                                book.apply_delta(
                                    msg.bids, msg.asks, seq=msg.seq, first_seq=msg.first_seq,
                                    prev_seq=msg.prev_seq, ts_ns=msg.ts_ns,
                                )
                    except BookInvalid as exc:
                        log.warning("book invalid ({}); resubscribing for a fresh snapshot", exc)
                        lot.unpark_all()
                        break
                    now = trio.current_time()
                    st = self._feed[symbol]
                    self._feed[symbol] = FeedState(book.valid, st.since_s if st.connected == book.valid else now, now)
                    backoff_s = self._settings.reconnect_min_s
                    lot.unpark_all()
                    if not started and book.valid:
                        started = True
                        task_status.started()
            # subscription ended (killed, or we broke out to resync)
            book.invalidate("market-data feed disconnected")
            self._set_connected(symbol, False)
            lot.unpark_all()
            log.warning("market-data feed disconnected; reconnecting")
            await trio.sleep(backoff_s * (0.5 + random.random()))
            backoff_s = min(backoff_s * 2, self._settings.reconnect_max_s)

    # ------------------------------------------------------------------ private stream
    def events(self, symbol: str) -> trio.MemoryReceiveChannel[VenueEvent]:
        return self._streams.take(symbol)

    @property
    def session_down(self) -> str | None:
        """Why the venue's session is down as a whole (its private stream: ``SimExchange.kill_private``), or
        None (``engine/_portfolio.py`` halts every market on a venue down past its budget)."""
        return self._ex.private_down(self.name) or None

    async def _run_private(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        rx = self._ex.take_account_stream(self.name)
        task_status.started()
        async with rx:
            async for deliver_at, event in rx:
                await trio.sleep_until(deliver_at)
                await self._deliver(event)
                # every event due by now in the same step, as one socket read returns every frame that has
                # arrived (a burst of fills reaches the engine together: trio_hedge/_streams.py, "Bursts")
                while True:
                    try:
                        deliver_at, event = rx.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break  # an ended stream ends at the next receive
                    if deliver_at > trio.current_time():
                        await trio.sleep_until(deliver_at)
                    await self._deliver(event)

    async def _deliver(self, event: VenueEvent) -> None:
        if self._ex.private_down(self.name):
            return  # lost, as on a dropped connection (fault injection: SimExchange.kill_private)
        symbol = event.position.symbol if isinstance(event, PositionUpdate) else event.symbol
        await self._streams.send(symbol, event)

    # ------------------------------------------------------------------ requests
    def new_client_order_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    async def _travel(self) -> None:
        if self._latency_s > 0:
            await trio.sleep(self._latency_s)
        else:
            await trio.lowlevel.checkpoint()

    async def place(self, request: OrderRequest) -> OrderReport:
        await self._travel()
        engine = self._ex.engine(self.name, request.symbol)
        existing = engine.get_order(request.client_order_id)
        if existing is None:
            self._ex.submit(self.name, request)
            existing = engine.get_order(request.client_order_id)
        assert existing is not None
        report = _report(existing)
        await self._travel()
        if report.status is OrderStatus.REJECTED:
            if "post_only" in report.reason:
                raise PostOnlyWouldCross(self.name, report.reason, code="post_only_would_cross")
            if report.reason.startswith("invalid_order") or "reduce_only" in report.reason:
                raise InvalidOrder(self.name, report.reason, code="invalid_order")
            raise OrderRejected(self.name, report.reason, code="rejected")
        return report

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        await self._travel()
        self._ex.cancel(self.name, symbol, client_order_id)
        await self._travel()

    async def cancel_all(self, symbol: str) -> int:
        await self._travel()
        n = self._ex.cancel_all(self.name, symbol)
        await self._travel()
        return n

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        await self._travel()
        order = self._ex.engine(self.name, symbol).get_order(client_order_id)
        report = None if order is None else _report(order)
        await self._travel()
        return report

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        await self._travel()
        reports = [_report(o) for o in self._ex.engine(self.name, symbol).open_orders()]
        await self._travel()
        return reports

    async def positions(self) -> dict[str, Position]:
        await self._travel()
        try:
            out = self._ex.positions(self.name)
        except SimUnavailable as exc:
            raise VenueUnavailable(self.name, str(exc), code="unavailable") from None
        await self._travel()
        return out

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        await self._travel()
        fills = [f for f in self._ex.engine(self.name, symbol).fills if f.ts_ns >= since_ns]
        await self._travel()
        return fills


@asynccontextmanager
async def open_sim_venue(
    exchange: SimExchange, name: str, settings: SimVenueSettings | None = None
) -> AsyncIterator[SimVenue]:
    """Open a session on the simulated venue ``name``: start its feeds (returns once every book is synced)
    and its private stream; cancel them on exit.

    Raises:
        KeyError: ``name`` is not a venue of ``exchange``.
    """
    if name not in exchange.venue_names:
        raise KeyError(f"sim has no venue {name!r} (configured: {', '.join(exchange.venue_names)})")
    venue = SimVenue(exchange, name, settings or SimVenueSettings())
    async with trio.open_nursery() as nursery:
        await nursery.start(venue._run_private)
        for symbol in venue._instruments:
            await nursery.start(venue._run_feed, symbol)
        try:
            yield venue
        finally:
            nursery.cancel_scope.cancel()
            venue._streams.close()


__all__ = ["SimVenue", "SimVenueSettings", "open_sim_venue"]

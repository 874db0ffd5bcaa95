"""The verifier: tracks every order of ours on one venue and symbol and resolves each to a terminal state.

Sources of truth, in order: the venue's private stream (events), then a status query by client order id
(:meth:`Venue.order_status`) and the venue's fill history (:meth:`Venue.fills_since`) under deadlines. A
missing report is never read as "rejected" or "flat": an order whose outcome cannot be established within
its deadline raises :class:`UnresolvedOrder`, which fails the market (cancel, flatten).

Fills are applied once, keyed by the venue's trade id, whichever path they arrive by. Fills of orders
registered with ``forward=True`` (the maker quotes) are forwarded to the hedger's inbox exactly once each,
with the time they were received, so fills discovered by query are hedged like streamed ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import trio
from loguru import logger

from ..domain import (
    ZERO,
    Fill,
    IllegalTransition,
    Order,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    PositionUpdate,
    VenueEvent,
)
from ..venues import OrderReport, RateLimited, Venue, VenueError
from ._errors import UnresolvedOrder

DRAIN_MAX = 64
"""Events a tracker takes from its queue in a row without yielding (a burst's fills; then it yields once)."""


@dataclass(frozen=True, slots=True)
class InboxFill:
    """A fill forwarded to the hedger. ``received_ns`` is ``time.perf_counter_ns()`` at receipt."""

    fill: Fill
    received_ns: int


InboxItem = InboxFill | OrderUpdate


class OrderTracker:
    """Tracks our orders on ``venue``/``symbol``. Run :meth:`run` as a task (startable) to consume the
    venue's private stream; other tasks call :meth:`register` before placing an order, and
    :meth:`resolve` to get its terminal state.

    Fill listeners (``on_fill``, :meth:`add_fill_listener`) are called synchronously on the fill path, once
    per new trade id (fills of orders this run did not send included), right after ``net_filled`` changes and
    before the fill is forwarded: the risk engine's event-driven imbalance check and PnL hang here. They must
    not block or raise.

    Attributes:
        orders (dict[str, Order]): every registered order by client order id.
        net_filled (Decimal): signed sum of every fill seen (base units): the position change since start.
        position (Decimal | None): the last position the venue reported on the stream, base units.
    """

    def __init__(
        self, venue: Venue, symbol: str, *, inbox_capacity: int, on_fill: Callable[[Fill], None] | None = None
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.orders: dict[str, Order] = {}
        self.net_filled = ZERO
        self.position: Decimal | None = None
        self._forward: set[str] = set()
        self._terminal: dict[str, trio.Event] = {}
        self._seen_trades: set[str] = set()
        self._inbox_tx, self.inbox = trio.open_memory_channel[InboxItem](inbox_capacity)
        self._log = logger.bind(tag=f"{venue.name.upper()}_{symbol}")
        self.unknown_fills: list[Fill] = []
        self._fill_listeners: list[Callable[[Fill], None]] = [] if on_fill is None else [on_fill]
        self._position_lot = trio.lowlevel.ParkingLot()

    async def wait_position(self, expected: Decimal, *, wait_s: float) -> bool:
        """Wait at most ``wait_s`` for the stream's position report to equal ``expected``; True if it does."""
        if self.position == expected:
            return True
        with trio.move_on_after(wait_s):
            while self.position != expected:
                await self._position_lot.park()
        return self.position == expected

    def add_fill_listener(self, listener: Callable[[Fill], None]) -> None:
        """Call ``listener(fill)`` for every new fill from now on (see the class docstring)."""
        self._fill_listeners.append(listener)

    @property
    def open_count(self) -> int:
        """Registered orders not yet terminal (sent or about to be)."""
        return sum(1 for o in self.orders.values() if not o.is_terminal)

    # ------------------------------------------------------------------ registration
    def register(self, request: OrderRequest, *, forward: bool = False) -> Order:
        """Start tracking ``request`` before it is sent (intent before send). Returns its Order."""
        if request.client_order_id in self.orders:
            raise ValueError(f"client order id {request.client_order_id} registered twice")
        order = Order(request=request, venue=self.venue.name)
        self.orders[request.client_order_id] = order
        self._terminal[request.client_order_id] = trio.Event()
        if forward:
            self._forward.add(request.client_order_id)
        return order

    # ------------------------------------------------------------------ stream
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Consume the private stream until cancelled. Never drops an event: a full inbox blocks here."""
        rx = self.venue.events(self.symbol)
        task_status.started()
        # a channel without receive_nowait (a wrapper's view of the venue's channel) is read one event at a time
        take_now: Callable[[], VenueEvent] | None = getattr(rx, "receive_nowait", None)
        async with rx, self._inbox_tx:
            drained = 0
            while True:
                # What is queued already is taken without yielding (at most DRAIN_MAX in a row), so the fills of
                # one burst reach the hedger's inbox before the hedger runs: one route for all of them
                # (trio_hedge/_streams.py, "Bursts").
                try:
                    if take_now is None or drained >= DRAIN_MAX:
                        raise trio.WouldBlock
                    event = take_now()
                    drained += 1
                except trio.WouldBlock:
                    drained = 0
                    try:
                        event = await rx.receive()
                    except trio.EndOfChannel:
                        return
                except trio.EndOfChannel:
                    await trio.lowlevel.checkpoint()
                    return
                await self._on_event(event)

    async def _on_event(self, event: VenueEvent) -> None:
        if isinstance(event, Fill):
            await self._on_fill(event, time.perf_counter_ns())
        elif isinstance(event, OrderUpdate):
            await self._on_update(event)
        elif isinstance(event, PositionUpdate):
            self.position = event.position.size
            self._position_lot.unpark_all()

    async def _on_fill(self, fill: Fill, received_ns: int) -> None:
        if fill.trade_id in self._seen_trades:
            return
        order = self.orders.get(fill.client_order_id)
        if order is None:
            self._seen_trades.add(fill.trade_id)
            self.net_filled += fill.signed_size
            self.unknown_fills.append(fill)
            for listener in self._fill_listeners:
                listener(fill)
            self._log.warning("fill {} for an order this run did not send ({})", fill.trade_id, fill.client_order_id)
            return
        try:
            if not order.apply_fill(fill):
                return
        except IllegalTransition as exc:
            self._log.error("fill {} does not fit its order: {}", fill.trade_id, exc)
            return
        self._seen_trades.add(fill.trade_id)
        self.net_filled += fill.signed_size
        for listener in self._fill_listeners:
            listener(fill)
        if fill.client_order_id in self._forward:
            await self._forward_item(InboxFill(fill, received_ns))
        if order.is_terminal:
            self._terminal[order.client_order_id].set()

    async def _on_update(self, update: OrderUpdate) -> None:
        order = self.orders.get(update.client_order_id)
        if order is None:
            return
        if update.venue_order_id and order.venue_order_id is None:
            order.venue_order_id = update.venue_order_id
        self._apply_status(order, update.status, update.reason)
        if order.is_terminal and update.client_order_id in self._forward:
            await self._forward_item(update)

    async def _forward_item(self, item: InboxItem) -> None:
        # Applying a fill and queueing it for the hedger happen without a checkpoint in between whenever
        # the inbox has room, so a reader never sees an order's filled size ahead of its inbox. When the
        # inbox is full we block (backpressure; never drop); the hedger copes with that lag too.
        try:
            self._inbox_tx.send_nowait(item)
        except trio.WouldBlock:
            await self._inbox_tx.send(item)

    def _apply_status(self, order: Order, status: OrderStatus, reason: str) -> None:
        if order.is_terminal:
            if status is not order.status:
                self._log.error(
                    "order {}: venue reports {} after {}; keeping {}", order.client_order_id, status, order.status,
                    order.status,
                )
            return
        if not status.is_terminal and status.rank < order.status.rank:
            return  # a late, less advanced report (ack after fill): ignore
        try:
            order.transition(status, reason)
        except IllegalTransition as exc:
            self._log.error("{}", exc)
            return
        if order.status.is_terminal:  # (not order.is_terminal: mypy keeps the narrowing from above)
            self._terminal[order.client_order_id].set()

    # ------------------------------------------------------------------ resolution
    def mark_rejected(self, client_order_id: str, reason: str) -> None:
        """Record a definitive refusal reported synchronously by :meth:`Venue.place`."""
        order = self.orders[client_order_id]
        self._apply_status(order, OrderStatus.REJECTED, reason)

    async def resolve(self, client_order_id: str, *, event_grace_s: float, query_interval_s: float,
                      unknown_grace_s: float | None = None) -> Order:
        """Wait until the order is terminal and every fill the venue reports for it is applied.

        Waits ``event_grace_s`` for the stream, then polls :meth:`Venue.order_status` every
        ``query_interval_s`` and pulls missing fills from :meth:`Venue.fills_since`. The caller bounds the
        whole call with a deadline (``fail_after``); :class:`UnresolvedOrder` is raised by
        :meth:`resolve_within`.

        ``unknown_grace_s``: an order the venue never acknowledged (still PENDING: its place failed, e.g. a
        POST answered 5xx, and the cancel by client order id was sent first by the caller) that the venue keeps
        reporting as unknown (a readable answer: no such order) for this long, and whose client order id is in
        none of the venue's fills, is recorded as never accepted (REJECTED) and returned: a blip costs a cycle,
        not the run. A venue that cannot be read never counts: then the deadline decides. None: never.

        Returns:
            Order: the terminal order (its ``filled_size`` equals what the venue reports).
        """
        order = self.orders[client_order_id]
        event = self._terminal[client_order_id]
        unknown_since: float | None = None
        with trio.move_on_after(event_grace_s):
            await event.wait()
        while True:
            if order.is_terminal and order.status is not OrderStatus.FILLED:
                # CANCELLED/EXPIRED may hide a late fill; confirm the venue's filled size once.
                report = await self._query(client_order_id)
                if report is None or report.filled_size <= order.filled_size:
                    return order
                await self._pull_fills(order, report)
                if order.filled_size >= report.filled_size:
                    return order
            elif order.is_terminal:
                return order
            else:
                report, readable = await self._query_read(client_order_id)
                if report is not None and report.status.is_terminal:
                    if report.filled_size > order.filled_size:
                        await self._pull_fills(order, report)
                    if order.filled_size >= report.filled_size:
                        self._apply_status(order, report.status, report.reason)
                        return order
                never = report is None and readable and order.status is OrderStatus.PENDING
                if never and unknown_grace_s is not None:
                    now = trio.current_time()
                    unknown_since = now if unknown_since is None else unknown_since
                    if now - unknown_since >= unknown_grace_s and await self._in_no_fill(client_order_id):
                        self._log.warning("order {} ({}) unknown to {} for {:.2f}s and in none of its fills: "
                                          "recorded as never accepted", client_order_id, order.request.reason,
                                          self.venue.name, now - unknown_since)
                        self._apply_status(order, OrderStatus.REJECTED, "never accepted: unknown to the venue")
                        return order
                else:
                    unknown_since = None
            with trio.move_on_after(query_interval_s):
                await event.wait()

    async def resolve_within(
        self, client_order_id: str, *, deadline_s: float, event_grace_s: float, query_interval_s: float,
        unknown_grace_s: float | None = None,
    ) -> Order:
        """:meth:`resolve` under a deadline (``unknown_grace_s``: see :meth:`resolve`; it should leave time
        within the deadline). Raises :class:`UnresolvedOrder` when the deadline passes."""
        with trio.move_on_after(deadline_s) as scope:
            return await self.resolve(
                client_order_id, event_grace_s=event_grace_s, query_interval_s=query_interval_s,
                unknown_grace_s=unknown_grace_s,
            )
        assert scope.cancelled_caught
        order = self.orders[client_order_id]
        raise UnresolvedOrder(
            f"{self.venue.name} order {client_order_id} ({order.request.reason}) unresolved after {deadline_s}s: "
            f"last known {order.status}, filled {order.filled_size}"
        )

    async def _query(self, client_order_id: str) -> OrderReport | None:
        return (await self._query_read(client_order_id))[0]

    async def _query_read(self, client_order_id: str) -> tuple[OrderReport | None, bool]:
        """The venue's status of the order and whether the venue answered (False: it could not be read)."""
        try:
            return await self.venue.order_status(self.symbol, client_order_id), True
        except RateLimited as exc:
            await trio.sleep(exc.retry_after_s or 0.5)
        except VenueError as exc:
            self._log.warning("order status query for {} failed: {}", client_order_id, exc)
        return None, False

    async def _in_no_fill(self, client_order_id: str) -> bool:
        """True when the venue's fill history could be read and holds no fill of ``client_order_id``."""
        try:
            fills = await self.venue.fills_since(self.symbol, 0)
        except VenueError as exc:
            self._log.warning("fill history query failed: {}", exc)
            return False
        return all(f.client_order_id != client_order_id for f in fills)

    async def _pull_fills(self, order: Order, report: OrderReport) -> None:
        try:
            fills = await self.venue.fills_since(self.symbol, 0)
        except VenueError as exc:
            self._log.warning("fill history query failed: {}", exc)
            return
        now = time.perf_counter_ns()
        for fill in fills:
            if fill.client_order_id == order.client_order_id and fill.trade_id not in self._seen_trades:
                self._log.warning("fill {} found by query, not on the stream", fill.trade_id)
                await self._on_fill(fill, now)

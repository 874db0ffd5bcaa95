"""The venue interface: small, async, and typed in domain terms.

Every venue (the in-process simulator venue, the GRVT and Backpack adapters) implements :class:`Venue`.
Everything a venue says is parsed at its boundary into domain types; raw dicts never cross it.

Deadlines belong to callers (``trio.fail_after`` / ``move_on_after`` around each call); no method takes a
``timeout=`` argument. Each method documents the errors it raises (all :class:`VenueError` subclasses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import trio

from ..domain import NO_CAPABILITIES as NO_CAPABILITIES  # the interface's value types, defined in the domain
from ..domain import STREAMS as STREAMS
from ..domain import Capability as Capability
from ..domain import FeedState as FeedState
from ..domain import Fill, Instrument, OrderBook, OrderRequest, Position, VenueEvent
from ..domain import OrderReport as OrderReport
from ..domain import capabilities as capabilities


@dataclass(frozen=True, slots=True)
class SessionTimeouts:
    """The budgets of one venue session, in seconds, under the same names for every venue (``config.toml``:
    ``[venues.<name>.timeouts]``, in ms). Each adapter maps them onto its settings (``with_timeouts``).

    Attributes:
        connect_s (float): opening a connection (TCP/TLS connect, WebSocket handshake).
        request_s (float): one REST exchange (a state-changing request past it is ``UnknownOutcome``).
        close_s (float): the shielded cleanup when the session closes.
        heartbeat_s (float): WebSocket ping period.
        heartbeat_deadline_s (float): pong deadline after each ping; a blackholed connection is noticed within
            ``heartbeat_s + heartbeat_deadline_s``.
        private_stream_budget_s (float): for venues without cancel-on-disconnect, how long the private stream
            may show no sign of life before resting orders are cancelled over REST (the kernel's watchdog);
            venues with cancel-on-disconnect (GRVT) do not use it.
    """

    connect_s: float = 5.0
    request_s: float = 5.0
    close_s: float = 2.0
    heartbeat_s: float = 1.0
    heartbeat_deadline_s: float = 1.5
    private_stream_budget_s: float = 3.0




@runtime_checkable
class Venue(Protocol):
    """One venue session, opened by an ``open_<venue>()`` async context manager that owns its tasks
    (market-data feed, private stream, heartbeat) and closes them on exit."""

    name: str

    def instrument(self, symbol: str) -> Instrument:
        """The instrument for ``symbol``, loaded when the session opened. Raises KeyError if unknown."""
        ...

    def book(self, symbol: str) -> OrderBook:
        """The live local L2 book, owned and updated by the feed task. Read it, never mutate it.
        Check ``book.valid`` before acting on it."""
        ...

    def feed_state(self, symbol: str) -> FeedState:
        """Health of the market-data feed for ``symbol``."""
        ...

    async def wait_book_change(self, symbol: str) -> None:
        """Return after the next update is applied to ``symbol``'s book (or it changes validity)."""
        ...

    def events(self, symbol: str) -> trio.MemoryReceiveChannel[VenueEvent]:
        """The private event stream for ``symbol`` (order updates, fills, positions).

        One consumer per symbol. The channel is bounded; a slow consumer blocks the producer (order
        events are never dropped). Calling twice for one symbol raises RuntimeError.
        """
        ...

    def new_client_order_id(self) -> str:
        """A client order id in the venue's format, unique among this session's orders."""
        ...

    async def place(self, request: OrderRequest) -> OrderReport:
        """Send an order. Idempotent by ``request.client_order_id``: a repeat returns the existing order.

        Returns:
            OrderReport: the venue's acknowledgement (often PENDING or OPEN; fills follow as events).

        Raises:
            OrderRejected (and subclasses): definitive refusal; the order does not exist.
            RateLimited: back off and retry.
            UnknownOutcome: the request may or may not have reached the venue; resolve with
                :meth:`order_status` before sending anything new.
            VenueUnavailable: nothing was sent.
        """
        ...

    async def cancel(self, symbol: str, client_order_id: str) -> None:
        """Ask the venue to cancel. The outcome arrives as an event; an order already terminal is not
        an error. Raises RateLimited, UnknownOutcome, VenueUnavailable."""
        ...

    async def cancel_all(self, symbol: str) -> int:
        """Cancel every open order of ours in ``symbol``. Returns how many the venue reported cancelled.
        Raises RateLimited, UnknownOutcome, VenueUnavailable."""
        ...

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None:
        """The venue's current account of an order, or None if the venue does not know it (which is not
        proof it never existed: a just-sent order may not be visible yet).
        Raises RateLimited, VenueUnavailable."""
        ...

    async def open_orders(self, symbol: str) -> list[OrderReport]:
        """Our open orders in ``symbol``. Raises RateLimited, VenueUnavailable."""
        ...

    async def positions(self) -> dict[str, Position]:
        """Our positions by symbol: every symbol of this session is present, a flat one with size 0 (a venue
        that lists open positions only is filled in by its adapter). Raises RateLimited, VenueUnavailable."""
        ...

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]:
        """Our fills in ``symbol`` with venue timestamp >= ``since_ns``, oldest first.
        Raises RateLimited, VenueUnavailable."""
        ...

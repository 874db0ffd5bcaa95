"""The venue interface: small, async, and typed in domain terms.

Every venue (the in-process simulator venue, the GRVT and Backpack adapters) implements :class:`Venue`.
Everything a venue says is parsed at its boundary into domain types; raw dicts never cross it.

Deadlines belong to callers (``trio.fail_after`` / ``move_on_after`` around each call); no method takes a
``timeout=`` argument. Each method documents the errors it raises (all :class:`VenueError` subclasses).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, Protocol, runtime_checkable

import trio

from ..domain import Fill, Instrument, OrderBook, OrderRequest, OrderStatus, Position, Side, VenueEvent


@dataclass(frozen=True, slots=True)
class OrderReport:
    """A venue's full account of one order (answer to a status query or an open-orders listing).

    Attributes:
        client_order_id (str), venue_order_id (str | None): ids.
        symbol (str), side (Side): what.
        size (Decimal): original size, base units.
        price (Decimal | None): limit price; None for market orders.
        status (OrderStatus): as the venue reports it.
        filled_size (Decimal): cumulative filled size, base units.
        avg_fill_price (Decimal | None): average fill price, quote per base.
        reduce_only (bool), post_only (bool): flags as the venue holds them.
        reason (str): reject / cancel reason, if any.
    """

    client_order_id: str
    venue_order_id: str | None
    symbol: str
    side: Side
    size: Decimal
    price: Decimal | None
    status: OrderStatus
    filled_size: Decimal
    avg_fill_price: Decimal | None = None
    reduce_only: bool = False
    post_only: bool = False
    reason: str = ""


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


@dataclass(frozen=True, slots=True)
class FeedState:
    """Health of one venue's market-data feed for one symbol.

    Attributes:
        connected (bool): the feed is connected and its book is synced.
        since_s (float): trio time (``trio.current_time()``) of the last change of ``connected``.
        last_message_s (float): trio time of the last message applied, or -inf before any.
    """

    connected: bool
    since_s: float
    last_message_s: float


Capability = Literal["feed_heartbeat", "private_reconcile", "unknown_outcome", "post_only_reject_sync"]
"""Something a venue kind can do that another cannot. Declared by each venue class as ``capabilities``; the Venue
contract suite (``tests/contract/``) tests the promise where it is declared and the fallback where it is not:

* ``feed_heartbeat``: a silent (blackholed) market-data connection is noticed within the heartbeat deadline
  (ping period + pong deadline): the book turns invalid, the feed disconnected, and both come back after a
  reconnect. Fallback: the feed stays "connected" but ``FeedState.last_message_s`` stops advancing (the
  engine's stale-book guard acts on it).
* ``private_reconcile``: the private stream runs over a connection that can drop; after it is back the venue
  reconciles over REST (order statuses, then fills, then positions), emitting what was missed once. Fallback:
  the stream is in-process and cannot drop; ``fills_since`` agrees with it.
* ``unknown_outcome``: ``place`` can end in :class:`UnknownOutcome` (an answer lost on the wire), resolved by
  ``order_status``; a repeated ``place`` never makes a second order. Fallback: ``place`` is always answered.
* ``post_only_reject_sync``: ``place`` of a crossing post-only order raises :class:`PostOnlyWouldCross`.
  Fallback: the order is acknowledged, then a ``REJECTED`` update follows on the stream, and a repeated ``place``
  of it raises :class:`PostOnlyWouldCross`.
"""

NO_CAPABILITIES: Final[frozenset[Capability]] = frozenset()


def capabilities(venue: object) -> frozenset[Capability]:
    """The capabilities ``venue`` declares (its ``capabilities`` attribute), none if it declares nothing."""
    declared = getattr(venue, "capabilities", NO_CAPABILITIES)
    return declared if isinstance(declared, frozenset) else NO_CAPABILITIES


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

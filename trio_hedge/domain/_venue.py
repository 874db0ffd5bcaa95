"""What a venue reports, in domain types: :class:`OrderReport` (one order: the answer to a status query or an
open-orders listing; the protocol codecs build it) and :class:`FeedState` (the health of one market-data feed).
The ``Venue`` interface (:mod:`trio_hedge.venues`) returns both. :data:`Capability` names what one venue kind
can do that another cannot (declared by each venue class)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal

from ._orders import OrderStatus, Side


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
        sent_ns (int): on a place acknowledgement, ``time.perf_counter_ns()`` when the adapter wrote the
            order's frame to the socket (the end of the hedge latency); 0 when not stamped. Not part of equality.
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
    sent_ns: int = field(default=0, compare=False)


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


Capability = Literal["feed_heartbeat", "private_reconcile", "unknown_outcome", "post_only_reject_sync", "book_stream",
                     "order_stream", "fill_stream"]
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
* ``book_stream``, ``order_stream``, ``fill_stream``: the venue pushes book updates, order updates, fills (a
  WebSocket stream, or in process). Fallback (REST polling, a ccxt exchange whose ``has["watchOrderBook"]`` /
  ``has["watchOrders"]`` / ``has["watchMyTrades"]`` is false or whose stream is known not to deliver): the
  venue reads the REST equivalent at least every ``poll_interval_s`` (an attribute of the venue, seconds) while
  there is something to read (the book always; orders and fills while one of its orders is live: statuses,
  then fills, then positions, as a reconciliation), and its polls spend at most ``poll_rate_per_s`` REST calls
  per second (another attribute; the rest of the venue's rate budget stays for orders). Events arrive through
  the same channel, each fill once; an external change (an order cancelled or filled by the venue) arrives
  within one interval plus one request budget; a polled book turns invalid when its polls stop answering, on
  the staleness budget of our own clock.
"""

NO_CAPABILITIES: Final[frozenset[Capability]] = frozenset()

STREAMS: Final[frozenset[Capability]] = frozenset({"book_stream", "order_stream", "fill_stream"})
"""The three stream capabilities: what a venue declares when nothing of it is polled."""


def capabilities(venue: object) -> frozenset[Capability]:
    """The capabilities ``venue`` declares (its ``capabilities`` attribute), none if it declares nothing."""
    declared = getattr(venue, "capabilities", NO_CAPABILITIES)
    return declared if isinstance(declared, frozenset) else NO_CAPABILITIES

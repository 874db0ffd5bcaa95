"""What a venue reports, in domain types: :class:`OrderReport` (one order: the answer to a status query or an
open-orders listing; the protocol codecs build it) and :class:`FeedState` (the health of one market-data feed).
The ``Venue`` interface (:mod:`trio_hedge.venues`) returns both."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

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

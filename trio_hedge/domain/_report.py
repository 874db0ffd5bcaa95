"""What a venue reports about one order: :class:`OrderReport`, the answer to a status query or an open-orders
listing, in domain types (the protocol codecs build it; the ``Venue`` interface returns it)."""

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

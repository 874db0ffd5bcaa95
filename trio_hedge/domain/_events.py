"""Private-stream events a venue reports about our account, already parsed into domain types.

A venue's private stream yields ``VenueEvent = OrderUpdate | Fill | PositionUpdate``. Fills travel as
:class:`~trio_hedge.domain.Fill` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ._orders import Fill, OrderStatus, Position


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A venue's report of an order's status.

    Attributes:
        venue (str), symbol (str): where.
        client_order_id (str): our id.
        status (OrderStatus): the status the venue reports.
        venue_order_id (str | None): the venue's id, when known.
        filled_size (Decimal | None): cumulative filled size the venue reports, base units, if sent.
        reason (str): reject or cancel reason in the venue's words (``"post_only_would_cross"``, ...).
        ts_ns (int): venue timestamp, ns.
    """

    venue: str
    symbol: str
    client_order_id: str
    status: OrderStatus
    venue_order_id: str | None = None
    filled_size: Decimal | None = None
    reason: str = ""
    ts_ns: int = 0


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A venue's report of a position change (the position after the change)."""

    position: Position
    ts_ns: int = 0


VenueEvent = OrderUpdate | Fill | PositionUpdate

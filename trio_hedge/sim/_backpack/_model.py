"""The simulated Backpack venue's own terms: its tunables and id ranges, the record it keeps of each accepted
order (:class:`_OrderRecord`: the wire order and what the private stream has reported of it), and how an engine
order's state reads in Backpack's words (status, expiry reason). The wire formats are
:mod:`trio_hedge.protocols.backpack`'s; sources: ``sim/_backpack_server.py``'s module docstring."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ...domain import ZERO, Fill, Order, OrderStatus
from ...protocols.backpack import BackpackOrder, format_order, format_order_history
from .._matching import (
    REASON_CANCELLED_BY_USER,
    REASON_FOK_NOT_FILLABLE,
    REASON_IOC_REMAINDER,
    REASON_REDUCE_ONLY_CAPPED,
)

# ---------------------------------------------------------------------------------------------- tunables

WS_QUEUE_FRAMES: Final = 4096
"""Frames buffered per WebSocket connection; a client this far behind is closed (1008), as a venue drops a
slow consumer rather than buffer without bound."""

HUB_READY_WAIT_S: Final = 5.0
"""How long a REST depth/ticker request waits for a just-started depth hub's first book, seconds."""

DEFAULT_PING_INTERVAL_S: Final = 60.0
"""Server Ping period of the real venue (OpenAPI Streams "Keeping the connection alive")."""

_FIRST_ORDER_ID: Final = 8_300_000_000  # order ids are numeric strings of this size since 2025-06-09 (REST docs)
_FIRST_TRADE_ID: Final = 3_000_000
_FIRST_POSITION_ID: Final = 5_400_000_000
_FIRST_UPDATE_ID: Final = 1_000_000_000
_SIM_USER_ID: Final = "1000001"

# Engine reason -> OpenAPI OrderExpiryReason, for orders that existed and ended without filling completely.
_EXPIRY_REASONS: Final[Mapping[str, str]] = {
    REASON_IOC_REMAINDER: "ImmediateOrCancel",
    REASON_FOK_NOT_FILLABLE: "FillOrKill",
    REASON_REDUCE_ONLY_CAPPED: "ReduceOnlyNotReduced",
}


# ---------------------------------------------------------------------------------------------- orders


@dataclass(slots=True, eq=False)
class _OrderRecord:
    """The venue-side facts of one accepted order that the engine does not hold (:attr:`wire`: ids, wire
    options), and what the private stream has reported of it so far. The engine's :class:`Order` (client id =
    ``wire.id``) holds its status and fills."""

    wire: BackpackOrder
    accepted_sent: bool = False
    pending_fill: Fill | None = None
    ws_executed: Decimal = ZERO
    ws_executed_quote: Decimal = ZERO


def _is_live(order: Order) -> bool:
    return order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING)


def _expiry_reason(rec: _OrderRecord, reason: str) -> str:
    if reason == REASON_IOC_REMAINDER and rec.wire.market:
        return "InsufficientLiquidity"
    return _EXPIRY_REASONS.get(reason, "Unknown")


def _status_text(order: Order) -> str:
    """Backpack ``OrderStatus`` of an engine order (an unfilled remainder the venue ended is ``Expired``)."""
    status = order.status
    if status is OrderStatus.OPEN or status is OrderStatus.PENDING:
        return "New"
    if status is OrderStatus.PARTIALLY_FILLED:
        return "PartiallyFilled"
    if status is OrderStatus.FILLED:
        return "Filled"
    if status is OrderStatus.CANCELLED and order.reason == REASON_CANCELLED_BY_USER:
        return "Cancelled"
    return "Expired"


def _order_json(rec: _OrderRecord, order: Order) -> dict[str, object]:
    """The REST ``Order`` object of ``rec`` in the engine's state ``order`` (:func:`format_order`)."""
    return format_order(
        rec.wire, status=_status_text(order), executed=order.filled_size, executed_quote=order.filled_notional
    )


def _history_json(rec: _OrderRecord, order: Order) -> dict[str, object]:
    """One order-history item of ``rec`` in the engine's state ``order`` (:func:`format_order_history`)."""
    status = _status_text(order)
    return format_order_history(
        rec.wire,
        status=status,
        executed=order.filled_size,
        executed_quote=order.filled_notional,
        expiry_reason=_expiry_reason(rec, order.reason) if status == "Expired" else None,
    )

"""GRVT positions: ``positions`` results and the ``v1.position`` feed parsed into domain positions, and
formatted (server side).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.grvt`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...domain import (
    ZERO,
    Position,
    PositionUpdate,
)
from ._codec import _F_POSITION, INT64_MAX, VENUE, GrvtProtocolError, _Reader, format_decimal


# ---------------------------------------------------------------------------------------------- positions
def parse_position(obj: Any, *, venue: str = VENUE) -> PositionUpdate:
    """Parse a GRVT ``Positions`` object (``positions`` element or ``v1.position`` payload; GRVT docs: positions).

    Mapping: ``instrument`` -> symbol; ``size`` (signed, negative = short); ``entry_price`` (None when
    flat or 0); ``realized_pnl``; ``event_time`` -> ``PositionUpdate.ts_ns``. Other fields (some are
    floats or lower-case enums in the doc examples) are not read.

    Raises:
        GrvtProtocolError: missing or malformed fields, a negative entry price.
    """
    r = _Reader(obj, _F_POSITION, "position", venue)
    symbol = r.string("instrument")
    r.path = f"position[{symbol}]"
    size = r.decimal("size")
    entry = r.size("entry_price")  # >= 0; "0.0" when flat
    realized = r.decimal("realized_pnl")
    ts = r.uint("event_time", maximum=INT64_MAX)
    position = Position(
        venue=venue,
        symbol=symbol,
        size=size,
        entry_price=entry if size != ZERO and entry > ZERO else None,
        realized_pnl=realized,
    )
    return PositionUpdate(position, ts)


def parse_positions(result: Any, *, venue: str = VENUE) -> list[Position]:
    """Parse the ``result`` array of ``positions`` (empty when flat everywhere, GRVT docs: positions).

    Raises:
        GrvtProtocolError: not an array, or a malformed element.
    """
    if not isinstance(result, list):
        raise GrvtProtocolError(f"positions: expected an array, got {type(result).__name__}", venue=venue)
    return [parse_position(p, venue=venue).position for p in result]


def format_position(
    position: Position, *, sub_account_id: str, event_time_ns: int, mark_price: Decimal | None = None
) -> dict[str, Any]:
    """The full-name ``Positions`` JSON object (server side); pnl fields other than ``realized_pnl`` are
    computed from ``mark_price`` when given, else sent as ``"0.0"``."""
    entry = position.entry_price or ZERO
    mark = mark_price if mark_price is not None else entry
    unrealized = (mark - entry) * position.size if position.entry_price is not None else ZERO
    return {
        "event_time": str(event_time_ns),
        "sub_account_id": sub_account_id,
        "instrument": position.symbol,
        "size": format_decimal(position.size),
        "notional": format_decimal(mark * position.size),
        "entry_price": format_decimal(entry),
        "exit_price": "0.0",
        "mark_price": format_decimal(mark),
        "unrealized_pnl": format_decimal(unrealized),
        "realized_pnl": format_decimal(position.realized_pnl),
        "total_pnl": format_decimal(unrealized + position.realized_pnl),
        "roi": "0.0",
        "quote_index_price": "1.0",
        "est_liquidation_price": "0.0",
        "leverage": "10.0",
        "cumulative_fee": "0.0",
        "cumulative_realized_funding_payment": "0.0",
        "margin_type": "CROSS",
    }

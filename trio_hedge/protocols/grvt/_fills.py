"""GRVT fills: ``fill_history`` elements and the ``v1.fill`` feed parsed into :class:`~trio_hedge.domain.Fill`,
and formatted (server side).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.grvt`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...domain import (
    Fill,
    Side,
)
from ._codec import _F_FILL, INT64_MAX, VENUE, GrvtProtocolError, _Reader, format_decimal
from ._orders import _client_order_id


# ---------------------------------------------------------------------------------------------- fills
def parse_fill(obj: Any, *, venue: str = VENUE) -> Fill:
    """Parse a GRVT ``Fill`` (``fill_history`` element or ``v1.fill`` payload; full or lite; GRVT docs: fill_history;
    GRVT WS docs: trading streams).

    Mapping: ``instrument`` -> symbol; ``client_order_id``; ``trade_id``; ``is_buyer`` -> side;
    ``price`` (> 0); ``size`` (> 0); fee = ``fee`` + ``builder_fee`` (both quote units; ``fee`` is
    negative for a maker rebate; ``builder_fee`` is absent or 0 for orders without a builder, and is
    documented as a separate charge [apispec ``Fill``]); ``is_maker = not is_taker``;
    ``ts_ns = event_time``.

    Raises:
        GrvtProtocolError: missing or malformed fields, a zero size.
    """
    r = _Reader(obj, _F_FILL, "fill", venue)
    trade_id = r.string("trade_id")
    r.path = f"fill[{trade_id}]"
    size = r.size("size", positive=True)
    fee = r.decimal("fee")
    builder_fee = r.opt_decimal("builder_fee")
    ts = r.uint("event_time", maximum=INT64_MAX)
    return Fill(
        venue=venue,
        symbol=r.string("instrument"),
        client_order_id=_client_order_id(r),
        trade_id=trade_id,
        side=Side.BUY if r.boolean("is_buyer") else Side.SELL,
        price=r.price("price"),
        size=size,
        fee=fee + builder_fee if builder_fee is not None else fee,
        is_maker=not r.boolean("is_taker"),
        ts_ns=ts,
    )


def parse_fills(result: Any, *, venue: str = VENUE) -> list[Fill]:
    """Parse the ``result`` array of ``fill_history`` (newest first, as the venue sends it).

    Raises:
        GrvtProtocolError: not an array, or a malformed element.
    """
    if not isinstance(result, list):
        raise GrvtProtocolError(f"fills: expected an array, got {type(result).__name__}", venue=venue)
    return [parse_fill(f, venue=venue) for f in result]


def format_fill(
    fill: Fill,
    *,
    sub_account_id: str,
    order_id: str,
    signer: str = "0x0000000000000000000000000000000000000000",
    mark_price: Decimal | None = None,
) -> dict[str, Any]:
    """The full-name ``Fill`` JSON object (server side). ``fee_rate``, ``realized_pnl`` and the index and
    mark prices are not modelled: they are sent as ``"0.0"`` / the trade price."""
    px = format_decimal(fill.price)
    return {
        "event_time": str(fill.ts_ns),
        "sub_account_id": sub_account_id,
        "instrument": fill.symbol,
        "is_buyer": fill.side is Side.BUY,
        "is_taker": not fill.is_maker,
        "size": format_decimal(fill.size),
        "price": px,
        "mark_price": format_decimal(mark_price) if mark_price is not None else px,
        "index_price": px,
        "interest_rate": "0.0",
        "forward_price": "0.0",
        "realized_pnl": "0.0",
        "fee": format_decimal(fill.fee),
        "fee_rate": "0.0",
        "trade_id": fill.trade_id,
        "order_id": order_id,
        "venue": "ORDERBOOK",
        "is_liquidation": False,
        "client_order_id": fill.client_order_id,
        "signer": signer,
        "broker": "UNSPECIFIED",
        "is_rpi": False,
        "builder": "0x00",
        "builder_fee_rate": "0.0",
        "builder_fee": "0",
    }

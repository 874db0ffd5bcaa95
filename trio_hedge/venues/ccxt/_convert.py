"""ccxt's unified structures (https://docs.ccxt.com/#/README?id=unified-api: market, order, trade, position,
order book) -> our domain types.

Numbers: the client is put in ccxt's string number mode (``exchange.number = str``, ``ccxt/base/exchange.py``:
``number: NumType = float  # or str``), so the unified order, trade, position and market numbers are the decimal
strings ccxt parsed (``safe_string``) and never pass through a float; :func:`dec` reads them with ``Decimal``. ccxt
keeps order-book levels as Python floats parsed straight from the wire strings (``parse_order_book_bid_ask`` ->
``safe_float``; no arithmetic on them): :func:`dec` reads a float back through its shortest round-trip ``repr``,
which is the wire's decimal string for any price or size of 15 significant digits or fewer, and the book's levels
are checked against the instrument's tick and lot grids by the caller. Market precision comes in either of ccxt's
modes (``precisionMode``: ``TICK_SIZE`` gives the step itself, ``DECIMAL_PLACES`` the number of decimals).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import ccxt

from ...domain import (
    ZERO,
    BadValue,
    Fill,
    Instrument,
    OrderReport,
    OrderStatus,
    OrderUpdate,
    Position,
    Side,
)


def dec(value: Any, what: str = "number") -> Decimal:
    """A decimal from a ccxt number: a string (string mode), an int, or a float read through its ``repr``.

    Raises:
        BadValue: None, a bool, or not a finite number.
    """
    if isinstance(value, bool) or value is None:
        raise BadValue(f"{what}: {value!r} is not a number")
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation:
        raise BadValue(f"{what}: {value!r} is not a number") from None
    if not d.is_finite():
        raise BadValue(f"{what}: {value!r} is not finite")
    return d


class DecimalCache:
    """:func:`dec` with the answers kept, for book levels (most of a book's prices and sizes are the same from one
    update to the next; ``Decimal(repr(float))`` is the costly part of applying a ccxt book). At most ``size``
    numbers are kept; past it the cache starts over."""

    __slots__ = ("_known", "_size")

    def __init__(self, size: int = 4096) -> None:
        self._known: dict[Any, Decimal] = {}
        self._size = size

    def dec(self, value: Any) -> Decimal:
        """:func:`dec` of ``value`` (same errors)."""
        d = self._known.get(value) if type(value) is float else None
        if d is None:
            d = dec(value)
            if type(value) is float:
                if len(self._known) >= self._size:
                    self._known.clear()
                self._known[value] = d
        return d


def dec_or(value: Any, default: Decimal | None) -> Decimal | None:
    return default if value is None or value == "" else dec(value)


def step(precision: Any, mode: int) -> Decimal:
    """A price or amount step from ccxt's market ``precision`` in ``precisionMode`` ``mode``."""
    p = dec(precision, "precision")
    if mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(p))
    if mode == ccxt.SIGNIFICANT_DIGITS:
        raise BadValue("precision in significant digits has no fixed step")
    return p  # TICK_SIZE


def instrument(venue: str, symbol: str, market: dict[str, Any], mode: int) -> Instrument:
    """Our instrument for ccxt market ``market`` under our ``symbol`` (the configured one: ccxt's unified symbol or
    the exchange's market id). Limits: ``limits.amount.min`` (else one lot), ``limits.cost.min`` (else 0)."""
    prec = market.get("precision") or {}
    limits = market.get("limits") or {}
    tick = step(prec.get("price"), mode)
    lot = step(prec.get("amount"), mode)
    min_size = dec_or((limits.get("amount") or {}).get("min"), lot) or lot
    min_notional = dec_or((limits.get("cost") or {}).get("min"), ZERO) or ZERO
    return Instrument(venue, symbol, str(market.get("base", "")), str(market.get("quote", "")), tick, lot,
                      max(min_size, lot), min_notional)  # fmt: skip


_STATUS = {"open": OrderStatus.OPEN, "closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELLED,
           "cancelled": OrderStatus.CANCELLED, "expired": OrderStatus.EXPIRED, "rejected": OrderStatus.REJECTED,
           "pending": OrderStatus.PENDING, "new": OrderStatus.OPEN}  # fmt: skip


def status(order: dict[str, Any], filled: Decimal) -> OrderStatus:
    """Our status for a unified order: ccxt's ``open`` with something filled is PARTIALLY_FILLED; a ``closed``
    (done) order with less than its amount filled is one whose remainder was cancelled."""
    raw = str(order.get("status") or "open").lower()
    st = _STATUS.get(raw)
    if st is None:
        raise BadValue(f"unknown ccxt order status {raw!r}")
    if st is OrderStatus.OPEN and filled > 0:
        return OrderStatus.PARTIALLY_FILLED
    if st is OrderStatus.FILLED:
        amount = dec_or(order.get("amount"), None)
        if amount is not None and filled < amount:
            return OrderStatus.CANCELLED
    return st


def report(symbol: str, order: dict[str, Any], cid: str) -> OrderReport:
    """An order report from a unified order (``cid``: our client order id for it)."""
    filled = dec_or(order.get("filled"), ZERO) or ZERO
    side = Side.BUY if str(order.get("side", "")).lower() == "buy" else Side.SELL
    return OrderReport(
        client_order_id=cid, venue_order_id=str(order["id"]) if order.get("id") is not None else None,
        symbol=symbol, side=side, size=dec_or(order.get("amount"), ZERO) or ZERO,
        price=dec_or(order.get("price"), None),
        status=status(order, filled), filled_size=filled, avg_fill_price=dec_or(order.get("average"), None),
        reduce_only=bool(order.get("reduceOnly")), post_only=bool(order.get("postOnly")),
        reason=str(order.get("status") or ""),
    )  # fmt: skip


def update(venue: str, r: OrderReport, ts_ms: Any) -> OrderUpdate:
    return OrderUpdate(venue=venue, symbol=r.symbol, client_order_id=r.client_order_id, status=r.status,
                       venue_order_id=r.venue_order_id, filled_size=r.filled_size, reason=r.reason,
                       ts_ns=int(ts_ms or 0) * 1_000_000)  # fmt: skip


def fill(venue: str, symbol: str, trade: dict[str, Any], cid: str) -> Fill:
    """A fill from a unified trade. The fee is in quote units when ccxt's fee currency is the quote (or absent);
    another currency's fee is left at 0 (the position accounting is in base and quote only)."""
    fee = trade.get("fee") or {}
    cost = dec_or(fee.get("cost"), ZERO) or ZERO
    return Fill(
        venue=venue, symbol=symbol, client_order_id=cid, trade_id=str(trade["id"]),
        side=Side.BUY if str(trade.get("side", "")).lower() == "buy" else Side.SELL,
        price=dec(trade.get("price"), "trade price"), size=dec(trade.get("amount"), "trade amount"), fee=cost,
        is_maker=trade.get("takerOrMaker") == "maker", ts_ns=int(trade.get("timestamp") or 0) * 1_000_000,
    )  # fmt: skip


def position(venue: str, symbol: str, pos: dict[str, Any], contract_size: Decimal) -> Position:
    """A position from a unified position: ``contracts`` x ``contractSize`` base units, signed by ``side``."""
    contracts = dec_or(pos.get("contracts"), ZERO) or ZERO
    size = contracts * contract_size
    if str(pos.get("side") or "").lower() == "short" and size > 0:
        size = -size
    entry = dec_or(pos.get("entryPrice"), None) if size else None
    return Position(venue, symbol, size, entry, dec_or(pos.get("realizedPnl"), ZERO) or ZERO)

"""Backpack positions: ``GET /api/v1/position`` and the ``account.positionUpdate`` stream parsed into domain
positions.

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from ...domain import (
    ZERO,
    Position,
    PositionUpdate,
    parse_price,
    to_decimal,
)
from ._codec import (
    POSITION_EVENT_TYPES,
    VENUE,
    BackpackProtocolError,
    _dict,
    _get,
    _json,
    _list,
    _Malformed,
    _protocol,
    _str,
    _ts_ns,
)

# ============================================================================================== positions


def _position(venue: str, symbol: str, qty: Decimal, entry_raw: object, pnl_raw: object, what: str) -> Position:
    entry = None
    if qty != ZERO and entry_raw is not None:
        entry = parse_price(entry_raw, what=f"{what} entry price")
    realized = ZERO if pnl_raw is None else to_decimal(pnl_raw, what=f"{what} realized pnl")
    return Position(venue=venue, symbol=symbol, size=qty, entry_price=entry, realized_pnl=realized)


def parse_position(obj: object, *, venue: str = VENUE) -> Position:
    """One ``GET /api/v1/position`` item (``FuturePositionWithMargin``, Backpack REST docs) -> :class:`Position`.

    Mapping: ``symbol``; ``netQuantity`` (signed: short < 0) -> size; ``entryPrice`` (None when flat);
    ``pnlRealized``.

    Raises:
        BackpackProtocolError: missing ``symbol``/``netQuantity``, wrong types. BadValue: bad numbers.
    """
    with _protocol(venue, "position"):
        d = _dict(_json(obj, venue), "position")
        symbol = _str(_get(d, "symbol", "position"), "position.symbol")
        qty = to_decimal(_get(d, "netQuantity", symbol), what=f"{symbol} netQuantity")
        return _position(venue, symbol, qty, d.get("entryPrice"), d.get("pnlRealized"), symbol)


def parse_positions(obj: object, *, venue: str = VENUE) -> dict[str, Position]:
    """``GET /api/v1/position`` body (array) -> positions by symbol (the venue lists open positions only).

    Raises:
        BackpackProtocolError: not an array, or a symbol listed twice; and as :func:`parse_position`.
    """
    with _protocol(venue, "positions"):
        items = _list(_json(obj, venue), "positions")
    out: dict[str, Position] = {}
    for item in items:
        pos = parse_position(item, venue=venue)
        if pos.symbol in out:
            raise BackpackProtocolError(venue, f"positions: {pos.symbol} listed twice", code="PROTOCOL")
        out[pos.symbol] = pos
    return out


def parse_position_update(data: object, *, venue: str = VENUE) -> PositionUpdate:
    """One ``account.positionUpdate`` payload -> :class:`PositionUpdate` (Backpack WS docs).

    Keys: ``e`` (one of :data:`POSITION_EVENT_TYPES`, or **absent** in the snapshot of open positions sent on
    subscribe), ``s``, ``q`` (net quantity, signed), ``B`` (entry price; ``b`` is the break-even price, which
    ccxt.pro 4.5.90 mistakes for the entry), ``p`` (realized PnL), ``T``/``E`` (µs).

    Raises:
        BackpackProtocolError: unknown ``e``, missing ``s``/``q``, wrong types. BadValue: bad numbers.
    """
    with _protocol(venue, "positionUpdate"):
        d = _dict(_json(data, venue), "positionUpdate")
        event = d.get("e")
        if event is not None and not (isinstance(event, str) and event in POSITION_EVENT_TYPES):
            raise _Malformed(f"unknown position event type {str(event)[:30]!r}")
        symbol = _str(_get(d, "s", "positionUpdate"), "positionUpdate.s")
        qty = to_decimal(_get(d, "q", symbol), what=f"{symbol} q")
        ts_ns = _ts_ns(d, symbol)
        position = _position(venue, symbol, qty, d.get("B"), d.get("p"), symbol)
    return PositionUpdate(position=position, ts_ns=ts_ns)


def parse_position_updates(data: object, *, venue: str = VENUE) -> list[PositionUpdate]:
    """``account.positionUpdate`` data that may be one position or, for the on-subscribe snapshot, possibly an
    array of them (the docs say "the current open positions"; the exact snapshot shape is not documented:
    both are read).

    Raises:
        BackpackProtocolError, BadValue: as :func:`parse_position_update`.
    """
    data = _json(data, venue)
    if isinstance(data, (list, tuple)):
        return [parse_position_update(item, venue=venue) for item in data]
    return [parse_position_update(data, venue=venue)]


def is_position_snapshot(data: object) -> bool:
    """True for a position payload without ``e`` (the snapshot sent on subscribe, Backpack WS docs); never raises."""
    if isinstance(data, Mapping):
        return "e" not in data
    return isinstance(data, (list, tuple))

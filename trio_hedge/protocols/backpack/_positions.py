"""Backpack positions, both directions: ``GET /api/v1/position`` and the ``account.positionUpdate`` stream parsed
into domain positions (client side) and formatted from one (server side).

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
    decimal_text,
    us_text,
)
from ._markets import DEFAULT_MARKET_TERMS, MarketTerms

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


# ============================================================================================== server side


def format_position(
    pos: Position, *, mark: Decimal, position_id: int, user_id: str, terms: MarketTerms = DEFAULT_MARKET_TERMS
) -> dict[str, object]:
    """A ``FuturePositionWithMargin`` (``GET /api/v1/position``, server side; Backpack REST docs), keys and types
    as the captured response (``tests/fixtures/backpack/captured.json`` ``positions``): ``netQuantity`` signed,
    ``entryPrice`` and ``breakEvenPrice`` the entry (0 when flat), PnL and exposure at ``mark``, margin from
    ``terms``; funding, interest and liquidation fields 0, ``subaccountId`` null. Read back by
    :func:`parse_position`.

    Raises:
        BadValue: a decimal no plain string can carry.
    """
    qty = pos.size
    entry = pos.entry_price if pos.entry_price is not None else ZERO
    return {
        "breakEvenPrice": decimal_text(entry),
        "cumulativeFundingPayment": "0",
        "cumulativeInterest": "0",
        "entryPrice": decimal_text(entry),
        "estLiquidationPrice": "0",
        "imf": terms.imf,
        "imfFunction": terms.imf_function,
        "markPrice": decimal_text(mark),
        "mmf": terms.mmf,
        "mmfFunction": terms.mmf_function,
        "netCost": decimal_text(entry * qty),
        "netExposureNotional": decimal_text(abs(qty) * mark),
        "netExposureQuantity": decimal_text(abs(qty)),
        "netQuantity": decimal_text(qty),
        "pnlRealized": decimal_text(pos.realized_pnl),
        "pnlUnrealized": decimal_text((mark - entry) * qty),
        "positionId": str(position_id),
        "subaccountId": None,
        "symbol": pos.symbol,
        "userId": user_id,
    }


def format_position_update(
    pos: Position,
    *,
    mark: Decimal,
    position_id: int,
    event_ns: int,
    engine_ns: int,
    event_type: str | None,
    terms: MarketTerms = DEFAULT_MARKET_TERMS,
) -> dict[str, object]:
    """An ``account.positionUpdate`` payload (server side; Backpack WS docs), keys as the captured
    ``positionOpened`` frame (``tests/fixtures/backpack/captured.json`` ``position_opened``): ``e`` the
    ``event_type`` (one of :data:`POSITION_EVENT_TYPES`), or no ``e`` at all for None (the snapshot form sent on
    subscribe); ``q`` signed, ``Q`` its size, ``B`` the entry and ``b`` the break-even (here the entry), ``l``
    (liquidation) 0, ``i`` a number, ``E``/``T`` µs strings. Read back by :func:`parse_position_update`.

    Raises:
        BadValue: a decimal no plain string can carry.
    """
    qty = pos.size
    entry = pos.entry_price if pos.entry_price is not None else ZERO
    fields: dict[str, object] = {
        "B": decimal_text(entry),
        "E": us_text(event_ns),
        "M": decimal_text(mark),
        "P": decimal_text((mark - entry) * qty),
        "Q": decimal_text(abs(qty)),
        "T": us_text(engine_ns),
        "b": decimal_text(entry),
        "f": terms.imf,
        "i": position_id,
        "l": "0",
        "m": terms.mmf,
        "n": decimal_text(abs(qty) * mark),
        "p": decimal_text(pos.realized_pnl),
        "q": decimal_text(qty),
        "s": pos.symbol,
    }
    return fields if event_type is None else {"e": event_type, **fields}

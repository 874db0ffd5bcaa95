"""Backpack markets: ``GET /api/v1/markets`` entries parsed into domain :class:`~trio_hedge.domain.Instrument`.

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

from ...domain import (
    ZERO,
    Instrument,
    parse_price,
    parse_size,
)
from ._codec import VENUE, _dict, _get, _json, _list, _opt, _protocol, _sane, _str

# ============================================================================================== markets


def parse_market(obj: object, *, venue: str = VENUE) -> Instrument:
    """One Backpack ``Market`` (``GET /api/v1/market(s)``, Backpack REST docs) -> :class:`Instrument`.

    Mapping: ``symbol``; ``baseSymbol``/``quoteSymbol``; ``filters.price.tickSize`` -> tick_size;
    ``filters.quantity.stepSize`` -> lot_size; ``filters.quantity.minQuantity`` -> min_size (if it is 0, one
    lot). Backpack's market schema has no notional filter (OpenAPI ``OrderBookFilters``), so min_notional is
    0 unless a ``filters.quantity.minNotional`` decimal is present.

    Raises:
        BackpackProtocolError: missing keys or wrong types. BadValue: a non-positive or non-finite step.
    """
    with _protocol(venue, "market"):
        d = _dict(_json(obj, venue), "market")
        symbol = _str(_get(d, "symbol", "market"), "market.symbol")
        base = _str(_get(d, "baseSymbol", symbol), f"{symbol}.baseSymbol")
        quote = _str(_get(d, "quoteSymbol", symbol), f"{symbol}.quoteSymbol")
        filters = _dict(_get(d, "filters", symbol), f"{symbol}.filters")
        pf = _dict(_get(filters, "price", symbol), f"{symbol}.filters.price")
        qf = _dict(_get(filters, "quantity", symbol), f"{symbol}.filters.quantity")
        tick = _sane(parse_price(_get(pf, "tickSize", symbol), what=f"{symbol} tickSize"), f"{symbol} tickSize")
        lot = _sane(parse_price(_get(qf, "stepSize", symbol), what=f"{symbol} stepSize"), f"{symbol} stepSize")
        min_qty = _sane(parse_size(_get(qf, "minQuantity", symbol), what=f"{symbol} minQuantity"), f"{symbol} min")
        min_notional_raw = _opt(qf, "minNotional")
        min_notional = (
            ZERO
            if min_notional_raw is None
            else _sane(parse_size(min_notional_raw, what=f"{symbol} minNotional"), f"{symbol} minNotional")
        )
    return Instrument(
        venue=venue,
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        min_size=min_qty if min_qty > ZERO else lot,
        min_notional=min_notional,
    )


def parse_markets(obj: object, *, venue: str = VENUE, market_type: str | None = "PERP") -> dict[str, Instrument]:
    """``GET /api/v1/markets`` (array of Market) -> instruments by symbol.

    Args:
        obj: the response body (raw or decoded).
        venue: configured venue name.
        market_type: keep only markets whose ``marketType`` equals this (``"PERP"``, ``"SPOT"``...); None keeps
            all. Filtering happens before parsing, so other market kinds with other shapes cannot break it.

    Raises:
        BackpackProtocolError, BadValue: as :func:`parse_market`.
    """
    out: dict[str, Instrument] = {}
    with _protocol(venue, "markets"):
        items = _list(_json(obj, venue), "markets")
        selected = []
        for item in items:
            d = _dict(item, "market")
            if market_type is None or d.get("marketType") == market_type:
                selected.append(d)
    for d in selected:
        inst = parse_market(d, venue=venue)
        out[inst.symbol] = inst
    return out

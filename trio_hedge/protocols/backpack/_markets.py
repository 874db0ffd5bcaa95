"""Backpack markets, both directions: ``GET /api/v1/markets`` entries parsed into domain
:class:`~trio_hedge.domain.Instrument` (client side); a ``Market`` and a ``Ticker`` formatted (server side), with
the published market terms an :class:`~trio_hedge.domain.Instrument` does not hold (:class:`MarketTerms`).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ...domain import (
    ZERO,
    Instrument,
    parse_price,
    parse_size,
)
from ._codec import VENUE, _dict, _get, _json, _list, _opt, _protocol, _sane, _str, decimal_text, fixed_text

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


# ============================================================================================== server side


@dataclass(frozen=True, slots=True)
class MarketTerms:
    """A perpetual market's published terms that the domain's :class:`Instrument` does not hold: the band a limit
    price must stay in around the mark (``filters.price.minMultiplier`` / ``maxMultiplier``), the initial and
    maintenance margin fractions (``imf``/``mmf``) and their ``sqrt`` functions (``imfFunction`` /
    ``mmfFunction``: base and factor), and the market's ``createdAt``. Defaults: the values of the
    SOL_USDC_PERP market in ccxt 4.5.90 ``backpack.py`` ``parse_market``'s comment (Backpack REST docs, Markets).
    """

    min_price_multiplier: Decimal = Decimal("0.75")
    max_price_multiplier: Decimal = Decimal("1.25")
    imf: str = "0.02"
    mmf: str = "0.0125"
    imf_factor: str = "0.0001275"
    mmf_factor: str = "0.0000765"
    created_at: str = "2024-01-01T00:00:00"

    @property
    def imf_function(self) -> dict[str, str]:
        """``{"base", "factor", "type": "sqrt"}`` of the initial margin fraction."""
        return {"base": self.imf, "factor": self.imf_factor, "type": "sqrt"}

    @property
    def mmf_function(self) -> dict[str, str]:
        """``{"base", "factor", "type": "sqrt"}`` of the maintenance margin fraction."""
        return {"base": self.mmf, "factor": self.mmf_factor, "type": "sqrt"}


DEFAULT_MARKET_TERMS = MarketTerms()
"""The terms every market gets unless given others."""


def format_market(inst: Instrument, terms: MarketTerms = DEFAULT_MARKET_TERMS) -> dict[str, object]:
    """A perpetual ``Market`` object (``GET /api/v1/market(s)``, server side; Backpack REST docs), keys and types
    as the captured SOL_USDC_PERP market (ccxt 4.5.90 ``backpack.py`` comment; ``tests/fixtures/backpack/
    captured.json`` ``markets`` has its spot sibling), plus ``visible`` (required by the OpenAPI schema) and
    ``filters.quantity.minNotional`` when ``inst`` has a minimum notional. Read back by :func:`parse_market`.

    Raises:
        BadValue: a decimal no plain string can carry.
    """
    quantity: dict[str, object] = {
        "maxQuantity": None,
        "minQuantity": decimal_text(inst.min_size),
        "stepSize": decimal_text(inst.lot_size),
    }
    if inst.min_notional > ZERO:
        quantity["minNotional"] = decimal_text(inst.min_notional)
    return {
        "baseSymbol": inst.base,
        "createdAt": terms.created_at,
        "filters": {
            "price": {
                "borrowEntryFeeMaxMultiplier": None,
                "borrowEntryFeeMinMultiplier": None,
                "maxImpactMultiplier": "1.03",
                "maxMultiplier": decimal_text(terms.max_price_multiplier),
                "maxPrice": decimal_text(inst.tick_size * Decimal(10) ** 9),
                "meanMarkPriceBand": {"maxMultiplier": "1.1", "minMultiplier": "0.9"},
                "meanPremiumBand": {"tolerancePct": "0.05"},
                "minImpactMultiplier": "0.97",
                "minMultiplier": decimal_text(terms.min_price_multiplier),
                "minPrice": decimal_text(inst.tick_size),
                "tickSize": decimal_text(inst.tick_size),
            },
            "quantity": quantity,
        },
        "fundingInterval": "28800000",
        "fundingRateLowerBound": "-100",
        "fundingRateUpperBound": "100",
        "imfFunction": terms.imf_function,
        "marketType": "PERP",
        "mmfFunction": terms.mmf_function,
        "openInterestLimit": "0",
        "orderBookState": "Open",
        "quoteSymbol": inst.quote,
        "symbol": inst.symbol,
        "visible": True,
    }


def format_ticker(
    symbol: str, *, first: Decimal, last: Decimal, high: Decimal, low: Decimal, price_places: int
) -> dict[str, object]:
    """A ``Ticker`` (``GET /api/v1/ticker(s)``, server side; Backpack REST docs), keys and types as
    ``tests/fixtures/backpack/captured_ticker.json``: prices with the market's ``price_places``
    (:func:`~trio_hedge.protocols.backpack.fixed_text`), ``priceChange`` = last - first, ``priceChangePercent`` its
    ratio to ``first`` to 6 places (0 when ``first`` is 0); volumes and trade count ``"0"`` (given no trades).

    Raises:
        BadValue: a decimal no plain string can carry.
    """
    change = last - first
    pct = (change / first).quantize(Decimal("0.000001")) if first else ZERO
    return {
        "firstPrice": fixed_text(first, price_places),
        "high": fixed_text(high, price_places),
        "lastPrice": fixed_text(last, price_places),
        "low": fixed_text(low, price_places),
        "priceChange": decimal_text(change),
        "priceChangePercent": decimal_text(pct),
        "quoteVolume": "0",
        "symbol": symbol,
        "trades": "0",
        "volume": "0",
    }

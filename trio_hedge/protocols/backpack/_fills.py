"""Backpack fills, both directions: ``GET /wapi/v1/history/fills`` entries parsed into
:class:`~trio_hedge.domain.Fill` (client side) and formatted from one (server side), and fees converted to the
quote asset.

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from ...domain import (
    ZERO,
    BadValue,
    Fill,
    parse_price,
    parse_size,
    to_decimal,
)
from ._codec import (
    _SIDE_TEXT,
    VENUE,
    _arith,
    _bool,
    _dict,
    _get,
    _id,
    _json,
    _list,
    _Malformed,
    _opt_client_id,
    _protocol,
    _side,
    _str,
    decimal_text,
    iso_ms_text,
    iso_to_ns,
    split_symbol,
)

FILL_TYPES: Final = (
    "User",
    "BookLiquidation",
    "Adl",
    "Backstop",
    "Liquidation",
    "AllLiquidation",
    "CollateralConversion",
    "CollateralConversionAndSpotLiquidation",
)
"""OpenAPI ``FillType`` (the ``fillType`` filter of ``GET /wapi/v1/history/fills``; Backpack REST docs)."""


def _opt_size(v: object, *, what: str) -> Decimal:
    return ZERO if v is None else parse_size(v, what=what)


def _fill_size(v: object, *, what: str) -> Decimal:
    size = parse_size(v, what=what)
    if size <= ZERO:
        raise BadValue(f"{what}: fill quantity {size} must be > 0")
    return size


def fee_in_quote(fee: Decimal, fee_asset: str, symbol: str, price: Decimal) -> Decimal:
    """Express a fill's fee in the market's quote asset (the unit of :attr:`Fill.fee`).

    Backpack charges the fee in the asset received: the quote asset (``USDC``) on perps and on spot sells, the
    base asset on spot buys (captures: ``"feeSymbol":"ETH"`` on an ``ETH_USDC`` Bid; Backpack REST docs; Backpack WS
    docs). A base-asset fee is converted at the fill price (``fee * price``).

    Raises:
        BackpackProtocolError: the fee is in an asset that is neither base nor quote (it cannot be converted
        without another price; the fill must not be recorded with a wrong fee).
    """
    with _protocol(VENUE, "fee"):
        return _fee_in_quote(fee, fee_asset, symbol, price)


def _fee_in_quote(fee: Decimal, fee_asset: str, symbol: str, price: Decimal) -> Decimal:
    try:
        base, quote = split_symbol(symbol)
    except BadValue as exc:
        raise _Malformed(str(exc)) from None
    if fee_asset == quote:
        return fee
    if fee_asset == base:
        return _arith(lambda: fee * price, f"{symbol} fee")
    raise _Malformed(f"{symbol}: fee charged in {fee_asset[:20]!r}, neither base {base} nor quote {quote}")


def parse_history_fill(obj: object, *, venue: str = VENUE) -> Fill:
    """One ``GET /wapi/v1/history/fills`` item -> :class:`Fill` (Backpack REST docs).

    Keys: ``tradeId`` (number or string; required for deduplication), ``clientId`` (null -> ``""``), ``symbol``,
    ``side``, ``price``, ``quantity``, ``fee`` + ``feeSymbol`` (converted by :func:`fee_in_quote`),
    ``isMaker``, ``timestamp`` (naive UTC ISO -> ns).

    Raises:
        BackpackProtocolError: missing keys or wrong types. BadValue: bad numbers or time.
    """
    with _protocol(venue, "fill"):
        d = _dict(_json(obj, venue), "fill")
        symbol = _str(_get(d, "symbol", "fill"), "fill.symbol")
        trade_id = _id(_get(d, "tradeId", symbol), f"{symbol} fill.tradeId")
        what = f"{symbol} trade {trade_id}"
        side = _side(_get(d, "side", what), f"{what}.side")
        client_order_id = _opt_client_id(d.get("clientId"), f"{what}.clientId")
        price = parse_price(_get(d, "price", what), what=f"{what} price")
        size = _fill_size(_get(d, "quantity", what), what=f"{what} quantity")
        is_maker = _bool(_get(d, "isMaker", what), f"{what}.isMaker")
        fee = to_decimal(_get(d, "fee", what), what=f"{what} fee")
        fee_asset = _str(_get(d, "feeSymbol", what), f"{what}.feeSymbol")
        fee_quote = _fee_in_quote(fee, fee_asset, symbol, price)
        ts_ns = iso_to_ns(_get(d, "timestamp", what), what=f"{what} timestamp")
    return Fill(venue, symbol, client_order_id, trade_id, side, price, size, fee_quote, is_maker, ts_ns)


def parse_fill_history(obj: object, *, venue: str = VENUE) -> list[Fill]:
    """``GET /wapi/v1/history/fills`` body (array) -> fills sorted oldest first (the venue may send newest
    first with ``sortDirection=Desc``); ties keep body order.

    Raises:
        BackpackProtocolError, BadValue: as :func:`parse_history_fill`.
    """
    with _protocol(venue, "fills"):
        items = _list(_json(obj, venue), "fills")
    fills = [parse_history_fill(item, venue=venue) for item in items]
    fills.sort(key=lambda f: f.ts_ns)
    return fills


def format_history_fill(
    fill: Fill, *, order_id: str, client_id: int | None, trade_id: int, fee_symbol: str
) -> dict[str, object]:
    """One ``OrderFill`` of ``GET /wapi/v1/history/fills`` (server side; Backpack REST docs), keys and types as
    the captured ``fetchMyTrades`` response (``tests/fixtures/backpack/captured.json`` ``fills``): ``tradeId``
    and ``clientId`` strings, ``timestamp`` naive UTC ISO with ms, ``systemOrderType`` null. ``fill.fee`` is
    sent as is in ``fee_symbol`` (the quote asset on perpetuals). Read back by :func:`parse_history_fill`.

    Raises:
        BadValue: a decimal no plain string can carry.
    """
    return {
        "clientId": None if client_id is None else str(client_id),
        "fee": decimal_text(fill.fee),
        "feeSymbol": fee_symbol,
        "isMaker": fill.is_maker,
        "orderId": order_id,
        "price": decimal_text(fill.price),
        "quantity": decimal_text(fill.size),
        "side": _SIDE_TEXT[fill.side],
        "symbol": fill.symbol,
        "systemOrderType": None,
        "timestamp": iso_ms_text(fill.ts_ns),
        "tradeId": str(trade_id),
    }

"""Backpack orders, both directions: REST order bodies and the ``account.orderUpdate`` stream parsed into
:class:`~trio_hedge.domain.OrderReport` and domain events (client side) and formatted from the venue's order
(:class:`BackpackOrder`, server side); ``orderExecute`` / ``orderCancel`` / ``orderCancelAll`` / ``orderQuery``
request bodies built (client side) and the ``orderExecute`` payload parsed (server side); the client id
allocator (``clientId`` is a uint32).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

import time
from collections.abc import Container, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from ...domain import (
    ZERO,
    BadValue,
    Fill,
    Instrument,
    OrderRejected,
    OrderReport,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PostOnlyWouldCross,
    Side,
    TimeInForce,
    parse_price,
    parse_size,
    to_decimal,
)
from ._codec import (
    _SIDE_TEXT,
    _SIDES,
    ORDER_EVENT_TYPES,
    POST_ONLY_WOULD_CROSS,
    SELF_TRADE_PREVENTION,
    UINT32_MAX,
    VENUE,
    _arith,
    _bool,
    _check_order_type,
    _check_tif,
    _dict,
    _get,
    _id,
    _json,
    _list,
    _Malformed,
    _opt_bool,
    _opt_client_id,
    _protocol,
    _reason,
    _side,
    _status,
    _str,
    _ts_ns,
    decimal_text,
    iso_ms_text,
    us_text,
)
from ._fills import _fee_in_quote, _fill_size, _opt_size
from ._requests import RequestParams

# ============================================================================================== orders


def parse_order(obj: object, *, venue: str = VENUE) -> OrderReport:
    """A REST ``Order`` (``POST/GET/DELETE /api/v1/order``, ``GET /api/v1/orders``, ``/wapi/v1/history/orders``;
    Backpack REST docs) -> :class:`OrderReport`.

    Mapping: ``clientId`` (number or string, null -> ``""``); ``id``; ``symbol``; ``side`` Bid/Ask;
    ``quantity`` (if null or 0 on a trigger order: ``triggerQuantity``, else ``executedQuantity``); ``price``
    (absent on market orders -> None); ``status`` via :data:`ORDER_STATUS`; ``executedQuantity``;
    avg price = ``executedQuoteQuantity / executedQuantity``; ``reduceOnly``/``postOnly`` (null -> False);
    ``expiryReason`` (history only) via :func:`normalize_reason`.

    Raises:
        BackpackProtocolError: missing keys, wrong types, unknown status/side/order type/time in force.
        BadValue: bad numbers.
    """
    with _protocol(venue, "order"):
        d = _dict(_json(obj, venue), "order")
        venue_order_id = _id(_get(d, "id", "order"), "order.id")
        what = f"order {venue_order_id}"
        client_order_id = _opt_client_id(d.get("clientId"), f"{what}.clientId")
        symbol = _str(_get(d, "symbol", what), f"{what}.symbol")
        side = _side(_get(d, "side", what), f"{what}.side")
        status = _status(_get(d, "status", what), f"{what}.status")
        _check_order_type(_get(d, "orderType", what), f"{what}.orderType")
        _check_tif(d.get("timeInForce"), f"{what}.timeInForce")
        executed = _opt_size(d.get("executedQuantity"), what=f"{what} executedQuantity")
        executed_quote = _opt_size(d.get("executedQuoteQuantity"), what=f"{what} executedQuoteQuantity")
        quantity_raw = d.get("quantity")
        size = None if quantity_raw is None else parse_size(quantity_raw, what=f"{what} quantity")
        if size is None or size == ZERO:
            trigger_qty = d.get("triggerQuantity")
            if trigger_qty is not None:
                size = parse_size(trigger_qty, what=f"{what} triggerQuantity")
            elif size is None:
                size = executed
        price_raw = d.get("price")
        price = None if price_raw is None else parse_price(price_raw, what=f"{what} price")
        reduce_only = _opt_bool(d.get("reduceOnly"), f"{what}.reduceOnly")
        post_only = _opt_bool(d.get("postOnly"), f"{what}.postOnly")
        reason = _reason(d.get("expiryReason"), f"{what}.expiryReason")
    return OrderReport(
        client_order_id=client_order_id,
        venue_order_id=venue_order_id,
        symbol=symbol,
        side=side,
        size=size,
        price=price,
        status=status,
        filled_size=executed,
        avg_fill_price=_arith(lambda: executed_quote / executed, f"{what} average price") if executed > ZERO else None,
        reduce_only=reduce_only,
        post_only=post_only,
        reason=reason,
    )


def parse_orders(obj: object, *, venue: str = VENUE) -> list[OrderReport]:
    """An array of REST ``Order`` (open orders, cancel-all result, order history) -> reports, in body order.

    Raises:
        BackpackProtocolError, BadValue: as :func:`parse_order`.
    """
    with _protocol(venue, "orders"):
        items = _list(_json(obj, venue), "orders")
    return [parse_order(item, venue=venue) for item in items]


def error_from_order_report(report: OrderReport, *, venue: str = VENUE) -> OrderRejected | None:
    """The typed rejection an order response implies, if any.

    A post-only order that would have taken liquidity is not an HTTP error in the captured material: the order
    comes back (or is streamed) ``Expired`` with expiry reason ``PostOnlyTaker`` (Backpack REST docs, OpenAPI
    ``OrderExpiryReason``; the exact REST form is not documented). This turns that into :class:`PostOnlyWouldCross`.

    Returns:
        PostOnlyWouldCross for an EXPIRED, unfilled order with reason :data:`POST_ONLY_WOULD_CROSS`; else None.
    """
    if report.status is OrderStatus.EXPIRED and report.reason == POST_ONLY_WOULD_CROSS and report.filled_size == ZERO:
        return PostOnlyWouldCross(
            venue,
            f"post-only order {report.client_order_id or report.venue_order_id} would have taken liquidity",
            code="PostOnlyTaker",
        )
    return None


def parse_order_update(data: object, *, venue: str = VENUE) -> OrderUpdate:
    """The ``data`` of an ``account.orderUpdate[.<symbol>]`` frame -> :class:`OrderUpdate` (Backpack WS docs).

    Keys used: ``e`` (event type, one of :data:`ORDER_EVENT_TYPES`), ``s``, ``c`` (clientId, only when the order
    has one -> else ``""``), ``X`` (status, via :data:`ORDER_STATUS`), ``i`` (order id), ``z`` (cumulative
    executed quantity), ``R`` (expiry reason, on ``orderExpired``), ``T``/``E`` (µs). Checked when present:
    ``S`` (Bid/Ask), ``o`` (order type: upper-case ``LIMIT``/``MARKET`` in updates, unlike REST's ``Limit``),
    ``f`` (GTC/IOC/FOK).

    Raises:
        BackpackProtocolError: missing keys, wrong types, unknown ``e``/``X``/``S``/``o``/``f``. BadValue: numbers.
    """
    with _protocol(venue, "orderUpdate"):
        d = _dict(_json(data, venue), "orderUpdate")
        event = _get(d, "e", "orderUpdate")
        if not isinstance(event, str) or event not in ORDER_EVENT_TYPES:
            raise _Malformed(f"unknown order event type {str(event)[:30]!r}")
        symbol = _str(_get(d, "s", event), f"{event}.s")
        venue_order_id = _id(_get(d, "i", event), f"{event}.i")
        what = f"{event} {venue_order_id}"
        status = _status(_get(d, "X", what), f"{what}.X")
        client_order_id = _opt_client_id(d.get("c"), f"{what}.c")
        if d.get("S") is not None:
            _side(d["S"], f"{what}.S")
        _check_order_type(d.get("o"), f"{what}.o")
        _check_tif(d.get("f"), f"{what}.f")
        z = d.get("z")
        filled = None if z is None else parse_size(z, what=f"{what} z")
        reason = _reason(d.get("R"), f"{what}.R")
        ts_ns = _ts_ns(d, what)
    return OrderUpdate(
        venue=venue,
        symbol=symbol,
        client_order_id=client_order_id,
        status=status,
        venue_order_id=venue_order_id,
        filled_size=filled,
        reason=reason,
        ts_ns=ts_ns,
    )


def parse_order_fill(data: object, *, venue: str = VENUE, received_ns: int = 0) -> Fill:
    """The execution carried by an ``orderFill`` order update -> :class:`Fill` (Backpack WS docs).

    Keys: ``t`` trade id, ``l`` fill quantity, ``L`` fill price, ``m`` maker?, ``n`` fee, ``N`` fee asset,
    ``S`` side, ``s``, ``c`` (``""`` if the order has no clientId, e.g. a liquidation order), ``T``/``E`` µs.
    The fee is converted to quote units (see :func:`fee_in_quote`). ``received_ns`` becomes
    :attr:`Fill.received_ns` (the frame's receipt, ``time.perf_counter_ns``; 0: not stamped).

    Raises:
        BackpackProtocolError: ``e`` is not ``orderFill``, missing keys, wrong types, a fee in another asset.
        BadValue: bad numbers (including a zero fill quantity).
    """
    with _protocol(venue, "orderFill"):
        d = _dict(_json(data, venue), "orderFill")
        if d.get("e") != "orderFill":
            raise _Malformed(f"event type {str(d.get('e'))[:30]!r} is not orderFill")
        return _order_fill(d, venue, received_ns, None)


def _order_fill(d: Mapping[str, object], venue: str, received_ns: int, update: OrderUpdate | None) -> Fill:
    """The body of :func:`parse_order_fill` (inside its ``_protocol``). ``update``: the same message's
    :class:`OrderUpdate`, already parsed (:func:`parse_order_events`): its symbol, client id and time are taken
    instead of read again (the same keys, read by the same rules, so nothing that could fail is skipped)."""
    symbol = _str(_get(d, "s", "orderFill"), "orderFill.s") if update is None else update.symbol
    trade_id = _id(_get(d, "t", symbol), f"{symbol} orderFill.t")
    what = f"{symbol} trade {trade_id}"
    side = _side(_get(d, "S", what), f"{what}.S")
    client_order_id = _opt_client_id(d.get("c"), f"{what}.c") if update is None else update.client_order_id
    price = parse_price(_get(d, "L", what), what=f"{what} L")
    size = _fill_size(_get(d, "l", what), what=f"{what} l")
    is_maker = _bool(_get(d, "m", what), f"{what}.m")
    fee = to_decimal(_get(d, "n", what), what=f"{what} n")
    fee_asset = _str(_get(d, "N", what), f"{what}.N")
    fee_quote = _fee_in_quote(fee, fee_asset, symbol, price)
    ts_ns = _ts_ns(d, what) if update is None else update.ts_ns
    return Fill(venue, symbol, client_order_id, trade_id, side, price, size, fee_quote, is_maker, ts_ns, received_ns)


def parse_order_events(data: object, *, venue: str = VENUE, received_ns: int = 0) -> list[OrderUpdate | Fill]:
    """All domain events in one ``account.orderUpdate`` message: ``[Fill, OrderUpdate]`` for ``orderFill`` (the
    fill first, so the order's status follows its fills), ``[OrderUpdate]`` otherwise. ``received_ns``: the
    Fill's :attr:`~trio_hedge.domain.Fill.received_ns` (see :func:`parse_order_fill`).

    Raises:
        BackpackProtocolError, BadValue: as :func:`parse_order_update` / :func:`parse_order_fill`.
    """
    data = _json(data, venue)
    update = parse_order_update(data, venue=venue)
    if isinstance(data, Mapping) and data.get("e") == "orderFill":
        with _protocol(venue, "orderFill"):  # what parse_order_fill does, less what the update has read
            fill = _order_fill(data, venue, received_ns, update)
        return [fill, update]
    return [update]


# ============================================================================================== order requests


def client_id_from_str(client_order_id: str) -> int:
    """Our ``OrderRequest.client_order_id`` (a uint32 decimal string for Backpack) -> the ``clientId`` number.

    Raises:
        BadValue: not the decimal text of an integer in 0..2**32-1.
    """
    text = client_order_id if isinstance(client_order_id, str) else ""
    if not (0 < len(text) <= 10 and text.isascii() and text.isdigit()):
        raise BadValue(f"backpack clientId {str(client_order_id)[:24]!r} must be a uint32 decimal string")
    n = int(text)
    if n > UINT32_MAX:
        raise BadValue(f"backpack clientId {n} exceeds uint32")
    return n


def order_execute_body(
    request: OrderRequest, instrument: Instrument, *, self_trade_prevention: str | None = None
) -> dict[str, object]:
    """Build the ``POST /api/v1/order`` body (instruction ``orderExecute``; Backpack REST docs, OpenAPI
    ``OrderExecutePayload``).

    Shape: ``{"clientId": <uint32 number>, "orderType": "Limit"|"Market", "price": "<str>", "quantity": "<str>",
    "side": "Bid"|"Ask", "symbol": ..., "timeInForce": "GTC"|"IOC"|"FOK", "postOnly": true, "reduceOnly": true,
    "selfTradePrevention": ...}``. Decimals are plain strings; flags are sent only when true; market orders carry
    neither price nor timeInForce (as ccxt's captured bodies). Our GTT is Backpack's GTC.

    Args:
        request: the order; its ``client_order_id`` must be a uint32 decimal string.
        instrument: the market's grid; the order must already be on it (this never rounds).
        self_trade_prevention: ``RejectTaker``/``RejectMaker``/``RejectBoth``, or None for the venue default.

    Returns:
        dict[str, object]: the body, keys sorted; sign it with the same dict and send :func:`encode_json` of it.

    Raises:
        BadValue: symbol mismatch, off-grid price or size, below min size/notional, bad clientId, unknown STP.
    """
    if request.symbol != instrument.symbol:
        raise BadValue(f"order {request.client_order_id}: symbol {request.symbol} is not {instrument.symbol}")
    _arith(lambda: instrument.check_order(request.price, request.size), f"order {request.client_order_id}")
    body: dict[str, object] = {
        "clientId": client_id_from_str(request.client_order_id),
        "quantity": decimal_text(request.size),
        "side": _SIDE_TEXT[request.side],
        "symbol": request.symbol,
    }
    if request.order_type is OrderType.LIMIT:
        if request.price is None:  # OrderRequest already refuses this; kept for the type checker
            raise BadValue(f"order {request.client_order_id}: a limit order needs a price")
        body["orderType"] = "Limit"
        body["price"] = decimal_text(request.price)
        body["timeInForce"] = "GTC" if request.tif is TimeInForce.GTT else request.tif.value
        if request.post_only:
            body["postOnly"] = True
    else:
        body["orderType"] = "Market"
    if request.reduce_only:
        body["reduceOnly"] = True
    if self_trade_prevention is not None:
        if self_trade_prevention not in SELF_TRADE_PREVENTION:
            raise BadValue(f"unknown selfTradePrevention {str(self_trade_prevention)[:20]!r}")
        body["selfTradePrevention"] = self_trade_prevention
    return dict(sorted(body.items()))


def _one_order_ref(client_id: int | None, order_id: str | None) -> tuple[str, object]:
    if (client_id is None) == (order_id is None):
        raise BadValue("give exactly one of client_id and order_id")
    if client_id is not None:
        if isinstance(client_id, bool) or not isinstance(client_id, int) or not 0 <= client_id <= UINT32_MAX:
            raise BadValue(f"clientId {client_id!r} is not a uint32")
        return "clientId", client_id
    if not isinstance(order_id, str) or not order_id:
        raise BadValue("order_id must be a non-empty string")
    return "orderId", order_id


def order_cancel_body(symbol: str, *, client_id: int | None = None, order_id: str | None = None) -> dict[str, object]:
    """``DELETE /api/v1/order`` body (``orderCancel``): ``{"symbol", "clientId": <int>}`` or ``{"symbol",
    "orderId": "<str>"}`` (Backpack REST docs). Raises BadValue unless exactly one reference is given."""
    key, value = _one_order_ref(client_id, order_id)
    return dict(sorted({key: value, "symbol": symbol}.items()))


def order_cancel_all_body(symbol: str) -> dict[str, object]:
    """``DELETE /api/v1/orders`` body (``orderCancelAll``): ``{"symbol": ...}`` (Backpack REST docs)."""
    return {"symbol": symbol}


def order_query_params(symbol: str, *, client_id: int | None = None, order_id: str | None = None) -> dict[str, str]:
    """``GET /api/v1/order`` query (``orderQuery``): symbol plus exactly one of clientId/orderId, as strings
    (both together are rejected by the venue; Backpack REST docs). Raises BadValue otherwise."""
    key, value = _one_order_ref(client_id, order_id)
    return dict(sorted({key: str(value), "symbol": symbol}.items()))


# ============================================================================================== server side

TIME_IN_FORCE: Final[Mapping[str, TimeInForce]] = {
    "GTC": TimeInForce.GTT,
    "IOC": TimeInForce.IOC,
    "FOK": TimeInForce.FOK,
}
"""OpenAPI ``TimeInForce`` -> ours (Backpack's GTC is our GTT, as in :func:`order_execute_body`)."""

TRIGGER_ORDER_KEYS: Final = (
    "triggerPrice",
    "triggerQuantity",
    "triggerBy",
    "stopLossTriggerPrice",
    "stopLossLimitPrice",
    "stopLossTriggerBy",
    "takeProfitTriggerPrice",
    "takeProfitLimitPrice",
    "takeProfitTriggerBy",
)
"""``OrderExecutePayload`` keys of trigger, stop-loss and take-profit orders (Backpack REST docs)."""

_NULL_TRIGGER_FIELDS: Final = {
    "stopLossLimitPrice": None,
    "stopLossTriggerBy": None,
    "stopLossTriggerPrice": None,
    "strategyId": None,
    "takeProfitLimitPrice": None,
    "takeProfitTriggerBy": None,
    "takeProfitTriggerPrice": None,
    "triggerBy": None,
    "triggerPrice": None,
    "triggerQuantity": None,
}


@dataclass(frozen=True, slots=True)
class OrderExecute:
    """An ``orderExecute`` payload (``POST /api/v1/order``, OpenAPI ``OrderExecutePayload``; Backpack REST docs) as
    the venue reads it (:func:`parse_order_execute`); every value checked for its type, none against a
    market's rules.

    Attributes:
        symbol (str). side (Side): ``side`` Bid/Ask. market (bool): ``orderType`` ``Market`` (else ``Limit``).
        price, quantity, quote_quantity (Decimal | None): as sent (None when absent).
        tif (str): ``timeInForce`` ``GTC``/``IOC``/``FOK`` (default ``GTC``). post_only, reduce_only (bool).
        client_id (int | None): ``clientId`` (uint32). stp (str): ``selfTradePrevention`` (default
            ``RejectTaker``). trigger (bool): any of :data:`TRIGGER_ORDER_KEYS` given.
    """

    symbol: str
    side: Side
    market: bool
    price: Decimal | None
    quantity: Decimal | None
    quote_quantity: Decimal | None
    tif: str
    post_only: bool
    reduce_only: bool
    client_id: int | None
    stp: str
    trigger: bool


def parse_order_execute(params: RequestParams, markets: Container[str]) -> OrderExecute:
    """Read an ``orderExecute`` payload (server side; the inverse of :func:`order_execute_body`): ``symbol`` (one
    of ``markets``), ``side``, ``orderType``, ``price``, ``quantity``, ``quoteQuantity``, ``timeInForce``,
    ``postOnly``, ``reduceOnly``, ``clientId``, ``selfTradePrevention``, and the keys read only for their types
    (``brokerId`` uint16, ``autoLend``/``autoLendRedeem``/``autoBorrow``/``autoBorrowRepay`` booleans), in that
    order, so the first bad one is the one named (Backpack REST docs, OpenAPI ``OrderExecutePayload``).

    Raises:
        RequestParseError: a missing required key or a value of the wrong type; the venue's plain-text 400.
    """
    symbol = params.symbol(markets, required=True)
    side = _SIDES[params.enum("side", _SIDES, "Side", required=True) or ""]
    order_type = params.enum("orderType", ("Limit", "Market"), "OrderTypeEnum", required=True)
    price = params.decimal("price")
    quantity = params.decimal("quantity")
    quote_quantity = params.decimal("quoteQuantity")
    tif = params.enum("timeInForce", TIME_IN_FORCE, "TimeInForce") or "GTC"
    post_only = params.flag("postOnly")
    reduce_only = params.flag("reduceOnly")
    client_id = params.client_id()
    stp = params.enum("selfTradePrevention", SELF_TRADE_PREVENTION, "SelfTradePrevention") or "RejectTaker"
    params.integer("brokerId", limit=2**16 - 1, type_name="uint16")
    for key in ("autoLend", "autoLendRedeem", "autoBorrow", "autoBorrowRepay"):
        params.flag(key)
    assert symbol is not None  # required
    return OrderExecute(
        symbol=symbol,
        side=side,
        market=order_type == "Market",
        price=price,
        quantity=quantity,
        quote_quantity=quote_quantity,
        tif=tif,
        post_only=post_only,
        reduce_only=reduce_only,
        client_id=client_id,
        stp=stp,
        trigger=any(params.has(key) for key in TRIGGER_ORDER_KEYS),
    )


@dataclass(frozen=True, slots=True)
class BackpackOrder:
    """An accepted order as the venue holds it (server side): what its ``orderExecute`` asked for, its order id
    and its creation time. Its progress (status, executed quantities) is the caller's, given to each format.

    Attributes:
        id (str): the order id (numeric text). client_id (int | None): ``clientId``. symbol (str).
        side (Side). market (bool): a market order (no price). price (Decimal | None): the limit price.
        quantity (Decimal). tif (str): ``GTC``/``IOC``/``FOK``. post_only, reduce_only (bool).
        stp (str): ``selfTradePrevention``. created_ns (int): creation time, ns since the epoch.
    """

    id: str
    client_id: int | None
    symbol: str
    side: Side
    market: bool
    price: Decimal | None
    quantity: Decimal
    tif: str
    post_only: bool
    reduce_only: bool
    stp: str
    created_ns: int


def _client_id_text(order: BackpackOrder) -> str | None:
    return None if order.client_id is None else str(order.client_id)


def format_order(
    order: BackpackOrder, *, status: str, executed: Decimal, executed_quote: Decimal
) -> dict[str, object]:
    """The REST ``Order`` object (``POST/GET/DELETE /api/v1/order``, ``GET /api/v1/orders``, ``DELETE
    /api/v1/orders``; Backpack REST docs), keys and JSON types as the captured ``createOrder`` / ``cancelOrder``
    / ``fetchOpenOrder`` responses (``tests/fixtures/backpack/captured.json``, limit and market variants): keys
    sorted, ``clientId`` and ``createdAt`` (ms) strings, ``reduceOnly`` null unless set, trigger fields null; a
    limit order has ``price`` and ``postOnly``, a market order ``quoteQuantity`` (= ``executed_quote``).
    Read back by :func:`parse_order`.

    Args:
        order: the venue's order. status: its OpenAPI ``OrderStatus`` text (a key of :data:`ORDER_STATUS`).
        executed, executed_quote: its executed quantity and quote quantity so far.

    Raises:
        BadValue: a decimal no plain string can carry (:func:`decimal_text`).
    """
    body: dict[str, object] = {
        "clientId": _client_id_text(order),
        "createdAt": str(order.created_ns // 1_000_000),
        "executedQuantity": decimal_text(executed),
        "executedQuoteQuantity": decimal_text(executed_quote),
        "id": order.id,
        "orderType": "Market" if order.market else "Limit",
        "quantity": decimal_text(order.quantity),
        "reduceOnly": True if order.reduce_only else None,
        "relatedOrderId": None,
        "selfTradePrevention": order.stp,
        "side": _SIDE_TEXT[order.side],
        "status": status,
        "symbol": order.symbol,
        "timeInForce": order.tif,
        "triggeredAt": None,
        **_NULL_TRIGGER_FIELDS,
    }
    if order.market:
        body["quoteQuantity"] = decimal_text(executed_quote)
    else:
        if order.price is None:
            raise BadValue(f"order {order.id}: a limit order needs a price")
        body["postOnly"] = order.post_only
        body["price"] = decimal_text(order.price)
    return dict(sorted(body.items()))


def format_order_history(
    order: BackpackOrder, *, status: str, executed: Decimal, executed_quote: Decimal, expiry_reason: str | None
) -> dict[str, object]:
    """One ``GET /wapi/v1/history/orders`` item (Backpack REST docs), keys and types as the captured
    ``fetchOrders`` response (``tests/fixtures/backpack/captured.json`` ``order_history``): ISO ``createdAt``,
    ``expiryReason`` (OpenAPI ``OrderExpiryReason``, or None), ``quoteQuantity`` (price x quantity for a limit
    order, the executed quote for a market order), ``systemOrderType`` null. Read back by :func:`parse_order`.

    Raises:
        BadValue: a decimal no plain string can carry.
    """
    quote = executed_quote if order.price is None else order.price * order.quantity
    body: dict[str, object] = {
        "clientId": _client_id_text(order),
        "createdAt": iso_ms_text(order.created_ns),
        "executedQuantity": decimal_text(executed),
        "executedQuoteQuantity": decimal_text(executed_quote),
        "expiryReason": expiry_reason,
        "id": order.id,
        "orderType": "Market" if order.market else "Limit",
        "postOnly": order.post_only,
        "price": None if order.price is None else decimal_text(order.price),
        "quantity": decimal_text(order.quantity),
        "quoteQuantity": decimal_text(quote),
        "selfTradePrevention": order.stp,
        "side": _SIDE_TEXT[order.side],
        "status": status,
        "symbol": order.symbol,
        "systemOrderType": None,
        "timeInForce": order.tif,
        **_NULL_TRIGGER_FIELDS,
    }
    return dict(sorted(body.items()))


def format_order_update(
    order: BackpackOrder,
    *,
    event_type: str,
    status: str,
    executed: Decimal,
    executed_quote: Decimal,
    event_ns: int,
    engine_ns: int,
    fill: Fill | None = None,
    trade_id: int | None = None,
    fee_symbol: str = "",
    expiry_reason: str | None = None,
) -> dict[str, object]:
    """An ``account.orderUpdate`` payload (Backpack WS docs; OpenAPI Streams "Order update"), keys as the
    captured frames (``tests/fixtures/backpack/ws_order_update_examples.json``, ``captured.json``): ``O``, ``V``,
    ``r`` always, ``t`` null unless a fill; ``c`` (a number) only with a clientId, ``p``/``Q`` (price x
    quantity) only for a limit order, ``y`` only when post-only, ``R`` only with ``expiry_reason``,
    ``t``/``l``/``L``/``m``/``n``/``N`` only with ``fill``. ``E``/``T`` are µs strings. Read back by
    :func:`parse_order_events`.

    Args:
        order: the venue's order. event_type: one of :data:`ORDER_EVENT_TYPES`. status: OpenAPI
            ``OrderStatus`` text. executed, executed_quote: cumulative ``z``/``Z``.
        event_ns, engine_ns: ``E`` (when sent) and ``T`` (when it happened), ns.
        fill: the execution of an ``orderFill``, with its ``trade_id`` and the ``fee_symbol`` its fee is in.
        expiry_reason: ``R`` (OpenAPI ``OrderExpiryReason``) of an ``orderExpired``.

    Raises:
        BadValue: a fill without its trade id or fee symbol; a decimal no plain string can carry.
    """
    data: dict[str, object] = {
        "e": event_type,
        "E": us_text(event_ns),
        "s": order.symbol,
        "S": _SIDE_TEXT[order.side],
        "o": "MARKET" if order.market else "LIMIT",
        "f": order.tif,
        "q": decimal_text(order.quantity),
        "X": status,
        "i": order.id,
        "t": None,
        "z": decimal_text(executed),
        "Z": decimal_text(executed_quote),
        "V": order.stp,
        "T": us_text(engine_ns),
        "O": "USER",
        "r": order.reduce_only,
    }
    if order.client_id is not None:
        data["c"] = order.client_id
    if order.price is not None:
        data["p"] = decimal_text(order.price)
        data["Q"] = decimal_text(order.price * order.quantity)
    if order.post_only:
        data["y"] = True
    if fill is not None:
        if trade_id is None or not fee_symbol:
            raise BadValue(f"order {order.id}: a fill needs its trade id and fee symbol")
        data["t"] = trade_id
        data["l"] = decimal_text(fill.size)
        data["L"] = decimal_text(fill.price)
        data["m"] = fill.is_maker
        data["n"] = decimal_text(fill.fee)
        data["N"] = fee_symbol
    if expiry_reason is not None:
        data["R"] = expiry_reason
    return data


# ============================================================================================== client ids


class ClientIdAllocator:
    """Allocates Backpack ``clientId`` values: uint32, never 0, unique among the orders it holds live.

    Scheme: a counter that starts at ``now_ms mod 2**32`` and steps by one (wrapping past 2**32-1 to 1),
    skipping every id still live. Uniqueness within a process comes from the live set (ids leave it only via
    :meth:`release`, when the order is terminal). Across restarts, the clock start makes a new process begin
    above every id an earlier process issued, as long as that process averaged fewer than one id per
    millisecond of its run and ran less than 2**32 ms (~49.7 days) ago; ids that reconciliation finds live on
    the venue should be :meth:`reserve`-d before trading.

    Args:
        start: first id to try (tests); default from ``now_ms``.
        now_ms: unix ms for the default start; default the wall clock.
    """

    __slots__ = ("_next", "_live")

    def __init__(self, *, start: int | None = None, now_ms: int | None = None) -> None:
        if start is None:
            start = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) % (UINT32_MAX + 1)
        if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= UINT32_MAX:
            raise BadValue(f"start {start!r} is not a uint32")
        self._next = start or 1
        self._live: set[int] = set()

    @property
    def live_count(self) -> int:
        """How many ids are live (allocated or reserved, not released)."""
        return len(self._live)

    def allocate(self) -> int:
        """A fresh uint32 clientId (1..2**32-1), now live.

        Raises:
            BadValue: every id is live (2**32-1 live orders: a leak, never a real state).
        """
        if len(self._live) >= UINT32_MAX:
            raise BadValue("every Backpack clientId is live; release terminal orders")
        candidate = self._next
        while candidate in self._live:
            candidate = candidate + 1 if candidate < UINT32_MAX else 1
        self._live.add(candidate)
        self._next = candidate + 1 if candidate < UINT32_MAX else 1
        return candidate

    def new_client_order_id(self) -> str:
        """:meth:`allocate` as the decimal string used in ``OrderRequest.client_order_id``."""
        return str(self.allocate())

    def reserve(self, client_id: int | str) -> None:
        """Mark an id live that this allocator did not issue (found live on the venue). Raises BadValue."""
        self._live.add(self._coerce(client_id))

    def release(self, client_id: int | str) -> None:
        """Forget a live id (its order is terminal); unknown ids are ignored. Raises BadValue if not a uint32."""
        self._live.discard(self._coerce(client_id))

    def is_live(self, client_id: int | str) -> bool:
        """True if ``client_id`` is currently live. Raises BadValue if not a uint32."""
        return self._coerce(client_id) in self._live

    @staticmethod
    def _coerce(client_id: int | str) -> int:
        if isinstance(client_id, str):
            return client_id_from_str(client_id)
        if isinstance(client_id, bool) or not isinstance(client_id, int) or not 0 <= client_id <= UINT32_MAX:
            raise BadValue(f"clientId {client_id!r} is not a uint32")
        return client_id

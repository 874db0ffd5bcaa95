"""Backpack formats of the wire simulator: constants of the simulated venue, number and time texts, frames, the
order record and the REST ``Order`` objects (sources: ``sim/_backpack_server.py``'s module docstring)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import orjson

from ...domain import ZERO, Fill, Order, OrderStatus, Side, TimeInForce
from ...protocols.backpack import decimal_text
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

_MAX_EXPONENT: Final = 30
_FILL_LIMIT_DEFAULT: Final = 100
_HISTORY_LIMIT_MAX: Final = 1_000
_DEPTH_LIMITS: Final = frozenset({"5", "10", "20", "50", "100", "500", "1000"})
_DEPTH_LIMIT_DEFAULT: Final = 1_000  # levels per side (OpenAPI changelog 2025-11-10, Backpack REST docs)

_WS_ERR_INVALID_REQUEST: Final = 4000  # [I]
_WS_ERR_UNAUTHORIZED: Final = 4001  # [I]
_WS_ERR_INVALID_STREAM: Final = 4006  # captured: {"id":null,"error":{"code":4006,"message":"Invalid stream"}}


_JSON_TYPE: Final = "application/json; charset=utf-8"
_TEXT_TYPE: Final = "text/plain; charset=utf-8"

# Published market parameters that the simulated venue does not model otherwise (values as in the captured
# SOL_USDC_PERP market, ccxt 4.5.90 backpack.py parse_market comment).
_MAX_PRICE_MULTIPLIER: Final = Decimal("1.25")
_MIN_PRICE_MULTIPLIER: Final = Decimal("0.75")
_IMF: Final = "0.02"
_MMF: Final = "0.0125"
_IMF_FUNCTION: Final = {"base": "0.02", "factor": "0.0001275", "type": "sqrt"}
_MMF_FUNCTION: Final = {"base": "0.0125", "factor": "0.0000765", "type": "sqrt"}
_MARKET_CREATED_AT: Final = "2024-01-01T00:00:00"
_SIM_USER_ID: Final = "1000001"

_SIDE_TEXT: Final[Mapping[Side, str]] = {Side.BUY: "Bid", Side.SELL: "Ask"}
_SIDES: Final[Mapping[str, Side]] = {"Bid": Side.BUY, "Ask": Side.SELL}
_TIF: Final[Mapping[str, TimeInForce]] = {"GTC": TimeInForce.GTT, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
_STP: Final = ("RejectTaker", "RejectMaker", "RejectBoth")
_FILL_TYPES: Final = (
    "User",
    "BookLiquidation",
    "Adl",
    "Backstop",
    "Liquidation",
    "AllLiquidation",
    "CollateralConversion",
    "CollateralConversionAndSpotLiquidation",
)
_MARKET_TYPES: Final = ("SPOT", "PERP", "IPERP", "DATED", "PREDICTION", "RFQ")
_UNSUPPORTED_ORDER_KEYS: Final = (
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

# Engine reason -> OpenAPI OrderExpiryReason, for orders that existed and ended without filling completely.
_EXPIRY_REASONS: Final[Mapping[str, str]] = {
    REASON_IOC_REMAINDER: "ImmediateOrCancel",
    REASON_FOK_NOT_FILLABLE: "FillOrKill",
    REASON_REDUCE_ONLY_CAPPED: "ReduceOnlyNotReduced",
}

_ORDER_UPDATE: Final = "account.orderUpdate"
_POSITION_UPDATE: Final = "account.positionUpdate"


# ---------------------------------------------------------------------------------------------- formatting


def _dt(value: Decimal) -> str:
    """A decimal as Backpack sends it: a plain string without exponent (``decimal_text``)."""
    return decimal_text(value)


def _places(step: Decimal) -> int:
    """Decimal places of a tick or lot (``0.10`` -> 1, ``5`` -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _fixed(value: Decimal, places: int) -> str:
    """``value`` with at least ``places`` decimals, as book levels are sent (``"18.70"``, ``"0.000"``); more
    decimals are kept when the value has them (it is never rounded)."""
    v = value.normalize()
    exponent = v.as_tuple().exponent
    own = max(0, -exponent) if isinstance(exponent, int) else 0
    return format(v, f".{max(own, places)}f")


def _iso_ms(ts_ns: int) -> str:
    """Naive UTC ISO time with milliseconds, as in fill and order history (``"2025-08-13T17:26:01.197"``)."""
    moment = datetime.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=datetime.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{(ts_ns // 1_000_000) % 1000:03d}"


def _json_bytes(value: object) -> bytes:
    return orjson.dumps(value)


def _frame(stream: str, data_json: str) -> str:
    """``{"stream": ..., "data": ...}`` with ``data`` already encoded (encoded once, sent to many)."""
    return '{"stream":' + orjson.dumps(stream).decode("utf-8") + ',"data":' + data_json + "}"


def _error_frame(msg_id: object, code: int, message: str) -> str:
    return orjson.dumps({"id": msg_id, "error": {"code": code, "message": message}}).decode("utf-8")


# ---------------------------------------------------------------------------------------------- orders


@dataclass(slots=True, eq=False)
class _OrderRecord:
    """The venue-side facts of one accepted order that the engine does not hold (ids, wire options), and what
    the private stream has reported of it so far. The engine's :class:`Order` (client id = :attr:`id`) holds
    its status and fills."""

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
    accepted_sent: bool = False
    pending_fill: Fill | None = None
    ws_executed: Decimal = ZERO
    ws_executed_quote: Decimal = ZERO


def _is_live(order: Order) -> bool:
    return order.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING)


def _expiry_reason(rec: _OrderRecord, reason: str) -> str:
    if reason == REASON_IOC_REMAINDER and rec.market:
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
    """The REST ``Order`` object (``POST/GET/DELETE /api/v1/order``, ``/api/v1/orders``), keys and JSON types as
    the captured ``createOrder``/``cancelOrder``/``fetchOpenOrder`` responses (limit and market variants)."""
    body: dict[str, object] = {
        "clientId": None if rec.client_id is None else str(rec.client_id),
        "createdAt": str(rec.created_ns // 1_000_000),
        "executedQuantity": _dt(order.filled_size),
        "executedQuoteQuantity": _dt(order.filled_notional),
        "id": rec.id,
        "orderType": "Market" if rec.market else "Limit",
        "quantity": _dt(rec.quantity),
        "reduceOnly": True if rec.reduce_only else None,
        "relatedOrderId": None,
        "selfTradePrevention": rec.stp,
        "side": _SIDE_TEXT[rec.side],
        "status": _status_text(order),
        "symbol": rec.symbol,
        "timeInForce": rec.tif,
        "triggeredAt": None,
        **_NULL_TRIGGER_FIELDS,
    }
    if rec.market:
        body["quoteQuantity"] = _dt(order.filled_notional)
    else:
        assert rec.price is not None
        body["postOnly"] = rec.post_only
        body["price"] = _dt(rec.price)
    return dict(sorted(body.items()))


def _history_json(rec: _OrderRecord, order: Order) -> dict[str, object]:
    """One ``GET /wapi/v1/history/orders`` item: ISO ``createdAt``, ``expiryReason``, ``quoteQuantity``,
    ``systemOrderType`` (captured ``fetchOrders`` response)."""
    status = _status_text(order)
    body: dict[str, object] = {
        "clientId": None if rec.client_id is None else str(rec.client_id),
        "createdAt": _iso_ms(rec.created_ns),
        "executedQuantity": _dt(order.filled_size),
        "executedQuoteQuantity": _dt(order.filled_notional),
        "expiryReason": _expiry_reason(rec, order.reason) if status == "Expired" else None,
        "id": rec.id,
        "orderType": "Market" if rec.market else "Limit",
        "postOnly": rec.post_only,
        "price": None if rec.price is None else _dt(rec.price),
        "quantity": _dt(rec.quantity),
        "quoteQuantity": _dt(order.filled_notional if rec.price is None else rec.price * rec.quantity),
        "selfTradePrevention": rec.stp,
        "side": _SIDE_TEXT[rec.side],
        "status": status,
        "symbol": rec.symbol,
        "systemOrderType": None,
        "timeInForce": rec.tif,
        **{k: v for k, v in _NULL_TRIGGER_FIELDS.items()},
    }
    return dict(sorted(body.items()))

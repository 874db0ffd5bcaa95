"""GRVT codec basics shared by every message family: constants, :class:`GrvtProtocolError`, the wire enums,
the full -> lite field-name tables, JSON decode/encode, and the field reader every parser uses.

The lite names are the ``lite_name`` of each field in ``src/codegen/apispec.json`` of
https://github.com/gravity-technologies/api-spec (the GRVT API docs show both encodings for every call:
https://api-docs.grvt.io/).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

import orjson

from ...domain import (
    ZERO,
    BadValue,
    TimeInForce,
    VenueError,
    parse_price,
    parse_size,
    to_decimal,
)

VENUE: Final = "grvt"
"""Default venue name put into domain objects and errors (callers pass their configured name)."""

MAX_DECIMAL_CHARS: Final = 64
"""Longest decimal string accepted for a price, size or fee (GRVT sends at most ~20 characters)."""

MAX_DECIMAL_EXPONENT: Final = 30
"""Largest ``abs(adjusted exponent)`` accepted for a non-zero decimal: bounds later Decimal arithmetic."""

MAX_ID_CHARS: Final = 128
"""Longest id / symbol / enum string accepted."""

UINT64_MAX: Final = 2**64 - 1
INT64_MAX: Final = 2**63 - 1

CLIENT_ORDER_ID_MIN: Final = 2**63
"""Smallest client order id reserved for API clients (GRVT docs: create_order; the UI uses [0, 2^63-1])."""
CLIENT_ORDER_ID_MAX: Final = UINT64_MAX

NO_ORDER_ID: Final = "0x00"
"""The ``order_id`` GRVT echoes in a create_order ack before the real id is assigned (GRVT docs: create_order)."""

COOKIE_NAME: Final = "gravity"
"""Session cookie name set by ``POST /auth/api_key/login`` (GRVT docs: login)."""

COOKIE_EXPIRES_FORMAT: Final = "%a, %d %b %Y %H:%M:%S GMT"
"""The ``Expires`` format grvt-pysdk accepts (``strptime(..., "%a, %d %b %Y %H:%M:%S %Z")``)."""

# Stream names (GRVT WS docs: selectors).
STREAM_BOOK_SNAPSHOT: Final = "v1.book.s"
STREAM_BOOK_DELTA: Final = "v1.book.d"
STREAM_ORDER: Final = "v1.order"
STREAM_ORDER_STATE: Final = "v1.state"
STREAM_FILL: Final = "v1.fill"
STREAM_POSITION: Final = "v1.position"
STREAM_CANCEL: Final = "v1.cancel"

BOOK_SNAPSHOT_RATES_MS: Final = frozenset({500, 1000})
BOOK_SNAPSHOT_DEPTHS: Final = frozenset({10, 50, 100, 500})
BOOK_DELTA_RATES_MS: Final = frozenset({50, 100, 500, 1000})

POST_ONLY_REJECT_REASON: Final = "FAIL_POST_ONLY"
"""``reject_reason`` of a post-only order that would have crossed (GRVT WS docs: trading streams)."""


# ---------------------------------------------------------------------------------------------- errors
class GrvtProtocolError(VenueError):
    """A GRVT message that does not match the wire format: bad JSON, a missing field, a wrong type, a
    non-finite or out-of-range number, an unknown enum value. ``code`` is ``""``.

    Raised by every parser in this module instead of KeyError/TypeError/ValueError.
    """

    def __init__(self, message: str, *, venue: str = VENUE) -> None:
        super().__init__(venue, message)


# ---------------------------------------------------------------------------------------------- enums
class GrvtOrderStatus(enum.StrEnum):
    """GRVT ``OrderStatus`` (apispec.json enums)."""

    PENDING = "PENDING"
    OPEN = "OPEN"
    FILLED = "FILLED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class GrvtTimeInForce(enum.StrEnum):
    """GRVT ``TimeInForce`` (apispec.json enums). The order book accepts GTT/IOC/FOK only (error 2030)."""

    GOOD_TILL_TIME = "GOOD_TILL_TIME"
    ALL_OR_NONE = "ALL_OR_NONE"
    IMMEDIATE_OR_CANCEL = "IMMEDIATE_OR_CANCEL"
    FILL_OR_KILL = "FILL_OR_KILL"
    RETAIL_PRICE_IMPROVEMENT = "RETAIL_PRICE_IMPROVEMENT"


_KINDS: Final = frozenset({"PERPETUAL", "FUTURE", "CALL", "PUT", "SPOT_SWAP"})

_REJECT_REASONS: Final = frozenset(
    {
        "UNSPECIFIED", "CLIENT_CANCEL", "CLIENT_BULK_CANCEL", "CLIENT_SESSION_END", "MARKET_CANCEL",
        "IOC_CANCEL", "AON_CANCEL", "FOK_CANCEL", "EXPIRED", "FAIL_POST_ONLY", "FAIL_REDUCE_ONLY",
        "MM_PROTECTION", "SELF_TRADE_PROTECTION", "SELF_MATCHED_SUBACCOUNT", "OVERLAPPING_CLIENT_ORDER_ID",
        "BELOW_MARGIN", "LIQUIDATION", "INSTRUMENT_INVALID", "INSTRUMENT_DEACTIVATED", "SYSTEM_FAILOVER",
        "UNAUTHORISED", "SESSION_KEY_EXPIRED", "SUB_ACCOUNT_NOT_FOUND", "NO_TRADE_PERMISSION",
        "UNSUPPORTED_TIME_IN_FORCE", "MULTI_LEGGED_ORDER", "EXCEED_MAX_POSITION_SIZE",
        "EXCEED_MAX_SIGNATURE_EXPIRATION", "MARKET_ORDER_WITH_LIMIT_PRICE",
        "CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED", "OCO_COUNTER_PART_TRIGGERED", "REDUCE_ONLY_LIMIT",
        "CLIENT_REPLACE", "DERISK_MUST_BE_IOC", "DERISK_MUST_BE_REDUCE_ONLY", "DERISK_NOT_SUPPORTED",
        "INVALID_ORDER_TYPE", "CURRENCY_NOT_DEFINED", "INVALID_CHAIN_ID", "BUILDER_ORDER_FEE_EXCEED",
        "BUILDER_ORDER_FEE_NEGATIVE", "BUILDER_ORDER_BUILDER_NOT_AUTHORIZED", "BUILDER_ORDER_BUILDER_NOT_EXIST",
        "TRADE_PRICE_WORSE_THAN_BANKRUPTCY_PRICE", "TOO_MANY_MAKER_ORDERS",
        "REDUCE_ONLY_NOT_SUPPORTED_FOR_SPOT_ORDER", "TPSL_NOT_SUPPORTED_FOR_SPOT_ORDER",
        "SPOT_ORDER_NOT_SUPPORTED", "INSUFFICIENT_BALANCE", "SPOT_TRADING_BLOCKED_DURING_SOCIALIZED_LOSS",
        "BELOW_MARGIN_WITH_PENALTY_DEVIATION",
    }
)  # fmt: skip
"""Every ``OrderRejectReason`` value in apispec.json (51 values)."""

_TIF_TO_DOMAIN: Final = {
    GrvtTimeInForce.GOOD_TILL_TIME: TimeInForce.GTT,
    GrvtTimeInForce.IMMEDIATE_OR_CANCEL: TimeInForce.IOC,
    GrvtTimeInForce.FILL_OR_KILL: TimeInForce.FOK,
}
_TIF_FROM_DOMAIN: Final = {v: k for k, v in _TIF_TO_DOMAIN.items()}


# ---------------------------------------------------------------------------------------------- lite names
# full name -> lite name, per struct (apispec.json ``structs[].fields[].lite_name``).
_F_INSTRUMENT: Final = {
    "instrument": "i", "instrument_hash": "ih", "base": "b", "quote": "q", "kind": "k", "venues": "v",
    "settlement_period": "sp1", "base_decimals": "bd", "quote_decimals": "qd", "tick_size": "ts",
    "min_size": "ms", "create_time": "ct", "max_position_size": "mp", "funding_interval_hours": "fi",
    "adjusted_funding_rate_cap": "af", "adjusted_funding_rate_floor": "af1", "min_notional": "mn",
}  # fmt: skip
_F_BOOK: Final = {"event_time": "et", "instrument": "i", "bids": "b", "asks": "a"}
_F_LEVEL: Final = {"price": "p", "size": "s", "num_orders": "no"}
_F_ORDER: Final = {
    "order_id": "oi", "sub_account_id": "sa", "is_market": "im", "time_in_force": "ti", "post_only": "po",
    "reduce_only": "ro", "legs": "l", "signature": "s", "metadata": "m", "state": "s1", "builder": "b",
    "builder_fee": "bf",
}  # fmt: skip
_F_LEG: Final = {"instrument": "i", "size": "s", "limit_price": "lp", "is_buying_asset": "ib"}
_F_METADATA: Final = {"client_order_id": "co", "create_time": "ct", "trigger": "t", "broker": "b"}
_F_STATE: Final = {
    "status": "s", "reject_reason": "rr", "book_size": "bs", "traded_size": "ts", "update_time": "ut",
    "avg_fill_price": "af",
}  # fmt: skip
_F_STATE_FEED: Final = {"order_id": "oi", "client_order_id": "co", "order_state": "os"}
_F_FILL: Final = {
    "event_time": "et", "sub_account_id": "sa", "instrument": "i", "is_buyer": "ib", "is_taker": "it",
    "size": "s", "price": "p", "mark_price": "mp", "index_price": "ip", "interest_rate": "ir",
    "forward_price": "fp", "realized_pnl": "rp", "fee": "f", "fee_rate": "fr", "trade_id": "ti",
    "order_id": "oi", "venue": "v", "is_liquidation": "il", "client_order_id": "co", "signer": "s1",
    "broker": "b", "is_rpi": "ir1", "builder": "b1", "builder_fee_rate": "bf", "builder_fee": "bf1",
    "fee_currency": "fc",
}  # fmt: skip
_F_POSITION: Final = {
    "event_time": "et", "sub_account_id": "sa", "instrument": "i", "size": "s", "notional": "n",
    "entry_price": "ep", "exit_price": "ep1", "mark_price": "mp", "unrealized_pnl": "up", "realized_pnl": "rp",
    "total_pnl": "tp", "roi": "r", "quote_index_price": "qi", "est_liquidation_price": "el", "leverage": "l",
    "cumulative_fee": "cf", "cumulative_realized_funding_payment": "cr", "margin_type": "mt",
    "isolated_balance": "ib", "isolated_im": "ii", "isolated_mm": "im",
}  # fmt: skip
_F_FEED: Final = {
    "stream": "s", "selector": "s1", "sequence_number": "sn", "feed": "f", "prev_sequence_number": "ps",
}  # fmt: skip
_F_RPC_REQUEST: Final = {"jsonrpc": "j", "method": "m", "params": "p", "id": "i"}
_F_RPC_RESPONSE: Final = {"jsonrpc": "j", "result": "r", "error": "e", "id": "i", "method": "m"}
_F_RPC_ERROR: Final = {"code": "c", "message": "m"}
_F_SUBSCRIBE_PARAMS: Final = {"stream": "s", "selectors": "s1", "use_global_sequence_number": "ug"}
_F_SUBSCRIBE_RESULT: Final = {
    "stream": "s", "subs": "s1", "unsubs": "u", "num_snapshots": "ns", "first_sequence_number": "fs",
    "latest_sequence_number": "ls",
}  # fmt: skip
_F_REST_ENVELOPE: Final = {"result": "r", "next": "n"}
_F_REST_ERROR: Final = {"code": "c", "message": "m", "status": "s", "request_id": "ri"}
_F_ACK: Final = {"ack": "a"}

LITE_NAMES: Final[Mapping[str, Mapping[str, str]]] = {
    "InstrumentDisplay": _F_INSTRUMENT,
    "OrderbookLevels": _F_BOOK,
    "OrderbookLevel": _F_LEVEL,
    "Order": _F_ORDER,
    "OrderLeg": _F_LEG,
    "OrderMetadata": _F_METADATA,
    "OrderState": _F_STATE,
    "OrderStateFeed": _F_STATE_FEED,
    "Fill": _F_FILL,
    "Positions": _F_POSITION,
    "WSFeedData": _F_FEED,
    "JSONRPCRequest": _F_RPC_REQUEST,
    "JSONRPCResponse": _F_RPC_RESPONSE,
    "Error": _F_RPC_ERROR,
    "WSSubscribeParams": _F_SUBSCRIBE_PARAMS,
    "WSSubscribeResult": _F_SUBSCRIBE_RESULT,
    "RestEnvelope": _F_REST_ENVELOPE,
    "RestError": _F_REST_ERROR,
    "Ack": _F_ACK,
}
"""The full -> lite field-name tables this codec reads (from apispec.json)."""


# ---------------------------------------------------------------------------------------------- JSON
def decode_json(data: bytes | bytearray | memoryview | str, *, venue: str = VENUE) -> Any:
    """Decode one JSON document with orjson.

    Args:
        data: the raw body or WebSocket text frame.
        venue: venue name for the error.

    Returns:
        The decoded value (dict, list, str, int, float, bool or None).

    Raises:
        GrvtProtocolError: not valid UTF-8 JSON (orjson also refuses ``NaN``/``Infinity`` literals,
            numbers that overflow a double, and nesting deeper than 1024).
    """
    try:
        return orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise GrvtProtocolError(f"malformed JSON: {str(exc)[:120]}", venue=venue) from None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return format_decimal(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def encode_json(obj: Any) -> bytes:
    """Encode ``obj`` as compact JSON bytes; Decimals become plain decimal strings (:func:`format_decimal`).

    Raises:
        BadValue: an unencodable value (a non-finite Decimal, an object orjson does not know).
    """
    try:
        return orjson.dumps(obj, default=_json_default)
    except (orjson.JSONEncodeError, TypeError) as exc:
        raise BadValue(f"cannot encode GRVT JSON: {str(exc)[:120]}") from None


def format_decimal(value: Decimal) -> str:
    """A Decimal as GRVT writes it: plain notation, at least one fractional digit (``"90000.0"``,
    ``"0.001"``, ``"0.0"``), never an exponent, no trailing zeros (the captured bodies in
    ``tests/fixtures/grvt/rest_responses.json``). Exact: no rounding.

    Raises:
        BadValue: ``value`` is NaN or infinite.
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        raise BadValue(f"cannot format {value!r} as a GRVT decimal")
    if value == ZERO:
        return "0.0"
    text = format(value, "f")
    if "." not in text:
        return text + ".0"
    text = text.rstrip("0")
    return text + "0" if text.endswith(".") else text


# ---------------------------------------------------------------------------------------------- field readers
_MISSING: Final = object()


class _Reader:
    """Typed access to one wire object; every failure is a :class:`GrvtProtocolError` naming the field."""

    __slots__ = ("_obj", "_names", "_lite", "path", "venue")

    def __init__(self, obj: Any, names: Mapping[str, str], path: str, venue: str) -> None:
        if not isinstance(obj, dict):
            raise GrvtProtocolError(f"{path}: expected an object, got {type(obj).__name__}", venue=venue)
        self._obj: dict[str, Any] = obj
        self._names = names
        self._lite = bool(obj) and not any(k in obj for k in names)
        self.path = path
        self.venue = venue

    def err(self, name: str, problem: str) -> GrvtProtocolError:
        return GrvtProtocolError(f"{self.path}.{name}: {problem}", venue=self.venue)

    def get(self, name: str) -> Any:
        """The raw value of full-name field ``name`` (read under its lite name in a lite object), or
        ``_MISSING``. JSON ``null`` counts as missing."""
        key = self._names.get(name, name) if self._lite else name
        value = self._obj.get(key, _MISSING)
        return _MISSING if value is None else value

    def need(self, name: str) -> Any:
        value = self.get(name)
        if value is _MISSING:
            raise self.err(name, "missing")
        return value

    def child(self, name: str, names: Mapping[str, str]) -> _Reader:
        return _Reader(self.need(name), names, f"{self.path}.{name}", self.venue)

    def string(self, name: str, *, required: bool = True, default: str = "") -> str:
        value = self.need(name) if required else self.get(name)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
            raise self.err(name, f"expected a non-empty string (<= {MAX_ID_CHARS} chars), got {_show(value)}")
        return value

    def enum(self, name: str, allowed: Iterable[str], *, required: bool = True, default: str = "") -> str:
        value = self.string(name, required=required, default=default)
        if value not in allowed:
            raise self.err(name, f"unknown value {_show(value)}")
        return value

    def boolean(self, name: str, *, required: bool = True, default: bool = False) -> bool:
        value = self.need(name) if required else self.get(name)
        if value is _MISSING:
            return default
        return _bool(value, self, name)

    def decimal(self, name: str) -> Decimal:
        return _decimal(self.need(name), self, name)

    def opt_decimal(self, name: str) -> Decimal | None:
        value = self.get(name)
        return None if value is _MISSING else _decimal(value, self, name)

    def price(self, name: str) -> Decimal:
        """A required price: finite and > 0."""
        return _checked(self.decimal(name), self, name, price=True)

    def size(self, name: str, *, positive: bool = False) -> Decimal:
        """A required size: finite and >= 0 (> 0 with ``positive``)."""
        d = _checked(self.decimal(name), self, name, price=False)
        if positive and d == ZERO:
            raise self.err(name, "must be > 0")
        return d

    def uint(self, name: str, *, maximum: int = UINT64_MAX) -> int:
        return _uint(self.need(name), maximum, self, name)

    def opt_uint(self, name: str, *, maximum: int = UINT64_MAX) -> int | None:
        value = self.get(name)
        return None if value is _MISSING else _uint(value, maximum, self, name)

    def array(self, name: str, *, required: bool = True) -> list[Any]:
        value = self.need(name) if required else self.get(name)
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            raise self.err(name, f"expected an array, got {type(value).__name__}")
        return value


def _show(value: Any) -> str:
    """A short, safe rendering of an offending value for an error message."""
    if isinstance(value, str):
        return repr(value[:40])
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)[:40]
    return type(value).__name__


def _bool(value: Any, r: _Reader, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value == "true":  # type drift: doc examples send "true" (GRVT REST docs conventions)
        return True
    if value == "false":
        return False
    raise r.err(name, f"expected a boolean, got {_show(value)}")


def _decimal(value: Any, r: _Reader, name: str) -> Decimal:
    if isinstance(value, str):
        if len(value) > MAX_DECIMAL_CHARS:
            raise r.err(name, f"decimal string longer than {MAX_DECIMAL_CHARS} characters")
        if not value.isascii() or "_" in value:  # Decimal() would take "1_000" and non-ASCII digits
            raise r.err(name, f"{_show(value)} is not a decimal number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**MAX_DECIMAL_EXPONENT:
        raise r.err(name, "number out of range")
    try:
        d = to_decimal(value, what=name)
    except BadValue as exc:
        raise r.err(name, str(exc).removeprefix(f"{name}: ")) from None
    if d != ZERO and abs(d.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise r.err(name, f"{_show(value)} is out of range")
    return d


def _uint(value: Any, maximum: int, r: _Reader, name: str) -> int:
    if isinstance(value, bool):
        raise r.err(name, "expected an unsigned integer, got bool")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 20:
            raise r.err(name, f"expected an unsigned integer string, got {_show(value)}")
        n = int(value)
    elif isinstance(value, int):
        n = value
    else:
        raise r.err(name, f"expected an unsigned integer, got {_show(value)}")
    if not 0 <= n <= maximum:
        raise r.err(name, f"{n} out of range [0, {maximum}]")
    return n


def _checked(d: Decimal, r: _Reader, name: str, *, price: bool) -> Decimal:
    try:
        return parse_price(d, what=name) if price else parse_size(d, what=name)
    except BadValue as exc:
        raise r.err(name, str(exc).removeprefix(f"{name}: ")) from None

"""GRVT wire codec: pure, synchronous translation between GRVT JSON and trio_hedge domain types.

Used by the Trio adapter (client side: decode responses and feeds, build requests) and by the GRVT
wire-protocol simulator (server side: decode requests, build responses and feeds). Nothing here does I/O.

Sources (the citations in each docstring refer to these):
    * ``/work/shared/docs/wire-formats.md`` part A: A1 (auth cookie), A2 (REST shapes, number conventions,
      A2.9 full vs lite names), A4 (WebSocket JSON-RPC, feed sequencing, private feeds), A5 (errors).
    * ``/work/shared/fixtures/grvt/apispec.json`` (gravity-technologies/api-spec @ eed18e5: every struct,
      lite name, enum and per-route error code) and ``field_table_full_vs_lite.md`` derived from it.
    * Real captured bodies and frames: ``grvt.response.EXCERPT.json`` (ccxt static fixtures) and the
      ``ccxt-4.5.90_*grvt.py.comment_examples.txt`` files; copies used by the tests live in
      ``tests/fixtures/grvt/``.

Conventions (wire-formats A2 "Number/format conventions"):
    * prices, sizes, fees and pnl are decimal strings in natural units; they are parsed with the domain's
      strict Decimal parsers (never through float) and JSON floats are refused for them;
    * timestamps are unix nanoseconds (decimal strings; ints tolerated); sequence numbers are uint64
      (strings in feeds, ints in some subscribe results: both tolerated); ``client_order_id`` is a uint64
      decimal string; ``order_id`` is an opaque string (``"0x…"``), ``"0x00"`` meaning "not assigned yet";
    * every object may arrive with full names (``/full/v1``, ``/ws/full``) or lite names (``/lite/v1``,
      ``/ws/lite``, A2.9). Each parser detects the encoding per object: an object holding any full field
      name of its struct is read with full names, otherwise with lite names. Encoders emit full names only
      (neither grvt-pysdk nor ccxt uses lite).

Errors: every parser raises :class:`GrvtProtocolError` for malformed input (bad JSON, missing fields,
wrong types, NaN/Infinity, out-of-range numbers, unknown enum values), never KeyError/TypeError; error
bodies from the venue become the typed :class:`~trio_hedge.venues.VenueError` tree (see
:func:`error_from_code`). Exception texts never contain cookies or other credentials.
"""

from __future__ import annotations

import calendar
import datetime
import enum
import itertools
import re
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.utils import formatdate
from http.cookies import CookieError, SimpleCookie
from typing import Any, Final

import orjson

from ...domain import (
    ZERO,
    BadValue,
    BookInvalid,
    Fill,
    Instrument,
    Level,
    OrderBook,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PositionUpdate,
    RawLevels,
    Side,
    TimeInForce,
    VenueEvent,
    is_multiple,
    parse_price,
    parse_size,
    to_decimal,
)
from .._base import OrderReport
from .._errors import (
    AuthError,
    DuplicateClientOrderId,
    InsufficientMargin,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    UnknownOutcome,
    VenueError,
    VenueUnavailable,
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
"""Smallest client order id reserved for API clients (wire-formats A3.3: UI uses [0, 2^63-1])."""
CLIENT_ORDER_ID_MAX: Final = UINT64_MAX

NO_ORDER_ID: Final = "0x00"
"""The ``order_id`` GRVT echoes in a create_order ack before the real id is assigned (wire-formats A2.4)."""

COOKIE_NAME: Final = "gravity"
"""Session cookie name set by ``POST /auth/api_key/login`` (wire-formats A1)."""

COOKIE_EXPIRES_FORMAT: Final = "%a, %d %b %Y %H:%M:%S GMT"
"""The ``Expires`` format grvt-pysdk accepts (``strptime(..., "%a, %d %b %Y %H:%M:%S %Z")``)."""

# Stream names (wire-formats A4.3).
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
"""``reject_reason`` of a post-only order that would have crossed (wire-formats A4.5)."""


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
# full name -> lite name, per struct (apispec.json ``structs[].fields[].lite_name``; A2.9).
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
"""The full -> lite field-name tables this codec reads (from apispec.json; A2.9)."""


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
    ``"0.001"``, ``"0.0"``), never an exponent, no trailing zeros (wire-formats A2 real bodies). Exact:
    no rounding.

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
    if value == "true":  # type drift: doc examples send "true" (A2 conventions)
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


# ---------------------------------------------------------------------------------------------- instruments
@dataclass(frozen=True, slots=True)
class GrvtInstrumentMeta:
    """What the GRVT order signer needs about an instrument beyond the domain :class:`Instrument`.

    Attributes:
        symbol (str): GRVT instrument name (``"BTC_USDT_Perp"``).
        instrument_hash (str): the EIP-712 ``assetID`` as the venue sends it (``"0x030501"``).
        base_decimals (int): size multiplier exponent: a size of ``s`` is signed as ``s * 10**base_decimals``.
        quote_decimals (int): quote asset decimals.
        kind (str): ``PERPETUAL``, ``FUTURE``, ``CALL``, ``PUT`` or ``SPOT_SWAP``.

    Source: wire-formats A2.1 and A3 (pysdk ``get_signable_message`` refuses to sign without
    ``instrument_hash`` and ``base_decimals``).
    """

    symbol: str
    instrument_hash: str
    base_decimals: int
    quote_decimals: int
    kind: str

    @property
    def asset_id(self) -> int:
        """``instrument_hash`` as an integer (the EIP-712 ``assetID`` uint256)."""
        return int(self.instrument_hash, 16)


_HEX_RE: Final = re.compile(r"0x[0-9a-fA-F]{1,64}")
_SYMBOL_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def parse_instrument(
    obj: Any, *, venue: str = VENUE, size_step: str = "base_decimals"
) -> tuple[Instrument, GrvtInstrumentMeta]:
    """Parse one GRVT ``InstrumentDisplay`` (full or lite names).

    Shape (wire-formats A2.1, real)::

        {"instrument":"BTC_USDT_Perp","instrument_hash":"0x030501","base":"BTC","quote":"USDT",
         "kind":"PERPETUAL","base_decimals":9,"quote_decimals":6,"tick_size":"0.1","min_size":"0.001",
         "min_notional":"100.0", ...}

    Mapping: ``tick_size`` -> ``tick_size``; ``min_size`` -> ``min_size``; ``min_notional`` ->
    ``min_notional`` (0 when absent: an older real capture, ccxt ``fetch_markets`` comment, has none and
    sends ``base_decimals`` as a string, which is also accepted). The lot (``lot_size``) is
    ``10**-base_decimals`` (the venue's size granularity, error 2065 "Order size too granular", A3.3) with
    ``size_step="base_decimals"`` (default), or ``min_size`` with ``size_step="min_size"`` (what ccxt
    4.5.90 ``parse_market`` uses for amount precision: "confirmed, not base_decimals").

    Args:
        obj: the decoded instrument object.
        venue: configured venue name for the Instrument.
        size_step: ``"base_decimals"`` or ``"min_size"`` (see above).

    Returns:
        (Instrument, GrvtInstrumentMeta).

    Raises:
        GrvtProtocolError: a missing or malformed field, an unknown ``kind``, a non-positive tick or
            min size, ``min_size`` off the lot grid, ``base_decimals`` outside [-18, 18].
    """
    r = _Reader(obj, _F_INSTRUMENT, "instrument", venue)
    symbol = r.string("instrument")
    if not _SYMBOL_RE.fullmatch(symbol):
        raise r.err("instrument", f"bad symbol {_show(symbol)}")
    r.path = f"instrument[{symbol}]"
    instrument_hash = r.string("instrument_hash")
    if not _HEX_RE.fullmatch(instrument_hash):
        raise r.err("instrument_hash", f"expected 0x-prefixed hex, got {_show(instrument_hash)}")
    kind = r.enum("kind", _KINDS)
    base_decimals = _small_int(r, "base_decimals")
    quote_decimals = _small_int(r, "quote_decimals")
    tick = r.price("tick_size")
    min_size = r.price("min_size")
    min_notional = r.size("min_notional") if r.get("min_notional") is not _MISSING else ZERO
    if size_step == "base_decimals":
        lot = Decimal(1).scaleb(-base_decimals)
        try:
            on_grid = is_multiple(min_size, lot)
        except ArithmeticError:  # decimal.InvalidOperation (DivisionImpossible) for absurd ratios
            on_grid = False
        if not on_grid:
            raise r.err("min_size", f"{min_size} is not a multiple of 10^-{base_decimals}")
    elif size_step == "min_size":
        lot = min_size
    else:
        raise BadValue(f"size_step must be 'base_decimals' or 'min_size', not {size_step!r}")
    try:
        instrument = Instrument(
            venue=venue,
            symbol=symbol,
            base=r.string("base"),
            quote=r.string("quote"),
            tick_size=tick,
            lot_size=lot,
            min_size=min_size,
            min_notional=min_notional,
        )
    except BadValue as exc:
        raise GrvtProtocolError(f"{r.path}: {exc}", venue=venue) from None
    return instrument, GrvtInstrumentMeta(symbol, instrument_hash, base_decimals, quote_decimals, kind)


def _small_int(r: _Reader, name: str) -> int:
    value = r.need(name)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,2}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -18 <= value <= 18:
        raise r.err(name, f"expected an integer in [-18, 18], got {_show(value)}")
    return value


def parse_instruments(
    result: Any,
    *,
    venue: str = VENUE,
    kinds: frozenset[str] = frozenset({"PERPETUAL"}),
    size_step: str = "base_decimals",
) -> list[tuple[Instrument, GrvtInstrumentMeta]]:
    """Parse the ``result`` array of ``/full/v1/instruments`` or ``/full/v1/all_instruments`` (A2.1).

    Elements whose ``kind`` (a string) is not in ``kinds`` are skipped before validation, so an
    instrument of a kind the bot does not trade (or a kind GRVT adds later) cannot break the listing.
    Every kept element is parsed strictly by :func:`parse_instrument`.

    Raises:
        GrvtProtocolError: ``result`` is not an array, an element is not an object or has no string
            ``kind``, or a kept element is malformed.
    """
    if not isinstance(result, list):
        raise GrvtProtocolError(f"instruments: expected an array, got {type(result).__name__}", venue=venue)
    out: list[tuple[Instrument, GrvtInstrumentMeta]] = []
    for i, item in enumerate(result):
        r = _Reader(item, _F_INSTRUMENT, f"instruments[{i}]", venue)
        if r.string("kind") not in kinds:
            continue
        out.append(parse_instrument(item, venue=venue, size_step=size_step))
    return out


def format_instrument(instrument: Instrument, meta: GrvtInstrumentMeta, *, create_time_ns: int = 0) -> dict[str, Any]:
    """The full-name ``InstrumentDisplay`` JSON object for ``instrument`` (server side; inverse of
    :func:`parse_instrument` with the default ``size_step``)."""
    return {
        "instrument": instrument.symbol,
        "instrument_hash": meta.instrument_hash,
        "base": instrument.base,
        "quote": instrument.quote,
        "kind": meta.kind,
        "venues": ["ORDERBOOK", "RFQ"],
        "settlement_period": "PERPETUAL",
        "base_decimals": meta.base_decimals,
        "quote_decimals": meta.quote_decimals,
        "tick_size": format_decimal(instrument.tick_size),
        "min_size": format_decimal(instrument.min_size),
        "create_time": str(create_time_ns),
        "min_notional": format_decimal(instrument.min_notional),
    }


# ---------------------------------------------------------------------------------------------- order book
@dataclass(frozen=True, slots=True)
class GrvtBookUpdate:
    """One order book message: a REST ``book`` result, or a ``v1.book.s`` / ``v1.book.d`` feed payload.

    Attributes:
        symbol (str): instrument.
        bids (list[Level]): (price, size) pairs as sent (best first); size 0 deletes a level in a delta.
        asks (list[Level]): likewise.
        event_time_ns (int): venue ``event_time``, ns.
        is_snapshot (bool): True for REST ``book``, every ``v1.book.s`` message, and a ``v1.book.d``
            message with ``sequence_number == 0`` (A4.4: "all snapshot payloads have sequence number 0";
            ccxt.pro ``handle_order_book`` uses the same test).
        sequence_number (int): the feed's ``sequence_number`` (0 for REST).
        prev_sequence_number (int): the feed's ``prev_sequence_number`` (0 for REST).
        stream (str), selector (str): the feed envelope (``""`` for REST).
    """

    symbol: str
    bids: list[Level]
    asks: list[Level]
    event_time_ns: int
    is_snapshot: bool
    sequence_number: int = 0
    prev_sequence_number: int = 0
    stream: str = ""
    selector: str = ""


def _fast_decimal(value: object) -> Decimal | None:
    """``value`` as a Decimal when :func:`_decimal` would accept it as a string, else None (the caller then
    takes the slow path that names the problem). The hot path of book levels."""
    if type(value) is not str or len(value) > MAX_DECIMAL_CHARS or not value.isascii() or "_" in value:
        return None
    try:
        d = Decimal(value)
    except InvalidOperation:
        return None
    if not d.is_finite() or (d and abs(d.adjusted()) > MAX_DECIMAL_EXPONENT):
        return None
    return d


def _levels(r: _Reader, name: str) -> list[Level]:
    out: list[Level] = []
    for i, item in enumerate(r.array(name)):
        if type(item) is dict:  # fast path: {"price": "…", "size": "…"} (or lite {"p", "s"})
            if "price" in item:
                price, size = _fast_decimal(item["price"]), _fast_decimal(item.get("size"))
            else:
                price, size = _fast_decimal(item.get("p")), _fast_decimal(item.get("s"))
            if price is not None and size is not None and price > ZERO and size >= ZERO:
                out.append((price, size))
                continue
        lr = _Reader(item, _F_LEVEL, f"{r.path}.{name}[{i}]", r.venue)
        out.append((lr.price("price"), lr.size("size")))  # raises the precise error
    return out


def _book_payload(obj: Any, path: str, venue: str) -> tuple[str, list[Level], list[Level], int]:
    r = _Reader(obj, _F_BOOK, path, venue)
    symbol = r.string("instrument")
    return symbol, _levels(r, "bids"), _levels(r, "asks"), r.uint("event_time", maximum=INT64_MAX)


def parse_book(result: Any, *, venue: str = VENUE) -> GrvtBookUpdate:
    """Parse the ``result`` of ``POST /full/v1/book`` (A2.2) into a snapshot update.

    Shape: ``{"event_time":"…","instrument":"BTC_USDT_Perp","bids":[{"price":"88051.6","size":"0.012",
    "num_orders":"3"},…],"asks":[…]}``; ``num_orders`` is ignored (a string here, an int on WS).

    Raises:
        GrvtProtocolError: missing fields, a price <= 0 or non-finite, a negative size.
    """
    symbol, bids, asks, ts = _book_payload(result, "book", venue)
    return GrvtBookUpdate(symbol, bids, asks, ts, True)


def parse_book_feed(msg: GrvtFeedMessage, *, venue: str = VENUE) -> GrvtBookUpdate:
    """Parse a ``v1.book.s`` or ``v1.book.d`` feed message (A4.4) into an update.

    Raises:
        GrvtProtocolError: another stream, or a malformed payload.
    """
    if msg.stream not in (STREAM_BOOK_SNAPSHOT, STREAM_BOOK_DELTA):
        raise GrvtProtocolError(f"not a book stream: {_show(msg.stream)}", venue=venue)
    symbol, bids, asks, ts = _book_payload(msg.feed, f"{msg.stream}.feed", venue)
    snapshot = msg.stream == STREAM_BOOK_SNAPSHOT or msg.sequence_number == 0
    return GrvtBookUpdate(
        symbol, bids, asks, ts, snapshot, msg.sequence_number, msg.prev_sequence_number, msg.stream, msg.selector
    )


def apply_book_update(book: OrderBook, update: GrvtBookUpdate, *, snapshot_seq: int | None = None) -> bool:
    """Apply ``update`` to ``book`` with GRVT's sequencing mapped onto the domain rules.

    Mapping (wire-formats A4.4; apispec ``WSSubscribeResult`` docstring; domain ``_book.py``):

    * snapshot (``update.is_snapshot``) ->
      ``book.apply_snapshot(bids, asks, seq=S, ts_ns=event_time)`` with ``S = snapshot_seq`` when given,
      else ``update.sequence_number`` (0: GRVT numbers snapshots 0). For a ``v1.book.d`` subscription pass
      ``snapshot_seq = first_sequence_number - 1`` from the subscribe result
      (:meth:`GrvtSubscribeResult.snapshot_seq`): the first delta to expect is ``first_sequence_number``.
    * delta -> ``book.apply_delta(bids, asks, seq=sequence_number, first_seq=prev_sequence_number + 1,
      prev_seq=prev_sequence_number, ts_ns=event_time)``. A GRVT message covers the sequence numbers
      after its ``prev_sequence_number`` up to its ``sequence_number`` (one number with gateway
      sequencing, a jump with global sequencing), hence ``first_seq = prev + 1``. So:
        - ``sequence_number <= book.seq``: a duplicate (GRVT: "duplicates are possible, ignore"), dropped;
        - the first delta after a snapshot at ``S`` must have ``prev_sequence_number <= S``;
        - later deltas must have ``prev_sequence_number == book.seq``; anything else is a
          :class:`~trio_hedge.domain.SequenceGap` (GRVT: "if it increases by more than 1, reconnect").
      When the snapshot was applied at seq 0 without a ``snapshot_seq`` (base unknown), the first delta
      is accepted without the bridge check (``first_seq=None``); continuity is checked from then on.

    Returns:
        bool: True if applied, False if a delta was dropped as a duplicate.

    Raises:
        BookInvalid, SequenceGap: from the domain book (the book is then invalid until a snapshot).
    """
    if update.is_snapshot:
        seq = snapshot_seq if snapshot_seq is not None else update.sequence_number
        book.apply_snapshot(update.bids, update.asks, seq=seq, ts_ns=update.event_time_ns)
        return True
    prev = update.prev_sequence_number
    return book.apply_delta(
        update.bids,
        update.asks,
        seq=update.sequence_number,
        first_seq=prev + 1 if book.seq > 0 else None,
        prev_seq=prev,
        ts_ns=update.event_time_ns,
    )


@dataclass(frozen=True, slots=True)
class GrvtRawBookUpdate:
    """A ``v1.book.s`` / ``v1.book.d`` feed message with its levels left for the book to parse: the fast path
    of the adapter's feed (:func:`parse_book_feed_raw`, :func:`apply_raw_book_update`).

    Every field but the level values is checked exactly as :func:`parse_book_feed` checks it. ``bids`` /
    ``asks`` are ``[[price, size], ...]`` (:data:`~trio_hedge.domain.RawLevels`, wire order) holding the
    level objects' ``price``/``size`` values as decoded; :meth:`OrderBook.apply_raw_delta` /
    :meth:`OrderBook.apply_raw_snapshot` parse and check them while applying (``parse_price`` /
    ``parse_size``). Values that GRVT's own number rules (:data:`MAX_DECIMAL_CHARS`,
    :data:`MAX_DECIMAL_EXPONENT`, ASCII, no ``_``) could refuse where the domain rules would not never reach
    the book raw: such a side is parsed by the decoded path instead (Decimal pairs, or the precise
    :class:`GrvtProtocolError`).

    Attributes:
        symbol, event_time_ns, is_snapshot, sequence_number, prev_sequence_number, stream, selector: as
            :class:`GrvtBookUpdate`.
        bids (RawLevels), asks (RawLevels): the levels.
        feed (dict): the payload object, for :func:`check_book_levels`.
    """

    symbol: str
    bids: RawLevels
    asks: RawLevels
    event_time_ns: int
    is_snapshot: bool
    sequence_number: int
    prev_sequence_number: int
    stream: str
    selector: str
    feed: dict[str, Any] = field(repr=False)


_chain: Final = itertools.chain.from_iterable
_RAW_MAX_CHARS: Final = MAX_DECIMAL_EXPONENT + 1
"""A plain-notation decimal string (no exponent) this short has ``abs(adjusted exponent) <= 30``: an integer
part of at most 31 digits, or at most 29 zeros after the point before the first significant digit."""


def _raw_levels(r: _Reader, name: str) -> RawLevels:
    """The ``name`` array as ``[[price, size], ...]`` values, when every item is a full-name level object whose
    price and size are ASCII strings of at most :data:`_RAW_MAX_CHARS` characters with no ``_`` and no
    exponent: for those, GRVT's number rules (:func:`_decimal` + :func:`_checked`) accept exactly what
    ``parse_price`` / ``parse_size`` accept, so the book may check them. Anything else (lite names, int
    values, null, odd strings, not an object) goes through :func:`_levels` (validated Decimal pairs, or the
    precise error). The checks run in C over the joined text: no per-value Python code on the fast path."""
    items = r.array(name)
    try:
        pairs = [[item["price"], item["size"]] for item in items]
        text = "".join(_chain(pairs))
    except (KeyError, TypeError):  # not an object, a missing key, a non-str value
        return _levels(r, name)
    if (
        text.isascii()
        and "_" not in text
        and "e" not in text
        and "E" not in text
        and (not pairs or max(map(len, _chain(pairs))) <= _RAW_MAX_CHARS)
    ):
        return pairs
    return _levels(r, name)


def parse_book_feed_raw(msg: GrvtFeedMessage, *, venue: str = VENUE) -> GrvtRawBookUpdate:
    """Parse a ``v1.book.s`` or ``v1.book.d`` feed message (A4.4) into a :class:`GrvtRawBookUpdate`: the
    checks of :func:`parse_book_feed` except the level values' ``> 0`` / ``>= 0`` / finiteness, which the book
    makes as it applies them (:func:`apply_raw_book_update`).

    Raises:
        GrvtProtocolError: another stream, or a malformed payload (as :func:`parse_book_feed`; a level value
            is only refused here when it breaks GRVT's own number rules).
    """
    if msg.stream not in (STREAM_BOOK_SNAPSHOT, STREAM_BOOK_DELTA):
        raise GrvtProtocolError(f"not a book stream: {_show(msg.stream)}", venue=venue)
    r = _Reader(msg.feed, _F_BOOK, f"{msg.stream}.feed", venue)
    symbol = r.string("instrument")
    bids = _raw_levels(r, "bids")
    asks = _raw_levels(r, "asks")
    ts = r.uint("event_time", maximum=INT64_MAX)
    snapshot = msg.stream == STREAM_BOOK_SNAPSHOT or msg.sequence_number == 0
    return GrvtRawBookUpdate(
        symbol,
        bids,
        asks,
        ts,
        snapshot,
        msg.sequence_number,
        msg.prev_sequence_number,
        msg.stream,
        msg.selector,
        msg.feed,
    )


def check_book_levels(update: GrvtRawBookUpdate, *, venue: str = VENUE) -> None:
    """Check every level of ``update`` as :func:`parse_book_feed` does (the slow path, for a delta the book
    dropped as a duplicate without looking at its values).

    Raises:
        GrvtProtocolError: a malformed level, a price <= 0 or non-finite, a negative size.
    """
    r = _Reader(update.feed, _F_BOOK, f"{update.stream}.feed", venue)
    _levels(r, "bids")
    _levels(r, "asks")


def apply_raw_book_update(
    book: OrderBook,
    update: GrvtRawBookUpdate,
    *,
    snapshot_seq: int | None = None,
    base_known: bool = False,
    venue: str = VENUE,
) -> bool:
    """Apply ``update`` through the book's one-pass raw path (:meth:`OrderBook.apply_raw_snapshot` /
    :meth:`OrderBook.apply_raw_delta`) with the sequencing of :func:`apply_book_update`: the same result as
    ``apply_book_update(book, parse_book_feed(msg))``, except that a bad level value surfaces here as
    :class:`BookInvalid` instead of a parse error.

    Args:
        book: the local book.
        update: from :func:`parse_book_feed_raw`.
        snapshot_seq: as :func:`apply_book_update`.
        base_known: the last snapshot was applied at a sequence number taken from the subscribe result, so
            the first delta after it gets the bridge check even when that number is 0 (a fresh gateway
            counter); False gives exactly :func:`apply_book_update`.
        venue: venue name for errors.

    Returns:
        bool: True if applied, False if a delta was dropped as a duplicate (its values are still checked:
        :func:`check_book_levels`).

    Raises:
        BookInvalid, SequenceGap: from the domain book, or a bad value in a dropped duplicate (the book is
            then invalid until a snapshot).
    """
    if update.is_snapshot:
        seq = snapshot_seq if snapshot_seq is not None else update.sequence_number
        book.apply_raw_snapshot(update.bids, update.asks, seq=seq, ts_ns=update.event_time_ns)
        return True
    prev = update.prev_sequence_number
    if book.apply_raw_delta(
        update.bids,
        update.asks,
        seq=update.sequence_number,
        first_seq=prev + 1 if book.seq > 0 or base_known else None,
        prev_seq=prev,
        ts_ns=update.event_time_ns,
    ):
        return True
    try:
        check_book_levels(update, venue=venue)
    except GrvtProtocolError as exc:
        book.invalidate(f"bad delta value: {exc.message[:200]}")
        raise BookInvalid(f"{book.symbol}: {book.invalid_reason}") from None
    return False


def format_book(
    symbol: str,
    bids: Iterable[Level],
    asks: Iterable[Level],
    *,
    event_time_ns: int,
    num_orders_as_string: bool = True,
) -> dict[str, Any]:
    """An ``OrderbookLevels`` JSON object (server side). ``num_orders`` is always 1 (the simulator does not
    track it); REST sends it as a string, WS as an int (A2 "type drift") per ``num_orders_as_string``."""
    one: Any = "1" if num_orders_as_string else 1
    return {
        "event_time": str(event_time_ns),
        "instrument": symbol,
        "bids": [{"price": format_decimal(p), "size": format_decimal(s), "num_orders": one} for p, s in bids],
        "asks": [{"price": format_decimal(p), "size": format_decimal(s), "num_orders": one} for p, s in asks],
    }


# ---------------------------------------------------------------------------------------------- orders
_STATUS_TO_DOMAIN: Final = {
    GrvtOrderStatus.PENDING: OrderStatus.PENDING,
    GrvtOrderStatus.OPEN: OrderStatus.OPEN,
    GrvtOrderStatus.FILLED: OrderStatus.FILLED,
    GrvtOrderStatus.REJECTED: OrderStatus.REJECTED,
    GrvtOrderStatus.CANCELLED: OrderStatus.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class GrvtOrderState:
    """GRVT ``OrderState`` for a single-leg order (A2.6).

    Attributes:
        status (GrvtOrderStatus): venue status.
        reject_reason (str): ``OrderRejectReason`` (``"UNSPECIFIED"`` unless cancelled or rejected).
        book_size (Decimal): size still resting, base units.
        traded_size (Decimal): cumulative filled size, base units.
        avg_fill_price (Decimal | None): average fill price; None when nothing traded.
        update_time_ns (int): venue update time, ns.
    """

    status: GrvtOrderStatus
    reject_reason: str
    book_size: Decimal
    traded_size: Decimal
    avg_fill_price: Decimal | None
    update_time_ns: int

    @property
    def domain_status(self) -> OrderStatus:
        """Our status. PENDING/OPEN/FILLED/REJECTED/CANCELLED map one to one, except: OPEN with
        ``traded_size > 0`` -> PARTIALLY_FILLED; CANCELLED with reason ``EXPIRED`` -> EXPIRED."""
        if self.status is GrvtOrderStatus.OPEN and self.traded_size > ZERO:
            return OrderStatus.PARTIALLY_FILLED
        if self.status is GrvtOrderStatus.CANCELLED and self.reject_reason == "EXPIRED":
            return OrderStatus.EXPIRED
        return _STATUS_TO_DOMAIN[self.status]

    @property
    def reason(self) -> str:
        """``reject_reason`` in the venue's words, ``""`` for ``UNSPECIFIED``."""
        return "" if self.reject_reason == "UNSPECIFIED" else self.reject_reason

    @classmethod
    def from_domain(
        cls,
        status: OrderStatus,
        *,
        size: Decimal,
        filled_size: Decimal,
        avg_fill_price: Decimal | None,
        update_time_ns: int,
        reject_reason: str = "",
    ) -> GrvtOrderState:
        """The venue state for a domain status (server side): PARTIALLY_FILLED -> OPEN; EXPIRED ->
        CANCELLED with reason EXPIRED; ``book_size`` is the remainder while PENDING/OPEN, else 0.

        Raises:
            BadValue: an unknown ``reject_reason``.
        """
        grvt = {
            OrderStatus.PENDING: GrvtOrderStatus.PENDING,
            OrderStatus.OPEN: GrvtOrderStatus.OPEN,
            OrderStatus.PARTIALLY_FILLED: GrvtOrderStatus.OPEN,
            OrderStatus.FILLED: GrvtOrderStatus.FILLED,
            OrderStatus.CANCELLED: GrvtOrderStatus.CANCELLED,
            OrderStatus.REJECTED: GrvtOrderStatus.REJECTED,
            OrderStatus.EXPIRED: GrvtOrderStatus.CANCELLED,
        }[status]
        reason = reject_reason or ("EXPIRED" if status is OrderStatus.EXPIRED else "UNSPECIFIED")
        if reason not in _REJECT_REASONS:
            raise BadValue(f"unknown GRVT reject reason {reason!r}")
        resting = grvt in (GrvtOrderStatus.PENDING, GrvtOrderStatus.OPEN)
        return cls(grvt, reason, size - filled_size if resting else ZERO, filled_size, avg_fill_price, update_time_ns)


@dataclass(frozen=True, slots=True)
class GrvtOrder:
    """A GRVT ``Order`` (request, ack, query result or ``v1.order`` payload) reduced to one leg.

    Attributes:
        client_order_id (str): ``metadata.client_order_id``, uint64 decimal string.
        order_id (str | None): venue id; None when absent or ``"0x00"`` (create ack, A2.4).
        sub_account_id (str): uint64 decimal string.
        symbol (str): ``legs[0].instrument``.
        side (Side): BUY when ``legs[0].is_buying_asset``.
        size (Decimal): ``legs[0].size``, base units, > 0.
        limit_price (Decimal | None): ``legs[0].limit_price``; None for a market order (pysdk sends
            ``"0E-9"``, ccxt ``null``, A2.4).
        time_in_force (GrvtTimeInForce): venue TIF.
        is_market (bool), post_only (bool), reduce_only (bool): flags (absent = false).
        create_time_ns (int | None): ``metadata.create_time``.
        state (GrvtOrderState | None): None in a create request.
        signature (Mapping[str, Any]): the ``signature`` object as sent (not validated here; the signer
            module owns it). Not part of repr or equality.
    """

    client_order_id: str
    order_id: str | None
    sub_account_id: str
    symbol: str
    side: Side
    size: Decimal
    limit_price: Decimal | None
    time_in_force: GrvtTimeInForce
    is_market: bool = False
    post_only: bool = False
    reduce_only: bool = False
    create_time_ns: int | None = None
    state: GrvtOrderState | None = None
    signature: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_report(self) -> OrderReport:
        """The domain :class:`OrderReport` (status via :attr:`GrvtOrderState.domain_status`; a request
        without state reports PENDING with nothing filled)."""
        st = self.state
        return OrderReport(
            client_order_id=self.client_order_id,
            venue_order_id=self.order_id,
            symbol=self.symbol,
            side=self.side,
            size=self.size,
            price=self.limit_price,
            status=st.domain_status if st else OrderStatus.PENDING,
            filled_size=st.traded_size if st else ZERO,
            avg_fill_price=st.avg_fill_price if st else None,
            reduce_only=self.reduce_only,
            post_only=self.post_only,
            reason=st.reason if st else "",
        )

    def to_update(self, *, venue: str = VENUE) -> OrderUpdate:
        """The domain :class:`OrderUpdate` for a ``v1.order`` event (``ts_ns`` = ``state.update_time``)."""
        st = self.state
        return OrderUpdate(
            venue=venue,
            symbol=self.symbol,
            client_order_id=self.client_order_id,
            status=st.domain_status if st else OrderStatus.PENDING,
            venue_order_id=self.order_id,
            filled_size=st.traded_size if st else None,
            reason=st.reason if st else "",
            ts_ns=st.update_time_ns if st else (self.create_time_ns or 0),
        )

    def to_request(self, *, reason: str = "") -> OrderRequest:
        """The domain :class:`OrderRequest` this order asks for (server side).

        Raises:
            GrvtProtocolError: a TIF the order book does not take (AON, RPI: venue error 2030), a market
                order with post-only, or any other combination OrderRequest refuses.
        """
        tif = _TIF_TO_DOMAIN.get(self.time_in_force)
        if tif is None:
            raise GrvtProtocolError(f"order {self.client_order_id}: time_in_force {self.time_in_force} not supported")
        try:
            return OrderRequest(
                client_order_id=self.client_order_id,
                symbol=self.symbol,
                side=self.side,
                size=self.size,
                order_type=OrderType.MARKET if self.is_market else OrderType.LIMIT,
                price=None if self.is_market else self.limit_price,
                tif=tif,
                post_only=self.post_only,
                reduce_only=self.reduce_only,
                reason=reason,
            )
        except BadValue as exc:
            raise GrvtProtocolError(str(exc)) from None

    @classmethod
    def from_request(
        cls,
        request: OrderRequest,
        *,
        sub_account_id: str,
        signature: Mapping[str, Any],
        order_id: str | None = None,
        create_time_ns: int | None = None,
        state: GrvtOrderState | None = None,
    ) -> GrvtOrder:
        """The GRVT order for a domain request (client side: the create_order body; server side: the echo).

        Raises:
            BadValue: ``request.client_order_id`` is not a uint64 decimal string.
        """
        if not _is_uint64_str(request.client_order_id):
            raise BadValue(f"GRVT client_order_id must be a uint64 decimal string, not {request.client_order_id!r}")
        return cls(
            client_order_id=request.client_order_id,
            order_id=order_id,
            sub_account_id=sub_account_id,
            symbol=request.symbol,
            side=request.side,
            size=request.size,
            limit_price=request.price,
            time_in_force=_TIF_FROM_DOMAIN[request.tif],
            is_market=request.order_type is OrderType.MARKET,
            post_only=request.post_only,
            reduce_only=request.reduce_only,
            create_time_ns=create_time_ns,
            state=state,
            signature=signature,
        )


def _is_uint64_str(s: object) -> bool:
    return isinstance(s, str) and s.isascii() and s.isdigit() and len(s) <= 20 and int(s) <= UINT64_MAX


def _client_order_id(r: _Reader, name: str = "client_order_id") -> str:
    """A uint64 client order id, normalised to its canonical decimal string (ints tolerated)."""
    return str(r.uint(name))


def _order_id(r: _Reader, name: str = "order_id", *, required: bool = False) -> str | None:
    value = r.string(name, required=required)
    return None if value in ("", NO_ORDER_ID) else value


def _order_state(r: _Reader, path_name: str) -> GrvtOrderState:
    s = r.child(path_name, _F_STATE)
    status = GrvtOrderStatus(s.enum("status", GrvtOrderStatus.__members__))
    reason = s.enum("reject_reason", _REJECT_REASONS, required=False, default="UNSPECIFIED")
    book = _leg_size(s, "book_size")
    traded = _leg_size(s, "traded_size")
    avg = _leg_size(s, "avg_fill_price") if s.get("avg_fill_price") is not _MISSING else ZERO
    ut = s.uint("update_time", maximum=INT64_MAX)
    return GrvtOrderState(status, reason, book, traded, avg if traded > ZERO and avg > ZERO else None, ut)


def _leg_size(r: _Reader, name: str) -> Decimal:
    """The single element (>= 0) of a per-leg array (``book_size``, ``traded_size``, ``avg_fill_price``)."""
    arr = r.array(name)
    if len(arr) != 1:
        raise r.err(name, f"expected one element per leg (1), got {len(arr)}")
    return _checked(_decimal(arr[0], r, name), r, name, price=False)


def parse_order(obj: Any, *, venue: str = VENUE) -> GrvtOrder:
    """Parse a GRVT ``Order`` object (full or lite names; A2.4, A2.6, A4.5).

    Accepts create requests (no ``state``, no ``order_id``), create acks (``order_id "0x00"``, status
    PENDING), query results and ``v1.order`` feed payloads. Orders on the order book have exactly one leg
    (venue error 2042); more legs are refused.

    Raises:
        GrvtProtocolError: missing or malformed fields, zero or several legs, an unknown status,
            reject reason or time in force, a limit order without a positive price.
    """
    r = _Reader(obj, _F_ORDER, "order", venue)
    legs = r.array("legs")
    if len(legs) != 1:
        raise r.err("legs", f"expected exactly one leg, got {len(legs)}")
    leg = _Reader(legs[0], _F_LEG, "order.legs[0]", venue)
    meta = r.child("metadata", _F_METADATA)
    coid = _client_order_id(meta)
    r.path = f"order[{coid}]"
    is_market = r.boolean("is_market", required=False)
    price: Decimal | None
    if is_market:
        raw_price = leg.opt_decimal("limit_price")
        if raw_price is not None and raw_price != ZERO:
            raise leg.err("limit_price", "a market order carries no limit price (venue error 2020)")
        price = None
    else:
        price = leg.price("limit_price")
    size = leg.size("size", positive=True)
    symbol = leg.string("instrument")
    signature = r.get("signature")
    if signature is _MISSING:
        signature = {}
    elif not isinstance(signature, dict):
        raise r.err("signature", f"expected an object, got {type(signature).__name__}")
    state = _order_state(r, "state") if r.get("state") is not _MISSING else None
    return GrvtOrder(
        client_order_id=coid,
        order_id=_order_id(r),
        sub_account_id=str(r.uint("sub_account_id")),
        symbol=symbol,
        side=Side.BUY if leg.boolean("is_buying_asset") else Side.SELL,
        size=size,
        limit_price=price,
        time_in_force=GrvtTimeInForce(r.enum("time_in_force", GrvtTimeInForce.__members__)),
        is_market=is_market,
        post_only=r.boolean("post_only", required=False),
        reduce_only=r.boolean("reduce_only", required=False),
        create_time_ns=meta.opt_uint("create_time", maximum=INT64_MAX),
        state=state,
        signature=signature,
    )


def parse_orders(result: Any, *, venue: str = VENUE) -> list[GrvtOrder]:
    """Parse the ``result`` array of ``open_orders`` / ``order_history`` (A2.6).

    Raises:
        GrvtProtocolError: not an array, or a malformed element.
    """
    if not isinstance(result, list):
        raise GrvtProtocolError(f"orders: expected an array, got {type(result).__name__}", venue=venue)
    return [parse_order(o, venue=venue) for o in result]


def format_order_state(state: GrvtOrderState) -> dict[str, Any]:
    """The full-name ``OrderState`` JSON object (single leg)."""
    return {
        "status": state.status.value,
        "reject_reason": state.reject_reason,
        "book_size": [format_decimal(state.book_size)],
        "traded_size": [format_decimal(state.traded_size)],
        "update_time": str(state.update_time_ns),
        "avg_fill_price": [format_decimal(state.avg_fill_price or ZERO)],
    }


def format_order(order: GrvtOrder) -> dict[str, Any]:
    """The full-name ``Order`` JSON object (inverse of :func:`parse_order`).

    Without ``state`` and ``order_id`` this is the create_order request order (send it as
    ``{"order": …}``, A2.4); with them it is what the venue echoes (``order_id`` ``"0x00"`` while unknown).
    Market orders carry ``"limit_price": "0.0"``.
    """
    out: dict[str, Any] = {}
    if order.order_id is not None or order.state is not None:
        out["order_id"] = order.order_id or NO_ORDER_ID
    out.update(
        {
            "sub_account_id": order.sub_account_id,
            "is_market": order.is_market,
            "time_in_force": order.time_in_force.value,
            "post_only": order.post_only,
            "reduce_only": order.reduce_only,
            "legs": [
                {
                    "instrument": order.symbol,
                    "size": format_decimal(order.size),
                    "limit_price": format_decimal(order.limit_price or ZERO),
                    "is_buying_asset": order.side is Side.BUY,
                }
            ],
            "signature": dict(order.signature),
            "metadata": {"client_order_id": order.client_order_id},
        }
    )
    if order.create_time_ns is not None:
        out["metadata"]["create_time"] = str(order.create_time_ns)
    if order.state is not None:
        out["state"] = format_order_state(order.state)
    return out


@dataclass(frozen=True, slots=True)
class GrvtOrderStateEvent:
    """A ``v1.state`` payload (A4.5): ``{"order_id","client_order_id","order_state":{…}}``. It names no
    instrument, so :meth:`to_update` takes the symbol from the caller (its own order registry)."""

    client_order_id: str
    order_id: str | None
    state: GrvtOrderState

    def to_update(self, *, symbol: str, venue: str = VENUE) -> OrderUpdate:
        return OrderUpdate(
            venue=venue,
            symbol=symbol,
            client_order_id=self.client_order_id,
            status=self.state.domain_status,
            venue_order_id=self.order_id,
            filled_size=self.state.traded_size,
            reason=self.state.reason,
            ts_ns=self.state.update_time_ns,
        )


def parse_order_state_feed(obj: Any, *, venue: str = VENUE) -> GrvtOrderStateEvent:
    """Parse a ``v1.state`` feed payload (full or lite). The doc example's ``order_id`` is not hex
    (``"10000101000203040506"``), so ``order_id`` is taken as an opaque string.

    Raises:
        GrvtProtocolError: missing or malformed fields.
    """
    r = _Reader(obj, _F_STATE_FEED, "state_feed", venue)
    return GrvtOrderStateEvent(_client_order_id(r), _order_id(r, required=True), _order_state(r, "order_state"))


def rejection_error(reason: str, *, venue: str = VENUE, client_order_id: str = "") -> VenueError:
    """The typed error for an order the venue reports REJECTED with ``reason`` (A4.5 ``reject_reason``).

    GRVT reports matching-time refusals (post-only would cross, margin, reduce-only) as an order state,
    not as an error body (A2.4, A5); an adapter that must raise from ``place`` uses this. ``code`` is the
    reason string.

    Mapping: ``FAIL_POST_ONLY`` -> PostOnlyWouldCross; ``BELOW_MARGIN``, ``BELOW_MARGIN_WITH_PENALTY_DEVIATION``,
    ``INSUFFICIENT_BALANCE`` -> InsufficientMargin; ``OVERLAPPING_CLIENT_ORDER_ID`` -> DuplicateClientOrderId;
    ``UNAUTHORISED``, ``SESSION_KEY_EXPIRED``, ``NO_TRADE_PERMISSION``, ``SUB_ACCOUNT_NOT_FOUND``,
    ``INVALID_CHAIN_ID`` -> AuthError; order-rule reasons (reduce-only, TIF, legs, instrument, limit price,
    signature expiry, builder, spot) -> InvalidOrder; anything else -> OrderRejected.
    """
    cls = _REASON_ERRORS.get(reason, OrderRejected)
    what = f"order {client_order_id} " if client_order_id else "order "
    return cls(venue, f"{what}rejected: {reason}", code=reason)


_REASON_ERRORS: Final[Mapping[str, type[VenueError]]] = {
    "FAIL_POST_ONLY": PostOnlyWouldCross,
    "BELOW_MARGIN": InsufficientMargin,
    "BELOW_MARGIN_WITH_PENALTY_DEVIATION": InsufficientMargin,
    "INSUFFICIENT_BALANCE": InsufficientMargin,
    "OVERLAPPING_CLIENT_ORDER_ID": DuplicateClientOrderId,
    "UNAUTHORISED": AuthError,
    "SESSION_KEY_EXPIRED": AuthError,
    "NO_TRADE_PERMISSION": AuthError,
    "SUB_ACCOUNT_NOT_FOUND": AuthError,
    "INVALID_CHAIN_ID": AuthError,
    **{
        r: InvalidOrder
        for r in (
            "FAIL_REDUCE_ONLY", "REDUCE_ONLY_LIMIT", "UNSUPPORTED_TIME_IN_FORCE", "MULTI_LEGGED_ORDER",
            "MARKET_ORDER_WITH_LIMIT_PRICE", "INSTRUMENT_INVALID", "INSTRUMENT_DEACTIVATED",
            "EXCEED_MAX_SIGNATURE_EXPIRATION", "INVALID_ORDER_TYPE", "CURRENCY_NOT_DEFINED",
            "DERISK_MUST_BE_IOC", "DERISK_MUST_BE_REDUCE_ONLY", "DERISK_NOT_SUPPORTED",
            "BUILDER_ORDER_FEE_EXCEED", "BUILDER_ORDER_FEE_NEGATIVE", "BUILDER_ORDER_BUILDER_NOT_AUTHORIZED",
            "BUILDER_ORDER_BUILDER_NOT_EXIST", "REDUCE_ONLY_NOT_SUPPORTED_FOR_SPOT_ORDER",
            "TPSL_NOT_SUPPORTED_FOR_SPOT_ORDER", "SPOT_ORDER_NOT_SUPPORTED",
        )
    },
}  # fmt: skip


# ---------------------------------------------------------------------------------------------- fills
def parse_fill(obj: Any, *, venue: str = VENUE) -> Fill:
    """Parse a GRVT ``Fill`` (``fill_history`` element or ``v1.fill`` payload; full or lite; A2.8, A4.5).

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


# ---------------------------------------------------------------------------------------------- positions
def parse_position(obj: Any, *, venue: str = VENUE) -> PositionUpdate:
    """Parse a GRVT ``Positions`` object (``positions`` element or ``v1.position`` payload; A2.7).

    Mapping: ``instrument`` -> symbol; ``size`` (signed, negative = short); ``entry_price`` (None when
    flat or 0); ``realized_pnl``; ``event_time`` -> ``PositionUpdate.ts_ns``. Other fields (some are
    floats or lower-case enums in the doc examples) are not read.

    Raises:
        GrvtProtocolError: missing or malformed fields, a negative entry price.
    """
    r = _Reader(obj, _F_POSITION, "position", venue)
    symbol = r.string("instrument")
    r.path = f"position[{symbol}]"
    size = r.decimal("size")
    entry = r.size("entry_price")  # >= 0; "0.0" when flat
    realized = r.decimal("realized_pnl")
    ts = r.uint("event_time", maximum=INT64_MAX)
    position = Position(
        venue=venue,
        symbol=symbol,
        size=size,
        entry_price=entry if size != ZERO and entry > ZERO else None,
        realized_pnl=realized,
    )
    return PositionUpdate(position, ts)


def parse_positions(result: Any, *, venue: str = VENUE) -> list[Position]:
    """Parse the ``result`` array of ``positions`` (empty when flat everywhere, A2.7).

    Raises:
        GrvtProtocolError: not an array, or a malformed element.
    """
    if not isinstance(result, list):
        raise GrvtProtocolError(f"positions: expected an array, got {type(result).__name__}", venue=venue)
    return [parse_position(p, venue=venue).position for p in result]


def format_position(
    position: Position, *, sub_account_id: str, event_time_ns: int, mark_price: Decimal | None = None
) -> dict[str, Any]:
    """The full-name ``Positions`` JSON object (server side); pnl fields other than ``realized_pnl`` are
    computed from ``mark_price`` when given, else sent as ``"0.0"``."""
    entry = position.entry_price or ZERO
    mark = mark_price if mark_price is not None else entry
    unrealized = (mark - entry) * position.size if position.entry_price is not None else ZERO
    return {
        "event_time": str(event_time_ns),
        "sub_account_id": sub_account_id,
        "instrument": position.symbol,
        "size": format_decimal(position.size),
        "notional": format_decimal(mark * position.size),
        "entry_price": format_decimal(entry),
        "exit_price": "0.0",
        "mark_price": format_decimal(mark),
        "unrealized_pnl": format_decimal(unrealized),
        "realized_pnl": format_decimal(position.realized_pnl),
        "total_pnl": format_decimal(unrealized + position.realized_pnl),
        "roi": "0.0",
        "quote_index_price": "1.0",
        "est_liquidation_price": "0.0",
        "leverage": "10.0",
        "cumulative_fee": "0.0",
        "cumulative_realized_funding_payment": "0.0",
        "margin_type": "CROSS",
    }


# ---------------------------------------------------------------------------------------------- REST envelope & errors
@dataclass(frozen=True, slots=True)
class _Code:
    http_status: int
    message: str
    error: type[VenueError]


_CODES: Final[Mapping[int, _Code]] = {
    # auth / access (apispec on_request_errors; A5 table)
    1000: _Code(401, "You need to authenticate prior to using this functionality", AuthError),
    1001: _Code(403, "You are not authorized to access this functionality", AuthError),
    1002: _Code(500, "Internal Server Error", UnknownOutcome),
    1003: _Code(400, "Request could not be processed due to malformed syntax", InvalidOrder),
    1004: _Code(404, "Data Not Found", OrderNotFound),
    1005: _Code(500, "Unknown Error", UnknownOutcome),
    1006: _Code(429, "You have surpassed the allocated rate limit for your tier", RateLimited),
    1008: _Code(401, "Your IP has not been whitelisted for access", AuthError),
    1009: _Code(503, "We are temporarily deactivating this API endpoint, please try again later", VenueUnavailable),
    1012: _Code(400, "Invalid signature chain ID", AuthError),
    1400: _Code(403, "Signer does not have trade permission", AuthError),
    # signature
    2000: _Code(403, "Signature is from an unauthorized signer", AuthError),
    2001: _Code(403, "Signature has expired", AuthError),
    2002: _Code(403, "Signature does not match payload", AuthError),
    2003: _Code(403, "Order sub account does not match logged in user", AuthError),
    2004: _Code(403, "Signature is from an expired session key", AuthError),
    2005: _Code(403, "Signature V must be 27/28", AuthError),
    2006: _Code(403, "Signature R/S must have exactly 64 characters long without 0x prefix", AuthError),
    2007: _Code(403, "Signature S must be in the lower half of the curve", AuthError),
    2008: _Code(403, "Signature exceeds maximum allowed duration.", AuthError),
    # order validation
    2010: _Code(400, "Order ID should be empty when creating an order", InvalidOrder),
    2011: _Code(400, "Client Order ID should be supplied when creating an order", InvalidOrder),
    2012: _Code(400, "Client Order ID overlaps with existing active order", DuplicateClientOrderId),
    2020: _Code(400, "Market Order must always be supplied without a limit price", InvalidOrder),
    2021: _Code(400, "Limit Order must always be supplied with a limit price", InvalidOrder),
    2030: _Code(400, "Orderbook Orders must have a TimeInForce of GTT/IOC/FOK", InvalidOrder),
    2031: _Code(400, "RFQ Orders must have a TimeInForce of GTT/AON/IOC/FOK", InvalidOrder),
    2032: _Code(400, "Post Only can only be set to true for GTT/AON orders", InvalidOrder),
    2040: _Code(400, "Order must contain at least one leg", InvalidOrder),
    2041: _Code(400, "Order Legs must be sorted by Derivative.Instrument/Underlying/BaseCurrency/Expiration/StrikePrice", InvalidOrder),  # noqa: E501
    2042: _Code(400, "Orderbook Orders must contain only one leg", InvalidOrder),
    2050: _Code(400, "Order state must be empty upon creation", InvalidOrder),
    2051: _Code(400, "Order execution metadata must be empty upon creation", InvalidOrder),
    2060: _Code(400, "Order Legs contain one or more inactive derivative", InvalidOrder),
    2061: _Code(400, "Unsupported Instrument Requested", InvalidOrder),
    2062: _Code(400, "Order size smaller than min size", InvalidOrder),
    2063: _Code(400, "Order size smaller than min block size in block trade venue", InvalidOrder),
    2064: _Code(400, "Invalid limit price tick", InvalidOrder),
    2065: _Code(400, "Order size too granular", InvalidOrder),
    2066: _Code(400, "Order below minimum notional. Please try again with a higher price or size.", InvalidOrder),
    2067: _Code(400, "Order below minimum notional. Please try reducing your position again with a higher price or size.", InvalidOrder),  # noqa: E501
    2070: _Code(400, "Liquidation Order is not supported", InvalidOrder),
    2080: _Code(400, "Insufficient margin to create order", InsufficientMargin),
    2081: _Code(400, "Order Fill would result in exceeding maximum position size", OrderRejected),
    2082: _Code(400, "Pre-order check failed", OrderRejected),
    2083: _Code(400, "Order Fill would result in exceeding maximum position size under current configurable leverage tier", OrderRejected),  # noqa: E501
    2084: _Code(400, "Post-order check failed", OrderRejected),
    2090: _Code(429, "Max open orders exceeded", RateLimited),
    2110: _Code(400, "Invalid trigger by", InvalidOrder),
    2111: _Code(400, "Unsupported trigger by", InvalidOrder),
    2112: _Code(400, "Invalid trigger order", InvalidOrder),
    2113: _Code(400, "Trigger price must be non-zero", InvalidOrder),
    2300: _Code(400, "Order cancel time-to-live settings currently disabled.", InvalidOrder),
    2301: _Code(400, "Order cancel time-to-live exceeds maximum allowed value.", InvalidOrder),
    2400: _Code(400, "Reduce only order with no position", InvalidOrder),
    2401: _Code(400, "Reduce only order must not increase position size", InvalidOrder),
    2402: _Code(400, "Reduce only order size exceeds maximum allowed value", InvalidOrder),
    2450: _Code(400, "Spot order is not supported", InvalidOrder),
    # market data / streams
    3000: _Code(400, "Instrument is invalid", InvalidOrder),
    3004: _Code(500, "Instrument does not have a valid maintenance margin configuration", UnknownOutcome),
    3020: _Code(400, "Sub account ID must be an uint64 integer", InvalidOrder),
    3021: _Code(400, "Either order ID or client order ID must be supplied", InvalidOrder),
    3030: _Code(400, "Feed rate is invalid", InvalidOrder),
    3031: _Code(400, "Depth is invalid", InvalidOrder),
    1101: _Code(400, "Feed Format must be in the format of <primary>@<secondary>", InvalidOrder),
    1102: _Code(400, "Wrong number of primary selectors", InvalidOrder),
    1103: _Code(400, "Wrong number of secondary selectors", InvalidOrder),
    6000: _Code(400, "Countdown time is bigger than 300s supported", InvalidOrder),
    7201: _Code(400, "Attempted to create a limit order at a price outside of asset's price protection band.", OrderRejected),  # noqa: E501
    7304: _Code(400, "Only position-reducing orders (`reduce_only` as true) allowed for this asset right now.", OrderRejected),  # noqa: E501
}  # fmt: skip
"""GRVT error codes a hedge bot meets: (HTTP status, venue message, our error class).

Messages and statuses from apispec.json ``on_request_errors`` / ``on_subscribe_errors`` (7201's message from
ccxt 4.5.90 ``grvt.py`` exceptions map). Class choices: request/format faults of ours (1003, 3xxx, 11xx,
2300/2301) are InvalidOrder ("a rule was broken: do not retry, halt the market"); 2081-2084, 7201, 7304 are
definitive refusals without a rule of ours broken (OrderRejected); 2090 "Max open orders exceeded" is sent
with HTTP 429 and is RateLimited (ccxt maps it to RateLimitExceeded too); 1002/1005/3004 are HTTP 500 and,
like any 5xx, UnknownOutcome; 1009 (HTTP 503, endpoint temporarily disabled) is VenueUnavailable.
"""

KNOWN_ERROR_CODES: Final = frozenset(_CODES)


def _class_for_status(http_status: int | None) -> type[VenueError]:
    if http_status is None:
        return VenueError
    if http_status == 429:
        return RateLimited
    if http_status in (401, 403):
        return AuthError
    if http_status == 404:
        return OrderNotFound
    if http_status >= 500:
        return UnknownOutcome
    if 400 <= http_status < 500:
        return OrderRejected
    return VenueError


def error_from_code(
    code: int,
    message: str = "",
    *,
    http_status: int | None = None,
    venue: str = VENUE,
    retry_after_s: float | None = None,
) -> VenueError:
    """The typed error for a GRVT error ``code`` (REST body, JSON-RPC ``error`` or legacy WS error).

    Known codes use the table above (see ``KNOWN_ERROR_CODES``). An unknown code falls back on the HTTP
    status: 429 RateLimited, 401/403 AuthError, 404 OrderNotFound, 5xx UnknownOutcome, other 4xx
    OrderRejected, none VenueError. ``.code`` is ``str(code)``; ``.message`` the venue's message (or the
    table's when empty).

    Args:
        code: the venue's numeric code.
        message: the venue's message.
        http_status: the HTTP status (or the body's ``status``), when there is one.
        venue: configured venue name.
        retry_after_s: for RateLimited, the server's ``Retry-After`` if any.

    Returns:
        VenueError: not raised; the caller raises it.
    """
    known = _CODES.get(code)
    cls = known.error if known else _class_for_status(http_status)
    text = message or (known.message if known else "error")
    if cls is RateLimited:
        return RateLimited(venue, text, code=str(code), retry_after_s=retry_after_s)
    return cls(venue, text, code=str(code))


def error_from_http_status(
    http_status: int, message: str = "", *, venue: str = VENUE, retry_after_s: float | None = None
) -> VenueError:
    """The typed error for a non-2xx HTTP answer without a GRVT error body (a proxy page, an empty body):
    the status classes of :func:`error_from_code`; ``code`` is ``"HTTP <status>"``."""
    cls = _class_for_status(http_status)
    code = f"HTTP {http_status}"
    text = message or f"HTTP status {http_status}"
    if cls is RateLimited:
        return RateLimited(venue, text, code=code, retry_after_s=retry_after_s)
    return cls(venue, text, code=code)


def _error_from_object(
    obj: dict[str, Any],
    names: Mapping[str, str],
    path: str,
    venue: str,
    *,
    http_status: int | None,
    retry_after_s: float | None,
) -> VenueError:
    r = _Reader(obj, names, path, venue)
    code = r.uint("code", maximum=2**32)
    message = r.get("message")
    text = message[:400] if isinstance(message, str) else ""
    status = r.get("status") if "status" in names else _MISSING
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        http_status = status
    return error_from_code(code, text, http_status=http_status, venue=venue, retry_after_s=retry_after_s)


def _is_error_body(obj: dict[str, Any]) -> bool:
    """A REST error body: ``{"code": …}`` (pysdk: ``if resp.get("code")``) or lite ``{"c": …}``."""
    if "result" in obj or "r" in obj:
        return False
    return bool(obj.get("code")) or ("code" not in obj and bool(obj.get("c")))


def unwrap_rest(
    obj: Any, *, http_status: int = 200, venue: str = VENUE, retry_after_s: float | None = None
) -> tuple[Any, str]:
    """Unwrap a decoded REST body (or the ``result`` of a JSON-RPC ``v1/<route>`` call, A4.6).

    Shapes (A2, A5): success ``{"result": <payload>}`` (+ ``"next": "<cursor>"`` for history routes);
    error ``{"code": 2080, "message": "…", "status": 400}`` (docs add ``request_id``; lite ``c/m/s/ri``).

    Args:
        obj: the decoded body.
        http_status: the HTTP status (200 for JSON-RPC results).
        venue: configured venue name.
        retry_after_s: ``Retry-After`` seconds, passed to RateLimited.

    Returns:
        (payload, next_cursor): ``next_cursor`` is ``""`` when absent.

    Raises:
        VenueError subclass: an error body (mapped by :func:`error_from_code`) or a non-2xx status
            without one (:func:`error_from_http_status`).
        GrvtProtocolError: a 2xx body that is neither.
    """
    if isinstance(obj, dict) and _is_error_body(obj):
        raise _error_from_object(
            obj, _F_REST_ERROR, "error", venue, http_status=http_status, retry_after_s=retry_after_s
        )
    if not 200 <= http_status < 300:
        raise error_from_http_status(http_status, venue=venue, retry_after_s=retry_after_s)
    r = _Reader(obj, _F_REST_ENVELOPE, "response", venue)
    payload = r.need("result")
    cursor = r.get("next")
    if cursor is _MISSING:
        cursor = ""
    elif not isinstance(cursor, str) or len(cursor) > 1024:
        raise r.err("next", f"expected a string cursor, got {_show(cursor)}")
    return payload, cursor


def parse_rest_response(
    body: bytes | str, *, http_status: int = 200, venue: str = VENUE, retry_after_s: float | None = None
) -> Any:
    """Decode a REST body and return its ``result`` payload (see :func:`unwrap_rest`).

    A 5xx whose body is not JSON, or is JSON but not the venue's error shape, raises UnknownOutcome
    (``code "HTTP 5xx"``); any other such non-2xx body raises the status class of
    :func:`error_from_http_status`.

    Raises:
        VenueError subclass, GrvtProtocolError: as :func:`unwrap_rest`.
    """
    return parse_rest_page(body, http_status=http_status, venue=venue, retry_after_s=retry_after_s)[0]


def parse_rest_page(
    body: bytes | str, *, http_status: int = 200, venue: str = VENUE, retry_after_s: float | None = None
) -> tuple[Any, str]:
    """Like :func:`parse_rest_response` but also returns the ``next`` cursor (``""`` when absent) of the
    paginated history routes (``fill_history``, ``order_history``, A2.8)."""
    try:
        obj = decode_json(body, venue=venue)
    except GrvtProtocolError:
        if not 200 <= http_status < 300:
            raise error_from_http_status(http_status, venue=venue, retry_after_s=retry_after_s) from None
        raise
    try:
        return unwrap_rest(obj, http_status=http_status, venue=venue, retry_after_s=retry_after_s)
    except GrvtProtocolError:
        # A non-2xx answer whose JSON is not the venue's error shape (a proxy or gateway in between): the
        # HTTP status is the only reliable signal; a 5xx stays an unknown outcome, never a protocol error.
        if not 200 <= http_status < 300:
            raise error_from_http_status(http_status, venue=venue, retry_after_s=retry_after_s) from None
        raise


def parse_ack(result: Any, *, venue: str = VENUE) -> bool:
    """Parse an ``Ack`` result (``cancel_order``, ``cancel_all_orders``, A2.5): ``{"ack": true}``; the doc
    examples send ``"true"``. ``True`` only means "received": the outcome arrives on the order streams.

    Raises:
        GrvtProtocolError: no boolean ``ack``.
    """
    return _Reader(result, _F_ACK, "ack", venue).boolean("ack")


def format_rest_result(payload: Any, *, next_cursor: str | None = None) -> dict[str, Any]:
    """``{"result": payload}`` (+ ``"next"``) as the venue answers a successful REST call (server side)."""
    out: dict[str, Any] = {"result": payload}
    if next_cursor is not None:
        out["next"] = next_cursor
    return out


def format_error_body(
    code: int, message: str | None = None, *, http_status: int | None = None
) -> tuple[int, dict[str, Any]]:
    """The venue's error answer for ``code`` (server side): ``(http_status, {"code","message","status"})``.

    Status and message default to the code table (unknown codes: 400, "error"). No ``request_id``:
    grvt-pysdk's ``GrvtError(**resp)`` would raise TypeError on it (A5 warning).
    """
    known = _CODES.get(code)
    status = http_status if http_status is not None else (known.http_status if known else 400)
    text = message if message is not None else (known.message if known else "error")
    return status, {"code": code, "message": text, "status": status}


# ---------------------------------------------------------------------------------------------- WebSocket JSON-RPC
@dataclass(frozen=True, slots=True)
class GrvtFeedMessage:
    """A stream notification (A4.4): ``{"stream","selector","sequence_number","feed","prev_sequence_number"}``.

    Attributes:
        stream (str): ``"v1.book.d"``…; selector (str): the subscribed selector, echoed verbatim.
        sequence_number (int), prev_sequence_number (int): uint64 (strings on the wire).
        feed (dict): the payload object, parsed further by the stream's parser.
    """

    stream: str
    selector: str
    sequence_number: int
    prev_sequence_number: int
    feed: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class GrvtRpcResponse:
    """A JSON-RPC response (A4.2, A4.6), a legacy subscribe response or a legacy error.

    Attributes:
        request_id (int | None): ``id`` (legacy: ``request_id``); None when absent.
        method (str): ``"subscribe"``, ``"v1/create_order"``… (``""`` when absent).
        result (Any): the ``result`` value; for ``v1/<route>`` calls the whole REST body (use
            :func:`unwrap_rest`); None on error.
        error (VenueError | None): the mapped error (:func:`error_from_code`), not raised.
    """

    request_id: int | None
    method: str
    result: Any = field(repr=False)
    error: VenueError | None = None

    def raise_for_error(self) -> None:
        """Raise :attr:`error` if there is one."""
        if self.error is not None:
            raise self.error


GrvtWsMessage = GrvtFeedMessage | GrvtRpcResponse


def parse_ws_message(data: bytes | str | dict[str, Any], *, venue: str = VENUE) -> GrvtWsMessage:
    """Parse one WebSocket text frame (or its decoded object) from ``/ws/full``, ``/ws/lite`` or ``/ws``.

    * a frame with ``feed`` (lite ``f``) is a :class:`GrvtFeedMessage`;
    * ``{"jsonrpc", "result" | "error", "id", "method"}`` (lite ``j/r/e/i/m``; ``"jsonrpc"`` may be ``""``
      as in pysdk's captured trading response, A4.6) is a :class:`GrvtRpcResponse`;
    * legacy ``{"request_id","stream","subs",…}`` is a response with that ``result``; legacy
      ``{"code","message","status"}`` is a response with ``error``.

    Raises:
        GrvtProtocolError: not JSON, not an object, or none of the shapes above.
    """
    obj = decode_json(data, venue=venue) if isinstance(data, bytes | str) else data
    if not isinstance(obj, dict):
        raise GrvtProtocolError(f"ws frame: expected an object, got {type(obj).__name__}", venue=venue)
    if "feed" in obj or ("f" in obj and "sn" in obj):
        r = _Reader(obj, _F_FEED, "feed_message", venue)
        feed = r.need("feed")
        if not isinstance(feed, dict):
            raise r.err("feed", f"expected an object, got {type(feed).__name__}")
        seq = r.uint("sequence_number")
        prev = r.uint("prev_sequence_number")
        return GrvtFeedMessage(r.string("stream"), r.string("selector"), seq, prev, feed)
    if any(k in obj for k in ("jsonrpc", "result", "error", "j", "r", "e")):
        r = _Reader(obj, _F_RPC_RESPONSE, "rpc_response", venue)
        rid = r.opt_uint("id", maximum=2**32 - 1)
        method = r.get("method")
        method = method[:64] if isinstance(method, str) else ""
        err_obj = r.get("error")
        if err_obj is not _MISSING:
            if not isinstance(err_obj, dict):
                raise r.err("error", f"expected an object, got {type(err_obj).__name__}")
            error = _error_from_object(
                err_obj, _F_RPC_ERROR, "rpc_response.error", venue, http_status=None, retry_after_s=None
            )
            return GrvtRpcResponse(rid, method, None, error)
        return GrvtRpcResponse(rid, method, r.need("result"), None)
    if "request_id" in obj and "stream" in obj:  # legacy subscribe response (A4.2)
        r = _Reader(obj, {"request_id": "request_id"}, "legacy_response", venue)
        return GrvtRpcResponse(r.uint("request_id", maximum=2**32 - 1), "subscribe", obj, None)
    if "code" in obj:  # legacy error
        error = _error_from_object(obj, _F_REST_ERROR, "legacy_error", venue, http_status=None, retry_after_s=None)
        return GrvtRpcResponse(None, "", None, error)
    raise GrvtProtocolError("ws frame: neither a feed message nor a JSON-RPC response", venue=venue)


@dataclass(frozen=True, slots=True)
class GrvtSubscribeResult:
    """A ``subscribe``/``unsubscribe`` result (A4.2; apispec ``WSSubscribeResult``).

    Attributes:
        stream (str); subs, unsubs (tuple[str, ...]): selectors.
        num_snapshots (tuple[int, ...]): snapshots to expect per ``subs`` entry.
        first_sequence_numbers (tuple[int, ...]): first sequence number to expect per ``subs`` entry.
        latest_sequence_numbers (tuple[int, ...]): most recent sequence number per entry (real captures;
            absent in doc examples).
    """

    stream: str
    subs: tuple[str, ...]
    unsubs: tuple[str, ...]
    num_snapshots: tuple[int, ...] = ()
    first_sequence_numbers: tuple[int, ...] = ()
    latest_sequence_numbers: tuple[int, ...] = ()

    def snapshot_seq(self, selector: str) -> int | None:
        """The sequence number a ``v1.book.d`` snapshot for ``selector`` stands at: the first delta to
        expect is ``first_sequence_number``, so ``first_sequence_number - 1`` (equal to
        ``latest_sequence_number`` in the real capture, A4.2); ``latest`` if only that is sent; None if
        ``selector`` is not in ``subs`` or neither is sent. [I: inferred from the WSSubscribeResult
        docstring and one capture.]"""
        try:
            i = self.subs.index(selector)
        except ValueError:
            return None
        if i < len(self.first_sequence_numbers) and self.first_sequence_numbers[i] > 0:
            return self.first_sequence_numbers[i] - 1
        if i < len(self.latest_sequence_numbers):
            return self.latest_sequence_numbers[i]
        return None


def parse_subscribe_result(result: Any, *, venue: str = VENUE) -> GrvtSubscribeResult:
    """Parse the ``result`` of a subscribe/unsubscribe response (full, lite or legacy). Sequence numbers
    may be strings (real) or ints (doc examples). An unsubscribe result has no ``subs``.

    Raises:
        GrvtProtocolError: missing ``stream``, non-array lists, non-string selectors, bad numbers.
    """
    r = _Reader(result, _F_SUBSCRIBE_RESULT, "subscribe_result", venue)

    def strings(name: str) -> tuple[str, ...]:
        items = r.array(name, required=False)
        if not all(isinstance(s, str) and 0 < len(s) <= MAX_ID_CHARS for s in items):
            raise r.err(name, "expected an array of selector strings")
        return tuple(items)

    def uints(name: str) -> tuple[int, ...]:
        return tuple(_uint(v, UINT64_MAX, r, name) for v in r.array(name, required=False))

    return GrvtSubscribeResult(
        stream=r.string("stream"),
        subs=strings("subs"),
        unsubs=strings("unsubs"),
        num_snapshots=uints("num_snapshots"),
        first_sequence_numbers=uints("first_sequence_number"),
        latest_sequence_numbers=uints("latest_sequence_number"),
    )


def build_rpc_request(method: str, params: Mapping[str, Any], request_id: int) -> bytes:
    """A full-name JSON-RPC 2.0 request: ``{"jsonrpc":"2.0","method":…,"params":…,"id":…}`` (A4.2, A4.6).

    Args:
        method: ``"subscribe"``, ``"unsubscribe"`` or ``"v1/<route>"`` (trading over WS).
        params: the params object (for ``v1/<route>`` the REST body).
        request_id: uint32 id echoed in the response.

    Raises:
        BadValue: an empty method or an id outside uint32.
    """
    if not isinstance(method, str) or not method:
        raise BadValue("JSON-RPC method must be a non-empty string")
    if isinstance(request_id, bool) or not isinstance(request_id, int) or not 0 <= request_id <= 2**32 - 1:
        raise BadValue(f"JSON-RPC id must be a uint32, not {request_id!r}")
    return encode_json({"jsonrpc": "2.0", "method": method, "params": dict(params), "id": request_id})


def build_subscribe(
    stream: str, selectors: Sequence[str], request_id: int, *, use_global_sequence_number: bool = False
) -> bytes:
    """A JSON-RPC subscribe request (A4.2): ``{"jsonrpc":"2.0","method":"subscribe","params":{"stream":
    "v1.book.d","selectors":["BTC_USDT_Perp@500"]},"id":3}``.

    Raises:
        BadValue: an empty stream or selector list, or a non-string selector.
    """
    return build_rpc_request("subscribe", _sub_params(stream, selectors, use_global_sequence_number), request_id)


def build_unsubscribe(stream: str, selectors: Sequence[str], request_id: int) -> bytes:
    """A JSON-RPC unsubscribe request (A4.2). Raises BadValue like :func:`build_subscribe`."""
    return build_rpc_request("unsubscribe", _sub_params(stream, selectors, False), request_id)


def _sub_params(stream: str, selectors: Sequence[str], use_global: bool) -> dict[str, Any]:
    if not isinstance(stream, str) or not stream.startswith("v1."):
        raise BadValue(f"GRVT stream names are 'v1.<name>', not {stream!r}")
    if isinstance(selectors, str) or not selectors or not all(isinstance(s, str) and s for s in selectors):
        raise BadValue("selectors must be a non-empty list of non-empty strings")
    params: dict[str, Any] = {"stream": stream, "selectors": list(selectors)}
    if use_global:
        params["use_global_sequence_number"] = True
    return params


def book_snapshot_selector(symbol: str, *, rate_ms: int = 500, depth: int = 10) -> str:
    """``v1.book.s`` selector ``{instrument}@{rate}-{depth}`` (A4.3). Raises BadValue for a rate not in
    {500, 1000} or a depth not in {10, 50, 100, 500}."""
    if rate_ms not in BOOK_SNAPSHOT_RATES_MS or depth not in BOOK_SNAPSHOT_DEPTHS:
        raise BadValue(f"book.s rate {rate_ms} / depth {depth} not offered by GRVT")
    return f"{symbol}@{rate_ms}-{depth}"


def book_delta_selector(symbol: str, *, rate_ms: int = 500) -> str:
    """``v1.book.d`` selector ``{instrument}@{rate}`` (A4.3). Raises BadValue for a rate not in
    {50, 100, 500, 1000}."""
    if rate_ms not in BOOK_DELTA_RATES_MS:
        raise BadValue(f"book.d rate {rate_ms} not offered by GRVT")
    return f"{symbol}@{rate_ms}"


def account_selector(sub_account_id: str, symbol: str | None = None) -> str:
    """Private stream selector (``v1.order``, ``v1.state``, ``v1.fill``, ``v1.position``):
    ``{sub_account_id}`` or ``{sub_account_id}-{instrument}`` (A4.3). Raises BadValue for a
    sub-account id that is not a uint64 string."""
    if not _is_uint64_str(sub_account_id):
        raise BadValue("sub_account_id must be a uint64 decimal string")
    return sub_account_id if symbol is None else f"{sub_account_id}-{symbol}"


def selector_symbol(selector: str) -> str | None:
    """The instrument named by a selector: ``"BTC_USDT_Perp@500-10"`` -> ``BTC_USDT_Perp``;
    ``"2147050003876484-BTC_USDT_Perp"`` -> ``BTC_USDT_Perp``; ``"2147050003876484"`` -> None."""
    primary = selector.split("@", 1)[0]
    head, sep, tail = primary.partition("-")
    if sep and head.isdigit():
        return tail or None
    return None if primary.isdigit() or not primary else primary


def parse_private_event(msg: GrvtFeedMessage, *, venue: str = VENUE) -> VenueEvent:
    """The domain event in a private feed message (A4.5): ``v1.order`` -> OrderUpdate, ``v1.fill`` -> Fill,
    ``v1.position`` -> PositionUpdate. ``v1.state`` has no instrument: use :func:`parse_order_state_feed`.

    Raises:
        GrvtProtocolError: another stream, or a malformed payload.
    """
    if msg.stream == STREAM_ORDER:
        return parse_order(msg.feed, venue=venue).to_update(venue=venue)
    if msg.stream == STREAM_FILL:
        return parse_fill(msg.feed, venue=venue)
    if msg.stream == STREAM_POSITION:
        return parse_position(msg.feed, venue=venue)
    raise GrvtProtocolError(f"not a private order/fill/position stream: {_show(msg.stream)}", venue=venue)


@dataclass(frozen=True, slots=True)
class GrvtRpcRequest:
    """A JSON-RPC request as a server receives it (full or lite names). ``params`` is the raw object."""

    request_id: int | None
    method: str
    params: dict[str, Any] = field(repr=False)


def parse_rpc_request(data: bytes | str | dict[str, Any], *, venue: str = VENUE) -> GrvtRpcRequest:
    """Parse a JSON-RPC request frame (server side; A4.2, A4.6).

    Raises:
        GrvtProtocolError: not JSON, or no string ``method`` / object ``params``.
    """
    obj = decode_json(data, venue=venue) if isinstance(data, bytes | str) else data
    r = _Reader(obj, _F_RPC_REQUEST, "rpc_request", venue)
    params = r.need("params")
    if not isinstance(params, dict):
        raise r.err("params", f"expected an object, got {type(params).__name__}")
    method = r.string("method")
    return GrvtRpcRequest(r.opt_uint("id", maximum=2**32 - 1), method, params)


def parse_subscribe_params(params: Any, *, venue: str = VENUE) -> tuple[str, tuple[str, ...], bool]:
    """``(stream, selectors, use_global_sequence_number)`` from subscribe/unsubscribe ``params`` (server side).

    Raises:
        GrvtProtocolError: missing stream, selectors not a non-empty array of strings.
    """
    r = _Reader(params, _F_SUBSCRIBE_PARAMS, "params", venue)
    stream = r.string("stream")
    selectors = r.array("selectors")
    if not selectors or not all(isinstance(s, str) and 0 < len(s) <= MAX_ID_CHARS for s in selectors):
        raise r.err("selectors", "expected a non-empty array of selector strings")
    return stream, tuple(selectors), r.boolean("use_global_sequence_number", required=False)


def format_feed(
    stream: str, selector: str, sequence_number: int, prev_sequence_number: int, feed: Mapping[str, Any]
) -> dict[str, Any]:
    """A feed message (server side), sequence numbers as strings as the venue sends them (A4.4)."""
    return {
        "stream": stream,
        "selector": selector,
        "sequence_number": str(sequence_number),
        "feed": dict(feed),
        "prev_sequence_number": str(prev_sequence_number),
    }


def format_rpc_result(request_id: int | None, method: str, result: Any) -> dict[str, Any]:
    """A JSON-RPC success response (server side; apispec ``JSONRPCResponse``)."""
    out: dict[str, Any] = {"jsonrpc": "2.0", "result": result}
    if request_id is not None:
        out["id"] = request_id
    out["method"] = method
    return out


def format_rpc_error(request_id: int | None, method: str, code: int, message: str | None = None) -> dict[str, Any]:
    """A JSON-RPC error response ``{"jsonrpc":"2.0","error":{"code","message"},"id","method"}`` (A5 WS)."""
    known = _CODES.get(code)
    out: dict[str, Any] = {
        "jsonrpc": "2.0",
        "error": {"code": code, "message": message if message is not None else (known.message if known else "error")},
    }
    if request_id is not None:
        out["id"] = request_id
    out["method"] = method
    return out


def format_subscribe_result(
    stream: str,
    subs: Sequence[str],
    *,
    first_sequence_numbers: Sequence[int],
    latest_sequence_numbers: Sequence[int],
    num_snapshots: Sequence[int] | None = None,
    unsubs: Sequence[str] = (),
) -> dict[str, Any]:
    """A subscribe ``result`` as in the real capture (A4.2): sequence numbers as strings."""
    return {
        "stream": stream,
        "subs": list(subs),
        "unsubs": list(unsubs),
        "num_snapshots": list(num_snapshots) if num_snapshots is not None else [1] * len(subs),
        "first_sequence_number": [str(n) for n in first_sequence_numbers],
        "latest_sequence_number": [str(n) for n in latest_sequence_numbers],
    }


# ---------------------------------------------------------------------------------------------- login cookie
@dataclass(frozen=True, slots=True)
class GrvtCookie:
    """The ``gravity`` session cookie. ``value`` is a credential: it is left out of repr.

    Attributes:
        value (str): the opaque cookie value.
        expires_s (int): expiry, unix seconds (UTC).
    """

    value: str = field(repr=False)
    expires_s: int

    @property
    def header(self) -> str:
        """The ``Cookie`` request header value: ``gravity=<value>`` (A1)."""
        return f"{COOKIE_NAME}={self.value}"

    def should_refresh(self, now_s: float, margin_s: float = 60.0) -> bool:
        """True when fewer than ``margin_s`` seconds of validity remain (pysdk refreshes at 5 s, A1)."""
        return self.expires_s - now_s < margin_s


_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EXPIRES_RE: Final = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)
_COOKIE_VALUE_RE: Final = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~:/?=@{}()<>]+")


def _expires_to_s(text: str) -> int | None:
    m = _EXPIRES_RE.fullmatch(text.strip())
    if m is None:
        return None
    day, mon, year, hh, mm, ss = m.groups()
    parts = (int(year), _MONTHS.index(mon) + 1, int(day), int(hh), int(mm), int(ss))
    if not (1 <= parts[2] <= 31 and parts[3] <= 23 and parts[4] <= 59 and parts[5] <= 60):
        return None
    try:
        datetime.date(parts[0], parts[1], parts[2])
    except ValueError:
        return None
    return calendar.timegm((*parts, 0, 0, 0))


def parse_set_cookie(header: str, *, venue: str = VENUE) -> GrvtCookie:
    """Parse the login response's ``Set-Cookie`` header into the ``gravity`` cookie (wire-formats A1).

    As grvt-pysdk ``get_cookie_with_expiration`` does: ``SimpleCookie().load(header)``, take
    ``cookie["gravity"].value`` and its ``expires`` attribute in the format ``"%a, %d %b %Y %H:%M:%S %Z"``
    (``"Sat, 22 Nov 2025 13:50:00 GMT"``). Differences, both on the safe side: the date is read as UTC
    (pysdk's naive ``datetime.timestamp()`` reads it in the host's local zone), and only the ``GMT``
    zone and English day/month names are accepted, independent of the locale (SimpleCookie itself only
    keeps an unquoted ``expires`` date that ends in ``GMT``).

    Returns:
        GrvtCookie: value and ``expires_s``.

    Raises:
        GrvtProtocolError: no ``gravity`` cookie, no or unparseable ``expires``. The message never
            contains the header (it holds the credential).
    """
    if not isinstance(header, str):
        raise GrvtProtocolError("Set-Cookie: expected a string header", venue=venue)
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        raise GrvtProtocolError("Set-Cookie: header could not be parsed", venue=venue) from None
    morsel = jar.get(COOKIE_NAME)
    if morsel is None or not morsel.value:
        raise GrvtProtocolError(f"Set-Cookie: no {COOKIE_NAME!r} cookie", venue=venue)
    expires = morsel["expires"]
    if not isinstance(expires, str) or not expires:
        raise GrvtProtocolError(f"Set-Cookie: {COOKIE_NAME!r} has no expires attribute", venue=venue)
    expires_s = _expires_to_s(expires)
    if expires_s is None:
        raise GrvtProtocolError(f"Set-Cookie: expires is not in the {COOKIE_EXPIRES_FORMAT!r} format", venue=venue)
    return GrvtCookie(morsel.value, expires_s)


def format_set_cookie(
    value: str, expires_s: int, *, path: str = "/", secure: bool = True, http_only: bool = True
) -> str:
    """The ``Set-Cookie`` header value the login endpoint sends (server side; wire-formats A1, D1):
    ``gravity=<value>; Expires=Sat, 22 Nov 2025 13:50:00 GMT; Path=/; Secure; HttpOnly``. The date is in
    exactly the format grvt-pysdk's ``strptime`` accepts.

    Args:
        value: the opaque session token (cookie-safe characters only).
        expires_s: expiry, unix seconds (UTC).
        path, secure, http_only: cookie attributes (a loopback simulator over plain HTTP may drop Secure).

    Raises:
        BadValue: an empty value or one with characters a cookie cannot carry unquoted (the text of the
            error does not include the value), or a negative ``expires_s``.
    """
    if not isinstance(value, str) or not _COOKIE_VALUE_RE.fullmatch(value):
        raise BadValue("cookie value must be non-empty and use cookie-safe characters")
    if isinstance(expires_s, bool) or not isinstance(expires_s, int) or not 0 <= expires_s < 253402300800:
        raise BadValue(f"expires_s must be unix seconds before year 10000, not {expires_s!r}")
    parts = [f"{COOKIE_NAME}={value}", f"Expires={formatdate(expires_s, usegmt=True)}", f"Path={path}"]
    if secure:
        parts.append("Secure")
    if http_only:
        parts.append("HttpOnly")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------- client order ids
class ClientOrderIdGenerator:
    """Unique GRVT client order ids: decimal strings in [2^63, 2^64-1], the range GRVT reserves for API
    clients (wire-formats A3.3; pysdk's default uint32 ids and the UI use the lower half).

    A counter that starts at a random point of the range (``secrets``) and adds 1 per id, wrapping from
    2^64-1 back to 2^63. One generator never repeats an id within 2^63 calls; two sessions (restarts)
    collide only if their runs overlap, which for n ids per session has probability about
    ``2 * n / 2^63`` (negligible). Thread-safe; ``next_id`` is O(1).

    Args:
        start: the first id (for tests and replay); random when None.

    Raises:
        BadValue: ``start`` outside [2^63, 2^64-1].
    """

    __slots__ = ("_counter", "_lock")

    def __init__(self, start: int | None = None) -> None:
        span = CLIENT_ORDER_ID_MAX - CLIENT_ORDER_ID_MIN + 1
        if start is None:
            offset = secrets.randbelow(span)
        elif (
            isinstance(start, bool)
            or not isinstance(start, int)
            or not (CLIENT_ORDER_ID_MIN <= start <= CLIENT_ORDER_ID_MAX)
        ):
            raise BadValue(f"client order id start must be in [2^63, 2^64-1], not {start!r}")
        else:
            offset = start - CLIENT_ORDER_ID_MIN
        self._counter = itertools.count(offset)
        self._lock = threading.Lock()

    def next_id(self) -> str:
        """The next id, as a decimal string."""
        with self._lock:
            n = next(self._counter)
        return str(CLIENT_ORDER_ID_MIN + n % (CLIENT_ORDER_ID_MAX - CLIENT_ORDER_ID_MIN + 1))

    __call__ = next_id


def is_api_client_order_id(value: object) -> bool:
    """True when ``value`` is a decimal string in [2^63, 2^64-1] without leading zeros."""
    return (
        isinstance(value, str)
        and _is_uint64_str(value)
        and not (len(value) > 1 and value[0] == "0")
        and int(value) >= CLIENT_ORDER_ID_MIN
    )

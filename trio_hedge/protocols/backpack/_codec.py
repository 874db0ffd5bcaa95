"""Backpack codec basics shared by every message family: constants, :class:`BackpackProtocolError`, JSON
decode/encode, the field readers, timestamps, symbols, decimal text, and the wire enums (sides, order
statuses, event types).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, DecimalException
from typing import Final, TypeVar

import orjson

from ...domain import (
    BadValue,
    OrderStatus,
    Side,
    VenueError,
)

VENUE: Final = "backpack"

UINT32_MAX: Final = 2**32 - 1
_T = TypeVar("_T")
_MAX_EXPONENT: Final = 30  # |adjusted exponent| beyond this is no price, size or step any market uses
_INT64_MAX: Final = 2**63 - 1

POST_ONLY_WOULD_CROSS: Final = "post_only_would_cross"
"""Our reason text for a post-only order the venue expired because it would have taken liquidity."""


class BackpackProtocolError(VenueError):
    """A Backpack message that does not have the documented shape: not JSON, a missing key, a wrong JSON type,
    or an unknown enum value. ``code`` is ``"PROTOCOL"`` unless the caller gives the venue's own code."""


class _Malformed(Exception):
    """Internal: raised by the field helpers, turned into :class:`BackpackProtocolError` at the public edge."""


class _protocol:  # lower case, as contextlib.suppress: it reads as a statement
    """``with _protocol(venue, what):`` turns a :class:`_Malformed` (or a RecursionError) raised inside into a
    :class:`BackpackProtocolError` ``"<what>: <reason>"``. A class rather than a ``contextmanager`` generator:
    it is entered three times for every fill frame, and a generator costs about 1 us more each time."""

    __slots__ = ("venue", "what")

    def __init__(self, venue: str, what: str) -> None:
        self.venue = venue
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            return
        if issubclass(exc_type, _Malformed):
            raise BackpackProtocolError(self.venue, f"{self.what}: {exc}", code="PROTOCOL") from None
        if issubclass(exc_type, RecursionError):
            raise BackpackProtocolError(self.venue, f"{self.what}: nested too deeply", code="PROTOCOL") from None


# ============================================================================================== JSON + fields


def decode_json(raw: bytes | bytearray | memoryview | str, *, venue: str = VENUE) -> object:
    """Decode JSON text with orjson (strict: NaN, Infinity and lone surrogates are refused).

    Raises:
        BackpackProtocolError: not JSON, or not bytes/str.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview, str)):
        raise BackpackProtocolError(venue, f"expected JSON text, got {type(raw).__name__}", code="PROTOCOL")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BackpackProtocolError(venue, f"invalid JSON: {str(exc)[:120]}", code="PROTOCOL") from None


def encode_json(value: object) -> bytes:
    """Compact JSON bytes for a request body or WS frame (orjson; Decimals must already be strings)."""
    return orjson.dumps(value)


def _json(obj: object, venue: str) -> object:
    if isinstance(obj, (bytes, bytearray, memoryview, str)):
        return decode_json(obj, venue=venue)
    return obj


def _dict(v: object, what: str) -> Mapping[str, object]:
    if not isinstance(v, Mapping):
        raise _Malformed(f"{what} must be an object, got {type(v).__name__}")
    return v


def _list(v: object, what: str) -> Sequence[object]:
    if not isinstance(v, (list, tuple)):
        raise _Malformed(f"{what} must be an array, got {type(v).__name__}")
    return v


def _get(d: Mapping[str, object], key: str, what: str) -> object:
    v = d.get(key)
    if v is None:
        raise _Malformed(f"{what}: missing {key!r}")
    return v


def _opt(d: Mapping[str, object], key: str) -> object | None:
    return d.get(key)


def _str(v: object, what: str) -> str:
    if not isinstance(v, str) or not v:
        raise _Malformed(f"{what} must be a non-empty string, got {type(v).__name__}")
    return v


def _bool(v: object, what: str) -> bool:
    if not isinstance(v, bool):
        raise _Malformed(f"{what} must be a boolean, got {type(v).__name__}")
    return v


def _opt_bool(v: object, what: str) -> bool:
    return False if v is None else _bool(v, what)


def _int(v: object, what: str) -> int:
    """A non-negative int64 sent as a JSON number or a decimal-digit string."""
    if isinstance(v, bool):
        raise _Malformed(f"{what} must be an integer, got bool")
    if isinstance(v, int):
        n = v
    elif isinstance(v, str) and 0 < len(v) <= 19 and v.isascii() and v.isdigit():
        n = int(v)
    else:
        raise _Malformed(f"{what} must be a non-negative integer, got {type(v).__name__} {str(v)[:24]!r}")
    if not 0 <= n <= _INT64_MAX:
        raise _Malformed(f"{what} {n} out of int64 range")
    return n


def _id(v: object, what: str) -> str:
    """An identifier sent as a string or an integer (order ids, trade ids, client ids): its decimal text."""
    if isinstance(v, str) and v and len(v) <= 64 and v.isprintable():
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(_int(v, what))
    raise _Malformed(f"{what} must be an id (string or integer), got {type(v).__name__}")


def _opt_client_id(v: object, what: str) -> str:
    """Backpack ``clientId``: uint32, a number in the spec but a string in real captures (Backpack REST docs); "" when
    absent."""
    if v is None:
        return ""
    n = _int(v, what)
    if n > UINT32_MAX:
        raise _Malformed(f"{what} {n} is not a uint32")
    return str(n)


def _us_to_ns(v: object, what: str) -> int:
    return _int(v, what) * 1_000


def _ts_ns(d: Mapping[str, object], what: str) -> int:
    """WS engine time ``T`` (µs) if present, else event time ``E`` (µs), in ns; 0 if neither is sent."""
    t = d.get("T")
    if t is None:
        t = d.get("E")
    return 0 if t is None else _us_to_ns(t, f"{what}.T")


_ISO_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:Z|[+-]00:?00)?", re.ASCII
)


def iso_to_ns(text: object, *, what: str = "timestamp") -> int:
    """Parse Backpack's naive-UTC ISO time (``"2025-08-13T17:26:01.197"``, up to 9 fractional digits) to ns.

    Exact integer arithmetic (no float). Raises :class:`BadValue` for anything else.
    """
    m = _ISO_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise BadValue(f"{what}: {str(text)[:40]!r} is not an ISO-8601 UTC time")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h < 24 and mi < 60 and s < 60):
        raise BadValue(f"{what}: {m.group(0)[:40]!r} is not a valid date and time")
    seconds = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    return seconds * 1_000_000_000 + int(frac.ljust(9, "0") or "0")


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"SOL_USDC_PERP"`` -> ``("SOL", "USDC")``: Backpack symbols are ``BASE_QUOTE`` or ``BASE_QUOTE_PERP`` (Backpack
    docs).

    Raises:
        BadValue: fewer than two ``_``-separated parts.
    """
    parts = symbol.split("_") if isinstance(symbol, str) else []
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise BadValue(f"backpack symbol {str(symbol)[:40]!r} is not BASE_QUOTE[_PERP]")
    return parts[0], parts[1]


def decimal_text(value: Decimal) -> str:
    """A Decimal as a plain decimal string without exponent or trailing zeros (``Decimal("1E+2")`` -> ``"100"``).

    Raises:
        BadValue: not a finite Decimal.
    """
    if not isinstance(value, Decimal) or not value.is_finite():
        raise BadValue(f"{value!r} is not a finite Decimal")
    if value and not -_MAX_EXPONENT <= value.adjusted() <= _MAX_EXPONENT:
        raise BadValue(f"{value!r} is out of the range a price or size can have")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def decimal_places(step: Decimal) -> int:
    """Decimal places of a tick or lot size (``0.10`` -> 1, ``5`` -> 0): how many a book level of that market
    shows (:func:`fixed_text`)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def fixed_text(value: Decimal, places: int) -> str:
    """``value`` with at least ``places`` decimals, as the venue sends book levels (``"18.70"``, ``"0.000"``: the
    depth bodies and frames of ``tests/fixtures/backpack/captured.json``); more decimals are kept when the value
    has them (it is never rounded)."""
    v = value.normalize()
    exponent = v.as_tuple().exponent
    own = max(0, -exponent) if isinstance(exponent, int) else 0
    return format(v, f".{max(own, places)}f")


def iso_ms_text(ts_ns: int) -> str:
    """ns since the epoch -> Backpack's naive UTC ISO time with milliseconds, as in fill and order history
    (``"2025-08-13T17:26:01.197"``, ``tests/fixtures/backpack/captured.json``); the inverse of :func:`iso_to_ns`
    to the millisecond."""
    moment = datetime.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=datetime.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{(ts_ns // 1_000_000) % 1000:03d}"


def us_text(ts_ns: int) -> str:
    """ns -> the microsecond decimal string of WebSocket ``E``/``T`` (the newest captures send strings, the
    docs numbers; :func:`_ts_ns` reads both)."""
    return str(ts_ns // 1_000)


def _sane(value: Decimal, what: str) -> Decimal:
    if value and not -_MAX_EXPONENT <= value.adjusted() <= _MAX_EXPONENT:
        raise BadValue(f"{what}: {value} is out of range")
    return value


def _arith(fn: Callable[[], _T], what: str) -> _T:
    """Run Decimal arithmetic on venue numbers; overflow and friends become :class:`BadValue`."""
    try:
        return fn()
    except DecimalException as exc:
        raise BadValue(f"{what}: arithmetic failed ({type(exc).__name__})") from None


# ============================================================================================== enums

_SIDES: Final[Mapping[str, Side]] = {"Bid": Side.BUY, "Ask": Side.SELL}
_SIDE_TEXT: Final[Mapping[Side, str]] = {Side.BUY: "Bid", Side.SELL: "Ask"}

ORDER_STATUS: Final[Mapping[str, OrderStatus]] = {
    "New": OrderStatus.OPEN,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "Expired": OrderStatus.EXPIRED,
    # A trigger order accepted and waiting for its trigger is held by the venue and cancellable, so it is
    # OPEN for us (the state machine has no "accepted but not working"); a trigger that failed ended the
    # order without any execution: EXPIRED (allowed from PENDING and OPEN). We never send trigger orders.
    "TriggerPending": OrderStatus.OPEN,
    "TriggerFailed": OrderStatus.EXPIRED,
}
"""Backpack ``OrderStatus`` (OpenAPI enum, Backpack REST docs) -> our :class:`OrderStatus`. Anything else is refused."""

ORDER_EVENT_TYPES: Final = frozenset(
    {
        "orderAccepted",
        "orderCancelled",
        "orderExpired",
        "orderFill",
        "orderModified",
        "triggerPlaced",
        "triggerFailed",
    }
)
"""``account.orderUpdate`` ``e`` values (OpenAPI Streams "Order update", Backpack WS docs). The status always comes from
``X``; ``e`` says what happened (``orderFill`` also carries one execution)."""

POSITION_EVENT_TYPES: Final = frozenset({"positionOpened", "positionAdjusted", "positionClosed", "positionUpdated"})
"""``account.positionUpdate`` ``e`` values (OpenAPI Streams; ``positionUpdated`` from ccxt.pro). The snapshot
sent on subscribe has no ``e`` at all (OpenAPI Streams "Position update")."""

_ORDER_TYPES: Final = frozenset({"LIMIT", "MARKET"})  # case-insensitive: REST "Limit", WS updates "LIMIT"
_TIME_IN_FORCE: Final = frozenset({"GTC", "IOC", "FOK"})
SELF_TRADE_PREVENTION: Final = frozenset({"RejectTaker", "RejectMaker", "RejectBoth"})


def _side(v: object, what: str) -> Side:
    if isinstance(v, str) and v in _SIDES:
        return _SIDES[v]
    raise _Malformed(f"{what}: unknown side {str(v)[:20]!r} (expected Bid or Ask)")


def _status(v: object, what: str) -> OrderStatus:
    if isinstance(v, str) and v in ORDER_STATUS:
        return ORDER_STATUS[v]
    raise _Malformed(f"{what}: unknown order status {str(v)[:30]!r}")


def _check_order_type(v: object, what: str) -> None:
    if v is not None and not (isinstance(v, str) and v.upper() in _ORDER_TYPES):
        raise _Malformed(f"{what}: unknown order type {str(v)[:20]!r}")


def _check_tif(v: object, what: str) -> None:
    if v is not None and not (isinstance(v, str) and v in _TIME_IN_FORCE):
        raise _Malformed(f"{what}: unknown time in force {str(v)[:20]!r}")


def normalize_reason(raw: object, *, what: str = "reason") -> str:
    """An expiry reason in our words: ``PostOnlyTaker`` (REST enum) or ``POST_ONLY_TAKER`` (WS style) ->
    :data:`POST_ONLY_WOULD_CROSS`; any other reason verbatim; None -> ``""``.

    Raises:
        BackpackProtocolError: not a string.
    """
    with _protocol(VENUE, what):
        return _reason(raw, what)


def _reason(raw: object, what: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise _Malformed(f"{what} must be a string, got {type(raw).__name__}")
    if raw.replace("_", "").replace("-", "").lower() == "postonlytaker":
        return POST_ONLY_WOULD_CROSS
    return raw[:100]

"""Backpack Exchange wire codec: pure, synchronous parsers and builders between Backpack JSON and domain types.

Sources (cite these when changing anything here):
    * ``/work/shared/docs/wire-formats.md`` part B (B3 REST shapes and errors, B4 WebSocket), which cites the
      Backpack OpenAPI 1.0 document (``/work/shared/fixtures/backpack/openapi.json``; its ``Streams`` tag is the
      WebSocket documentation), backpack-exchange/bpx-api-client @dc5d8b1, and ccxt 4.5.90.
    * Real captured payloads: ``/work/shared/fixtures/backpack/backpack.response.EXCERPT.json`` (ccxt static
      fixtures), ``ccxt-4.5.90_*backpack.py.comment_examples.txt``, ``ws_order_update_examples.json``.

Rules every parser follows:
    * Input is raw JSON (``bytes``/``str``, decoded here with orjson, which refuses NaN/Infinity literals) or an
      already-decoded value. Decimals are parsed from their strings with the domain's strict parsers (a float
      is refused), so a bad number raises :class:`~trio_hedge.domain.BadValue`.
    * A missing key, a wrong JSON type, or an unknown enum raises :class:`BackpackProtocolError` (a
      :class:`~trio_hedge.venues.VenueError`). Nothing else escapes: no KeyError, TypeError or IndexError.
    * Integers that Backpack sends sometimes as numbers and sometimes as strings (``E``/``T`` timestamps,
      ``lastUpdateId``, ``clientId``, ``tradeId``, ids) are accepted in both forms (B3/B4 note both in captures).
    * Unknown extra keys are ignored (the venue adds fields over time).

Timestamps: WebSocket ``E`` (event) and ``T`` (engine) and REST depth ``timestamp`` are microseconds; REST order
``createdAt`` is ms (string) in ``/api/v1/order(s)`` and a naive UTC ISO string in history; fill history
``timestamp`` is a naive UTC ISO string (B3/B4). Every domain ``ts_ns`` is ns since the Unix epoch.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, DecimalException
from typing import Final, TypeVar, cast

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
    parse_price,
    parse_size,
    to_decimal,
)
from .._base import OrderReport
from .._errors import (
    AuthError,
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
from ._signing import DEFAULT_WINDOW_MS, BackpackSigner

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


@contextmanager
def _protocol(venue: str, what: str) -> Iterator[None]:
    try:
        yield
    except _Malformed as exc:
        raise BackpackProtocolError(venue, f"{what}: {exc}", code="PROTOCOL") from None
    except RecursionError:
        raise BackpackProtocolError(venue, f"{what}: nested too deeply", code="PROTOCOL") from None


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
    """Backpack ``clientId``: uint32, a number in the spec but a string in real captures (B3); "" when absent."""
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
    """``"SOL_USDC_PERP"`` -> ``("SOL", "USDC")``: Backpack symbols are ``BASE_QUOTE`` or ``BASE_QUOTE_PERP`` (B1).

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
"""Backpack ``OrderStatus`` (OpenAPI enum, B3) -> our :class:`OrderStatus`. Anything else is refused."""

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
"""``account.orderUpdate`` ``e`` values (OpenAPI Streams "Order update", B4). The status always comes from
``X``; ``e`` says what happened (``orderFill`` also carries one execution)."""

POSITION_EVENT_TYPES: Final = frozenset({"positionOpened", "positionAdjusted", "positionClosed", "positionUpdated"})
"""``account.positionUpdate`` ``e`` values (OpenAPI Streams; ``positionUpdated`` from ccxt.pro). The snapshot
sent on subscribe has no ``e`` at all (OpenAPI Streams "Position update")."""

_ORDER_TYPES: Final = frozenset({"LIMIT", "MARKET"})  # case-insensitive: REST "Limit", WS updates "LIMIT" (B4)
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


# ============================================================================================== markets


def parse_market(obj: object, *, venue: str = VENUE) -> Instrument:
    """One Backpack ``Market`` (``GET /api/v1/market(s)``, B3) -> :class:`Instrument`.

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


# ============================================================================================== depth


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """``GET /api/v1/depth`` parsed (B3).

    Attributes:
        bids (tuple[Level, ...]): best (highest) first. asks (tuple[Level, ...]): best (lowest) first.
        last_update_id (int): ``lastUpdateId`` (a string on the wire): the book's sequence number.
        ts_ns (int): matching-engine time (``timestamp``, µs on the wire), ns.
    """

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    last_update_id: int
    ts_ns: int


@dataclass(frozen=True, slots=True)
class DepthDelta:
    """One ``depth.<symbol>`` WebSocket message (B4): absolute sizes per level, size 0 removes the level.

    Continuity (OpenAPI Streams "Depth": "Updates are sequential ... the client should assume that the depth has
    been invalidated and requery the REST API"; B4): a delta continues the previous one iff
    ``first_update_id == previous last_update_id + 1``; after a REST snapshot, deltas with
    ``last_update_id <= lastUpdateId`` are stale (ccxt.pro ``handle_order_book``). :func:`apply_delta` hands
    exactly this to :meth:`OrderBook.apply_delta` as ``seq=u, first_seq=U`` (no ``prev_seq``).

    Attributes:
        symbol (str): ``s``. bids, asks (tuple[Level, ...]): ``b``/``a`` levels, best first.
        first_update_id (int): ``U``. last_update_id (int): ``u`` (``U <= u``).
        ts_ns (int): engine time ``T`` (µs on the wire), ns. event_ts_ns (int): ``E``, ns.
    """

    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    first_update_id: int
    last_update_id: int
    ts_ns: int
    event_ts_ns: int


def _levels(v: object, what: str, *, descending: bool) -> tuple[Level, ...]:
    out: list[Level] = []
    for pair in _list(v, what):
        p = _list(pair, f"{what} level")
        if len(p) != 2:
            raise _Malformed(f"{what}: a level must be [price, size], got {len(p)} items")
        out.append((parse_price(p[0], what=f"{what} price"), parse_size(p[1], what=f"{what} size")))
    out.sort(key=lambda lv: lv[0], reverse=descending)
    return tuple(out)


def parse_depth_snapshot(obj: object, *, venue: str = VENUE) -> DepthSnapshot:
    """``GET /api/v1/depth?symbol=`` body -> :class:`DepthSnapshot` (levels re-sorted best first, as ccxt does,
    because the spec does not fix the order; B3).

    Raises:
        BackpackProtocolError: missing ``bids``/``asks``/``lastUpdateId``, wrong types. BadValue: bad numbers.
    """
    with _protocol(venue, "depth snapshot"):
        d = _dict(_json(obj, venue), "depth")
        bids = _levels(_get(d, "bids", "depth"), "depth bids", descending=True)
        asks = _levels(_get(d, "asks", "depth"), "depth asks", descending=False)
        last_id = _int(_get(d, "lastUpdateId", "depth"), "depth.lastUpdateId")
        ts = d.get("timestamp")
        ts_ns = 0 if ts is None else _us_to_ns(ts, "depth.timestamp")
    return DepthSnapshot(bids, asks, last_id, ts_ns)


def parse_depth_delta(data: object, *, venue: str = VENUE) -> DepthDelta:
    """The ``data`` of a ``depth.<symbol>`` frame -> :class:`DepthDelta` (B4).

    Raises:
        BackpackProtocolError: ``e`` is not ``depth``, missing ``s``/``U``/``u``/``a``/``b``, ``U > u``.
        BadValue: bad prices or sizes.
    """
    raw = parse_depth_delta_raw(data, venue=venue)
    with _protocol(venue, "depth"):
        bids = _levels(raw.bids, f"{raw.symbol} bids", descending=True)
        asks = _levels(raw.asks, f"{raw.symbol} asks", descending=False)
    return DepthDelta(raw.symbol, bids, asks, raw.first_update_id, raw.last_update_id, raw.ts_ns, raw.event_ts_ns)


def apply_snapshot(book: OrderBook, snapshot: DepthSnapshot) -> None:
    """Load ``snapshot`` into ``book`` at sequence ``lastUpdateId``. Raises BookInvalid (crossed or bad)."""
    book.apply_snapshot(snapshot.bids, snapshot.asks, seq=snapshot.last_update_id, ts_ns=snapshot.ts_ns)


def apply_delta(book: OrderBook, delta: DepthDelta) -> bool:
    """Apply ``delta`` with Backpack's continuity rule (see :class:`DepthDelta`).

    Returns:
        bool: False if it was stale (``u <= book.seq``) and dropped.

    Raises:
        SequenceGap: ``U`` does not continue the book (re-query the REST snapshot). BookInvalid: see
        :meth:`OrderBook.apply_delta`.
    """
    return book.apply_delta(
        delta.bids, delta.asks, seq=delta.last_update_id, first_seq=delta.first_update_id, ts_ns=delta.ts_ns
    )


@dataclass(frozen=True, slots=True)
class RawDepthDelta:
    """One ``depth.<symbol>`` WebSocket message (B4) with its levels left as decoded: the fast path of the
    adapter's feed (:func:`parse_depth_delta_raw`, :func:`apply_delta_raw`).

    Every field but the levels is checked exactly as :func:`parse_depth_delta` checks it. ``bids``/``asks``
    are the ``b``/``a`` arrays as orjson returned them (:data:`~trio_hedge.domain.RawLevels`,
    ``[["18.67", "0.832"], ...]``, in wire order, not re-sorted); their values are parsed and checked by
    :meth:`OrderBook.apply_raw_delta` while it applies them (the same rules as :func:`parse_depth_delta`:
    :func:`~trio_hedge.domain.parse_price` / :func:`~trio_hedge.domain.parse_size`). Order does not matter
    to the book (it keeps its own sorted keys; for a price repeated in one message the last one wins, as the
    stable sort of :func:`parse_depth_delta` also keeps it).

    Attributes:
        symbol (str): ``s``. bids, asks (RawLevels): ``b``/``a``.
        first_update_id (int): ``U``. last_update_id (int): ``u`` (``U <= u``).
        ts_ns (int): engine time ``T`` (else ``E``; µs on the wire), ns. event_ts_ns (int): ``E``, ns.
    """

    symbol: str
    bids: RawLevels
    asks: RawLevels
    first_update_id: int
    last_update_id: int
    ts_ns: int
    event_ts_ns: int


def parse_depth_delta_raw(data: object, *, venue: str = VENUE) -> RawDepthDelta:
    """The ``data`` of a ``depth.<symbol>`` frame -> :class:`RawDepthDelta` (B4), level values unchecked.

    Raises:
        BackpackProtocolError: as :func:`parse_depth_delta` (``e`` is not ``depth``, missing
            ``s``/``U``/``u``/``a``/``b``, ``U > u``, ``a``/``b`` not arrays, bad timestamps). A bad level
            value is found later, by :func:`apply_delta_raw`.
    """
    with _protocol(venue, "depth"):
        d = _dict(_json(data, venue), "depth")
        if d.get("e", "depth") != "depth":
            raise _Malformed(f"event type {str(d.get('e'))[:20]!r} is not depth")
        symbol = _str(_get(d, "s", "depth"), "depth.s")
        first = _int(_get(d, "U", symbol), f"{symbol}.U")
        last = _int(_get(d, "u", symbol), f"{symbol}.u")
        if first > last:
            raise _Malformed(f"{symbol}: first update id {first} > last {last}")
        bids = d.get("b")
        if type(bids) is not list:
            bids = _list(_get(d, "b", symbol), f"{symbol} bids")
        asks = d.get("a")
        if type(asks) is not list:
            asks = _list(_get(d, "a", symbol), f"{symbol} asks")
        ts_ns = _ts_ns(d, symbol)
        e = d.get("E")
        event_ts_ns = 0 if e is None else _us_to_ns(e, f"{symbol}.E")
    return RawDepthDelta(symbol, cast(RawLevels, bids), cast(RawLevels, asks), first, last, ts_ns, event_ts_ns)


def check_depth_levels(delta: RawDepthDelta, *, venue: str = VENUE) -> None:
    """Check every level value of ``delta`` as :func:`parse_depth_delta` does (the slow path: for a delta the
    book dropped without looking at its values, or one for another symbol).

    Raises:
        BackpackProtocolError: a level that is not a ``[price, size]`` pair. BadValue: a bad price or size.
    """
    with _protocol(venue, "depth"):
        _levels(delta.bids, f"{delta.symbol} bids", descending=True)
        _levels(delta.asks, f"{delta.symbol} asks", descending=False)


def apply_delta_raw(book: OrderBook, delta: RawDepthDelta, *, venue: str = VENUE) -> bool:
    """Apply ``delta`` with Backpack's continuity rule (:class:`DepthDelta`) through the book's one-pass raw
    path (:meth:`OrderBook.apply_raw_delta` with ``seq=u, first_seq=U``): the result
    :func:`apply_delta` gives for ``parse_depth_delta`` of the same message, except that a bad level value
    surfaces here as :class:`BookInvalid` instead of a parse error.

    A stale delta (``u <= book.seq``) is dropped by the book before it looks at the values; its values are
    then checked here (:func:`check_depth_levels`) so that a bad one is refused exactly as before.

    Returns:
        bool: False if it was stale and dropped.

    Raises:
        SequenceGap: ``U`` does not continue the book (re-query the REST snapshot). BookInvalid: the book was
            invalid, a level is not a ``[price, size]`` pair, a price or size is bad (strict Decimal rules;
            also for a stale delta: the book is then invalidated), or the result is crossed. The book is left
            invalid.
    """
    if book.apply_raw_delta(
        delta.bids, delta.asks, seq=delta.last_update_id, first_seq=delta.first_update_id, ts_ns=delta.ts_ns
    ):
        return True
    try:
        check_depth_levels(delta, venue=venue)
    except (BackpackProtocolError, BadValue) as exc:
        text = exc.message if isinstance(exc, BackpackProtocolError) else str(exc)
        book.invalidate(f"bad delta value: {text[:200]}")
        raise BookInvalid(f"{book.symbol}: {book.invalid_reason}") from None
    return False


@dataclass(frozen=True, slots=True)
class BookTicker:
    """One ``bookTicker.<symbol>`` message (B4): the inside bid and ask.

    Attributes:
        symbol (str). bid (Level | None), ask (Level | None): (price, size); None if the side is not sent.
        update_id (int): ``u`` (number or string on the wire). ts_ns (int): engine time ``T``, ns.
    """

    symbol: str
    bid: Level | None
    ask: Level | None
    update_id: int
    ts_ns: int


def parse_book_ticker(data: object, *, venue: str = VENUE) -> BookTicker:
    """The ``data`` of a ``bookTicker.<symbol>`` frame -> :class:`BookTicker`.

    Raises:
        BackpackProtocolError: wrong shape, ``e`` not ``bookTicker``. BadValue: bad numbers or a crossed top
        (bid >= ask).
    """
    with _protocol(venue, "bookTicker"):
        d = _dict(_json(data, venue), "bookTicker")
        if d.get("e", "bookTicker") != "bookTicker":
            raise _Malformed(f"event type {str(d.get('e'))[:20]!r} is not bookTicker")
        symbol = _str(_get(d, "s", "bookTicker"), "bookTicker.s")
        bid = _top(d, "b", "B", symbol)
        ask = _top(d, "a", "A", symbol)
        update_id = _int(_get(d, "u", symbol), f"{symbol}.u")
        ts_ns = _ts_ns(d, symbol)
    if bid is not None and ask is not None and bid[0] >= ask[0]:
        raise BadValue(f"{symbol}: crossed bookTicker, bid {bid[0]} >= ask {ask[0]}")
    return BookTicker(symbol, bid, ask, update_id, ts_ns)


def _top(d: Mapping[str, object], price_key: str, size_key: str, symbol: str) -> Level | None:
    price, size = d.get(price_key), d.get(size_key)
    if price is None and size is None:
        return None
    if price is None or size is None:
        raise _Malformed(f"{symbol}: {price_key!r} and {size_key!r} must come together")
    return parse_price(price, what=f"{symbol} {price_key}"), parse_size(size, what=f"{symbol} {size_key}")


# ============================================================================================== orders


def parse_order(obj: object, *, venue: str = VENUE) -> OrderReport:
    """A REST ``Order`` (``POST/GET/DELETE /api/v1/order``, ``GET /api/v1/orders``, ``/wapi/v1/history/orders``;
    B3) -> :class:`OrderReport`.

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
    comes back (or is streamed) ``Expired`` with expiry reason ``PostOnlyTaker`` (B3, OpenAPI
    ``OrderExpiryReason``; exact REST form [I]). This turns that into :class:`PostOnlyWouldCross`.

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
    """The ``data`` of an ``account.orderUpdate[.<symbol>]`` frame -> :class:`OrderUpdate` (B4).

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


def parse_order_fill(data: object, *, venue: str = VENUE) -> Fill:
    """The execution carried by an ``orderFill`` order update -> :class:`Fill` (B4).

    Keys: ``t`` trade id, ``l`` fill quantity, ``L`` fill price, ``m`` maker?, ``n`` fee, ``N`` fee asset,
    ``S`` side, ``s``, ``c`` (``""`` if the order has no clientId, e.g. a liquidation order), ``T``/``E`` µs.
    The fee is converted to quote units (see :func:`fee_in_quote`).

    Raises:
        BackpackProtocolError: ``e`` is not ``orderFill``, missing keys, wrong types, a fee in another asset.
        BadValue: bad numbers (including a zero fill quantity).
    """
    with _protocol(venue, "orderFill"):
        d = _dict(_json(data, venue), "orderFill")
        if d.get("e") != "orderFill":
            raise _Malformed(f"event type {str(d.get('e'))[:30]!r} is not orderFill")
        symbol = _str(_get(d, "s", "orderFill"), "orderFill.s")
        trade_id = _id(_get(d, "t", symbol), f"{symbol} orderFill.t")
        what = f"{symbol} trade {trade_id}"
        side = _side(_get(d, "S", what), f"{what}.S")
        client_order_id = _opt_client_id(d.get("c"), f"{what}.c")
        price = parse_price(_get(d, "L", what), what=f"{what} L")
        size = _fill_size(_get(d, "l", what), what=f"{what} l")
        is_maker = _bool(_get(d, "m", what), f"{what}.m")
        fee = to_decimal(_get(d, "n", what), what=f"{what} n")
        fee_asset = _str(_get(d, "N", what), f"{what}.N")
        fee_quote = _fee_in_quote(fee, fee_asset, symbol, price)
        ts_ns = _ts_ns(d, what)
    return Fill(venue, symbol, client_order_id, trade_id, side, price, size, fee_quote, is_maker, ts_ns)


def parse_order_events(data: object, *, venue: str = VENUE) -> list[OrderUpdate | Fill]:
    """All domain events in one ``account.orderUpdate`` message: ``[Fill, OrderUpdate]`` for ``orderFill`` (the
    fill first, so the order's status follows its fills), ``[OrderUpdate]`` otherwise.

    Raises:
        BackpackProtocolError, BadValue: as :func:`parse_order_update` / :func:`parse_order_fill`.
    """
    data = _json(data, venue)
    update = parse_order_update(data, venue=venue)
    if isinstance(data, Mapping) and data.get("e") == "orderFill":
        return [parse_order_fill(data, venue=venue), update]
    return [update]


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
    base asset on spot buys (captures: ``"feeSymbol":"ETH"`` on an ``ETH_USDC`` Bid; B3/B4). A base-asset fee is
    converted at the fill price (``fee * price``).

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
    """One ``GET /wapi/v1/history/fills`` item -> :class:`Fill` (B3).

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


# ============================================================================================== positions


def _position(venue: str, symbol: str, qty: Decimal, entry_raw: object, pnl_raw: object, what: str) -> Position:
    entry = None
    if qty != ZERO and entry_raw is not None:
        entry = parse_price(entry_raw, what=f"{what} entry price")
    realized = ZERO if pnl_raw is None else to_decimal(pnl_raw, what=f"{what} realized pnl")
    return Position(venue=venue, symbol=symbol, size=qty, entry_price=entry, realized_pnl=realized)


def parse_position(obj: object, *, venue: str = VENUE) -> Position:
    """One ``GET /api/v1/position`` item (``FuturePositionWithMargin``, B3) -> :class:`Position`.

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
    """One ``account.positionUpdate`` payload -> :class:`PositionUpdate` (B4).

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
    array of them (the docs say "the current open positions"; the exact snapshot shape is [I]).

    Raises:
        BackpackProtocolError, BadValue: as :func:`parse_position_update`.
    """
    data = _json(data, venue)
    if isinstance(data, (list, tuple)):
        return [parse_position_update(item, venue=venue) for item in data]
    return [parse_position_update(data, venue=venue)]


def is_position_snapshot(data: object) -> bool:
    """True for a position payload without ``e`` (the snapshot sent on subscribe, B4); never raises."""
    if isinstance(data, Mapping):
        return "e" not in data
    return isinstance(data, (list, tuple))


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
    """Build the ``POST /api/v1/order`` body (instruction ``orderExecute``; B3, OpenAPI ``OrderExecutePayload``).

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
    "orderId": "<str>"}`` (B3). Raises BadValue unless exactly one reference is given."""
    key, value = _one_order_ref(client_id, order_id)
    return dict(sorted({key: value, "symbol": symbol}.items()))


def order_cancel_all_body(symbol: str) -> dict[str, object]:
    """``DELETE /api/v1/orders`` body (``orderCancelAll``): ``{"symbol": ...}`` (B3)."""
    return {"symbol": symbol}


def order_query_params(symbol: str, *, client_id: int | None = None, order_id: str | None = None) -> dict[str, str]:
    """``GET /api/v1/order`` query (``orderQuery``): symbol plus exactly one of clientId/orderId, as strings
    (both together are rejected by the venue; B3). Raises BadValue otherwise."""
    key, value = _one_order_ref(client_id, order_id)
    return dict(sorted({key: str(value), "symbol": symbol}.items()))


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


# ============================================================================================== WebSocket


@dataclass(frozen=True, slots=True)
class WsFrame:
    """A data frame ``{"stream": "<name>", "data": {...}}`` (B4). ``data`` is the decoded payload."""

    stream: str
    data: object

    @property
    def kind(self) -> str:
        """The stream kind: ``"depth"``, ``"bookTicker"``, ``"account.orderUpdate"``, ... (see :func:`stream_kind`)."""
        return stream_kind(self.stream)


@dataclass(frozen=True, slots=True)
class WsError:
    """An error frame ``{"id": null, "error": {"code": 4006, "message": "Invalid stream"}}`` (B4, ccxt.pro)."""

    code: str
    message: str

    def to_exception(self, *, venue: str = VENUE) -> VenueError:
        """AuthError if the message is about the signature/authorisation [I: no documented code list], else
        :class:`BackpackProtocolError`; the code is kept."""
        text = self.message.lower()
        if "signature" in text or "auth" in text or "expired" in text:
            return AuthError(venue, self.message, code=self.code)
        return BackpackProtocolError(venue, self.message, code=self.code)


def stream_kind(stream: str) -> str:
    """``"depth.200ms.SOL_USDC_PERP"`` -> ``"depth"``; ``"account.orderUpdate.X"`` -> ``"account.orderUpdate"``."""
    parts = stream.split(".")
    if parts[0] == "account" and len(parts) > 1:
        return f"account.{parts[1]}"
    return parts[0]


def parse_ws_frame(raw: object, *, venue: str = VENUE) -> WsFrame | WsError:
    """Parse one WebSocket text frame into a :class:`WsFrame` or a :class:`WsError`.

    Raises:
        BackpackProtocolError: not JSON, not an object, or neither ``stream``+``data`` nor ``error``.
    """
    with _protocol(venue, "ws frame"):
        d = _dict(_json(raw, venue), "ws frame")
        err = d.get("error")
        if err is not None:
            e = _dict(err, "ws error")
            code = e.get("code")
            message = e.get("message")
            code_text = str(code)[:40] if isinstance(code, (int, str)) and not isinstance(code, bool) else ""
            return WsError(code_text, message[:400] if isinstance(message, str) else "")
        stream = _str(_get(d, "stream", "ws frame"), "ws frame.stream")
        data = _get(d, "data", stream)
        if not isinstance(data, (Mapping, list)):
            raise _Malformed(f"{stream}: data must be an object or array, got {type(data).__name__}")
    return WsFrame(stream, data)


def _symbol_ok(symbol: str) -> str:
    if (
        not isinstance(symbol, str)
        or not symbol
        or not symbol.isascii()
        or not all(c.isalnum() or c in "_-" for c in symbol)
    ):
        raise BadValue(f"backpack symbol {str(symbol)[:40]!r} is not a valid stream symbol")
    return symbol


def depth_stream(symbol: str, *, aggregate_ms: int | None = None) -> str:
    """``depth.<symbol>`` (realtime) or ``depth.<200|600|1000>ms.<symbol>`` (aggregated) (B4). Raises BadValue."""
    if aggregate_ms is None:
        return f"depth.{_symbol_ok(symbol)}"
    if aggregate_ms not in (200, 600, 1000):
        raise BadValue(f"depth aggregation {aggregate_ms!r} ms is not one of 200, 600, 1000")
    return f"depth.{aggregate_ms}ms.{_symbol_ok(symbol)}"


def book_ticker_stream(symbol: str) -> str:
    """``bookTicker.<symbol>`` (B4)."""
    return f"bookTicker.{_symbol_ok(symbol)}"


def order_update_stream(symbol: str | None = None) -> str:
    """``account.orderUpdate`` (all markets) or ``account.orderUpdate.<symbol>`` (private; B4)."""
    return "account.orderUpdate" if symbol is None else f"account.orderUpdate.{_symbol_ok(symbol)}"


def position_update_stream(symbol: str | None = None) -> str:
    """``account.positionUpdate`` or ``account.positionUpdate.<symbol>`` (private; B4)."""
    return "account.positionUpdate" if symbol is None else f"account.positionUpdate.{_symbol_ok(symbol)}"


def is_private_stream(stream: str) -> bool:
    """Private streams start with ``account.`` and need a signed subscription (B4; bpx-api-client ws/mod.rs)."""
    return stream.startswith("account.")


def _streams(streams: Sequence[str]) -> list[str]:
    if isinstance(streams, str) or not isinstance(streams, Sequence) or not streams:
        raise BadValue("streams must be a non-empty list of stream names")
    out = []
    for s in streams:
        if not isinstance(s, str) or not s or not s.isprintable() or " " in s:
            raise BadValue(f"stream name {str(s)[:60]!r} is not valid")
        out.append(s)
    return out


def subscribe_message(streams: Sequence[str]) -> str:
    """``{"method":"SUBSCRIBE","params":[...]}`` for public streams (B4).

    Raises:
        BadValue: empty or invalid names, or a private (``account.``) stream: use :func:`private_subscribe_message`.
    """
    names = _streams(streams)
    if any(is_private_stream(s) for s in names):
        raise BadValue("private streams need private_subscribe_message (a signed SUBSCRIBE)")
    return encode_json({"method": "SUBSCRIBE", "params": names}).decode("utf-8")


def unsubscribe_message(streams: Sequence[str]) -> str:
    """``{"method":"UNSUBSCRIBE","params":[...]}`` (B4; no signature needed). Raises BadValue for bad names."""
    return encode_json({"method": "UNSUBSCRIBE", "params": _streams(streams)}).decode("utf-8")


def private_subscribe_message(
    streams: Sequence[str], signer: BackpackSigner, *, timestamp_ms: int, window_ms: int = DEFAULT_WINDOW_MS
) -> str:
    """A signed SUBSCRIBE: ``{"method":"SUBSCRIBE","params":[...],"signature":[key, sig, "<ts>", "<window>"]}``
    signing ``instruction=subscribe&timestamp=<ts>&window=<window>`` (B4; vectors
    ``backpack_signing_vectors.json`` ``ws_private_subscribe_message``).

    Raises:
        BadValue: bad stream names, timestamp or window.
    """
    names = _streams(streams)
    signature = signer.ws_subscribe_signature(timestamp_ms=timestamp_ms, window_ms=window_ms)
    return encode_json({"method": "SUBSCRIBE", "params": names, "signature": signature}).decode("utf-8")


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    """A client's SUBSCRIBE/UNSUBSCRIBE frame, parsed (server side, for the simulator).

    Attributes:
        method (str): ``"SUBSCRIBE"`` or ``"UNSUBSCRIBE"``. streams (tuple[str, ...]): the ``params``.
        signature (list[str] | None): the raw ``signature`` value, to check with
            :func:`~trio_hedge.venues.backpack.verify_ws_subscribe`; None if absent.
    """

    method: str
    streams: tuple[str, ...]
    signature: object | None


def parse_subscribe_message(raw: object, *, venue: str = VENUE) -> SubscribeRequest:
    """Parse a client's ``{"method","params"[,"signature"]}`` frame (B4).

    Raises:
        BackpackProtocolError: unknown method, ``params`` not a non-empty list of strings.
    """
    with _protocol(venue, "subscribe"):
        d = _dict(_json(raw, venue), "subscribe")
        method = d.get("method")
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            raise _Malformed(f"unknown method {str(method)[:20]!r}")
        params = _list(_get(d, "params", str(method)), "params")
        if not params or not all(isinstance(s, str) and s for s in params):
            raise _Malformed("params must be a non-empty list of stream names")
        return SubscribeRequest(str(method), tuple(str(s) for s in params), d.get("signature"))


# ============================================================================================== errors

_AUTH_CODES: Final = frozenset({"UNAUTHORIZED", "INVALID_SIGNATURE", "FORBIDDEN", "ACCOUNT_DEACTIVATED"})
_MARGIN_CODES: Final = frozenset({"INSUFFICIENT_MARGIN", "INSUFFICIENT_FUNDS", "MAX_LEVERAGE_REACHED"})
_UNAVAILABLE_CODES: Final = frozenset({"MAINTENANCE", "TRADING_PAUSED"})
_UNKNOWN_OUTCOME_CODES: Final = frozenset({"SERVER_ERROR", "TIMEOUT"})
_POST_ONLY_RE: Final = re.compile(r"immediately match|would (?:take|cross)|post[ _-]?only[ _-]?taker", re.IGNORECASE)


def parse_error_body(body: object) -> tuple[str, str] | None:
    """``{"code": "<ApiErrorCode>", "message": "..."}`` -> ``(code, message)``; None if the body is not that
    (plain-text errors exist, e.g. ``parse request payload error: ...``; B3). Never raises."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(body, Mapping):
        return None
    code, message = body.get("code"), body.get("message")
    if not isinstance(code, str) or not code:
        return None
    return code[:64], message if isinstance(message, str) else ""


def error_from_response(
    status: int, body: object, *, venue: str = VENUE, retry_after_s: float | None = None
) -> VenueError:
    """Map an HTTP error response to the typed :class:`VenueError` tree; the venue's code is kept in ``code``.

    Mapping (B3 "Error format", OpenAPI ``ApiErrorCode``, ccxt 4.5.90 ``backpack.exceptions``), first match wins:

    ====================================================================  ========================
    HTTP 429 or ``TOO_MANY_REQUESTS``                                     RateLimited
    HTTP 5xx, ``SERVER_ERROR``, ``TIMEOUT``                               UnknownOutcome
    ``UNAUTHORIZED``, ``INVALID_SIGNATURE``, ``FORBIDDEN``,
    ``ACCOUNT_DEACTIVATED``, HTTP 401/403                                 AuthError
    ``RESOURCE_NOT_FOUND`` (order query / cancel of an unknown order)     OrderNotFound
    message or code says a post-only order would take [I, no capture]    PostOnlyWouldCross
    ``INSUFFICIENT_MARGIN``, ``INSUFFICIENT_FUNDS``, ``MAX_LEVERAGE_...``  InsufficientMargin
    ``MAINTENANCE``, ``TRADING_PAUSED``                                   VenueUnavailable
    ``INVALID_ORDER`` and every other ``INVALID_*``                       InvalidOrder
    any other code on a 4xx                                               OrderRejected
    a non-JSON 400 body (payload parse error)                             InvalidOrder
    anything else                                                         BackpackProtocolError
    ====================================================================  ========================

    Args:
        status: the HTTP status code.
        body: the response body (bytes/str, or decoded).
        venue: configured venue name.
        retry_after_s: the ``Retry-After`` header in seconds, if any (kept on RateLimited).

    Returns:
        VenueError: the error to raise (this function never raises).
    """
    parsed = parse_error_body(body)
    if parsed is None:
        code, message = f"HTTP {status}", _body_text(body)
    else:
        code, message = parsed
    known = parsed is not None
    if status == 429 or code == "TOO_MANY_REQUESTS":
        return RateLimited(venue, message, code=code, retry_after_s=retry_after_s)
    if status >= 500 or code in _UNKNOWN_OUTCOME_CODES:
        return UnknownOutcome(venue, message, code=code)
    if code in _AUTH_CODES or status in (401, 403):
        return AuthError(venue, message, code=code)
    if code == "RESOURCE_NOT_FOUND":
        return OrderNotFound(venue, message, code=code)
    if known and (_POST_ONLY_RE.search(message) or "POST_ONLY" in code):
        return PostOnlyWouldCross(venue, message, code=code)
    if code in _MARGIN_CODES:
        return InsufficientMargin(venue, message, code=code)
    if code in _UNAVAILABLE_CODES:
        return VenueUnavailable(venue, message, code=code)
    if known and code.startswith("INVALID_"):
        return InvalidOrder(venue, message, code=code)
    if known and 400 <= status < 500:
        return OrderRejected(venue, message, code=code)
    if status == 400:
        return InvalidOrder(venue, message, code=code)
    return BackpackProtocolError(venue, f"unexpected HTTP {status}: {message}", code=code)


def _body_text(body: object) -> str:
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)[:300].decode("utf-8", "replace")
    if isinstance(body, str):
        return body[:300]
    return f"<{type(body).__name__} body>"

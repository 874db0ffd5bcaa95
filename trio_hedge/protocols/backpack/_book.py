"""Backpack order book, both directions: the ``GET /api/v1/depth`` snapshot, the ``depth.<symbol>`` stream
(``U``/``u`` sequencing) applied to the domain :class:`~trio_hedge.domain.OrderBook`, and the ``bookTicker``
stream (client side); the same three formatted from levels (server side).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.backpack`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast

from ...domain import (
    BadValue,
    BookInvalid,
    Level,
    OrderBook,
    RawLevels,
    parse_price,
    parse_size,
)
from ._codec import (
    VENUE,
    BackpackProtocolError,
    _dict,
    _get,
    _int,
    _json,
    _list,
    _Malformed,
    _protocol,
    _str,
    _ts_ns,
    _us_to_ns,
    fixed_text,
    us_text,
)

DEPTH_LIMITS: Final = frozenset({"5", "10", "20", "50", "100", "500", "1000"})
"""The ``limit`` values ``GET /api/v1/depth`` takes (OpenAPI ``DepthLimit``; Backpack REST docs)."""

DEPTH_LIMIT_DEFAULT: Final = 1_000
"""Levels per side of ``GET /api/v1/depth`` without ``limit`` (OpenAPI changelog 2025-11-10, Backpack REST docs)."""

# ============================================================================================== depth


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """``GET /api/v1/depth`` parsed (Backpack docs, Markets "Get depth"; body in
    ``tests/fixtures/backpack/captured.json``).

    Attributes:
        bids (tuple[Level, ...]): best (highest) first. asks (tuple[Level, ...]): best (lowest) first.
        last_update_id (int): ``lastUpdateId`` (a string on the wire): the book's sequence number.
        ts_ns (int): matching-engine time (``timestamp``, µs on the wire), ns.
    """

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    last_update_id: int
    ts_ns: int


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
    because the OpenAPI document does not fix the order).

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


def apply_snapshot(book: OrderBook, snapshot: DepthSnapshot) -> None:
    """Load ``snapshot`` into ``book`` at sequence ``lastUpdateId``. Raises BookInvalid (crossed or bad)."""
    book.apply_snapshot(snapshot.bids, snapshot.asks, seq=snapshot.last_update_id, ts_ns=snapshot.ts_ns)


@dataclass(frozen=True, slots=True)
class RawDepthDelta:
    """One ``depth.<symbol>`` WebSocket message (Backpack docs, Streams "Depth"; frames in
    ``tests/fixtures/backpack/captured.json``) with its levels left as decoded: absolute sizes per level, size 0
    removes the level (:func:`parse_depth_delta_raw`, :func:`apply_delta_raw`).

    Every field but the levels is checked by :func:`parse_depth_delta_raw`. ``bids``/``asks`` are the
    ``b``/``a`` arrays as orjson returned them (:data:`~trio_hedge.domain.RawLevels`,
    ``[["18.67", "0.832"], ...]``, in wire order, not re-sorted); their values are parsed and checked by
    :meth:`OrderBook.apply_raw_delta` while it applies them (:func:`~trio_hedge.domain.parse_price` /
    :func:`~trio_hedge.domain.parse_size`, the rules of the REST snapshot's :func:`parse_depth_snapshot`).
    Order does not matter to the book (it keeps its own sorted keys; for a price repeated in one message the
    last one wins).

    Continuity (the docs' Streams "Depth": "Updates are sequential ... the client should assume that the depth
    has been invalidated and requery the REST API"): a delta continues the previous one iff
    ``first_update_id == previous last_update_id + 1``; after a REST snapshot, deltas with
    ``last_update_id <= lastUpdateId`` are stale (ccxt.pro ``backpack.handle_order_book``).
    :func:`apply_delta_raw` hands exactly this to :meth:`OrderBook.apply_raw_delta` as ``seq=u, first_seq=U``
    (no ``prev_seq``).

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
    """The ``data`` of a ``depth.<symbol>`` frame -> :class:`RawDepthDelta`, level values unchecked.

    Raises:
        BackpackProtocolError: ``e`` is not ``depth``, missing ``s``/``U``/``u``/``a``/``b``, ``U > u``,
            ``a``/``b`` not arrays, bad timestamps. A bad level value is found later, by :func:`apply_delta_raw`.
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
    """Check every level value of ``delta`` as :func:`parse_depth_snapshot` checks a snapshot's (the slow path:
    for a delta the book dropped without looking at its values, or one for another symbol).

    Raises:
        BackpackProtocolError: a level that is not a ``[price, size]`` pair. BadValue: a bad price or size.
    """
    with _protocol(venue, "depth"):
        _levels(delta.bids, f"{delta.symbol} bids", descending=True)
        _levels(delta.asks, f"{delta.symbol} asks", descending=False)


def apply_delta_raw(book: OrderBook, delta: RawDepthDelta, *, venue: str = VENUE) -> bool:
    """Apply ``delta`` with Backpack's continuity rule (:class:`RawDepthDelta`) through the book's one-pass raw
    path (:meth:`OrderBook.apply_raw_delta` with ``seq=u, first_seq=U``); a bad level value surfaces as
    :class:`BookInvalid`.

    A stale delta (``u <= book.seq``) is dropped by the book before it looks at the values; its values are
    then checked here (:func:`check_depth_levels`) so that a bad one is refused all the same.

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
    """One ``bookTicker.<symbol>`` message (Backpack docs, Streams "Book ticker"): the inside bid and ask.

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


# ============================================================================================== server side


def _level_texts(levels: Iterable[Level], price_places: int, size_places: int) -> list[list[str]]:
    return [[fixed_text(p, price_places), fixed_text(s, size_places)] for p, s in levels]


def format_depth_snapshot(
    bids: Sequence[Level],
    asks: Sequence[Level],
    *,
    last_update_id: int,
    ts_ns: int,
    price_places: int,
    size_places: int,
) -> dict[str, object]:
    """The ``GET /api/v1/depth`` body (server side; Backpack REST docs): both sides ascending by price as the
    OpenAPI ``Depth`` example (clients re-sort), levels ``[price, size]`` strings with the market's decimal places
    (:func:`~trio_hedge.protocols.backpack.fixed_text`), ``lastUpdateId`` a string and ``timestamp`` µs as in
    ``tests/fixtures/backpack/captured.json`` ``depth``. Read back by :func:`parse_depth_snapshot`.

    Args:
        bids: best (highest) first. asks: best (lowest) first. last_update_id: the book's update id.
        ts_ns: the book's time, ns. price_places, size_places: decimal places of the tick and the lot.
    """
    return {
        "asks": _level_texts(asks, price_places, size_places),
        "bids": _level_texts(reversed(bids), price_places, size_places),
        "lastUpdateId": str(last_update_id),
        "timestamp": ts_ns // 1_000,
    }


def format_depth_update(
    symbol: str,
    *,
    bids: Iterable[Level],
    asks: Iterable[Level],
    first_update_id: int,
    last_update_id: int,
    event_ns: int,
    engine_ns: int,
    price_places: int,
    size_places: int,
) -> dict[str, object]:
    """The ``data`` of a ``depth.<symbol>`` frame (server side; Backpack WS docs, Streams "Depth"), keys as the
    captured frame (``tests/fixtures/backpack/captured.json`` ``depth``): ``a``/``b`` the changed levels in the
    order given (size 0 removes a level), ``U``/``u`` numbers, ``E``/``T`` µs strings. Read back by
    :func:`parse_depth_delta_raw`.

    Args:
        bids, asks: the changed levels (absolute sizes). first_update_id, last_update_id: ``U``, ``u``.
        event_ns, engine_ns: ``E`` and ``T``, ns. price_places, size_places: as :func:`format_depth_snapshot`.
    """
    return {
        "e": "depth",
        "E": us_text(event_ns),
        "s": symbol,
        "a": _level_texts(asks, price_places, size_places),
        "b": _level_texts(bids, price_places, size_places),
        "U": first_update_id,
        "u": last_update_id,
        "T": us_text(engine_ns),
    }


def format_book_ticker(
    symbol: str,
    *,
    bid: Level | None,
    ask: Level | None,
    update_id: int,
    event_ns: int,
    engine_ns: int,
    price_places: int,
    size_places: int,
) -> dict[str, object]:
    """The ``data`` of a ``bookTicker.<symbol>`` frame (server side; Backpack WS docs, Streams "Book ticker"), keys
    as the captured frame (``tests/fixtures/backpack/captured.json`` ``book_ticker``): ``a``/``A`` and
    ``b``/``B`` only for a side that has a level, ``u`` the depth update id, ``E``/``T`` µs strings. Read back by
    :func:`parse_book_ticker`.
    """
    ticker: dict[str, object] = {"e": "bookTicker", "E": us_text(event_ns), "s": symbol}
    if ask is not None:
        ticker["a"], ticker["A"] = fixed_text(ask[0], price_places), fixed_text(ask[1], size_places)
    if bid is not None:
        ticker["b"], ticker["B"] = fixed_text(bid[0], price_places), fixed_text(bid[1], size_places)
    ticker["u"] = update_id
    ticker["T"] = us_text(engine_ns)
    return ticker

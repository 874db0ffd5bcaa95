"""GRVT order book: the REST ``book`` snapshot and the ``v1.book.s`` / ``v1.book.d`` feeds, parsed and
applied to the domain :class:`~trio_hedge.domain.OrderBook` with GRVT's sequencing, and formatted (server side).

Sources and the citation names used below: the package docstring (:mod:`trio_hedge.protocols.grvt`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from ...domain import (
    ZERO,
    BookInvalid,
    Level,
    OrderBook,
    RawLevels,
)
from ._codec import (
    _F_BOOK,
    _F_LEVEL,
    INT64_MAX,
    MAX_DECIMAL_CHARS,
    MAX_DECIMAL_EXPONENT,
    STREAM_BOOK_DELTA,
    STREAM_BOOK_SNAPSHOT,
    VENUE,
    GrvtProtocolError,
    _Reader,
    _show,
    format_decimal,
)
from ._rpc import GrvtFeedMessage


# ---------------------------------------------------------------------------------------------- order book
@dataclass(frozen=True, slots=True)
class GrvtBookUpdate:
    """A REST ``book`` result (:func:`parse_book`) with its levels parsed. The feeds take the raw path instead
    (:class:`GrvtRawBookUpdate`).

    Attributes:
        symbol (str): instrument.
        bids (list[Level]): (price, size) pairs as sent (best first); size 0 deletes a level in a delta.
        asks (list[Level]): likewise.
        event_time_ns (int): venue ``event_time``, ns.
        is_snapshot (bool): True (a REST ``book`` is a snapshot).
        sequence_number (int), prev_sequence_number (int): 0 for REST.
        stream (str), selector (str): ``""`` for REST.
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
    """Parse the ``result`` of ``POST /full/v1/book`` (GRVT docs, market data API
    "Orderbook Levels"; fixture ``tests/fixtures/grvt/rest_responses.json`` ``book``) into a snapshot update.

    Shape: ``{"event_time":"…","instrument":"BTC_USDT_Perp","bids":[{"price":"88051.6","size":"0.012",
    "num_orders":"3"},…],"asks":[…]}``; ``num_orders`` is ignored (a string here, an int on WS).

    Raises:
        GrvtProtocolError: missing fields, a price <= 0 or non-finite, a negative size.
    """
    symbol, bids, asks, ts = _book_payload(result, "book", venue)
    return GrvtBookUpdate(symbol, bids, asks, ts, True)


@dataclass(frozen=True, slots=True)
class GrvtRawBookUpdate:
    """A ``v1.book.s`` / ``v1.book.d`` feed message with its levels left for the book to parse: the fast path
    of the adapter's feed (:func:`parse_book_feed_raw`, :func:`apply_raw_book_update`).

    Every field but the level values is checked here (:func:`parse_book_feed_raw`). ``bids`` /
    ``asks`` are ``[[price, size], ...]`` (:data:`~trio_hedge.domain.RawLevels`, wire order) holding the
    level objects' ``price``/``size`` values as decoded; :meth:`OrderBook.apply_raw_delta` /
    :meth:`OrderBook.apply_raw_snapshot` parse and check them while applying (``parse_price`` /
    ``parse_size``). Values that GRVT's own number rules (:data:`MAX_DECIMAL_CHARS`,
    :data:`MAX_DECIMAL_EXPONENT`, ASCII, no ``_``) could refuse where the domain rules would not never reach
    the book raw: such a side is parsed by the decoded path instead (Decimal pairs, or the precise
    :class:`GrvtProtocolError`).

    Attributes:
        symbol (str): instrument. event_time_ns (int): venue ``event_time``, ns.
        is_snapshot (bool): every ``v1.book.s`` message, and a ``v1.book.d`` message with
            ``sequence_number == 0`` (GRVT's market data streams docs: "all snapshot payloads have sequence
            number 0"; ccxt.pro ``grvt.handle_order_book`` uses the same test).
        sequence_number (int), prev_sequence_number (int): the feed's.
        stream (str), selector (str): the feed envelope.
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
    """Parse a ``v1.book.s`` or ``v1.book.d`` feed message (GRVT market data streams docs; frames in
    ``tests/fixtures/grvt/ws_frames.json``) into a :class:`GrvtRawBookUpdate`: the stream, instrument,
    ``event_time`` and level shapes are checked here, the level values' ``> 0`` / ``>= 0`` / finiteness by the
    book as it applies them (:func:`apply_raw_book_update`).

    Raises:
        GrvtProtocolError: another stream, or a malformed payload (a level value is only refused here when it
            breaks GRVT's own number rules).
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
    """Check every level of ``update`` as :func:`parse_book` checks a REST book (the slow path, for a delta the book
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
    """Apply ``update`` to ``book`` through the book's one-pass raw path (:meth:`OrderBook.apply_raw_snapshot` /
    :meth:`OrderBook.apply_raw_delta`), with GRVT's sequencing mapped onto the domain rules (GRVT market data
    streams docs, "sequence number"; apispec.json ``WSSubscribeResult``; :mod:`trio_hedge.domain._book`):

    * snapshot (``update.is_snapshot``) -> ``apply_raw_snapshot(bids, asks, seq=S, ts_ns=event_time)`` with
      ``S = snapshot_seq`` when given, else ``update.sequence_number`` (0: GRVT numbers snapshots 0). For a
      ``v1.book.d`` subscription pass ``snapshot_seq = first_sequence_number - 1`` from the subscribe result
      (:meth:`GrvtSubscribeResult.snapshot_seq`): the first delta to expect is ``first_sequence_number``.
    * delta -> ``apply_raw_delta(bids, asks, seq=sequence_number, first_seq=prev_sequence_number + 1,
      prev_seq=prev_sequence_number, ts_ns=event_time)``. A GRVT message covers the sequence numbers after its
      ``prev_sequence_number`` up to its ``sequence_number`` (one number with gateway sequencing, a jump with
      global sequencing), hence ``first_seq = prev + 1``. So:
        - ``sequence_number <= book.seq``: a duplicate (GRVT: "duplicates are possible, ignore"), dropped;
        - the first delta after a snapshot at ``S`` must have ``prev_sequence_number <= S``;
        - later deltas must have ``prev_sequence_number == book.seq``; anything else is a
          :class:`~trio_hedge.domain.SequenceGap` (GRVT: "if it increases by more than 1, reconnect").
      When the snapshot was applied at seq 0 without a ``snapshot_seq`` and without ``base_known`` (base
      unknown), the first delta is accepted without the bridge check (``first_seq=None``); continuity is
      checked from then on.

    A bad level value surfaces as :class:`BookInvalid` (the book parses each value while applying it).

    Args:
        book: the local book.
        update: from :func:`parse_book_feed_raw`.
        snapshot_seq: the sequence number to load a snapshot at (see above).
        base_known: the last snapshot was applied at a sequence number taken from the subscribe result, so
            the first delta after it gets the bridge check even when that number is 0 (a fresh gateway
            counter).
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
    track it); REST sends it as a string, WS as an int, per ``num_orders_as_string`` (the captured REST ``book``
    body has ``"num_orders": "3"``, the captured WS frames an int: ``tests/fixtures/grvt/``)."""
    one: Any = "1" if num_orders_as_string else 1
    return {
        "event_time": str(event_time_ns),
        "instrument": symbol,
        "bids": [{"price": format_decimal(p), "size": format_decimal(s), "num_orders": one} for p, s in bids],
        "asks": [{"price": format_decimal(p), "size": format_decimal(s), "num_orders": one} for p, s in asks],
    }

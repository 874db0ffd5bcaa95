"""An L2 order book: snapshot plus sequence-checked incremental deltas, and depth queries.

Layout: each side is a ``dict[price, size]`` (the truth) plus a sorted list of its prices maintained with
:mod:`bisect`, best price LAST on both sides (bids: ascending; asks: descending, ``insort`` with a negating
``key``), because most inserts and deletes happen near the top of the book and a ``list.insert`` near the end
moves few pointers. Both lists hold the dicts' own key objects: a Decimal caches its hash, so reading a level's
size is a cheap lookup (a negated copy as the key would be hashed afresh, about 0.5 us a level).
Deletion is lazy: a deleted level stays in the dict with a zero size (a "ghost") and its key stays in the
sorted list, until the level comes back (then only the size is stored: levels near the top flicker in and out
all the time), until it reaches the end of the list (ghosts are popped off the end after every update, so the
best price is always live), or until the dict outgrows twice its live size at the last compaction (ghosts are
then dropped from both). So a level update is one dict store, with a sorted-list insert only for a price the
side has not held since the last compaction. Queries skip ghosts. A level size of 0 deletes the level (the
exchange convention for absolute-size deltas: Binance, GRVT, Backpack).

Sequencing (one rule set for every venue; the caller maps the venue's fields):
    * ``apply_snapshot(..., seq=S)`` makes the book valid at sequence ``S``.
    * ``apply_delta(..., seq=u, first_seq=U, prev_seq=pu)``:
        - ``u <= S``: stale (older than the book), dropped, returns False. This is Binance's "drop any event
          where u is < lastUpdateId in the snapshot" rule.
        - the first delta after a snapshot must bridge it: ``U <= S + 1``, or continue it exactly
          (``pu == S``: a snapshot cut at an event boundary, e.g. one rebuilt from a synced book).
        - later deltas must continue exactly: ``pu == S`` when the venue sends a previous id (Binance
          futures ``pu``, GRVT ``prev_sequence_number``), else ``U == S + 1`` (Binance spot, Backpack).
        - anything else is a :class:`SequenceGap`: the book becomes invalid until the next snapshot.
      Source: Binance "How to manage a local order book correctly" (spot and USD-M futures API docs).
    * Non-finite, negative or zero prices, negative sizes, and a crossed result (best bid >= best ask)
      make the book invalid and raise :class:`BookInvalid`; consumers must check :attr:`OrderBook.valid`.

Depth queries (:func:`walk`) give levels, cumulative size, the VWAP and the worst price to fill a size, and
the liquidity available within a limit price.

Validated input (:class:`CheckedLevels`): a parser that has already checked every value with the rules above
can hand the book a :class:`CheckedLevels` list; the book then skips its per-value checks (sequence and
crossing checks always run).

Raw input (:meth:`OrderBook.apply_raw_delta`, :meth:`OrderBook.apply_raw_snapshot`): the levels exactly as a
JSON decoder returns them, ``[["price", "size"], ...]``. The book parses and validates each value itself,
through per-book caches (price string -> Decimal, size string -> Decimal, each entry parsed and checked once
with :func:`~trio_hedge.domain.parse_price` / :func:`~trio_hedge.domain.parse_size`), inside the same loop that
applies the level: no intermediate ``(price, size)`` tuples. This is the hot path of recorded-data replay
(``trio_hedge.sim._replay``); measurements in ``docs/performance.md`` section 1.
"""

from __future__ import annotations

import enum
from bisect import insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Self, SupportsIndex, cast, overload

from ._errors import BadValue, BookInvalid, SequenceGap
from ._num import ZERO, parse_price, parse_size

_INF = Decimal("Infinity")
_neg = Decimal.copy_negate  # exact (no context rounding): the asks' sort key (descending prices)

Level = tuple[Decimal, Decimal]
"""One price level: (price in quote per base, size in base units)."""

RawLevels = Sequence[Sequence[object]]
"""Levels as decoded from JSON: ``[["price", "size"], ...]`` (each item a list or tuple of exactly two
values; the values are decimal strings on every supported venue, ints are accepted, floats are not)."""

_RAW_CACHE_MAX = 100_000  # distinct price (size) strings a book keeps parsed; the cache is cleared at this size
_MIN_LIMIT = 256  # a side's dict may hold this many ghosts (deleted levels) beyond twice its live size


class CheckedLevels(list[Level]):
    """A list of levels whose every value is known good: each item a ``(price, size)`` tuple of Decimals, the
    price finite and > 0, the size finite and >= 0 (the rules :class:`OrderBook` enforces).

    Everything that enters is checked: the constructor, ``append``, ``extend``, ``insert``, ``+=`` and item
    assignment raise :class:`BadValue` for a bad item; removing or reordering items keeps the guarantee.
    :class:`OrderBook` trusts a CheckedLevels and skips its per-value checks.

    Raises:
        BadValue: an item that is not a (Decimal, Decimal) tuple obeying the rules above.
    """

    __slots__ = ()

    def __init__(self, levels: Iterable[Level] = ()) -> None:
        items = list(levels)
        _check_items(items)
        list.__init__(self, items)

    @classmethod
    def _from_checked(cls, levels: list[Level]) -> CheckedLevels:
        """Internal, for parsers that have validated every item with exactly these rules: no re-check."""
        out = list.__new__(cls)
        list.__init__(out, levels)
        return out

    def append(self, level: Level) -> None:
        _check_items((level,))
        list.append(self, level)

    def extend(self, levels: Iterable[Level]) -> None:
        items = list(levels)
        _check_items(items)
        list.extend(self, items)

    def insert(self, index: SupportsIndex, level: Level) -> None:
        _check_items((level,))
        list.insert(self, index, level)

    def __iadd__(self, levels: Iterable[Level]) -> Self:  # type: ignore[override,misc]
        self.extend(levels)
        return self

    @overload
    def __setitem__(self, index: SupportsIndex, value: Level) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[Level]) -> None: ...
    def __setitem__(self, index: SupportsIndex | slice, value: Level | Iterable[Level]) -> None:
        if isinstance(index, slice):
            items = list(cast(Iterable[Level], value))
            _check_items(items)
            list.__setitem__(self, index, items)
        else:
            level = cast(Level, value)
            _check_items((level,))
            list.__setitem__(self, index, level)


def _check_items(items: Iterable[object]) -> None:
    for item in items:
        if type(item) is not tuple or len(item) != 2:
            raise BadValue(f"level {str(item)[:40]!r} is not a (price, size) tuple")
        _check(*item)


class BookSide(enum.StrEnum):
    """A side of the book. A taker BUY walks the ASK side; a taker SELL walks the BID side."""

    BID = "BID"
    ASK = "ASK"


@dataclass(frozen=True, slots=True)
class FillEstimate:
    """What walking one side of the book for a size would give.

    Attributes:
        requested (Decimal): the size asked for, base units.
        filled (Decimal): the size available within the limit (<= requested).
        vwap (Decimal | None): volume-weighted average price of ``filled``; None if nothing fills.
        worst_price (Decimal | None): the last level touched; None if nothing fills.
        levels_used (int): how many levels the walk touched.
    """

    requested: Decimal
    filled: Decimal
    vwap: Decimal | None
    worst_price: Decimal | None
    levels_used: int

    @property
    def complete(self) -> bool:
        return self.filled >= self.requested


def walk(levels: Iterable[Level], size: Decimal, limit_price: Decimal | None, side: BookSide) -> FillEstimate:
    """Walk ``levels`` (best first) to fill ``size``, not past ``limit_price``.

    Args:
        levels: price levels of one side, best first.
        size: base units to fill, > 0.
        limit_price: worst acceptable price, or None for no limit.
        side: which side ``levels`` are (BID: prices fall as we walk; ASK: they rise).

    Returns:
        FillEstimate: filled size, VWAP and worst price.
    """
    remaining = size
    notional = ZERO
    worst: Decimal | None = None
    used = 0
    for price, qty in levels:
        if remaining <= ZERO:
            break
        if limit_price is not None and (price > limit_price if side is BookSide.ASK else price < limit_price):
            break
        take = qty if qty < remaining else remaining
        notional += take * price
        remaining -= take
        worst = price
        used += 1
    filled = size - remaining
    return FillEstimate(size, filled, notional / filled if filled > ZERO else None, worst, used)


class OrderBook:
    """A mutable L2 book for one symbol, owned by exactly one feed task.

    Readers (hedger, router, risk guard) may read it between awaits; only the owner mutates it.

    Attributes:
        symbol (str): venue symbol.
        seq (int): the sequence number of the last applied update (-1 before the first snapshot).
        ts_ns (int): venue or receive timestamp of the last applied update, ns.
        valid (bool): False until a snapshot is applied, and after any gap, crossing or bad value.
        invalid_reason (str): why the book is invalid ("" when valid).
        updates (int): number of snapshots and deltas applied (a cheap change counter).
    """

    __slots__ = (
        "symbol",
        "seq",
        "ts_ns",
        "valid",
        "invalid_reason",
        "updates",
        "_bids",
        "_asks",
        "_bid_keys",
        "_ask_keys",
        "_bid_limit",
        "_ask_limit",
        "_bridging",
        "_raw_px",
        "_raw_qty",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.seq = -1
        self.ts_ns = 0
        self.valid = False
        self.invalid_reason = "no snapshot yet"
        self.updates = 0
        self._bids: dict[Decimal, Decimal] = {}  # price -> size: the truth (size 0: a deleted level, a ghost)
        self._asks: dict[Decimal, Decimal] = {}
        self._bid_keys: list[Decimal] = []  # the keys of _bids ascending (best bid last; never a ghost)
        self._ask_keys: list[Decimal] = []  # the keys of _asks descending (best ask last; never a ghost)
        self._bid_limit = _MIN_LIMIT  # compact _bids (drop ghosts) when it grows past this many keys
        self._ask_limit = _MIN_LIMIT
        self._bridging = False
        self._raw_px: dict[object, Decimal] = {}  # raw price string -> validated Decimal (apply_raw_*)
        self._raw_qty: dict[object, Decimal] = {}  # raw size string -> validated Decimal

    # ------------------------------------------------------------------ mutation
    def invalidate(self, reason: str) -> None:
        """Mark the book unusable until the next snapshot."""
        self.valid = False
        self.invalid_reason = reason

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], *, seq: int, ts_ns: int = 0) -> None:
        """Replace the whole book and make it valid at ``seq``.

        Args:
            bids, asks: (price, size) pairs in any order (size 0 entries are ignored; for a repeated price
                the last one wins). A :class:`CheckedLevels` skips the per-value checks.
            seq: the sequence number the snapshot is at.
            ts_ns: its timestamp, ns.

        Raises:
            BookInvalid: a bad value or a crossed snapshot (the book stays invalid).
        """
        self._clear()
        try:
            if type(bids) is not CheckedLevels:
                bids = list(bids)
                _check_pairs(bids)
            if type(asks) is not CheckedLevels:
                asks = list(asks)
                _check_pairs(asks)
        except (ValueError, TypeError) as exc:  # BadValue is a ValueError; TypeError: not a (price, size) pair
            self.invalidate(f"bad snapshot value: {exc}")
            raise BookInvalid(f"{self.symbol}: {self.invalid_reason}") from None
        self._bids.update((p, s) for p, s in bids if s)
        self._asks.update((p, s) for p, s in asks if s)
        self._bid_keys = sorted(self._bids)
        self._ask_keys = sorted(self._asks, reverse=True)
        self._bid_limit = 2 * len(self._bids) + _MIN_LIMIT
        self._ask_limit = 2 * len(self._asks) + _MIN_LIMIT
        self.seq = seq
        self.ts_ns = ts_ns
        self.updates += 1
        self._bridging = True
        self.valid = True
        self.invalid_reason = ""
        self._check_crossed()

    def apply_delta(
        self,
        bids: Iterable[Level],
        asks: Iterable[Level],
        *,
        seq: int,
        first_seq: int | None = None,
        prev_seq: int | None = None,
        ts_ns: int = 0,
    ) -> bool:
        """Apply absolute-size level updates (size 0 deletes the level).

        Args:
            bids, asks: (price, new size) pairs, applied in order. A :class:`CheckedLevels` skips the
                per-value checks.
            seq: the update's last sequence number (Binance ``u``).
            first_seq: its first sequence number (Binance ``U``), if the venue sends one.
            prev_seq: the previous update's last sequence number (Binance futures ``pu``), if sent.
            ts_ns: timestamp of the update, ns.

        Returns:
            bool: True if applied, False if dropped as stale (``seq`` not newer than the book).

        Raises:
            BookInvalid: the book was already invalid (resync first), or a value was bad, or the result
                is crossed. The book is left invalid.
            SequenceGap: the update does not continue the book. The book is left invalid.
        """
        if not self._continues(seq, first_seq, prev_seq):
            return False
        try:
            if type(bids) is CheckedLevels:
                _set_bids(self._bids, self._bid_keys, bids)
            else:
                _set_bids_checked(self._bids, self._bid_keys, bids)
            if type(asks) is CheckedLevels:
                _set_asks(self._asks, self._ask_keys, asks)
            else:
                _set_asks_checked(self._asks, self._ask_keys, asks)
        except (ValueError, TypeError) as exc:  # BadValue is a ValueError; TypeError: not a (price, size) pair
            self._tidy()
            self.invalidate(f"bad delta value: {exc}")
            raise BookInvalid(f"{self.symbol}: {self.invalid_reason}") from None
        self._applied(seq, ts_ns)
        return True

    def apply_raw_snapshot(self, bids: RawLevels, asks: RawLevels, *, seq: int, ts_ns: int = 0) -> None:
        """Replace the whole book from JSON-decoded levels and make it valid at ``seq``.

        The same as :meth:`apply_snapshot` with every ``[price, size]`` item parsed by
        :func:`~trio_hedge.domain.parse_price` / :func:`~trio_hedge.domain.parse_size` (each distinct string
        once per book, then cached).

        Args:
            bids, asks: :data:`RawLevels`, e.g. ``[["61804.70", "1.234"], ...]``, in any order (size 0 entries
                are ignored; for a repeated price the last one wins).
            seq: the sequence number the snapshot is at.
            ts_ns: its timestamp, ns.

        Raises:
            BookInvalid: an item that is not a two-item list or tuple, a value that is not a decimal string
                (or int), NaN/Infinity, a price <= 0, a size < 0, or a crossed snapshot (the book stays
                invalid).
        """
        try:
            bid_levels = CheckedLevels._from_checked(self._raw_levels(bids))
            ask_levels = CheckedLevels._from_checked(self._raw_levels(asks))
        except (ValueError, TypeError) as exc:  # BadValue is a ValueError; TypeError: unhashable or not a pair
            self._clear()
            self.invalidate(f"bad snapshot value: {_raw_problem(bids, asks, exc)}")
            raise BookInvalid(f"{self.symbol}: {self.invalid_reason}") from None
        self.apply_snapshot(bid_levels, ask_levels, seq=seq, ts_ns=ts_ns)

    def apply_raw_delta(
        self,
        bids: RawLevels,
        asks: RawLevels,
        *,
        seq: int,
        first_seq: int | None = None,
        prev_seq: int | None = None,
        ts_ns: int = 0,
    ) -> bool:
        """Apply absolute-size level updates given as JSON-decoded ``[price, size]`` items (size 0 deletes).

        The same rules, results and errors as :meth:`apply_delta` given the levels parsed with
        :func:`~trio_hedge.domain.parse_price` / :func:`~trio_hedge.domain.parse_size`; but each value is
        parsed inside the loop that applies it, through the book's string -> Decimal caches (one dict lookup
        per value once a string has been seen), so no ``(price, size)`` tuple is ever built. A stale delta is
        dropped before its values are looked at, as in :meth:`apply_delta`.

        Args:
            bids, asks: :data:`RawLevels` (``[["61804.70", "0.5"], ...]``), applied in order.
            seq, first_seq, prev_seq, ts_ns: as :meth:`apply_delta`.

        Returns:
            bool: True if applied, False if dropped as stale (``seq`` not newer than the book).

        Raises:
            BookInvalid: the book was already invalid, an item is not a two-item list or tuple, a value is
                not a decimal string (or int), is NaN/Infinity, a price <= 0 or a size < 0, or the result
                is crossed. The book is left invalid.
            SequenceGap: the update does not continue the book. The book is left invalid.
        """
        if prev_seq is None or prev_seq != self.seq or self._bridging or not self.valid or seq <= self.seq:
            if not self._continues(seq, first_seq, prev_seq):  # (the common case, pu == seq, skips this call)
                return False
        try:
            if [*map(type, bids)].count(list) != len(bids) or [*map(type, asks)].count(list) != len(asks):
                _check_raw_shape(bids)  # tuples are fine; anything else raises
                _check_raw_shape(asks)
            px = self._raw_px
            qty = self._raw_qty
            _set_raw(self._bids, self._bid_keys, bids, px, qty, False)
            _set_raw(self._asks, self._ask_keys, asks, px, qty, True)
        except (ValueError, TypeError) as exc:  # BadValue is a ValueError; TypeError: unhashable or not a pair
            self._tidy()
            self.invalidate(f"bad delta value: {_raw_problem(bids, asks, exc)}")
            raise BookInvalid(f"{self.symbol}: {self.invalid_reason}") from None
        # _applied, inlined: pop ghosts off the ends (compact via _tidy only when a side outgrew its limit)
        book = self._bids
        bid_keys = self._bid_keys
        while bid_keys and not book[bid_keys[-1]]:
            del book[bid_keys.pop()]
        book = self._asks
        ask_keys = self._ask_keys
        while ask_keys and not book[ask_keys[-1]]:
            del book[ask_keys.pop()]
        if len(self._bids) > self._bid_limit or len(book) > self._ask_limit:
            self._tidy()
        self._bridging = False
        self.seq = seq
        self.ts_ns = ts_ns
        self.updates += 1
        if bid_keys and ask_keys and bid_keys[-1] >= ask_keys[-1]:
            self._check_crossed()
        return True

    def _raw_levels(self, pairs: RawLevels) -> list[Level]:
        _check_raw_shape(pairs)
        px = self._raw_px
        qty = self._raw_qty
        return [(px[p] if p in px else _new_price(px, p), qty[q] if q in qty else _new_size(qty, q)) for p, q in pairs]

    def _clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_keys = []
        self._ask_keys = []

    def _continues(self, seq: int, first_seq: int | None, prev_seq: int | None) -> bool:
        """The sequencing rules of :meth:`apply_delta`: False if stale; raises on an invalid book or a gap."""
        if not self.valid:
            raise BookInvalid(f"{self.symbol}: book invalid ({self.invalid_reason}); resync required")
        if seq <= self.seq:
            return False
        if self._bridging:
            if first_seq is not None and first_seq > self.seq + 1 and prev_seq != self.seq:
                self.invalidate(f"first delta {first_seq}..{seq} does not bridge snapshot {self.seq}")
                raise SequenceGap(self.symbol, self.seq + 1, first_seq)
        elif prev_seq is not None:
            if prev_seq != self.seq:
                self.invalidate(f"sequence gap: previous {prev_seq}, book at {self.seq}")
                raise SequenceGap(self.symbol, self.seq, prev_seq)
        elif first_seq is not None and first_seq != self.seq + 1:
            self.invalidate(f"sequence gap: first {first_seq}, book at {self.seq}")
            raise SequenceGap(self.symbol, self.seq + 1, first_seq)
        return True

    def _applied(self, seq: int, ts_ns: int) -> None:
        """After a delta's levels are in: tidy the key lists, advance the sequence, check crossing."""
        self._tidy()
        self._bridging = False
        self.seq = seq
        self.ts_ns = ts_ns
        self.updates += 1
        bid_keys = self._bid_keys
        ask_keys = self._ask_keys
        if bid_keys and ask_keys and bid_keys[-1] >= ask_keys[-1]:
            self._check_crossed()

    def _tidy(self) -> None:
        """Pop ghosts off the end of each key list (so the best price is live); drop all ghosts from a side
        whose dict outgrew its limit (then the limit becomes twice the live size plus a margin)."""
        book = self._bids
        keys = self._bid_keys
        while keys and not book[keys[-1]]:
            del book[keys.pop()]
        if len(book) > self._bid_limit:
            keys[:] = [k for k in keys if book[k]]
            self._bids = {k: book[k] for k in keys}
            self._bid_limit = 2 * len(keys) + _MIN_LIMIT
        book = self._asks
        keys = self._ask_keys
        while keys and not book[keys[-1]]:
            del book[keys.pop()]
        if len(book) > self._ask_limit:
            live = {p: s for p, s in book.items() if s}
            keys[:] = [k for k in keys if k in live]
            self._asks = live
            self._ask_limit = 2 * len(keys) + _MIN_LIMIT

    def _check_crossed(self) -> None:
        if self._bid_keys and self._ask_keys:
            bid = self._bid_keys[-1]
            ask = self._ask_keys[-1]
            if bid >= ask:
                self.invalidate(f"crossed book: bid {bid} >= ask {ask}")
                raise BookInvalid(f"{self.symbol}: {self.invalid_reason}")

    # ------------------------------------------------------------------ queries
    def best_bid(self) -> Level | None:
        """The best bid (price, size), or None if the side is empty."""
        if not self._bid_keys:
            return None
        p = self._bid_keys[-1]
        return p, self._bids[p]

    def best_ask(self) -> Level | None:
        """The best ask (price, size), or None if the side is empty."""
        if not self._ask_keys:
            return None
        p = self._ask_keys[-1]
        return p, self._asks[p]

    def mid(self) -> Decimal | None:
        """(best bid + best ask) / 2, or None if a side is empty."""
        if not self._bid_keys or not self._ask_keys:
            return None
        return (self._bid_keys[-1] + self._ask_keys[-1]) / 2

    def depth(self, side: BookSide) -> int:
        """Number of levels on ``side`` (O(levels held, ghosts included))."""
        book = self._bids if side is BookSide.BID else self._asks
        return len(book) - [*book.values()].count(ZERO)

    def iter_levels(self, side: BookSide) -> Iterator[Level]:
        """Levels of ``side``, best first (a generator over the live book: do not await while iterating)."""
        if side is BookSide.BID:
            bids = self._bids
            return ((p, s) for p in reversed(self._bid_keys) if (s := bids[p]))
        asks = self._asks
        return ((p, s) for p in reversed(self._ask_keys) if (s := asks[p]))

    def levels(self, side: BookSide, n: int) -> list[Level]:
        """The best ``n`` levels of ``side``, best first (``[]`` for ``n <= 0``)."""
        return list(islice(self.iter_levels(side), n)) if n > 0 else []

    def size_at(self, side: BookSide, price: Decimal) -> Decimal:
        """Size resting at exactly ``price`` on ``side`` (0 if no level)."""
        return (self._bids if side is BookSide.BID else self._asks).get(price) or ZERO

    def cumulative(self, side: BookSide, n: int) -> list[Level]:
        """The best ``n`` levels with running total size: [(price, cumulative size)], best first."""
        out: list[Level] = []
        total = ZERO
        for price, size in self.levels(side, n):
            total += size
            out.append((price, total))
        return out

    def estimate_fill(self, side: BookSide, size: Decimal, limit_price: Decimal | None = None) -> FillEstimate:
        """VWAP, worst price and fillable size for taking ``size`` from ``side`` within ``limit_price``."""
        return walk(self.iter_levels(side), size, limit_price, side)

    def liquidity_within(self, side: BookSide, limit_price: Decimal) -> Decimal:
        """Total size on ``side`` at prices no worse than ``limit_price`` (for a taker on that side)."""
        total = ZERO
        for price, size in self.iter_levels(side):
            if price > limit_price if side is BookSide.ASK else price < limit_price:
                break
            total += size
        return total

    def snapshot(self, depth: int | None = None) -> tuple[list[Level], list[Level]]:
        """Copies of (bids best first, asks best first), at most ``depth`` levels each."""
        n = depth if depth is not None else max(len(self._bids), len(self._asks))
        return self.levels(BookSide.BID, n), self.levels(BookSide.ASK, n)


def _check(price: Decimal, size: Decimal) -> None:
    if not (isinstance(price, Decimal) and price.is_finite() and price > ZERO):
        raise BadValue(f"price {price!r} must be a finite Decimal > 0")
    if not (isinstance(size, Decimal) and size.is_finite() and size >= ZERO):
        raise BadValue(f"size {size!r} must be a finite Decimal >= 0")


def _check_pairs(levels: Iterable[Level]) -> None:
    for price, size in levels:
        _check(price, size)


# The level-update loops below are the hot path of every feed, so they are written out by hand with no
# per-level function call. A level is one dict store; a price the side does not hold gets a sorted-list insert
# (bisect.insort, C) first, unless it is a delete of an absent level (nothing to do). A delete stores the zero
# size: the level becomes a ghost (module docstring) that _tidy pops or compacts away. The *_checked variants
# inline the rules of _check (a NaN comparison raises InvalidOperation under the default context, or is False
# without the trap: either way _check then runs and raises BadValue with the precise reason).


def _set_bids(book: dict[Decimal, Decimal], keys: list[Decimal], levels: Iterable[Level]) -> None:
    for price, size in levels:
        if price not in book:
            if not size:
                continue
            insort(keys, price)
        book[price] = size


def _set_asks(book: dict[Decimal, Decimal], keys: list[Decimal], levels: Iterable[Level]) -> None:
    for price, size in levels:
        if price not in book:
            if not size:
                continue
            insort(keys, price, key=_neg)
        book[price] = size


def _set_bids_checked(book: dict[Decimal, Decimal], keys: list[Decimal], levels: Iterable[Level]) -> None:
    for price, size in levels:
        try:
            ok = (
                isinstance(price, Decimal) and isinstance(size, Decimal) and ZERO < price < _INF and ZERO <= size < _INF
            )
        except ArithmeticError:
            ok = False
        if not ok:
            _check(price, size)
        if price not in book:
            if not size:
                continue
            insort(keys, price)
        book[price] = size


def _set_asks_checked(book: dict[Decimal, Decimal], keys: list[Decimal], levels: Iterable[Level]) -> None:
    for price, size in levels:
        try:
            ok = (
                isinstance(price, Decimal) and isinstance(size, Decimal) and ZERO < price < _INF and ZERO <= size < _INF
            )
        except ArithmeticError:
            ok = False
        if not ok:
            _check(price, size)
        if price not in book:
            if not size:
                continue
            insort(keys, price, key=_neg)
        book[price] = size


def _set_raw(
    book: dict[Decimal, Decimal],
    keys: list[Decimal],
    pairs: RawLevels,
    px: dict[object, Decimal],
    qty: dict[object, Decimal],
    negate: bool,
) -> None:
    # _set_bids/_set_asks with the parse folded in: a cache hit is one (specialised) dict subscript; a miss is
    # parsed and validated by _new_price/_new_size (BadValue); a non-pair fails the unpack (ValueError), an
    # unhashable value the subscript (TypeError).
    for p, q in pairs:
        try:
            price = px[p]
        except KeyError:
            price = _new_price(px, p)
        try:
            size = qty[q]
        except KeyError:
            size = _new_size(qty, q)
        if price not in book:
            if not size:
                continue
            insort(keys, price, key=_neg) if negate else insort(keys, price)
        book[price] = size


def _new_price(cache: dict[object, Decimal], text: object) -> Decimal:
    """A cache miss: exactly :func:`parse_price` (a str is stripped, parsed, must be finite and > 0); only
    ``str`` keys are stored, so a non-str value (an int, a float or bool equal to a cached number) never hits
    the cache and is parsed, and refused unless an int, every time."""
    return _new_value(cache, text, parse_price, positive=True)


def _new_size(cache: dict[object, Decimal], text: object) -> Decimal:
    """A cache miss: exactly :func:`parse_size` (finite and >= 0); caching as :func:`_new_price`."""
    return _new_value(cache, text, parse_size, positive=False)


def _new_value(
    cache: dict[object, Decimal], text: object, parse: Callable[[object], Decimal], *, positive: bool
) -> Decimal:
    if type(text) is str:
        try:
            value = Decimal(text.strip())
        except (InvalidOperation, ValueError):
            return parse(text)  # raises the precise BadValue
        if value.is_finite() and (value > ZERO if positive else value >= ZERO):
            if len(cache) >= _RAW_CACHE_MAX:
                cache.clear()
            cache[text] = value
            return value
    return parse(text)


def _check_raw_shape(pairs: object) -> None:
    """Raise BadValue unless ``pairs`` is a list or tuple of two-item lists or tuples."""
    if not isinstance(pairs, (list, tuple)):
        raise BadValue(f"levels {str(pairs)[:40]!r} are not a list of [price, size] pairs")
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise BadValue(f"level {str(pair)[:40]!r} is not a [price, size] pair")


def _raw_problem(bids: object, asks: object, exc: Exception) -> str:
    """The precise reason raw levels were refused (re-checked slowly: only on the error path)."""
    for pairs, what in ((bids, "bid"), (asks, "ask")):
        try:
            _check_raw_shape(pairs)
            for p, q in cast(RawLevels, pairs):
                parse_price(p, what=f"{what} price")
                parse_size(q, what=f"{what} size")
        except BadValue as found:
            return str(found)
        except (ValueError, TypeError):
            break
    return f"{type(exc).__name__}: {str(exc)[:80]}"


def levels_from_pairs(pairs: Sequence[Sequence[str]], *, what: str = "level") -> list[Level]:
    """Parse ``[["price", "size"], ...]`` decimal-string pairs into levels.

    Raises:
        BadValue: a pair that is not two decimal strings, or a non-finite / negative value.
    """
    from ._num import parse_price, parse_size

    out: list[Level] = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) < 2:
            raise BadValue(f"{what}: {str(pair)[:40]!r} is not a [price, size] pair")
        out.append((parse_price(pair[0], what=f"{what} price"), parse_size(pair[1], what=f"{what} size")))
    return out

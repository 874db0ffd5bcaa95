"""An L2 order book: snapshot plus sequence-checked incremental deltas, and depth queries.

Layout: each side is a ``dict[price, size]`` plus a sorted list of its prices (ascending for both sides;
the best bid is the last element, the best ask the first), maintained with :mod:`bisect`. A level size of 0
deletes the level (the exchange convention for absolute-size deltas: Binance, GRVT, Backpack).

Sequencing (one rule set for every venue; the caller maps the venue's fields):
    * ``apply_snapshot(..., seq=S)`` makes the book valid at sequence ``S``.
    * ``apply_delta(..., seq=u, first_seq=U, prev_seq=pu)``:
        - ``u <= S``: stale (older than the book), dropped, returns False. This is Binance's "drop any event
          where u is < lastUpdateId in the snapshot" rule.
        - the first delta after a snapshot must bridge it: ``U <= S + 1``.
        - later deltas must continue exactly: ``pu == S`` when the venue sends a previous id (Binance
          futures ``pu``, GRVT ``prev_sequence_number``), else ``U == S + 1`` (Binance spot, Backpack).
        - anything else is a :class:`SequenceGap`: the book becomes invalid until the next snapshot.
      Source: Binance "How to manage a local order book correctly" (spot and USD-M futures API docs).
    * Non-finite, negative or zero prices, negative sizes, and a crossed result (best bid >= best ask)
      make the book invalid and raise :class:`BookInvalid`; consumers must check :attr:`OrderBook.valid`.

Depth queries (:func:`walk`) give levels, cumulative size, the VWAP and the worst price to fill a size, and
the liquidity available within a limit price.
"""

from __future__ import annotations

import enum
from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from ._errors import BadValue, BookInvalid, SequenceGap
from ._num import ZERO

Level = tuple[Decimal, Decimal]
"""One price level: (price in quote per base, size in base units)."""


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
        "_bid_px",
        "_ask_px",
        "_bridging",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.seq = -1
        self.ts_ns = 0
        self.valid = False
        self.invalid_reason = "no snapshot yet"
        self.updates = 0
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._bid_px: list[Decimal] = []  # ascending; best bid last
        self._ask_px: list[Decimal] = []  # ascending; best ask first
        self._bridging = False

    # ------------------------------------------------------------------ mutation
    def invalidate(self, reason: str) -> None:
        """Mark the book unusable until the next snapshot."""
        self.valid = False
        self.invalid_reason = reason

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], *, seq: int, ts_ns: int = 0) -> None:
        """Replace the whole book and make it valid at ``seq``.

        Raises:
            BookInvalid: a bad value or a crossed snapshot (the book stays invalid).
        """
        self._bids.clear()
        self._asks.clear()
        try:
            for price, size in bids:
                _check(price, size)
                if size > ZERO:
                    self._bids[price] = size
            for price, size in asks:
                _check(price, size)
                if size > ZERO:
                    self._asks[price] = size
        except BadValue as exc:
            self.invalidate(f"bad snapshot value: {exc}")
            raise BookInvalid(f"{self.symbol}: {self.invalid_reason}") from None
        self._bid_px = sorted(self._bids)
        self._ask_px = sorted(self._asks)
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
            bids, asks: (price, new size) pairs.
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
        if not self.valid:
            raise BookInvalid(f"{self.symbol}: book invalid ({self.invalid_reason}); resync required")
        if seq <= self.seq:
            return False
        if self._bridging:
            if first_seq is not None and first_seq > self.seq + 1:
                self.invalidate(f"first delta {first_seq}..{seq} does not bridge snapshot {self.seq}")
                raise SequenceGap(self.symbol, self.seq + 1, first_seq)
        elif prev_seq is not None:
            if prev_seq != self.seq:
                self.invalidate(f"sequence gap: previous {prev_seq}, book at {self.seq}")
                raise SequenceGap(self.symbol, self.seq, prev_seq)
        elif first_seq is not None and first_seq != self.seq + 1:
            self.invalidate(f"sequence gap: first {first_seq}, book at {self.seq}")
            raise SequenceGap(self.symbol, self.seq + 1, first_seq)
        try:
            for price, size in bids:
                _check(price, size)
                _set_level(self._bids, self._bid_px, price, size)
            for price, size in asks:
                _check(price, size)
                _set_level(self._asks, self._ask_px, price, size)
        except BadValue as exc:
            self.invalidate(f"bad delta value: {exc}")
            raise BookInvalid(f"{self.symbol}: {self.invalid_reason}") from None
        self._bridging = False
        self.seq = seq
        self.ts_ns = ts_ns
        self.updates += 1
        self._check_crossed()
        return True

    def _check_crossed(self) -> None:
        if self._bid_px and self._ask_px and self._bid_px[-1] >= self._ask_px[0]:
            self.invalidate(f"crossed book: bid {self._bid_px[-1]} >= ask {self._ask_px[0]}")
            raise BookInvalid(f"{self.symbol}: {self.invalid_reason}")

    # ------------------------------------------------------------------ queries
    def best_bid(self) -> Level | None:
        """The best bid (price, size), or None if the side is empty."""
        if not self._bid_px:
            return None
        p = self._bid_px[-1]
        return p, self._bids[p]

    def best_ask(self) -> Level | None:
        """The best ask (price, size), or None if the side is empty."""
        if not self._ask_px:
            return None
        p = self._ask_px[0]
        return p, self._asks[p]

    def mid(self) -> Decimal | None:
        """(best bid + best ask) / 2, or None if a side is empty."""
        if not self._bid_px or not self._ask_px:
            return None
        return (self._bid_px[-1] + self._ask_px[0]) / 2

    def depth(self, side: BookSide) -> int:
        """Number of levels on ``side``."""
        return len(self._bid_px) if side is BookSide.BID else len(self._ask_px)

    def iter_levels(self, side: BookSide) -> Iterable[Level]:
        """Levels of ``side``, best first (a generator over the live book: do not await while iterating)."""
        if side is BookSide.BID:
            book = self._bids
            return ((p, book[p]) for p in reversed(self._bid_px))
        book = self._asks
        return ((p, book[p]) for p in self._ask_px)

    def levels(self, side: BookSide, n: int) -> list[Level]:
        """The best ``n`` levels of ``side``, best first."""
        if side is BookSide.BID:
            px = self._bid_px[-n:][::-1] if n > 0 else []
            return [(p, self._bids[p]) for p in px]
        return [(p, self._asks[p]) for p in self._ask_px[:n]]

    def size_at(self, side: BookSide, price: Decimal) -> Decimal:
        """Size resting at exactly ``price`` on ``side`` (0 if no level)."""
        return (self._bids if side is BookSide.BID else self._asks).get(price, ZERO)

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
        n = depth if depth is not None else max(len(self._bid_px), len(self._ask_px))
        return self.levels(BookSide.BID, n), self.levels(BookSide.ASK, n)


def _check(price: Decimal, size: Decimal) -> None:
    if not (isinstance(price, Decimal) and price.is_finite() and price > ZERO):
        raise BadValue(f"price {price!r} must be a finite Decimal > 0")
    if not (isinstance(size, Decimal) and size.is_finite() and size >= ZERO):
        raise BadValue(f"size {size!r} must be a finite Decimal >= 0")


def _set_level(book: dict[Decimal, Decimal], prices: list[Decimal], price: Decimal, size: Decimal) -> None:
    if size == ZERO:
        if book.pop(price, None) is not None:
            del prices[bisect_left(prices, price)]
    else:
        if price not in book:
            insort(prices, price)
        book[price] = size


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

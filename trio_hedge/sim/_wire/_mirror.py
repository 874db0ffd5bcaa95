"""One market's public book as a wire server publishes it: a mirror of the simulated exchange's book, fed by its
market-data batches, each batch reduced to the levels it changed.

A venue server keeps one :class:`BookMirror` subclass per symbol it serves (several symbols per venue are several
mirrors) and formats what the mirror reports in its venue's frames:

* :meth:`BookMirror.on_valid`: the book became valid (the exchange's first snapshot, or the one after a rebuild):
  every subscriber starts from a snapshot of :attr:`BookMirror.book` (GRVT sends one on the stream; a Backpack
  client reads the REST depth).
* :meth:`BookMirror.on_diff`: one batch changed the book: a :class:`BookDiff` of the changed levels (absolute
  sizes, 0 = removed) that, applied to any snapshot taken before the batch, gives the book after it
  (``tests/test_sim_wire.py`` checks it against the exchange's book). A replacement snapshot from the exchange
  becomes such a diff: subscribers never see a second snapshot.
* :meth:`BookMirror.on_reset`: an update the book refused (a bug upstream): the mirror drops its book, skips
  ``resync_id_jump`` update ids and subscribes afresh (the next snapshot comes through :meth:`on_valid`).
* :meth:`BookMirror.on_end`: the feed ended (``feed_down``: the exchange closed the subscription or refuses new
  ones, fault injection) or the server stops; :meth:`BookMirror.start` may start it again.

Numbering: :attr:`OrderBook.seq` of the mirror's book is the mirror's own update id, one per exchange message that
changed the book, so a diff spans ``first_id..last_id`` and the next diff starts at ``last_id + 1`` (Backpack's
``U``/``u``: https://docs.backpack.exchange/ "Depth" stream); the exchange's own sequence numbers only decide which
deltas a snapshot already contained.

Owned by its feed task: only that task mutates :attr:`book`; handlers read it between awaits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Final

import trio

from ...domain import ZERO, BookError, BookSide, CheckedLevels, Level, OrderBook
from .._exchange import MarketDataMsg, SimExchange, SimUnavailable
from .._replay import BookSnapshotMsg

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["BookDiff", "BookMirror"]

RESYNC_ID_JUMP: Final = 1_000
"""Update ids skipped when a mirror rebuilds its book, so that no client's old state continues."""


@dataclass(frozen=True, slots=True)
class BookDiff:
    """What one market-data batch changed in a mirror's book.

    Attributes:
        bids, asks (dict[Decimal, Decimal]): price -> size after the batch (``0``: the level is gone), for every
            level the batch changed.
        first_id, last_id (int): the mirror's update ids of the first and last message of the batch that changed
            the book (``first_id`` = the previous diff's ``last_id + 1``).
        ts_ns (int): exchange timestamp of the last message applied, ns.
    """

    bids: dict[Decimal, Decimal]
    asks: dict[Decimal, Decimal]
    first_id: int
    last_id: int
    ts_ns: int


class BookMirror:
    """A symbol's book mirrored from :meth:`SimExchange.subscribe_market_data`; subclass and override the hooks.

    Args:
        exchange, venue, symbol: the market mirrored.
        log: the server's logger.
        first_update_id: the update id the first snapshot gets (later ones continue from it).
    """

    def __init__(self, exchange: SimExchange, venue: str, symbol: str, *, log: Logger, first_update_id: int = 0):
        self.exchange = exchange
        self.venue = venue
        self.symbol = symbol
        self.log = log
        self.book = OrderBook(symbol)
        self.running = False
        self._next_id = first_update_id
        self._src_seq = -1  # the exchange's sequence number of the last message applied
        self._changed = trio.Event()
        self._started = trio.Event()

    # ------------------------------------------------------------------ hooks
    def on_valid(self) -> None:
        """The book became valid (called after the batch that made it so; its later messages are in it)."""

    def on_diff(self, diff: BookDiff) -> None:
        """One batch changed the valid book by ``diff``."""

    def on_reset(self) -> None:
        """The book refused an update and was dropped; a fresh subscription follows."""

    def on_end(self, *, feed_down: bool) -> None:
        """The feed task ended: the exchange's feed is down (``feed_down``) or the server is stopping."""

    # ------------------------------------------------------------------ running
    async def start(self, nursery: trio.Nursery) -> None:
        """Start the feed task in ``nursery`` unless it runs; return once the exchange's initial snapshot (when
        its book is valid) is in :attr:`book`, or the task ended.

        Raises:
            SimUnavailable: the feed is killed (fault injection).
        """
        if not self.running:
            initial = self.exchange.market_book(self.venue, self.symbol).valid
            rx = self.exchange.subscribe_market_data(self.venue, self.symbol)
            self.running = True
            self._started = trio.Event()
            nursery.start_soon(self._run, rx, initial)
        await self._started.wait()

    async def wait_valid(self) -> None:
        """Return once the book is valid or the feed task stopped (check both after)."""
        while self.running and not self.book.valid:
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _run(self, rx: trio.MemoryReceiveChannel[tuple[float, list[MarketDataMsg]]], initial: bool) -> None:
        feed_down = False
        try:
            while True:
                resync = False
                async with rx:
                    if not initial:
                        self._started.set()
                    async for deliver_at, batch in rx:
                        if deliver_at > trio.current_time():
                            await trio.sleep_until(deliver_at)
                        if not self._apply(batch):
                            resync = True
                            break
                        self._started.set()
                if not resync:
                    feed_down = True
                    self.log.warning("{} market data ended (feed down); book subscribers closed", self.symbol)
                    return
                rx = self.exchange.subscribe_market_data(self.venue, self.symbol)
                initial = True
        except SimUnavailable:
            feed_down = True
            self.log.warning("{} market data unavailable; book subscribers closed", self.symbol)
        finally:
            self.running = False
            self._started.set()
            self.on_end(feed_down=feed_down)
            self._notify()

    # ------------------------------------------------------------------ applying
    def _apply(self, batch: list[MarketDataMsg]) -> bool:
        """Apply one exchange batch and report it through the hooks. False if the book must be rebuilt."""
        book = self.book
        was_valid = book.valid
        bid_changes: dict[Decimal, Decimal] = {}
        ask_changes: dict[Decimal, Decimal] = {}
        first_id = 0
        try:
            for msg in batch:
                if isinstance(msg, BookSnapshotMsg):
                    if not book.valid:
                        self._next_id += 1
                        book.apply_snapshot(msg.bids, msg.asks, seq=self._next_id, ts_ns=msg.ts_ns)
                        self._src_seq = msg.seq
                        continue
                    bids, asks = self._diff(msg.bids, msg.asks)
                else:
                    if not book.valid or msg.seq <= self._src_seq:
                        continue  # already contained in the snapshot this mirror started from
                    bids = _changed(book, BookSide.BID, msg.bids)
                    asks = _changed(book, BookSide.ASK, msg.asks)
                self._src_seq = msg.seq
                if not bids and not asks:
                    continue
                self._next_id += 1
                first_id = first_id or self._next_id
                book.apply_delta(bids, asks, seq=self._next_id, first_seq=self._next_id, ts_ns=msg.ts_ns)
                bid_changes.update(bids)
                ask_changes.update(asks)
        except BookError as exc:
            self.log.error("{} mirror book refused an update ({}); rebuilding", self.symbol, exc)
            self.book = OrderBook(self.symbol)
            self._src_seq = -1
            self._next_id += RESYNC_ID_JUMP
            self.on_reset()
            self._notify()
            return False
        if not was_valid:
            if book.valid:
                self.on_valid()
                self._notify()
        elif first_id:
            self.on_diff(BookDiff(bid_changes, ask_changes, first_id, self._next_id, book.ts_ns))
        return True

    def _diff(self, bids: list[Level], asks: list[Level]) -> tuple[list[Level], list[Level]]:
        """The absolute level updates that turn the current book into the snapshot ``bids``/``asks``."""
        out: list[list[Level]] = []
        for side, levels in ((BookSide.BID, bids), (BookSide.ASK, asks)):
            target = dict(levels)
            changes = [(p, s) for p, s in target.items() if self.book.size_at(side, p) != s]
            changes += [(p, ZERO) for p, _ in self.book.iter_levels(side) if p not in target]
            out.append(CheckedLevels._from_checked(changes))  # a snapshot's levels and the book's own: checked
        return out[0], out[1]


def _changed(book: OrderBook, side: BookSide, levels: list[Level]) -> list[Level]:
    """The levels of an exchange delta that change ``book`` (a level set to the size it has is left out)."""
    out = [(p, s) for p, s in levels if book.size_at(side, p) != s]
    return CheckedLevels._from_checked(out) if type(levels) is CheckedLevels else out

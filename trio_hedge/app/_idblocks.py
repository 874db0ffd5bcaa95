"""Client order ids from blocks reserved durably in the journal: what covers a power loss now that order
intents are committed with ``synchronous=NORMAL`` (docs/architecture.md, "Durability").

An intent committed with ``synchronous=NORMAL`` in WAL mode is in the OS when its commit returns: it survives
``kill -9`` of the process, not an OS crash or a power loss. Instead of an fsync per order, every client order
id the bot sends on a venue comes from a block of :data:`DEFAULT_BLOCK_SIZE` ids reserved in the journal by one
fsynced commit (:meth:`Journal.reserve_id_block`) before the first id of the block goes out. After a power
loss that took the last intents, startup reconciliation (``app/_reconcile.py``) still knows every order and
fill on the venue that carries an id from a reserved block as this bot's own, cancels or flattens it and
records it (``recon.lost_intent``).

The next block is chosen when half of the current one is used and reserved after the place call that crossed
the half returns (:meth:`ReservedIds.refill`: after the order's frame is written, so off the send path); an id
from a block not yet durable waits for its reservation before its intent (:meth:`ReservedIds.ready`: only when
the whole block went out before the reservation finished).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import trio
from loguru import logger

from ._journal import AsyncJournal, IdBlockOverlap, JournalError, JournalIOError

DEFAULT_BLOCK_SIZE: Final = 4096
"""Ids per reserved block (one fsync per block)."""

_CHOOSE_ATTEMPTS: Final = 64


@dataclass(slots=True)
class _Block:
    first: int
    size: int
    durable: bool = False
    done: trio.Event = field(default_factory=trio.Event)
    reserving: bool = False

    def __contains__(self, n: int) -> bool:
        return self.first <= n < self.first + self.size


def in_blocks(client_order_id: str, blocks: list[tuple[int, int]]) -> bool:
    """True when ``client_order_id`` is a decimal id inside one of ``blocks`` (``(first, size)`` each)."""
    if not client_order_id.isdecimal():
        return False
    n = int(client_order_id)
    return any(first <= n < first + size for first, size in blocks)


class ReservedIds:
    """Client order ids of one venue account (``venue_key`` in the journal), drawn from durably reserved
    blocks inside the venue's numeric id range ``[lo, hi]``. Build it with :meth:`open` (reserves the first
    block). :meth:`next_id` is synchronous (the order path); :meth:`ready` and :meth:`refill` are awaited by
    :class:`~trio_hedge.engine.JournaledVenue` around the send.

    Journal down: a reservation that fails with :class:`JournalIOError` calls ``on_down(exc, where)`` and ids
    keep coming from the chosen block (the recorder then refuses new quotes and logs risk-reducing orders as
    ``UNJOURNALED``).
    """

    def __init__(self, journal: AsyncJournal, venue_key: str, lo: int, hi: int, *,
                 block_size: int = DEFAULT_BLOCK_SIZE, known: list[tuple[int, int]] | None = None,
                 on_down: Callable[[JournalError, str], None] | None = None) -> None:
        if not 0 <= lo < hi or hi - lo + 1 < block_size:
            raise ValueError(f"id range [{lo}, {hi}] cannot hold a block of {block_size}")
        self._journal = journal
        self.venue_key = venue_key
        self._lo, self._hi = lo, hi
        self.block_size = block_size
        self._known: list[tuple[int, int]] = list(known or [])
        self._on_down = on_down
        self._cur = self._choose()
        self._used = 0
        self._next: _Block | None = None
        self.blocks_reserved = 0
        self._log = logger.bind(tag="JOURNAL")

    @classmethod
    async def open(cls, journal: AsyncJournal, venue_key: str, lo: int, hi: int, *,
                   block_size: int = DEFAULT_BLOCK_SIZE,
                   on_down: Callable[[JournalError, str], None] | None = None) -> ReservedIds:
        """Read the blocks reserved before and reserve the first block of this run.

        Raises:
            JournalIOError: the journal failed (the run cannot start with it).
        """
        known = await journal.id_blocks(venue_key)
        ids = cls(journal, venue_key, lo, hi, block_size=block_size, known=known, on_down=on_down)
        await ids._make_durable(ids._cur, raise_down=True)
        return ids

    def _choose(self) -> _Block:
        """A block at a random place in the range that overlaps no block reserved or chosen before."""
        size = self.block_size
        for _ in range(_CHOOSE_ATTEMPTS):
            first = self._lo + secrets.randbelow(self._hi - self._lo + 2 - size)
            if all(first + size <= lo or lo + n <= first for lo, n in self._known):
                self._known.append((first, size))
                return _Block(first, size)
        raise RuntimeError(f"no free id block of {size} in [{self._lo}, {self._hi}] after {_CHOOSE_ATTEMPTS} tries")

    def next_id(self) -> str:
        """The next client order id (decimal). Chooses the next block at half of the current one."""
        if self._used >= self._cur.size:
            self._cur = self._next if self._next is not None else self._choose()
            self._next = None
            self._used = 0
        n = self._cur.first + self._used
        self._used += 1
        if self._next is None and 2 * self._used >= self._cur.size:
            self._next = self._choose()
        return str(n)

    async def ready(self, client_order_id: str) -> None:
        """Return once the block of ``client_order_id`` is durable (at once, but for the first id of a block
        whose reservation has not finished)."""
        cur = self._cur
        if cur.durable or not client_order_id.isdecimal() or int(client_order_id) not in cur:
            return
        await self._make_durable(cur)

    async def refill(self) -> None:
        """Reserve the next block if it is chosen and not yet durable (called after a send: never raises a
        journal error, the order is out; a failure is logged and the block is tried again when its first id
        is used)."""
        nxt = self._next
        if nxt is not None and not nxt.durable and not nxt.reserving:
            try:
                await self._make_durable(nxt)
            except JournalError as exc:
                self._log.warning("id block of {} not reserved yet ({}); trying again before its first id",
                                  self.venue_key, exc)

    async def _make_durable(self, block: _Block, *, raise_down: bool = False) -> None:
        if block.durable:
            return
        if block.reserving:
            await block.done.wait()
            return
        block.reserving = True
        try:
            while True:
                try:
                    await self._journal.reserve_id_block(self.venue_key, block.first, block.size)
                except IdBlockOverlap:
                    # another writer of the same account reserved it meanwhile (never from this process:
                    # one ReservedIds per venue key); nothing of it went out unless it was already current
                    known = await self._journal.id_blocks(self.venue_key)
                    self._known = [*known, *((b.first, b.size) for b in (self._cur, self._next) if b is not None)]
                    if block is self._cur and self._used:
                        raise
                    fresh = self._choose()
                    block.first = fresh.first
                    continue
                break
            block.durable = True
            self.blocks_reserved += 1
        except JournalIOError as exc:
            if raise_down or self._on_down is None:
                raise
            self._on_down(exc, f"client order id block of {self.venue_key}")
        finally:
            block.reserving = False
            block.done.set()


async def open_reserved_ids(
    journal: AsyncJournal, venues: dict[str, object], keys: dict[str, str],
    on_down: Callable[[JournalError, str], None] | None = None,
) -> dict[str, ReservedIds | None]:
    """One :class:`ReservedIds` per venue whose class declares ``client_order_id_range`` (``(lo, hi)``; the
    wire adapters and ccxt), by venue name; None for the others (the in-process simulator's ids are not
    numeric, and its journal key lives only as long as the process). Raises JournalIOError."""
    out: dict[str, ReservedIds | None] = {}
    for name, venue in venues.items():
        span = getattr(type(venue), "client_order_id_range", None)
        out[name] = None if span is None else await ReservedIds.open(journal, keys[name], span[0], span[1],
                                                                     on_down=on_down)
    return out

"""Per-symbol private event channels, shared by every venue implementation.

Each symbol gets one bounded channel (capacity from config). The venue's private-stream task sends into it;
exactly one consumer takes its receive end with :meth:`SymbolEventStreams.take` (``Venue.events``). A full
channel blocks the sender (backpressure: order events are never dropped while a consumer listens). Once the
consumer has closed its end (its market scope ended), further events for that symbol are not streamed: the
venue keeps the record, and whoever needs it queries ``order_status`` / ``fills_since``. A maker fill opens the
fill-priority gate (``trio_hedge/_hotpath.py``) as it is sent.

Bursts: :meth:`SymbolEventStreams.send` does not yield while the channel has room, so a venue's reader hands every
frame it has already received (the rest of a ``recv``) to the engine before the engine runs; the consumer drains
what is queued the same way (``engine/_tracker.py``). Fills that arrived together then reach the hedger together and
are hedged by one route, instead of each waiting behind the hedge of the one before it (``docs/performance.md`` 3h).
"""

from __future__ import annotations

from collections.abc import Iterable

import trio
from loguru import logger

from ._hotpath import FILL_PRIORITY
from .domain import Fill, VenueEvent


class SymbolEventStreams:
    """Bounded private event channels for ``symbols`` of venue ``venue``."""

    def __init__(self, venue: str, symbols: Iterable[str], capacity: int) -> None:
        self._venue = venue
        self._tx: dict[str, trio.MemorySendChannel[VenueEvent]] = {}
        self._rx: dict[str, trio.MemoryReceiveChannel[VenueEvent] | None] = {}
        for s in symbols:
            self._tx[s], self._rx[s] = trio.open_memory_channel[VenueEvent](capacity)
        self._log = logger.bind(tag=venue.upper())

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._tx

    def take(self, symbol: str) -> trio.MemoryReceiveChannel[VenueEvent]:
        """The receive end for ``symbol`` (one consumer). Raises RuntimeError if taken already or unknown."""
        rx = self._rx.get(symbol)
        if rx is None:
            raise RuntimeError(f"{self._venue}: events({symbol!r}) already taken or unknown symbol")
        self._rx[symbol] = None
        return rx

    async def send(self, symbol: str, event: VenueEvent) -> bool:
        """Deliver ``event`` to ``symbol``'s consumer, waiting while its channel is full (the only case in which
        it yields: a checkpoint only then).

        Returns:
            bool: False if the symbol is not ours or its consumer has finished (the event is not streamed).
        """
        tx = self._tx.get(symbol)
        if tx is None:
            return False
        if type(event) is Fill and event.is_maker:
            FILL_PRIORITY.mark()
        try:
            try:
                tx.send_nowait(event)  # room (or a consumer waiting): no checkpoint; see "Bursts" above
            except trio.WouldBlock:
                await tx.send(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._log.debug("no consumer for {} events; {} not streamed", symbol, type(event).__name__)
            return False
        return True

    def close(self) -> None:
        """Close every send end (consumers see the end of their stream)."""
        for tx in self._tx.values():
            tx.close()

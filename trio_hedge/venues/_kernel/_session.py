"""The Venue accessors every wire adapter answers the same way, over the kernel's feed books, the per-symbol
event channels and the instruments loaded at open: an adapter's session class inherits them."""

from __future__ import annotations

import trio

from ..._streams import SymbolEventStreams
from ...domain import Instrument, OrderBook, VenueEvent
from .._base import FeedState
from ._feed import FeedBook


class VenueAccessors:
    """``instrument``, ``book``, ``feed_state``, ``wait_book_change`` and ``events`` of the Venue interface, read
    from ``_instruments``, ``_feeds`` and ``_streams`` (set by the adapter's ``__init__``)."""

    _instruments: dict[str, Instrument]
    _feeds: dict[str, FeedBook]
    _streams: SymbolEventStreams

    def instrument(self, symbol: str) -> Instrument:
        return self._instruments[symbol]

    def book(self, symbol: str) -> OrderBook:
        return self._feeds[symbol].book

    def feed_state(self, symbol: str) -> FeedState:
        return self._feeds[symbol].feed_state()

    async def wait_book_change(self, symbol: str) -> None:
        await self._feeds[symbol].wait_change()

    def events(self, symbol: str) -> trio.MemoryReceiveChannel[VenueEvent]:
        return self._streams.take(symbol)

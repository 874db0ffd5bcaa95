"""Event de-duplication between a venue's private stream (and its reconciliation) and the per-symbol event
channels (:class:`~trio_hedge._streams.SymbolEventStreams`): every fill once, by trade id; an order update
only when it advances the order (a higher :attr:`~trio_hedge.domain.OrderStatus.rank`, or more filled); a
position only when it changed. Reconciliation re-reads what the stream may already have delivered, so without
this gate a reconnect would repeat fills and regress statuses.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ..._streams import SymbolEventStreams
from ...domain import TERMINAL_RANK, ZERO, Fill, OrderUpdate, PositionUpdate

TRADE_MEMORY = 100_000
"""Trade ids remembered (per session) for fill de-duplication; the oldest are forgotten first."""

ORDER_MEMORY = 100_000
"""Orders whose emitted progress is remembered; the oldest are forgotten first."""


@dataclass(slots=True)
class _Progress:
    rank: int = -1  # highest status rank emitted (-1: nothing yet)
    filled: Decimal = ZERO  # highest cumulative filled size emitted


class EventGate:
    """Passes each private event to its symbol's channel at most once (see the module docstring).

    Args:
        streams: the session's per-symbol channels (an event for a symbol not among them is dropped).
        on_terminal: called with ``(symbol, client_order_id)`` when a terminal update of an order passes (an
            adapter frees the id, stops reconciling the order).
    """

    def __init__(
        self,
        streams: SymbolEventStreams,
        *,
        on_terminal: Callable[[str, str], object] | None = None,
        trade_memory: int = TRADE_MEMORY,
        order_memory: int = ORDER_MEMORY,
    ) -> None:
        self._streams = streams
        self._on_terminal = on_terminal
        self._trades: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._orders: OrderedDict[tuple[str, str], _Progress] = OrderedDict()
        self._positions: dict[str, tuple[Decimal, Decimal | None]] = {}
        self._trade_memory = trade_memory
        self._order_memory = order_memory

    # ------------------------------------------------------------------ orders
    def begin(self, symbol: str, client_order_id: str) -> None:
        """A new order is sent under ``client_order_id``: forget what was emitted for an earlier order that
        held the id (venues whose ids are reused, e.g. Backpack's uint32 ``clientId``)."""
        key = (symbol, client_order_id)
        self._orders[key] = _Progress()
        self._orders.move_to_end(key)
        while len(self._orders) > self._order_memory:
            self._orders.popitem(last=False)

    def close(self, symbol: str, client_order_id: str) -> None:
        """The order is known terminal without an update passing (a synchronous refusal)."""
        key = (symbol, client_order_id)
        progress = self._orders.get(key)
        if progress is None:
            progress = self._orders[key] = _Progress()
        progress.rank = TERMINAL_RANK

    def is_terminal(self, symbol: str, client_order_id: str) -> bool:
        progress = self._orders.get((symbol, client_order_id))
        return progress is not None and progress.rank >= TERMINAL_RANK

    def advance(self, update: OrderUpdate) -> bool:
        """Record ``update`` as emitted if it tells the consumer something new about its order: a status of a
        higher rank (never past terminal) or a larger cumulative filled size. An update without a client order
        id (not one of ours) always passes."""
        cid = update.client_order_id
        if not cid:
            return True
        key = (update.symbol, cid)
        progress = self._orders.get(key)
        if progress is None:
            self.begin(update.symbol, cid)
            progress = self._orders[key]
        rank = update.status.rank
        filled = update.filled_size
        more_filled = filled is not None and filled > progress.filled
        if not ((rank > progress.rank and progress.rank < TERMINAL_RANK) or more_filled):
            return False
        was_terminal = progress.rank >= TERMINAL_RANK
        progress.rank = max(progress.rank, rank)
        if more_filled:
            assert filled is not None
            progress.filled = filled
        if rank >= TERMINAL_RANK and not was_terminal and self._on_terminal is not None:
            self._on_terminal(update.symbol, cid)
        return True

    # ------------------------------------------------------------------ emit
    async def fill(self, fill: Fill) -> bool:
        """Emit ``fill`` unless its trade id was emitted already. Returns whether it was emitted."""
        key = (fill.symbol, fill.trade_id)
        if key in self._trades or fill.symbol not in self._streams:
            return False
        self._trades[key] = None
        if len(self._trades) > self._trade_memory:
            self._trades.popitem(last=False)
        await self._streams.send(fill.symbol, fill)
        return True

    async def update(self, update: OrderUpdate) -> bool:
        """Emit ``update`` if it advances its order (:meth:`advance`). Returns whether it was emitted."""
        if update.symbol not in self._streams or not self.advance(update):
            return False
        await self._streams.send(update.symbol, update)
        return True

    async def position(self, update: PositionUpdate) -> bool:
        """Emit ``update`` unless the position (size, entry price) is the one emitted last for its symbol."""
        p = update.position
        key = (p.size, p.entry_price)
        if p.symbol not in self._streams or self._positions.get(p.symbol) == key:
            return False
        self._positions[p.symbol] = key
        await self._streams.send(p.symbol, update)
        return True

"""Cancel and flatten: the cleanup every market scope runs on its way out, and the unwind of a cycle.

These functions use only request/response calls (cancel_all, positions, place, order_status): they do not
rely on the private stream or on any task of the market scope, which may already be cancelled when they
run. Callers run them inside a shielded, bounded scope::

    with trio.move_on_after(cleanup_deadline_s, shield=True):
        await flatten_venues(...)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import trio
from loguru import logger

from ..domain import ZERO, OrderRequest, OrderType, Side, TimeInForce
from ..venues import OrderRejected, RateLimited, Venue, VenueError


@dataclass(frozen=True, slots=True)
class FlattenResult:
    """Outcome of flattening one venue/symbol.

    Attributes:
        venue (str), symbol (str): where.
        cancelled (int | None): orders the venue reported cancelled (None if cancel-all never succeeded).
        orders_sent (int): flatten orders sent.
        final_position (Decimal | None): the position read after flattening (None if it could not be read).
    """

    venue: str
    symbol: str
    cancelled: int | None
    orders_sent: int
    final_position: Decimal | None

    @property
    def flat(self) -> bool:
        return self.final_position is not None and self.final_position == ZERO


async def cancel_all_retrying(venue: Venue, symbol: str, *, attempts: int = 5, backoff_s: float = 0.2) -> int | None:
    """``venue.cancel_all(symbol)`` with bounded retries on venue errors. None if every attempt failed."""
    log = logger.bind(tag=f"{venue.name.upper()}_{symbol}")
    for attempt in range(attempts):
        try:
            return await venue.cancel_all(symbol)
        except RateLimited as exc:
            await trio.sleep(exc.retry_after_s or backoff_s * 2**attempt)
        except VenueError as exc:
            log.warning("cancel-all attempt {} failed: {}", attempt + 1, exc)
            await trio.sleep(backoff_s * 2**attempt)
    return None


async def read_position(venue: Venue, symbol: str, *, attempts: int = 5, backoff_s: float = 0.2) -> Decimal | None:
    """The venue's position in ``symbol`` (0 when absent), or None if it cannot be read."""
    for attempt in range(attempts):
        try:
            positions = await venue.positions()
        except RateLimited as exc:
            await trio.sleep(exc.retry_after_s or backoff_s * 2**attempt)
            continue
        except VenueError as exc:
            logger.bind(tag=f"{venue.name.upper()}_{symbol}").warning("position read failed: {}", exc)
            await trio.sleep(backoff_s * 2**attempt)
            continue
        pos = positions.get(symbol)
        return ZERO if pos is None else pos.size
    return None


async def wait_order_terminal(venue: Venue, symbol: str, client_order_id: str, *, poll_s: float = 0.05) -> None:
    """Poll the venue until the order is terminal or unknown; the caller bounds it with a deadline."""
    while True:
        try:
            report = await venue.order_status(symbol, client_order_id)
        except VenueError:
            report = None
        if report is not None and report.status.is_terminal:
            return
        await trio.sleep(poll_s)


async def flatten_position(
    venue: Venue, symbol: str, *, reason: str, max_orders: int = 5, order_deadline_s: float = 2.0
) -> FlattenResult:
    """Cancel every open order in ``symbol`` and close the position with reduce-only MARKET orders.

    Args:
        venue, symbol: where.
        reason: recorded on the orders (``"flatten"`` / ``"unwind"``).
        max_orders: at most this many flatten orders.
        order_deadline_s: how long to wait for each order to become terminal.

    Returns:
        FlattenResult: ``final_position`` is read from the venue after the last order.
    """
    log = logger.bind(tag=f"{venue.name.upper()}_{symbol}")
    cancelled = await cancel_all_retrying(venue, symbol)
    instrument = venue.instrument(symbol)
    sent = 0
    pos = await read_position(venue, symbol)
    while pos is not None and pos != ZERO and sent < max_orders:
        size = instrument.floor_size(abs(pos))
        if size < instrument.min_size:
            log.error("residual position {} is below the venue's minimum size {}: cannot flatten it", pos,
                      instrument.min_size)
            break
        side = Side.SELL if pos > ZERO else Side.BUY
        req = OrderRequest(
            client_order_id=venue.new_client_order_id(),
            symbol=symbol,
            side=side,
            size=size,
            order_type=OrderType.MARKET,
            tif=TimeInForce.IOC,
            reduce_only=True,
            reason=reason,
        )
        sent += 1
        log.info("{}: {} {} reduce-only market (position {})", reason, side, size, pos)
        try:
            await venue.place(req)
            with trio.move_on_after(order_deadline_s):
                await wait_order_terminal(venue, symbol, req.client_order_id)
        except OrderRejected as exc:
            log.error("{} order rejected: {}", reason, exc)
        except VenueError as exc:
            log.warning("{} order failed: {}", reason, exc)
        pos = await read_position(venue, symbol)
    if pos is None:
        log.error("{}: position could not be read", reason)
    elif pos != ZERO:
        log.error("{}: position still {} after {} orders", reason, pos, sent)
    return FlattenResult(venue.name, symbol, cancelled, sent, pos)


async def flatten_all(legs: list[tuple[Venue, str]], *, reason: str) -> list[FlattenResult]:
    """Cancel everything on every leg first, then flatten all legs concurrently."""
    for venue, symbol in legs:
        await cancel_all_retrying(venue, symbol)
    results: list[FlattenResult | None] = [None] * len(legs)

    async def one(i: int, venue: Venue, symbol: str) -> None:
        results[i] = await flatten_position(venue, symbol, reason=reason)

    async with trio.open_nursery() as nursery:
        for i, (venue, symbol) in enumerate(legs):
            nursery.start_soon(one, i, venue, symbol)
    return [r if r is not None else FlattenResult(v.name, s, None, 0, None) for r, (v, s) in zip(results, legs, strict=True)]

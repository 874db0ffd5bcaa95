"""Cancel and flatten: the cleanup every market scope runs on its way out, and the unwind of a cycle.

These functions use only request/response calls (cancel_all, positions, place, order_status): they do not
rely on the private stream or on any task of the market scope, which may already be cancelled when they
run. Callers run them inside a shielded, bounded scope::

    with trio.move_on_after(cleanup_deadline_s, shield=True):
        await flatten_all(...)

Venue errors go through the engine's one retry policy (``_retry.py``): rate limits back off with jitter,
transient errors retry a bounded number of times, an unknown outcome is resolved by polling the order's
status before the position is read again and anything new is sent, and a refusal is never retried as is
(the position is re-read and a new order decided). Nothing here raises on a venue error: the cleanup must
go on, and its result says whether it ended flat. When the venues are rate limited, pass their priority
view (:func:`~trio_hedge.engine.urgent`) so the cleanup never waits behind ordinary traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import trio
from loguru import logger

from ..domain import ZERO, OrderRequest, OrderType, Side, TimeInForce
from ..venues import Venue, VenueError
from ._retry import RetryPolicy, SubmitOutcome, call_venue, submit_order


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


def _policy(attempts: int, backoff_s: float) -> RetryPolicy:
    return RetryPolicy(backoff_s=backoff_s, backoff_max_s=max(backoff_s, backoff_s * 2 ** (attempts - 1)),
                       rate_limit_retries=max(attempts - 1, 0), transient_retries=max(attempts - 1, 0))


async def cancel_all_retrying(
    venue: Venue, symbol: str, *, attempts: int = 5, backoff_s: float = 0.2, policy: RetryPolicy | None = None
) -> int | None:
    """``venue.cancel_all(symbol)`` with retries by error class (``policy``, or ``attempts`` tries with
    exponential backoff from ``backoff_s``). None if every attempt failed."""
    log = logger.bind(tag=f"{venue.name.upper()}_{symbol}")
    try:
        return await call_venue(venue.cancel_all, symbol, policy=policy or _policy(attempts, backoff_s),
                                what=f"cancel-all {symbol}", log=log)
    except VenueError as exc:
        log.error("cancel-all failed: {}", exc)
        return None


async def read_position(
    venue: Venue, symbol: str, *, attempts: int = 5, backoff_s: float = 0.2, policy: RetryPolicy | None = None
) -> Decimal | None:
    """The venue's position in ``symbol`` (0 when absent), or None if it cannot be read (retries as
    :func:`cancel_all_retrying`)."""
    log = logger.bind(tag=f"{venue.name.upper()}_{symbol}")
    try:
        positions = await call_venue(venue.positions, policy=policy or _policy(attempts, backoff_s),
                                     what="position read", log=log)
    except VenueError as exc:
        log.warning("position read failed: {}", exc)
        return None
    pos = positions.get(symbol)
    return ZERO if pos is None else pos.size


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
    venue: Venue, symbol: str, *, reason: str, max_orders: int = 5, order_deadline_s: float = 2.0,
    policy: RetryPolicy | None = None, cancelled: int | None = None, cancel_first: bool = True,
) -> FlattenResult:
    """Cancel every open order in ``symbol`` and close the position with reduce-only MARKET orders.

    Args:
        venue, symbol: where.
        reason: recorded on the orders (``"flatten"`` / ``"unwind"``).
        max_orders: at most this many flatten orders.
        order_deadline_s: how long to wait for each order to become terminal.
        policy: retries by error class (default: :class:`RetryPolicy` defaults).
        cancel_first: send a cancel-all first (False when the caller just did: a GRVT cancel-all weighs 50).
        cancelled: the caller's cancel-all result, reported when ``cancel_first`` is False.

    Returns:
        FlattenResult: ``final_position`` is read from the venue after the last order.
    """
    log = logger.bind(tag=f"{venue.name.upper()}_{symbol}")
    policy = policy or RetryPolicy()
    if cancel_first:
        cancelled = await cancel_all_retrying(venue, symbol, policy=policy)
    instrument = venue.instrument(symbol)
    sent = 0
    pos = await read_position(venue, symbol, policy=policy)
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
        result = await submit_order(venue, req, policy=policy, halt_on_refusal=False, log=log)
        if result.outcome in (SubmitOutcome.ACCEPTED, SubmitOutcome.UNKNOWN):
            # an unknown outcome is resolved by polling its status before the position is read again
            with trio.move_on_after(order_deadline_s):
                await wait_order_terminal(venue, symbol, req.client_order_id)
        else:
            log.error("{} order {}: {}", reason, result.outcome, result.error)
        pos = await read_position(venue, symbol, policy=policy)
    if pos is None:
        log.error("{}: position could not be read", reason)
    elif pos != ZERO:
        log.error("{}: position still {} after {} orders", reason, pos, sent)
    return FlattenResult(venue.name, symbol, cancelled, sent, pos)


async def flatten_all(
    legs: list[tuple[Venue, str]], *, reason: str, policy: RetryPolicy | None = None
) -> list[FlattenResult]:
    """Cancel everything on every leg first, then flatten all legs concurrently (no second cancel-all)."""
    cancelled = [await cancel_all_retrying(venue, symbol, policy=policy) for venue, symbol in legs]
    results: list[FlattenResult | None] = [None] * len(legs)

    async def one(i: int, venue: Venue, symbol: str) -> None:
        results[i] = await flatten_position(venue, symbol, reason=reason, policy=policy, cancelled=cancelled[i],
                                            cancel_first=cancelled[i] is None)

    async with trio.open_nursery() as nursery:
        for i, (venue, symbol) in enumerate(legs):
            nursery.start_soon(one, i, venue, symbol)
    return [
        r if r is not None else FlattenResult(v.name, s, None, 0, None)
        for r, (v, s) in zip(results, legs, strict=True)
    ]

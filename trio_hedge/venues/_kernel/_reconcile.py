"""One reconciliation loop for every adapter whose private stream can drop: after a reconnect (or a malformed
private frame, or a sequence gap) read over REST what the stream may have missed and emit it through the
:class:`~trio_hedge.venues._kernel.EventGate` (so nothing already delivered is delivered again).

The safe order, per symbol: **order statuses first** (the open-orders listing, and a status query for every order
this session still holds live), **then fills** since the drop, **then positions** (after every symbol). Fills are
read after the statuses so that every fill an order report counts is among the fills read (a fill landing between
the two reads shows in the fills, never in a report whose fills are missing); the fills are emitted before the
reports, so a consumer sees an order's fills before the update that says it is FILLED. Read the other way round
(fills, then statuses), a fill landing between the reads is counted by a FILLED report whose fill is missing
until the stream delivers it.

Retry policy: a pass that fails with a :class:`~trio_hedge.venues.VenueError` (the venue is unreachable, rate
limited, answered 5xx) **or** :class:`~trio_hedge.domain.BadValue` (a malformed answer a codec refused: bad input
from outside, which the project rule says is logged and retried, never a crash of the session) is retried whole,
after the venue's ``Retry-After`` when it sent one, else an exponential backoff with jitter. Anything else is a
bug and propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

import trio

from ...domain import ZERO, BadValue, Fill, OrderUpdate, Position, PositionUpdate
from .._base import OrderReport
from .._errors import RateLimited, VenueError
from .._ws import Backoff
from ._dedupe import EventGate

if TYPE_CHECKING:
    from loguru import Logger


class ReconcileSource(Protocol):
    """What a reconciliation reads: the venue's REST answers (the ``Venue`` methods)."""

    name: str

    async def open_orders(self, symbol: str) -> list[OrderReport]: ...

    async def order_status(self, symbol: str, client_order_id: str) -> OrderReport | None: ...

    async def fills_since(self, symbol: str, since_ns: int) -> list[Fill]: ...

    async def positions(self) -> dict[str, Position]: ...


def update_from_report(venue: str, report: OrderReport, ts_ns: int) -> OrderUpdate:
    """The order update a status report stands for (``ts_ns``: the venue time it is known at)."""
    return OrderUpdate(
        venue=venue, symbol=report.symbol, client_order_id=report.client_order_id, status=report.status,
        venue_order_id=report.venue_order_id, filled_size=report.filled_size, reason=report.reason, ts_ns=ts_ns,
    )  # fmt: skip


class Reconciler:
    """The reconciliation loop of one session (see the module docstring).

    Args:
        source: the venue (REST reads).
        gate: the session's event gate.
        symbols: the session's symbols.
        live: ``live(symbol)`` -> client order ids this session still holds live there (statuses queried).
        ours: ``ours(client_order_id)`` -> whether an order (or a fill of it) belongs to this session.
        venue_time_ns: ``venue_time_ns()`` -> latest venue time seen, ns (stamps the updates made from reports).
        backoff: the retry backoff.
        log: the adapter's logger.
    """

    def __init__(
        self,
        source: ReconcileSource,
        gate: EventGate,
        symbols: Iterable[str],
        *,
        live: Callable[[str], Iterable[str]],
        ours: Callable[[str], bool],
        venue_time_ns: Callable[[], int],
        backoff: Backoff,
        log: Logger,
    ) -> None:
        self._source = source
        self._gate = gate
        self._symbols = tuple(symbols)
        self._live = live
        self._ours = ours
        self._venue_time_ns = venue_time_ns
        self._backoff = backoff
        self._log = log
        self._since_ns: int | None = None
        self._kick = trio.Event()

    def request(self, since_ns: int) -> None:
        """Ask for a reconciliation of everything since ``since_ns`` (venue clock; pending requests merge to the
        earliest). It runs in :meth:`run`, i.e. once the private stream is subscribed again."""
        since_ns = max(0, since_ns)
        self._since_ns = since_ns if self._since_ns is None else min(self._since_ns, since_ns)
        self._kick.set()

    @property
    def pending(self) -> bool:
        return self._kick.is_set()

    async def run(self) -> None:
        """Run a reconciliation whenever one is requested (the adapter starts this inside each private-stream
        session, after subscribing), retrying a failed pass (module docstring). Runs until cancelled."""
        while True:
            await self._kick.wait()
            self._kick = trio.Event()
            since_ns = self._since_ns or 0
            while True:
                try:
                    await self.reconcile(since_ns)
                    break
                except (VenueError, BadValue) as exc:
                    delay = exc.retry_after_s if isinstance(exc, RateLimited) and exc.retry_after_s else None
                    delay = delay or self._backoff.next_delay_s()
                    self._log.warning("reconciliation failed ({}); retrying in {:.2f}s", str(exc)[:200], delay)
                    await trio.sleep(delay)
            self._backoff.reset()
            if not self._kick.is_set():
                self._since_ns = None

    async def reconcile(self, since_ns: int) -> None:
        """One pass: statuses, then fills (emitted first), then the status updates, per symbol; then positions.

        Raises:
            VenueError, BadValue: a read failed (the caller retries).
        """
        src, gate = self._source, self._gate
        n_fills = n_updates = 0
        for symbol in self._symbols:
            reports = {r.client_order_id: r for r in await src.open_orders(symbol)
                       if r.client_order_id and self._ours(r.client_order_id)}  # fmt: skip
            for cid in sorted(set(self._live(symbol)) - set(reports)):
                report = await src.order_status(symbol, cid)
                if report is not None:
                    reports[cid] = report
            for fill in await src.fills_since(symbol, since_ns):
                if self._ours(fill.client_order_id) and await gate.fill(fill):
                    n_fills += 1
            ts_ns = self._venue_time_ns()
            for cid in sorted(reports):
                if await gate.update(update_from_report(src.name, reports[cid], ts_ns)):
                    n_updates += 1
        positions = await src.positions()
        ts_ns = self._venue_time_ns()
        for symbol in self._symbols:
            position = positions.get(symbol) or Position(src.name, symbol, ZERO)
            await gate.position(PositionUpdate(position, ts_ns))
        self._log.info("reconciled since venue time {} ns: {} missed fill(s), {} order update(s) emitted",
                       since_ns, n_fills, n_updates)  # fmt: skip

"""The portfolio guard: limits across the markets of one process, and venue-wide failures.

Each market keeps its own :class:`~trio_hedge.engine._risk.RiskEngine` (its legs' limits, imbalance, kill switch,
feed health); :func:`~trio_hedge.engine.run_market` attaches it to the run's :class:`PortfolioGuard`, which adds:

================================================  ===========  =================================================
trigger                                           to           how it is checked
================================================  ===========  =================================================
sum over markets of ``|primary position| x mid``  (quote held  :meth:`PortfolioGuard.quote_block`, called by each
past ``max_total_notional`` after a full fill     back)        market's pre-trade check: a quote that would
                                                               raise the total past it is not sent
sum of the markets' PnL (realized + unrealized,   HALTED,      on every mark of any market (its fills and its
fees included) <= ``-max_total_loss``             every        risk guard's period): every running market is
                                                  market       halted with :class:`LossLimitHit` (exit 78)
the venue's own session down (``session_down``:   HALTED,      :meth:`PortfolioGuard.watch_sessions`, every
its private stream lost past its budget) longer   every market ``interval_s``: every running market with a leg
than ``down_budget_s``                            on it        on that venue is halted with :class:`VenueDown`
================================================  ===========  =================================================

A market's own failure (its symbol's feed, its hedge, its orders) halts only that market: the others go on.
Halting goes through :meth:`RiskEngine.halt`, so the market's own scope fails and its cleanup flattens its legs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import trio
from loguru import logger

from ..domain import ZERO, OrderRequest
from ..venues import Venue
from ._errors import LossLimitHit, VenueDown

if TYPE_CHECKING:
    from ._risk import RiskEngine


@dataclass(frozen=True, slots=True)
class PortfolioLimits:
    """Limits across every market of the process (``[risk]`` ``max_total_notional`` and ``max_total_loss``).

    Attributes:
        max_total_notional (Decimal): largest sum over markets of ``|primary position| x mid``, quote units
            (the hedge leg mirrors the primary's size).
        max_total_loss (Decimal): the total kill switch: the markets' summed PnL (quote units, fees included)
            at or below ``-max_total_loss`` halts every market (exit 78).
    """

    max_total_notional: Decimal
    max_total_loss: Decimal


def session_down(venue: Venue) -> str | None:
    """Why ``venue``'s session is down as a whole (its private stream lost past its budget), or None.

    A venue implementation may expose a ``session_down`` attribute (a reason string or None); the wrappers
    (:class:`JournaledVenue`, :class:`RateLimitedVenue`) forward it. Venues without one are never reported down
    here (their failures reach each market through its feeds and orders)."""
    reason = getattr(venue, "session_down", None)
    return reason if isinstance(reason, str) and reason else None


class PortfolioGuard:
    """Holds the markets' risk engines and the limits across them (module docstring).

    Args:
        limits: the totals; None = no total limits (venue-wide failures are still acted on).
    """

    def __init__(self, limits: PortfolioLimits | None) -> None:
        self.limits = limits
        self._engines: dict[str, RiskEngine] = {}
        self._running: set[str] = set()
        self._log = logger.bind(tag="PORTFOLIO")

    def attach(self, name: str, risk: RiskEngine) -> None:
        """Count market ``name`` (its risk engine) in the totals; it may be halted by them until :meth:`done`."""
        self._engines[name] = risk
        self._running.add(name)
        risk.portfolio = self

    def done(self, name: str) -> None:
        """Market ``name`` has ended: its PnL still counts in the total loss, it is no longer halted."""
        self._running.discard(name)

    # ------------------------------------------------------------------ totals
    def total_notional(self) -> Decimal:
        """Sum over markets of ``|primary position| x mid`` (quote units; a leg never marked counts 0)."""
        total = ZERO
        for risk in self._engines.values():
            mid = risk.primary.mid()
            if mid is not None:
                total += abs(risk.primary.position) * mid
        return total

    def total_pnl(self) -> Decimal:
        """Sum of the markets' last marked PnL totals (quote units)."""
        return sum((r.stats.pnl.total for r in self._engines.values()), ZERO)

    def quote_block(self, risk: RiskEngine, request: OrderRequest) -> str | None:
        """Why a quote of ``risk``'s market may not go for the total notional, or None (only a quote that
        raises the total is held back)."""
        if self.limits is None:
            return None
        price = request.price if request.price is not None else risk.primary.mid()
        if price is None:
            return None
        now = abs(risk.primary.position) * price
        after = abs(risk.primary.position + request.side.sign * request.size) * price
        if after <= now:
            return None
        total = self.total_notional() - now + after
        if total > self.limits.max_total_notional:
            return (f"max_total_notional: {total.quantize(Decimal('0.01'))} across markets after a full fill "
                    f"(limit {self.limits.max_total_notional})")
        return None

    def check_loss(self) -> None:
        """The total kill switch: halt every running market when the summed PnL is at or below the limit."""
        if self.limits is None:
            return
        total = self.total_pnl()
        if total > -self.limits.max_total_loss:
            return
        for name in sorted(self._running):
            risk = self._engines[name]
            if risk.failure is None:
                risk.halt(LossLimitHit(
                    f"portfolio kill switch: PnL {total.quantize(Decimal('0.0001'))} across "
                    f"{len(self._engines)} market(s) at or below -{self.limits.max_total_loss} quote units"))

    def halt_venue(self, venue: str, reason: str) -> list[str]:
        """Halt every running market with a leg on ``venue`` (:class:`VenueDown`); returns their names."""
        hit = []
        for name in sorted(self._running):
            risk = self._engines[name]
            if venue in (risk.primary.venue.name, risk.hedge.venue.name) and risk.failure is None:
                risk.halt(VenueDown(f"{venue} session down: {reason}"))
                hit.append(name)
        return hit

    async def watch_sessions(self, venues: Mapping[str, Venue], *, interval_s: float, down_budget_s: float) -> None:
        """Every ``interval_s``: a venue whose session has been down (:func:`session_down`) longer than
        ``down_budget_s`` halts every market on it (again each period while it stays down). Runs until
        cancelled."""
        since: dict[str, float] = {}
        while True:
            await trio.sleep(interval_s)
            now = trio.current_time()
            for name, venue in venues.items():
                reason = session_down(venue)
                if reason is None:
                    since.pop(name, None)
                    continue
                start = since.setdefault(name, now)
                if now - start >= down_budget_s:
                    hit = self.halt_venue(name, reason)
                    if hit:
                        self._log.error("venue {} down for {:.2f}s ({}): halting every market on it: {}", name,
                                        now - start, reason, ", ".join(hit))

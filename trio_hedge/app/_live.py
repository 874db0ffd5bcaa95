"""The live status view in the terminal (rich), shown while the bot runs when stdout is a TTY and
``--no-live`` is not given.

It reads the same statistics the metrics endpoint reads: every refresh takes one
:meth:`~trio_hedge.app._metrics.BotCollector.collect` (on the trio loop, between the engine's awaits, like a
scrape) and turns its samples into two tables: per market the trading state (and the operator's pause),
each leg's position, the net exposure, cycles done and per hour, volume, fees, wear (cost per volume, bps),
the primary's maker share, PnL, the last and largest hedge latency; per
feed its connection and the age of its last message. Building the tables is a walk over a few hundred
numbers; rendering them to the terminal happens on rich's own refresh thread (``Live(auto_refresh=True)``),
off the event loop. Log lines keep flowing above the tables (rich redirects ``sys.stderr`` while the view is
up, and the log sink writes to whatever ``sys.stderr`` is at the time: ``app/_logging.py``).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import trio
from prometheus_client.samples import Sample
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from ._metrics import BotCollector

REFRESH_S: Final = 0.25
"""How often the view is rebuilt (and rich redraws it: 4 per second)."""


def collect_samples(collector: BotCollector) -> dict[str, list[Sample]]:
    """One collection of ``collector``'s metrics: every sample by sample name."""
    out: dict[str, list[Sample]] = defaultdict(list)
    for family in collector.collect():
        for s in family.samples:
            out[s.name].append(s)
    return out


def by_label(samples: dict[str, list[Sample]], name: str, label: str = "market") -> dict[str, float]:
    """The values of sample ``name`` keyed by their ``label``."""
    return {s.labels.get(label, ""): s.value for s in samples.get(name, [])}


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f} ms"


def _opt(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def build_view(collector: BotCollector, title: str = "trio_hedge") -> Group:
    """The view's renderable from one collection of ``collector``'s metrics (see the module docstring)."""
    s = collect_samples(collector)
    paused = any(x.value for x in s.get("trio_hedge_paused", []))
    states = {x.labels["market"]: x.labels["state"] for x in s.get("trio_hedge_trading_state", []) if x.value}
    cycles = by_label(s, "trio_hedge_cycles_completed_total")
    failed = by_label(s, "trio_hedge_cycles_failed_total")
    volume = by_label(s, "trio_hedge_volume_quote_total")
    net = by_label(s, "trio_hedge_net_exposure")
    last = by_label(s, "trio_hedge_hedge_latency_last_seconds")
    worst = by_label(s, "trio_hedge_hedge_latency_max_seconds")
    wear = by_label(s, "trio_hedge_wear_bps")
    rate = by_label(s, "trio_hedge_cycles_per_hour")
    maker = by_label(s, "trio_hedge_maker_share")
    fees: dict[str, float] = defaultdict(float)
    for x in s.get("trio_hedge_venue_fees_quote", []):
        fees[x.labels["market"]] += x.value
    pnl = {x.labels["market"]: x.value for x in s.get("trio_hedge_pnl_quote", []) if x.labels["component"] == "total"}
    legs: dict[str, list[str]] = defaultdict(list)
    for x in s.get("trio_hedge_position", []):
        legs[x.labels["market"]].append(f"{x.labels['leg']}: {x.value:+.6g}")
    markets = Table(title=f"{title}{'  [PAUSED: SIGUSR2 resumes]' if paused else ''}", expand=False)
    for col in ("market", "state", "positions", "net", "cycles", "cycles/h", "volume", "fees", "wear bps", "maker",
                "PnL", "last hedge", "worst hedge"):
        markets.add_column(col, justify="left" if col in ("market", "state", "positions") else "right")
    for m in sorted(states):
        state = states[m] + (" (paused)" if paused and states[m] == "REDUCING" else "")
        markets.add_row(m, state, "\n".join(legs.get(m, [])) or "flat", f"{net.get(m, 0.0):+.6g}",
                        f"{cycles.get(m, 0):.0f}" + (f" ({failed[m]:.0f} failed)" if failed.get(m) else ""),
                        _opt(rate.get(m), "{:,.0f}"), f"{volume.get(m, 0.0):,.2f}", f"{fees.get(m, 0.0):,.4f}",
                        _opt(wear.get(m), "{:+.3f}"), _opt(maker.get(m), "{:.0%}"), f"{pnl.get(m, 0.0):+,.4f}",
                        _ms(last.get(m)), _ms(worst.get(m)))
    feeds = Table(title="feeds", expand=False)
    for col in ("venue", "symbol", "connected", "last message"):
        feeds.add_column(col)
    ages = {(x.labels["venue"], x.labels["symbol"]): x.value
            for x in s.get("trio_hedge_feed_last_message_age_seconds", [])}
    for x in s.get("trio_hedge_feed_connected", []):
        key = (x.labels["venue"], x.labels["symbol"])
        age = ages.get(key)
        feeds.add_row(key[0], key[1], "yes" if x.value else "NO", "-" if age is None else f"{age:.2f} s ago")
    return Group(markets, feeds)


@asynccontextmanager
async def open_live_view(collector: BotCollector, *, title: str = "trio_hedge",
                         console: Console | None = None) -> AsyncIterator[None]:
    """Show the live view on ``console`` (default: stdout) until the block exits; a task of its own nursery
    rebuilds it every :data:`REFRESH_S`."""
    con = console or Console(file=sys.stdout)
    live = Live(build_view(collector, title), console=con, auto_refresh=True, refresh_per_second=1 / REFRESH_S,
                redirect_stdout=True, redirect_stderr=True, transient=False)

    async def refresh() -> None:
        while True:
            await trio.sleep(REFRESH_S)
            live.update(build_view(collector, title))

    live.start()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(refresh)
            try:
                yield
            finally:
                nursery.cancel_scope.cancel()
    finally:
        live.update(build_view(collector, title))
        live.stop()

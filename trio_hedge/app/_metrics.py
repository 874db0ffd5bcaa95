"""The Prometheus metrics endpoint: ``GET /metrics`` on loopback, served inside the bot's task tree.

A custom collector (:class:`BotCollector`) reads the engine's statistics (``MarketStats``), the venues' feed
states and the journal recorder's counters when a scrape arrives: nothing is done on the hot path (the
hedger only records into its bounded ``LatencyHistogram``). Scrapes run on the trio loop, between the
engine's awaits, so they read a consistent state without locks; a scrape costs a walk over a few hundred
numbers.

The app is a Starlette route rendering a private ``CollectorRegistry`` (never prometheus_client's global
one) with prometheus_client's exposition (text format 0.0.4, or OpenMetrics when the scraper asks for it in
``Accept``), served by :func:`~trio_hedge.sim._asgi.serve_asgi` (hypercorn's trio worker).

Metrics (names and units after the Prometheus naming conventions,
https://prometheus.io/docs/practices/naming/: base units, seconds, ``_total`` for counters):

==================================================  =========  ====================================================
name                                                type       labels / meaning
==================================================  =========  ====================================================
``trio_hedge_hedge_latency_seconds``                histogram  market; the adapter's receipt of the fill's frame
                                                               -> its write of the first hedge order's frame.
                                                               ``le`` buckets: 4 per decade, 1 us .. 10 s
                                                               (every 5th bound of the engine's histogram, so
                                                               each is exact)
``trio_hedge_engine_latency_seconds``               histogram  market; the engine's share: the tracker's receipt
                                                               of the fill -> the first hedge order submitted
``trio_hedge_hedge_latency_max_seconds``            gauge      market; the largest hedge latency so far
``trio_hedge_cycles_completed_total``               counter    market
``trio_hedge_cycles_failed_total``                  counter    market
``trio_hedge_maker_fills_total``                    counter    market; fills of our maker quotes
``trio_hedge_hedge_orders_total``                   counter    market; hedge orders sent (IOC slices)
``trio_hedge_volume_quote_total``                   counter    market; traded notional, quote units
``trio_hedge_max_abs_net_exposure``                 gauge      market; max abs(primary + hedge) from fills, base
                                                               units
``trio_hedge_net_exposure``                         gauge      market; primary + hedge position from fills, base
``trio_hedge_position``                             gauge      market, leg (``<venue> <symbol>``); from fills,
                                                               base units
``trio_hedge_hedge_latency_last_seconds``           gauge      market; the latest hedge's latency
``trio_hedge_paused``                               gauge      1 while the operator's pause (SIGUSR1) is on
``trio_hedge_pnl_quote``                            gauge      market, component (realized, unrealized, fees,
                                                               total); quote units
``trio_hedge_trading_state``                        gauge      market, state (ACTIVE, REDUCING, HALTED): 1 for
                                                               the current state
``trio_hedge_halts_total``                          counter    market
``trio_hedge_quote_skips_total``                    counter    market, reason
``trio_hedge_hedge_routing_total``                  counter    market, step (router fallback steps)
``trio_hedge_rate_limit_waits_total``               counter    market, venue, lane (normal, priority)
``trio_hedge_venue_rate_limited_total``             counter    market, venue; rate-limit errors from the venue
``trio_hedge_wear_bps``                            gauge      market; cost per volume, -PnL / volume x 1e4 (fees
                                                               included; positive = a cost)
``trio_hedge_cycles_per_hour``                      gauge      market; completed cycles per venue-clock hour
``trio_hedge_maker_share``                          gauge      market; maker share of the primary's notional
``trio_hedge_venue_volume_quote_total``             counter    market, venue; fill notional, quote units
``trio_hedge_venue_fees_quote``                     gauge      market, venue; fees paid (negative = rebates)
``trio_hedge_feed_connected``                       gauge      venue, symbol; 1 connected and synced, else 0
``trio_hedge_feed_last_message_age_seconds``        gauge      venue, symbol; since the last message applied
``trio_hedge_journal_writes_total``                 counter    kind (intents, statuses, fills, ...)
``trio_hedge_journal_max_queued``                   gauge      high-water mark of the journal's report queue
==================================================  =========  ====================================================
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial

import trio
from loguru import logger
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..domain import leaves, sole_failure
from ..engine import LatencyHistogram, MarketStats, PauseSwitch, TradingState
from ..sim._asgi import Bound, serve_asgi  # not re-exported by trio_hedge.sim (its owner's call)
from ..venues import Venue
from ._config import ConfigError, MetricsConfig
from ._reconcile import JournalRecorder

PROMETHEUS_BOUND_STEP = 5
"""Export every 5th bound of the engine's histogram as a Prometheus ``le`` bucket: 4 per decade (1, 1.78,
3.16, 5.62 x 10^k s), 29 buckets plus ``+Inf``; each is a bound of the histogram, so its count is exact."""

_LE_BOUNDS = tuple(
    (i, repr(b / 1e9))  # e.g. "1.778e-06": the exact bound in seconds, as Python writes the float
    for i, b in enumerate(LatencyHistogram.BOUNDS_NS)
    if i % PROMETHEUS_BOUND_STEP == 0
)


def latency_buckets_s(hist: LatencyHistogram) -> list[tuple[str, float]]:
    """``hist`` as Prometheus cumulative ``(le, count)`` pairs in seconds: every
    :data:`PROMETHEUS_BOUND_STEP`-th bound of the histogram, then ``("+Inf", count)``."""
    cumulative = list(hist.cumulative())
    return [(le, float(cumulative[i][1])) for i, le in _LE_BOUNDS] + [("+Inf", float(hist.count))]


class BotCollector:
    """A prometheus_client collector over the run's live state (module docstring lists the metrics).

    Args:
        stats: every market's statistics by market name (the run's own dict: read at scrape time).

    The venues and the journal recorder exist only once the run has opened them: :meth:`watch_venues` and
    :meth:`watch_journal` add them (until then their metrics are absent).
    """

    def __init__(self, stats: Mapping[str, MarketStats]) -> None:
        self._stats = stats
        self._venues: dict[tuple[str, str], tuple[Venue, str]] = {}
        self._recorder: JournalRecorder | None = None
        self._pause: PauseSwitch | None = None

    def watch_pause(self, pause: PauseSwitch) -> None:
        """Report the operator's pause switch (``trio_hedge_paused``)."""
        self._pause = pause

    def watch_venues(self, venues: Mapping[str, Venue], symbols: Mapping[str, str | tuple[str, ...]]) -> None:
        """Report the feed state of ``venues[name]`` for each of ``symbols[name]`` (one symbol or several; venues
        without a symbol are skipped)."""
        self._venues = {}
        for name, v in venues.items():
            given = symbols.get(name, ())
            for sym in (given,) if isinstance(given, str) else given:
                self._venues[(name, sym)] = (v, sym)

    def watch_journal(self, recorder: JournalRecorder) -> None:
        """Report the journal recorder's write counts and queue high-water mark."""
        self._recorder = recorder

    def collect(self) -> Iterator[Metric]:
        """Build every metric family from the current state (called by the registry at each scrape)."""
        mk = ["market"]
        latency = HistogramMetricFamily("trio_hedge_hedge_latency_seconds",
                                        "Fill frame received to first hedge order frame written.", labels=mk)
        engine = HistogramMetricFamily("trio_hedge_engine_latency_seconds",
                                       "Engine's share: fill tracked to first hedge order submitted.", labels=mk)
        latency_max = GaugeMetricFamily("trio_hedge_hedge_latency_max_seconds", "Largest hedge latency so far.",
                                        labels=mk)
        completed = CounterMetricFamily("trio_hedge_cycles_completed", "Hedge cycles completed.", labels=mk)
        failed = CounterMetricFamily("trio_hedge_cycles_failed", "Hedge cycles failed.", labels=mk)
        fills = CounterMetricFamily("trio_hedge_maker_fills", "Fills of our maker quotes.", labels=mk)
        hedges = CounterMetricFamily("trio_hedge_hedge_orders", "Hedge orders sent.", labels=mk)
        volume = CounterMetricFamily("trio_hedge_volume_quote", "Traded notional on both legs, quote units.",
                                     labels=mk)
        exposure = GaugeMetricFamily("trio_hedge_max_abs_net_exposure",
                                     "Largest abs(primary + hedge) position from fills, base units.", labels=mk)
        pnl = GaugeMetricFamily("trio_hedge_pnl_quote", "PnL from fills, quote units, fees included.",
                                labels=[*mk, "component"])
        state = GaugeMetricFamily("trio_hedge_trading_state", "1 for the market's current trading state.",
                                  labels=[*mk, "state"])
        halts = CounterMetricFamily("trio_hedge_halts", "Transitions to HALTED.", labels=mk)
        skips = CounterMetricFamily("trio_hedge_quote_skips", "Quotes held back or pulled, by reason.",
                                    labels=[*mk, "reason"])
        routing = CounterMetricFamily("trio_hedge_hedge_routing", "Hedge router fallback steps used.",
                                      labels=[*mk, "step"])
        waits = CounterMetricFamily("trio_hedge_rate_limit_waits", "Requests that waited for the client budget.",
                                    labels=[*mk, "venue", "lane"])
        limited = CounterMetricFamily("trio_hedge_venue_rate_limited", "Rate-limit errors from the venue.",
                                      labels=[*mk, "venue"])
        net = GaugeMetricFamily("trio_hedge_net_exposure", "primary + hedge position from fills, base units.",
                                labels=mk)
        position = GaugeMetricFamily("trio_hedge_position", "Each leg's position from fills, base units.",
                                     labels=[*mk, "leg"])
        latency_last = GaugeMetricFamily("trio_hedge_hedge_latency_last_seconds", "The latest hedge's latency.",
                                         labels=mk)
        wear = GaugeMetricFamily("trio_hedge_wear_bps", "Cost per volume: -PnL / volume x 1e4, fees included.",
                                 labels=mk)
        rate = GaugeMetricFamily("trio_hedge_cycles_per_hour", "Completed cycles per venue-clock hour.", labels=mk)
        maker = GaugeMetricFamily("trio_hedge_maker_share", "Maker share of the primary's traded notional.",
                                  labels=mk)
        vvol = CounterMetricFamily("trio_hedge_venue_volume_quote", "Fill notional per venue, quote units.",
                                   labels=[*mk, "venue"])
        vfees = GaugeMetricFamily("trio_hedge_venue_fees_quote", "Fees paid per venue, quote units.",
                                  labels=[*mk, "venue"])
        for name, s in self._stats.items():
            for attr, family in (("wear_bps", wear), ("cycles_per_hour", rate), ("maker_share", maker)):
                value = getattr(s, attr)
                if value is not None:
                    family.add_metric([name], float(value))
            for venue, v in sorted(s.venue_volume_quote.items()):
                vvol.add_metric([name, venue], float(v))
                vfees.add_metric([name, venue], float(s.venue_fees_quote.get(venue, 0)))
            h = s.hedge_latency_ns
            latency.add_metric([name], latency_buckets_s(h), h.sum_ns / 1e9)
            e = s.engine_latency_ns
            engine.add_metric([name], latency_buckets_s(e), e.sum_ns / 1e9)
            if h.max_ns is not None:
                latency_max.add_metric([name], h.max_ns / 1e9)
            completed.add_metric([name], s.cycles_completed)
            failed.add_metric([name], s.cycles_failed)
            fills.add_metric([name], s.maker_fills)
            hedges.add_metric([name], s.hedge_orders)
            volume.add_metric([name], float(s.volume_quote))
            exposure.add_metric([name], float(s.max_abs_net_exposure))
            for component, value in (("realized", s.pnl.realized), ("unrealized", s.pnl.unrealized),
                                     ("fees", s.pnl.fees), ("total", s.pnl.total)):
                pnl.add_metric([name, component], float(value))
            current = s.transitions[-1].to_state if s.transitions else TradingState.ACTIVE
            for st in TradingState:
                state.add_metric([name, st.value], 1.0 if st is current else 0.0)
            halts.add_metric([name], len(s.halts))
            for reason, n in sorted(s.quote_skips.items()):
                skips.add_metric([name, reason], n)
            for step, n in sorted(s.routing.items()):
                routing.add_metric([name, step], n)
            for venue, b in sorted(s.rate_limits.items()):
                waits.add_metric([name, venue, "normal"], b.normal.waited)
                waits.add_metric([name, venue, "priority"], b.priority.waited)
                limited.add_metric([name, venue], b.venue_rate_limited)
            net.add_metric([name], float(s.net_exposure))
            for leg, size in sorted(s.positions.items()):
                position.add_metric([name, leg], float(size))
            if s.last_hedge_latency_ns is not None:
                latency_last.add_metric([name], s.last_hedge_latency_ns / 1e9)
        yield from (latency, engine, latency_max, completed, failed, fills, hedges, volume, exposure, pnl, state, halts,
                    skips, routing, waits, limited, net, position, latency_last, wear, rate, maker, vvol, vfees)
        if self._pause is not None:
            yield GaugeMetricFamily("trio_hedge_paused", "1 while the operator's pause (SIGUSR1) is on.",
                                    value=1.0 if self._pause.paused else 0.0)
        yield from self._feeds()
        yield from self._journal()

    def _feeds(self) -> Iterator[Metric]:
        if not self._venues:
            return
        connected = GaugeMetricFamily("trio_hedge_feed_connected", "1 when the market-data feed is connected "
                                      "and its book synced.", labels=["venue", "symbol"])
        age = GaugeMetricFamily("trio_hedge_feed_last_message_age_seconds", "Seconds since the feed's last "
                                "message was applied (trio clock).", labels=["venue", "symbol"])
        try:
            now: float | None = trio.current_time()
        except RuntimeError:  # collected outside a trio run (a test rendering the registry directly)
            now = None
        for (name, _), (venue, symbol) in sorted(self._venues.items()):
            try:
                fs = venue.feed_state(symbol)
            except KeyError:
                continue
            connected.add_metric([name, symbol], 1.0 if fs.connected else 0.0)
            if now is not None and math.isfinite(fs.last_message_s):
                age.add_metric([name, symbol], max(0.0, now - fs.last_message_s))
        yield connected
        yield age

    def _journal(self) -> Iterator[Metric]:
        rec = self._recorder
        if rec is None:
            return
        writes = CounterMetricFamily("trio_hedge_journal_writes", "Journal writes by kind.", labels=["kind"])
        for kind, n in sorted(rec.counts.items()):
            writes.add_metric([kind], n)
        yield writes
        yield GaugeMetricFamily("trio_hedge_journal_max_queued", "High-water mark of the journal's report queue.",
                                value=rec.max_queued)


def build_metrics_app(registry: CollectorRegistry) -> Starlette:
    """A Starlette app serving ``GET /metrics`` from ``registry`` (text format 0.0.4, or OpenMetrics when
    ``Accept`` asks for it: prometheus_client's ``choose_encoder``); any other path is 404."""

    async def metrics(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), headers={"Content-Type": content_type})

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """A running metrics endpoint: ``bound`` (host, port), ``url`` (``http://host:port/metrics``), and the
    private ``registry`` it renders."""

    bound: Bound
    url: str
    registry: CollectorRegistry


@asynccontextmanager
async def open_metrics_server(
    collector: BotCollector, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[MetricsServer]:
    """Serve ``collector`` at ``http://host:port/metrics`` until the block exits (the server is cancelled
    then). ``port=0`` binds an ephemeral port (see ``MetricsServer.url``). The caller checks that ``host`` is
    allowed (``[metrics]`` in ``_config/_sections.py``: loopback unless ``allow_remote``).

    Raises:
        ConfigError: the address cannot be bound (key ``metrics.port``; e.g. the port is in use).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    app = build_metrics_app(registry)
    bind_host = f"[{host}]" if ":" in host else host  # IPv6 literal in hypercorn's "host:port" bind syntax
    failure: OSError | None = None
    async with trio.open_nursery() as nursery:
        try:
            bound: Bound = await nursery.start(partial(serve_asgi, app, host=bind_host, port=port))
        except* OSError as eg:
            leaf = sole_failure(eg)
            failure = leaf if isinstance(leaf, OSError) else OSError("; ".join(str(e) for e in leaves(eg)))
        if failure is None:
            try:
                url_host = f"[{bound.host}]" if ":" in bound.host else bound.host
                yield MetricsServer(bound, f"http://{url_host}:{bound.port}/metrics", registry)
            finally:
                nursery.cancel_scope.cancel()
    if failure is not None:  # raised outside the nursery: a plain ConfigError, not a group
        raise ConfigError("metrics.port", f"cannot listen on {host}:{port} ({failure.strerror or failure})",
                          "free the port or choose another metrics.port (metrics.enabled = false turns the "
                          "endpoint off)")


async def start_metrics(
    settings: MetricsConfig, stats: Mapping[str, MarketStats], stack: AsyncExitStack
) -> BotCollector | None:
    """``run_bot``'s setup: when ``settings.enabled``, start the endpoint on ``stack`` (it stops when the stack
    closes), log its URL, and return the collector (the run then hands it its venues and journal recorder);
    None when disabled.

    Raises:
        ConfigError: the address cannot be bound (see :func:`open_metrics_server`).
    """
    if not settings.enabled:
        return None
    collector = BotCollector(stats)
    server = await stack.enter_async_context(open_metrics_server(collector, host=settings.host, port=settings.port))
    logger.bind(tag="METRICS").info("Prometheus metrics at {}", server.url)
    return collector



"""The main job: open the simulator and both venue sessions, run every market scope, report, decide the
exit code.

Task tree::

    trio.run(main)
    └── root nursery
        ├── signal watcher        SIGINT/SIGTERM: first → graceful stop (no new cycles, cancel, flatten);
        │                         second → cancel everything (cleanup still runs, shielded and bounded)
        ├── sim exchange          replay drivers (one per recording), matching engines
        ├── venue session × 2     open_sim_venue(): feed per symbol, private stream
        ├── end-of-data watcher   the recordings ran out → graceful stop
        └── market scope × M      run_market(): trackers, risk guard, hedger; cleanup on exit

Exit codes: 0 clean and flat; 75 a venue or feed unreachable; 3 not flat after cleanup; 1 other failures;
78 configuration errors (raised before anything starts, see the CLI).
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import trio
from loguru import logger

from ..domain import ZERO
from ..engine import EXIT_FAILURE, EXIT_NOT_FLAT, EXIT_OK, MarketOutcome, MarketStats, run_market
from ..sim import ContractSpec, SimExchange, SimMarket, SimSettings, open_sim_exchange
from ..venues import Venue, VenueError
from ._config import Config
from ._wire import open_venues
from ._report import build_summary


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run ended with: the process exit code, its reason, and the summary dict."""

    exit_code: int
    exit_reason: str
    summary: dict[str, Any]


def sim_markets(config: Config) -> list[SimMarket]:
    """The simulator markets the configured sim venues describe."""
    out = []
    for vc in config.venues.values():
        v = vc.market
        if v is None:
            continue
        spec = ContractSpec(
            inverse=v.inverse,
            contract_value_quote=v.contract_value_quote,
            lot_size=v.instrument.lot_size,
        )
        out.append(SimMarket(v.name, v.instrument, v.recording, spec, v.maker_fee_bps, v.taker_fee_bps))
    return out


async def _signal_watcher(
    stop: trio.Event, reasons: list[str], root: trio.CancelScope, *, task_status: trio.TaskStatus[None]
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if not stop.is_set():
                reasons.append(f"stopped by {name}")
                logger.bind(tag="MAIN").warning("{}: graceful stop (no new cycles, cancel, flatten)", name)
                stop.set()
            else:
                logger.bind(tag="MAIN").error("{} again: cancelling now (cleanup still runs)", name)
                root.cancel()


async def _positions(venues: dict[str, Venue]) -> dict[str, dict[str, Decimal | None]]:
    out: dict[str, dict[str, Decimal | None]] = {}
    for name, venue in venues.items():
        try:
            with trio.move_on_after(5):
                pos = await venue.positions()
                out[name] = {sym: p.size for sym, p in pos.items()}
                continue
        except VenueError as exc:
            logger.bind(tag="MAIN").error("final position read failed on {}: {}", name, exc)
        out[name] = {"?": None}
    return out


def _decide(
    config: Config,
    outcomes: dict[str, MarketOutcome],
    stats: dict[str, MarketStats],
    final: dict[str, dict[str, Decimal | None]],
    stop_reasons: list[str],
) -> tuple[int, str]:
    flat = all(p is not None and p == ZERO for syms in final.values() for p in syms.values())
    failures = [(name, o.failure) for name, o in outcomes.items() if o.failure is not None]
    completed = sum(s.cycles_completed for s in stats.values())
    if failures:
        name, exc = failures[0]
        assert exc is not None
        code, reason = exc.exit_code, f"market {name} failed: {type(exc).__name__}: {exc}"
    elif stop_reasons:
        code, reason = EXIT_OK, f"{stop_reasons[0]} after {completed} cycles"
    elif len(outcomes) < len(config.markets):
        code, reason = EXIT_FAILURE, "run ended before every market finished"
    else:
        code, reason = EXIT_OK, f"completed {completed} cycles"
    if not flat:
        code = EXIT_NOT_FLAT
        reason = f"NOT FLAT at exit ({final}); {reason}"
    else:
        reason = f"{reason}; flat on every venue"
    return code, reason


async def run_bot(
    config: Config,
    *,
    handle_signals: bool = False,
    sim_hook: Callable[[SimExchange], Awaitable[None]] | None = None,
) -> RunResult:
    """Run the main job on ``config`` and return its result (it does not exit the process).

    Args:
        config: validated configuration.
        handle_signals: install the SIGINT/SIGTERM watcher (the CLI does; tests usually do not).
        sim_hook: started as a task with the running simulator (fault injection in tests).
    """
    log = logger.bind(tag="MAIN")
    stop = trio.Event()
    stop_reasons: list[str] = []
    stats = {m.name: MarketStats() for m in config.markets}
    outcomes: dict[str, MarketOutcome] = {}
    final: dict[str, dict[str, Decimal | None]] = {}
    async with trio.open_nursery() as root:
        if handle_signals:
            await root.start(_signal_watcher, stop, stop_reasons, root.cancel_scope)
        settings = SimSettings(
            speed=config.sim.speed,
            latency_s=config.sim.latency_s,
            market_data_capacity=config.sim.market_data_capacity,
            account_capacity=config.sim.account_capacity,
        )
        log.info("starting the embedded simulator: {} venues, speed {}x, latency {} ms",
                 len(config.venues), config.sim.speed, config.sim.latency_s * 1000)
        sim_mkts = sim_markets(config)
        async with AsyncExitStack() as outer:
            exchange = await outer.enter_async_context(open_sim_exchange(settings, sim_mkts)) if sim_mkts else None
            servers = await outer.enter_async_context(trio.open_nursery())
            outer.callback(servers.cancel_scope.cancel)
            stack = await outer.enter_async_context(AsyncExitStack())
            venues = await open_venues(config, exchange, servers, stack)
            live = [name for name, vc in config.venues.items() if vc.endpoint == "live"]
            if live:
                log.warning("LIVE venues {}: REAL orders with REAL money start in 5 s (Ctrl-C to abort)", live)
                with trio.move_on_after(5):
                    await stop.wait()
                if stop.is_set():
                    log.warning("stopped before the first real order")

            async def end_of_data() -> None:
                if exchange is None:
                    return
                await exchange.finished.wait()
                if not stop.is_set():
                    stop_reasons.append("recorded data ended")
                    log.warning("the recordings ran out: graceful stop")
                    stop.set()

            root.start_soon(end_of_data)
            if sim_hook is not None and exchange is not None:
                root.start_soon(sim_hook, exchange)
            log.info("venues ready; running {} market(s), {} cycles each", len(config.markets),
                     config.markets[0].cycles)

            async def one(ms_name: str) -> None:
                ms = next(m for m in config.markets if m.name == ms_name)
                outcomes[ms_name] = await run_market(
                    ms, venues[config.primary], venues[config.hedge], stats[ms_name], stop
                )

            async with trio.open_nursery() as market_nursery:
                for m in config.markets:
                    market_nursery.start_soon(one, m.name)
            with trio.CancelScope(shield=True):
                final = await _positions(venues)
        root.cancel_scope.cancel()
    code, reason = _decide(config, outcomes, stats, final, stop_reasons)
    summary = build_summary(stats, final, reason, code)
    (log.info if code == EXIT_OK else log.error)("exit {}: {}", code, reason)
    return RunResult(code, reason, summary)

"""The main job: open the journal, the simulator and the venue sessions, reconcile, run every market scope,
report, decide the exit code.

Task tree::

    trio.run(main)
    └── root nursery
        ├── signal watcher        installed first. SIGINT/SIGTERM: first → graceful stop (no new cycles,
        │                         cancel, flatten) and the stop budget starts (_stop.py); second → every
        │                         remaining wait cut short (the exit still tells the truth); third → hard stop
        ├── metrics endpoint      [metrics] enabled: _metrics.py, GET /metrics on loopback (stops last)
        ├── operator tools        _ops.py: SIGUSR1/SIGUSR2 pause and resume, alerts, trades.csv, live view
        ├── journal               AsyncJournal (own thread); the run recorded (record_start) and the crash-loop
        │   │                     breaker checked before anything else starts
        │   └── journal writer    JournalRecorder.run: queued status changes and fills, in order
        ├── sim exchange          replay drivers (one per recording), matching engines
        ├── venue session × 2     feed per symbol, private stream (wrapped in JournaledVenue: intent before
        │                         every send)
        ├── reconciliation        _reconcile.py: in-flight intents, open orders, fills, positions; cancel,
        │                         flatten; nothing trades before it is done
        ├── end-of-data watcher   the recordings ran out → graceful stop
        └── market scope × M      run_market(): trackers, risk guard, hedger; cleanup on exit

Exit codes (``_process.py``): 0 clean and flat; 75 a venue or feed unreachable (reconciliation could not
read a venue included); 74 the journal went down during the run; 3 not flat after cleanup; 1 other failures;
78 configuration errors, credentials a venue refused, a second instance, a damaged journal, the crash-loop
breaker (see the CLI). The run's
exit code is recorded in the journal whenever the journal can take it.
"""

from __future__ import annotations

import math
import os
import secrets
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Final

import trio
from loguru import logger

from .._hotpath import FILL_PRIORITY, WARM_PATH
from ..domain import ZERO, AuthError, TrioHedgeError, leaves
from ..engine import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_JOURNAL_DOWN,
    EXIT_NOT_FLAT,
    EXIT_OK,
    JournaledVenue,
    MarketOutcome,
    MarketStats,
    NotFlat,
    PauseSwitch,
    PortfolioGuard,
    RateLimitedVenue,
    TokenBucket,
    credentials_fix,
    exit_code_of,
    run_market,
)
from ..sim import ContractSpec, SimExchange, SimMarket, SimSettings, open_sim_exchange
from ..venues import Venue, VenueError
from ._config import Config
from ._idblocks import open_reserved_ids
from ._journal import AsyncJournal, JournalError, JournalIOError, JournalTimeout, open_async_journal
from ._metrics import BotCollector, start_metrics
from ._ops import open_ops
from ._process import crash_loop_tripped
from ._reconcile import (
    JournalRecorder,
    ReconcileLeg,
    VenueUnreadable,
    fill_checkpoint,
    reconcile,
    record_fills,
    sync_inflight,
)
from ._report import build_summary
from ._stop import StopBudget
from ._wire import open_venues

FINAL_READ_SLACK_S: Final = 0.5
"""What the exit's position-read phase (:meth:`StopBudget.phase`) allows beyond ``run.final_read_ms``, seconds:
each venue's read is bounded by ``run.final_read_ms`` inside the phase, and this margin lets that inner bound
fire first, so a venue that does not answer is logged and reported unknown (None) by its own read rather than
cut off with the whole phase. Small against ``run.stop_budget_ms`` (the phase also ends before the budget's
journal-close tail)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a run ended with: the process exit code, its reason, and the summary dict."""

    exit_code: int
    exit_reason: str
    summary: dict[str, Any]
    journal_venues: dict[str, str] = field(default_factory=dict)


def sim_markets(config: Config, *, every_symbol: bool = False) -> list[SimMarket]:
    """The simulator markets the configured sim venues describe: each symbol a market trades (``every_symbol``:
    every symbol the venues list, for the ``sim`` command), with its own recording, contract and fees."""
    out = []
    for name, vc in config.venues.items():
        symbols = tuple(vc.symbols) if every_symbol else config.traded_symbols(name)
        for sym in symbols:
            v = vc.symbol_config(sym).market
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
    stop: trio.Event, reasons: list[str], budget: StopBudget, *, task_status: trio.TaskStatus[None]
) -> None:
    """SIGINT/SIGTERM: the first is the graceful stop (the stop budget starts); the second cuts every wait of
    the stop short (:meth:`StopBudget.hurry`; the exit still tells the truth); the third is the hard stop."""
    count = 0
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            count += 1
            if count == 1 and not stop.is_set():
                reasons.append(f"stopped by {name}")
                logger.bind(tag="MAIN").warning("{}: graceful stop (no new cycles, cancel, flatten)", name)
                budget.begin(f"{name} received")
                stop.set()
            elif count <= 2:
                budget.begin(f"{name} received")
                logger.bind(tag="MAIN").error("{} again: the stop goes on with its waits cut short", name)
                budget.hurry()
            else:
                budget.hard_stop(f"{name} received a third time")


async def _positions(
    venues: dict[str, Venue], symbols: dict[str, tuple[str, ...]], *, wait_s: float
) -> dict[str, dict[str, Decimal | None]]:
    """Every venue's positions, read from the venues concurrently, each within ``wait_s`` (``run.final_read_ms``).
    Each traded symbol (``symbols``: venue → its traded symbols) is always present: as the venue reports it
    (every venue reports a flat symbol of its session as 0: the ``Venue.positions`` contract; a symbol missing
    from an answer is still taken as 0, a guard for a venue that omits one), None ("unknown") when the venue
    could not be read: a missing report is never read as flat."""
    out: dict[str, dict[str, Decimal | None]] = {}

    async def read(name: str, venue: Venue) -> None:
        traded = symbols.get(name, ())
        try:
            with trio.move_on_after(wait_s):
                pos = await venue.positions()
                out[name] = {sym: p.size for sym, p in pos.items()}
                for sym in traded:
                    out[name].setdefault(sym, ZERO)
                return
            logger.bind(tag="MAIN").error("final position read of {} got no answer within {:g}s", name, wait_s)
        except VenueError as exc:
            logger.bind(tag="MAIN").error("final position read failed on {}: {}", name, exc)
        out[name] = dict.fromkeys(traded or ("?",))

    async with trio.open_nursery() as nursery:
        for name, venue in venues.items():
            nursery.start_soon(read, name, venue)
    return {name: out[name] for name in venues}


def _decide(
    config: Config,
    outcomes: dict[str, MarketOutcome],
    stats: dict[str, MarketStats],
    final: dict[str, dict[str, Decimal | None]],
    stop_reasons: list[str],
) -> tuple[int, str]:
    flat = all(p is not None and p == ZERO for syms in final.values() for p in syms.values())
    failures = [(name, e) for name, o in outcomes.items() for e in o.failures]
    completed = sum(s.cycles_completed for s in stats.values())
    if failures:
        # a bug (anything that is not a TrioHedgeError) wins over expected failures: exit 1, and its name first
        bugs = [(n, e) for n, e in failures if not isinstance(e, TrioHedgeError)]
        name, exc = (bugs or failures)[0]
        code = EXIT_FAILURE if bugs else exit_code_of(exc)  # refused credentials (AuthError): 78
        reason = f"market {name} failed: {'bug: ' if bugs else ''}{type(exc).__name__}: {exc}"
        others = [f"{type(e).__name__}: {e}" for n, e in failures if e is not exc]
        if others:
            reason += f" (also: {'; '.join(others)})"
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


def journal_keys(config: Config, session: str) -> dict[str, str]:
    """Each venue's name in the journal: its own name for a live venue (the account); for a simulated venue
    ``<name>@sim-<session>``: an embedded simulator is a fresh exchange in every process, so its orders,
    trade ids and positions must not be reconciled against those of a simulator that no longer exists."""
    return {name: name if vc.endpoint == "live" else f"{name}@sim-{session}" for name, vc in config.venues.items()}


async def run_bot(
    config: Config,
    *,
    handle_signals: bool = False,
    sim_hook: Callable[[SimExchange], Awaitable[None]] | None = None,
    journal_path: Path | None = None,
    before_trading: Callable[[SimExchange | None, dict[str, Venue], dict[str, str]], Awaitable[None]] | None = None,
    live_view: bool = False,
    hard_exit: Callable[[str], None] | None = None,
    on_trading: Callable[[], None] | None = None,
) -> RunResult:
    """Run the main job on ``config`` and return its result (it does not exit the process).

    Order of things: the signal watcher (first), the metrics endpoint (``[metrics]``, when enabled; its URL
    is logged), the journal and the crash-loop breaker, the simulator and
    venue sessions, startup reconciliation (``_reconcile.py``: nothing trades until it is done), the
    market scopes, the final position read, and the run's exit recorded in the journal.

    Args:
        config: validated configuration.
        handle_signals: install the SIGINT/SIGTERM watcher (the CLI does; tests usually do not).
        sim_hook: started as a task with the running simulator (fault injection in tests).
        journal_path: the journal to open (the CLI passes ``config.journal.path`` and holds the instance
            lock); None runs without a journal (reconciliation then treats every open order as unknown).
        before_trading: awaited with the simulator, the raw venue sessions and the venues' journal names
            (:func:`journal_keys`) before reconciliation (tests: leave state on the venues and in the journal,
            as a previous run would have).
        hard_exit: the hard stop (a third signal, or the stop past ``run.stop_budget_ms``): called from a
            timer thread with the reason; the CLI passes one that ends the process. None: no hard stop.
        live_view: show the live status view on stdout (``app/_live.py``; the CLI asks for it on a TTY).
        on_trading: called once reconciliation is done, right before the market scopes start (the CLI tells
            a failure at startup from one while running by it).

    Raises:
        TrioHedgeError: the run could not start (a recording, the journal, a venue session), or failed
            outside every market scope; a failure inside a market scope is returned in the result instead.

    The operator tools (``app/_ops.py``: pause and resume, alerts, trades.csv, the live view) run beside the
    job for its whole length; ``handle_signals`` also installs the SIGUSR1/SIGUSR2 pause receiver.
    """
    log = logger.bind(tag="MAIN")
    stop = trio.Event()
    stop_reasons: list[str] = []
    stats = {m.name: MarketStats() for m in config.markets}
    outcomes: dict[str, MarketOutcome] = {}
    final: dict[str, dict[str, Decimal | None]] = {}
    early: tuple[int, str] | None = None
    recorder: JournalRecorder | None = None
    writer: trio.Nursery | None = None
    session = f"{os.getpid():x}{secrets.token_hex(3)}"
    keys = journal_keys(config, session)
    code, reason = EXIT_FAILURE, "run did not finish"
    rc = config.run
    budget = StopBudget(rc.stop_budget_s, rc.journal_close_s, rc.second_signal_wait_s, hard_exit)
    exit_recorded = False
    FILL_PRIORITY.configure(config.fill_priority_ms)  # the process's fill-priority gate (trio_hedge/_hotpath.py)
    WARM_PATH.configure(config.warm_path_ms)  # the hedge path's rehearsals (trio_hedge/engine/_rehearse.py)
    async with trio.open_nursery() as root:
        if handle_signals:
            await root.start(_signal_watcher, stop, stop_reasons, budget)
        async with AsyncExitStack() as jstack:
            jstack.callback(FILL_PRIORITY.clear)  # a run cut mid-fill leaves the gate (and the collector) as found
            jstack.callback(WARM_PATH.configure, 0)  # rehearsals belong to this run (tests run several in one process)
            metrics = await start_metrics(config.metrics, stats, jstack)  # [metrics]; None when disabled
            collector = metrics or BotCollector(stats)  # the live view and the alerts read it too
            run_id: int | None = None
            journal: AsyncJournal | None = None
            # The intent and report connections queue for each other on this lock, not on SQLite's busy
            # handler (its sleeps of 1, 2, 5... ms were the intent commit's p99: app/_journal/_store.py Journal.open)
            write_lock = threading.Lock()
            if journal_path is not None:
                journal_path.parent.mkdir(parents=True, exist_ok=True)
                jc = config.journal
                journal = await jstack.enter_async_context(open_async_journal(
                    journal_path, write_lock=write_lock, exclusive=jc.exclusive_lock,
                    check_budget_ms=jc.check_budget_ms, close_budget_s=rc.journal_close_s,
                    call_bound_s=jc.call_bound_ms / 1000, inline_intents=jc.inline_intents))
                log.info("journal {}: {}{}", journal_path, journal.check_result,
                         " (exclusive lock: WAL index in memory, no -shm mapping)" if jc.exclusive_lock else "")
                run_id = await journal.record_start(os.getpid(), time.time_ns())
                window_ns = int(config.journal.crash_window_s * 1e9)
                crashes = await journal.crashes_since(time.time_ns() - window_ns)
                if crash_loop_tripped(crashes, config.journal.max_crashes):
                    early = (EXIT_CONFIG, f"crash-loop breaker: {crashes} crashes in the last "
                             f"{config.journal.crash_window_s:.0f}s (max {config.journal.max_crashes}); staying "
                             "down (exit 78): look at the journal's runs and the logs, then restart by hand")
                    await journal.record_event("breaker", early[1])
                else:
                    # the queued reports get a connection (and thread) of their own: an intent, on an order's
                    # path, then never waits behind a report's write and its return trip to the event loop
                    # (SQLite serialises the two writers for the length of one transaction only)
                    # (with the exclusive lock no second connection can open the file: one connection, one thread)
                    reports = journal if jc.exclusive_lock else await jstack.enter_async_context(
                        open_async_journal(journal_path, write_lock=write_lock, close_budget_s=rc.journal_close_s,
                                           call_bound_s=jc.call_bound_ms / 1000))
                    recorder = JournalRecorder(journal, reports, capacity=jc.report_queue_capacity,
                                                queue_hedge_intents=jc.queue_hedge_intents)
                    collector.watch_journal(recorder)
                    writer = await jstack.enter_async_context(trio.open_nursery())
                    await writer.start(recorder.run)
                    jstack.push_async_callback(_drain, recorder, writer, budget)
            ops = await jstack.enter_async_context(open_ops(
                config, stats, collector, stop, stop_reasons, journal=journal,
                journal_path=journal_path if journal is not None else None, run_id=run_id, keys=keys,
                signals=handle_signals, live_view=live_view))
            try:
                if early is None:
                    try:
                        early = await _job(config, stop, stop_reasons, stats, outcomes, final, sim_hook,
                                           before_trading, root, keys, journal, recorder, collector, budget,
                                           ops.pause, on_trading)
                    except* ReconcileFailure as eg:
                        found = [e for e in leaves(eg) if isinstance(e, ReconcileFailure)]
                        early = (found[0].code, "; ".join(e.reason for e in found))
                    except* AuthError as eg:
                        # refused credentials end the run (the CLI says so, exit 78): the journal records that
                        # exit, not a crash, so the crash-loop breaker does not count it
                        refused = sorted({e.venue for e in leaves(eg) if isinstance(e, AuthError)})
                        code, reason = EXIT_CONFIG, "; ".join(
                            f"venue {v} refused the credentials. Fix: {credentials_fix(v)}" for v in refused)
                        raise
                if early is not None:
                    code, reason = early
                else:
                    code, reason = _decide(config, outcomes, stats, final, stop_reasons)
                code, reason = _journal_down_exit(code, reason, recorder)
                with trio.CancelScope(shield=True):
                    await ops.finish(code, reason, final, recorder)
            finally:
                # the run's exit is always recorded, a bug's exit 1 included (bounded: a journal that cannot
                # take it leaves the run without an exit row, which the breaker counts as the crash it is)
                if journal is not None:
                    exit_recorded = await _record_exit(journal, recorder, writer, budget, code, reason)
        budget.disarm()
        root.cancel_scope.cancel()
    summary = build_summary(stats, final, reason, code)
    if recorder is not None:
        lat = recorder.intent_latency
        summary["journal"] = {
            "path": str(journal_path),
            "venues": keys,
            "writes": dict(recorder.counts),
            "max_queued": recorder.max_queued,
            "intent_commit_ms": {"p50": _ms(lat.percentile(0.50)), "p99": _ms(lat.percentile(0.99)),
                                 "count": lat.count},
            # where the intents committed: on the event loop's thread (the journal's thread idle) or through it;
            # of them, the hedges' queued ahead of their reports and committed after their send (not in
            # intent_commit_ms: that is the time added before a send)
            "intents_inline": recorder.journal.intents_inline,
            "intents_on_thread": recorder.journal.intents_on_thread,
            "intents_queued": recorder.counts.get("intents_queued", 0),
            "inline_off": recorder.journal.inline_off_reason,
            "down": None if recorder.down is None else str(recorder.down),
            "exit_recorded": exit_recorded,
        }
    (log.info if code == EXIT_OK else log.error)("exit {}: {}", code, reason)
    return RunResult(code, reason, summary, keys)


async def _run_cancellable(fn: Callable[[], Awaitable[None]],
                           task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED) -> None:
    """Run ``fn()`` under a cancel scope handed back to the starter (a watcher that ends with the markets)."""
    with trio.CancelScope() as scope:
        task_status.started(scope)
        await fn()


class ReconcileFailure(Exception):
    """Internal: reconciliation refused to trade (carries the exit code and reason)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _ms(ns: float | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 4)


def _journal_down_exit(code: int, reason: str, recorder: JournalRecorder | None) -> tuple[int, str]:
    """A run whose journal went down ends with exit 74 (EX_IOERR) unless it is not flat (3 says more)."""
    if recorder is None or recorder.down is None:
        return code, reason
    reason = f"JOURNAL DOWN ({recorder.down}); {reason}"
    return (code if code == EXIT_NOT_FLAT else EXIT_JOURNAL_DOWN), reason


async def _drain(recorder: JournalRecorder, writer: trio.Nursery | None, budget: StopBudget | None = None) -> None:
    """Write what the recorder still has queued, within the stop budget (wall clock: each journal call waits
    at most what is left, :meth:`AsyncJournal.bound_calls`; what a cut-short drain leaves, the venues have).
    Without a budget: shielded, unbounded (tests that drive ``run_market`` themselves)."""
    if writer is not None:
        writer.cancel_scope.cancel()
    if not recorder._queue:
        return
    if budget is None:
        with trio.CancelScope(shield=True):
            await recorder.drain()
        return
    with budget.phase(f"writing {len(recorder._queue)} queued journal report(s)", None):
        recorder.journal.bound_calls(budget.journal_bound_s())
        recorder._reports.bound_calls(budget.journal_bound_s())
        try:
            await recorder.drain()
        except JournalTimeout as exc:
            recorder._went_down(exc, "drain at exit")


async def _record_exit(journal: AsyncJournal, recorder: JournalRecorder | None, writer: trio.Nursery | None,
                       budget: StopBudget, code: int, reason: str) -> bool:
    """Drain the recorder and record the run's exit, each bounded; True when the exit row was written."""
    log = logger.bind(tag="MAIN")
    if recorder is not None:
        await _drain(recorder, writer, budget)  # every queued report before the run's exit row (spilled if down)
    with budget.closing("recording the run's exit in the journal"):
        journal.bound_calls(budget.journal_bound_s(closing=True))
        try:
            if code == EXIT_NOT_FLAT:  # the operator's to-do: what the venues still hold
                await journal.record_event("not_flat", reason)
            await journal.record_exit(code, reason)
            return True
        except JournalError as exc:
            log.error("the run's exit ({}) was not recorded in the journal: {}", code, exc)
    return False


async def _job(
    config: Config,
    stop: trio.Event,
    stop_reasons: list[str],
    stats: dict[str, MarketStats],
    outcomes: dict[str, MarketOutcome],
    final: dict[str, dict[str, Decimal | None]],
    sim_hook: Callable[[SimExchange], Awaitable[None]] | None,
    before_trading: Callable[[SimExchange | None, dict[str, Venue], dict[str, str]], Awaitable[None]] | None,
    root: trio.Nursery,
    keys: dict[str, str],
    journal: AsyncJournal | None,
    recorder: JournalRecorder | None,
    metrics: BotCollector | None,
    budget: StopBudget,
    pause: PauseSwitch | None = None,
    on_trading: Callable[[], None] | None = None,
) -> tuple[int, str] | None:
    log = logger.bind(tag="MAIN")
    settings = SimSettings(
        speed=config.sim.speed,
        latency_s=config.sim.latency_s,
        market_data_capacity=config.sim.market_data_capacity,
        account_capacity=config.sim.account_capacity,
    )
    sim_mkts = sim_markets(config)
    if sim_mkts:
        log.info("starting the embedded simulator: {} venue(s), speed {}x, latency {} ms",
                 len(sim_mkts), config.sim.speed, config.sim.latency_s * 1000)
    async with AsyncExitStack() as outer:
        exchange = await outer.enter_async_context(open_sim_exchange(settings, sim_mkts)) if sim_mkts else None
        servers = await outer.enter_async_context(trio.open_nursery())
        outer.callback(servers.cancel_scope.cancel)
        stack = await outer.enter_async_context(AsyncExitStack())
        raw = await open_venues(config, exchange, servers, stack)
        if metrics is not None:  # feed states from the raw sessions, read at scrape time
            metrics.watch_venues(raw, {n: config.traded_symbols(n) for n in config.venues})
        if before_trading is not None:
            await before_trading(exchange, raw, keys)
        first = config.markets[0]
        # one token bucket per venue session (its account's budget), shared by every market on it
        buckets = {n: TokenBucket(rl) for n, vc in config.venues.items() if (rl := vc.rate_limit) is not None}
        # client order ids from blocks reserved durably, one source per venue shared by its markets
        ids = (await open_reserved_ids(journal, dict(raw), keys, on_down=recorder.went_down)
               if recorder is not None and journal is not None else {})
        by_market: dict[str, dict[str, Venue]] = {}
        for m in config.markets:
            legs_of: dict[str, Venue] = {}
            for n, v in raw.items():
                inner: Venue = v if recorder is None else JournaledVenue(v, recorder, keys[n], m.name,
                                                                         ids=ids.get(n))
                rl = config.venues[n].rate_limit
                legs_of[n] = inner if rl is None else RateLimitedVenue(inner, rl, _bucket=buckets[n])
            by_market[m.name] = legs_of
        owner = {(n, sym): m.name for m in config.markets
                 for n, sym in ((config.primary, m.primary_symbol), (config.hedge, m.hedge_symbol))}
        trade_legs = list(owner)  # every (venue, symbol) a market trades
        # reconciliation acts on each symbol through the venue wrapper of the market that trades it (its
        # flatten orders are journaled under that market)
        legs = [ReconcileLeg(by_market[owner[(n, s)]][n], keys[n], s) for n, s in trade_legs]
        log.info("reconciling the journal with the venues before trading")
        try:
            with trio.CancelScope(shield=True):  # bounded inside; a stop request waits for it
                recon = await reconcile(legs, journal, recorder, policy=first.retry,
                                        flatten_deadline_s=first.cleanup_deadline_s,
                                        unknown_grace_s=config.journal.reconcile_grace_s)
        except (VenueUnreadable, NotFlat) as exc:
            await _final_positions(final, raw, config, budget, "final position read (reconciliation failed)")
            raise ReconcileFailure(exc.exit_code, f"reconciliation: {type(exc).__name__}: {exc}") from None
        if not recon.clean:
            log.warning("reconciliation acted: {}", recon)
        if stop.is_set():
            await _final_positions(final, raw, config, budget, "final position read")
            return None
        live = [name for name, vc in config.venues.items() if vc.endpoint == "live"]
        if live:
            log.warning("LIVE venues {}: REAL orders with REAL money start in {:g} s (Ctrl-C to abort)", live,
                        config.run.live_start_delay_s)
            with trio.move_on_after(config.run.live_start_delay_s):
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
        log.info("venues ready; running {} market(s) ({}), {} cycles each", len(config.markets),
                 ", ".join(m.name for m in config.markets), first.cycles)
        guard = PortfolioGuard(config.portfolio)

        async def one(ms_name: str) -> None:
            ms = next(m for m in config.markets if m.name == ms_name)
            mv = by_market[ms_name]
            outcomes[ms_name] = await run_market(
                ms, mv[config.primary], mv[config.hedge], stats[ms_name], stop, recorder=recorder,
                pause=pause, portfolio=guard,
            )

        if on_trading is not None:
            on_trading()
        async with trio.open_nursery() as market_nursery:
            watcher = await market_nursery.start(_run_cancellable, partial(
                guard.watch_sessions, raw, interval_s=first.risk_check_interval_s,
                down_budget_s=first.feed_down_budget_s))
            async with trio.open_nursery() as markets:
                for m in config.markets:
                    markets.start_soon(one, m.name)
            watcher.cancel()
        budget.begin("the markets ended")
        read_s = config.run.final_read_s
        await _final_positions(final, raw, config, budget, "final position read from every venue")
        if journal is not None and (recorder is None or recorder.down is None):
            grace_s = 0.0 if budget.hurried else config.journal.reconcile_grace_s
            # venue waits bounded inside (read_s each, plus the grace) and all of it by what is left of the
            # budget; journal calls by the budget's wall clock
            with budget.phase(f"journal sync with the venues (queued reports, fill history, in-flight order "
                              f"statuses; each venue read up to {read_s:g}s, grace {grace_s:g}s)", math.inf):
                journal.bound_calls(budget.journal_bound_s())
                try:
                    await sync_journal_at_exit(journal, [(raw[n], keys[n], s) for n, s in trade_legs],
                                               recorder, grace_s=grace_s, wait_s=read_s)
                except JournalIOError as exc:
                    if recorder is not None:
                        recorder._went_down(exc, "exit sync")
                    log.error("journal sync at exit stopped: {}", exc)
        elif journal is not None:
            log.error("journal down: no sync with the venues at exit; the next start's reconciliation resolves "
                      "every order and fill from the venues")
    return None


async def _final_positions(final: dict[str, dict[str, Decimal | None]], raw: dict[str, Venue], config: Config,
                           budget: StopBudget, what: str) -> None:
    """The exit's position read into ``final``: every traded symbol starts as unknown (None), so a read the
    budget cuts short never leaves ``final`` empty (an empty read is not "flat")."""
    symbols = {n: config.traded_symbols(n) for n in config.venues}
    final.update({n: dict.fromkeys(syms) for n, syms in symbols.items()})
    read_s = config.run.final_read_s
    with budget.phase(what, read_s + FINAL_READ_SLACK_S):  # each venue's read is bounded by read_s inside
        final.update(await _positions(raw, symbols, wait_s=read_s))


async def sync_journal_at_exit(
    journal: AsyncJournal,
    legs: list[tuple[Venue, str, str]],
    recorder: JournalRecorder | None = None,
    *,
    grace_s: float,
    wait_s: float,
) -> list[str]:
    """The run's exit steps, after the cleanup and before the run's exit is recorded: write what the recorder
    still has queued, then the venues' fill history (:func:`_sync_fills`), then the final status of every
    intent still in flight (:func:`~trio_hedge.app._reconcile.sync_inflight`). Afterwards the journal's fills
    and statuses equal the venues' unless a venue could not be read (what is left is resolved by the next
    start's reconciliation). Call it shielded and bounded (:meth:`StopBudget.phase`); each venue wait inside
    is bounded (``wait_s``, ``run.final_read_ms``), plus ``grace_s`` when an intent is unknown to its venue.
    A fill that conflicts with the journal is recorded as a conflict event (both versions), not raised.

    Args:
        journal: the run's journal.
        legs: ``(raw venue session, the venue's journal key, traded symbol)`` per leg.
        recorder: the run's recorder (None: no queued reports).
        grace_s: how long an in-flight intent unknown to its venue is asked about again before it is recorded
            as never accepted (``journal.reconcile_grace_ms``).
        wait_s: the bound on each venue read, seconds (``run.final_read_ms``).

    Returns:
        list[str]: ``venue_key/client_order_id`` of the intents left in flight.
    """
    if recorder is not None:
        await recorder.drain()  # queued reports first: the venue's answers below are the later truth
    await _sync_fills(journal, legs, wait_s=wait_s)
    return await sync_inflight(journal, legs, recorder, grace_s=grace_s, wait_s=wait_s)


async def _sync_fills(journal: AsyncJournal, legs: list[tuple[Venue, str, str]], *, wait_s: float) -> None:
    """At exit: record the venues' fill history since the last checkpoint (by trade id: what the stream
    already delivered is a no-op), each venue read within ``wait_s`` (``run.final_read_ms``), and move the
    checkpoint, so the journal's fills equal the venue's even when
    the last events were still in the stream when the market scope ended."""
    log = logger.bind(tag="MAIN")
    since: dict[str, int] = {}  # each venue's checkpoint read once: several symbols (markets) share a venue
    for _venue, key, _symbol in legs:
        if key not in since:
            text = await journal.get_checkpoint(f"fills_ts_ns.{key}")
            since[key] = int(text) if text else 0
    newest: dict[str, int] = {}
    for venue, key, symbol in legs:
        ck = since[key]
        fills = None
        with trio.move_on_after(wait_s):  # a wait for the venue's answer only
            try:
                fills = await venue.fills_since(symbol, ck)
            except VenueError as exc:
                log.warning("fill history of {} at exit not read: {}", venue.name, exc)
        if not fills:
            continue
        late = await record_fills(journal, key, fills)
        newest[key] = max(newest.get(key, 0), *(f.ts_ns for f in fills))
        if late:
            log.info("{} fill(s) of {} recorded from its fill history at exit (not read from the stream)", late,
                     venue.name)
    for key, ts_ns in newest.items():  # a margin behind the newest fill: fill times are not in report order
        await journal.set_checkpoint(f"fills_ts_ns.{key}", fill_checkpoint(ts_ns, since[key]))

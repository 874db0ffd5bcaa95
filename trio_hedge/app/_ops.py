"""The operator's side of a run: pause and resume, alerts, the trade log, the live view. One
:func:`open_ops` context in ``run_bot`` owns them all (its own nursery); none of it is on the trading path.

Task tree (each only when configured)::

    open_ops  nursery
    ├── pause watcher     SIGUSR1 pauses every market (PauseSwitch: REDUCING, no new quotes; fills that
    │                     arrive are still hedged and the cycle's legs unwound), SIGUSR2 resumes; each is
    │                     logged, journaled (``pause`` / ``resume`` events) and alerted
    ├── alert sender      app/_alerts.py: bounded queue, own task, rate-limited, retried
    ├── state watcher     every WATCH_INTERVAL_S: new trading-state changes in MarketStats (HALTED ->
    │                     ``halt``, ``kill_switch`` for the loss limit, ``position_drift`` for an imbalance),
    │                     the stop request (``stop``), and a ``summary`` every ``alerts.summary_every_s``
    ├── trade log         app/_tradelog.py: trades.csv beside the journal, synced on a worker thread
    ├── status snapshot   app/_snapshot.py: ``<journal stem>.status.json`` beside the journal, built on the loop
    │                     from BotCollector.collect() every second, written on a worker thread (temp file +
    │                     os.replace); what ``status`` shows while the bot holds the journal (exclusive lock)
    └── live view         app/_live.py (stdout a TTY and no ``--no-live``)

At the end of the run :meth:`Ops.finish` (before the journal records the exit) journals the venues' final
positions (``ops.final``) and queues the ``flatten_failure`` (exit 3) and ``exit`` alerts; leaving the
context writes the status snapshot one last time (with the exit; at most ``FINAL_WRITE_S``), syncs the trade
log one last time and gives the alerts ``alerts.flush_ms`` to go out.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Final

import trio
from loguru import logger

from ..domain import leaves
from ..engine import EXIT_NOT_FLAT, MarketStats, PauseSwitch, Recorder, TradingState
from ._alerts import Alerts
from ._config import Config, VenueConfig
from ._history import HistoryError
from ._journal import AsyncJournal, JournalError
from ._live import open_live_view
from ._metrics import BotCollector
from ._snapshot import FINAL_WRITE_S, SnapshotWriter, build_snapshot, snapshot_path
from ._tradelog import SYNC_INTERVAL_S, TradeLog

WATCH_INTERVAL_S: Final = 0.25
"""How often the state watcher looks at the statistics for alert-worthy changes."""


def halt_event(reason: str) -> str:
    """The alert event of a transition to HALTED with ``reason`` (``"<ExceptionName>: ..."``)."""
    if reason.startswith("LossLimitHit"):
        return "kill_switch"
    if reason.startswith(("ImbalanceExceeded", "PositionDrift")):
        return "position_drift"
    return "halt"


class Ops:
    """Handles of the operator tools for ``run_bot``.

    Attributes:
        pause (PauseSwitch): the operator's pause (``run_market`` attaches each market's risk engine).
        alerts (Alerts | None): the alert sender, when ``[alerts]`` names a destination.
        trade_log (TradeLog | None): the trade log, when the run has a journal.
        snapshot (SnapshotWriter | None): the live status snapshot beside the journal, when the run has one.
        exit (tuple[int, str] | None): the run's exit code and reason, once :meth:`finish` has them.
    """

    def __init__(self, config: Config, stats: Mapping[str, MarketStats], journal: AsyncJournal | None,
                 run_label: str, stop: trio.Event | None = None, stop_reasons: list[str] | None = None) -> None:
        self.config = config
        self.stats = stats
        self.journal = journal
        self.pause = PauseSwitch()
        self.alerts = Alerts(config.alerts, run_label) if config.alerts.enabled else None
        self.trade_log: TradeLog | None = None
        self.snapshot: SnapshotWriter | None = None
        self.exit: tuple[int, str] | None = None
        self.finished = False
        self._seen: dict[str, int] = {}
        self._stop = stop
        self._stop_reasons = stop_reasons if stop_reasons is not None else []
        self._stop_seen = False
        self._log = logger.bind(tag="OPS")

    def alert(self, event: str, text: str, market: str = "") -> None:
        if self.alerts is not None:
            self.alerts.post(event, text, market)

    async def _journal_event(self, kind: str, data: dict[str, object]) -> None:
        if self.journal is not None:
            try:
                with trio.CancelScope(shield=True):  # one small write, bounded by journal.call_bound_ms
                    await self.journal.record_event(kind, json.dumps(data))
            except JournalError as exc:  # a journal that is down: the run goes on (app/_run.py decides its exit)
                self._log.error("{} not journaled ({}): {}", kind, exc, data)

    # ---- pause / resume
    async def set_paused(self, paused: bool, reason: str) -> bool:
        """Pause (or resume) every market; journaled and alerted. False when nothing changed."""
        changed = self.pause.pause(reason) if paused else self.pause.resume(reason)
        if not changed:
            return False
        word = "pause" if paused else "resume"
        self._log.warning("{}: {}", "PAUSED (no new quotes; fills are still hedged)" if paused else "RESUMED",
                          reason)
        await self._journal_event(word, {"reason": reason})
        self.alert(word, f"{'paused' if paused else 'resumed'} by the operator ({reason})")
        return True

    async def _pause_signals(self, *, task_status: trio.TaskStatus[None]) -> None:
        with trio.open_signal_receiver(signal.SIGUSR1, signal.SIGUSR2) as signals:
            task_status.started()
            async for signum in signals:
                name = signal.Signals(signum).name
                await self.set_paused(signum == signal.SIGUSR1, name)

    # ---- the state watcher
    async def _watch(self) -> None:
        every = self.config.alerts.summary_every_s
        next_summary = trio.current_time() + every if every > 0 else float("inf")
        while True:
            await trio.sleep(WATCH_INTERVAL_S)
            self._check()
            if trio.current_time() >= next_summary:
                next_summary += every
                self.alert("summary", self.summary_text())

    def _check(self) -> None:
        """Alert the trading-state changes not seen yet (HALTED: halt, kill_switch, position_drift) and the stop."""
        for name, s in self.stats.items():
            for t in s.transitions[self._seen.get(name, 0):]:
                if t.to_state is TradingState.HALTED:
                    self.alert(halt_event(t.reason), f"market {name} HALTED: {t.reason}", name)
            self._seen[name] = len(s.transitions)
        if self._stop is not None and self._stop.is_set() and not self._stop_seen:
            self._stop_seen = True
            self.alert("stop", f"stopping: {self._stop_reasons[0] if self._stop_reasons else 'stop requested'}")

    def summary_text(self) -> str:
        """One line per market: state, cycles, volume, PnL, net exposure."""
        parts = []
        for name, s in self.stats.items():
            state = s.transitions[-1].to_state.value if s.transitions else TradingState.ACTIVE.value
            parts.append(f"{name}: {state}{' (paused)' if self.pause.paused else ''}, {s.cycles_completed} cycles, "
                         f"volume {s.volume_quote.quantize(Decimal('0.01'))}, PnL "
                         f"{s.pnl.total.quantize(Decimal('0.0001'))}, net {s.net_exposure}")
        return "; ".join(parts)

    # ---- the trade log
    async def sync_trade_log(self) -> None:
        """Append the newly journaled fills to trades.csv; a failure is logged."""
        tl = self.trade_log
        if tl is None:
            return
        try:
            if self.journal is not None:
                # the bot's own connection, on the journal's thread: with the exclusive lock
                # (journal.exclusive_lock) no other connection can open the journal while the bot runs
                await self.journal.read(tl.sync_on)
            else:
                await trio.to_thread.run_sync(tl.sync)
        except (HistoryError, JournalError, OSError) as exc:
            self._log.warning("trades.csv not synced: {}", exc)

    async def _trade_log_loop(self) -> None:
        while True:
            await trio.sleep(SYNC_INTERVAL_S)
            await self.sync_trade_log()

    # ---- the end
    async def finish(self, code: int, reason: str, final: Mapping[str, Mapping[str, Decimal | None]],
                     recorder: Recorder | None = None) -> None:
        """Journal the venues' final positions (``ops.final``: ``{"code", "positions": {venue: {symbol:
        size or null}}}``) and queue the exit alerts. Call it shielded, before the run's exit is recorded.

        With the run's ``recorder`` the event is queued there (written by the exit step's bounded drain, in
        the stop budget, before the exit row), not written here: nothing in this call waits on the disk."""
        self.finished = True
        self.exit = (code, reason)
        self._check()  # what the watcher has not seen yet (a halt just before the end), before the exit
        positions = {v: {sym: None if p is None else str(p) for sym, p in syms.items()} for v, syms in final.items()}
        data = {"code": code, "positions": positions}
        if recorder is not None:
            recorder.post_note("ops.final", json.dumps(data))
        else:
            await self._journal_event("ops.final", data)
        if code == EXIT_NOT_FLAT:
            self.alert("flatten_failure", f"NOT FLAT after the cleanup: {positions}")
        self.alert("exit", f"exit {code}: {reason}")


def run_setup(config: Config, keys: Mapping[str, str]) -> dict[str, object]:
    """The ``ops.run`` event's data: each market's legs and each venue's journal key, name, symbol, quote
    currency (the fee currency of its fills) and market (what ``app/_history.py`` needs to label fills)."""
    markets = {m.name: {"primary": keys[config.primary], "primary_symbol": m.primary_symbol,
                        "hedge": keys[config.hedge], "hedge_symbol": m.hedge_symbol} for m in config.markets}
    venues: dict[str, dict[str, object]] = {}
    for n, vc in config.venues.items():
        if n not in keys:
            continue
        syms = config.traded_symbols(n)
        owners = config.venue_markets(n)
        # name, symbol, quote and market: the first traded symbol's (what a one-market run always had);
        # symbols: each traded symbol's quote currency and market (several markets share one venue session)
        venues[keys[n]] = {"name": n, "symbol": syms[0], "quote": _quote(vc, syms[0]),
                           "market": owners[0] if owners else "",
                           "symbols": {s: {"quote": _quote(vc, s), "market": _owner(config, n, s)} for s in syms}}
    return {"markets": markets, "venues": venues}


def _owner(config: Config, venue: str, symbol: str) -> str:
    for m in config.markets:
        if (venue, symbol) in ((config.primary, m.primary_symbol), (config.hedge, m.hedge_symbol)):
            return m.name
    return ""


def _quote(vc: VenueConfig, symbol: str) -> str:
    sc = vc.symbols.get(symbol)
    if sc is not None and sc.market is not None and sc.market.instrument.quote:
        return sc.market.instrument.quote
    parts = symbol.split("_")  # BTC_USDC_PERP -> USDC (a live venue's instrument is read at start)
    return parts[1] if len(parts) > 1 else ""


@asynccontextmanager
async def open_ops(
    config: Config,
    stats: Mapping[str, MarketStats],
    collector: BotCollector,
    stop: trio.Event,
    stop_reasons: list[str],
    *,
    journal: AsyncJournal | None = None,
    journal_path: Path | None = None,
    run_id: int | None = None,
    keys: Mapping[str, str] | None = None,
    signals: bool = False,
    live_view: bool = False,
) -> AsyncIterator[Ops]:
    """Run the operator tools for the length of the block (see the module docstring).

    Args:
        config: the run's configuration (``[alerts]``).
        stats: the markets' statistics (read by the watcher and, through ``collector``, the live view).
        collector: the metrics collector (the live view renders its samples; it is told about the pause).
        stop, stop_reasons: the run's stop request and its reasons (the ``stop`` alert).
        journal, journal_path, run_id, keys: the run's journal, its file, the run's id and the venues' journal
            names; with them the run's setup is journaled (``ops.run``) and trades.csv kept beside the file.
        signals: install the SIGUSR1/SIGUSR2 pause receiver (the CLI does).
        live_view: show the rich live view on stdout.
    """
    label = str(run_id) if run_id is not None else f"pid {os.getpid()}"
    ops = Ops(config, stats, journal, label, stop, stop_reasons)
    collector.watch_pause(ops.pause)
    if journal is not None and keys is not None:
        await ops._journal_event("ops.run", {"pid": os.getpid(), **run_setup(config, keys)})
    if journal_path is not None:
        ops.trade_log = TradeLog(journal_path)
        await ops.sync_trade_log()  # rebuilt from the journal when behind (a crash of an earlier run)
        pid, started_ns, jp = os.getpid(), time.time_ns(), journal_path
        ops.snapshot = SnapshotWriter(snapshot_path(journal_path), lambda: build_snapshot(
            collector, stats, pid=pid, run_id=run_id, journal_path=jp, started_ns=started_ns, exit=ops.exit))
    async with AsyncExitStack() as stack:
        if live_view:
            await stack.enter_async_context(open_live_view(collector, title=f"trio_hedge run {label}"))
        try:
            async with trio.open_nursery() as nursery:
                if signals:
                    await nursery.start(ops._pause_signals)
                if ops.alerts is not None:
                    await nursery.start(ops.alerts.run)
                    mode = "LIVE" if any(vc.endpoint == "live" for vc in config.venues.values()) else "simulated"
                    ops.alert("start", f"started ({mode}): markets {', '.join(m.name for m in config.markets)}, "
                                       f"{config.markets[0].cycles} cycles, {config.primary} maker / "
                                       f"{config.hedge} hedge")
                nursery.start_soon(ops._watch)
                if ops.trade_log is not None:
                    nursery.start_soon(ops._trade_log_loop)
                if ops.snapshot is not None:
                    nursery.start_soon(ops.snapshot.run)
                try:
                    yield ops
                except BaseException as exc:
                    real = [e for e in leaves(exc) if not isinstance(e, trio.Cancelled)]
                    if not ops.finished and real:
                        names = ", ".join(type(e).__name__ for e in real)
                        ops.alert("exit", f"the run failed: {names} (see the log)")
                    raise
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                if ops.snapshot is not None:
                    with trio.move_on_after(FINAL_WRITE_S):
                        await ops.snapshot.write()
                await ops.sync_trade_log()
                if ops.alerts is not None:
                    await ops.alerts.flush()
                    await ops.alerts.aclose()

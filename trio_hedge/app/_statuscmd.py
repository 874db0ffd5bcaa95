"""``python -m trio_hedge status [--journal PATH] [--run N] [--cycles K]``: the current or last run.

When the bot is not running (or runs with ``journal.exclusive_lock = false``) it reads the journal through a
read-only connection (app/_history.py) and prints: the run (pid, start, whether it is still running), per
market its trading state (from the journaled ``state`` events), the operator's pause, cycles done and the
last ``K`` cycles, each venue's position (from the journal's fills, and the positions read from the venues at
exit when the run recorded them), halts, and the exit code and reason.

While the bot runs under ``journal.exclusive_lock = true`` (the default) no other process can open the
journal (SQLite answers "database is locked"). ``status`` then prints the running bot's live snapshot,
``<journal stem>.status.json`` beside the journal, rewritten by the bot about once a second from its
in-memory statistics (app/_snapshot.py): labelled "live snapshot from the running bot (pid N), T s old",
with per market the trading state and its reason, the pause, cycles, volume, PnL, last hedge latency,
halts, each leg's position and the net, and each feed's connection and last-message age. A snapshot is
shown only when its pid is alive and it is at most ``FRESH_S`` (10 s) old; otherwise ``status`` says what
to do instead (the metrics endpoint, or ``journal.exclusive_lock = false``) and exits 1. ``--run`` and
``--cycles`` need the journal: the snapshot shows the running bot only (and says so when ``--run`` is
given), no per-cycle list.

Exit codes: 0 the journal or a live snapshot was read; 1 neither could be (the message says why and what to
do); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

from ..engine import TradingState
from ._history import (
    HistoryError,
    JournalBusy,
    cycles,
    events,
    iso_utc,
    open_reader,
    positions,
    runs,
    select_run,
    trades,
)
from ._reportcmd import journal_path
from ._snapshot import live_snapshot, pid_alive, render_snapshot, snapshot_path

BUSY_WAIT_S: Final = 0.5
"""How long ``status`` lets SQLite retry a locked journal (a bot's exclusive lock is held for its whole run)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trio_hedge status", description="The current or last run, "
                                "from the journal (read-only), or, while the bot holds the journal "
                                "(journal.exclusive_lock), from the bot's live snapshot beside it.")
    p.add_argument("--journal", type=Path, default=None,
                   help="the journal (default: journal.path of --config / ./config.toml / the defaults)")
    p.add_argument("--config", type=Path, default=None, help="read journal.path from this config file")
    p.add_argument("--run", type=int, default=None, metavar="N", help="run number (default: the newest)")
    p.add_argument("--cycles", type=int, default=5, metavar="K", help="how many of the last cycles to list")
    return p


def render_status(path: Path, run_number: int | None = None, last_cycles: int = 5) -> str:
    """The status text (see the module docstring): from the journal, or from the running bot's live snapshot
    when the bot holds the journal.

    Raises:
        HistoryError: the journal cannot be read (or has no such run), and no live snapshot stands in for it
            (the message says what to do).
    """
    try:
        return _from_journal(path, run_number, last_cycles)
    except JournalBusy as exc:
        snap, why = live_snapshot(snapshot_path(path))
        if snap is None:
            raise HistoryError(
                f"{exc}, and no live snapshot stands in for it ({why}). A running bot under "
                "journal.exclusive_lock (the default) keeps every other process out of its journal: read its "
                "metrics endpoint (start it with --set metrics.enabled=true, then GET "
                "http://127.0.0.1:9464/metrics) or its log, or start it with --set journal.exclusive_lock=false "
                "so that status can read the journal while it runs") from None
        text = render_snapshot(snap)
        if run_number is not None:
            text += f"\n(--run {run_number} needs the journal, which the running bot holds: this is the running bot)"
        return text


def _from_journal(path: Path, run_number: int | None, last_cycles: int) -> str:
    with open_reader(path, busy_timeout_s=BUSY_WAIT_S) as conn:
        all_runs = runs(conn)
        run = select_run(conn, run_number)
        tl = trades(conn, run)
        cl = cycles(conn, run, tl)
        evts = events(conn, run)
        pos = positions(conn, run)
    lines = [f"journal {path}: {len(all_runs)} run(s)"]
    if run.exit_code is None:
        state = ("RUNNING" if run.hi_seq is None and pid_alive(run.pid)
                 else "no exit recorded (the process died)")
    else:
        state = f"exited {run.exit_code} at {iso_utc(run.exited_ns or 0)}"
    lines.append(f"run {run.number} (pid {run.pid}), started {iso_utc(run.started_ns)}: {state}")
    paused = False
    for e in evts:
        if e.kind in ("pause", "resume"):
            paused = e.kind == "pause"
    markets = sorted({c.market for c in cl} | {str((e.data or {}).get("market")) for e in evts if e.kind == "state"})
    for m in markets:
        st = [e.data for e in evts if e.kind == "state" and e.data and e.data.get("market") == m]
        current = st[-1] if st else None
        state_text = (f"{current.get('to')} ({current.get('reason')})" if current else TradingState.ACTIVE.value)
        mine = [c for c in cl if c.market == m]
        done = sum(1 for c in mine if c.outcome == "completed")
        lines.append(f"market {m}: state {state_text}{'; PAUSED by the operator' if paused else ''}")
        lines.append(f"  cycles: {done} completed, {len(mine)} started")
        for c in mine[-last_cycles:]:
            edge = c.edge_bps
            lines.append(f"    cycle {c.index} {c.side}: {c.outcome or 'open'}; maker {c.maker_qty}"
                         f"{f' @ {c.maker_avg:.2f}' if c.maker_avg is not None else ''}, hedge {c.hedge_qty}"
                         f"{f' @ {c.hedge_avg:.2f}' if c.hedge_avg is not None else ''}"
                         f"{f', edge {edge:.3f} bps' if edge is not None else ''}")
    if paused and not markets:
        lines.append("PAUSED by the operator")
    lines.append("positions (from the journal's fills):")
    for (venue, symbol), size in sorted(pos.items()):
        lines.append(f"  {venue.split('@')[0]} {symbol}: {size}")
    if not pos:
        lines.append("  none (no fill recorded)")
    final = [e.data for e in evts if e.kind == "ops.final" and e.data]
    if final:
        lines.append("final positions (read from the venues at exit):")
        for venue, syms in (final[-1].get("positions") or {}).items():
            for symbol, size in syms.items():
                lines.append(f"  {venue} {symbol}: {'unknown (could not be read)' if size is None else size}")
    halts = [e for e in evts if e.kind == "state" and e.data and e.data.get("to") == TradingState.HALTED.value]
    lines.append(f"halts: {len(halts)}")
    for e in halts:
        assert e.data is not None
        lines.append(f"  {iso_utc(e.recorded_ns)} {e.data.get('market')}: {e.data.get('reason')}")
    if run.exit_code is not None:
        lines.append(f"exit {run.exit_code}: {run.exit_reason}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from ._config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        text = render_status(journal_path(args.journal, args.config), args.run, max(0, args.cycles))
    except (HistoryError, ConfigError) as exc:
        print(f"trio_hedge status: {exc}", file=sys.stderr)
        return 1
    print(text)
    return 0

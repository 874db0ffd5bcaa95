"""The live status snapshot: ``<journal stem>.status.json`` beside the journal (``run/journal.status.json``
for ``run/journal.sqlite``), kept by the running bot for ``python -m trio_hedge status``.

Why: the bot opens its journal with ``PRAGMA locking_mode=EXCLUSIVE`` (``journal.exclusive_lock``, the
default: the WAL index lives in heap memory, no ``-shm`` file is memory-mapped, so a full disk or an
unwritable ``-shm`` cannot SIGBUS the bot; app/_journal/). While it runs no other process can open the
journal, so ``status`` shows this snapshot instead (app/_statuscmd.py).

What: one JSON object, built on the trio loop from in-memory statistics only (one
:meth:`~trio_hedge.app._metrics.BotCollector.collect`, the data the live view and the metrics endpoint read,
plus each market's last trading-state reason), never from the journal, so its cost does not grow with the
run::

    {"format": 1, "pid": int, "run_id": int | null, "journal": str, "started_ns": int (wall clock, ns),
     "written_ns": int (wall clock, ns), "paused": bool,
     "markets": {name: {"state": "ACTIVE" | "REDUCING" | "HALTED", "reason": str | null,
                        "positions": {"<venue> <symbol>": float (base units)}, "net_exposure": float,
                        "cycles_completed": int, "cycles_failed": int, "volume_quote": float,
                        "pnl_quote": float, "halts": int, "last_hedge_latency_s": float | null,
                        "max_hedge_latency_s": float | null}},
     "feeds": [{"venue": str, "symbol": str, "connected": bool, "last_message_age_s": float | null}],
     "exit": null | {"code": int, "reason": str}}

Numbers are floats, as in the metrics (display only; the journal keeps the Decimals). The file is written
every :data:`SNAPSHOT_INTERVAL_S` and once more at the end (with ``exit``) on a worker thread, to a
temporary file in the same directory and then ``os.replace`` (atomic on POSIX: a reader sees the old or
the new file, never half of one). A failed write is logged at most once per :data:`ERROR_LOG_EVERY_S` and
never raised: the snapshot is a convenience, not part of trading.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import trio
from loguru import logger

from ..engine import MarketStats
from ._history import iso_utc
from ._live import by_label, collect_samples
from ._metrics import BotCollector

FORMAT: Final = 1
"""The snapshot's ``format``; a file with another one is ignored."""

SNAPSHOT_INTERVAL_S: Final = 1.0
"""How often the running bot rewrites the snapshot."""

FRESH_S: Final = 10.0
"""A snapshot older than this (wall clock) is not shown as the running bot's state."""

FINAL_WRITE_S: Final = 1.0
"""Bound on the last write at the end of the run (a hung disk does not hold up the exit)."""

ERROR_LOG_EVERY_S: Final = 60.0
"""At most one log line per this many seconds about failed writes."""

Snapshot = dict[str, Any]


def snapshot_path(journal_path: Path) -> Path:
    """``<journal stem>.status.json`` in the journal's directory."""
    return journal_path.with_suffix(".status.json")


def build_snapshot(collector: BotCollector, stats: Mapping[str, MarketStats], *, pid: int, run_id: int | None,
                   journal_path: Path, started_ns: int, exit: tuple[int, str] | None = None) -> Snapshot:
    """The snapshot (shape in the module docstring) from one collection of ``collector``'s metrics."""
    s = collect_samples(collector)
    states = {x.labels["market"]: x.labels["state"] for x in s.get("trio_hedge_trading_state", []) if x.value}
    cycles, failed = by_label(s, "trio_hedge_cycles_completed_total"), by_label(s, "trio_hedge_cycles_failed_total")
    volume, net = by_label(s, "trio_hedge_volume_quote_total"), by_label(s, "trio_hedge_net_exposure")
    halts = by_label(s, "trio_hedge_halts_total")
    last = by_label(s, "trio_hedge_hedge_latency_last_seconds")
    worst = by_label(s, "trio_hedge_hedge_latency_max_seconds")
    pnl = {x.labels["market"]: x.value for x in s.get("trio_hedge_pnl_quote", []) if x.labels["component"] == "total"}
    legs: dict[str, dict[str, float]] = {}
    for x in s.get("trio_hedge_position", []):
        legs.setdefault(x.labels["market"], {})[x.labels["leg"]] = x.value
    markets = {}
    for m in sorted(states):
        st = stats.get(m)
        markets[m] = {"state": states[m], "reason": st.transitions[-1].reason if st and st.transitions else None,
                      "positions": legs.get(m, {}), "net_exposure": net.get(m, 0.0),
                      "cycles_completed": int(cycles.get(m, 0)), "cycles_failed": int(failed.get(m, 0)),
                      "volume_quote": volume.get(m, 0.0), "pnl_quote": pnl.get(m, 0.0), "halts": int(halts.get(m, 0)),
                      "last_hedge_latency_s": last.get(m), "max_hedge_latency_s": worst.get(m)}
    ages = {(x.labels["venue"], x.labels["symbol"]): x.value
            for x in s.get("trio_hedge_feed_last_message_age_seconds", [])}
    feeds = [{"venue": x.labels["venue"], "symbol": x.labels["symbol"], "connected": bool(x.value),
              "last_message_age_s": ages.get((x.labels["venue"], x.labels["symbol"]))}
             for x in s.get("trio_hedge_feed_connected", [])]
    return {"format": FORMAT, "pid": pid, "run_id": run_id, "journal": str(journal_path), "started_ns": started_ns,
            "written_ns": time.time_ns(), "paused": any(x.value for x in s.get("trio_hedge_paused", [])),
            "markets": markets, "feeds": feeds,
            "exit": None if exit is None else {"code": exit[0], "reason": exit[1]}}


def write_snapshot(path: Path, data: Snapshot) -> None:
    """Replace ``path`` with ``data`` atomically (a temporary file in the same directory, then ``os.replace``).

    Raises:
        OSError: the file could not be written (the temporary file is removed).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_snapshot(path: Path) -> Snapshot | None:
    """The snapshot at ``path``, or None when there is none (missing, unreadable, not JSON, another format)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("pid"), int):
        return None
    return data


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (``kill(pid, 0)``; one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_snapshot(path: Path, now_ns: int | None = None) -> tuple[Snapshot | None, str]:
    """``(snapshot, "")`` when ``path`` holds a fresh snapshot of a live process (written at most
    :data:`FRESH_S` ago by a pid that exists), else ``(None, why not)``."""
    data = read_snapshot(path)
    if data is None:
        return None, f"no snapshot at {path}"
    age_s = ((now_ns or time.time_ns()) - int(data.get("written_ns", 0))) / 1e9
    if not pid_alive(data["pid"]):
        return None, f"the snapshot at {path} is from pid {data['pid']}, which is not running"
    if age_s > FRESH_S:
        return None, (f"the snapshot at {path} is {age_s:.0f} s old (pid {data['pid']} has not rewritten it: "
                      "stuck, or stopping)")
    return data, ""


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def render_snapshot(data: Snapshot, now_ns: int | None = None) -> str:
    """The ``status`` text of a live snapshot, its first line saying where it comes from and how old it is."""
    age_s = ((now_ns or time.time_ns()) - int(data.get("written_ns", 0))) / 1e9
    pid = data["pid"]
    lines = [f"live snapshot from the running bot (pid {pid}), {age_s:.1f} s old; the journal is held by the bot "
             "under journal.exclusive_lock",
             f"journal {data.get('journal')}"]
    ex = data.get("exit")
    state = "RUNNING" if ex is None else f"stopping: exit {ex.get('code')}: {ex.get('reason')}"
    run = data.get("run_id")
    lines.append(f"run id {run if run is not None else '-'} (pid {pid}), started "
                 f"{iso_utc(int(data.get('started_ns', 0)))}: {state}")
    paused = bool(data.get("paused"))
    markets: dict[str, Any] = data.get("markets") or {}
    for name, m in markets.items():
        reason = f" ({m['reason']})" if m.get("reason") else ""
        lines.append(f"market {name}: state {m.get('state')}{reason}{'; PAUSED by the operator' if paused else ''}")
        last_s = m.get("last_hedge_latency_s")
        lines.append(f"  cycles: {m.get('cycles_completed')} completed, {m.get('cycles_failed')} failed; volume "
                     f"{_num(m.get('volume_quote'), ',.2f')}; PnL {_num(m.get('pnl_quote'), '+,.4f')}; last hedge "
                     f"{_num(None if last_s is None else last_s * 1e3, '.2f')} ms; halts {m.get('halts')}")
    if paused and not markets:
        lines.append("PAUSED by the operator")
    lines.append("positions (live, from the bot's fills):")
    for name, m in markets.items():
        legs = m.get("positions") or {}
        for leg, size in legs.items():
            lines.append(f"  {name} {leg}: {size:+.8g}")
        lines.append(f"  {name} net: {_num(m.get('net_exposure'), '+.8g')}" if legs else f"  {name}: no fill yet")
    lines.append(f"halts: {sum(int(m.get('halts') or 0) for m in markets.values())}")
    for f in data.get("feeds") or []:
        age = f.get("last_message_age_s")
        up = "connected" if f.get("connected") else "NOT connected"
        lines.append(f"feed {f.get('venue')} {f.get('symbol')}: {up}, last message "
                     f"{'-' if age is None else f'{age:.2f} s'} ago")
    return "\n".join(lines)


class SnapshotWriter:
    """Keeps the snapshot at ``path`` for a running bot: :meth:`run` rewrites it every
    :data:`SNAPSHOT_INTERVAL_S`; :meth:`write` once (``build`` on the loop, the file on a worker thread).

    Attributes:
        failures (int): writes that failed (each an ``OSError``; logged at most once a minute).
    """

    def __init__(self, path: Path, build: Callable[[], Snapshot]) -> None:
        self.path = path
        self.failures = 0
        self._build = build
        self._logged_at: float | None = None
        self._log = logger.bind(tag="OPS")

    async def write(self) -> None:
        """Build the snapshot and write it; a failure is counted and logged (rate-limited), not raised."""
        data = self._build()
        try:
            await trio.to_thread.run_sync(write_snapshot, self.path, data, abandon_on_cancel=True)
        except OSError as exc:
            self.failures += 1
            now = trio.current_time()
            if self._logged_at is None or now - self._logged_at >= ERROR_LOG_EVERY_S:
                self._logged_at = now
                self._log.warning("status snapshot {} not written ({} failure(s) so far; next message in {:.0f} s "
                                  "at the earliest): {}", self.path, self.failures, ERROR_LOG_EVERY_S, exc)

    async def run(self) -> None:
        while True:
            await self.write()
            await trio.sleep(SNAPSHOT_INTERVAL_S)

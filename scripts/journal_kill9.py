"""Crash-safety harness for the journal: SIGKILL a writer at random moments, then check nothing broke.

Method (reliability-notes.md §5 and goal G7, ``/work/shared/docs/reliability-notes.md``): a child process
(``sys.executable`` running this file with ``--child``) opens the journal, records a run start, then loops
writing one cycle start every 10 iterations and, per iteration, an intent, an OPEN status, a fill (plus a
replay of it, which must be a no-op) and a checkpoint. After each call returns it prints what committed (the
seq, or the trade id) and flushes; stdout is a file, so a line on disk means the child saw the commit. The
parent kills the child with SIGKILL after a random delay (uniform in ``[0, --window-ms]`` after the child
printed ``ready``; a fraction of kills land during interpreter start-up and ``Journal.open`` instead), then:

* ``PRAGMA integrity_check`` must say ``ok`` and ``PRAGMA foreign_key_check`` must be empty, and
  ``Journal.open`` must succeed (what a restart does); otherwise the kill counts as ``corrupt``;
* every record the child printed must be present, with the same seq and the exact Decimal values the child
  wrote; each missing or different one counts in ``lost_acked``.

The same database is reused across kills (a restart loop). A process kill keeps the page cache, so this covers
process crashes only; power loss cannot be tested on this machine (reliability-notes.md §5).

Usage::

    python scripts/journal_kill9.py --kills 200 [--seed 1] [--window-ms 250] [--dir DIR] [--checkpoint-every 100]
    python scripts/journal_kill9.py --bench-writes 2000 [--dir DIR]   # commit latency of each write

The kill run prints a summary and, as its LAST line, ``kills=N corrupt=X lost_acked=Y``; it exits 1 if X or Y
is not 0. ``run_kills`` is also used by ``tests/test_journal.py``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

VENUES = ("grvt", "backpack")
SYMBOL = "BTC-PERP"


def _journal_module() -> Any:
    """Import ``trio_hedge.app._journal`` without running ``trio_hedge/app/__init__.py``.

    The app package's ``__init__`` imports the whole bot (config, engine, simulator: about 0.5 s); the child is
    started hundreds of times, so it loads only the journal and the domain layer it depends on.
    """
    if "trio_hedge.app" not in sys.modules:
        import trio_hedge.domain

        pkg = types.ModuleType("trio_hedge.app")
        pkg.__path__ = [str(Path(trio_hedge.domain.__file__ or "").resolve().parent.parent / "app")]
        sys.modules["trio_hedge.app"] = pkg
    return importlib.import_module("trio_hedge.app._journal")


def expected_values(i: int) -> tuple[Decimal, Decimal, Decimal]:
    """Size, price and fee the child writes at iteration ``i``: odd exponents and trailing zeros on purpose."""
    size = Decimal(f"0.{i % 997:03d}10") + Decimal("0.00001")
    price = Decimal(f"{60000 + i % 5000}.{i % 10}0")
    fee = Decimal(f"-{i % 13}E-7")
    return size, price, fee


# ------------------------------------------------------------------------------------------------ child


def child(db: str, tag: str, checkpoint_every: int = 0) -> None:
    """The writer: loops forever, printing each committed record; the parent kills it. ``checkpoint_every`` >
    0: the journal as the bot opens it with inline intents (automatic WAL checkpoints off) and checkpointed by
    hand whenever one is due, so kills also land inside checkpoints."""
    jm = _journal_module()
    from trio_hedge.domain import Fill, OrderRequest, OrderStatus, Side

    out = sys.stdout
    journal = jm.Journal.open(db, checkpoint_every=checkpoint_every)
    run_id = journal.record_start(os.getpid(), time.time_ns())
    print(f"R {run_id}", file=out, flush=True)
    print("ready", file=out, flush=True)
    cycle_id = None
    i = 0
    while True:
        venue = VENUES[i % 2]
        coid = f"{tag}-{i}"
        size, price, fee = expected_values(i)
        side = Side.BUY if i % 3 else Side.SELL
        if i % 10 == 0:
            cycle_id = journal.start_cycle("BTC", i // 10, side)
            print(f"C {cycle_id}", file=out, flush=True)
        req = OrderRequest(coid, SYMBOL, side, size, price=price, reason="kill9")
        seq = journal.record_intent(venue, req, cycle_id=cycle_id)
        print(f"I {seq} {venue} {coid} {i}", file=out, flush=True)
        seq = journal.record_status(venue, coid, OrderStatus.OPEN, venue_order_id=f"v{coid}")
        print(f"S {seq} {venue} {coid}", file=out, flush=True)
        fill = Fill(venue, SYMBOL, coid, f"t-{coid}", side, price, size, fee, bool(i % 2), time.time_ns())
        if not journal.record_fill(fill):
            raise SystemExit(f"fill {fill.trade_id} not new")
        print(f"F {venue} t-{coid} {i}", file=out, flush=True)
        if journal.record_fill(fill):  # a replay: must be a no-op
            raise SystemExit(f"fill {fill.trade_id} recorded twice")
        seq = journal.set_checkpoint("kill9.last_i", str(i))
        print(f"K {seq} {i}", file=out, flush=True)
        if journal.checkpoint_due:
            journal.checkpoint()
        i += 1


# ------------------------------------------------------------------------------------------------ parent


@dataclass
class KillStats:
    """Totals of a :func:`run_kills` run."""

    kills: int = 0
    early_kills: int = 0  # killed before the child printed "ready" (start-up, open, run start)
    corrupt: int = 0
    lost_acked: int = 0
    child_errors: int = 0  # a child that died before the kill (a harness or journal bug, not a crash result)
    acked: int = 0  # records the children reported committed, all checked
    last_seq: int = 0  # journal seq at the end (total rows written, updates included)
    seconds: float = 0.0
    problems: list[str] | None = None

    def line(self) -> str:
        return f"kills={self.kills} corrupt={self.corrupt} lost_acked={self.lost_acked}"


def _wait_ready(out_path: Path, proc: subprocess.Popen[bytes], budget_s: float) -> None:
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline:
        if b"ready\n" in out_path.read_bytes():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"child exited early with {proc.returncode}")
        time.sleep(0.002)
    raise RuntimeError("child not ready in time")


def _verify(db: str, lines: list[str], stats: KillStats, problems: list[str]) -> None:
    jm = _journal_module()
    try:
        raw = sqlite3.connect(db)
        try:
            check = raw.execute("PRAGMA integrity_check").fetchall()
            fk = raw.execute("PRAGMA foreign_key_check").fetchall()
        finally:
            raw.close()
        if check != [("ok",)] or fk:
            stats.corrupt += 1
            problems.append(f"integrity_check={check[:3]} foreign_key_check={fk[:3]}")
            return
        journal = jm.Journal.open(db)
    except Exception as exc:  # any failure to read or open the file after a kill is corruption
        stats.corrupt += 1
        problems.append(f"open failed: {type(exc).__name__}: {exc}")
        return
    try:
        conn = journal._conn  # read-only checks through the journal's own connection
        lost: list[str] = []
        for line in lines:
            parts = line.split()
            stats.acked += 1
            kind = parts[0]
            if kind == "R":
                ok = conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (int(parts[1]),)).fetchone() is not None
            elif kind == "C":
                ok = journal.cycle(int(parts[1])) is not None
            elif kind == "I":
                row = journal.intent(parts[2], parts[3])
                size, price, _ = expected_values(int(parts[4]))
                ok = (row is not None and row.seq == int(parts[1])
                      and row.request.size.as_tuple() == size.as_tuple()
                      and row.request.price is not None and row.request.price.as_tuple() == price.as_tuple())
            elif kind == "S":
                hist = journal.status_history(parts[2], parts[3])
                ok = any(h.seq == int(parts[1]) and h.status.value == "OPEN" for h in hist)
            elif kind == "F":
                r = conn.execute("SELECT size, price, fee FROM fills WHERE venue = ? AND trade_id = ?",
                                 (parts[1], parts[2])).fetchone()
                ok = r is not None and tuple(r) == tuple(str(v) for v in expected_values(int(parts[3])))
            elif kind == "K":
                value = journal.get_checkpoint("kill9.last_i")
                ok = value is not None and int(value) >= int(parts[2])
            else:
                stats.acked -= 1
                continue
            if not ok:
                lost.append(line)
        stats.lost_acked += len(lost)
        problems.extend(f"lost: {x}" for x in lost[:5])
        stats.last_seq = journal.statistics().last_seq
    finally:
        journal.close()


def run_kills(kills: int, *, workdir: Path, seed: int = 1, window_s: float = 0.25, early_fraction: float = 0.1,
              log: Callable[[str], None] | None = None, checkpoint_every: int = 0) -> KillStats:
    """Run the kill loop ``kills`` times on ``workdir/journal.db``; return the totals.

    Args:
        kills (int): number of SIGKILLs.
        workdir (Path): an existing directory for the database and the children's output.
        seed (int): seeds the kill delays.
        window_s (float): kill delay upper bound after ``ready``, seconds.
        early_fraction (float): share of kills sent 0-150 ms after spawn without waiting for ``ready``.
        log: called with a progress line every 20 kills.
        checkpoint_every (int): > 0: the children checkpoint the WAL by hand every N commits (see :func:`child`).
    """
    rng = random.Random(seed)
    db = str(workdir / "journal.db")
    stats = KillStats(problems=[])
    problems = stats.problems
    assert problems is not None
    started = time.monotonic()
    script = str(Path(__file__).resolve())
    for k in range(kills):
        out_path = workdir / f"child-{k}.out"
        with open(out_path, "wb") as out, open(workdir / f"child-{k}.err", "wb") as err:
            proc = subprocess.Popen([sys.executable, script, "--child", db, "--tag", f"k{k}",
                                     "--checkpoint-every", str(checkpoint_every)], stdout=out, stderr=err)
        try:
            if rng.random() < early_fraction:
                time.sleep(rng.uniform(0.0, 0.15))
                if b"ready\n" not in out_path.read_bytes():
                    stats.early_kills += 1
            else:
                _wait_ready(out_path, proc, budget_s=10.0)
                time.sleep(rng.uniform(0.0, window_s))
            if proc.poll() is not None:
                stats.child_errors += 1
                problems.append(f"kill {k}: child died by itself rc={proc.returncode}: "
                                f"{(workdir / f'child-{k}.err').read_text()[-300:]}")
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
                proc.kill()
                proc.wait()
        text = out_path.read_text()
        complete = text.splitlines()[: text.count("\n")]  # a line without its newline was not acked
        stats.kills += 1
        _verify(db, [ln for ln in complete if ln and ln != "ready"], stats, problems)
        if log is not None and (k + 1) % 20 == 0:
            log(f"{k + 1} kills, {stats.acked} acked records checked, corrupt={stats.corrupt} "
                f"lost={stats.lost_acked}, {time.monotonic() - started:.1f} s")
    stats.seconds = time.monotonic() - started
    return stats


def bench_writes(n: int, workdir: Path) -> None:
    """Time each write kind ``n`` times on a fresh journal (one commit each: a WAL append with
    synchronous=NORMAL) and a few reads."""
    jm = _journal_module()
    from trio_hedge.domain import Fill, OrderRequest, OrderStatus, Side

    journal = jm.Journal.open(workdir / "bench.db")
    timings: dict[str, list[float]] = {"record_intent": [], "record_status": [], "record_fill": [],
                                       "record_fill(dup)": [], "intent(read)": [], "inflight(read, n rows)": []}

    def timed(name: str, fn: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        fn()
        timings[name].append((time.perf_counter() - t0) * 1e3)

    for i in range(n):
        size, price, fee = expected_values(i)
        coid = f"b-{i}"
        request = OrderRequest(coid, SYMBOL, Side.BUY, size, price=price)
        fill = Fill("grvt", SYMBOL, coid, f"t-{i}", Side.BUY, price, size, fee, True, time.time_ns())
        timed("record_intent", partial(journal.record_intent, "grvt", request))
        timed("record_status", partial(journal.record_status, "grvt", coid, OrderStatus.OPEN))
        timed("record_fill", partial(journal.record_fill, fill))
        timed("record_fill(dup)", partial(journal.record_fill, fill))
        timed("intent(read)", partial(journal.intent, "grvt", coid))
        if i % 100 == 0:
            timed("inflight(read, n rows)", journal.inflight)
    journal.close()
    print(f"{n} iterations on {workdir} (sqlite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL)")
    for name, values in timings.items():
        q = statistics.quantiles(values, n=100, method="inclusive")
        print(f"{name:24s} p50={q[49]:.3f} ms  p99={q[98]:.3f} ms  max={max(values):.3f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--window-ms", type=float, default=250.0)
    parser.add_argument("--early-fraction", type=float, default=0.1)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a new temp dir)")
    parser.add_argument("--bench-writes", type=int, default=0, metavar="N")
    parser.add_argument("--child", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="c", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                        help="open the journal as the bot does with inline intents: no automatic WAL checkpoint, "
                             "one by hand every N commits (kills then land in checkpoints too)")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.tag, args.checkpoint_every)
        return 0
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="journal-kill9-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.bench_writes:
        bench_writes(args.bench_writes, workdir)
        return 0
    stats = run_kills(args.kills, workdir=workdir, seed=args.seed, window_s=args.window_ms / 1e3,
                      early_fraction=args.early_fraction, log=print, checkpoint_every=args.checkpoint_every)
    print(f"workdir={workdir} seconds={stats.seconds:.1f} early_kills={stats.early_kills} "
          f"child_errors={stats.child_errors} "
          f"acked_records_checked={stats.acked} journal_last_seq={stats.last_seq}")
    for p in (stats.problems or [])[:20]:
        print("problem:", p)
    print(stats.line())
    return 0 if stats.corrupt == 0 and stats.lost_acked == 0 and stats.child_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Reliability under our own faults (issue 16): a damaged, empty or full journal, a conflicting replay at exit,
two bots on one account, a second signal during a hedge, a frozen venue during a stop. Each test reproduces
the fault as the issue describes it and checks the exit code, flat venues, the summary, no traceback on
stderr, and the journal's recorded exit (or, where the fault makes that impossible, that the next start
records its own).

Real processes (``python -m trio_hedge``) where the process contract is the point (exit codes, signals,
locks); ``run_bot`` in-process on the virtual clock where the simulator has to be steered.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_hedge.app import Journal, load_config, run_bot
from trio_hedge.app._process import SecondInstance, acquire_process_locks
from trio_hedge.app.cli import live_accounts
from trio_hedge.domain import Fill, Side
from trio_hedge.engine import EXIT_CONFIG, EXIT_JOURNAL_DOWN, EXIT_NOT_FLAT, EXIT_OK
from trio_hedge.sim import SimExchange
from trio_hedge.venues import Venue

from ._proc import readline_within
from .test_process import _bot, _wait_for

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim"]
PSYM, HSYM = "BTC_USDC_PERP", "BTC_USDT_Perp"
T0_NS = 1_700_000_000_000_000_000


def _journal_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trio_hedge", "journal", *args], capture_output=True, text=True,
                          timeout=60, check=False)


@contextmanager
def _running_bot(tmp_path: Path, jpath: Path, until: str, *sets: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The CLI on ``jpath`` (1000 cycles, summary to ``tmp_path/summary.json``, stderr to ``tmp_path/stderr.log``),
    yielded once ``until`` is in its log; killed on the way out if still running."""
    err = tmp_path / "stderr.log"
    with err.open("wb") as errf:
        bot = subprocess.Popen(_bot("--set", f'journal.path="{jpath}"', "--set", "engine.cycles=1000", *sets,
                                    "--summary-json", str(tmp_path / "summary.json")), cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=errf)
        try:
            _wait_for(err, until, bot, 90)
            yield bot, err
        finally:
            if bot.poll() is None:
                bot.kill()


def _flat(summary: dict[str, Any]) -> bool:
    return all(p is not None and Decimal(p) == 0 for syms in summary["final_positions"].values()
               for p in syms.values())


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr[-4000:]


def _fill(i: int, **kw: Any) -> Fill:
    base: dict[str, Any] = dict(venue="backpack", symbol=PSYM, client_order_id=f"c{i}", trade_id=f"t{i}",
                                side=Side.BUY, price=Decimal("100"), size=Decimal("0.001"), fee=Decimal(0),
                                is_maker=True, ts_ns=T0_NS + i)
    base.update(kw)
    return Fill(**base)


# ------------------------------------------------------------------------------ 1. damaged or empty journal


def test_damaged_journal_page_exits_78_says_what_to_do_and_salvage_recovers(tmp_path: Path) -> None:
    """One 4 KiB page overwritten (the fills_ts index, the page that let trading start and fail later)."""
    jpath = tmp_path / "j.sqlite"
    with Journal.open(jpath) as j:
        for i in range(300):
            j.record_fill(_fill(i))
        conn = j._live()
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'fills_ts'").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(jpath.read_bytes())  # closed: the WAL is checkpointed into the file
    data[(root - 1) * page:root * page] = b"\xa5" * page
    jpath.write_bytes(bytes(data))
    proc = subprocess.run(_bot("--set", f'journal.path="{jpath}"', "--set", "engine.cycles=1"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == EXIT_CONFIG, proc.stderr[-3000:]
    assert "is damaged" in proc.stderr and "journal salvage" in proc.stderr, proc.stderr[-3000:]
    _no_traceback(proc.stderr)
    assert jpath.read_bytes() == bytes(data)  # left untouched
    assert _journal_cmd("check", "--journal", str(jpath)).returncode == 65
    # salvage copies every readable row into a new journal; the bot then starts on it and trades
    salvaged = tmp_path / "salvaged.sqlite"
    sal = _journal_cmd("salvage", "--journal", str(jpath), "--to", str(salvaged))
    assert sal.returncode == 0, sal.stderr
    assert _journal_cmd("check", "--journal", str(salvaged)).returncode == 0
    with Journal.open(salvaged) as j:
        assert len(j.fills()) == 300  # only the index was damaged: every row survives
        assert [e.kind for e in j.events()] == ["salvage"]
    out = tmp_path / "summary.json"
    proc = subprocess.run(_bot("--set", f'journal.path="{salvaged}"', "--set", "engine.cycles=1",
                               "--summary-json", str(out)), cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    _no_traceback(proc.stderr)
    assert _flat(json.loads(out.read_text()))
    with Journal.open(salvaged) as j:
        assert [r.exit_code for r in j.runs()] == [EXIT_OK]


def test_zero_byte_journal_is_refused_not_taken_as_new(tmp_path: Path) -> None:
    jpath = tmp_path / "j.sqlite"
    jpath.write_bytes(b"")
    proc = subprocess.run(_bot("--set", f'journal.path="{jpath}"', "--set", "engine.cycles=1"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == EXIT_CONFIG, proc.stderr[-3000:]
    assert "empty (0 bytes)" in proc.stderr and "What to do" in proc.stderr
    _no_traceback(proc.stderr)
    assert jpath.stat().st_size == 0  # still empty: nothing created in it
    assert _journal_cmd("check", "--journal", str(jpath)).returncode == 65


def test_backup_is_a_checked_copy(tmp_path: Path) -> None:
    jpath, copy = tmp_path / "j.sqlite", tmp_path / "b.sqlite"
    with Journal.open(jpath) as j:
        j.record_fill(_fill(1))
    res = _journal_cmd("backup", "--journal", str(jpath), "--to", str(copy))
    assert res.returncode == 0, res.stderr
    with Journal.open(copy) as j:
        assert [f.trade_id for f in j.fills()] == ["t1"]


# ------------------------------------------------------------------------------ 2. journal failing mid-run

_FSIZE_CHILD = """
import json, os, resource, sys
from pathlib import Path
import trio
from trio_hedge.app import load_config, run_bot

jpath = Path(sys.argv[1])
config = load_config(Path(sys.argv[2]), sys.argv[3:])

async def limit_when_filled(exchange):
    engine = exchange.engine("backpack", "BTC_USDC_PERP")
    while not engine.fills:
        await trio.sleep(0.01)
    # the disk is "full" for the journal from now on: no file may grow past its current size (EFBIG)
    wal = Path(str(jpath) + "-wal")
    size = max(jpath.stat().st_size, wal.stat().st_size if wal.exists() else 0)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    print("JOURNAL LIMITED", file=sys.stderr, flush=True)

result = trio.run(lambda: run_bot(config, journal_path=jpath, sim_hook=limit_when_filled))
print(json.dumps({"code": result.exit_code, "summary": result.summary}, default=str))
sys.exit(result.exit_code)
"""


def _assert_journal_down_run(code: int, summary: dict[str, Any], stderr: str, jpath: Path) -> None:
    assert code == EXIT_JOURNAL_DOWN, stderr[-4000:]
    assert _flat(summary), summary["final_positions"]
    assert summary["exit_code"] == EXIT_JOURNAL_DOWN and "JOURNAL DOWN" in summary["exit_reason"]
    assert "JOURNAL DOWN" in stderr
    _no_traceback(stderr)
    assert not Path(str(jpath) + "-shm").exists()  # exclusive locking: no memory-mapped WAL index at all
    with Journal.open(jpath) as j:  # the journal itself is sound; the exit row is there only if it fitted
        runs = j.runs()
        assert runs[-1].exit_code in (None, EXIT_JOURNAL_DOWN)
        assert (runs[-1].exit_code is not None) == summary["journal"]["exit_recorded"]


def _next_start_records_its_exit(jpath: Path, tmp_path: Path) -> None:
    out = tmp_path / "next.json"
    proc = subprocess.run(_bot("--set", f'journal.path="{jpath}"', "--set", "engine.cycles=1",
                               "--summary-json", str(out)), cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    assert _flat(json.loads(out.read_text()))
    with Journal.open(jpath) as j:
        assert j.runs()[-1].exit_code == EXIT_OK


@pytest.mark.slow  # ~13 s: runs in CI's slow/chaos pass (.ci/run), keeps the default run under budget
def test_journal_that_cannot_grow_mid_run_is_journal_down_exit_74_flat(tmp_path: Path) -> None:
    """The pure-Python way that works everywhere: RLIMIT_FSIZE lowered after the first maker fill, so every
    journal write that grows a file fails as on a full disk (EFBIG; Python ignores SIGXFSZ)."""
    jpath = tmp_path / "j.sqlite"
    proc = subprocess.run([sys.executable, "-c", _FSIZE_CHILD, str(jpath), str(REPO / "config.toml"), *IN_PROCESS,
                           "engine.cycles=1000"], cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          check=False)
    assert "JOURNAL LIMITED" in proc.stderr, proc.stderr[-3000:]
    assert proc.stdout.strip(), f"no result line (exit {proc.returncode}): {proc.stderr[-4000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == out["code"]
    _assert_journal_down_run(out["code"], out["summary"], proc.stderr, jpath)
    _next_start_records_its_exit(jpath, tmp_path)


@pytest.mark.slow  # ~15 s each: runs in CI's slow/chaos pass (.ci/run), keeps the default run under budget
def test_journal_on_a_tmpfs_that_fills_mid_run_is_exit_74_not_sigbus(tmp_path: Path) -> None:
    mnt = tmp_path / "fs"
    mnt.mkdir()
    # 4 MiB: room for the journal and its WAL after the filler is removed (the next start must record its exit)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True,
                           text=True, check=False)
    if mount.returncode != 0:
        print(f"SKIP tmpfs variant: mount -t tmpfs failed: {mount.stderr.strip()}")
        pytest.skip(f"mount -t tmpfs not allowed here: {mount.stderr.strip()}")
    try:
        jpath, out = mnt / "j.sqlite", tmp_path / "summary.json"
        with _running_bot(tmp_path, jpath, "[BTC_CYCLE2]") as (bot, err):
            fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
            try:  # fill the file system to the last byte
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass
            finally:
                os.close(fd)
            rc = bot.wait(timeout=60)
        assert rc != -signal.SIGBUS and rc >= 0, f"killed by signal {-rc}"
        (mnt / "filler").unlink()
        _assert_journal_down_run(rc, json.loads(out.read_text()), err.read_text(errors="replace"), jpath)
        _next_start_records_its_exit(jpath, tmp_path)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow  # ~15 s each: runs in CI's slow/chaos pass (.ci/run), keeps the default run under budget
def test_journal_made_immutable_mid_run_is_journal_down_exit_74_not_sigbus(tmp_path: Path) -> None:
    """As the issue reproduced it: ``chattr +i`` on the database and WAL files mid-run (and on a ``-shm``
    file, were there one: with the exclusive lock SQLite never creates it)."""
    probe = tmp_path / "probe"
    probe.touch()
    if subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False).returncode != 0:
        print("SKIP chattr variant: chattr +i is not supported here")
        pytest.skip("chattr +i not supported on this file system")
    subprocess.run(["chattr", "-i", str(probe)], check=False)
    jpath, out = tmp_path / "j.sqlite", tmp_path / "summary.json"
    files = [jpath, Path(f"{jpath}-wal"), Path(f"{jpath}-shm")]
    try:
        with _running_bot(tmp_path, jpath, "[BTC_CYCLE2]") as (bot, err):
            for f in files:
                if f.exists():
                    subprocess.run(["chattr", "+i", str(f)], check=True)
            rc = bot.wait(timeout=60)
    finally:
        for f in files:
            if f.exists():
                subprocess.run(["chattr", "-i", str(f)], check=False)
    assert rc != -signal.SIGBUS and rc >= 0, f"killed by signal {-rc}"
    _assert_journal_down_run(rc, json.loads(out.read_text()), err.read_text(errors="replace"), jpath)
    _next_start_records_its_exit(jpath, tmp_path)


# ------------------------------------------------------------------------------ 3. conflicts are data


@pytest.mark.slow  # 13-24 s: runs in CI's slow/chaos pass (.ci/run), keeps the default run under budget
async def test_fills_conflicting_with_the_journal_are_recorded_as_events_and_the_exit_is_recorded(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The venue "restarted and reused trade ids": the journal already holds the trade ids the simulator will
    hand out, with other economics. Every conflict, the exit step's included, becomes an event."""
    jpath = tmp_path / "j.sqlite"
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=2", "journal.exclusive_lock=false"])
    reused: list[str] = []

    async def previous_life(exchange: SimExchange | None, venues: dict[str, Venue], keys: dict[str, str]) -> None:
        with Journal.open(jpath) as j:
            for n in range(1, 41):
                tid = f"ba-{PSYM}-{n}"  # the simulator's trade ids (sim/_exchange.py trade_id_prefix)
                j.record_fill(_fill(n, venue=keys["backpack"], trade_id=tid, client_order_id=f"old-{n}",
                                    price=Decimal("1"), size=Decimal("7")))
                reused.append(tid)

    result = await run_bot(config, journal_path=jpath, before_trading=previous_life)
    assert result.exit_code == EXIT_OK, result.exit_reason
    assert _flat(result.summary)
    assert result.summary["journal"]["writes"].get("conflicts", 0) >= 1
    with Journal.open(jpath) as j:
        conflicts = j.events("journal.conflict")
        assert conflicts, "no conflict recorded"
        for e in conflicts:  # both versions: the journal's and the venue's
            assert "recorded" in e.detail and "venue report" in e.detail, e.detail
        traded = {tid for tid in reused if any(tid in e.detail for e in conflicts)}
        assert traded
        # the exit step met them again (its fill history read): more events than conflicting trades
        assert len(conflicts) > len(traded)
        assert j.runs()[-1].exit_code == EXIT_OK


# ------------------------------------------------------------------------------ 4. one bot per account


def test_a_symlink_to_a_running_bots_journal_exits_78_naming_its_pid(tmp_path: Path) -> None:
    jpath, err = tmp_path / "j.sqlite", tmp_path / "a.log"
    link = tmp_path / "other" / "link.sqlite"
    link.parent.mkdir()
    link.symlink_to(jpath)
    with err.open("wb") as errf:
        first = subprocess.Popen(_bot("--set", f'journal.path="{jpath}"', "--set", "engine.cycles=1000"),
                                 cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=errf)
        try:
            _wait_for(err, "[BTC_CYCLE1]", first, 60)
            second = subprocess.run(_bot("--set", f'journal.path="{link}"', "--set", "engine.cycles=1"),
                                    cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
            assert second.returncode == EXIT_CONFIG, second.stderr[-3000:]
            assert f"pid {first.pid}" in second.stderr
            _no_traceback(second.stderr)
            first.send_signal(signal.SIGINT)
            assert first.wait(timeout=30) == EXIT_OK
        finally:
            if first.poll() is None:
                first.kill()
    with Journal.open(jpath) as j:
        assert [r.exit_code for r in j.runs()] == [EXIT_OK]  # the second bot never touched it


def _live_overrides(info: dict[str, Any], journal: Path, lock_dir: Path) -> list[str]:
    g, b = info["grvt"], info["backpack"]
    sets = {
        "journal.path": f'"{journal}"', "journal.account_lock_dir": f'"{lock_dir}"', "engine.cycles": "1000",
        "run.live_start_delay_ms": "0",
        "venues.backpack.endpoint": '"live"', "venues.backpack.rest_url": f'"{b["rest"]}"',
        "venues.backpack.ws_url": f'"{b["ws"]}"',
        "venues.grvt.endpoint": '"live"', "venues.grvt.edge_url": f'"{g["rest"]}"',
        "venues.grvt.market_data_url": f'"{g["rest"]}"', "venues.grvt.trades_url": f'"{g["rest"]}"',
        "venues.grvt.market_data_ws_url": f'"{g["ws"]}"', "venues.grvt.trades_ws_url": f'"{g["ws"]}"',
        "venues.grvt.sub_account_id": f'"{g["sub_account_id"]}"', "venues.grvt.chain_id": str(g["chain_id"]),
    }
    return [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]


def test_second_bot_on_the_same_sim_account_with_another_journal_exits_78(tmp_path: Path) -> None:
    """Two bots, two journals, one account: the `sim` command's test account, reached as a live venue."""
    sim_err = tmp_path / "sim.log"
    with sim_err.open("wb") as serr:
        sim = subprocess.Popen([sys.executable, "-m", "trio_hedge", "sim", "--config", str(REPO / "config.toml")],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=serr)
    try:
        assert sim.stdout is not None
        info = json.loads(readline_within(sim, sim.stdout, 60))
        g, b = info["grvt"], info["backpack"]
        env = dict(os.environ, TRIO_HEDGE_BACKPACK_API_KEY=b["api_key"], TRIO_HEDGE_BACKPACK_API_SECRET=b["api_secret"],
                   TRIO_HEDGE_GRVT_API_KEY=g["api_key"], TRIO_HEDGE_GRVT_PRIVATE_KEY=g["private_key"])
        lock_dir = tmp_path / "locks"
        cmd = [sys.executable, "-m", "trio_hedge", "--config", str(REPO / "config.toml"), "--live"]
        err = tmp_path / "a.log"
        with err.open("wb") as errf:
            first = subprocess.Popen([*cmd, *_live_overrides(info, tmp_path / "a.sqlite", lock_dir)], cwd=tmp_path,
                                     stdout=subprocess.DEVNULL, stderr=errf, env=env)
            try:
                _wait_for(err, "reconciling the journal", first, 60)
                second = subprocess.run([*cmd, *_live_overrides(info, tmp_path / "b.sqlite", lock_dir)],
                                        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
                                        env=env)
                assert second.returncode == EXIT_CONFIG, second.stderr[-3000:]
                assert f"pid {first.pid}" in second.stderr and "venue account" in second.stderr
                assert b["api_key"] not in second.stderr  # a fingerprint, never the key
                _no_traceback(second.stderr)
                assert not (tmp_path / "b.sqlite").exists()  # refused before its journal was opened
                first.send_signal(signal.SIGINT)
                assert first.wait(timeout=40) == EXIT_OK, err.read_text()[-3000:]
            finally:
                if first.poll() is None:
                    first.kill()
        with Journal.open(tmp_path / "a.sqlite") as j:
            assert [r.exit_code for r in j.runs()] == [EXIT_OK]
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(timeout=20)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
        assert sim.stdout is not None
        sim.stdout.close()


def test_account_locks_do_not_depend_on_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIO_HEDGE_BACKPACK_API_KEY", "k" * 44)
    monkeypatch.setenv("TRIO_HEDGE_BACKPACK_API_SECRET", "s" * 44)
    live = ['venues.backpack.endpoint="live"']
    c1 = load_config(None, [*live, f'journal.path="{tmp_path / "a.sqlite"}"'])
    c2 = load_config(None, [*live, f'journal.path="{tmp_path / "b.sqlite"}"'])
    assert live_accounts(c1) == live_accounts(c2) and len(live_accounts(c1)) == 1
    assert "k" * 44 not in live_accounts(c1)[0]  # a fingerprint of the key, never the key
    with acquire_process_locks(c1.journal.lock_path, live_accounts(c1), tmp_path / "locks"):
        with pytest.raises(SecondInstance, match=f"pid {os.getpid()}.*venue account"):
            acquire_process_locks(c2.journal.lock_path, live_accounts(c2), tmp_path / "locks")


# ------------------------------------------------------------------------------ 5. a second signal


def test_second_sigint_during_a_hedge_still_exits_0_flat_and_recorded(tmp_path: Path) -> None:
    jpath, out = tmp_path / "j.sqlite", tmp_path / "summary.json"
    # the router's iterations are DEBUG lines (one INFO line per hedge, after it): a hedge is being routed
    with _running_bot(tmp_path, jpath, "_SMART_ROUTING] Iteration", "--set", 'log.level="DEBUG"') as (proc, err):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)  # "Ctrl-C twice": the second while the stop runs
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=40)
    text = err.read_text(errors="replace")
    assert rc == EXIT_OK, text[-4000:]
    assert "SIGINT again" in text
    _no_traceback(text)
    summary = json.loads(out.read_text())
    assert _flat(summary) and "stopped by SIGINT" in summary["exit_reason"]
    with Journal.open(jpath) as j:
        assert [r.exit_code for r in j.runs()] == [EXIT_OK]
        assert j.inflight() == []


# ------------------------------------------------------------------------------ 6. a frozen venue during a stop


async def test_stop_while_the_venues_are_frozen_fits_the_stop_budget_and_logs_each_wait(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    from loguru import logger

    jpath = tmp_path / "j.sqlite"
    # roundtrip mode: a quote resting while the primary is flat (the moment this stops at) comes every cycle
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1000", "engine.cycle_mode=roundtrip"])
    raw: dict[str, Venue] = {}
    marks: dict[str, float] = {}
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO", format="{message}")

    async def keep(exchange: SimExchange | None, venues: dict[str, Venue], keys: dict[str, str]) -> None:
        raw.update(venues)

    async def freeze_then_stop(exchange: SimExchange) -> None:
        primary = exchange.engine("backpack", PSYM)
        await trio.sleep(2)
        while not primary.open_orders() or primary.position().size != 0:  # noqa: ASYNC110 - simulator state
            await trio.sleep(0.01)
        for v in raw.values():  # the venues stop answering: every request now takes an hour
            v._latency_s = 3600.0  # type: ignore[attr-defined]
        marks["stop"] = trio.current_time()
        os.kill(os.getpid(), signal.SIGINT)

    try:
        result = await run_bot(config, handle_signals=True, journal_path=jpath, before_trading=keep,
                               sim_hook=freeze_then_stop)
    finally:
        logger.remove(sink)
    took_s = trio.current_time() - marks["stop"]
    assert took_s <= config.run.stop_budget_s + 0.5, took_s
    # the positions could not be read: not "flat", said so (exit 3), and recorded
    assert result.exit_code == EXIT_NOT_FLAT and "NOT FLAT" in result.exit_reason
    with Journal.open(jpath) as j:
        assert j.runs()[-1].exit_code == EXIT_NOT_FLAT
    waits = [ln for ln in lines if ln.startswith("stop:")]
    for what in ("final position read", "journal sync", "recording the run's exit"):
        assert any(what in ln for ln in waits), waits
    assert any("cut short" in ln for ln in waits), waits


# ------------------------------------------------------------------------------ 7. a 5xx blip


@pytest.mark.chaos
async def test_five_500s_on_the_quotes_post_cost_a_quote_not_the_run(request: pytest.FixtureRequest) -> None:
    """The real Backpack adapter through the fault proxy: the next five POSTs (the quotes) answer HTTP 500.
    Each is resolved by query after a cancel by its client order id, recorded as never accepted, and the bot
    quotes again: every cycle completes, nothing halts, flat, the journal equal to the venues."""
    from tests.test_chaos import Rig, run_scenario, until

    async def fault(r: Rig) -> None:
        await until(lambda: r.bp_engine.open_orders() != [], within_s=30)  # a quote rests: the next POSTs fail
        r.bp_rest.fail_http(500, count=5, method="POST")
        r.mark("fault")
        await until(lambda: r.bp_rest.statistics().http_failed >= 5, within_s=60)
        r.mark("detected")

    r, res = await run_scenario(request, fault, overrides=["engine.cycles=4"], deadline_s=120, expect_failure=False)
    assert res.stats.cycles_completed == 4, res.stats.halts
    assert r.bp_rest.statistics().http_failed == 5
    assert sum("recorded as never accepted" in w for w in res.warnings) >= 1, res.warnings


def test_shipped_supervisord_stopwaitsecs_covers_the_shipped_stop_budget() -> None:
    import configparser

    from trio_hedge.app.cli import STOPWAITSECS_ENV, stop_budget_problem

    conf = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    conf.read(REPO / "scripts" / "supervisord.conf")
    prog = conf["program:trio_hedge"]
    wait = prog["stopwaitsecs"].strip()
    assert f'{STOPWAITSECS_ENV}="{wait}"' in prog["environment"]  # the bot is told the same number
    config = load_config(REPO / "config.toml")
    assert stop_budget_problem(config, wait) is None
    too_long = load_config(REPO / "config.toml", [f"run.stop_budget_ms={int(wait) * 1000}"])
    problem = stop_budget_problem(too_long, wait)
    assert problem is not None and "run.stop_budget_ms" in problem and "stopwaitsecs" in problem


def test_stop_budget_that_cannot_hold_the_cleanup_is_a_config_error() -> None:
    from trio_hedge.app import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(REPO / "config.toml", ["run.stop_budget_ms=10000"])  # < cleanup 15 s + reads + close
    assert info.value.key == "run.stop_budget_ms"


async def test_third_signal_or_a_stop_past_its_budget_is_the_hard_stop() -> None:
    """StopBudget (app/_stop.py) in real time: the hard exit fires one second after a hard stop or after the
    budget; a phase running then is cancelled at once; a run that ends in time disarms it."""
    from trio_hedge.app._stop import HARD_STOP_GRACE_S, StopBudget

    fired: list[str] = []
    budget = StopBudget(60.0, 1.0, 0.5, hard_exit=fired.append)
    budget.begin("test")
    with budget.phase("a wait that would last a minute", 60.0) as scope:
        budget.hard_stop("third signal")
        await trio.sleep(30)
    assert scope.cancelled_caught
    deadline = time.monotonic() + HARD_STOP_GRACE_S + 5
    while not fired and time.monotonic() < deadline:  # noqa: ASYNC110 - set from the timer thread
        await trio.sleep(0.05)
    assert fired == ["third signal"]
    over: list[str] = []
    short = StopBudget(0.2, 0.1, 0.1, hard_exit=over.append)
    short.begin("test")
    await trio.sleep(0.2 + HARD_STOP_GRACE_S + 0.5)
    assert over and "budget" in over[0]
    quiet: list[str] = []
    done = StopBudget(0.2, 0.1, 0.1, hard_exit=quiet.append)
    done.begin("test")
    done.disarm()
    await trio.sleep(0.2 + HARD_STOP_GRACE_S + 0.3)
    assert quiet == []


async def test_second_signal_cuts_every_running_and_later_wait_short(autojump_clock: trio.testing.MockClock) -> None:
    from trio_hedge.app._stop import StopBudget

    budget = StopBudget(25.0, 2.0, 1.0)
    budget.begin("test")
    t0 = trio.current_time()
    with budget.phase("a long venue wait", 10.0) as scope:
        budget.hurry()
        await trio.sleep(10)
    assert scope.cancelled_caught and trio.current_time() - t0 == pytest.approx(1.0)
    t1 = trio.current_time()
    with budget.phase("a later wait", 10.0):
        await trio.sleep(10)
    assert trio.current_time() - t1 == pytest.approx(1.0)


async def test_a_journal_call_hanging_past_its_bound_puts_the_journal_down(tmp_path: Path) -> None:
    """A hung disk, played by the shared write lock held elsewhere: the call gives up after
    ``journal.call_bound_ms`` (wall clock) with JournalTimeout, and the recorder refuses new risk."""
    import threading

    from trio_hedge.app._journal import JournalTimeout, open_async_journal
    from trio_hedge.app._reconcile import JournalRecorder
    from trio_hedge.engine import JournalDown

    lock = threading.Lock()
    async with open_async_journal(tmp_path / "j.sqlite", write_lock=lock, call_bound_s=0.3) as aj:
        lock.acquire()
        try:
            t0 = time.monotonic()
            with pytest.raises(JournalTimeout):
                await aj.record_event("test", "held")
            assert 0.25 <= time.monotonic() - t0 < 3.0
            recorder = JournalRecorder(aj)
            with pytest.raises(JournalDown):
                await recorder.cycle_started("BTC", 0, Side.BUY)
            assert isinstance(recorder.down, JournalTimeout)
        finally:
            lock.release()


async def test_a_full_report_queue_spills_to_the_log_with_every_field(tmp_path: Path) -> None:
    """The recorder's report queue is bounded (journal.report_queue_capacity); a report that finds it full is
    never dropped silently and never blocks the private stream: it is logged with every field, marked."""
    from loguru import logger

    from trio_hedge.app._journal import open_async_journal
    from trio_hedge.app._reconcile import JournalRecorder

    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    try:
        async with open_async_journal(tmp_path / "j.sqlite") as aj:
            recorder = JournalRecorder(aj, capacity=2)
            fills = [_fill(i, fee=Decimal("0.0123")) for i in range(3)]
            recorder.post_fills("backpack", fills)  # the writer is not running: the third finds the queue full
            assert recorder.counts.get("spilled") == 1 and recorder.max_queued == 2
            await recorder.drain()
            assert [f.trade_id for f in await aj.fills()] == ["t0", "t1"]
    finally:
        logger.remove(sink)
    spilled = [ln for ln in lines if "SPILLED" in ln]
    assert len(spilled) == 1
    for text in ("trade_id='t2'", "client_order_id='c2'", "price=Decimal('100')", "size=Decimal('0.001')",
                 "fee=Decimal('0.0123')", "is_maker=True", f"ts_ns={T0_NS + 2}"):
        assert text in spilled[0], spilled[0]


async def test_an_operator_event_spilled_from_a_full_queue_is_logged_with_its_kind_and_detail(tmp_path: Path) -> None:
    """The operator tools' events (``post_note``) share the report queue: one that finds it full is logged like a
    report, with its kind and detail, and never raises into the code that posted it."""
    from loguru import logger

    from trio_hedge.app._journal import open_async_journal
    from trio_hedge.app._reconcile import JournalRecorder

    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    try:
        async with open_async_journal(tmp_path / "j.sqlite") as aj:
            recorder = JournalRecorder(aj, capacity=1)
            recorder.post_fills("backpack", [_fill(0)])
            recorder.post_note("hedge", '{"latency_ms": 0.3}')  # the queue is full
            assert recorder.counts.get("spilled") == 1
            await recorder.drain()
    finally:
        logger.remove(sink)
    spilled = [ln for ln in lines if "SPILLED" in ln]
    assert len(spilled) == 1 and 'event hedge: {"latency_ms": 0.3}' in spilled[0], spilled

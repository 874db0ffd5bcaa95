"""The process contract with the supervisor: the single-instance lock (exit 78), the crash-loop breaker (exit 78),
a graceful SIGINT on a real process mid-run (exit 0, flat, within the stop deadline), and orphan protection
(the bot stops when its supervisor dies)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import trio

from trio_hedge.app import Journal, load_config, run_bot
from trio_hedge.app._process import SecondInstance, acquire_instance_lock, is_supervised
from trio_hedge.engine import EXIT_CONFIG, EXIT_OK
from trio_hedge.sim import SimExchange

from ._proc import readline_within

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim"]
STOP_DEADLINE_S = 20.0  # scripts/supervisord.conf stopwaitsecs = 30: the bot must be gone well before


pytestmark = pytest.mark.timeout(120)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _bot(*args: str) -> list[str]:
    """The CLI as supervisord runs it, on the in-process simulator venues (the process, its signals, lock and
    journal are what these tests are about; the wire adapters have their own tests)."""
    sims = [a for v in ("backpack", "grvt") for a in ("--set", f"venues.{v}.kind=sim")]
    return [sys.executable, "-m", "trio_hedge", "--config", str(REPO / "config.toml"), *sims, *args]


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"bot exited {proc.returncode} early: {path.read_text()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not seen in {timeout_s}s: {path.read_text()[-2000:]}")


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    lock_path = tmp_path / "run" / "j.sqlite.lock"
    first = acquire_instance_lock(lock_path)
    with pytest.raises(SecondInstance, match=str(os.getpid())):
        acquire_instance_lock(lock_path)  # a second open file description conflicts even in one process
    first.release()
    acquire_instance_lock(lock_path).release()  # free again once released


def test_second_instance_exits_78(tmp_path: Path) -> None:
    jpath = tmp_path / "j.sqlite"
    with acquire_instance_lock(jpath.with_name("j.sqlite.lock")):
        proc = subprocess.run(_bot("--set", f'journal.path="{jpath}"', "--set", "engine.cycles=1"), cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == EXIT_CONFIG, proc.stderr[-2000:]
    assert "another trio_hedge instance" in proc.stderr
    assert not jpath.exists()  # refused before the journal was even opened


def test_supervised_detection() -> None:
    assert is_supervised(True, {})
    assert is_supervised(False, {"SUPERVISOR_ENABLED": "1"})
    assert is_supervised(False, {"TRIO_HEDGE_SUPERVISED": "1"})
    assert not is_supervised(False, {"TRIO_HEDGE_SUPERVISED": "0"})


@pytest.mark.parametrize("crashes", [2, 3])
async def test_crash_loop_breaker(autojump_clock: trio.testing.MockClock, tmp_path: Path, crashes: int) -> None:
    jpath = tmp_path / "j.sqlite"
    now = time.time_ns()
    with Journal.open(jpath) as j:
        j.record_start(4242, now - 400 * 10**9)  # a crash outside the 5-minute window does not count
        for k in range(crashes):
            run = j.record_start(4243 + k, now - (200 - k) * 10**9)
            if k % 2:
                j.record_exit(1, "crash", run_id=run)  # exit 1 is a crash; no exit at all is one too
        clean = j.record_start(4300, now - 10**9)
        j.record_exit(0, "clean", run_id=clean)
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1"])
    traded: list[bool] = []

    async def watch(exchange: SimExchange) -> None:
        traded.append(True)

    result = await run_bot(config, journal_path=jpath, sim_hook=watch)
    with Journal.open(jpath) as j:
        last = j.runs()[-1]
        if crashes >= 3:
            assert result.exit_code == EXIT_CONFIG
            assert "crash-loop breaker" in result.exit_reason
            assert traded == []  # stayed down: no simulator, no venue, no order
            assert j._live().execute("SELECT count(*) FROM intents").fetchone()[0] == 0
            # the operator tools journal the run's setup and final positions (ops.*, issue 14); nothing else
            assert [e.kind for e in j.events() if not e.kind.startswith("ops.")] == ["breaker"]
        else:
            assert result.exit_code == EXIT_OK, result.exit_reason
            assert traded == [True]
        assert last.exit_code == result.exit_code  # the run's own exit is recorded (78 is not a crash)


def _flat(summary: dict) -> bool:  # type: ignore[type-arg]
    return all(Decimal(p) == 0 for syms in summary["final_positions"].values() for p in syms.values())


def test_sigint_mid_run_exits_0_flat_within_deadline(tmp_path: Path) -> None:
    jpath, out, err = tmp_path / "j.sqlite", tmp_path / "summary.json", tmp_path / "stderr.log"
    with err.open("wb") as errf:
        proc = subprocess.Popen(_bot("--set", f'journal.path="{jpath}"', "--set", "engine.cycles=1000",
                                     "--summary-json", str(out)), cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=errf)
        try:
            _wait_for(err, "[BTC_CYCLE2]", proc, 60)  # mid-run: cycles done, a quote about to rest
            proc.send_signal(signal.SIGINT)
            t0 = time.monotonic()
            rc = proc.wait(timeout=STOP_DEADLINE_S + 5)
            took_s = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert rc == EXIT_OK, err.read_text()[-3000:]
    assert took_s < STOP_DEADLINE_S
    summary = json.loads(out.read_text())
    assert "stopped by SIGINT" in summary["exit_reason"] and _flat(summary)
    with Journal.open(jpath) as j:
        assert j.inflight() == []  # every order sent was resolved
        assert j.open_cycles() == []  # the interrupted cycle's end is recorded too
        assert [r.exit_code for r in j.runs()] == [EXIT_OK]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_orphaned_bot_stops_when_its_supervisor_dies(tmp_path: Path) -> None:
    jpath, err = tmp_path / "j.sqlite", tmp_path / "stderr.log"
    # a stand-in supervisor: starts the bot (supervised) and is then killed with SIGKILL
    cmd = _bot("--supervised", "--set", f'journal.path="{jpath}"', "--set", "engine.cycles=1000")
    parent_code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen({cmd!r}, stdout=subprocess.DEVNULL, stderr=open({str(err)!r}, 'wb'))\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    with subprocess.Popen([sys.executable, "-c", parent_code], cwd=tmp_path, stdout=subprocess.PIPE) as parent:
        _orphan_parent_killed(parent, err)
    text = err.read_text(errors="replace")
    assert "SIGINT: graceful stop" in text
    with Journal.open(jpath) as j:
        assert [r.exit_code for r in j.runs()] == [EXIT_OK]  # it stopped cleanly, flat
        assert j.inflight() == []


def _orphan_parent_killed(parent: subprocess.Popen[bytes], err: Path) -> None:
    """Kill the stand-in supervisor once the bot trades; assert the bot then stops within the deadline."""
    try:
        assert parent.stdout is not None
        bot_pid = int(readline_within(parent, parent.stdout, 60))
        end = time.monotonic() + 60
        while "[BTC_CYCLE1]" not in (err.read_text(errors="replace") if err.exists() else ""):
            assert time.monotonic() < end, "the bot never started trading"
            time.sleep(0.05)
        parent.kill()
        parent.wait()
        end = time.monotonic() + STOP_DEADLINE_S
        while Path(f"/proc/{bot_pid}").exists() and time.monotonic() < end:
            time.sleep(0.05)
        alive = Path(f"/proc/{bot_pid}").exists()
        if alive:
            os.kill(bot_pid, signal.SIGKILL)
        assert not alive, "the orphaned bot kept running"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_unusable_journal_exits_78(tmp_path: Path) -> None:
    jpath = tmp_path / "j.sqlite"
    jpath.write_bytes(b"this is not a journal")
    proc = subprocess.run(_bot("--set", f'journal.path="{jpath}"'), cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == EXIT_CONFIG, proc.stderr[-2000:]
    assert "not a SQLite database" in proc.stderr
    assert jpath.read_bytes() == b"this is not a journal"  # left untouched

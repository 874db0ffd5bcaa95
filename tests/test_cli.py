"""The command line as a user runs it: a real process, exit codes and the summary JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.timeout(240)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trio_hedge", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180, check=False)


def test_short_run_writes_summary_and_exits_zero(tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    proc = _run("--config", str(REPO / "config.toml"), "--set", "engine.cycles=2", "--set", "sim.speed=8",
                "--summary-json", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(out.read_text())
    for key in ("cycles_completed", "cycles_failed", "volume_quote", "avg_edge_bps", "hedge_latency_ms",
                "final_positions", "exit_reason"):
        assert key in summary
    # the default run is two markets (BTC, ETH): 2 cycles each, the top level their sum
    assert summary["cycles_completed"] == 4
    assert {n: m["cycles_completed"] for n, m in summary["markets"].items()} == {"BTC": 2, "ETH": 2}
    assert set(summary["hedge_latency_ms"]) >= {"p50", "p99"}
    assert all(Decimal(p) == 0 for v in summary["final_positions"].values() for p in v.values())
    assert "run summary" in proc.stdout
    assert "[BTC_CYCLE0]" in proc.stderr  # lines carry their tag


def test_config_error_exits_78_naming_the_key(tmp_path: Path) -> None:
    proc = _run("--set", "markets.0.order_size=banana", cwd=tmp_path)
    assert proc.returncode == 78
    assert "markets.0.order_size" in proc.stderr and "Fix:" in proc.stderr


def test_unreadable_recording_fails_cleanly_before_trading(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gz"
    bad.write_bytes(b"this is not gzip")
    proc = _run("--set", f'venues.grvt.recording="{bad}"', cwd=tmp_path)
    assert proc.returncode == 1
    assert "cannot start" in proc.stderr
    assert "Traceback" not in proc.stderr

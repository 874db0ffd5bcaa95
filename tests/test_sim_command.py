"""``python -m trio_hedge sim``: a real process serving both venues on loopback, announced by one JSON line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ._proc import readline_within

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.timeout(90)  # waits on sockets or subprocesses: a hang fails the test, not the run


def test_sim_command_prints_endpoints_and_serves_both_protocols(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "trio_hedge", "sim", "--config", str(REPO / "config.toml"), "--speed", "5"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as proc:
        _check_sim_command(proc)


def _check_sim_command(proc: subprocess.Popen[str]) -> None:
    try:
        assert proc.stdout is not None
        line = readline_within(proc, proc.stdout, 60)  # the process prints exactly one line when ready
        info = json.loads(line)
        assert set(info["grvt"]) >= {"rest", "ws", "api_key", "private_key", "sub_account_id", "chain_id"}
        assert set(info["backpack"]) >= {"rest", "ws", "api_key", "api_secret"}
        for venue in info.values():
            assert venue["rest"].startswith("http://127.0.0.1:")
        with httpx.Client(timeout=5) as client:
            login = client.post(info["grvt"]["rest"] + "/auth/api_key/login", json={"api_key": info["grvt"]["api_key"]})
            assert login.status_code == 200 and "gravity=" in login.headers["set-cookie"]
            markets = client.get(info["backpack"]["rest"] + "/api/v1/markets")
            assert markets.status_code == 200
            assert any(m["symbol"] == "BTC_USDC_PERP" for m in markets.json())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)

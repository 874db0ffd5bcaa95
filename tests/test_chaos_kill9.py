"""``scripts/chaos_kill9.py`` (issue 5): ``kill -9`` of the bot under supervisord, then venues vs journal.

The chaos test runs the real script (simulator subprocess, supervisord, the bot with ``--live --supervised``
against the simulator on 127.0.0.1) with a small N and asserts the last line's counts are all zero and that
every kill was followed by a journaled restart. It is skipped when supervisord cannot start here. The other
tests check the config the script writes (fast, no processes).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from trio_hedge.app._config import load_config

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "chaos_kill9.py"
LAST_LINE = re.compile(
    r"^kills=(\d+) orphan_positions=(\d+) resting_orders=(\d+) lost_fills=(\d+) duplicate_fills=(\d+) "
    r"duplicate_client_ids=(\d+)$"
)


pytestmark = pytest.mark.timeout(360)  # waits on sockets or subprocesses: a hang fails the test, not the run


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chaos_kill9", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_to_toml_round_trips_the_shipped_config() -> None:
    mod = _script()
    tree = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    assert tomllib.loads(mod.to_toml(tree)) == tree


def test_written_config_is_live_on_loopback_with_private_secrets_and_a_raised_breaker(tmp_path: Path) -> None:
    mod = _script()
    sim = {  # the shape of `python -m trio_hedge sim`'s line; placeholder credentials for a config check only
        "backpack": {"rest": "http://127.0.0.1:1001", "ws": "ws://127.0.0.1:1001/", "api_key": "bp-key",
                     "api_secret": "bp-secret"},
        "grvt": {"rest": "http://127.0.0.1:1002", "ws": "ws://127.0.0.1:1002/ws/full", "api_key": "gr-key",
                 "private_key": "11" * 32, "sub_account_id": "123", "chain_id": 325},
    }
    path = mod.write_config(tmp_path, sim, kills=37, speed=2.0)
    for secrets in tmp_path.glob("*.secrets.toml"):
        assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    config = load_config(path)
    assert config.journal.max_crashes == 47
    assert config.journal.path == tmp_path / "journal.sqlite"
    bp, gr = config.venues["backpack"], config.venues["grvt"]
    assert bp.endpoint == gr.endpoint == "live"
    assert bp.live is not None and gr.live is not None
    assert bp.live.urls == {"rest_url": "http://127.0.0.1:1001", "ws_url": "ws://127.0.0.1:1001/"}
    assert set(gr.live.urls.values()) == {"http://127.0.0.1:1002", "ws://127.0.0.1:1002/ws/full"}
    assert (bp.live.api_key, bp.live.secret) == ("bp-key", "bp-secret")
    assert (gr.live.sub_account_id, gr.live.chain_id) == ("123", 325)
    shipped = load_config(REPO / "config.toml")
    assert config.markets[0].order_size == shipped.markets[0].order_size
    assert config.markets[0].max_loss == shipped.markets[0].max_loss
    assert "bp-secret" not in path.read_text() and "11" * 32 not in path.read_text()


@pytest.mark.chaos
def test_kill9_under_supervisord_leaves_venues_and_journal_consistent() -> None:
    if not (Path(sys.executable).parent / "supervisord").exists() and shutil.which("supervisord") is None:
        pytest.skip("supervisord is not installed")
    kills = 3
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--kills", str(kills), "--seed", "5", "--max-delay-s", "6",
         "--settle-s", "4"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    if proc.returncode == 2 and "supervisord did not start" in proc.stderr:
        pytest.skip("supervisord cannot start here: " + proc.stderr.strip().splitlines()[-1])
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no result line; stderr tail:\n{proc.stderr[-3000:]}"
    m = LAST_LINE.match(lines[-1])
    assert m, f"unexpected last line {lines[-1]!r}; stderr tail:\n{proc.stderr[-3000:]}"
    assert int(m.group(1)) == kills
    assert [int(g) for g in m.groups()[1:]] == [0, 0, 0, 0, 0], proc.stderr[-3000:]
    # Every kill was a journaled crash and every restart reconciled: N + 1 runs, N without an exit, the last 0.
    runs = re.search(r"journal: runs=(\d+) exit codes=(\{[^}]*\}) recon events=\d+ \(\{[^}]*'recon.done': (\d+)",
                     proc.stderr)
    assert runs, proc.stderr[-3000:]
    assert int(runs.group(1)) == kills + 1
    assert runs.group(2) == f"{{None: {kills}, 0: 1}}"
    assert int(runs.group(3)) == kills + 1
    assert proc.returncode == 0

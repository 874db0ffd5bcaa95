"""Cycle modes compared on the same data: the default run (``config.toml``: the shipped BTC and ETH recordings,
two markets over one session per venue, the real adapters against the embedded wire simulators) once per
``engine.cycle_mode``, each in a subprocess of its own with its own journal, and the cost per volume of each.

Per mode and market it prints ``wear_bps`` (-PnL / volume x 1e4, fees included), cycles per hour (venue clock,
first fill to last), the maker share of the primary's notional, fees and volume per venue, cycles completed and
the exit code, read from the run's ``--summary-json``. The LAST line is the comparison, per market and in total:
``cycle_modes BTC: roundtrip_wear_bps=<> inventory_wear_bps=<> wear_reduction_pct=<> roundtrip_cycles=<>
inventory_cycles=<> roundtrip_cycles_per_hour=<> inventory_cycles_per_hour=<> | ETH: ... | total: ...``.
The issue's aims: ``inventory`` at least 20% lower ``wear_bps`` than ``roundtrip``; ETH at least 20 cycles.

Usage: ``python scripts/bench_cycle_modes.py [--set key=value ...]`` (extra overrides go to both runs, e.g.
``--set sim.speed=8`` or ``--set engine.cycles=1000`` to run each market to the end of the recording). Takes
about two default runs (~1 min each at the default replay speed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODES = ("roundtrip", "inventory")


def run_mode(mode: str, overrides: list[str], workdir: Path) -> dict[str, Any]:
    """One default run in ``mode``; returns its summary (the JSON the bot wrote)."""
    summary = workdir / f"{mode}.json"
    cmd = [sys.executable, "-m", "trio_hedge", "--config", str(REPO / "config.toml"), "--no-live",
           "--set", f"engine.cycle_mode={mode}", "--set", f"journal.path={workdir / mode}.sqlite",
           "--summary-json", str(summary), "--log-level", "WARNING"]
    for o in overrides:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    if not summary.exists():
        raise SystemExit(f"{mode}: no summary (exit {proc.returncode}): {proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(summary.read_text())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra KEY=VALUE for both runs")
    args = ap.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            s = run_mode(mode, args.overrides, Path(tmp))
            results[mode] = s
            for name, m in s["markets"].items():
                venues = ", ".join(f"{v} volume {x['volume_quote']} fees {x['fees_quote']}"
                                   for v, x in m["venues"].items())
                print(f"{mode:9s} {name}: cycles {m['cycles_completed']} (exit {s['exit_code']}), "
                      f"wear_bps {m['wear_bps']}, cycles/hour {m['cycles_per_hour']}, maker share "
                      f"{m['maker_share']}, pnl {m['pnl_quote']['total']}; {venues}")
    rt, inv = results["roundtrip"], results["inventory"]
    parts = [f"{name}: {_compare(rt['markets'][name], inv['markets'][name])}" for name in rt["markets"]]
    parts.append(f"total: {_compare(rt, inv)}")
    print("cycle_modes " + " | ".join(parts))


def _compare(rt: dict[str, Any], inv: dict[str, Any]) -> str:
    """One market's (or the total's) comparison of the two modes."""
    cut = (None if not rt["wear_bps"] or inv["wear_bps"] is None
           else round((1 - inv["wear_bps"] / rt["wear_bps"]) * 100, 1))
    return (f"roundtrip_wear_bps={rt['wear_bps']} inventory_wear_bps={inv['wear_bps']} wear_reduction_pct={cut} "
            f"roundtrip_cycles={rt['cycles_completed']} inventory_cycles={inv['cycles_completed']} "
            f"roundtrip_cycles_per_hour={rt['cycles_per_hour']} inventory_cycles_per_hour={inv['cycles_per_hour']}")

if __name__ == "__main__":
    main()

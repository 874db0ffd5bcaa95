"""Cycle modes compared on the same data: the default run (``config.toml``: the shipped BTC and ETH recordings,
two markets over one session per venue, the real adapters against the embedded wire simulators) once per
``engine.cycle_mode``, each in a subprocess of its own with its own journal, and the cost per volume of each.

Per mode and market it prints ``wear_bps`` (-PnL / volume x 1e4, fees included), cycles per hour (venue clock,
first fill to last), the maker share of the primary's notional, fees and volume per venue, cycles completed and
the exit code, read from the run's ``--summary-json``. The LAST line is the comparison, per market and in total:
``cycle_modes BTC: roundtrip_wear_bps=<> inventory_wear_bps=<> wear_reduction_pct=<> roundtrip_cycles=<>
inventory_cycles=<> roundtrip_cycles_per_hour=<> inventory_cycles_per_hour=<> | ETH: ... | total: ...``.
The issue's aims: ``inventory`` at least 20% lower ``wear_bps`` than ``roundtrip``; ETH at least 20 cycles.

Usage: ``python scripts/bench_cycle_modes.py [--set key=value ...] [--variant LABEL=KEY=VALUE,... ...]
[--rounds N]`` (extra overrides go to every run, e.g. ``--set sim.speed=8`` or ``--set engine.cycles=1000`` to
run each market to the end of the recording). A ``--variant`` is one more run beside the two modes, with its own
overrides (e.g. ``--variant memory_off=markets.0.edge_memory_ms=0,markets.1.edge_memory_ms=0``), compared with
``roundtrip`` on its own line (``variant <label> ...``, before the last line). ``--rounds N`` runs the whole set
N times, interleaved (roundtrip, inventory, variants, then again), so that every run sees the same machine load
in turn, and compares the volume-weighted wear of the rounds: runs at different times on a shared machine are not
comparable. Takes about two default runs per round (~1 min each at the default replay speed).
``--virtual`` runs the same jobs on the in-process simulator venues in virtual time instead (no wire, no load:
deterministic; a few seconds a run), :func:`virtual_run`.
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


def run_mode(label: str, overrides: list[str], workdir: Path, *, virtual: bool = False) -> dict[str, Any]:
    """One default run with ``overrides``; returns its summary (the JSON the bot wrote). ``virtual``: see
    :func:`virtual_run`."""
    summary = workdir / f"{label}.json"
    summary.unlink(missing_ok=True)
    if virtual:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--virtual-run", str(summary)]
    else:
        cmd = [sys.executable, "-m", "trio_hedge", "--config", str(REPO / "config.toml"), "--no-live",
               "--set", f"journal.path={workdir / label}.sqlite", "--summary-json", str(summary),
               "--log-level", "WARNING"]
    for o in overrides:
        cmd += ["--set", o]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    if not summary.exists():
        raise SystemExit(f"{label}: no summary (exit {proc.returncode}): {proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(summary.read_text())
    return out


def virtual_run(summary: Path, overrides: list[str]) -> None:
    """``--virtual``: the default job on the in-process simulator venues (kind ``sim``: the same simulated
    exchange and recordings, no wire) under Trio's ``MockClock`` (autojump): the run takes no wall time of its
    own, so the machine's load does not move the figures and a run nearly repeats itself (the hash seed,
    ``PYTHONHASHSEED``, moves it by a few hundredths of a bps, docs/performance.md section 7). What it leaves
    out is the wire's and the CPU's latency, which the default (wire) runs have. No journal. Writes the summary
    to ``summary``."""
    import trio
    import trio.testing
    from loguru import logger

    sys.path.insert(0, str(REPO))
    from trio_hedge.app import load_config, run_bot

    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    config = load_config(REPO / "config.toml", ["venues.backpack.kind=sim", "venues.grvt.kind=sim", *overrides])
    result = trio.run(run_bot, config, clock=trio.testing.MockClock(autojump_threshold=0))
    summary.write_text(json.dumps(result.summary))


def _merge(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    """Two rounds' figures of one market (or the total) as one: wear weighted by volume, cycles summed, cycles
    per hour averaged."""
    if a is None:
        return {"wear_bps": b["wear_bps"], "volume_quote": float(b["volume_quote"]),
                "cycles_completed": b["cycles_completed"], "cycles_per_hour": b["cycles_per_hour"], "n": 1}
    vol = a["volume_quote"] + float(b["volume_quote"])
    wear = (None if a["wear_bps"] is None or b["wear_bps"] is None or not vol else
            round((a["wear_bps"] * a["volume_quote"] + b["wear_bps"] * float(b["volume_quote"])) / vol, 4))
    rate = (None if a["cycles_per_hour"] is None or b["cycles_per_hour"] is None else
            round((a["cycles_per_hour"] * a["n"] + b["cycles_per_hour"]) / (a["n"] + 1), 4))
    return {"wear_bps": wear, "volume_quote": vol, "cycles_completed": a["cycles_completed"] + b["cycles_completed"],
            "cycles_per_hour": rate, "n": a["n"] + 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="extra KEY=VALUE for every run")
    ap.add_argument("--variant", action="append", default=[],
                    help="LABEL=KEY=VALUE[,KEY=VALUE...]: one more run with these overrides")
    ap.add_argument("--rounds", type=int, default=1, help="run the whole set this many times, interleaved")
    ap.add_argument("--virtual", action="store_true",
                    help="in-process simulator venues in virtual time (deterministic, load-free; no wire latency)")
    ap.add_argument("--virtual-run", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.virtual_run is not None:
        virtual_run(args.virtual_run, args.overrides)
        return
    runs: dict[str, list[str]] = {mode: [f"engine.cycle_mode={mode}"] for mode in MODES}
    for v in args.variant:
        label, _, sets = v.partition("=")
        runs[label] = [x for x in sets.split(",") if x]
    merged: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for _round in range(args.rounds):
            for label, sets in runs.items():
                s = run_mode(label, [*args.overrides, *sets], Path(tmp), virtual=args.virtual)
                merged[label]["total"] = _merge(merged[label].get("total"), s)
                for name, m in s["markets"].items():
                    merged[label][name] = _merge(merged[label].get(name), m)
                    venues = ", ".join(f"{v} volume {x['volume_quote']} fees {x['fees_quote']}"
                                       for v, x in m["venues"].items())
                    print(f"{label:9s} {name}: cycles {m['cycles_completed']} (exit {s['exit_code']}), "
                          f"wear_bps {m['wear_bps']}, cycles/hour {m['cycles_per_hour']}, maker share "
                          f"{m['maker_share']}, pnl {m['pnl_quote']['total']}; {venues}", flush=True)
    rt = merged["roundtrip"]
    names = [n for n in rt if n != "total"] + ["total"]
    for label in [lb for lb in runs if lb not in MODES]:
        print(f"variant {label} " + " | ".join(f"{n}: {_compare(rt[n], merged[label][n], label)}" for n in names))
    print("cycle_modes " + " | ".join(f"{n}: {_compare(rt[n], merged['inventory'][n])}" for n in names))


def _compare(rt: dict[str, Any], inv: dict[str, Any], label: str = "inventory") -> str:
    """One market's (or the total's) comparison of ``roundtrip`` with ``label`` (over every round)."""
    cut = (None if not rt["wear_bps"] or inv["wear_bps"] is None
           else round((1 - inv["wear_bps"] / rt["wear_bps"]) * 100, 1))
    return (f"roundtrip_wear_bps={rt['wear_bps']} {label}_wear_bps={inv['wear_bps']} wear_reduction_pct={cut} "
            f"roundtrip_cycles={rt['cycles_completed']} {label}_cycles={inv['cycles_completed']} "
            f"roundtrip_cycles_per_hour={rt['cycles_per_hour']} {label}_cycles_per_hour={inv['cycles_per_hour']}")

if __name__ == "__main__":
    main()

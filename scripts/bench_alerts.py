"""Does a webhook receiver that is down or slow change a run's timing? Runs ``python -m trio_hedge`` (the
default wire run, ``--cycles`` cycles) with no alerts, with ``alerts.webhook_url`` on a loopback port where
nothing listens (down), and on a loopback receiver that answers each POST after ``--slow-s`` seconds (slow).
Per run it prints the wall time, the trading time (first hedge to the last cycle's end, from the INFO log),
the hedge latency p50/p99 and the alerts the receiver got. The variants alternate ``--repeat`` times; the
last line compares each variant's median trading and wall time with the no-alert runs'.

    .venv/bin/python scripts/bench_alerts.py --cycles 10 --slow-s 30 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _receiver(slow_s: float) -> tuple[ThreadingHTTPServer, list[str]]:
    got: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            got.append(json.loads(body).get("event", "?"))
            time.sleep(slow_s)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def _run(cycles: int, extra: list[str]) -> tuple[float, float, dict[str, object]]:
    with tempfile.TemporaryDirectory() as d:
        summary = Path(d) / "s.json"
        cmd = [sys.executable, "-m", "trio_hedge", "--set", f"engine.cycles={cycles}", "--set",
               f"journal.path={d}/j.sqlite", "--summary-json", str(summary), *extra]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        wall = time.monotonic() - t0
        stamps = [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f") for m in
                  re.finditer(r"^(\S+ \S+) \| INFO +\| \[\w+_CYCLE\d+\] (?:hedge|cycle \d+ done)", proc.stderr, re.M)]
        trading = (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else float("nan")
        return wall, trading, json.loads(summary.read_text()) if summary.exists() else {"exit_code": proc.returncode}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--slow-s", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    server, got = _receiver(args.slow_s)
    variants = {
        "none": [],
        "down": ["--set", f"alerts.webhook_url=http://127.0.0.1:{_free_port()}/hook"],
        "slow": ["--set", f"alerts.webhook_url=http://127.0.0.1:{server.server_address[1]}/hook"],
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, extra in variants.items():
            got.clear()
            wall, trading, s = _run(args.cycles, extra)
            lat = s.get("hedge_latency_ms", {}) if isinstance(s.get("hedge_latency_ms"), dict) else {}
            print(f"{name:5s} exit {s.get('exit_code')} cycles {s.get('cycles_completed')} wall {wall:.2f}s trading "
                  f"{trading:.2f}s hedge p50 {lat.get('p50')} ms p99 {lat.get('p99')} ms alerts received {got}",
                  flush=True)
            results[name].append((wall, trading))
    med = {name: (statistics.median(w for w, _ in r), statistics.median(t for _, t in r))
           for name, r in results.items()}
    server.shutdown()
    print(" ".join(f"{name}: trading {t - med['none'][1]:+.2f}s wall {w - med['none'][0]:+.2f}s"
                   for name, (w, t) in med.items() if name != "none") + " (medians vs no alerts)")


if __name__ == "__main__":
    main()

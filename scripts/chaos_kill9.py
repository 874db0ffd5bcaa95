"""Chaos: ``kill -9`` the bot under supervisord at random moments, then check the venues against the journal.

Project issue 5. What it does, all on 127.0.0.1, in a fresh temporary directory:

1. Starts the standalone wire simulator (``python -m trio_hedge sim --speed X --linger-s ...``, a subprocess)
   and reads its one JSON line (REST/WS URLs and the simulator's test credentials for both venues).
2. Writes a config: the market and risk keys of the shipped ``config.toml``, both venues with
   ``endpoint = "live"`` pointed at the simulator's loopback URLs, credentials in one 0600 ``secrets_file``
   per venue, ``journal.path`` in the temp dir, ``engine.cycles`` large (the run only ends when stopped) and
   ``journal.max_crashes = N + 10``: every purposeful ``kill -9`` is a crash for the journal's crash-loop
   breaker (3 crashes in 5 min by default → exit 78, supervisord leaves the bot down), so the default would
   stop the experiment after the third kill.
3. Writes a supervisord.conf from ``scripts/supervisord.conf``'s program settings (autorestart=unexpected,
   exitcodes=0,78, stopsignal=INT, stopwaitsecs=30, stopasgroup/killasgroup) with ``startsecs=1`` (speed), a
   unix socket for the XML-RPC interface (what ``supervisorctl`` talks to), and
   ``command=<sys.executable> -u -m trio_hedge --config <tmp>/config.toml --live --supervised``;
   runs ``supervisord -n`` as a subprocess.
4. ``--kills N`` times (``random.Random(--seed)``): waits until the program is RUNNING with a new pid, waits a
   random ``uniform(--min-delay-s, --max-delay-s)`` (so a kill lands in reconciliation, in the 5 s live-start
   pause, or while trading), and sends SIGKILL to the bot's pid. supervisord restarts it (reconciliation runs
   first on every start).
5. After the last restart, lets the bot trade ``--settle-s``, then stops it gracefully (``supervisor.stopProcess``
   over the socket, the call ``supervisorctl stop`` makes: SIGINT → cancel, flatten, exit 0).
6. Reads each venue over the simulator's REST with our own adapters (open orders, positions, full fill history,
   full order history) and the journal (:meth:`Journal.fills`, :meth:`Journal.runs`), and prints as the LAST
   line::

       kills=N orphan_positions=X resting_orders=Y lost_fills=Z duplicate_fills=W duplicate_client_ids=V

   orphan_positions: venues with a non-zero position at the end; resting_orders: open orders at the end on both
   venues; lost_fills: venue fills (by trade id) missing from the journal; duplicate_fills: journal fills sharing
   a (venue, trade id); duplicate_client_ids: client order ids carried by more than one venue order id on a
   venue (open orders + order history).

Details (runs and their exit codes, reconciliation events, counts) go to stderr before that line. Every wait is
bounded; every child (simulator, supervisord, bot) is stopped on exit, errors and SIGINT/SIGTERM included.
Exit code: 0 if every count is 0 and the graceful stop exited 0; 1 otherwise (the temp dir is then kept as
evidence); 2 if the experiment could not run (supervisord or the simulator did not start, the bot went
FATAL/EXITED...), with the reason on stderr and no result line; 130 if interrupted.

Usage: ``python scripts/chaos_kill9.py [--kills 20] [--seed 1] [--speed auto] [--keep]``
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import xmlrpc.client
from collections import Counter, defaultdict
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/_simproc.py, also when loaded by path
import _simproc  # noqa: E402
from _simproc import RECORDING_S, REPO, point_config_at_sim, to_toml  # noqa: E402,F401 - to_toml: tests use it

PROGRAM = "trio_hedge"


class ChaosError(Exception):
    """The experiment could not run as planned (not a finding about the bot)."""


def log(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- config writing
# to_toml, the 0600 secrets files, starting/stopping the simulator: scripts/_simproc.py (shared with
# scripts/bench_tick_to_trade.py).


def write_config(tmp: Path, sim: dict[str, Any], *, kills: int, speed: float) -> Path:
    """The bot's config (see the module docstring). Returns its path."""
    tree = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
    tree["engine"]["cycles"] = 100_000  # ends only when stopped
    tree["sim"]["speed"] = speed  # unused by live venues; kept consistent
    tree["journal"]["path"] = str(tmp / "journal.sqlite")
    tree["journal"]["max_crashes"] = kills + 10  # every purposeful kill -9 counts as a crash
    tree["log"]["level"] = "INFO"
    point_config_at_sim(tree, sim, tmp)
    path = tmp / "config.toml"
    path.write_text(to_toml(tree), encoding="utf-8")
    return path


def write_supervisord_conf(tmp: Path, config: Path) -> tuple[Path, Path]:
    """supervisord.conf with scripts/supervisord.conf's program settings, startsecs=1. Returns (conf, socket)."""
    sock = tmp / "supervisor.sock"
    (tmp / "log").mkdir(exist_ok=True)
    conf = tmp / "supervisord.conf"
    conf.write_text(
        f"""[supervisord]
logfile={tmp}/log/supervisord.log
pidfile={tmp}/supervisord.pid
childlogdir={tmp}/log
nodaemon=true
loglevel=info

[unix_http_server]
file={sock}
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

[program:{PROGRAM}]
command={sys.executable} -u -m trio_hedge --config {config} --live --supervised
directory={tmp}
autostart=true
autorestart=unexpected
exitcodes=0,78
startsecs=1
startretries=3
stopsignal=INT
stopwaitsecs=30
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={tmp}/log/{PROGRAM}.out
stdout_logfile_maxbytes=0
""",
        encoding="utf-8",
    )
    return conf, sock


# ---------------------------------------------------------------------------------------------- processes
def start_sim(tmp: Path, speed: float, linger_s: float, deadline_s: float = 60.0) -> tuple[subprocess.Popen[bytes],
                                                                                               dict[str, Any]]:
    """Start the standalone simulator and read its JSON line (bounded). Raises ChaosError."""
    try:
        return _simproc.start_sim(tmp / "log" / "sim.err", speed, linger_s, deadline_s)
    except _simproc.SimProcError as exc:
        raise ChaosError(str(exc)) from None


def stop_process(proc: subprocess.Popen[bytes] | None, name: str, sig: int, wait_s: float) -> None:
    """Send ``sig``, wait up to ``wait_s``, then SIGKILL (the process only: it is our child)."""
    _simproc.stop_process(proc, name, sig, wait_s, log=log)


def rpc(sock: Path) -> Any:
    """The supervisord XML-RPC proxy over its unix socket (what supervisorctl uses)."""
    from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{sock}"))


_RPC_ERRORS = (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError, http.client.HTTPException)


def info_of(sock: Path) -> dict[str, Any] | None:
    """The program's process info (a fresh connection each call: a failed call leaves the transport's
    connection unusable), or None if supervisord does not answer."""
    try:
        return rpc(sock).supervisor.getProcessInfo(PROGRAM)  # type: ignore[no-any-return]
    except _RPC_ERRORS:
        return None


def wait_running(sock: Path, old_pid: int, deadline_s: float) -> int:
    """Wait (bounded) until the program is RUNNING with a pid other than ``old_pid``. Returns the pid.
    Raises ChaosError if it ends in a state it will not leave by itself (FATAL, EXITED, STOPPED)."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        info = info_of(sock)
        if info is not None:
            last = info
            if info["statename"] == "RUNNING" and info["pid"] and info["pid"] != old_pid:
                return int(info["pid"])
            # EXITED is passed through on every unexpected exit before the restart; only an EXITED that
            # stays (an expected exit code: 0 or 78) is final.
            down = info["statename"] in ("FATAL", "STOPPED") or (
                info["statename"] == "EXITED" and time.time() - info["stop"] > 3)
            if down:
                raise ChaosError(f"the bot is {info['statename']} (exit status {info['exitstatus']}): "
                                 f"{info.get('description', '')}")
        time.sleep(0.05)
    raise ChaosError(f"the bot was not RUNNING again within {deadline_s}s (last: {last and last['statename']})")


# ---------------------------------------------------------------------------------------------- the check
async def read_venues(sim: dict[str, Any], symbols: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each venue's open orders, positions, fill history and order history, read with our adapters."""
    import trio
    from loguru import logger

    from trio_hedge.venues.backpack._adapter import BackpackSettings, open_backpack_venue
    from trio_hedge.venues.grvt._adapter import GrvtSettings, open_grvt_venue

    logger.remove()  # the adapters' INFO lines would bury the result
    logger.add(sys.stderr, level="WARNING")
    out: dict[str, dict[str, Any]] = {}
    with trio.fail_after(90):
        async with AsyncExitStack() as stack:
            bp_info, gr_info = sim["backpack"], sim["grvt"]
            bp = await stack.enter_async_context(open_backpack_venue(BackpackSettings(
                rest_url=bp_info["rest"], ws_url=bp_info["ws"], api_key=bp_info["api_key"],
                api_secret=bp_info["api_secret"], symbols=(symbols["backpack"],), name="backpack")))
            gr = await stack.enter_async_context(open_grvt_venue(GrvtSettings.for_single_host(
                gr_info["rest"], gr_info["ws"], api_key=gr_info["api_key"], private_key=gr_info["private_key"],
                sub_account_id=str(gr_info["sub_account_id"]), chain_id=int(gr_info["chain_id"]),
                symbols=(symbols["grvt"],), name="grvt", cod_countdown_ms=0)))
            for name, venue in (("backpack", bp), ("grvt", gr)):
                sym = symbols[name]
                opened = await venue.open_orders(sym)
                positions = await venue.positions()
                fills = await venue.fills_since(sym, 0)
                orders: list[tuple[str, str]] = [(o.client_order_id, o.venue_order_id or "") for o in opened]
                if name == "backpack":
                    for page_no in range(1000):
                        _, data = await bp._call("GET", "/wapi/v1/history/orders", query={
                            "symbol": sym, "limit": "1000", "offset": str(page_no * 1000)})
                        if not isinstance(data, list) or not data:
                            break
                        orders.extend((str(o.get("clientId")), str(o.get("id"))) for o in data
                                      if o.get("clientId") is not None)
                else:
                    body: dict[str, Any] = {"sub_account_id": str(gr_info["sub_account_id"]),
                                            **gr._filters(sym), "limit": 1000}
                    for _ in range(1000):
                        result, cursor = await gr._trade_read("order_history", body)
                        for o in result or []:
                            coid = str((o.get("metadata") or {}).get("client_order_id", ""))
                            if coid:
                                orders.append((coid, str(o.get("order_id"))))
                        if not cursor or not result:
                            break
                        body["cursor"] = cursor
                out[name] = {"open": opened, "positions": positions, "fills": fills, "orders": orders}
    return out


def compare(venues: dict[str, dict[str, Any]], journal_path: Path) -> tuple[dict[str, int], list[str]]:
    """The counts of the last line, and detail lines."""
    from trio_hedge.app._journal import Journal

    detail: list[str] = []
    counts = dict(orphan_positions=0, resting_orders=0, lost_fills=0, duplicate_fills=0, duplicate_client_ids=0)
    with Journal.open(journal_path) as j:
        jfills = j.fills()
        runs = j.runs()
        recon = [e for e in j.events() if e.kind.startswith("recon.")]
        inflight = j.inflight()
    by_trade = Counter((f.venue, f.trade_id) for f in jfills)
    counts["duplicate_fills"] = sum(n - 1 for n in by_trade.values() if n > 1)
    for name, v in venues.items():
        nonzero = {s: p.size for s, p in v["positions"].items() if p.size != 0}
        if nonzero:
            counts["orphan_positions"] += 1
            detail.append(f"{name}: position at the end {nonzero}")
        counts["resting_orders"] += len(v["open"])
        for o in v["open"]:
            detail.append(f"{name}: resting {o.client_order_id} {o.side} {o.size}@{o.price} {o.status}")
        jtrades = {f.trade_id for f in jfills if f.venue == name}
        lost = [f for f in v["fills"] if f.trade_id not in jtrades]
        counts["lost_fills"] += len(lost)
        for f in lost[:20]:
            detail.append(f"{name}: fill not in the journal: trade {f.trade_id} coid {f.client_order_id} "
                          f"{f.side} {f.size}@{f.price}")
        ids: dict[str, set[str]] = defaultdict(set)
        for coid, oid in v["orders"]:
            ids[coid].add(oid)
        dups = {c: s for c, s in ids.items() if len(s) > 1}
        counts["duplicate_client_ids"] += len(dups)
        for c, s in list(dups.items())[:20]:
            detail.append(f"{name}: client id {c} used by {len(s)} orders {sorted(s)}")
        detail.append(f"{name}: venue fills={len(v['fills'])} journal fills={len(jtrades)} "
                      f"venue orders={len(ids)}")
    codes = Counter(r.exit_code for r in runs)
    detail.append(f"journal: runs={len(runs)} exit codes={dict(codes)} recon events={len(recon)} "
                  f"({dict(Counter(e.kind for e in recon))}) inflight intents={len(inflight)}")
    return counts, detail


# ---------------------------------------------------------------------------------------------- main
def cleanup(sock: Path | None, sup_proc: subprocess.Popen[bytes] | None, sim_proc: subprocess.Popen[bytes] | None,
            bot_pids: set[int], tmp: Path) -> None:
    """Stop every child, each step independent of the others: the bot (graceful, through supervisord), then
    supervisord (SIGTERM: it stops the bot too), any bot pid still alive (SIGKILL), the simulator (SIGINT)."""
    try:
        if sock is not None and sup_proc is not None and sup_proc.poll() is None:
            info = info_of(sock)
            if info is not None and info["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
                rpc(sock).supervisor.stopProcess(PROGRAM, True)
    except _RPC_ERRORS as exc:
        log(f"cleanup: stopProcess failed: {type(exc).__name__}")
    try:
        stop_process(sup_proc, "supervisord", signal.SIGTERM, 40)
    except Exception as exc:  # keep cleaning up
        log(f"cleanup: supervisord: {type(exc).__name__}: {exc}")
    for pid in bot_pids:  # only pids supervisord started for us; still a bot only if its cmdline says so
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"--supervised" in cmdline and str(tmp).encode() in cmdline:
                log(f"cleanup: bot pid {pid} still alive: SIGKILL")
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        stop_process(sim_proc, "simulator", signal.SIGINT, 15)
    except Exception as exc:
        log(f"cleanup: simulator: {type(exc).__name__}: {exc}")


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    per_kill_s = 3.0 + 1.0 + (args.min_delay_s + args.max_delay_s) / 2
    budget_s = args.kills * per_kill_s + args.settle_s + 60
    speed = args.speed if args.speed > 0 else round(min(4.0, max(0.05, RECORDING_S / budget_s)), 2)
    tmp = Path(tempfile.mkdtemp(prefix="chaos_kill9_"))
    (tmp / "log").mkdir()
    sim_proc: subprocess.Popen[bytes] | None = None
    sup_proc: subprocess.Popen[bytes] | None = None
    sock: Path | None = None
    bot_pids: set[int] = set()
    ok = False
    result = ""
    try:
        log(f"tmp={tmp} kills={args.kills} seed={args.seed} speed={speed} (data lasts {RECORDING_S / speed:.0f}s, "
            f"planned ~{budget_s:.0f}s)")
        sim_proc, sim = start_sim(tmp, speed, linger_s=3600)
        config = write_config(tmp, sim, kills=args.kills, speed=speed)
        conf, sock = write_supervisord_conf(tmp, config)
        supervisord = Path(sys.executable).with_name("supervisord")
        if not supervisord.exists():
            raise ChaosError(f"supervisord not found beside {sys.executable}")
        sup_out = open(tmp / "log" / "supervisord.out", "wb")  # noqa: SIM115
        sup_proc = subprocess.Popen([str(supervisord), "-n", "-c", str(conf)], cwd=tmp, stdout=sup_out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + 20
        while info_of(sock) is None:
            if sup_proc.poll() is not None or time.monotonic() > end:
                raise ChaosError(f"supervisord did not start (exit {sup_proc.poll()}); see {tmp}/log")
            time.sleep(0.1)
        log(f"journal.max_crashes = {args.kills + 10}: each kill -9 is a crash for the breaker (default 3 in 5 min "
            "-> exit 78, left down), so it is raised above N")
        pid = wait_running(sock, -1, 60)
        bot_pids.add(pid)
        self_exits = 0
        for k in range(1, args.kills + 1):
            delay = rng.uniform(args.min_delay_s, args.max_delay_s)
            time.sleep(delay)
            info = info_of(sock)
            if info is None or info["pid"] != pid or info["statename"] != "RUNNING":
                # It exited by itself (supervisord restarts 1/3/75; a 0 or 78 ends the experiment below).
                self_exits += 1
                log(f"before kill {k}: the bot {pid} exited by itself ({info and info['statename']}, "
                    f"exit status {info and info['exitstatus']}): waiting for its restart")
                pid = wait_running(sock, pid, 60)
                bot_pids.add(pid)
            os.kill(pid, signal.SIGKILL)
            log(f"kill {k}/{args.kills}: SIGKILL pid {pid} {delay:.2f}s after RUNNING")
            pid = wait_running(sock, pid, 60)
            bot_pids.add(pid)
        log(f"last restart pid {pid}; letting it trade {args.settle_s}s, then a graceful stop")
        time.sleep(args.settle_s)
        info = info_of(sock)
        if info is None or info["statename"] != "RUNNING":
            raise ChaosError(f"the bot is not RUNNING before the stop: {info and info['statename']}")
        rpc(sock).supervisor.stopProcess(PROGRAM, True)  # supervisorctl stop: SIGINT, waits up to stopwaitsecs
        info = info_of(sock)
        log(f"stopped: state={info and info['statename']} exitstatus={info and info['exitstatus']}")
        final_exit = info["exitstatus"] if info else None
        symbols = {"backpack": tomllib.loads(config.read_text())["venues"]["backpack"]["symbol"],
                   "grvt": tomllib.loads(config.read_text())["venues"]["grvt"]["symbol"]}
        import trio

        venues = trio.run(read_venues, sim, symbols)
        counts, detail = compare(venues, tmp / "journal.sqlite")
        for line in detail:
            log(line)
        log(f"final graceful exit status: {final_exit}; exits of the bot's own between kills: {self_exits}")
        ok = not any(counts.values()) and final_exit == 0  # otherwise the temp dir is kept as evidence
        result = f"kills={args.kills} " + " ".join(f"{k}={v}" for k, v in counts.items())
        return 0 if ok else 1
    except ChaosError as exc:
        log(f"ERROR: {exc}")
        return 2
    finally:
        cleanup(sock, sup_proc, sim_proc, bot_pids, tmp)
        if args.keep or not ok:
            log(f"kept {tmp} (logs in {tmp}/log, journal {tmp}/journal.sqlite)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        if result:  # after every other line, on stdout and stderr alike
            print(result, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20, help="SIGKILLs to send (default 20)")
    p.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    p.add_argument("--speed", type=float, default=0.0,
                   help="simulator replay speed (default 0 = auto: slow enough that the 345 s of data outlast "
                        "the run, at most 4)")
    p.add_argument("--min-delay-s", type=float, default=0.3, help="earliest kill after RUNNING, seconds")
    p.add_argument("--max-delay-s", type=float, default=10.0, help="latest kill after RUNNING, seconds")
    p.add_argument("--settle-s", type=float, default=8.0, help="trading time after the last restart, seconds")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, journal, configs)")
    args = p.parse_args(argv)
    if args.kills < 0 or not 0 <= args.min_delay_s <= args.max_delay_s:
        p.error("--kills >= 0 and 0 <= --min-delay-s <= --max-delay-s")
    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # run()'s cleanup stops every child

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        return run(args)
    except KeyboardInterrupt:
        log("interrupted: every child stopped, no result")
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)


if __name__ == "__main__":
    sys.exit(main())

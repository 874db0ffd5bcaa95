"""Issue 14, the operator's tools: trades.csv beside the journal, ``report``, ``status``, alerts, pause and
resume, the live view, and the log lines (one per hedge and per cycle).

Runs are in-process (``venues.*.kind=sim``) on the autojump clock with the journal in ``tmp_path``; the
alert tests use a loopback HTTP receiver (``tests/opsupport.py``) in real time with short deadlines; the CLI
tests run ``python -m trio_hedge`` as a subprocess.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import trio
from loguru import logger
from rich.console import Console

from trio_hedge._redact import register_secret
from trio_hedge.app import Journal, load_config
from trio_hedge.app._alerts import Alerts
from trio_hedge.app._config import AlertsConfig
from trio_hedge.app._history import TRADE_COLUMNS
from trio_hedge.app._live import build_view
from trio_hedge.app._logging import setup_logging
from trio_hedge.app._metrics import BotCollector
from trio_hedge.app._ops import Ops, halt_event
from trio_hedge.app._reportcmd import write_report
from trio_hedge.app._snapshot import SnapshotWriter, build_snapshot, read_snapshot, snapshot_path, write_snapshot
from trio_hedge.app._statuscmd import render_status
from trio_hedge.app._tradelog import TradeLog
from trio_hedge.engine import EXIT_OK, MarketStats, StateTransition, TradingState
from trio_hedge.sim import SimExchange

from .opsupport import IN_PROCESS, open_receiver, short_run


def _journal_fill_rows(jpath: Path) -> list[tuple[str, str, str, str, str]]:
    with Journal.open(jpath) as j:
        return [(f.venue.split("@")[0], f.trade_id, f.side.value, str(f.price), str(f.size)) for f in j.fills()]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _csv_fill_rows(path: Path) -> list[tuple[str, str, str, str, str]]:
    return [(r["exchange"], r["trade_id"], r["side"], r["price"], r["quantity"]) for r in _csv_rows(path)]


# ------------------------------------------------------------------------------------------------ trade log


async def test_run_leaves_trades_csv_equal_to_the_journal_fills_and_a_report(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    jpath = tmp_path / "run" / "j.sqlite"
    result = await short_run(jpath, cycles=4)
    assert result.exit_code == EXIT_OK, result.exit_reason
    journal_rows = _journal_fill_rows(jpath)
    assert len(journal_rows) >= 4 * 2  # a maker fill and its hedge per cycle at least
    trades_csv = jpath.parent / "trades.csv"
    header = trades_csv.read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(TRADE_COLUMNS)
    assert header.startswith("timestamp,exchange,side,price,quantity,")
    assert _csv_fill_rows(trades_csv) == journal_rows  # every fill, in journal order
    rows = _csv_rows(trades_csv)
    assert {r["role"] for r in rows} >= {"quote", "hedge"}
    assert {r["exchange"] for r in rows} == {"backpack", "grvt"}
    assert {(r["exchange"], r["fee_currency"]) for r in rows} == {("backpack", "USDC"), ("grvt", "USDT")}
    assert all(r["market"] == "BTC" for r in rows)
    assert {r["liquidity"] for r in rows if r["role"] == "quote"} == {"maker"}
    assert {r["liquidity"] for r in rows if r["role"] == "hedge"} == {"taker"}
    assert {r["cycle"] for r in rows if r["role"] == "quote"} == {"0", "1", "2", "3"}

    out = tmp_path / "report"
    page = write_report(jpath, out)
    text = page.read_text(encoding="utf-8")
    assert text.count('class="plotly-graph-div"') >= 4
    assert "<script src=" not in text  # plotly.js inlined: nothing is fetched when the page is viewed
    assert _csv_fill_rows(out / "trades.csv") == journal_rows
    hedges = _csv_rows(out / "hedges.csv")
    assert len(hedges) == result.summary["hedge_latency_ms"]["count"]  # one journaled event per hedge
    worst = max(Decimal(h["max_slippage_bps"]) for h in hedges)
    assert worst.quantize(Decimal("0.0001")) == Decimal(str(result.summary["max_slippage_bps"]))
    cycles = _csv_rows(out / "cycles.csv")
    assert [c["cycle"] for c in cycles] == ["0", "1", "2", "3"]
    assert all(c["outcome"] == "completed" for c in cycles)
    assert f"exit 0: {result.exit_reason}" in text
    assert result.summary["pnl_quote"]["total"] in text.replace(",", "")  # the same PnL as the run summary

    status = render_status(jpath)
    assert "exit 0:" in status and "4 completed" in status
    for venue, symbol in (("backpack", "BTC_USDC_PERP"), ("grvt", "BTC_USDT_Perp")):
        assert re.search(rf"^  {venue} {symbol}: 0(\.0+)?$", status, re.M), status  # each venue's final position


def test_trade_log_is_rebuilt_from_the_journal_when_behind_or_damaged(tmp_path: Path) -> None:
    trio.run(_run_quick, tmp_path / "j.sqlite", clock=trio.testing.MockClock(autojump_threshold=0))
    jpath = tmp_path / "j.sqlite"
    csv_path = tmp_path / "trades.csv"
    want = csv_path.read_text(encoding="utf-8")
    lines = want.splitlines(keepends=True)
    # the process died after 3 rows, in the middle of the 4th: the next start appends / rewrites the rest
    csv_path.write_text("".join(lines[:4]) + lines[4][:7], encoding="utf-8")
    TradeLog(jpath).sync()
    assert csv_path.read_text(encoding="utf-8") == want
    csv_path.write_text("".join(lines[:3]), encoding="utf-8")
    log = TradeLog(jpath)
    assert log.sync() == len(lines) - 3 and not log.rebuilt
    assert csv_path.read_text(encoding="utf-8") == want
    csv_path.write_text("".join(lines[:2]) + "".join(lines[3:]), encoding="utf-8")  # a row lost in the middle
    TradeLog(jpath).sync()
    assert csv_path.read_text(encoding="utf-8") == want
    csv_path.unlink()
    TradeLog(jpath).sync()
    assert csv_path.read_text(encoding="utf-8") == want


def test_two_runs_in_one_journal_report_each_run_and_the_trade_log_has_both(tmp_path: Path) -> None:
    jpath = tmp_path / "j.sqlite"
    for _ in range(2):
        trio.run(_run_quick, jpath, clock=trio.testing.MockClock(autojump_threshold=0))
    all_rows = _journal_fill_rows(jpath)
    assert _csv_fill_rows(tmp_path / "trades.csv") == all_rows  # appended across restarts
    with Journal.open(jpath) as j:
        second_start = j.runs()[1].run_id
        seqs = [r[0] for r in j._live().execute("SELECT seq FROM fills ORDER BY seq")]
    n_first = sum(1 for q in seqs if q < second_start)
    assert 0 < n_first < len(all_rows)
    write_report(jpath, tmp_path / "r1", 1)
    write_report(jpath, tmp_path / "r2")  # default: the newest run
    assert _csv_fill_rows(tmp_path / "r1" / "trades.csv") == all_rows[:n_first]
    assert _csv_fill_rows(tmp_path / "r2" / "trades.csv") == all_rows[n_first:]
    assert [c["cycle"] for c in _csv_rows(tmp_path / "r2" / "cycles.csv")] == ["0", "1"]
    status = render_status(jpath)
    assert "2 run(s)" in status and status.count("cycle ") == 2


async def _run_quick(jpath: Path) -> None:
    result = await short_run(jpath, cycles=2)
    assert result.exit_code == EXIT_OK, result.exit_reason


# ------------------------------------------------------------------------------------------------ log lines


async def test_info_log_has_one_line_per_hedge_and_per_cycle_and_each_tag_once(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO",
                      format=lambda r: f"[{r['extra'].get('tag', '-')}] {{message}}\n")
    try:
        result = await short_run(tmp_path / "j.sqlite", cycles=3)
    finally:
        logger.remove(sink)
    assert result.exit_code == EXIT_OK
    assert not [line for line in lines if "SMART_ROUTING" in line or "Iteration" in line]  # router at DEBUG
    assert not [line for line in lines if re.match(r"\[[^\]]*\] \[", line)]  # one tag per line
    hedges = [line for line in lines if re.match(r"\[BTC_CYCLE\d+\] hedge ", line)]
    assert len(hedges) == result.summary["hedge_latency_ms"]["count"]
    assert all("latency" in h and "slippage" in h for h in hedges)
    done = [line for line in lines if re.match(r"\[BTC_CYCLE\d+\] cycle \d+ done", line)]
    assert len(done) == 3
    assert not [line for line in lines if re.match(r"\[BTC_CYCLE\d+\] cycle \d+ start", line)]  # DEBUG


# ------------------------------------------------------------------------------------------------ alerts


def _alerts(url: str = "", **kw: object) -> AlertsConfig:
    base: dict[str, object] = {"webhook_url": url, "min_interval_s": 0.0, "retry_backoff_s": 0.01,
                               "send_deadline_s": 2.0, "flush_s": 2.0}
    base.update(kw)
    return AlertsConfig(**base)  # type: ignore[arg-type]


async def test_alert_queue_drops_the_oldest_when_full_and_never_waits() -> None:
    alerts = Alerts(_alerts("http://127.0.0.1:9/hook", queue_capacity=3), "7")
    try:
        for i in range(10):
            alerts.post("summary", f"n{i}")  # synchronous: no sender is even running
        assert alerts.queued == 3 and alerts.stats.dropped == 7 and alerts.stats.posted == 10
        assert [a.text for a in alerts._queue] == ["n7", "n8", "n9"]
    finally:
        await alerts.aclose()


async def test_alerts_reach_a_loopback_webhook_and_telegram_with_retries() -> None:
    token = "123456:ABC-secret-token-xyz"
    register_secret(token)
    async with open_receiver(fail_first=1) as rx:
        settings = _alerts(f"{rx.url}/hook", telegram_bot_token=token, telegram_chat_id="42",
                           telegram_api_url=rx.url)
        alerts = Alerts(settings, "5")
        async with trio.open_nursery() as nursery:
            await nursery.start(alerts.run)
            alerts.post("halt", "market BTC HALTED: FeedDown: x", "BTC")
            with trio.fail_after(10):
                while len(rx.got) < 3:  # noqa: ASYNC110 - the first (webhook) answered 500, retried, then telegram
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
        await alerts.aclose()
    hooks = [b for p, b in rx.got if p == "/hook"]
    assert len(hooks) == 2 and hooks[1] == hooks[0]
    assert hooks[0] == {"text": "[trio_hedge run 5] market BTC HALTED: FeedDown: x", "event": "halt", "run": "5",
                        "market": "BTC"}
    tg = [(p, b) for p, b in rx.got if p != "/hook"]
    assert tg == [(f"/bot{token}/sendMessage", {"chat_id": "42", "text": hooks[0]["text"]})]
    assert alerts.stats.sent == {"webhook": 1, "telegram": 1}


async def test_a_failing_receiver_is_retried_with_backoff_then_given_up_without_leaking_the_token() -> None:
    token = "999999:another-secret-token"
    register_secret(token)
    lines: list[str] = []
    setup_logging("DEBUG", stream=_ListStream(lines))
    try:
        async with open_receiver(fail_first=100) as rx:
            alerts = Alerts(_alerts("", telegram_bot_token=token, telegram_chat_id="1", telegram_api_url=rx.url,
                                    retries=2), "1")
            async with trio.open_nursery() as nursery:
                await nursery.start(alerts.run)
                alerts.post("exit", "exit 1")
                with trio.fail_after(10):
                    while not alerts.stats.failed:  # noqa: ASYNC110 - a counter of the sender, polled
                        await trio.sleep(0.01)
                nursery.cancel_scope.cancel()
            await alerts.aclose()
        await logger.complete()
    finally:
        logger.remove()
    assert len(rx.got) == 3  # one try and two retries
    assert alerts.stats.failed == {"telegram": 1}
    assert any("not sent (HTTP 500)" in line for line in lines), lines
    assert not any(token in line for line in lines)


class _ListStream:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass


async def test_flush_at_exit_is_bounded_when_the_receiver_hangs() -> None:
    async with open_receiver(delay_s=60) as rx:
        alerts = Alerts(_alerts(f"{rx.url}/hook", flush_s=0.5, send_deadline_s=10.0), "1")
        alerts.post("exit", "exit 0")
        t0 = trio.current_time()
        await alerts.flush()
        waited = trio.current_time() - t0
        await alerts.aclose()
    assert waited < 5  # flush_s bounds it (the receiver would answer after 60 s)
    assert alerts.stats.dropped == 1 and alerts.queued == 0 and not alerts.stats.sent  # given up, and counted


async def test_the_watcher_alerts_summaries_halts_and_the_stop(autojump_clock: trio.testing.MockClock) -> None:
    config = load_config(None, ["alerts.webhook_url=http://127.0.0.1:9/hook", "alerts.summary_every_s=10"])
    stats = {"BTC": MarketStats()}
    stop, reasons = trio.Event(), ["stopped by SIGTERM"]
    ops = Ops(config, stats, None, "3", stop, reasons)
    assert ops.alerts is not None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ops._watch)
        await trio.sleep(25)  # two summaries
        stats["BTC"].transitions.append(StateTransition(TradingState.ACTIVE, TradingState.HALTED,
                                                        "LossLimitHit: loss kill switch: PnL -26", 25.0, ""))
        stop.set()
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    await ops.alerts.aclose()
    got = [(a.event, a.market) for a in ops.alerts._queue]
    assert got == [("summary", ""), ("summary", ""), ("kill_switch", "BTC"), ("stop", "")]
    assert "BTC: ACTIVE, 0 cycles" in ops.alerts._queue[0].text
    assert "SIGTERM" in ops.alerts._queue[-1].text


def test_halt_reasons_map_to_alert_events() -> None:
    assert halt_event("LossLimitHit: loss kill switch: PnL -30") == "kill_switch"
    assert halt_event("ImbalanceExceeded: net exposure 0.002 beyond tolerance") == "position_drift"
    assert halt_event("FeedDown: grvt feed down") == "halt"


def test_alerts_config_keys_are_checked_and_secrets_registered() -> None:
    c = load_config(None, ["alerts.telegram_bot_token=123:abcdefgh", "alerts.telegram_chat_id=42"])
    assert c.alerts.telegram_chat_id == "42" and c.alerts.enabled
    assert "123:abcdefgh" in c.secrets
    for bad, key in ((["alerts.telegram_bot_token=123:abcdefgh"], "alerts.telegram_chat_id"),
                     (["alerts.webhook_url=ftp://x"], "alerts.webhook_url")):
        try:
            load_config(None, bad)
        except Exception as exc:  # noqa: BLE001 - the message is what is checked
            assert key in str(exc) and "ftp://x" not in str(exc)
        else:
            raise AssertionError(f"{bad} accepted")


async def test_cli_run_posts_start_and_exit_to_a_loopback_webhook(tmp_path: Path) -> None:
    async with open_receiver() as rx:
        cmd = [sys.executable, "-m", "trio_hedge", "--set", f"journal.path={tmp_path / 'j.sqlite'}",
               "--set", f"alerts.webhook_url={rx.url}/hook", "--set", "engine.cycles=2", "--set", "sim.speed=20",
               *[a for s in IN_PROCESS for a in ("--set", s)]]
        with trio.fail_after(120):
            proc = await trio.run_process(cmd, capture_stdout=True, capture_stderr=True, check=False,
                                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    events = [b["event"] for _, b in rx.got]
    assert events[0] == "start" and events[-1] == "exit", events
    assert rx.got[-1][1]["text"].endswith("flat on every venue") and "exit 0" in rx.got[-1][1]["text"]
    assert all(b["run"] == rx.got[0][1]["run"] for _, b in rx.got)
    assert f"{rx.url}/hook" not in proc.stderr.decode()  # the webhook URL is a secret: redacted in the log


async def test_a_halt_is_alerted_and_the_exit_carries_its_code(tmp_path: Path) -> None:
    async def kill_hedge_feed(exchange: SimExchange) -> None:
        await trio.sleep(1.0)
        exchange.kill_feed("grvt")

    async with open_receiver() as rx:
        with trio.fail_after(60):
            result = await short_run(tmp_path / "j.sqlite", cycles=1000, sim_hook=kill_hedge_feed,
                                     extra=("sim.speed=10", f"alerts.webhook_url={rx.url}/hook",
                                            "alerts.min_interval_ms=0"))
    assert result.exit_code != EXIT_OK and "FeedDown" in result.exit_reason
    events = [b["event"] for _, b in rx.got]
    # in order (an alert whose request was on its way when the sender stopped may come twice: at least once)
    assert events[0] == "start" and events[-1] == "exit" and "halt" in events, events
    assert events.index("halt") < events.index("exit")
    halt = next(b for _, b in rx.got if b["event"] == "halt")
    assert halt["market"] == "BTC" and "FeedDown" in halt["text"]
    assert f"exit {result.exit_code}:" in rx.got[-1][1]["text"]


# ------------------------------------------------------------------------------------------------ pause


async def test_sigusr1_pauses_quoting_and_sigusr2_resumes(autojump_clock: trio.testing.MockClock,
                                                          tmp_path: Path) -> None:
    jpath = tmp_path / "j.sqlite"
    seen: dict[str, object] = {}

    async def pause_then_resume(exchange: SimExchange) -> None:
        primary = exchange.engine("backpack", "BTC_USDC_PERP")
        await trio.sleep(2)
        signal.raise_signal(signal.SIGUSR1)
        with trio.fail_after(30):  # until the live snapshot says the market paused: no quote goes out after that
            while "PAUSED by the operator" not in render_status(jpath):  # noqa: ASYNC110 - a file the bot rewrites
                await trio.sleep(0.1)
        paused_at = len(primary._orders)
        await trio.sleep(20)
        # the pause may still be unwinding the cycle's primary leg (an IOC, reduce-only: under load the journal's
        # thread lets the autojump clock run ahead of it), but it places no post-only quote and leaves none open
        seen["quotes_while_paused"] = [o.request.client_order_id for o in list(primary._orders.values())[paused_at:]
                                       if o.request.post_only]
        seen["open_while_paused"] = [o.client_order_id for o in primary.open_orders()]
        seen["status"] = render_status(jpath)
        signal.raise_signal(signal.SIGUSR2)

    # replayed at 1x: the 25 s of pause and waits take a twelfth of the recording, not a third, so the data
    # cannot run out before the six cycles (journal writes run on a thread, and while the loop waits on one
    # the autojump clock moves on: a loaded machine spends more of the recording on them)
    result = await short_run(jpath, cycles=6, extra=("sim.speed=1",), handle_signals=True, sim_hook=pause_then_resume)
    assert result.exit_code == EXIT_OK, result.exit_reason
    # trading resumed, and a cycle the pause cut before any fill does not count (one it cut after a fill does)
    cut = [c for c in result.summary["markets"]["BTC"]["cycles"] if c["outcome"].startswith("reduced: paused")]
    assert result.summary["cycles_completed"] + sum(1 for c in cut if Decimal(c["maker_filled"])) == 6, cut
    assert seen["quotes_while_paused"] == [] and seen["open_while_paused"] == [], seen
    # while the bot runs it holds the journal (journal.exclusive_lock): status shows its live snapshot
    status = str(seen["status"])
    assert status.startswith(f"live snapshot from the running bot (pid {os.getpid()}), "), status
    assert "market BTC: state REDUCING (paused: SIGUSR1); PAUSED by the operator" in status, status
    assert "positions (live, from the bot's fills)" in status
    with Journal.open(jpath) as j:
        kinds = [e.kind for e in j.events() if e.kind in ("pause", "resume")]
        states = [json.loads(e.detail) for e in j.events("state")]
    assert kinds == ["pause", "resume"]
    assert [s["to"] for s in states][:2] == ["REDUCING", "ACTIVE"]
    assert states[0]["reason"] == "paused: SIGUSR1" and states[1]["reason"] == "resumed: SIGUSR2"
    assert "PAUSED" not in render_status(jpath)
    final = read_snapshot(snapshot_path(jpath))  # the last snapshot carries the exit
    assert final is not None and final["exit"] == {"code": EXIT_OK, "reason": result.exit_reason}
    assert final["paused"] is False and final["markets"]["BTC"]["state"] == "ACTIVE"


# ------------------------------------------------------------------------------------------------ status snapshot


def _status_cli(jpath: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trio_hedge", "status", "--journal", str(jpath)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_status_of_a_running_bot_shows_its_live_snapshot(tmp_path: Path) -> None:
    jpath = tmp_path / "j.sqlite"
    snap = snapshot_path(jpath)
    cmd = [sys.executable, "-m", "trio_hedge", "--set", f"journal.path={jpath}", "--set", "engine.cycles=1000",
           *[a for s in IN_PROCESS for a in ("--set", s)]]
    with (tmp_path / "stderr.log").open("wb") as err:
        bot = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 90
        # wait for a snapshot of this bot with its feeds up and a cycle done
        while not ((s := read_snapshot(snap)) and s["pid"] == bot.pid and s["feeds"]
                   and s["markets"]["BTC"]["cycles_completed"] >= 1):
            assert bot.poll() is None, (tmp_path / "stderr.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no snapshot from the running bot"
            time.sleep(0.1)
        status = _status_cli(jpath)
        assert bot.poll() is None  # it was running while status looked
    finally:
        bot.send_signal(signal.SIGINT)
        try:
            bot.wait(timeout=60)
        finally:
            if bot.poll() is None:
                bot.kill()
    assert status.returncode == 0, status.stderr
    head = status.stdout.splitlines()[0]
    assert re.fullmatch(rf"live snapshot from the running bot \(pid {bot.pid}\), \d+\.\d s old; the journal is "
                        r"held by the bot under journal.exclusive_lock", head), head
    assert "market BTC: state ACTIVE" in status.stdout and "feed backpack BTC_USDC_PERP: connected" in status.stdout
    done = re.search(r"cycles: (\d+) completed", status.stdout)
    assert done and int(done.group(1)) >= 1, status.stdout
    assert re.search(r"BTC backpack BTC_USDC_PERP: [+-]", status.stdout), status.stdout  # a leg's position
    assert bot.returncode == 0
    after = _status_cli(jpath)  # the bot is gone: status reads the journal again
    assert after.returncode == 0 and "live snapshot" not in after.stdout and "exit 0:" in after.stdout


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)
    return child.pid


def test_status_with_the_journal_held_and_no_fresh_snapshot_says_what_to_do(tmp_path: Path) -> None:
    jpath = tmp_path / "j.sqlite"
    snap = snapshot_path(jpath)
    with Journal.open(jpath, exclusive=True) as holder:  # what a running bot does to its journal
        holder.record_start(os.getpid(), time.time_ns())
        stats = MarketStats()
        stats.cycles_completed = 2
        fresh = build_snapshot(BotCollector({"BTC": stats}), {"BTC": stats}, pid=os.getpid(), run_id=1,
                               journal_path=jpath, started_ns=time.time_ns())
        cases = {
            "none": None,
            "dead pid": {**fresh, "pid": _dead_pid()},  # a crashed bot's snapshot: not the journal's holder
            "stale": {**fresh, "written_ns": time.time_ns() - 60 * 10**9},
        }
        for case, data in cases.items():
            snap.unlink(missing_ok=True)
            if data is not None:
                write_snapshot(snap, data)
            out = _status_cli(jpath)
            assert out.returncode == 1, (case, out.stdout)
            assert "live snapshot from" not in out.stdout + out.stderr, case
            assert "database is locked" in out.stderr and "journal.exclusive_lock=false" in out.stderr, case
            assert "metrics" in out.stderr, case
            why = {"none": r"no snapshot at", "dead pid": r"which is not running", "stale": r"is \d\d s old"}[case]
            assert re.search(why, out.stderr), (case, out.stderr)
        write_snapshot(snap, fresh)  # and the fresh one of a live process is shown
        out = _status_cli(jpath)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"live snapshot from the running bot (pid {os.getpid()})")
        assert "cycles: 2 completed" in out.stdout


async def test_snapshot_write_failures_are_logged_at_most_once_a_minute(mock_clock: trio.testing.MockClock,
                                                                          tmp_path: Path) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    writer = SnapshotWriter(tmp_path / "gone" / "j.status.json", lambda: {"format": 1})  # no such directory
    try:
        for _ in range(15):  # a write every 10 s for 150 s, each failing (and none raising)
            await writer.write()
            mock_clock.jump(10)
    finally:
        logger.remove(sink)
    assert writer.failures == 15
    logged = [line for line in lines if "status snapshot" in line]
    assert len(logged) == 3 and "No such file or directory" in logged[0], lines  # at 0, 60 and 120 s


# ------------------------------------------------------------------------------------------------ live view


def test_live_view_renders_the_collector_statistics() -> None:
    stats = MarketStats()
    stats.cycles_completed = 3
    stats.venue_volume_quote = {"backpack": Decimal("1234.5")}
    stats.positions = {"backpack BTC_USDC_PERP": Decimal("0.002"), "grvt BTC_USDT_Perp": Decimal("-0.001")}
    stats.net_exposure = Decimal("0.001")
    stats.last_hedge_latency_ns = 1_250_000
    collector = BotCollector({"BTC": stats})
    console = Console(record=True, width=160, file=open(os.devnull, "w"))  # noqa: SIM115 - closed below
    try:
        console.print(build_view(collector))
        text = console.export_text()
    finally:
        console.file.close()
    assert "ACTIVE" in text and "1,234.50" in text and "1.25 ms" in text
    assert "backpack BTC_USDC_PERP: +0.002" in text and "grvt BTC_USDT_Perp: -0.001" in text
    assert "+0.001" in text


def test_cli_output_is_plain_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "trio_hedge", "--set", f"journal.path={tmp_path / 'j.sqlite'}",
           "--set", "engine.cycles=1", "--set", "sim.speed=20", *[a for s in IN_PROCESS for a in ("--set", s)]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "\x1b[" not in proc.stdout and "\x1b[" not in proc.stderr  # no terminal control codes
    assert proc.stdout.startswith("== trio_hedge run summary ==")
    status = subprocess.run([sys.executable, "-m", "trio_hedge", "status", "--journal", str(tmp_path / "j.sqlite")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0 and "exit 0:" in status.stdout
    missing = subprocess.run([sys.executable, "-m", "trio_hedge", "status", "--journal", str(tmp_path / "no")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 1 and "no such file" in missing.stderr



# ------------------------------------------------------------------------------------------------ done when


@pytest.mark.slow
def test_default_run_then_report_and_status_from_its_journal(tmp_path: Path) -> None:
    """The issue's first "done when": the default run (over the wire, 25 cycles) with --summary-json; then
    ``report`` writes report.html with at least four charts and a trades.csv equal to the journal's fills,
    and ``status`` prints each venue's final position."""
    jpath = tmp_path / "run" / "trio_hedge.sqlite"
    run = subprocess.run([sys.executable, "-m", "trio_hedge", "--set", f"journal.path={jpath}", "--summary-json",
                          str(tmp_path / "summary.json")], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    report = subprocess.run([sys.executable, "-m", "trio_hedge", "report", "--journal", str(jpath), "--out",
                             str(tmp_path / "report")], capture_output=True, text=True, timeout=120, check=False)
    assert report.returncode == 0, report.stderr
    html_text = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert html_text.count('class="plotly-graph-div"') >= 4
    journal_rows = _journal_fill_rows(jpath)
    assert _csv_fill_rows(tmp_path / "report" / "trades.csv") == journal_rows
    assert _csv_fill_rows(jpath.parent / "trades.csv") == journal_rows
    status = subprocess.run([sys.executable, "-m", "trio_hedge", "status", "--journal", str(jpath)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert status.returncode == 0, status.stderr
    for venue, symbols in summary["final_positions"].items():
        for symbol, size in symbols.items():
            assert f"  {venue} {symbol}: {size}" in status.stdout, status.stdout

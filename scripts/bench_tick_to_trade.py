"""Benchmark: tick-to-trade of the full bot over loopback WebSocket, measured at the socket boundary.

Two modes:

* default (``sim-process``): a fresh standalone simulator per run (``python -m trio_hedge sim``, another
  process; started and pointed at by ``scripts/_simproc.py`` as ``scripts/chaos_kill9.py`` does: both venues
  ``endpoint = "live"`` on its loopback URLs, credentials in 0600 secrets files) and the bot
  (:func:`trio_hedge.app.run_bot` on that config) in this process. The bot's event loop then carries only
  the bot. ``run_bot`` pauses 5 s before trading against live venues; the run is stopped gracefully (SIGINT
  to this process) 2 s before the simulator's recording ends.
* ``--in-process``: the bot exactly as ``python -m trio_hedge`` runs by default, with the embedded wire
  simulators (two Hypercorn servers, matching, the replay) in its own event loop (the figures of the first
  version of this script).

Speeds: ``--speeds 1,4`` (the default) measures the replay at 1x, the rate a live bot sees (the headline: the
LAST line's figures), then at 4x beside it; each speed repeats runs until ``--min-fills`` fills (one run at 1x
lasts the whole recording, 345 s, about 400 fills).

The journal is on by default (``journal_path`` in a temp dir: every order intent committed before its send,
as ``python -m trio_hedge`` does: WAL, ``synchronous=NORMAL``, on the journal's worker thread); ``--no-journal``
runs without it. ``--intent-commits N`` only times N intent commits on this disk (``synchronous=FULL`` and
``NORMAL``; directly in the calling thread, as writing intents in the event-loop thread would, and through the
recorder's worker thread) and exits.

The floor, printed first: building, signing (EIP-712) and encoding a GRVT create-order and writing it as one
WebSocket frame to a loopback trio-websocket server (``bench_floor``), one at a time.

Nothing in ``trio_hedge`` is edited; this script monkeypatches trio-websocket's ``WebSocketConnection`` and the
direct client's ``DirectWebSocket`` and its transport (``venues/_wsdirect.py``, the hot private connections'
default: ``venues.<name>.private_ws``) in its own process only, to take two timestamps
(``time.perf_counter_ns``):

* **fill in**: the moment the ``recv`` system call returned the bytes that complete a Backpack
  ``account.orderUpdate`` frame with ``"e": "orderFill"`` and ``"m": true`` (a maker fill of our primary
  quote; taker fills of the unwind are ignored). The frame's trade id ``t`` is kept.
* **hedge out**: the moment the ``send`` system call took the bytes of a GRVT JSON-RPC ``v1/create_order``
  frame. Both stamps are taken at the system calls (a wrapper of the connection's trio stream), not when
  trio's ``receive_some``/``send_all`` return: those yield to the scheduler after a call that succeeded at
  once, which would add a scheduling wait to one end.
* in between, for the breakdown (by trade id): the adapter dequeuing the frame (``get_message`` returns),
  the engine's ``OrderTracker._on_fill`` entry, the hedger taking the fill off its inbox
  (``Hedger._take_fill``), and the last router ``submit_order`` entry and ``GrvtVenue.place`` entry before the
  frame (between those two: ``JournaledVenue`` committing the intent, when there is a journal).

Matching: every maker fill is hedged once; a route is started for all the fills taken and not yet assigned
to a route (``trio_hedge/engine/_hedger.py``). So each hedge create frame is matched to every maker fill
received before it and not yet matched; latency = hedge out - fill in, per fill. The same is reported for
"solo" hedges (those that covered exactly one fill). A create frame with no unmatched fill (a later IOC
slice, an unwind) is not a hedge start and is only counted. With routes in flight concurrently a later
slice of one route can take the match of a fill another route is about to hedge (it then reads low); the
stage breakdown keeps only fills whose stamps are in order. A hedge sent by the REST fallback (trades
socket down) is not seen; the script reports the fills left unmatched.

Event-loop scheduling lag: a :class:`trio.abc.Instrument` records, for every task step, the time from
``task_scheduled`` (the task became runnable) to ``before_task_step`` (it ran), over the whole run.
``--no-lag`` leaves the instrument out (its hooks cost ~1 us per task step, which the latency includes).

The default order size (0.002 BTC, two lots) gives one or two fills per cycle and the cycle rate is bound
by wall-clock timers, so the default overrides quote a larger size (``markets.0.order_size=0.05``: the
recorded trades fill it in many partial fills) with the position limits raised to match, and switch off the
client-side rate limiters (they bound request rates, not reaction time).

Prints the per-run and pooled figures, the stage breakdown per speed (socket -> adapter, adapter -> engine,
engine -> intent written, -> frame written; the engine stage also split up) and a table of the speeds; the LAST
line is ``tick_to_trade_us p50=<> p99=<> max=<> n=<fills> speed=1x 4x_p50=<> 4x_p99=<> floor_p50=<>
loop_lag_p99_us=<> mode=<> journal=<>``.

Usage: ``python scripts/bench_tick_to_trade.py [--speeds 1,4] [--min-fills 300] [--max-runs 5] [--in-process]
[--no-journal] [--hedges-in-flight N] [--set key=value ...]``
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from array import array
from collections import deque
from contextlib import suppress
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import trio
import trio_websocket
from loguru import logger
from trio._highlevel_socket import _translate_socket_errors_to_stream_errors as _translate_socket_errors

from trio_hedge._hotpath import WARM_PATH
from trio_hedge.app import load_config, run_bot

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/_simproc.py
import _simproc  # noqa: E402

REPO = _simproc.REPO
_sim_cpus: set[int] = set()
"""``--pin``: the CPUs the simulator's process is pinned to (empty: not pinned)."""
DEFAULT_SETS = [
    "engine.cycles=100000",
    "sim.speed=4",
    "markets.0.order_size=0.05",
    "risk.max_position=0.2",
    "risk.max_notional=20000",
    "risk.max_loss=1000000",
    "venues.backpack.rate_limit_per_s=0",
    "venues.grvt.rate_limit_per_s=0",
]

_now_ns = time.perf_counter_ns


class Probe:
    """Socket-boundary timestamps of one run (see the module docstring)."""

    def __init__(self) -> None:
        self.pending: deque[tuple[int, str]] = deque()  # (fill-in ns, trade id) not yet hedged
        self.latency_ns = array("q")
        self.solo_ns = array("q")  # hedges that covered exactly one fill (no queueing behind another hedge)
        self.fills = 0
        self.hedges = 0
        self.other_creates = 0
        self.pairs: list[tuple[str, str]] = []  # (trade id, hedge client order id), first few for the report
        # stage stamps by trade id: the adapter dequeued the frame; the engine's tracker got the Fill
        self.dequeued: dict[str, int] = {}
        self.handed: dict[str, int] = {}  # trio-websocket's reader task handed the frame to its channel
        self.hops: list[tuple[int, int]] = []  # (recv -> handed to the channel, handed -> adapter dequeued)
        self.tracked: dict[str, int] = {}
        self.taken: dict[str, int] = {}  # the hedger took the fill off its inbox (Hedger._take_fill)
        self.submit_ns = 0  # the last submit_order entry of the hedge router (before the journal's intent)
        self.place_ns = 0  # the last GrvtVenue.place entry (after it)
        # per matched fill: (socket -> dequeued, dequeued -> tracker, tracker -> hedger took it, took it ->
        # router submit, submit -> place() (the journal's intent commit when there is a journal), place() ->
        # written)
        self.stages: list[tuple[int, ...]] = []
        # the slowest fills: (latency, trade id, stamps relative to fill in: dequeued, tracker, took it,
        # last submit, last place; 0 = not stamped), for the report
        self.slowest: list[tuple[int, str, tuple[int, ...]]] = []

    def fill_in(self, t_ns: int, text: str) -> str | None:
        try:
            data = orjson.loads(text).get("data") or {}
        except orjson.JSONDecodeError:
            return None
        if data.get("e") != "orderFill" or data.get("m") is not True:
            return None
        self.fills += 1
        trade_id = str(data.get("t"))
        self.pending.append((t_ns, trade_id))
        return trade_id

    def hedge_out(self, t_ns: int, text: str) -> None:
        if not self.pending:
            self.other_creates += 1
            return
        self.hedges += 1
        coid = ""
        if len(self.pairs) < 3:
            try:
                coid = str(orjson.loads(text)["params"]["order"]["metadata"]["client_order_id"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                coid = "?"
        if len(self.pending) == 1:
            self.solo_ns.append(t_ns - self.pending[0][0])
        while self.pending:
            t_in, trade_id = self.pending.popleft()
            self.latency_ns.append(t_ns - t_in)
            t_dq = self.dequeued.pop(trade_id, 0)
            t_hd = self.handed.pop(trade_id, 0)
            if t_hd and t_dq and t_in <= t_hd <= t_dq:
                self.hops.append((t_hd - t_in, t_dq - t_hd))
            t_tr = self.tracked.pop(trade_id, 0)
            t_tk = self.taken.pop(trade_id, 0)
            rel = tuple((t - t_in) // 1000 if t else -1 for t in (t_dq, t_tr, t_tk, self.submit_ns, self.place_ns))
            self.slowest.append((t_ns - t_in, trade_id, rel))
            self.slowest = sorted(self.slowest, reverse=True)[:5]
            if t_dq and t_tr and t_tk and self.place_ns and t_tr <= t_tk <= self.submit_ns <= self.place_ns:
                self.stages.append((t_dq - t_in, t_tr - t_dq, t_tk - t_tr, self.submit_ns - t_tk,
                                    self.place_ns - self.submit_ns, t_ns - self.place_ns))
            if len(self.pairs) < 3:
                self.pairs.append((trade_id, coid))


_probe: Probe | None = None


class _Tap:
    """A trio stream proxy that stamps the connection at the system calls themselves: ``_bench_rx_ns`` when
    ``recv`` returned the bytes, ``_bench_tx_ns`` when ``send`` handed them to the kernel. (Trio's socket
    methods yield to the scheduler after a system call that succeeded at once; a stamp taken when
    ``receive_some``/``send_all`` return would add that scheduling wait to one end or the other.)"""

    __slots__ = ("_stream", "_conn")

    def __init__(self, stream: Any, conn: Any) -> None:
        self._stream = stream
        self._conn = conn

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        sock = getattr(self._stream, "socket", None)
        if sock is None or not hasattr(sock, "_nonblocking_helper"):  # not a plain socket stream (TLS...)
            data: bytes = await self._stream.receive_some(max_bytes)
            self._conn._bench_rx_ns = _now_ns()
            return data
        conn = self._conn

        def recv_and_stamp(raw: Any, n: int) -> bytes:
            got: bytes = raw.recv(n)
            conn._bench_rx_ns = _now_ns()
            return got

        with _translate_socket_errors():
            got: bytes = await sock._nonblocking_helper(trio.lowlevel.wait_readable, recv_and_stamp,
                                                        max_bytes or 65536)
            return got

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        sock = getattr(self._stream, "socket", None)
        if sock is None or not hasattr(sock, "_nonblocking_helper"):
            await self._stream.send_all(data)
            self._conn._bench_tx_ns = _now_ns()
            return
        conn = self._conn

        def send_and_stamp(raw: Any, buf: memoryview) -> int:
            sent: int = raw.send(buf)
            conn._bench_tx_ns = _now_ns()
            return sent

        with self._stream._send_conflict_detector, _translate_socket_errors(), memoryview(data) as view:
            total = 0
            while total < len(view):
                with view[total:] as rest:
                    total += await sock._nonblocking_helper(trio.lowlevel.wait_writable, send_and_stamp, rest)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _trade_id(text: str) -> str | None:
    try:
        data = orjson.loads(text).get("data") or {}
    except orjson.JSONDecodeError:
        return None
    return str(data.get("t")) if data.get("e") == "orderFill" else None


def install_probes() -> None:
    """Monkeypatch trio-websocket's WebSocketConnection, and stamp three stages in between (the engine's
    ``OrderTracker._on_fill``, the router's ``submit_order`` and ``GrvtVenue.place`` entries), in this process
    only."""
    from trio_hedge.engine import Hedger, OrderTracker, _router
    from trio_hedge.venues.grvt import GrvtVenue

    cls = trio_websocket.WebSocketConnection
    orig_init = cls.__init__
    orig_handle = cls._handle_message_event
    orig_send = cls.send_message
    orig_get = cls.get_message
    orig_on_fill = OrderTracker._on_fill
    orig_place = GrvtVenue.place
    orig_submit = _router.submit_order  # type: ignore[attr-defined]
    orig_take = Hedger._take_fill

    async def get_message(self: Any) -> str | bytes:
        message = await orig_get(self)
        if _probe is not None and type(message) is str and '"orderFill"' in message:
            t = _now_ns()
            trade_id = _trade_id(message)
            if trade_id is not None:
                _probe.dequeued[trade_id] = t
        return message

    async def _on_fill(self: Any, fill: Any, received_ns: int) -> None:
        if _probe is not None:
            _probe.tracked.setdefault(str(fill.trade_id), _now_ns())
        await orig_on_fill(self, fill, received_ns)

    async def place(self: Any, request: Any) -> Any:
        if _probe is not None:
            _probe.place_ns = _now_ns()
        return await orig_place(self, request)

    def _take_fill(self: Any, item: Any) -> bool:
        if _probe is not None:
            _probe.taken.setdefault(str(item.fill.trade_id), _now_ns())
        return bool(orig_take(self, item))

    async def submit_order(venue: Any, request: Any, **kw: Any) -> Any:
        if _probe is not None:
            _probe.submit_ns = _now_ns()
        return await orig_submit(venue, request, **kw)

    def __init__(self: Any, stream: Any, *args: Any, **kw: Any) -> None:
        self._bench_rx_ns = 0
        self._bench_tx_ns = 0
        orig_init(self, _Tap(stream, self), *args, **kw)  # type: ignore[arg-type]

    async def _handle_message_event(self: Any, event: Any) -> None:
        if _probe is not None and event.message_finished and not self._message_parts:
            data = event.data
            if type(data) is str and '"orderFill"' in data:
                trade_id = _probe.fill_in(self._bench_rx_ns, data)
                if trade_id is not None:
                    _probe.handed[trade_id] = _now_ns()  # what follows is the channel send
        await orig_handle(self, event)

    async def send_message(self: Any, message: str | bytes) -> None:
        self._bench_tx_ns = 0
        await orig_send(self, message)
        if _probe is not None and type(message) is str and '"v1/create_order"' in message:
            _probe.hedge_out(self._bench_tx_ns or _now_ns(), message)

    # the direct wsproto client (venues.<name>.private_ws = "wsproto", venues/_wsdirect.py): the same stamps at
    # its transport's recv/send system calls, keyed by transport; no channel between (no "handed" stamp)
    from trio_hedge.venues import _wsdirect

    dcls, tcls = _wsdirect.DirectWebSocket, _wsdirect._Transport
    orig_recv_now, orig_send_now = tcls._recv_now, tcls._send_now
    orig_dget, orig_dsend = dcls.get_message, dcls.send_message
    rx_ns: dict[int, int] = {}
    tx_ns: dict[int, int] = {}

    def _recv_now(self: Any) -> int:
        n = orig_recv_now(self)
        rx_ns[id(self)] = _now_ns()
        return n

    def _send_now(self: Any, view: memoryview) -> int:
        n = orig_send_now(self, view)
        tx_ns[id(self)] = _now_ns()
        return n

    async def dget_message(self: Any) -> str | bytes:
        message = await orig_dget(self)
        if _probe is not None and type(message) is str and '"orderFill"' in message:
            t = _now_ns()
            trade_id = _probe.fill_in(rx_ns.get(id(self._t), t), message)
            if trade_id is not None:
                _probe.dequeued[trade_id] = t
        return message

    async def dsend_message(self: Any, message: str | bytes) -> None:
        tx_ns.pop(id(self._t), None)
        await orig_dsend(self, message)
        if _probe is not None and type(message) is str and '"v1/create_order"' in message:
            _probe.hedge_out(tx_ns.get(id(self._t)) or _now_ns(), message)

    tcls._recv_now = _recv_now  # type: ignore[method-assign]
    tcls._send_now = _send_now  # type: ignore[method-assign]
    dcls.get_message = dget_message  # type: ignore[method-assign]
    dcls.send_message = dsend_message  # type: ignore[method-assign]

    cls.__init__ = __init__  # type: ignore[method-assign]
    cls._handle_message_event = _handle_message_event  # type: ignore[method-assign]
    cls.send_message = send_message  # type: ignore[method-assign]
    cls.get_message = get_message  # type: ignore[method-assign]
    OrderTracker._on_fill = _on_fill  # type: ignore[method-assign]
    GrvtVenue.place = place  # type: ignore[method-assign]
    _router.submit_order = submit_order  # type: ignore[attr-defined]
    Hedger._take_fill = _take_fill  # type: ignore[method-assign]


class LagInstrument(trio.abc.Instrument):
    """Scheduling lag: ``task_scheduled`` -> ``before_task_step`` per task step, ns."""

    def __init__(self) -> None:
        self.scheduled: dict[Any, int] = {}
        self.lag_ns = array("q")

    def task_scheduled(self, task: trio.lowlevel.Task) -> None:
        self.scheduled[task] = _now_ns()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        t0 = self.scheduled.pop(task, None)
        if t0 is not None:
            self.lag_ns.append(_now_ns() - t0)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.scheduled.pop(task, None)


def pct(sorted_values: Any, q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in [0, 1])."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[k])


def _intent_figures(summary: dict[str, Any]) -> tuple[float | None, float | None, int]:
    j = summary.get("journal", {}).get("intent_commit_ms", {})
    return j.get("p50"), j.get("p99"), int(j.get("count") or 0)


GC_MODES = ("default", "freeze", "freeze-thresholds")
"""``--gc``: the interpreter's defaults; ``gc.freeze()`` once the bot is up (7 s after start: after the 5 s
live-start pause); the same plus ``gc.set_threshold(50_000, 20, 20)`` (fewer young collections)."""
_gc_mode = "default"


class GcPauses:
    """Every collection's pause by generation (``gc.callbacks``), ns."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[int]] = {0: [], 1: [], 2: []}
        self._t0 = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = _now_ns()
        else:
            self.pauses[info["generation"]].append(_now_ns() - self._t0)

    def line(self) -> str:
        return ", ".join(f"gen{g} n={len(v)} max {max(v, default=0) / 1e3:.0f} us" for g, v in self.pauses.items())


async def _run_until(config: Any, journal_path: Path | None, stop_after_s: float) -> Any:
    """``run_bot`` with its signal watcher, stopped gracefully (SIGINT to this process, as ``kill -INT`` would)
    after ``stop_after_s``: against the standalone simulator the bot does not see the recording end."""
    async with trio.open_nursery() as nursery:

        async def stopper() -> None:
            await trio.sleep(max(1.0, stop_after_s))
            os.kill(os.getpid(), signal.SIGINT)

        async def gc_after_start() -> None:
            await trio.sleep(7.0)
            gc.collect()
            gc.freeze()
            if _gc_mode == "freeze-thresholds":
                gc.set_threshold(50_000, 20, 20)

        nursery.start_soon(stopper)
        if _gc_mode != "default":
            nursery.start_soon(gc_after_start)
        result = await run_bot(config, handle_signals=True, journal_path=journal_path)
        nursery.cancel_scope.cancel()
    return result


def one_run(
    sets: list[str], lag: bool, *, in_process: bool, journal: bool, tmp: Path
) -> tuple[Probe, array[int], dict[str, Any], float]:
    """One run of the bot: against the embedded simulators (``in_process``) or a fresh standalone simulator
    (``python -m trio_hedge sim``) in another process; with a journal in ``tmp`` when ``journal``."""
    global _probe
    probe = Probe()
    inst = LagInstrument() if lag else None
    journal_path = tmp / "journal.sqlite" if journal else None
    if journal_path is not None:
        for suffix in ("", "-wal", "-shm", ".lock"):
            Path(f"{journal_path}{suffix}").unlink(missing_ok=True)
    sim_proc: subprocess.Popen[bytes] | None = None
    pauses = GcPauses()
    thresholds = gc.get_threshold()
    try:
        gc.callbacks.append(pauses)
        if in_process:
            config = load_config(REPO / "config.toml", sets)
            _probe = probe
            t0 = time.perf_counter()
            result = trio.run(partial(run_bot, config, journal_path=journal_path), instruments=[inst] if inst else [])
        else:
            shipped = load_config(REPO / "config.toml", sets)
            speed = shipped.sim.speed
            sim_sets = [a for kv in sets if kv.startswith("sim.") for a in ("--set", kv)]
            t_sim = time.monotonic()
            sim_proc, sim = _simproc.start_sim(tmp / "sim.err", speed, linger_s=60.0, extra_args=sim_sets)
            if _sim_cpus:
                os.sched_setaffinity(sim_proc.pid, _sim_cpus)  # --pin: off the bot's CPU (it inherited the bot's)
            tree = tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))
            _simproc.point_config_at_sim(tree, sim, tmp)
            path = tmp / "config.toml"
            path.write_text(_simproc.to_toml(tree), encoding="utf-8")
            config = load_config(path, sets)
            data_s = _simproc.RECORDING_S / speed if speed > 0 else 60.0
            stop_after_s = data_s - (time.monotonic() - t_sim) - 2.0
            _probe = probe
            t0 = time.perf_counter()
            result = trio.run(_run_until, config, journal_path, stop_after_s, instruments=[inst] if inst else [])
        wall_s = time.perf_counter() - t0
    finally:
        _probe = None
        if pauses in gc.callbacks:
            gc.callbacks.remove(pauses)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        print(f"  gc during the run ({_gc_mode}): {pauses.line()}", flush=True)
        _simproc.stop_process(sim_proc, "simulator", signal.SIGINT, 10)
    if result.exit_code != 0:
        print(f"  run ended with exit {result.exit_code}: {result.exit_reason}", file=sys.stderr)
    return probe, inst.lag_ns if inst else array("q"), result.summary, wall_s


def bench_intent_commits(tmp: Path, n: int) -> None:
    """The journal's intent commit on this disk, alone, with ``synchronous=FULL`` (an fsync of the WAL per
    commit, the setting before) and ``NORMAL`` (the setting now: a WAL append): ``Journal.record_intent`` (one
    transaction) called directly in this thread (what writing intents in the event-loop thread would cost), and
    through ``JournalRecorder.record_intent`` (``AsyncJournal``'s worker thread and the hop back to the event
    loop, as the bot does), ``n`` each on a fresh file. Prints p50/p99/max in us."""
    from trio_hedge.app._journal import Journal, open_async_journal
    from trio_hedge.app._reconcile import JournalRecorder
    from trio_hedge.domain import OrderRequest, OrderType, Side, TimeInForce

    def request(i: int) -> OrderRequest:
        return OrderRequest(client_order_id=f"bench-{i}", symbol="BTC_USDT_Perp", side=Side.SELL,
                            size=Decimal("0.001"), order_type=OrderType.LIMIT, price=Decimal("100000.0"),
                            tif=TimeInForce.IOC, reason="hedge")

    def show(name: str, values: list[int]) -> None:
        v = sorted(values)
        print(f"intent commit {name}: p50 {pct(v, 0.5) / 1e3:.0f} p99 {pct(v, 0.99) / 1e3:.0f} "
              f"max {pct(v, 1.0) / 1e3:.0f} us (n={len(v)})")

    for level in ("FULL", "NORMAL"):
        path = tmp / f"intents-direct-{level}.sqlite"
        direct: list[int] = []
        with Journal.open(path) as journal:
            journal._live().execute(f"PRAGMA synchronous = {level}")
            for i in range(n):
                t0 = _now_ns()
                journal.record_intent("grvt", request(i))
                direct.append(_now_ns() - t0)
        show(f"synchronous={level}, Journal.record_intent (direct, the calling thread)", direct)

        async def via_recorder(level: str = level) -> list[int]:
            async with open_async_journal(tmp / f"intents-async-{level}.sqlite") as journal:
                await journal._call(lambda j: j._live().execute(f"PRAGMA synchronous = {level}"))
                recorder = JournalRecorder(journal)
                took: list[int] = []  # the recorder keeps only a histogram (recorder.intent_latency): time each
                for i in range(n):
                    t0 = _now_ns()
                    await recorder.record_intent("grvt", request(i), None)
                    took.append(_now_ns() - t0)
                return took

        show(f"synchronous={level}, JournalRecorder.record_intent (worker thread, from trio)", trio.run(via_recorder))


def bench_floor(n: int) -> tuple[float, float, float]:
    """The floor of a hedge on this machine: build the order, sign it (EIP-712, as ``GrvtVenue._sign``), encode
    it (``v1/create_order`` JSON-RPC) and write it as one WebSocket frame to a trio-websocket server on
    127.0.0.1 (``open_ws``, as the adapters connect), ``n`` times. Returns (p50, p99, max) in us."""
    from trio_websocket import serve_websocket

    from trio_hedge.domain import OrderRequest, OrderType, Side, TimeInForce
    from trio_hedge.protocols.grvt import GrvtSigner, SigningInstrument, build_order_rpc_payload, encode_json
    from trio_hedge.venues._ws import open_ws

    signer = GrvtSigner(f"{0x1234567 * 0x9E3779B97F4A7C15:064x}"[-64:])
    inst = SigningInstrument("BTC_USDT_Perp", "0x030501", 9)

    async def run() -> list[int]:
        async def handler(request: Any) -> None:
            ws = await request.accept()
            with suppress(trio_websocket.ConnectionClosed):
                while True:
                    await ws.get_message()

        async with trio.open_nursery() as nursery:
            server = await nursery.start(partial(serve_websocket, handler, "127.0.0.1", 0, ssl_context=None))
            port = server.port
            took: list[int] = []
            async with open_ws(f"ws://127.0.0.1:{port}/") as ws:
                for i in range(n):
                    t0 = _now_ns()
                    req = OrderRequest(client_order_id=str(2**63 + i), symbol="BTC_USDT_Perp", side=Side.SELL,
                                       size=Decimal("0.002"), order_type=OrderType.LIMIT, price=Decimal("60000.1"),
                                       tif=TimeInForce.IOC, reason="hedge")
                    payload = build_order_rpc_payload(req, inst, sub_account_id="1", nonce=i + 1,
                                                      expiration_ns=time.time_ns() + 10**10, chain_id=325,
                                                      signer=signer, request_id=i + 1)
                    await ws.send_message(encode_json(payload).decode())
                    took.append(_now_ns() - t0)
                    await trio.sleep(0.001)  # one hedge at a time, as at 1x
            nursery.cancel_scope.cancel()
        return took

    v = sorted(trio.run(run))
    return pct(v, 0.5) / 1e3, pct(v, 0.99) / 1e3, pct(v, 1.0) / 1e3


STAGE_NAMES = ("socket->adapter", "adapter->engine", "engine->intent written", "intent->frame written")
"""The per-stage breakdown (each fill's stamps in order): the fill frame's recv -> the adapter dequeued it; ->
the engine's tracker got the Fill; -> ``GrvtVenue.place`` entered (the hedger took the fill, routed it, the
journal committed the intent); -> the create frame's send."""


def measure(speed: float, args: argparse.Namespace, sets: list[str], tmp: Path) -> dict[str, Any]:
    """Runs at ``speed`` until ``args.min_fills`` fills or ``args.max_runs`` runs; prints each run; returns the
    pooled figures."""
    all_lat = array("q")
    all_lag = array("q")
    all_solo = array("q")
    all_stages: list[tuple[int, ...]] = []
    all_hops: list[tuple[int, int]] = []
    summary_p50: list[float] = []
    summary_p99: list[float] = []
    engine_p50: list[float] = []
    intent_p50: list[float] = []
    intent_p99: list[float] = []
    fills = hedges = runs = 0
    per_run_p99: list[float] = []
    run_sets = [*sets, f"sim.speed={speed:g}"]
    while (len(all_lat) < args.min_fills or runs == 0) and runs < args.max_runs:
        gc.collect()
        rehearsals0, cpu0_s = WARM_PATH.rehearsals, time.process_time()
        if args.profile is not None:
            import cProfile

            prof = cProfile.Profile()
            probe, lag_ns, summary, wall_s = prof.runcall(one_run, run_sets, not args.no_lag,
                                                          in_process=args.in_process, journal=not args.no_journal,
                                                          tmp=tmp)
            prof.dump_stats(args.profile)
        else:
            probe, lag_ns, summary, wall_s = one_run(run_sets, not args.no_lag, in_process=args.in_process,
                                                     journal=not args.no_journal, tmp=tmp)
        rehearsals, cpu_s = WARM_PATH.rehearsals - rehearsals0, time.process_time() - cpu0_s
        runs += 1
        fills += probe.fills
        hedges += probe.hedges
        lat = sorted(probe.latency_ns)
        all_lat.extend(lat)
        all_lag.extend(lag_ns)
        all_solo.extend(probe.solo_ns)
        all_stages.extend(probe.stages)
        all_hops.extend(probe.hops)
        lag = sorted(lag_ns)
        if lat:
            per_run_p99.append(pct(lat, 0.99) / 1e3)
        sl = summary.get("hedge_latency_ms", {})
        el = summary.get("engine_latency_ms", {})
        if sl.get("count"):
            summary_p50.append(float(sl["p50"]))
            summary_p99.append(float(sl["p99"]))
        if el.get("count"):
            engine_p50.append(float(el["p50"]))
        ip50, ip99, icount = _intent_figures(summary)
        if icount:
            intent_p50.append(float(ip50))  # type: ignore[arg-type]
            intent_p99.append(float(ip99))  # type: ignore[arg-type]
        print(
            f"{speed:g}x run {runs}: {wall_s:.1f} s, {summary.get('cycles_completed')} cycles, {probe.fills} maker "
            f"fills in, {probe.hedges} hedge starts out ({probe.other_creates} other creates), "
            f"{len(probe.pending)} fills unmatched; tick-to-trade us p50 {pct(lat, 0.5) / 1e3:.0f} "
            f"p99 {pct(lat, 0.99) / 1e3:.0f} max {pct(lat, 1.0) / 1e3:.0f}; "
            f"loop lag us p99 {pct(lag, 0.99) / 1e3:.0f} (n={len(lag)}); "
            f"summary hedge_latency_ms p50 {sl.get('p50')} p99 {sl.get('p99')} (n={sl.get('count')}), "
            f"engine_latency_ms p50 {el.get('p50')} p99 {el.get('p99')}"
            + (f"; journal intent_commit_ms p50 {ip50} p99 {ip99} (n={icount})" if icount else "")
            + f"; hedge path rehearsals {rehearsals}; this process's CPU {cpu_s:.1f} s "
            f"({cpu_s / wall_s:.0%} of the run)",
            flush=True,
        )
        print("  slowest fills (us after fill in: dequeued, tracker, hedger took it, last submit, last place): "
              + "; ".join(f"{lat // 1000} us trade {tid} {rel}" for lat, tid, rel in probe.slowest), flush=True)
    lat = sorted(all_lat)
    lag = sorted(all_lag)
    solo = sorted(all_solo)
    if len(lat) < args.min_fills:
        print(f"  ({speed:g}x: {len(lat)} fills measured in {runs} runs; --min-fills {args.min_fills})")
    print(
        f"{speed:g}x pooled over {runs} runs: {len(lat)} fills, {hedges} hedges; per-run p99 us median "
        f"{statistics.median(per_run_p99) if per_run_p99 else float('nan'):.0f}; solo hedges (one fill each): "
        f"n={len(solo)} p50 {pct(solo, 0.5) / 1e3:.0f} p99 {pct(solo, 0.99) / 1e3:.0f} "
        f"max {pct(solo, 1.0) / 1e3:.0f} us"
    )
    # stages: (socket -> dequeued, dequeued -> tracker, tracker -> took it, took it -> submit, submit -> place,
    # place -> written); the headline breakdown merges the middle three into "engine -> intent written"
    merged = [(st[0], st[1], st[2] + st[3] + st[4], st[5]) for st in all_stages]
    stages: list[tuple[float, float, float]] = []
    for i, name in enumerate(STAGE_NAMES):
        col = sorted(st[i] for st in merged)
        stages.append((pct(col, 0.5) / 1e3, pct(col, 0.99) / 1e3, pct(col, 1.0) / 1e3))
        print(f"{speed:g}x stage {name}: p50 {stages[-1][0]:.0f} p99 {stages[-1][1]:.0f} max {stages[-1][2]:.0f} us "
              f"(n={len(col)})")
    for i, name in enumerate(("recv -> trio-websocket's reader task handed it to its channel",
                              "channel -> the adapter's get_message returned")):
        if not all_hops:
            print(f"{speed:g}x   socket->adapter: no channel hop (direct wsproto client: read in the adapter task)")
            break
        col = sorted(h[i] for h in all_hops)
        print(f"{speed:g}x   socket->adapter, {name}: p50 {pct(col, 0.5) / 1e3:.0f} p99 {pct(col, 0.99) / 1e3:.0f} us "
              f"(n={len(col)})")
    fine = ("tracker->hedger took it", "took it->router submit", "submit->GrvtVenue.place (journal intent)")
    for i, name in enumerate(fine, start=2):
        col = sorted(st[i] for st in all_stages)
        print(f"{speed:g}x   of which {name}: p50 {pct(col, 0.5) / 1e3:.0f} p99 {pct(col, 0.99) / 1e3:.0f} us")
    if intent_p50:
        print(f"{speed:g}x journal intent commit ms (run summaries, median of runs): p50 "
              f"{statistics.median(intent_p50):.3f} p99 {statistics.median(intent_p99):.3f}")
    if summary_p50:
        print(f"{speed:g}x run summary hedge_latency_ms (median of runs): p50 {statistics.median(summary_p50):.3f} "
              f"p99 {statistics.median(summary_p99):.3f}; engine_latency_ms p50 "
              f"{statistics.median(engine_p50) if engine_p50 else float('nan'):.3f}")
    return {"p50": pct(lat, 0.5) / 1e3, "p99": pct(lat, 0.99) / 1e3, "max": pct(lat, 1.0) / 1e3, "n": len(lat),
            "lag_p99": pct(lag, 0.99) / 1e3, "stages": stages}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--speeds", default="1,4",
                    help="replay speeds to measure, comma-separated (default 1,4: the live rate, headline, and 4x)")
    ap.add_argument("--min-fills", type=int, default=300,
                    help="repeat runs at each speed until this many fills are measured (at least one run)")
    ap.add_argument("--max-runs", type=int, default=5, help="runs per speed at most")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra config override key=value")
    ap.add_argument("--no-lag", action="store_true", help="leave out the scheduling-lag instrument")
    ap.add_argument("--in-process", action="store_true",
                    help="run the wire simulators in the bot's own process and event loop (the old mode)")
    ap.add_argument("--no-journal", action="store_true",
                    help="run without the SQLite journal (by default it runs with it, as python -m trio_hedge does)")
    ap.add_argument("--journal", action="store_true", help=argparse.SUPPRESS)  # the default now (older commands)
    ap.add_argument("--hedges-in-flight", type=int, default=None,
                    help="routed hedges in flight at once (markets.0.max_hedges_in_flight; default: config.toml)")
    ap.add_argument("--intent-commits", type=int, default=0, metavar="N",
                    help="only time N journal intent commits on this disk (direct and via the recorder), then exit")
    ap.add_argument("--floor-only", action="store_true", help="only measure the floor (sign + encode + frame)")
    ap.add_argument("--gc", choices=GC_MODES, default="default", help="garbage-collector setting (GC_MODES)")
    ap.add_argument("--switch-interval-s", type=float, default=None,
                    help="sys.setswitchinterval for the bot's process (default: what trio_hedge sets)")
    ap.add_argument("--profile", type=Path, default=None,
                    help="write a cProfile of the bot's process (all runs) to this file (slows everything down)")
    ap.add_argument("--pin", action="store_true",
                    help="pin the bot's process to the last CPU it may use and the simulator to the others "
                         "(os.sched_setaffinity; as `taskset -c N python -m trio_hedge` would for a live bot)")
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)
    pinned = ""
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            print("--pin: only one CPU is available; not pinned", file=sys.stderr)
        else:
            global _sim_cpus
            _sim_cpus = set(cpus[:-1])
            os.sched_setaffinity(0, {cpus[-1]})  # before any thread starts: the journal's thread inherits it
            pinned = f" pinned=bot:{cpus[-1]},sim:{','.join(map(str, cpus[:-1]))}"

    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    if args.intent_commits:
        tmp = Path(tempfile.mkdtemp(prefix="bench_intent_"))
        try:
            bench_intent_commits(tmp, args.intent_commits)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    floor = bench_floor(2000)
    print(f"floor (sign + encode + one WebSocket frame write, loopback): p50 {floor[0]:.0f} p99 {floor[1]:.0f} "
          f"max {floor[2]:.0f} us (n=2000)", flush=True)
    if args.floor_only:
        return 0
    global _gc_mode
    _gc_mode = args.gc
    if args.switch_interval_s is not None:
        sys.setswitchinterval(args.switch_interval_s)
    install_probes()
    sets = DEFAULT_SETS + args.sets
    if args.hedges_in_flight is not None:
        sets.append(f"markets.0.max_hedges_in_flight={args.hedges_in_flight}")
    speeds = [float(x) for x in args.speeds.split(",") if x.strip()]
    mode = "in-process" if args.in_process else "sim-process"
    where = "embedded wire simulators in the bot's loop" if args.in_process else "trio_hedge sim, another process"
    journal = "off" if args.no_journal else "on"
    print(f"mode {mode} ({where}), journal {journal}, gc {args.gc}, switch interval {sys.getswitchinterval()} s; "
          f"config.toml with: {' '.join(sets)}; speeds {speeds}")
    results: dict[float, dict[str, Any]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bench_t2t_"))  # /tmp: the same disk as the repo on this VM
    try:
        for speed in speeds:
            results[speed] = measure(speed, args, sets, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    private_ws = ",".join(sorted({s.split("=", 1)[1] for s in sets if ".private_ws=" in s})) or "wsproto"
    print("speed  fills  p50 us  p99 us  max us  | " + " | ".join(f"{n} p50/p99 us" for n in STAGE_NAMES))
    for speed, r in results.items():
        print(f"{speed:4g}x  {r['n']:5d}  {r['p50']:6.0f}  {r['p99']:6.0f}  {r['max']:6.0f}  | "
              + " | ".join(f"{a:.0f}/{b:.0f}" for a, b, _ in r["stages"]))
    print(f"floor p50 {floor[0]:.0f} us, p99 {floor[1]:.0f} us")
    head = results[speeds[0]]
    others = " ".join(f"{sp:g}x_p50={r['p50']:.0f} {sp:g}x_p99={r['p99']:.0f}" for sp, r in results.items()
                      if sp != speeds[0])
    print(
        f"tick_to_trade_us p50={head['p50']:.0f} p99={head['p99']:.0f} max={head['max']:.0f} n={head['n']} "
        f"speed={speeds[0]:g}x {others} floor_p50={floor[0]:.0f} loop_lag_p99_us={head['lag_p99']:.0f} "
        f"mode={mode} journal={journal} gc={args.gc} private_ws={private_ws}{pinned}"
    )
    return 0 if all(r["n"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: tick-to-trade of the full bot over loopback WebSocket, measured at the socket boundary.

The bot runs exactly as ``python -m trio_hedge`` does (:func:`trio_hedge.app.run_bot` on ``config.toml``: the
real Backpack and GRVT adapters against the embedded wire simulators over 127.0.0.1), with only the
overrides given below. Nothing in ``trio_hedge`` is edited; this script monkeypatches trio-websocket's
``WebSocketConnection`` (its own process only) to take two timestamps (``time.perf_counter_ns``):

* **fill in**: the moment ``receive_some`` on the connection's trio stream returned the bytes that complete a
  Backpack ``account.orderUpdate`` frame with ``"e": "orderFill"`` and ``"m": true`` (a maker fill of our
  primary quote; taker fills of the unwind are ignored). The frame's trade id ``t`` and client id ``c`` are
  kept. (The substring test runs in trio-websocket's reader task on every text frame: a few hundred ns.)
* in between, for the breakdown: the adapter dequeuing the frame (``get_message`` returns), the engine's
  ``OrderTracker._on_fill`` entry (same trade id) and the last ``GrvtVenue.place`` entry before the frame.
* **hedge out**: the moment ``send_message`` returned for a GRVT JSON-RPC ``v1/create_order`` frame (the
  frame is then written to the socket: trio-websocket awaits ``stream.send_all``). Its
  ``client_order_id`` is kept.

Matching: the hedger hedges every maker fill once, in arrival order, and fills that arrive while a hedge is
in flight are hedged together by the next one (``trio_hedge/engine/_hedger.py``). So each hedge create
frame is matched to every maker fill received before it and not yet matched; latency = hedge out - fill in,
per fill. The same is reported for "solo" hedges alone (those that covered exactly one fill: no fill queued
behind a hedge in flight), which leaves out most of the queueing. A create frame with no unmatched fill (a
later IOC slice of the same hedge, an unwind) is not a hedge start and is only counted. A hedge sent by the
REST fallback (trades socket down) is not seen; none is expected on loopback and the script reports the
fills left unmatched.

Event-loop scheduling lag: a :class:`trio.abc.Instrument` records, for every task step, the time from
``task_scheduled`` (the task became runnable) to ``before_task_step`` (it ran), over the whole run.
``--no-lag`` leaves the instrument out (its hooks cost ~1 us per task step, which the latency includes).

The default order size (0.002 BTC, two lots) gives one or two fills per cycle and the cycle rate is bound
by wall-clock timers (quote checks, order resolution), so one replay of the 345 s recording yields about
a hundred fills at 4x. To reach ``--min-fills`` faster the default overrides quote a larger size
(``markets.0.order_size=0.05``: the recorded trades fill it in many partial fills, each hedged on its own)
with the position limits raised to match, switch off the client-side rate limiters (they bound request
rates, not reaction time), and replay at 4x; runs are repeated until ``--min-fills`` fills are measured.

Prints the per-run and pooled figures; the LAST line is
``tick_to_trade_us p50=<> p99=<> max=<> n=<fills> loop_lag_p99_us=<>``.

Usage: ``python scripts/bench_tick_to_trade.py [--min-fills 1000] [--max-runs 20] [--set key=value ...]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from array import array
from collections import deque
from pathlib import Path
from typing import Any

import orjson
import trio
import trio_websocket
from loguru import logger

from trio_hedge.app import load_config, run_bot

REPO = Path(__file__).resolve().parent.parent
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
        self.tracked: dict[str, int] = {}
        self.place_ns = 0  # the last GrvtVenue.place entry
        # per matched fill: (socket -> dequeued, dequeued -> tracker, tracker -> place(), place() -> written)
        self.stages: list[tuple[int, int, int, int]] = []

    def fill_in(self, t_ns: int, text: str) -> None:
        try:
            data = orjson.loads(text).get("data") or {}
        except orjson.JSONDecodeError:
            return
        if data.get("e") != "orderFill" or data.get("m") is not True:
            return
        self.fills += 1
        self.pending.append((t_ns, str(data.get("t"))))

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
            t_tr = self.tracked.pop(trade_id, 0)
            if t_dq and t_tr and self.place_ns:
                self.stages.append((t_dq - t_in, t_tr - t_dq, self.place_ns - t_tr, t_ns - self.place_ns))
            if len(self.pairs) < 3:
                self.pairs.append((trade_id, coid))


_probe: Probe | None = None


class _Tap:
    """A trio stream proxy that stamps the connection each time ``receive_some`` returns data."""

    __slots__ = ("_stream", "_conn")

    def __init__(self, stream: Any, conn: Any) -> None:
        self._stream = stream
        self._conn = conn

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        data: bytes = await self._stream.receive_some(max_bytes)
        self._conn._bench_rx_ns = _now_ns()
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _trade_id(text: str) -> str | None:
    try:
        data = orjson.loads(text).get("data") or {}
    except orjson.JSONDecodeError:
        return None
    return str(data.get("t")) if data.get("e") == "orderFill" else None


def install_probes() -> None:
    """Monkeypatch trio-websocket's WebSocketConnection, and stamp two stages in between (the engine's
    ``OrderTracker._on_fill`` and ``GrvtVenue.place`` entries), in this process only."""
    from trio_hedge.engine import OrderTracker
    from trio_hedge.venues.grvt import GrvtVenue

    cls = trio_websocket.WebSocketConnection
    orig_init = cls.__init__
    orig_handle = cls._handle_message_event
    orig_send = cls.send_message
    orig_get = cls.get_message
    orig_on_fill = OrderTracker._on_fill
    orig_place = GrvtVenue.place

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

    def __init__(self: Any, stream: Any, *args: Any, **kw: Any) -> None:
        self._bench_rx_ns = 0
        orig_init(self, _Tap(stream, self), *args, **kw)  # type: ignore[arg-type]

    async def _handle_message_event(self: Any, event: Any) -> None:
        if _probe is not None and event.message_finished and not self._message_parts:
            data = event.data
            if type(data) is str and '"orderFill"' in data:
                _probe.fill_in(self._bench_rx_ns, data)
        await orig_handle(self, event)

    async def send_message(self: Any, message: str | bytes) -> None:
        await orig_send(self, message)
        if _probe is not None and type(message) is str and '"v1/create_order"' in message:
            _probe.hedge_out(_now_ns(), message)

    cls.__init__ = __init__  # type: ignore[method-assign]
    cls._handle_message_event = _handle_message_event  # type: ignore[method-assign]
    cls.send_message = send_message  # type: ignore[method-assign]
    cls.get_message = get_message  # type: ignore[method-assign]
    OrderTracker._on_fill = _on_fill  # type: ignore[method-assign]
    GrvtVenue.place = place  # type: ignore[method-assign]


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


def one_run(sets: list[str], lag: bool) -> tuple[Probe, array[int], dict[str, Any], float]:
    global _probe
    probe = Probe()
    _probe = probe
    inst = LagInstrument() if lag else None
    config = load_config(REPO / "config.toml", sets)
    t0 = time.perf_counter()
    result = trio.run(run_bot, config, instruments=[inst] if inst else [])
    wall_s = time.perf_counter() - t0
    _probe = None
    if result.exit_code != 0:
        print(f"  run ended with exit {result.exit_code}: {result.exit_reason}", file=sys.stderr)
    return probe, inst.lag_ns if inst else array("q"), result.summary, wall_s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--min-fills", type=int, default=1000, help="repeat runs until this many fills are measured")
    ap.add_argument("--max-runs", type=int, default=20)
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra config override key=value")
    ap.add_argument("--no-lag", action="store_true", help="leave out the scheduling-lag instrument")
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)

    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    install_probes()
    sets = DEFAULT_SETS + args.sets
    print(f"config.toml with: {' '.join(sets)}")
    all_lat = array("q")
    all_lag = array("q")
    all_solo = array("q")
    all_stages: list[tuple[int, int, int, int]] = []
    fills = hedges = runs = 0
    per_run_p99: list[float] = []
    while len(all_lat) < args.min_fills and runs < args.max_runs:
        gc.collect()
        probe, lag_ns, summary, wall_s = one_run(sets, not args.no_lag)
        runs += 1
        fills += probe.fills
        hedges += probe.hedges
        lat = sorted(probe.latency_ns)
        all_lat.extend(lat)
        all_lag.extend(lag_ns)
        all_solo.extend(probe.solo_ns)
        all_stages.extend(probe.stages)
        lag = sorted(lag_ns)
        if lat:
            per_run_p99.append(pct(lat, 0.99) / 1e3)
        sl = summary.get("hedge_latency_ms", {})
        print(
            f"run {runs}: {wall_s:.1f} s, {summary.get('cycles_completed')} cycles, {probe.fills} maker fills in, "
            f"{probe.hedges} hedge starts out ({probe.other_creates} other creates), "
            f"{len(probe.pending)} fills unmatched; tick-to-trade us p50 {pct(lat, 0.5) / 1e3:.0f} "
            f"p99 {pct(lat, 0.99) / 1e3:.0f} max {pct(lat, 1.0) / 1e3:.0f}; "
            f"loop lag us p99 {pct(lag, 0.99) / 1e3:.0f} (n={len(lag)}); "
            f"summary hedge_latency_ms p50 {sl.get('p50')} p99 {sl.get('p99')} (n={sl.get('count')}); "
            f"e.g. trade {probe.pairs[:1]}",
            flush=True,
        )
    lat = sorted(all_lat)
    lag = sorted(all_lag)
    solo = sorted(all_solo)
    if len(lat) < args.min_fills:
        print(f"WARNING: only {len(lat)} fills measured in {runs} runs (wanted {args.min_fills})", file=sys.stderr)
    print(
        f"pooled over {runs} runs: {len(lat)} fills, {hedges} hedges; per-run p99 us median "
        f"{statistics.median(per_run_p99) if per_run_p99 else float('nan'):.0f}; solo hedges (one fill each): "
        f"n={len(solo)} p50 {pct(solo, 0.5) / 1e3:.0f} p99 {pct(solo, 0.99) / 1e3:.0f} "
        f"max {pct(solo, 1.0) / 1e3:.0f} us"
    )
    names = ("socket->adapter dequeue", "adapter->engine tracker", "tracker->GrvtVenue.place", "place->frame written")
    for i, name in enumerate(names):
        col = sorted(st[i] for st in all_stages)
        print(f"stage {name}: p50 {pct(col, 0.5) / 1e3:.0f} p99 {pct(col, 0.99) / 1e3:.0f} us (n={len(col)})")
    print(
        f"tick_to_trade_us p50={pct(lat, 0.5) / 1e3:.0f} p99={pct(lat, 0.99) / 1e3:.0f} "
        f"max={pct(lat, 1.0) / 1e3:.0f} n={len(lat)} loop_lag_p99_us={pct(lag, 0.99) / 1e3:.0f}"
    )
    return 0 if lat else 1


if __name__ == "__main__":
    sys.exit(main())

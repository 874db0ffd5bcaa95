"""Benchmark: tick-to-trade with the hedge leg on ccxt's GRVT client (``venues.grvt.kind = "ccxt"``) beside the
native GRVT adapter, in the same invocation, and the asyncio bridge's own cost on the hedge's order path.

The bot runs as ``python -m trio_hedge`` does by default, with the embedded wire simulators in its own process
(``scripts/bench_tick_to_trade.py --in-process``; ccxt's clients reach only the embedded simulators, whose URLs
they are given): its runs alternate, native GRVT hedge then ccxt GRVT hedge, with the same overrides
(``bench_tick_to_trade.DEFAULT_SETS``: a 0.05 BTC quote filled in many partial fills, limiters off, 4x replay),
each run ended after ``--cycles`` cycles. The primary leg is the native Backpack adapter in both.

What is measured (``time.perf_counter_ns``, one clock for both threads):

* **fill in** (both kinds): the ``recv`` system call that completed a Backpack maker ``orderFill`` frame
  (``bench_tick_to_trade.install_probes``: the socket tap of that script, unchanged).
* **hedge out, native**: the ``send`` system call that took the GRVT ``v1/create_order`` WebSocket frame (the same
  tap). **hedge out, ccxt**: ccxt sends GRVT orders over REST with aiohttp on the bridge's asyncio loop, which the
  Trio tap cannot see; this script wraps asyncio's socket transport (``_SelectorSocketTransport.write`` /
  ``writelines``, whose first ``send`` happens inside the call when the buffer is empty) and stamps the write
  that carries the ``POST`` head of a ``create_order`` request, made inside the bridge call of ``create_order``
  (a context variable set by the wrapper below marks it).
* **the bridge** (ccxt): every :meth:`AsyncioBridge.call` is wrapped: ``call`` (the Trio caller entered it),
  ``start`` (the coroutine began on the loop thread), ``end`` (it returned there), ``woken`` (the bridge's wake-up
  callback ran in the Trio thread: ``_bridge._wake`` wrapped), ``back`` (the Trio caller resumed). Bridge cost =
  (start - call) + (back - end): the two thread hops and the Trio wake-up, with the real order in flight; the rest
  (end - start) is ccxt and the venue. The way back is split at ``woken``: the hop to the Trio thread, then the
  Trio scheduler's wait before the caller runs (the event loop also carries the embedded simulators here).
  Reported for ``create_order`` and for every call. Each hop of a ``create_order`` is split further by what the
  receiving thread was doing meanwhile: the way in by the loop thread's busy spans (every asyncio callback and task
  step: ``Handle._run`` wrapped), the way back by the Trio thread's (every task step: a Trio instrument); the rest of
  the hop is the thread's wake-up and its wait for the GIL (and for a CPU on a loaded machine).

Tick-to-trade = hedge out - fill in, per maker fill, matched as ``bench_tick_to_trade.py`` does (a create is a
hedge start when a fill came before it and was not yet matched; every such fill is matched to it), offline from
the stamps for the ccxt runs. The native and ccxt figures differ by more than the bridge: ccxt signs and encodes
the order itself (Python) and sends it over REST instead of the adapter's WebSocket.

The LAST line is ``bridge_us p50=<> p99=<> n=<> t2t_native_us p50=<> p99=<> n=<> t2t_ccxt_us p50=<> p99=<>
n=<>`` (the bridge figures: create_order's bridge cost).

Both threads run Python under one GIL: a hop waits for the GIL while the other thread computes (ccxt signs GRVT
orders in Python on the loop thread; the Trio thread runs the bot and the embedded simulators), up to Python's
switch interval (``sys.getswitchinterval()``, 5 ms by default); ``--switch-interval-ms`` sets it for the run.

Usage: ``python scripts/bench_tick_to_trade_ccxt.py [--runs 2] [--cycles 30] [--switch-interval-ms MS]
[--set key=value ...]``
"""

from __future__ import annotations

import argparse
import contextvars
import shutil
import sys
import tempfile
from array import array
from pathlib import Path
from typing import Any

import trio
from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/bench_tick_to_trade.py
import bench_tick_to_trade as t2t  # noqa: E402

from trio_hedge.venues.ccxt import _bridge  # noqa: E402
from trio_hedge.venues.ccxt._bridge import AsyncioBridge  # noqa: E402

_now_ns = t2t._now_ns
_creating: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("bench_creating", default=None)
_current: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("bench_current", default=None)
Call = tuple[str, int, int, int, int, int, int]
CALLS: list[Call] = []
"""Per bridge call: (method, call, start, wire (create_order's request written; 0 otherwise), end, woken, back) ns."""


BUSY = array("q")
"""The loop thread's busy spans: (start, end) ns pairs of every callback or task step it ran (``Handle._run``)."""
TRIO_BUSY = array("q")
"""The Trio thread's busy spans: (start, end) ns pairs of every task step (a Trio instrument)."""


class _TrioBusy(trio.abc.Instrument):
    def before_task_step(self, task: Any) -> None:
        TRIO_BUSY.append(_now_ns())

    def after_task_step(self, task: Any) -> None:
        TRIO_BUSY.append(_now_ns())


_instrumented: list[Any] = []


def install_ccxt_probes() -> None:
    """Wrap :meth:`AsyncioBridge.call`, asyncio's socket transport writes and the loop's callbacks (this process
    only)."""
    import asyncio.events as ev
    import asyncio.selector_events as se

    orig_run = ev.Handle._run

    def run(self: Any) -> None:
        t0 = _now_ns()
        try:
            orig_run(self)
        finally:
            BUSY.append(t0)
            BUSY.append(_now_ns())

    ev.Handle._run = run  # type: ignore[method-assign]

    orig_call = AsyncioBridge.call
    orig_wake = _bridge._wake
    transport = se._SelectorSocketTransport
    orig_write, orig_writelines = transport.write, transport.writelines

    async def call(self: AsyncioBridge, fn: Any, *args: Any, **kw: Any) -> Any:
        # the venue's calls go through _session._answer(method, *args): name them by the ccxt method
        target = args[0] if getattr(fn, "__name__", "") == "_answer" and args else fn
        name = getattr(target, "__name__", "?")
        stamps = [0, 0, 0, 0]  # start, wire, end, woken

        async def stamped(*a: Any) -> Any:
            stamps[0] = _now_ns()
            _current.set(stamps)  # this asyncio task's own context: the bridge's wake-up reads it
            token = _creating.set(stamps if name == "create_order" else None)
            try:
                return await fn(*a)
            finally:
                _creating.reset(token)
                stamps[2] = _now_ns()

        token = trio.lowlevel.current_trio_token()
        if token not in _instrumented:  # this Trio run's task steps, from its first bridge call on
            _instrumented.append(token)
            trio.lowlevel.add_instrument(_TrioBusy())
        t_call = _now_ns()
        try:
            return await orig_call(self, stamped, *args, **kw)
        finally:
            CALLS.append((name, t_call, stamps[0], stamps[1], stamps[2], stamps[3], _now_ns()))

    def wake(token: Any, fn: Any) -> None:
        stamps = _current.get()
        if stamps is None:
            orig_wake(token, fn)
            return

        def woken() -> None:
            stamps[3] = _now_ns()
            fn()

        orig_wake(token, woken)

    def stamp(data: Any) -> None:
        stamps = _creating.get()
        if stamps is not None and not stamps[1] and bytes(data[:5]) == b"POST ":
            stamps[1] = _now_ns()

    def write(self: Any, data: Any) -> None:
        orig_write(self, data)
        stamp(data)

    def writelines(self: Any, chunks: Any) -> None:
        chunks = list(chunks)
        orig_writelines(self, chunks)
        if chunks:
            stamp(chunks[0])

    AsyncioBridge.call = call  # type: ignore[method-assign]
    _bridge._wake = wake
    transport.write = write  # type: ignore[method-assign]
    transport.writelines = writelines  # type: ignore[method-assign]


def busy_within(t0: int, t1: int, starts: list[int], ends: list[int]) -> int:
    """How long the loop thread ran callbacks within [t0, t1] (ns), from sorted, disjoint busy spans."""
    import bisect

    i = max(0, bisect.bisect_right(starts, t0) - 1)
    total = 0
    while i < len(starts) and starts[i] < t1:
        total += max(0, min(ends[i], t1) - max(starts[i], t0))
        i += 1
    return total


def match(fills_in: list[int], creates_out: list[int]) -> tuple[list[int], int]:
    """Tick-to-trade per fill (ns) from sorted fill-in and create-out stamps, as ``bench_tick_to_trade.Probe``
    matches them online; and the number of creates that were not hedge starts."""
    out: list[int] = []
    pending: list[int] = []
    others = 0
    events = sorted([(t, 0) for t in fills_in] + [(t, 1) for t in creates_out])
    for t, kind in events:
        if kind == 0:
            pending.append(t)
        elif pending:
            out.extend(t - t_in for t_in in pending)
            pending.clear()
        else:
            others += 1
    return out, others


def show(name: str, ns: Any) -> tuple[float, float]:
    v = sorted(ns)
    p50, p99 = t2t.pct(v, 0.5) / 1e3, t2t.pct(v, 0.99) / 1e3
    print(f"{name}: p50 {p50:.0f} p99 {p99:.0f} max {t2t.pct(v, 1.0) / 1e3:.0f} us (n={len(v)})", flush=True)
    return p50, p99


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=2, help="runs of each kind (alternating native, ccxt)")
    ap.add_argument("--cycles", type=int, default=30, help="cycles per run (engine.cycles)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra config override key=value")
    ap.add_argument("--switch-interval-ms", type=float, default=None,
                    help="sys.setswitchinterval for the run (default: Python's 5 ms): how long a thread waiting for "
                         "the GIL may wait while the other one computes (ccxt's signing on the loop thread)")
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1000)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    t2t.install_probes()
    install_ccxt_probes()
    sets = [*t2t.DEFAULT_SETS, f"engine.cycles={args.cycles}", *args.sets]
    print(f"in-process, journal off; GIL switch interval {sys.getswitchinterval() * 1000:g} ms; config.toml with: "
          f"{' '.join(sets)}; hedge leg native GRVT vs ccxt GRVT")
    native, ccxt_t2t = array("q"), array("q")
    in_busy: dict[tuple[int, int], int] = {}  # per create_order (call, start): of its "in" hop, the loop's busy time
    back_busy: dict[tuple[int, int], int] = {}  # of its hop back, the Trio thread's busy time (other task steps)
    bridge_runs: list[list[Call]] = []
    native_place_to_wire: list[int] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_t2t_ccxt_"))
    try:
        for run in range(1, args.runs + 1):
            for kind in ("native", "ccxt"):
                extra = ["venues.grvt.kind=ccxt"] if kind == "ccxt" else []
                CALLS.clear()
                del BUSY[:]
                del TRIO_BUSY[:]
                probe, _lag, summary, wall_s = t2t.one_run([*sets, *extra], False, in_process=True, journal=False,
                                                           tmp=tmp)  # fmt: skip
                if kind == "native":
                    native.extend(probe.latency_ns)
                    native_place_to_wire.extend(st[5] for st in probe.stages)
                    lat, others = list(probe.latency_ns), probe.other_creates
                else:
                    wires = sorted(c[3] for c in CALLS if c[0] == "create_order" and c[3])
                    lat, others = match(sorted(t for t, _tid in probe.pending), wires)
                    ccxt_t2t.extend(lat)
                v = sorted(lat)
                print(f"run {run} {kind}: {wall_s:.1f} s, {summary.get('cycles_completed')} cycles, {probe.fills} "
                      f"maker fills in, {len(lat)} matched ({others} other creates); tick-to-trade us p50 "
                      f"{t2t.pct(v, 0.5) / 1e3:.0f} p99 {t2t.pct(v, 0.99) / 1e3:.0f}", flush=True)
                if kind == "ccxt":
                    bridge_runs.append(list(CALLS))
                    starts, ends = list(BUSY[0::2]), list(BUSY[1::2])
                    for c in CALLS:
                        if c[0] == "create_order" and c[2]:
                            in_busy[(c[1], c[2])] = busy_within(c[1], c[2], starts, ends)
                    tstarts, tends = list(TRIO_BUSY[0::2]), list(TRIO_BUSY[1::2])
                    for c in CALLS:
                        if c[0] == "create_order" and c[4] and c[5]:
                            back_busy[(c[1], c[2])] = busy_within(c[4], c[5], tstarts, tends)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    calls = [c for run_calls in bridge_runs for c in run_calls if c[2] and c[4] and c[5]]
    creates = [c for c in calls if c[0] == "create_order"]
    print(f"bridge calls measured: {len(calls)} ({len(creates)} create_order)")
    b50, b99 = show("bridge cost, create_order: (start - call) + (back - end)",
                    [(s - c) + (b - e) for _n, c, s, _w, e, _k, b in creates])
    show("  in: Trio call -> coroutine running on the loop thread", [s - c for _n, c, s, *_ in creates])
    show("    of which the loop thread ran other callbacks (ccxt's work, the book watch)",
         [in_busy.get((c, s), 0) for _n, c, s, *_ in creates])
    show("    the rest: the loop's wake-up, the GIL", [(s - c) - in_busy.get((c, s), 0) for _n, c, s, *_ in creates])
    show("  out, hop: coroutine returned -> wake-up ran in the Trio thread", [k - e for *_x, e, k, _b in creates])
    show("    of which the Trio thread ran other task steps (the bot, the embedded simulators)",
         [back_busy.get((c, s), 0) for _n, c, s, *_ in creates])
    show("    the rest: the Trio thread's wake-up, the GIL",
         [(k - e) - back_busy.get((c, s), 0) for _n, c, s, _w, e, k, _b in creates])
    show("  out, scheduler: wake-up -> Trio caller resumed", [b - k for *_x, k, b in creates])
    show("bridge cost, every call", [(s - c) + (b - e) for _n, c, s, _w, e, _k, b in calls])
    show("ccxt create_order: bridge call -> request written (bridge in + ccxt signing, encoding)",
         [w - c for _n, c, _s, w, *_ in creates if w])
    show("ccxt create_order: request written -> coroutine returned (the venue's answer, ccxt parsing)",
         [e - w for _n, _c, _s, w, e, _k, _b in creates if w])
    show("native GrvtVenue.place -> create frame written", native_place_to_wire)
    n50, n99 = show("tick-to-trade, native GRVT hedge (fill recv -> create frame send)", native)
    c50, c99 = show("tick-to-trade, ccxt GRVT hedge (fill recv -> create request write)", ccxt_t2t)
    print(f"bridge_us p50={b50:.0f} p99={b99:.0f} n={len(creates)} t2t_native_us p50={n50:.0f} p99={n99:.0f} "
          f"n={len(native)} t2t_ccxt_us p50={c50:.0f} p99={c99:.0f} n={len(ccxt_t2t)}")
    return 0 if creates and native and ccxt_t2t else 1


if __name__ == "__main__":
    sys.exit(main())

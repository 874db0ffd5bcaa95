"""Soak test: the full bot over the wire, replaying the recordings again and again at high speed, watching
memory (RSS) and every trio memory channel.

Each round is one :func:`trio_hedge.app.run_bot` on ``config.toml`` (the real Backpack and GRVT adapters
against the embedded wire simulators on 127.0.0.1) with ``engine.cycles`` large and ``sim.speed`` high, so a
round ends when the recordings run out (345 s of data: ``345 / speed`` seconds); rounds repeat in the same
process and the same ``trio.run`` until ``--duration-s`` has passed (the round in progress finishes first).

Memory: RSS (``/proc/self/statm``) at the start (after imports), after ``--warmup-rounds`` rounds (the
baseline: caches, code paths and allocator arenas are then warm; measured on the shipped data: RSS rises
by about 60 MiB over the first three rounds, each of which loads and parses both recordings again, and then
stays flat) and at the end; the growth reported is end vs baseline; the per-round RSS is printed too. Target:
< 5 % growth over 30 minutes.

Channels: this script (its own process only) wraps ``trio.open_memory_channel`` to keep a weak reference to
every channel anyone opens (our adapters, engine and simulators, and trio-websocket's per-connection message
queue), labelled by the creating module and line. A sampler task (the ``sim_hook`` of ``run_bot``) reads each
live channel's ``statistics()`` every ``--sample-ms`` and keeps, per label, the largest buffer use seen and
its capacity. A channel "grows without bound" if it is unbounded (capacity inf) and its use keeps rising;
a bounded channel at its capacity is reported as saturated (its sender blocks: back-pressure, not growth).

The LAST line: ``soak duration_s=<> rounds=<> cycles=<> rss_start_mb=<> rss_base_mb=<> rss_end_mb=<>
rss_growth_pct=<> channels=<n labels> max_fill_pct=<worst bounded use / capacity> unbounded_growing=<n>``.

The journal is on by default (one SQLite file in a temp dir across the rounds, as ``python -m trio_hedge``
runs: intents committed before each send); ``--no-journal`` runs without it; ``--fresh-journal`` gives each
round its own new journal file (deleted after the round), to tell the journal's growth from the process's.

Usage: ``python scripts/soak.py [--duration-s 1800] [--speed 20] [--no-journal] [--set key=value ...]``
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from trio_hedge.app import load_config, run_bot
from trio_hedge.sim import SimExchange

REPO = Path(__file__).resolve().parent.parent
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """Resident set size of this process, MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


@dataclass(slots=True)
class ChannelStat:
    """What the sampler saw of the channels opened at one call site."""

    capacity: float
    opened: int = 0
    max_used: int = 0
    samples: list[int] = field(default_factory=list)  # per-round max use (unbounded growth check)


class ChannelRegistry:
    """Every memory channel opened in this process, by call site (see the module docstring)."""

    def __init__(self) -> None:
        self.live: weakref.WeakSet[Any] = weakref.WeakSet()
        self.label: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self.stats: dict[str, ChannelStat] = {}
        self.round_max: dict[str, int] = {}

    def install(self) -> None:
        orig = trio.open_memory_channel

        class _Open:
            def __getitem__(self_inner, _item: Any) -> _Open:  # trio.open_memory_channel[T](n)
                return self_inner

            def __call__(self_inner, max_buffer_size: float) -> Any:
                tx, rx = orig(max_buffer_size)
                frame = sys._getframe(1)
                where = f"{frame.f_globals.get('__name__', '?')}:{frame.f_lineno}"
                st = self.stats.get(where)
                if st is None:
                    st = self.stats[where] = ChannelStat(float(max_buffer_size))
                st.opened += 1
                self.live.add(tx)
                self.label[tx] = where
                return tx, rx

        trio.open_memory_channel = _Open()  # type: ignore[assignment,misc]

    def sample(self) -> None:
        for tx in list(self.live):
            try:
                used = tx.statistics().current_buffer_used
            except Exception:  # noqa: BLE001 - a channel being torn down: skip this sample
                continue
            where = self.label.get(tx)
            if where is None:
                continue
            st = self.stats[where]
            if used > st.max_used:
                st.max_used = used
            if used > self.round_max.get(where, 0):
                self.round_max[where] = used

    def end_round(self) -> None:
        for where, st in self.stats.items():
            st.samples.append(self.round_max.get(where, 0))
        self.round_max = {}


def growing(samples: list[int]) -> bool:
    """An unbounded channel whose per-round peak rose in each of the last three rounds (and exceeds 1000)."""
    tail = samples[-4:]
    return len(tail) == 4 and all(a < b for a, b in zip(tail, tail[1:], strict=False)) and tail[-1] > 1000


async def soak(args: argparse.Namespace, reg: ChannelRegistry) -> int:
    sets = [
        "engine.cycles=1000000",
        f"sim.speed={args.speed}",
        "risk.max_loss=1000000",
        *args.sets,
    ]
    print(f"config.toml with: {' '.join(sets)}", flush=True)
    config = load_config(REPO / "config.toml", sets)
    rss_start = rss_mb()
    rss_base = math.nan
    t0 = time.monotonic()
    rounds = cycles = 0
    bad_exits = 0

    async def sampler(_exchange: SimExchange) -> None:
        while True:
            reg.sample()
            await trio.sleep(args.sample_ms / 1000)

    jdir = None if args.no_journal else Path(tempfile.mkdtemp(prefix="soak-journal-"))
    while True:
        # with the journal on (the default, as `python -m trio_hedge` runs): one journal across the rounds, so
        # its connection, its thread and the inline intents are soaked too
        # (--fresh-journal: a new file per round, the old one deleted: a bot restarted on an empty journal)
        jpath = None if jdir is None else jdir / (f"j{rounds}.sqlite" if args.fresh_journal else "j.sqlite")
        result = await run_bot(config, sim_hook=sampler, journal_path=jpath)
        if args.fresh_journal and jpath is not None:
            for suffix in ("", "-wal", "-shm", ".lock"):
                await trio.Path(f"{jpath}{suffix}").unlink(missing_ok=True)
        reg.sample()
        reg.end_round()
        rounds += 1
        done = result.summary.get("cycles_completed", 0)
        cycles += done
        if result.exit_code != 0:
            bad_exits += 1
        gc.collect()
        rss = rss_mb()
        if rounds == args.warmup_rounds:
            rss_base = rss
        elapsed = time.monotonic() - t0
        print(
            f"round {rounds}: t={elapsed:.0f}s exit {result.exit_code} ({result.exit_reason[:60]}), {done} cycles, "
            f"RSS {rss:.1f} MiB, live channels {len(reg.live)}",
            flush=True,
        )
        if elapsed >= args.duration_s:
            break
    rss_end = rss_mb()
    growth = (rss_end - rss_base) / rss_base * 100 if rounds > args.warmup_rounds else math.nan
    worst = 0.0
    unbounded_growing = 0
    print("channels (call site: capacity, opened, max buffered):")
    for where, st in sorted(self_items(reg)):
        flag = ""
        if math.isinf(st.capacity):
            if growing(st.samples):
                unbounded_growing += 1
                flag = "  GROWING"
        elif st.capacity > 0:
            worst = max(worst, st.max_used / st.capacity * 100)
            if st.max_used >= st.capacity:
                flag = "  saturated (sender waited)"
        print(f"  {where}: {st.capacity:g}, {st.opened}, {st.max_used}{flag}  per-round peaks {st.samples[-6:]}")
    print(
        f"soak duration_s={time.monotonic() - t0:.0f} rounds={rounds} cycles={cycles} bad_exits={bad_exits} "
        f"rss_start_mb={rss_start:.1f} rss_base_mb={rss_base:.1f} base_round={args.warmup_rounds} "
        f"rss_end_mb={rss_end:.1f} "
        f"rss_growth_pct={growth:.2f} channels={len(reg.stats)} max_fill_pct={worst:.0f} "
        f"unbounded_growing={unbounded_growing}"
    )
    return 1 if unbounded_growing or bad_exits else 0


def self_items(reg: ChannelRegistry) -> list[tuple[str, ChannelStat]]:
    return list(reg.stats.items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--duration-s", type=float, default=1800.0, help="keep starting rounds until this has passed")
    ap.add_argument("--speed", type=float, default=20.0, help="replay speed (sim.speed)")
    ap.add_argument("--warmup-rounds", type=int, default=3, help="rounds before the RSS baseline is taken")
    ap.add_argument("--sample-ms", type=float, default=100.0, help="channel sampling period")
    ap.add_argument("--no-journal", action="store_true", help="run without the journal (it is on by default)")
    ap.add_argument("--fresh-journal", action="store_true",
                    help="a new journal file for each round (deleted after it) instead of one across the rounds")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra config override key=value")
    ap.add_argument("--log-level", default="ERROR")
    args = ap.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    reg = ChannelRegistry()
    reg.install()
    return trio.run(soak, args, reg)


if __name__ == "__main__":
    sys.exit(main())

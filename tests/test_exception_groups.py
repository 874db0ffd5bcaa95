"""Exception groups at task boundaries (``domain.sole_failure``): a group is unwrapped only when it holds exactly
one exception that is not ``trio.Cancelled``; otherwise every leaf is kept and logged, and a bug (anything that
is not a ``TrioHedgeError``) wins over expected failures in the exit code. End to end: two hedge workers fail in
the same instant, one with a bug, one with an expected failure; the bug is logged with its traceback, the
cleanup still flattens, and the run exits 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from loguru import logger

from trio_hedge.app import load_config, run_bot
from trio_hedge.domain import BadValue, leaves, sole_failure
from trio_hedge.engine import EXIT_FAILURE, HedgeFailed
from trio_hedge.venues import InsufficientMargin

from .synth import HEDGE, FaultyVenue, rising_bids, static_book, venue_overrides

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim"]


def _cancelled() -> trio.Cancelled:
    return trio.Cancelled._create()  # no public constructor; trio's own tests build it so


def test_a_group_with_one_real_failure_unwraps_to_it() -> None:
    err = ValueError("boom")
    assert sole_failure(ExceptionGroup("g", [err])) is err
    nested = BaseExceptionGroup("outer", [_cancelled(), BaseExceptionGroup("inner", [_cancelled(), err])])
    assert sole_failure(nested) is err  # cancellations do not count, at any depth


def test_several_failures_or_only_cancellations_stay_a_group() -> None:
    a, b = AssertionError("bug"), BadValue("expected")
    group = ExceptionGroup("g", [a, ExceptionGroup("inner", [b])])
    assert sole_failure(group) is group
    assert leaves(group) == [a, b]
    only_cancelled = BaseExceptionGroup("g", [_cancelled(), _cancelled()])
    assert sole_failure(only_cancelled) is only_cancelled
    plain = KeyError("k")
    assert sole_failure(plain) is plain and leaves(plain) == [plain]


class _TwoHedgesFailTogether(FaultyVenue):
    """The hedge venue: its first hedge order waits until the second one arrives; then both fail, the first
    with ``first()`` and the second with ``second()``, in the same instant (the second raises at once, the
    first is already woken by then and raises without a checkpoint), so the hedge scope's nursery holds both
    failures."""

    def __init__(self, inner: Any, first: Callable[[], Exception], second: Callable[[], Exception]) -> None:
        super().__init__(inner)
        self._errors = [first, second]
        self._both_sent = trio.Event()

    async def place(self, request: Any) -> Any:
        if request.reason == "hedge" and self._errors:
            error = self._errors.pop(0)
            if self._errors:
                with trio.fail_after(10):
                    await self._both_sent.wait()
            else:
                self._both_sent.set()
            raise error()
        return await super().place(request)


def _bug() -> Exception:
    return AssertionError("hedge worker invariant broken")


@pytest.mark.parametrize("expected", ["HedgeFailed", "MarketHalted"])
async def test_a_bug_beside_an_expected_failure_is_logged_flattened_and_exits_1(
    autojump_clock: trio.testing.MockClock, tmp_path: Path, expected: str
) -> None:
    expected_error: Callable[[], Exception] = {
        # a route's failure arriving in the same instant, raised where the route would raise it
        "HedgeFailed": lambda: HedgeFailed("hedge SELL 0.001: ladder exhausted"),
        # a halting refusal: submit_order turns it into MarketHalted
        "MarketHalted": lambda: InsufficientMargin(HEDGE, "margin", code="insufficient_margin"),
    }[expected]
    overrides = [
        *venue_overrides("backpack", rising_bids(tmp_path / "p.gz"), symbol="BTC_USDC_PERP"),
        *venue_overrides("grvt", static_book(tmp_path / "h.gz", [("100.0", "50")], [("110.0", "50")]),
                         symbol="BTC_USDT_Perp"),
        "venues.backpack.min_notional=0", "venues.grvt.min_notional=0", "markets.0.order_size=0.010",
        "markets.0.requote_after_ms=30", "markets.0.min_edge_bps=-10000",
        "markets.0.price_band_bps=10000", "engine.cycles=1", "sim.speed=1",
    ]
    config = load_config(REPO / "config.toml", [*IN_PROCESS, *overrides])
    seen: dict[str, Any] = {}

    async def wrap_hedge(exchange: Any, raw: dict[str, Any], keys: dict[str, str]) -> None:
        seen["exchange"] = exchange
        raw[HEDGE] = _TwoHedgesFailTogether(raw[HEDGE], expected_error, _bug)

    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}\n{exception}", level="ERROR")
    try:
        result = await run_bot(config, before_trading=wrap_hedge)
    finally:
        logger.remove(sink)
    assert result.exit_code == EXIT_FAILURE, result.exit_reason
    assert "bug: AssertionError: hedge worker invariant broken" in result.exit_reason
    assert expected in result.exit_reason  # the expected failure is kept too, not dropped
    # the bug logged with its traceback (the frame that raised it included)
    logged = "\n".join(lines)
    assert "Traceback" in logged and "AssertionError: hedge worker invariant broken" in logged
    assert "in place" in logged
    # the cleanup still flattened both legs
    assert "flat on every venue" in result.exit_reason
    exchange = seen["exchange"]
    assert exchange.engine("backpack", "BTC_USDC_PERP").position().size == 0
    assert exchange.engine("grvt", "BTC_USDT_Perp").position().size == 0
    assert any(f.is_maker for f in exchange.engine("backpack", "BTC_USDC_PERP").fills)  # there was something

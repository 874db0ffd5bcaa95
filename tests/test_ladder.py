"""The slippage ladder (``MarketSettings.slippage_ladder_bps``) as a property: for any cap, step and hard cap
the config loader accepts, the ladder starts at the cap, is strictly increasing, never steps by more than the
step, and ends exactly at the hard cap; and a routed hedge never fills past the hard cap (without the market
fallback), with a step that does not land on it (10 / 15 / 30)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_hedge.app import load_config
from trio_hedge.domain import Side
from trio_hedge.engine import HedgeFailed, HedgeRouter, OrderTracker

from .synth import HEDGE, HEDGE_SYMBOL, market_settings, sim_pair, static_book

D = Decimal
REPO = Path(__file__).resolve().parent.parent
bps = st.decimals(min_value=D("0.1"), max_value=D("500"), places=1, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(cap=bps, step=bps, extra=st.decimals(min_value=D(0), max_value=D("500"), places=1))
def test_the_ladder_rises_strictly_by_at_most_the_step_and_ends_exactly_at_the_hard_cap(
    cap: Decimal, step: Decimal, extra: Decimal
) -> None:
    hard = cap + extra
    ladder = market_settings(slippage_cap_bps=cap, slippage_cap_step_bps=step,
                             hard_slippage_cap_bps=hard).slippage_ladder_bps()
    assert ladder[0] == cap
    assert ladder[-1] == hard
    assert all(a < b <= a + step for a, b in zip(ladder, ladder[1:], strict=False))
    assert max(ladder) == hard


def test_a_step_that_does_not_land_on_the_hard_cap_is_clamped_to_it() -> None:
    config = load_config(REPO / "config.toml", ["markets.0.slippage_cap_bps=10", "markets.0.slippage_cap_step_bps=15",
                                                "markets.0.hard_slippage_cap_bps=30"])  # the loader accepts it
    assert config.markets[0].slippage_ladder_bps() == [D("10"), D("25"), D("30")]


async def test_no_hedge_fill_lands_past_the_hard_cap(autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    """Bids: one lot at the arrival price 100.0, then depth only at 99.6 (40 bps away). Caps 10 / 25 / 30 bps,
    no market fallback: the route takes the one lot and fails; nothing fills at 99.6."""
    hedge_rec = static_book(tmp_path / "h.gz", [("100.0", "0.001"), ("99.6", "5")], [("100.1", "5")])
    primary_rec = static_book(tmp_path / "p.gz", [("100.0", "5")], [("100.1", "5")])
    s = market_settings(slippage_cap_bps=D("10"), slippage_cap_step_bps=D("15"), hard_slippage_cap_bps=D("30"),
                        market_fallback=False)
    error: Exception | None = None
    async with sim_pair(primary_rec, hedge_rec) as (exchange, _primary, hedge):
        async with trio.open_nursery() as nursery:
            tracker = OrderTracker(hedge, HEDGE_SYMBOL, inbox_capacity=16)
            await nursery.start(tracker.run)
            router = HedgeRouter(hedge, tracker, HEDGE_SYMBOL, s, counters={})
            try:
                await router.route(Side.SELL, D("0.003"))
            except HedgeFailed as exc:
                error = exc
            nursery.cancel_scope.cancel()
        fills = exchange.engine(HEDGE, HEDGE_SYMBOL).fills
    hard_limit = D("100.0") * (1 - D("30") / 10_000)  # 99.7
    assert [(f.price, f.size) for f in fills] == [(D("100.0"), D("0.001"))]
    assert all(f.price >= hard_limit for f in fills)
    assert isinstance(error, HedgeFailed) and "0.002 unfilled" in str(error)

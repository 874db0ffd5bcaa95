"""A graceful stop (SIGINT) while a quote rests: the journal must equal the venues at exit (issue 5).

The cleanup's cancel-all cancels the resting quote; its cancel event arrives on the private stream after the
market scope stopped reading it, so only the exit step ``_sync_inflight`` (``app/_run.py``) can record how
the order ended. In-process venues, virtual time, the journal in ``tmp_path``.
"""

from __future__ import annotations

import signal
from pathlib import Path

import trio

from trio_hedge.app import Journal, load_config, run_bot
from trio_hedge.domain import OrderStatus
from trio_hedge.engine import EXIT_OK
from trio_hedge.sim import SimExchange

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim", 'engine.markets=["BTC"]']
"""In-process venues, the BTC market alone (these tests were written for one market; tests/test_markets.py has
the default run's two)."""
LEGS = (("backpack", "BTC_USDC_PERP"), ("grvt", "BTC_USDT_Perp"))


def journal_matches_venues(j: Journal, exchange: SimExchange, keys: dict[str, str]) -> None:
    """Assert: nothing in flight; every order the venue saw was journaled, with the venue's status (an intent
    the venue never saw: REJECTED as unknown to it); fills equal the venue's history."""
    assert [(i.venue, i.client_order_id, i.request.reason, i.status.value) for i in j.inflight()] == []
    for name, symbol in LEGS:
        eng = exchange.engine(name, symbol)
        rows = j._live().execute("SELECT client_order_id FROM intents WHERE venue = ?", (keys[name],)).fetchall()
        coids = [r[0] for r in rows]
        assert len(coids) == len(set(coids))
        assert set(eng._orders) <= set(coids)  # every order the venue saw was journaled first
        for coid in coids:
            row, order = j.intent(keys[name], coid), eng.get_order(coid)
            assert row is not None
            if order is None:  # a send the stop cut short before it reached the venue: never accepted
                assert row.status is OrderStatus.REJECTED and "unknown to the venue" in row.status_reason, row
                continue
            assert row.status is order.status, (name, coid, row.request.reason, row.status, order.status)
        venue_fills = sorted((f.trade_id, f.client_order_id, str(f.side), f.price, f.size) for f in eng.fills)
        journal_fills = sorted((f.trade_id, f.client_order_id, str(f.side), f.price, f.size)
                               for f in j.fills(venue=keys[name]))
        assert journal_fills == venue_fills


async def test_sigint_while_a_quote_rests_leaves_the_journal_equal_to_the_venues(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The stop comes while the quote rests (its place ack may still be on its way): the cleanup cancels it."""
    jpath = tmp_path / "j.sqlite"
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1000"])
    seen: dict[str, object] = {}

    async def stop_while_resting(exchange: SimExchange) -> None:
        primary = exchange.engine("backpack", "BTC_USDC_PERP")
        seen["x"] = exchange
        await trio.sleep(2)  # a few cycles first
        while not primary.open_orders():  # noqa: ASYNC110 - simulator state: nothing to wait on
            await trio.sleep(0.001)
        seen["resting"] = [o.client_order_id for o in primary.open_orders()]
        signal.raise_signal(signal.SIGINT)  # run_bot's watcher: graceful stop (cancel, flatten, exit)

    result = await run_bot(config, handle_signals=True, journal_path=jpath, sim_hook=stop_while_resting)
    assert result.exit_code == EXIT_OK, result.exit_reason
    assert "stopped by SIGINT" in result.exit_reason
    exchange = seen["x"]
    assert isinstance(exchange, SimExchange)
    primary = exchange.engine("backpack", "BTC_USDC_PERP")
    resting = seen["resting"]
    assert isinstance(resting, list) and resting
    # The quote that rested when the stop came ended CANCELLED by the cleanup, or FILLED if the market crossed
    # it while the cancel was on its way (a real race: the journal's fsync runs in a thread, and while trio waits
    # on it the autojump clock lets the replay move). Either way it no longer rests, the journal has the venue's
    # status, and a fill that won the race was flattened on both legs.
    ended = {c: primary.get_order(c).status for c in resting}
    assert set(ended.values()) <= {OrderStatus.CANCELLED, OrderStatus.FILLED}, ended
    assert primary.open_orders() == []
    assert primary.position().size == 0
    assert exchange.engine("grvt", "BTC_USDT_Perp").position().size == 0
    with Journal.open(jpath) as j:
        journal_matches_venues(j, exchange, result.journal_venues)
        for coid, status in ended.items():
            row = j.intent(result.journal_venues["backpack"], coid)
            assert row is not None and row.status is status, (coid, row, status)
        assert [r.exit_code for r in j.runs()] == [EXIT_OK]


async def test_sigint_right_after_a_maker_fill_leaves_the_journal_equal_to_the_venues(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    """The stop comes while the primary holds a position (the hedge on its way or not yet sent): the cleanup
    flattens; the journal still ends equal to the venues."""
    jpath = tmp_path / "j.sqlite"
    config = load_config(REPO / "config.toml", [*IN_PROCESS, "engine.cycles=1000"])
    seen: dict[str, object] = {}

    async def stop_when_exposed(exchange: SimExchange) -> None:
        primary = exchange.engine("backpack", "BTC_USDC_PERP")
        seen["x"] = exchange
        await trio.sleep(2)
        while primary.position().size == 0:  # noqa: ASYNC110 - simulator state: nothing to wait on
            await trio.sleep(0.001)
        signal.raise_signal(signal.SIGINT)

    result = await run_bot(config, handle_signals=True, journal_path=jpath, sim_hook=stop_when_exposed)
    assert result.exit_code == EXIT_OK, result.exit_reason
    exchange = seen["x"]
    assert isinstance(exchange, SimExchange)
    assert exchange.engine("backpack", "BTC_USDC_PERP").position().size == 0
    assert exchange.engine("grvt", "BTC_USDT_Perp").position().size == 0
    with Journal.open(jpath) as j:
        journal_matches_venues(j, exchange, result.journal_venues)

"""Several markets in one process (issue 13): BTC and ETH over one session per venue, failure isolation (a
market's own failure flattens that market, the venue's own flattens every market on it), the portfolio guard
across markets, and the config's venue symbols. In-process venues on the shipped recordings, virtual time."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_hedge.app import ConfigError, load_config, run_bot
from trio_hedge.domain import TimeInForce
from trio_hedge.engine import EXIT_DO_NOT_RESTART, EXIT_VENUE_UNREACHABLE
from trio_hedge.sim import SimExchange

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim"]
ETH_LEGS = (("backpack", "ETH_USDC_PERP"), ("grvt", "ETH_USDT_Perp"))
BTC_LEGS = (("backpack", "BTC_USDC_PERP"), ("grvt", "BTC_USDT_Perp"))


def _config(*extra: str) -> Any:
    return load_config(REPO / "config.toml", [*IN_PROCESS, *extra])


def _flat_everywhere(summary: dict[str, Any]) -> None:
    final = summary["final_positions"]
    assert {(v, s) for v, syms in final.items() for s in syms} == {*BTC_LEGS, *ETH_LEGS}
    assert all(Decimal(p) == 0 for syms in final.values() for p in syms.values()), final


async def _filled(exchange: SimExchange, venue: str, symbol: str) -> None:
    """Wait (bounded) until ``venue``/``symbol`` has a fill: the market is trading and exposed."""
    with trio.fail_after(300):
        while not exchange.engine(venue, symbol).fills:  # noqa: ASYNC110 - simulator state, no event to wait on
            await trio.sleep(0.05)


def test_default_config_runs_btc_and_eth_over_one_session_per_venue() -> None:
    c = load_config(REPO / "config.toml")
    assert [(m.name, m.primary_symbol, m.hedge_symbol) for m in c.markets] == [
        ("BTC", "BTC_USDC_PERP", "BTC_USDT_Perp"), ("ETH", "ETH_USDC_PERP", "ETH_USDT_Perp")]
    assert c.traded_symbols("backpack") == ("BTC_USDC_PERP", "ETH_USDC_PERP")
    assert c.traded_symbols("grvt") == ("BTC_USDT_Perp", "ETH_USDT_Perp")
    eth = c.venues["grvt"].symbols["ETH_USDT_Perp"].market
    assert eth is not None and eth.inverse and eth.contract_value_quote == 10
    assert eth.recording.name == "hftbacktest_binance-coinm_ETHUSD_PERP_20240808.gz" and eth.recording.exists()
    assert eth.taker_fee_bps == c.venues["grvt"].taker_fee_bps  # a symbol's fees default to the venue's
    btc, eth_m = c.markets
    assert (btc.max_position, eth_m.max_position) == (Decimal("0.01"), Decimal("0.25"))
    assert c.portfolio is not None and c.portfolio.max_total_loss == Decimal("40")


async def test_feed_kill_on_one_symbol_flattens_that_market_while_the_other_completes(
        autojump_clock: trio.testing.MockClock) -> None:
    killed_at: list[float] = []

    async def kill_eth_feed(exchange: SimExchange) -> None:
        await _filled(exchange, "backpack", "ETH_USDC_PERP")
        killed_at.append(trio.current_time())
        exchange.kill_feed("backpack", "ETH_USDC_PERP")

    result = await run_bot(_config("engine.cycles=6"), sim_hook=kill_eth_feed)
    s = result.summary
    assert killed_at
    eth, btc = s["markets"]["ETH"], s["markets"]["BTC"]
    assert "FeedDown" in eth["exit_reason"] and "ETH_USDC_PERP" in eth["exit_reason"], eth["exit_reason"]
    assert [h["reason"].split(":")[0] for h in eth["halts"]] == ["FeedDown"]
    assert btc["cycles_completed"] == 6 and btc["halts"] == [], btc["exit_reason"]
    assert btc["exit_reason"] == "completed 6 cycles"
    assert s["cycles_completed"] == 6 + eth["cycles_completed"]  # the top level is the sum
    assert result.exit_code == EXIT_VENUE_UNREACHABLE  # a market failed: the run says so
    _flat_everywhere(s)


@pytest.mark.slow  # 13-24 s: runs in CI's slow/chaos pass (.ci/run), keeps the default run under budget
async def test_two_markets_journal_every_order_and_fill_under_their_market(
        autojump_clock: trio.testing.MockClock, tmp_path: Path) -> None:
    from trio_hedge.app import Journal

    jpath = tmp_path / "j.sqlite"
    seen: list[SimExchange] = []

    async def grab(exchange: SimExchange) -> None:
        seen.append(exchange)

    result = await run_bot(_config("engine.cycles=3"), journal_path=jpath, sim_hook=grab)
    assert result.exit_code == 0, result.exit_reason
    keys = result.journal_venues
    with Journal.open(jpath) as j:
        for name, symbol in (*BTC_LEGS, *ETH_LEGS):
            eng = seen[0].engine(name, symbol)
            intents = [i for i in j._live().execute("SELECT client_order_id, symbol, market FROM intents i "
                                                    "LEFT JOIN cycles c ON c.cycle_id = i.cycle_id "
                                                    "WHERE venue = ? AND symbol = ?", (keys[name], symbol))]
            # every order the venue saw on this symbol was journaled first, under its own market
            assert {i[0] for i in intents} == set(eng._orders), (name, symbol)
            market = symbol.split("_")[0]
            assert intents and market in {i[2] for i in intents} <= {market, None}, (name, symbol)
            venue_fills = {(f.trade_id, f.client_order_id, f.size, f.price) for f in eng.fills}
            journal_fills = [(f.trade_id, f.client_order_id, f.size, f.price)
                             for f in j.fills(venue=keys[name]) if f.symbol == symbol]
            assert venue_fills and len(journal_fills) == len(set(journal_fills)) and set(journal_fills) == venue_fills


async def test_private_stream_down_flattens_every_market_on_the_venue(
        autojump_clock: trio.testing.MockClock) -> None:
    async def drop_private(exchange: SimExchange) -> None:
        await _filled(exchange, "backpack", "BTC_USDC_PERP")
        await _filled(exchange, "backpack", "ETH_USDC_PERP")
        exchange.kill_private("backpack", "connection reset")

    result = await run_bot(_config("engine.cycles=1000"), sim_hook=drop_private)
    s = result.summary
    for name in ("BTC", "ETH"):
        m = s["markets"][name]
        assert "VenueDown" in m["exit_reason"] and "backpack session down" in m["exit_reason"], m["exit_reason"]
        assert m["cycles_completed"] < 1000
    assert result.exit_code == EXIT_VENUE_UNREACHABLE
    _flat_everywhere(s)


async def test_portfolio_total_loss_halts_every_market(autojump_clock: trio.testing.MockClock) -> None:
    # each market's own kill switch stays at 25; the total one at 0.5 trips on their summed loss
    result = await run_bot(_config("engine.cycles=1000", "risk.max_total_loss=0.5"))
    s = result.summary
    assert result.exit_code == EXIT_DO_NOT_RESTART, result.exit_reason
    for name in ("BTC", "ETH"):
        m = s["markets"][name]
        assert "LossLimitHit" in m["exit_reason"] and "portfolio kill switch" in m["exit_reason"], m["exit_reason"]
    assert Decimal(s["pnl_quote"]["total"]) <= Decimal("-0.5")
    _flat_everywhere(s)


async def test_portfolio_total_notional_holds_quotes_back(autojump_clock: trio.testing.MockClock) -> None:
    # one BTC quote (0.002 x ~61,000 = ~122) or one ETH quote (0.05 x ~2,680 = ~134) fits under 200, not both
    result = await run_bot(_config("engine.cycles=3", "risk.max_total_notional=200"))
    s = result.summary
    assert result.exit_code == 0, result.exit_reason
    held = sum(m["quote_skips"].get("max_total_notional", 0) for m in s["markets"].values())
    assert held > 0, {n: m["quote_skips"] for n, m in s["markets"].items()}
    assert all(m["cycles_completed"] == 3 for m in s["markets"].values())
    _flat_everywhere(s)


async def test_a_market_runs_its_own_cycle_mode_beside_the_engine_default(
        autojump_clock: trio.testing.MockClock) -> None:
    # engine.cycle_mode stays "inventory" (BTC); ETH (markets.1) sets its own "roundtrip"
    seen: list[SimExchange] = []

    async def grab(exchange: SimExchange) -> None:
        seen.append(exchange)

    result = await run_bot(_config("engine.cycles=3", "markets.1.cycle_mode=roundtrip"), sim_hook=grab)
    s = result.summary
    assert result.exit_code == 0, result.exit_reason
    btc, eth = s["markets"]["BTC"], s["markets"]["ETH"]
    assert (btc["cycle_mode"], eth["cycle_mode"]) == ("inventory", "roundtrip")
    assert btc["cycles_completed"] == eth["cycles_completed"] == 3
    orders = {name: [seen[0].engine("backpack", symbol).get_order(c)
                     for c in seen[0].engine("backpack", symbol)._orders]
              for name, symbol in (("BTC", "BTC_USDC_PERP"), ("ETH", "ETH_USDC_PERP"))}
    # inventory: every primary order is a post-only quote, maker both ways (no unwind, no cleanup flatten)
    assert orders["BTC"] and all(o.request.post_only and o.request.tif is TimeInForce.GTT for o in orders["BTC"])
    assert btc["maker_share"] == 1.0
    # roundtrip: each cycle's primary leg is unwound by a reduce-only taker IOC
    unwinds = [o for o in orders["ETH"] if not o.request.post_only]
    assert all(o.request.tif is TimeInForce.IOC and o.request.reduce_only for o in unwinds), unwinds
    assert sum(o.filled_size for o in unwinds) >= 3 * Decimal("0.05")
    assert eth["maker_share"] is not None and eth["maker_share"] < 1.0
    _flat_everywhere(s)


@pytest.mark.parametrize(("overrides", "key", "fix"), [
    (["markets.1.primary_symbol=SOL_USDC_PERP"], "markets.1.primary_symbol", "[venues.backpack.symbols.SOL_USDC_PERP]"),
    (["markets.1.hedge_symbol=BTC_USDT_Perp"], "markets.1.hedge_symbol", "its own symbol"),
    (["venues.grvt.symbols.SOL_USDT_Perp.base=SOL"], "venues.grvt.symbols.SOL_USDT_Perp.contract", "add it"),
    (["venues.grvt.symbols.ETH_USDT_Perp.tick=0.01"], "venues.grvt.symbols.ETH_USDT_Perp.tick", "tick_size"),
    (["venues.grvt.symbols.BTC_USDT_Perp.base=BTC"], "venues.grvt.symbols.BTC_USDT_Perp", "remove this table"),
    (["markets.1.max_position=0.01"], "markets.1.max_position", "max_position >= 0.05"),
    (["risk.max_total_loss=0"], "risk.max_total_loss", "positive"),
    (["markets.1.edge_memory_ms=-1"], "markets.1.edge_memory_ms", ">= 0"),
])
def test_market_and_symbol_config_errors_name_the_key_and_the_fix(overrides: list[str], key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(REPO / "config.toml", overrides)
    assert info.value.key == key, info.value
    assert fix in info.value.fix, info.value.fix


def test_a_one_market_file_still_runs_one_market(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text('[[markets]]\nname = "BTC"\n')
    c = load_config(path)
    assert [m.name for m in c.markets] == ["BTC"]
    assert c.traded_symbols("backpack") == ("BTC_USDC_PERP",)  # the ETH recording is not replayed


def test_a_journal_error_copies_with_its_attributes() -> None:
    # two markets' intents meet in one journal batch; a failed batch hands each intent a copy of the error
    # (app/_journal/_async.py): the copy used to raise TypeError on the journal thread and kill it
    import copy

    from trio_hedge.app._journal._schema import JournalIOError

    exc = JournalIOError("/j.sqlite", "record_intents", OSError("disk I/O error"))
    dup = copy.copy(exc)
    assert (str(dup), dup.path, dup.operation, dup.sqlite_error) == (str(exc), exc.path, exc.operation, "OSError")

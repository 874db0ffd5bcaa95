"""Configuration: the shipped file equals the defaults; every error names the key and the fix."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_hedge.app import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_equals_builtin_defaults() -> None:
    shipped = load_config(REPO / "config.toml")
    builtin = load_config(None)
    assert shipped.markets == builtin.markets
    assert shipped.venues == builtin.venues
    assert shipped.sim == builtin.sim and shipped.primary == builtin.primary and shipped.hedge == builtin.hedge


def test_overrides_apply_with_exact_decimals() -> None:
    c = load_config(None, ["engine.cycles=5", "markets.0.order_size=0.003", "sim.speed=10"])
    assert c.markets[0].cycles == 5
    assert c.markets[0].order_size == Decimal("0.003")
    assert c.sim.speed == 10.0


@pytest.mark.parametrize(
    "override,key",
    [
        ("engine.cycles=0", "engine.cycles"),
        ("engine.cycles=abc", "engine.cycles"),
        ("engine.cyclez=3", "engine.cyclez"),
        ("markets.0.order_size=-1", "markets.0.order_size"),
        ("markets.0.order_size=0.0015", "markets.0.order_size"),
        ("markets.0.slippage_cap_bps=nan", "markets.0.slippage_cap_bps"),
        ("risk.feed_down_budget_ms=0", "risk.feed_down_budget_ms"),
        ("engine.hedge=backpack", "engine.hedge"),
        ("engine.primary=kraken", "engine.primary"),
        ("venues.grvt.kind=kraken", "venues.grvt.kind"),
        ("venues.grvt.endpoint=mainnet", "venues.grvt.endpoint"),
        ("venues.grvt.rest_url=x", "venues.grvt.rest_url"),
        ("venues.grvt.recording=/nonexistent.gz", "venues.grvt.recording"),
        ("venues.grvt.tick_size=0", "venues.grvt.tick_size"),
        ("log.level=LOUD", "log.level"),
        ("venues.grvt.private_ws=websockets", "venues.grvt.private_ws"),
        ("markets.3.order_size=1", "markets.3.order_size"),
    ],
)
def test_errors_name_the_key_and_the_fix(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert info.value.key == key
    assert "Fix:" in str(info.value) and info.value.fix


def test_float_for_a_decimal_key_in_a_file_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[[markets]]\nname = "BTC"\norder_size = 0.002\n')
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert info.value.key == "markets.0.order_size" and "string" in info.value.fix


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("[engine\ncycles = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


LIVE_GRVT = ["venues.grvt.kind=grvt", "venues.grvt.endpoint=live", "venues.grvt.sub_account_id=8289849667772468"]


def test_live_venue_needs_credentials_and_names_the_env_vars() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, LIVE_GRVT)
    assert "TRIO_HEDGE_GRVT_API_KEY" in str(info.value) or "TRIO_HEDGE_GRVT_PRIVATE_KEY" in str(info.value)


def test_live_credentials_from_env_are_kept_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIO_HEDGE_GRVT_API_KEY", "CANARYkey123456")
    monkeypatch.setenv("TRIO_HEDGE_GRVT_PRIVATE_KEY", "ab" * 32)
    c = load_config(None, LIVE_GRVT)
    v = c.venues["grvt"]
    assert v.endpoint == "live" and v.market is None and v.live is not None
    assert v.live.urls["trades_url"] == "https://trades.grvt.io" and v.live.chain_id == 325
    assert "CANARYkey123456" not in repr(c) and "ab" * 32 not in repr(c)
    assert set(c.secrets) == {"CANARYkey123456", "ab" * 32}


def test_secrets_file_must_be_private(tmp_path: Path) -> None:
    sf = tmp_path / "grvt.toml"
    sf.write_text('api_key = "CANARYkey123456"\nprivate_key = "' + "cd" * 32 + '"\n')
    sf.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        load_config(None, [*LIVE_GRVT, f'venues.grvt.secrets_file="{sf}"'])
    assert "chmod 600" in info.value.fix and "CANARYkey" not in str(info.value)
    sf.chmod(0o600)
    c = load_config(None, [*LIVE_GRVT, f'venues.grvt.secrets_file="{sf}"'])
    assert c.venues["grvt"].live is not None and c.venues["grvt"].live.api_key == "CANARYkey123456"


def test_plaintext_live_urls_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIO_HEDGE_GRVT_API_KEY", "k" * 10)
    monkeypatch.setenv("TRIO_HEDGE_GRVT_PRIVATE_KEY", "ab" * 32)
    with pytest.raises(ConfigError) as info:
        load_config(None, [*LIVE_GRVT, 'venues.grvt.trades_url="http://trades.example.com"'])
    assert info.value.key == "venues.grvt.trades_url"


_KEYS = [
    "engine.cycles", "engine.primary", "engine.event_capacity", "markets.0.order_size", "markets.0.slippage_cap_bps",
    "markets.0.requote_after_ms", "markets.0.hedge_attempts", "risk.feed_down_budget_ms", "risk.imbalance_tolerance",
    "risk.max_position", "sim.speed", "sim.latency_ms", "log.level", "venues.grvt.tick_size", "venues.grvt.kind",
    "venues.backpack.endpoint", "venues.backpack.contract", "journal.path", "nosuch.key", "markets.9.x", "",
]
_VALUES = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e999", "0.0000001", '"x"', "[]", "{}", "true", "1.5",
                     "99999999999999999999", '"0.002"', "sim", "live", "grvt", "\u0000", "=", ""]),
    st.text(max_size=20),
    st.integers(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_KEYS), _VALUES), max_size=4))
def test_fuzzed_overrides_give_a_config_or_a_config_error(pairs: list[tuple[str, object]]) -> None:
    """Any override either yields a valid config or a ConfigError naming a key: never another exception."""
    overrides = [f"{k}={v}" for k, v in pairs]
    try:
        load_config(None, overrides)
    except ConfigError as exc:
        assert exc.key and exc.fix


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_fuzzed_config_files_give_a_config_or_a_config_error(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.toml"
        p.write_text(text, encoding="utf-8")
        try:
            load_config(p)
        except ConfigError as exc:
            assert exc.key and exc.fix


def test_venue_timeouts_share_one_set_of_keys_and_reach_the_adapters() -> None:
    from trio_hedge.venues import SessionTimeouts
    from trio_hedge.venues.backpack import BackpackSettings
    from trio_hedge.venues.grvt import GrvtSettings

    c = load_config(None, ["venues.backpack.timeouts.request_ms=800", "venues.grvt.timeouts.heartbeat_ms=250",
                           "venues.grvt.timeouts.heartbeat_deadline_ms=400"])
    bp, gr = c.venues["backpack"].timeouts, c.venues["grvt"].timeouts
    assert (bp.request_s, bp.connect_s, bp.private_stream_budget_s) == (0.8, 5.0, 3.0)
    assert (gr.heartbeat_s, gr.heartbeat_deadline_s, gr.connect_s) == (0.25, 0.4, 3.0)
    bs = BackpackSettings("http://127.0.0.1:1", "ws://127.0.0.1:1/", "k", "s", ("X",)).with_timeouts(bp)
    assert (bs.request_budget_s, bs.connect_s, bs.close_budget_s, bs.private_stream_budget_s) == (0.8, 5.0, 2.0, 3.0)
    gs = GrvtSettings.for_single_host("http://127.0.0.1:1", "ws://127.0.0.1:1/ws/full", api_key="k",
                                      private_key="ab" * 32, sub_account_id="1", chain_id=325,
                                      symbols=("X",)).with_timeouts(gr)  # fmt: skip
    assert (gs.heartbeat_interval_s, gs.heartbeat_timeout_s, gs.connect_timeout_s, gs.rest_timeout_s) == (
        0.25, 0.4, 3.0, 5.0)
    # the in-process kind takes the same keys (and ignores them): its defaults for the ones left out
    sim = load_config(None, ["venues.backpack.kind=sim", "venues.backpack.timeouts.close_ms=900"])
    assert sim.venues["backpack"].timeouts == SessionTimeouts(close_s=0.9)


@pytest.mark.parametrize(
    "override,key,fix",
    [
        ("venues.grvt.timeouts.request_ms=0", "venues.grvt.timeouts.request_ms", "> 0"),
        ("venues.backpack.timeouts.connect_ms=fast", "venues.backpack.timeouts.connect_ms", "write a number"),
        ("venues.backpack.timeouts.read_ms=5", "venues.backpack.timeouts.read_ms", "use one of"),
        ("venues.backpack.timeouts.heartbeat_ms=3000", "venues.backpack.timeouts.heartbeat_ms",
         "raise private_stream_budget_ms"),
        ("venues.grvt.timeouts=5", "venues.grvt.timeouts", "[venues.grvt.timeouts]"),
    ],
)
def test_venue_timeout_errors_name_the_key_and_the_fix(override: str, key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert info.value.key == key and fix in info.value.fix


def test_private_ws_client_per_venue_reaches_the_adapters_settings() -> None:
    """``venues.<name>.private_ws``: "wsproto" by default (venues/_wsdirect.py), "trio-websocket" on request; a
    kind switched to ccxt keeps the key and ignores it."""
    c = load_config(None, ["venues.grvt.private_ws=trio-websocket"])
    assert (c.venues["backpack"].private_ws, c.venues["grvt"].private_ws) == ("wsproto", "trio-websocket")
    assert load_config(None, ["venues.grvt.kind=ccxt"]).venues["grvt"].kind == "ccxt"
    from trio_hedge.domain import BadValue
    from trio_hedge.venues.backpack import BackpackSettings

    assert BackpackSettings("http://127.0.0.1:1", "ws://127.0.0.1:1/", "k", "s", ("X",)).private_ws == "wsproto"
    with pytest.raises(BadValue, match="private_ws"):
        BackpackSettings("http://127.0.0.1:1", "ws://127.0.0.1:1/", "k", "s", ("X",), private_ws="x")

"""Configuration: the shipped file equals the defaults; every error names the key and the fix."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

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
        ("venues.grvt.kind=grvt", "venues.grvt.kind"),
        ("venues.grvt.recording=/nonexistent.gz", "venues.grvt.recording"),
        ("venues.grvt.tick_size=0", "venues.grvt.tick_size"),
        ("log.level=LOUD", "log.level"),
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

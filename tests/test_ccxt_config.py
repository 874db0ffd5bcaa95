"""``[venues.<name>] kind = "ccxt"`` in the config loader (trio_hedge/app/_config.py): the exchange id checked
offline against ccxt's own list, credentials for what the exchange's ``requiredCredentials`` names (ccxt's class
attributes, e.g. ``ccxt/hyperliquid.py``: walletAddress and privateKey), errors naming the key and the fix, and the
``sim`` endpoint on the exchanges with a wire simulator. Nothing here contacts an exchange."""

from __future__ import annotations

from pathlib import Path

import pytest

from trio_hedge.app import load_config
from trio_hedge.app._config import ConfigError, ccxt_env_name

LIVE_HL = ["venues.grvt.kind=ccxt", "venues.grvt.endpoint=live", "venues.grvt.ccxt_id=hyperliquid",
           "venues.grvt.symbol=BTC/USDC:USDC", "markets.0.hedge_symbol=BTC/USDC:USDC", "venues.grvt.maker_fee_bps=1.5",
           "venues.grvt.taker_fee_bps=4.5"]


def test_the_sim_endpoint_on_a_simulated_exchange() -> None:
    c = load_config(None, ["venues.backpack.kind=ccxt", "venues.grvt.kind=ccxt"])
    for name in ("backpack", "grvt"):
        v = c.venues[name]
        assert v.kind == "ccxt" and v.ccxt is not None and v.ccxt.ccxt_id == name and v.market is not None
        assert v.timeouts.request_s == 5.0 and v.ccxt.credentials == {}


def test_an_unknown_ccxt_id_names_the_key_and_near_ids() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["venues.grvt.kind=ccxt", "venues.grvt.ccxt_id=binanceusdx"])
    assert info.value.key == "venues.grvt.ccxt_id" and "binanceusdm" in str(info.value)
    assert "python -m trio_hedge venues" in str(info.value)


def test_sim_endpoint_needs_an_exchange_with_a_wire_simulator() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["venues.grvt.kind=ccxt", "venues.grvt.ccxt_id=bybit"])
    assert info.value.key == "venues.grvt.endpoint" and "backpack, grvt" in str(info.value)


def test_a_missing_credential_names_the_env_var_and_what_ccxt_expects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIO_HEDGE_GRVT_WALLET_ADDRESS", "0x" + "1" * 40)
    monkeypatch.delenv("TRIO_HEDGE_GRVT_PRIVATE_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        load_config(None, LIVE_HL)
    text = str(info.value)
    assert "TRIO_HEDGE_GRVT_PRIVATE_KEY" in text and "privateKey, walletAddress" in text


def test_credentials_from_env_and_secrets_file_are_kept_out_of_reprs(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv(ccxt_env_name("grvt", "walletAddress"), "0xCANARYwallet")
    sf = tmp_path / "hl.toml"
    sf.write_text('privateKey = "CANARYprivate"\n')
    sf.chmod(0o600)
    c = load_config(None, [*LIVE_HL, f"venues.grvt.secrets_file={sf}",
                           "venues.grvt.ccxt_options.defaultSlippage=0.01"])
    v = c.venues["grvt"]
    assert v.ccxt is not None
    assert v.ccxt.credentials == {"walletAddress": "0xCANARYwallet", "privateKey": "CANARYprivate"}
    assert v.ccxt.options == {"defaultSlippage": "0.01"}  # --set keeps a decimal's text; a TOML file gives a float
    assert "CANARY" not in repr(c) and {"0xCANARYwallet", "CANARYprivate"} <= set(c.secrets)


def test_env_names_are_snake_case_of_ccxts_keys() -> None:
    assert ccxt_env_name("lighter", "apiKey") == "TRIO_HEDGE_LIGHTER_API_KEY"
    assert ccxt_env_name("hl", "walletAddress") == "TRIO_HEDGE_HL_WALLET_ADDRESS"


def test_ccxt_poll_names_the_streams_to_poll_and_refuses_others() -> None:
    c = load_config(None, ["venues.backpack.kind=ccxt", 'venues.backpack.ccxt_poll=["watchOrders", "watchMyTrades"]'])
    v = c.venues["backpack"]
    assert v.ccxt is not None and v.ccxt.poll == ("watchOrders", "watchMyTrades")
    assert load_config(None, ["venues.grvt.kind=ccxt"]).venues["grvt"].ccxt.poll == ()  # type: ignore[union-attr]
    with pytest.raises(ConfigError) as info:
        load_config(None, ["venues.backpack.kind=ccxt", 'venues.backpack.ccxt_poll=["watchTrades"]'])
    assert info.value.key == "venues.backpack.ccxt_poll" and "watchOrders" in str(info.value)

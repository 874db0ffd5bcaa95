"""The raw tree's defaults: ``DEFAULTS`` (identical to the shipped ``config.toml``), timeouts by venue kind,
cycle modes."""

from __future__ import annotations

from typing import Any

from ..._hotpath import DEFAULT_BUDGET_MS, DEFAULT_WARM_PATH_MS

TIMEOUT_DEFAULTS: dict[str, dict[str, int]] = {
    "backpack": {"connect_ms": 5000, "request_ms": 5000, "close_ms": 2000, "heartbeat_ms": 1000,
                 "heartbeat_deadline_ms": 1500, "private_stream_budget_ms": 3000},
    "grvt": {"connect_ms": 3000, "request_ms": 5000, "close_ms": 3000, "heartbeat_ms": 1000,
             "heartbeat_deadline_ms": 1500, "private_stream_budget_ms": 3000},
    "sim": {"connect_ms": 5000, "request_ms": 5000, "close_ms": 2000, "heartbeat_ms": 1000,
            "heartbeat_deadline_ms": 1500, "private_stream_budget_ms": 3000},
    # ccxt: heartbeat_ms + heartbeat_deadline_ms is the staleness budget of a book (ccxt.pro pings by itself)
    "ccxt": {"connect_ms": 10000, "request_ms": 5000, "close_ms": 3000, "heartbeat_ms": 1000,
             "heartbeat_deadline_ms": 1500, "private_stream_budget_ms": 3000},
}
"""``[venues.<name>.timeouts]`` defaults by venue kind, ms (the adapters' own defaults)."""

CYCLE_MODES: tuple[str, ...] = ("roundtrip", "inventory")
"""``engine.cycle_mode`` values (``engine/_hedger.py`` has what each does)."""

_BTC: dict[str, Any] = {
    "name": "BTC",
    "primary_symbol": "BTC_USDC_PERP",
    "hedge_symbol": "BTC_USDT_Perp",
    "order_size": "0.002",
    "slippage_cap_bps": "10",
    "requote_after_ms": 300,
    "quote_check_interval_ms": 50,
    "hedge_attempts": 3,
    "inbox_capacity": 256,
    "max_hedges_in_flight": 8,
    "hard_slippage_cap_bps": "30",
    "slippage_cap_step_bps": "10",
    "market_fallback": True,
    "min_edge_bps": "-5",
    "edge_memory_ms": 0,
    "price_band_bps": "25",
    "cycle_mode": "",
    "two_sided": False,
    "max_position": "",
    "imbalance_tolerance": "",
}
"""The first market's defaults (``[[markets]]`` 0)."""

DEFAULTS: dict[str, Any] = {
    "engine": {"cycles": 25, "primary": "backpack", "hedge": "grvt", "event_capacity": 256,
               "fill_priority_ms": DEFAULT_BUDGET_MS,
               "warm_path_ms": DEFAULT_WARM_PATH_MS, "cycle_mode": "inventory", "markets": []},
    "markets": [
        _BTC,
        # the second market: the first one's keys with what differs (a [[markets]] table of a config file is
        # likewise read over the first market's defaults, so a new market writes only what it changes)
        {**_BTC, "name": "ETH", "primary_symbol": "ETH_USDC_PERP", "hedge_symbol": "ETH_USDT_Perp",
         "order_size": "0.05", "max_position": "0.25", "imbalance_tolerance": "0.25"},
    ],
    "risk": {
        "book_stale_ms": 5000,
        "book_wait_ms": 5000,
        "feed_down_budget_ms": 1000,
        "imbalance_tolerance": "0.01",
        "imbalance_grace_ms": 2000,
        "risk_check_interval_ms": 50,
        "order_deadline_ms": 5000,
        "event_grace_ms": 500,
        "query_interval_ms": 200,
        "max_quote_rejects": 50,
        "cleanup_deadline_ms": 15000,
        "max_position": "0.01",
        "max_notional": "2000",
        "max_open_orders": 4,
        "position_check_interval_ms": 5000,
        "max_loss": "25",
        "max_total_notional": "3000",
        "max_total_loss": "40",
        "retry_backoff_ms": 100,
        "retry_backoff_max_ms": 2000,
        "rate_limit_retries": 5,
        "transient_retries": 3,
    },
    "sim": {"speed": 4.0, "latency_ms": 2.0, "market_data_capacity": 64, "account_capacity": 1024},
    "journal": {"path": "run/trio_hedge.sqlite", "max_crashes": 3, "crash_window_ms": 300000,
                "reconcile_grace_ms": 5000, "check_budget_ms": 2000, "exclusive_lock": True,
                "report_queue_capacity": 4096, "account_lock_dir": "", "call_bound_ms": 5000,
                "inline_intents": True, "queue_hedge_intents": True},
    "run": {"stop_budget_ms": 25000, "final_read_ms": 3000, "journal_close_ms": 2000, "second_signal_wait_ms": 1000,
            "live_start_delay_ms": 5000},
    "log": {"level": "INFO", "file": ""},
    "metrics": {"enabled": False, "host": "127.0.0.1", "port": 9464, "allow_remote": False},
    "alerts": {"webhook_url": "", "telegram_bot_token": "", "telegram_chat_id": "",
               "telegram_api_url": "https://api.telegram.org", "summary_every_s": 3600, "queue_capacity": 100,
               "min_interval_ms": 1000, "retries": 3, "retry_backoff_ms": 1000, "send_deadline_ms": 5000,
               "flush_ms": 2000},
    "venues": {
        "backpack": {
            "kind": "backpack",
            "endpoint": "sim",
            "symbol": "BTC_USDC_PERP",
            "base": "BTC",
            "quote": "USDC",
            "tick_size": "0.1",
            "lot_size": "0.001",
            "min_size": "0.001",
            "min_notional": "5",
            "recording": "hftbacktest_binance-usdm_BTCUSDT_20240808.gz",
            "contract": "linear",
            "contract_value_quote": "1",
            "maker_fee_bps": "0",
            "taker_fee_bps": "2.4",
            "rate_limit_per_s": 10,
            "rate_limit_burst": 10,
            "rate_limit_reserved": 3,
            "rate_limit_costs": "backpack",
            "private_ws": "wsproto",
            "timeouts": dict(TIMEOUT_DEFAULTS["backpack"]),
            "symbols": {
                "ETH_USDC_PERP": {"base": "ETH", "quote": "USDC", "tick_size": "0.01", "lot_size": "0.01",
                                  "min_size": "0.01", "min_notional": "5",
                                  "recording": "hftbacktest_binance-usdm_ETHUSDT_20240808.gz",
                                  "contract": "linear", "contract_value_quote": "1"},
            },
        },
        "grvt": {
            "kind": "grvt",
            "endpoint": "sim",
            "symbol": "BTC_USDT_Perp",
            "base": "BTC",
            "quote": "USDT",
            "tick_size": "0.1",
            "lot_size": "0.001",
            "min_size": "0.001",
            "min_notional": "5",
            "recording": "hftbacktest_binance-coinm_BTCUSD_PERP_20240808.gz",
            "contract": "inverse",
            "contract_value_quote": "100",
            "maker_fee_bps": "-0.1",
            "taker_fee_bps": "4.5",
            "rate_limit_per_s": 50,
            "rate_limit_burst": 100,
            "rate_limit_reserved": 50,
            "rate_limit_costs": "grvt",
            "private_ws": "wsproto",
            "timeouts": dict(TIMEOUT_DEFAULTS["grvt"]),
            "symbols": {
                "ETH_USDT_Perp": {"base": "ETH", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.01",
                                  "min_size": "0.01", "min_notional": "5",
                                  "recording": "hftbacktest_binance-coinm_ETHUSD_PERP_20240808.gz",
                                  "contract": "inverse", "contract_value_quote": "10"},
            },
        },
    },
}

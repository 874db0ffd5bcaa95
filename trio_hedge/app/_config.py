"""Configuration: TOML file + ``--set key.path=value`` overrides → validated, typed settings.

Every error is a :class:`ConfigError` naming the key, what is wrong, and the fix; the CLI turns it into
exit code 78 (do not restart). Unknown keys are errors too: a typo in a risk limit must not silently fall
back to a default.

Decimal values (prices, sizes, bps) must be written as strings (``order_size = "0.002"``) or integers: a
TOML float has already lost its decimal form. ``--set`` values are read as TOML literals, except that a
value which would read as a float is kept as its original text so Decimal keys get it exactly.
"""

from __future__ import annotations

import copy
import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..domain import Instrument, TrioHedgeError
from ..engine import COST_PROFILES, DEFAULT_RATE_LIMITS, MarketSettings, RateLimitSettings, RetryPolicy
from ..venues import SessionTimeouts

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
"""Where the embedded recordings live (``trio_hedge/data``)."""


class ConfigError(TrioHedgeError):
    """A configuration problem. ``key`` is the dotted path (``markets.0.order_size``)."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        super().__init__(f"config key '{key}': {problem}. Fix: {fix}")
        self.key = key
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True, slots=True)
class SimVenueConfig:
    """A venue served by the embedded simulator (``kind = "sim"``)."""

    name: str
    instrument: Instrument
    recording: Path
    inverse: bool
    contract_value_quote: Decimal
    maker_fee_bps: Decimal
    taker_fee_bps: Decimal


@dataclass(frozen=True, slots=True)
class LiveVenueConfig:
    """Where and how to reach a real venue (``endpoint = "live"``). Credentials never appear in a repr.

    Attributes:
        urls (dict[str, str]): backpack: ``rest_url``, ``ws_url``; grvt: ``edge_url``, ``market_data_url``,
            ``trades_url``, ``market_data_ws_url``, ``trades_ws_url``.
        api_key (str): the API key (Backpack: the base64 ED25519 public key).
        secret (str): Backpack: the base64 ED25519 seed; GRVT: the hex private key of the API key's signer.
        sub_account_id (str), chain_id (int): GRVT only ("" / 0 for Backpack).
    """

    urls: dict[str, str]
    api_key: str = field(repr=False)
    secret: str = field(repr=False)
    sub_account_id: str = ""
    chain_id: int = 0


@dataclass(frozen=True, slots=True)
class CcxtVenueConfig:
    """How a ``kind = "ccxt"`` venue reaches its exchange through ccxt (``venues/ccxt/``).

    Attributes:
        ccxt_id (str): the ccxt exchange id (``ccxt.pro.exchanges``), default the venue's name.
        options (dict): ``ccxt_options``, passed through as the client's ``options``.
        credentials (dict[str, str]): what the exchange's ``requiredCredentials`` names (ccxt's keys: ``apiKey``,
            ``secret``, ``privateKey``, ``walletAddress``...), endpoint "live" only; never in a repr.
    """

    ccxt_id: str
    options: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """One configured venue.

    Attributes:
        name (str): the key under ``[venues]``.
        kind (str): ``"sim"`` (the in-process simulator venue), ``"backpack"`` or ``"grvt"`` (the wire adapters),
            ``"ccxt"`` (any ccxt exchange, ``ccxt``).
        endpoint (str): ``"sim"``: the embedded simulator (for the adapters: its wire-protocol server on an
            ephemeral loopback port); ``"live"``: the real venue.
        symbol (str): the venue symbol traded.
        market (SimVenueConfig | None): the simulated market (endpoint "sim").
        live (LiveVenueConfig | None): URLs and credentials (endpoint "live").
        maker_fee_bps (Decimal), taker_fee_bps (Decimal): the venue's fees, bps of notional (negative =
            rebate): the simulated market's for endpoint "sim", required in the config for "live".
        rate_limit (RateLimitSettings | None): the client-side request budget (None: ``rate_limit_per_s = 0``,
            no limiter).
        timeouts (SessionTimeouts): the session's budgets (``[venues.<name>.timeouts]``; the in-process
            ``kind = "sim"`` venue has no connection and ignores them).
    """

    name: str
    kind: str
    endpoint: str
    symbol: str
    market: SimVenueConfig | None
    live: LiveVenueConfig | None
    maker_fee_bps: Decimal = Decimal(0)
    taker_fee_bps: Decimal = Decimal(0)
    rate_limit: RateLimitSettings | None = None
    timeouts: SessionTimeouts = field(default_factory=SessionTimeouts)
    ccxt: CcxtVenueConfig | None = None


@dataclass(frozen=True, slots=True)
class SimConfig:
    speed: float
    latency_s: float
    market_data_capacity: int
    account_capacity: int


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str
    file: Path | None


@dataclass(frozen=True, slots=True)
class JournalConfig:
    """Where the journal lives and the crash-loop breaker's bounds.

    Attributes:
        path (Path): the SQLite file (absolute: resolved against the config file's directory, or the current
            directory without one). The single-instance lock is ``<path>.lock``.
        max_crashes (int): crashes within ``crash_window_s`` that make a start exit 78.
        crash_window_s (float): the breaker's window, seconds.
        reconcile_grace_s (float): how long startup reconciliation keeps looking for an in-flight order the
            venue does not report (status, open orders and fills by client order id, re-queried every
            second) before it records that the order never reached the venue; 0 = decide on the first read.
        check_budget_ms (int): the bound on SQLite's ``quick_check`` of the journal at start, ms.
        exclusive_lock (bool): open the journal with ``locking_mode=EXCLUSIVE`` (no ``-shm`` memory map: a
            full disk or an immutable file cannot SIGBUS the process; no other process can open the journal
            while the bot runs).
        report_queue_capacity (int): bound of the recorder's report queue (full: a report is spilled to the log).
        account_lock_dir (Path | None): where the per-account instance locks live (None: the default,
            ``$XDG_RUNTIME_DIR/trio_hedge`` or ``<tmp>/trio_hedge-<uid>``).
        call_bound_ms (int): a journal call that gets no answer within this (a hung disk) puts the journal down.
    """

    path: Path
    max_crashes: int = 3
    crash_window_s: float = 300.0
    reconcile_grace_s: float = 5.0
    check_budget_ms: int = 2000
    exclusive_lock: bool = True
    report_queue_capacity: int = 4096
    account_lock_dir: Path | None = None
    call_bound_ms: int = 5000

    @property
    def lock_path(self) -> Path:
        """``<resolved journal path>.lock``: resolved (``os.path.realpath``), so a symlink to a running bot's
        journal meets that bot's lock."""
        real = Path(os.path.realpath(self.path))
        return real.with_name(real.name + ".lock")


@dataclass(frozen=True, slots=True)
class RunConfig:
    """The stop budget and the run's other named waits, ``[run]``.

    Attributes:
        stop_budget_s (float): the whole stop (cleanup, final reads, journal sync, journal close) fits this,
            counted from the stop signal; it must stay below the supervisor's ``stopwaitsecs``.
        final_read_s (float): the bound on each final read of a venue at exit (positions, fill history, order
            statuses), seconds.
        journal_close_s (float): the part of the budget kept for recording the exit and closing the journal, s.
        second_signal_wait_s (float): after a second SIGINT/SIGTERM every wait of the stop is cut to this, s.
        live_start_delay_s (float): the pause before the first real order on a live venue (Ctrl-C to abort), s.
    """

    stop_budget_s: float = 25.0
    final_read_s: float = 3.0
    journal_close_s: float = 2.0
    second_signal_wait_s: float = 1.0
    live_start_delay_s: float = 5.0


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """The Prometheus metrics endpoint (``app/_metrics.py``), ``[metrics]``.

    Attributes:
        enabled (bool): serve ``http://host:port/metrics`` for the length of the run (default off).
        host (str): an IP address (or ``"localhost"``) to listen on; loopback unless ``allow_remote``.
        port (int): TCP port (0 = an ephemeral port, logged at start: for tests, not for a scraper).
        allow_remote (bool): allow a non-loopback ``host``. Off by default: the endpoint has no
            authentication and shows PnL, exposure and order counts to anyone who can reach it.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9464
    allow_remote: bool = False


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Operator alerts (``app/_alerts.py``), ``[alerts]``: off unless a webhook or a Telegram chat is set.

    Attributes:
        webhook_url (str): JSON POST ``{"text", "event", "run", "market"}`` here (Slack, Discord, Lark and
            Mattermost incoming webhooks accept it); "" = none. Redacted from logs (a webhook URL is a secret).
        telegram_bot_token (str), telegram_chat_id (str): Telegram Bot API ``sendMessage`` to this chat; both
            or neither. The token is redacted from every log line.
        telegram_api_url (str): the Bot API base URL (default the public one; tests point it at loopback).
        summary_every_s (float): a summary alert this often while trading; 0 = none.
        queue_capacity (int): alerts waiting to be sent; when full the oldest is dropped (and counted).
        min_interval_s (float): at most one message per this long per destination (rate limit).
        retries (int): retries of a failed send, with exponential backoff from ``retry_backoff_s``.
        retry_backoff_s (float): the first retry's delay (doubling, capped at 30 s).
        send_deadline_s (float): one HTTP request's deadline.
        flush_s (float): at exit, how long the stop and exit alerts may take to go out (one try each).
    """

    webhook_url: str = ""
    telegram_bot_token: str = field(default="", repr=False)
    telegram_chat_id: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    summary_every_s: float = 3600.0
    queue_capacity: int = 100
    min_interval_s: float = 1.0
    retries: int = 3
    retry_backoff_s: float = 1.0
    send_deadline_s: float = 5.0
    flush_s: float = 2.0

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url or self.telegram_chat_id)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    primary: str
    hedge: str
    event_capacity: int
    markets: tuple[MarketSettings, ...]
    venues: dict[str, VenueConfig]
    sim: SimConfig
    log: LogConfig
    source: str = "<defaults>"
    secrets: tuple[str, ...] = field(default=(), repr=False)
    journal: JournalConfig = field(default_factory=lambda: JournalConfig(Path("run/trio_hedge.sqlite").resolve()))
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    run: RunConfig = field(default_factory=RunConfig)


# ---------------------------------------------------------------------------------------------- raw tree
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

DEFAULTS: dict[str, Any] = {
    "engine": {"cycles": 25, "primary": "backpack", "hedge": "grvt", "event_capacity": 256,
               "cycle_mode": "inventory"},
    "markets": [
        {
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
            "price_band_bps": "25",
            "cycle_mode": "",
        }
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
        "retry_backoff_ms": 100,
        "retry_backoff_max_ms": 2000,
        "rate_limit_retries": 5,
        "transient_retries": 3,
    },
    "sim": {"speed": 4.0, "latency_ms": 2.0, "market_data_capacity": 64, "account_capacity": 1024},
    "journal": {"path": "run/trio_hedge.sqlite", "max_crashes": 3, "crash_window_ms": 300000,
                "reconcile_grace_ms": 5000, "check_budget_ms": 2000, "exclusive_lock": True,
                "report_queue_capacity": 4096, "account_lock_dir": "", "call_bound_ms": 5000},
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
            "timeouts": dict(TIMEOUT_DEFAULTS["backpack"]),
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
            "timeouts": dict(TIMEOUT_DEFAULTS["grvt"]),
        },
    },
}


def _merge(base: Any, over: Any, path: str) -> Any:
    if isinstance(base, dict):
        if not isinstance(over, dict):
            raise ConfigError(path or "<root>", f"expected a table, got {type(over).__name__}", "write a [table]")
        out = dict(base)
        for k, v in over.items():
            key = f"{path}.{k}" if path else k
            if k not in base:
                if path == "venues":
                    out[k] = v  # a new venue: validated later
                    continue
                known = ", ".join(sorted(base)) or "none"
                raise ConfigError(key, "unknown key", f"remove it or use one of: {known}")
            out[k] = _merge(base[k], v, key)
        return out
    if isinstance(base, list) and base and isinstance(base[0], dict):
        if not isinstance(over, list):
            raise ConfigError(path, f"expected an array of tables, got {type(over).__name__}", f"write [[{path}]]")
        return [_merge(base[0], item, f"{path}.{i}") for i, item in enumerate(over)]
    return over


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(text, "an override must be key.path=value", "write for example --set engine.cycles=5")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(text, "empty key", "write for example --set engine.cycles=5")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string
    if isinstance(value, float):
        value = raw  # keep the decimal text exact; float keys accept numeric strings
    return key.split("."), value


_VENUE_TABLES = ("timeouts", "ccxt_options")
"""Tables inside ``[venues.<name>]`` that ``--set`` may create."""


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = tree
    dotted = ".".join(path)
    for i, part in enumerate(path[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(dotted, f"index {part!r} is not in the list (0..{len(node) - 1})", "use an index")
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                if (i == 1 and path[0] == "venues") or (i == 2 and path[0] == "venues" and part in _VENUE_TABLES):
                    node[part] = {}
                else:
                    raise ConfigError(dotted, f"unknown key {part!r}", f"use one of: {', '.join(sorted(node))}")
            node = node[part]
        else:
            raise ConfigError(dotted, f"{'.'.join(path[: i + 1])} is not a table", "check the key path")
    last = path[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(dotted, "bad list index", "use an index in range")
        node[int(last)] = value
    elif isinstance(node, dict):
        new_venue_key = path[0] == "venues" and (len(path) == 3 or (len(path) == 4 and path[2] in _VENUE_TABLES))
        if last not in node and not new_venue_key:
            raise ConfigError(dotted, "unknown key", f"use one of: {', '.join(sorted(node))}")
        node[last] = value
    else:
        raise ConfigError(dotted, "not a table", "check the key path")


# ---------------------------------------------------------------------------------------------- typed readers
def _int(tree: dict[str, Any], key: str, path: str, *, lo: int = 0, hi: int | None = None) -> int:
    v = tree.get(key)
    if isinstance(v, str) and v.strip().lstrip("-").isdecimal():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not an integer", f"write an integer like {key} = 10")
    if v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ConfigError(f"{path}.{key}", f"{v} is out of range", f"use a value {rng}")
    return v


def _float(tree: dict[str, Any], key: str, path: str, *, lo: float = 0.0, allow_lo: bool = True) -> float:
    v = tree.get(key)
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a finite number", f"write a number like {key} = 1.5")
    if v < lo or (v == lo and not allow_lo):
        raise ConfigError(f"{path}.{key}", f"{v} is out of range", f"use a value {'>=' if allow_lo else '>'} {lo}")
    return float(v)


def _ms(tree: dict[str, Any], key: str, path: str) -> float:
    return _float(tree, key, path, lo=0.0, allow_lo=False) / 1000.0


_DEC_MIN, _DEC_MAX = Decimal("1e-12"), Decimal("1e12")


def _dec(tree: dict[str, Any], key: str, path: str, *, positive: bool = False, nonneg: bool = False) -> Decimal:
    v = tree.get(key)
    fix = f'write it as a decimal string, e.g. {key} = "0.002"'
    if isinstance(v, bool) or isinstance(v, float):
        raise ConfigError(f"{path}.{key}", f"{v!r} is a {type(v).__name__}, which loses decimal precision", fix)
    if not isinstance(v, (str, int)):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a decimal number", fix)
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a decimal number", fix) from None
    if not d.is_finite():
        raise ConfigError(f"{path}.{key}", f"{v!r} is not finite", fix)
    if d and not _DEC_MIN <= abs(d) < _DEC_MAX:  # beyond any price, size or limit; Decimal arithmetic on it
        raise ConfigError(f"{path}.{key}", f"{v!r} is out of range",  # would overflow the 28-digit context
                          f"use a value between {_DEC_MIN} and {_DEC_MAX} in magnitude (or 0)")
    if positive and d <= 0:
        raise ConfigError(f"{path}.{key}", f"{d} must be > 0", "use a positive value")
    if nonneg and d < 0:
        raise ConfigError(f"{path}.{key}", f"{d} must be >= 0", "use a value >= 0")
    return d


def _bool(tree: dict[str, Any], key: str, path: str) -> bool:
    v = tree.get(key)
    if not isinstance(v, bool):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a boolean", f"write {key} = true or {key} = false")
    return v


def _str(tree: dict[str, Any], key: str, path: str, choices: tuple[str, ...] | None = None) -> str:
    v = tree.get(key)
    if not isinstance(v, str) or (not v and choices is None and key not in ("file", "account_lock_dir")):
        raise ConfigError(f"{path}.{key}", f"{v!r} is not a non-empty string", f'write {key} = "..."')
    if choices is not None and v not in choices:
        raise ConfigError(f"{path}.{key}", f"{v!r} is not one of {', '.join(choices)}", f"use one of {choices}")
    return v


_COMMON_KEYS = {"kind", "endpoint", "symbol", "rate_limit_per_s", "rate_limit_burst", "rate_limit_reserved",
                "rate_limit_costs", "timeouts"}
_MARKET_KEYS = {"base", "quote", "tick_size", "lot_size", "min_size", "min_notional", "recording", "contract",
                "contract_value_quote", "maker_fee_bps", "taker_fee_bps"}
_LIVE_KEYS = {
    "backpack": {"rest_url", "ws_url", "secrets_file"},
    "grvt": {"edge_url", "market_data_url", "trades_url", "market_data_ws_url", "trades_ws_url", "chain_id",
             "sub_account_id", "secrets_file"},
    "sim": set(),
    "ccxt": {"ccxt_id", "ccxt_options", "secrets_file"},
}
LIVE_DEFAULTS: dict[str, dict[str, Any]] = {
    # production hosts: the Backpack API docs (https://docs.backpack.exchange/) and grvt-pysdk's GrvtEnv PROD
    "backpack": {"rest_url": "https://api.backpack.exchange", "ws_url": "wss://ws.backpack.exchange"},
    "grvt": {
        "edge_url": "https://edge.grvt.io",
        "market_data_url": "https://market-data.grvt.io",
        "trades_url": "https://trades.grvt.io",
        "market_data_ws_url": "wss://market-data.grvt.io/ws/full",
        "trades_ws_url": "wss://trades.grvt.io/ws/full",
        "chain_id": 325,
    },
}
_SECRET_NAMES = {"backpack": ("api_key", "api_secret"), "grvt": ("api_key", "private_key")}


def _market(name: str, tree: dict[str, Any], base_dir: Path) -> SimVenueConfig:
    path = f"venues.{name}"
    missing = _MARKET_KEYS - set(tree)
    if missing:
        raise ConfigError(f"{path}.{sorted(missing)[0]}", "missing (the simulated market needs it)",
                          "add it (see config.toml for an example)")
    try:
        inst = Instrument(
            venue=name,
            symbol=_str(tree, "symbol", path),
            base=_str(tree, "base", path),
            quote=_str(tree, "quote", path),
            tick_size=_dec(tree, "tick_size", path, positive=True),
            lot_size=_dec(tree, "lot_size", path, positive=True),
            min_size=_dec(tree, "min_size", path, positive=True),
            min_notional=_dec(tree, "min_notional", path, nonneg=True),
        )
    except ConfigError:
        raise
    except TrioHedgeError as exc:
        raise ConfigError(path, str(exc), "fix the instrument values") from None
    rec = Path(_str(tree, "recording", path))
    if not rec.is_absolute():
        candidates = [DATA_DIR / rec, base_dir / rec]
        rec = next((c for c in candidates if c.exists()), candidates[0])
    if not rec.exists():
        raise ConfigError(f"{path}.recording", f"file {rec} does not exist",
                          f"use a file in {DATA_DIR} or an absolute path")
    return SimVenueConfig(
        name=name,
        instrument=inst,
        recording=rec,
        inverse=_str(tree, "contract", path, ("linear", "inverse")) == "inverse",
        contract_value_quote=_dec(tree, "contract_value_quote", path, positive=True),
        maker_fee_bps=_dec(tree, "maker_fee_bps", path),
        taker_fee_bps=_dec(tree, "taker_fee_bps", path),
    )


def _secrets_file(path: str, secrets_file: object, example: str) -> dict[str, str]:
    """The string values of a 0600 TOML secrets file (``path``: the venue's config path, for errors)."""
    sf = Path(str(secrets_file)).expanduser()
    try:
        mode = sf.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{path}.secrets_file", f"cannot read {sf}: {exc.strerror}",
                          "point it at an existing file") from None
    if mode & 0o077:
        raise ConfigError(f"{path}.secrets_file", f"{sf} is readable or writable by group/others", f"chmod 600 {sf}")
    try:
        data = tomllib.loads(sf.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        raise ConfigError(f"{path}.secrets_file", f"{sf} is not a readable TOML file",
                          f"write {example} in it") from None
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _read_secrets(name: str, kind: str, tree: dict[str, Any], env: dict[str, str]) -> tuple[str, str]:
    """Credentials for a live venue: a 0600 TOML ``secrets_file`` or the environment variables
    ``TRIO_HEDGE_<NAME>_<KEY>``. The values are never put in an error text."""
    path = f"venues.{name}"
    key_name, secret_name = _SECRET_NAMES[kind]
    env_prefix = f"TRIO_HEDGE_{name.upper()}_"
    secrets_file = tree.get("secrets_file") or ""
    values: dict[str, str] = {}
    if secrets_file:
        values = _secrets_file(path, secrets_file, f'{key_name} = "..." and {secret_name} = "..."')
    for k in (key_name, secret_name):
        if k not in values and env.get(env_prefix + k.upper()):
            values[k] = env[env_prefix + k.upper()]
    for k in (key_name, secret_name):
        if not values.get(k):
            raise ConfigError(f"{path}.secrets_file", f"no {k} for the live venue {name}",
                              f"set {env_prefix}{k.upper()} or put {k} in a 0600 secrets_file")
    return values[key_name], values[secret_name]


CCXT_SIMULATORS = ("backpack", "grvt")
"""ccxt exchanges with an embedded wire simulator (``endpoint = "sim"`` for ``kind = "ccxt"``)."""


def ccxt_env_name(venue: str, key: str) -> str:
    """``TRIO_HEDGE_<VENUE>_<KEY>`` for ccxt credential ``key`` (camelCase -> SNAKE: ``privateKey`` ->
    ``PRIVATE_KEY``)."""
    snake = "".join("_" + c if c.isupper() else c for c in key).upper()
    return f"TRIO_HEDGE_{venue.upper()}_{snake}"


def _ccxt(name: str, tree: dict[str, Any], endpoint: str, env: dict[str, str]) -> CcxtVenueConfig:
    """``kind = "ccxt"``: ``ccxt_id`` (default the venue's name) must be a ccxt.pro exchange (checked offline, from
    ccxt's own list), ``ccxt_options`` a table; for endpoint "live" every credential the exchange's
    ``requiredCredentials`` names, from ``TRIO_HEDGE_<VENUE>_<KEY>`` or the 0600 ``secrets_file`` (ccxt's key names
    or their snake_case)."""
    import ccxt.pro

    path = f"venues.{name}"
    ccxt_id = tree.get("ccxt_id", name)
    if not isinstance(ccxt_id, str) or ccxt_id not in ccxt.pro.exchanges:
        near = [x for x in ccxt.pro.exchanges if str(ccxt_id)[:3].lower() in x][:8]
        raise ConfigError(f"{path}.ccxt_id", f"{ccxt_id!r} is not a ccxt.pro exchange",
                          f"use a ccxt exchange id{' such as ' + ', '.join(near) if near else ''} "
                          "(python -m trio_hedge venues lists those the bot can trade)")
    options = tree.get("ccxt_options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"{path}.ccxt_options", "expected a table", f"write [venues.{name}.ccxt_options]")
    if endpoint == "sim":
        if ccxt_id not in CCXT_SIMULATORS:
            raise ConfigError(f"{path}.endpoint", f'"sim" needs a wire simulator of {ccxt_id!r}',
                              f'use endpoint = "live", or ccxt_id one of {", ".join(CCXT_SIMULATORS)}')
        return CcxtVenueConfig(ccxt_id, dict(options))
    required = [k for k, need in getattr(ccxt.pro, ccxt_id)().requiredCredentials.items() if need]
    values: dict[str, str] = {}
    secrets_file = tree.get("secrets_file") or ""
    if secrets_file:
        data = _secrets_file(path, secrets_file, " and ".join(f'{k} = "..."' for k in required))
        for k in required:
            v = data.get(k, data.get(ccxt_env_name("", k)[len("TRIO_HEDGE__"):].lower()))
            if v:
                values[k] = v
    for k in required:
        if k not in values and env.get(ccxt_env_name(name, k)):
            values[k] = env[ccxt_env_name(name, k)]
    for k in required:
        if not values.get(k):
            raise ConfigError(f"{path}.secrets_file", f"no {k} for the live venue {name} (ccxt's {ccxt_id} "
                              f"requires {', '.join(required)})",
                              f"set {ccxt_env_name(name, k)} or put {k} in a 0600 secrets_file")
    return CcxtVenueConfig(ccxt_id, dict(options), values)


def _rate_limit(name: str, kind: str, tree: dict[str, Any]) -> RateLimitSettings | None:
    """The venue's client-side budget. Keys absent: the defaults of its profile (its kind, or for kind
    "sim" its name when that names a venue; ``engine/_ratelimit.py`` has the published limits they halve)."""
    path = f"venues.{name}"
    profile = kind if kind in COST_PROFILES and kind != "sim" else (name if name in DEFAULT_RATE_LIMITS else "unit")
    base = DEFAULT_RATE_LIMITS.get(profile, RateLimitSettings(10.0, 10.0, 3.0))
    merged = {"rate_limit_per_s": base.rate_per_s, "rate_limit_burst": base.burst,
              "rate_limit_reserved": base.reserved, "rate_limit_costs": profile, **tree}
    rate = _float(merged, "rate_limit_per_s", path)
    if rate == 0:
        return None
    costs = _str(merged, "rate_limit_costs", path, tuple(sorted(COST_PROFILES)))
    try:
        return RateLimitSettings(rate_per_s=rate, burst=_float(merged, "rate_limit_burst", path, allow_lo=False),
                                 reserved=_float(merged, "rate_limit_reserved", path),
                                 costs=COST_PROFILES[costs])
    except ValueError as exc:
        raise ConfigError(f"{path}.rate_limit_burst", str(exc),
                          "raise rate_limit_burst or lower rate_limit_reserved") from None


def _timeouts(name: str, kind: str, tree: dict[str, Any]) -> SessionTimeouts:
    """``[venues.<name>.timeouts]``: the same keys for every venue, in ms; a key left out takes the kind's
    default (:data:`TIMEOUT_DEFAULTS`)."""
    path = f"venues.{name}.timeouts"
    given = tree.get("timeouts", {})
    if not isinstance(given, dict):
        raise ConfigError(path, "expected a table", f"write [venues.{name}.timeouts] with keys "
                          f"{', '.join(TIMEOUT_DEFAULTS[kind])}")  # fmt: skip
    unknown = sorted(set(given) - set(TIMEOUT_DEFAULTS[kind]))
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}", "unknown key", f"use one of: {', '.join(TIMEOUT_DEFAULTS[kind])}")
    merged = {**TIMEOUT_DEFAULTS[kind], **given}
    t = SessionTimeouts(**{k[:-3] + "_s": _ms(merged, k, path) for k in TIMEOUT_DEFAULTS[kind]})
    if t.heartbeat_s >= t.private_stream_budget_s:
        raise ConfigError(f"{path}.heartbeat_ms", f"{merged['heartbeat_ms']} ms is not shorter than "
                          f"private_stream_budget_ms ({merged['private_stream_budget_ms']} ms)",
                          "lower heartbeat_ms or raise private_stream_budget_ms (the watchdog counts pongs as life)")
    return t


def _venue(name: str, tree: Any, base_dir: Path, env: dict[str, str]) -> VenueConfig:
    path = f"venues.{name}"
    if not isinstance(tree, dict):
        raise ConfigError(path, "expected a table", f"write [venues.{name}]")
    kind = _str(tree, "kind", path, ("sim", "backpack", "grvt", "ccxt"))
    endpoint = tree.get("endpoint", "sim")
    if endpoint not in ("sim", "live") or (kind == "sim" and endpoint != "sim"):
        allowed = '"sim"' if kind == "sim" else '"sim" or "live"'
        raise ConfigError(f"{path}.endpoint", f"{endpoint!r} is not valid for kind {kind!r}", f"use {allowed}")
    allowed_keys = _COMMON_KEYS | _MARKET_KEYS | _LIVE_KEYS[kind]
    unknown = set(tree) - allowed_keys
    if unknown:
        raise ConfigError(f"{path}.{sorted(unknown)[0]}", f"unknown key for kind {kind!r}",
                          f"use one of: {', '.join(sorted(allowed_keys))}")
    symbol = _str(tree, "symbol", path)
    rate_limit = _rate_limit(name, kind, tree)
    timeouts = _timeouts(name, kind, tree)
    ccxt_cfg = _ccxt(name, tree, endpoint, env) if kind == "ccxt" else None
    if endpoint == "sim":
        market = _market(name, tree, base_dir)
        return VenueConfig(name, kind, endpoint, symbol, market, None, market.maker_fee_bps, market.taker_fee_bps,
                           rate_limit, timeouts, ccxt_cfg)
    for fee in ("maker_fee_bps", "taker_fee_bps"):
        if fee not in tree:
            raise ConfigError(f"{path}.{fee}", "missing: a live venue needs its fees (the quoting edge gate "
                              "charges them)", f'set {fee} from the venue\'s fee schedule, in bps (e.g. {fee} = "2.5"; '
                              "negative = rebate)")
    maker_fee = _dec(tree, "maker_fee_bps", path)
    taker_fee = _dec(tree, "taker_fee_bps", path)
    if ccxt_cfg is not None:
        return VenueConfig(name, kind, endpoint, symbol, None, None, maker_fee, taker_fee, rate_limit, timeouts,
                           ccxt_cfg)
    merged = {**LIVE_DEFAULTS[kind], **tree}
    urls = {k: _str(merged, k, path) for k in sorted(_LIVE_KEYS[kind] - {"secrets_file", "chain_id",
                                                                         "sub_account_id"})}
    for k, u in urls.items():
        if not u.startswith(("https://", "wss://", "http://127.", "ws://127.", "http://localhost", "ws://localhost")):
            raise ConfigError(f"{path}.{k}", f"{u!r} is neither TLS nor loopback", "use an https:// or wss:// URL")
    api_key, secret = _read_secrets(name, kind, tree, env)
    sub = str(merged.get("sub_account_id", "")) if kind == "grvt" else ""
    if kind == "grvt" and not sub.isdigit():
        raise ConfigError(f"{path}.sub_account_id", "missing or not a number", "set your GRVT sub account id")
    chain = _int(merged, "chain_id", path, lo=1) if kind == "grvt" else 0
    return VenueConfig(name, kind, endpoint, symbol, None, LiveVenueConfig(urls, api_key, secret, sub, chain),
                       maker_fee, taker_fee, rate_limit, timeouts)


def _metrics(tree: dict[str, Any]) -> MetricsConfig:
    """``[metrics]``: host must be an IP literal or ``localhost`` (no name lookup at start), and loopback
    unless ``allow_remote = true``."""
    enabled = _bool(tree, "enabled", "metrics")
    allow_remote = _bool(tree, "allow_remote", "metrics")
    host = _str(tree, "host", "metrics")
    port = _int(tree, "port", "metrics", lo=0, hi=65535)
    if host == "localhost":
        loopback = True
    else:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            raise ConfigError("metrics.host", f"{host!r} is not an IP address",
                              'write an IP address such as host = "127.0.0.1" (or "localhost")') from None
    if not loopback and not allow_remote:
        raise ConfigError("metrics.host", f"{host!r} is not a loopback address, and the endpoint has no "
                          "authentication (it shows PnL, exposure and order counts)",
                          'use host = "127.0.0.1" and scrape through a local agent or an SSH tunnel, or set '
                          "metrics.allow_remote = true to serve on it anyway")
    return MetricsConfig(enabled=enabled, host=host, port=port, allow_remote=allow_remote)


def _opt_str(tree: dict[str, Any], key: str, path: str) -> str:
    v = tree.get(key)
    if isinstance(v, int) and not isinstance(v, bool) and key.endswith("_id"):
        return str(v)  # a chat id is often written as a TOML integer
    if not isinstance(v, str):
        raise ConfigError(f"{path}.{key}", "is not a string", f'write {key} = "..." ("" = not set)')
    return v


def _http_url(tree: dict[str, Any], key: str, path: str) -> str:
    url = _opt_str(tree, key, path)
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"{path}.{key}", "is not an http(s) URL (the value is not shown: it may hold a token)",
                          "use an https://... URL, or \"\" to turn it off")
    return url


def _alerts(tree: dict[str, Any]) -> AlertsConfig:
    """``[alerts]``: URLs must be http(s); a Telegram token needs a chat id and the other way round."""
    token = _opt_str(tree, "telegram_bot_token", "alerts")
    chat = _opt_str(tree, "telegram_chat_id", "alerts")
    if bool(token) != bool(chat):
        raise ConfigError("alerts.telegram_chat_id" if token else "alerts.telegram_bot_token",
                          "Telegram needs both a bot token and a chat id",
                          "set both alerts.telegram_bot_token and alerts.telegram_chat_id, or neither")
    api = _http_url(tree, "telegram_api_url", "alerts")
    if token and not api:
        raise ConfigError("alerts.telegram_api_url", "is empty", 'use "https://api.telegram.org"')
    return AlertsConfig(
        webhook_url=_http_url(tree, "webhook_url", "alerts"),
        telegram_bot_token=token,
        telegram_chat_id=chat,
        telegram_api_url=api.rstrip("/"),
        summary_every_s=_float(tree, "summary_every_s", "alerts", lo=0.0),
        queue_capacity=_int(tree, "queue_capacity", "alerts", lo=1, hi=100_000),
        min_interval_s=_float(tree, "min_interval_ms", "alerts", lo=0.0) / 1000.0,
        retries=_int(tree, "retries", "alerts", lo=0, hi=20),
        retry_backoff_s=_ms(tree, "retry_backoff_ms", "alerts"),
        send_deadline_s=_ms(tree, "send_deadline_ms", "alerts"),
        flush_s=_ms(tree, "flush_ms", "alerts"),
    )


def build_config(tree: dict[str, Any], *, base_dir: Path, source: str, env: dict[str, str] | None = None) -> Config:
    """Validate a merged raw tree into :class:`Config`. Raises :class:`ConfigError`."""
    env = dict(os.environ) if env is None else env
    eng = tree["engine"]
    risk = tree["risk"]
    venues = {name: _venue(name, v, base_dir, env) for name, v in tree["venues"].items()}
    primary = _str(eng, "primary", "engine")
    hedge = _str(eng, "hedge", "engine")
    for key, name in (("primary", primary), ("hedge", hedge)):
        if name not in venues:
            raise ConfigError(f"engine.{key}", f"{name!r} is not a configured venue",
                              f"use one of: {', '.join(sorted(venues))}")
    if primary == hedge:
        raise ConfigError("engine.hedge", "the hedge venue is the primary venue", "use two different venues")
    cycles = _int(eng, "cycles", "engine", lo=1)
    cycle_mode = _str(eng, "cycle_mode", "engine", CYCLE_MODES)
    position_check_s = _float(risk, "position_check_interval_ms", "risk", lo=0.0) / 1000.0
    retry = RetryPolicy(
        backoff_s=_ms(risk, "retry_backoff_ms", "risk"),
        backoff_max_s=_ms(risk, "retry_backoff_max_ms", "risk"),
        rate_limit_retries=_int(risk, "rate_limit_retries", "risk", lo=0, hi=100),
        transient_retries=_int(risk, "transient_retries", "risk", lo=0, hi=100),
    )
    markets: list[MarketSettings] = []
    names: set[str] = set()
    if not tree["markets"]:
        raise ConfigError("markets", "no market configured", "add a [[markets]] table")
    for i, m in enumerate(tree["markets"]):
        path = f"markets.{i}"
        name = _str(m, "name", path)
        if name in names:
            raise ConfigError(f"{path}.name", f"market {name!r} configured twice", "give each market its own name")
        names.add(name)
        psym = _str(m, "primary_symbol", path)
        hsym = _str(m, "hedge_symbol", path)
        if psym != venues[primary].symbol:
            raise ConfigError(f"{path}.primary_symbol", f"{psym!r} is not the symbol configured for {primary}",
                              f"use {venues[primary].symbol!r}")
        if hsym != venues[hedge].symbol:
            raise ConfigError(f"{path}.hedge_symbol", f"{hsym!r} is not the symbol configured for {hedge}",
                              f"use {venues[hedge].symbol!r}")
        size = _dec(m, "order_size", path, positive=True)
        for vc, who in ((venues[primary], primary), (venues[hedge], hedge)):
            if vc.market is None:
                continue  # a live venue's grid is checked against its own instrument list at start
            inst = vc.market.instrument
            if size % inst.lot_size != 0 or size < inst.min_size:
                raise ConfigError(f"{path}.order_size", f"{size} is not a valid size on {who} (lot {inst.lot_size}, "
                                  f"min {inst.min_size})", "use a multiple of both venues' lot sizes")
        cap = _dec(m, "slippage_cap_bps", path, positive=True)
        hard_cap = _dec(m, "hard_slippage_cap_bps", path, positive=True)
        if hard_cap < cap:
            raise ConfigError(f"{path}.hard_slippage_cap_bps", f"{hard_cap} is below slippage_cap_bps {cap}",
                              "use a hard cap >= slippage_cap_bps (equal: no widening step)")
        max_position = _dec(risk, "max_position", "risk", positive=True)
        if max_position < size:
            raise ConfigError("risk.max_position", f"{max_position} is below {path}.order_size {size}: no quote "
                              "could ever be sent", f"use a max_position >= {size}")
        markets.append(
            MarketSettings(
                name=name,
                primary_symbol=psym,
                hedge_symbol=hsym,
                cycles=cycles,
                order_size=size,
                slippage_cap_bps=cap,
                requote_after_s=_ms(m, "requote_after_ms", path),
                quote_check_interval_s=_ms(m, "quote_check_interval_ms", path),
                hedge_attempts=_int(m, "hedge_attempts", path, lo=1, hi=20),
                inbox_capacity=_int(m, "inbox_capacity", path, lo=1, hi=1_000_000),
                max_hedges_in_flight=_int(m, "max_hedges_in_flight", path, lo=1, hi=32),
                order_deadline_s=_ms(risk, "order_deadline_ms", "risk"),
                event_grace_s=_ms(risk, "event_grace_ms", "risk"),
                query_interval_s=_ms(risk, "query_interval_ms", "risk"),
                book_wait_s=_ms(risk, "book_wait_ms", "risk"),
                max_quote_rejects=_int(risk, "max_quote_rejects", "risk", lo=1),
                book_stale_s=_ms(risk, "book_stale_ms", "risk"),
                feed_down_budget_s=_ms(risk, "feed_down_budget_ms", "risk"),
                imbalance_tolerance=_dec(risk, "imbalance_tolerance", "risk", nonneg=True),
                imbalance_grace_s=_ms(risk, "imbalance_grace_ms", "risk"),
                risk_check_interval_s=_ms(risk, "risk_check_interval_ms", "risk"),
                cleanup_deadline_s=_ms(risk, "cleanup_deadline_ms", "risk"),
                min_edge_bps=_dec(m, "min_edge_bps", path),
                price_band_bps=_dec(m, "price_band_bps", path, positive=True),
                hard_slippage_cap_bps=hard_cap,
                slippage_cap_step_bps=_dec(m, "slippage_cap_step_bps", path, positive=True),
                market_fallback=_bool(m, "market_fallback", path),
                primary_maker_fee_bps=venues[primary].maker_fee_bps,
                hedge_taker_fee_bps=venues[hedge].taker_fee_bps,
                max_position=max_position,
                max_notional=_dec(risk, "max_notional", "risk", positive=True),
                max_open_orders=_int(risk, "max_open_orders", "risk", lo=1, hi=1000),
                max_loss=_dec(risk, "max_loss", "risk", positive=True),
                retry=retry,
                primary_rate_limit=venues[primary].rate_limit,
                hedge_rate_limit=venues[hedge].rate_limit,
                cycle_mode=_str(m, "cycle_mode", path, ("", *CYCLE_MODES)) or cycle_mode,
                position_check_interval_s=position_check_s,
            )
        )
    if len(markets) > 1:
        raise ConfigError("markets", f"{len(markets)} markets configured; the simulator venues list one symbol each",
                          "configure one [[markets]] table")
    sim = tree["sim"]
    log = tree["log"]
    level = _str(log, "level", "log", ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"))
    log_file = _str(log, "file", "log")
    jt = tree["journal"]
    jpath = Path(_str(jt, "path", "journal")).expanduser()
    journal = JournalConfig(
        path=jpath if jpath.is_absolute() else (base_dir / jpath),
        max_crashes=_int(jt, "max_crashes", "journal", lo=1, hi=1000),
        crash_window_s=_ms(jt, "crash_window_ms", "journal"),
        reconcile_grace_s=_float(jt, "reconcile_grace_ms", "journal", lo=0.0) / 1000.0,
        check_budget_ms=_int(jt, "check_budget_ms", "journal", lo=1, hi=3_600_000),
        exclusive_lock=_bool(jt, "exclusive_lock", "journal"),
        report_queue_capacity=_int(jt, "report_queue_capacity", "journal", lo=1, hi=10_000_000),
        account_lock_dir=_account_lock_dir(jt, base_dir),
        call_bound_ms=_int(jt, "call_bound_ms", "journal", lo=1, hi=3_600_000),
    )
    alerts = _alerts(tree["alerts"])
    run = _run_config(tree["run"], markets)
    return Config(
        primary=primary,
        hedge=hedge,
        event_capacity=_int(eng, "event_capacity", "engine", lo=1, hi=1_000_000),
        markets=tuple(markets),
        venues=venues,
        sim=SimConfig(
            speed=_float(sim, "speed", "sim", lo=0.0),
            latency_s=_float(sim, "latency_ms", "sim", lo=0.0) / 1000.0,
            market_data_capacity=_int(sim, "market_data_capacity", "sim", lo=1, hi=1_000_000),
            account_capacity=_int(sim, "account_capacity", "sim", lo=1, hi=10_000_000),
        ),
        log=LogConfig(level=level, file=Path(log_file) if log_file else None),
        source=source,
        secrets=(*(x for v in venues.values() if v.live for x in (v.live.api_key, v.live.secret)),
                 *(x for v in venues.values() if v.ccxt for x in v.ccxt.credentials.values()),
                 *(x for x in (alerts.telegram_bot_token, alerts.webhook_url) if x)),
        journal=journal,
        metrics=_metrics(tree["metrics"]),
        alerts=alerts,
        run=run,
    )


def _account_lock_dir(jt: dict[str, Any], base_dir: Path) -> Path | None:
    text = _str(jt, "account_lock_dir", "journal")
    if not text:
        return None
    p = Path(text).expanduser()
    return p if p.is_absolute() else base_dir / p


def _run_config(rt: dict[str, Any], markets: list[MarketSettings]) -> RunConfig:
    """``[run]``, checked: the cleanup, a final read and the journal close must fit the stop budget."""
    run = RunConfig(
        stop_budget_s=_ms(rt, "stop_budget_ms", "run"),
        final_read_s=_ms(rt, "final_read_ms", "run"),
        journal_close_s=_ms(rt, "journal_close_ms", "run"),
        second_signal_wait_s=_ms(rt, "second_signal_wait_ms", "run"),
        live_start_delay_s=_float(rt, "live_start_delay_ms", "run", lo=0.0) / 1000.0,
    )
    cleanup_s = max((m.cleanup_deadline_s for m in markets), default=0.0)
    need_s = cleanup_s + run.final_read_s + run.journal_close_s
    if need_s > run.stop_budget_s:
        raise ConfigError("run.stop_budget_ms", f"{run.stop_budget_s * 1000:.0f} ms cannot hold the cleanup "
                          f"(risk.cleanup_deadline_ms {cleanup_s * 1000:.0f}) + run.final_read_ms "
                          f"({run.final_read_s * 1000:.0f}) + run.journal_close_ms ({run.journal_close_s * 1000:.0f})",
                          f"raise it to at least {need_s * 1000:.0f} (and keep it below the supervisor's "
                          "stopwaitsecs), or lower those")
    return run


def load_config(path: Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read ``path`` (or the built-in defaults when None), apply ``overrides``, and validate.

    Args:
        path: a TOML file, or None for the defaults (identical to the shipped ``config.toml``).
        overrides: ``key.path=value`` strings, applied in order after the file.

    Raises:
        ConfigError: unreadable file, bad TOML, unknown key, wrong type, or an out-of-range value.
    """
    tree: dict[str, Any] = copy.deepcopy(DEFAULTS)
    base_dir = Path.cwd()
    source = "<defaults>"
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("--config", f"cannot read {path}: {exc.strerror}", "pass an existing file") from None
        try:
            user = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"{path} is not valid TOML ({exc})", "fix the TOML syntax") from None
        if "venues" in user and isinstance(user["venues"], dict):
            # venues listed in the file replace the default set entirely (no hidden default venue)
            tree["venues"] = {}
        tree = _merge(tree, user, "")
        base_dir = path.resolve().parent
        source = str(path)
    for text in overrides:
        keys, value = _parse_override(text)
        _set_path(tree, keys, value)
    return build_config(tree, base_dir=base_dir, source=source)

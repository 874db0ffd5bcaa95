"""The validated configuration's types and :class:`ConfigError` (``trio_hedge.app._config``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..._hotpath import DEFAULT_BUDGET_MS, DEFAULT_WARM_PATH_MS
from ...domain import Instrument, TrioHedgeError
from ...engine import MarketSettings, PortfolioLimits, RateLimitSettings
from ...venues import SessionTimeouts

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "data"
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
        poll (tuple[str, ...]): ``ccxt_poll``: ccxt.pro streams to replace with REST polling (``watchOrderBook``,
            ``watchOrders``, ``watchMyTrades``; a stream known not to deliver).
    """

    ccxt_id: str
    options: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, str] = field(default_factory=dict, repr=False)
    poll: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SymbolConfig:
    """One symbol a venue lists for the bot: the default ``symbol`` of ``[venues.<name>]`` or a
    ``[venues.<name>.symbols.<SYMBOL>]`` table.

    Attributes:
        symbol (str): the venue symbol.
        market (SimVenueConfig | None): its simulated market (endpoint "sim": instrument, recording, contract).
        maker_fee_bps (Decimal), taker_fee_bps (Decimal): its fees, bps of notional (negative = rebate).
    """

    symbol: str
    market: SimVenueConfig | None
    maker_fee_bps: Decimal
    taker_fee_bps: Decimal


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """One configured venue.

    Attributes:
        name (str): the key under ``[venues]``.
        kind (str): ``"sim"`` (the in-process simulator venue), ``"backpack"`` or ``"grvt"`` (the wire adapters),
            ``"ccxt"`` (any ccxt exchange, ``ccxt``).
        endpoint (str): ``"sim"``: the embedded simulator (for the adapters: its wire-protocol server on an
            ephemeral loopback port); ``"live"``: the real venue.
        symbol (str): the venue's default symbol (the keys of ``[venues.<name>]`` itself).
        market (SimVenueConfig | None): the default symbol's simulated market (endpoint "sim").
        live (LiveVenueConfig | None): URLs and credentials (endpoint "live").
        maker_fee_bps (Decimal), taker_fee_bps (Decimal): the venue's fees, bps of notional (negative =
            rebate): the simulated market's for endpoint "sim", required in the config for "live".
        rate_limit (RateLimitSettings | None): the client-side request budget (None: ``rate_limit_per_s = 0``,
            no limiter).
        timeouts (SessionTimeouts): the session's budgets (``[venues.<name>.timeouts]``; the in-process
            ``kind = "sim"`` venue has no connection and ignores them).
        ccxt (CcxtVenueConfig | None): kind "ccxt" only.
        symbols (dict[str, SymbolConfig]): every symbol the venue lists for the bot, the default one first,
            then ``[venues.<name>.symbols.<SYMBOL>]`` in file order. One session carries them all.
        private_ws (str): the WebSocket client of the hot private connections (kinds "backpack", "grvt"):
            ``"wsproto"`` (``venues/_wsdirect.py``) or ``"trio-websocket"``.
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
    symbols: dict[str, SymbolConfig] = field(default_factory=dict)
    private_ws: str = "wsproto"

    def symbol_config(self, symbol: str) -> SymbolConfig:
        """The :class:`SymbolConfig` of ``symbol`` (the default symbol's when the table was built without one)."""
        sc = self.symbols.get(symbol)
        if sc is None and symbol == self.symbol:
            return SymbolConfig(self.symbol, self.market, self.maker_fee_bps, self.taker_fee_bps)
        if sc is None:
            raise KeyError(f"venue {self.name} does not list {symbol}")
        return sc


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
        inline_intents (bool): commit order intents on the event loop's thread when the journal's thread is
            idle (with ``exclusive_lock`` only; ``AsyncJournal.record_intent``).
        queue_hedge_intents (bool): a hedge order's intent (its client order id from a durable block) is queued
            ahead of its reports and committed by the recorder's writer a few ms after the send, instead of
            before it (``engine/_journaled.py``, "Hedge intents"): the hedge's frame goes out ~0.2 ms sooner; a
            crash of the process in those ms leaves the order without an intent, found at the next start by
            its reserved id (``recon.lost_intent``) and flattened. False: committed before the send.
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
    inline_intents: bool = True
    queue_hedge_intents: bool = True

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
    portfolio: PortfolioLimits | None = None
    fill_priority_ms: float = DEFAULT_BUDGET_MS
    """``engine.fill_priority_ms``: how long a maker fill keeps the book readers stepping aside at most
    (``trio_hedge/_hotpath.py``); 0: off."""
    warm_path_ms: float = DEFAULT_WARM_PATH_MS
    """``engine.warm_path_ms``: how often the hedge path is rehearsed, all but the send, while the hedger waits for
    fills (``trio_hedge/engine/_rehearse.py``); 0: never."""

    def traded_symbols(self, venue: str) -> tuple[str, ...]:
        """The symbols the configured markets trade on ``venue``, in market order (one session carries them all);
        the venue's default symbol when no market trades there."""
        out: list[str] = []
        for m in self.markets:
            sym = m.primary_symbol if venue == self.primary else m.hedge_symbol if venue == self.hedge else None
            if sym is not None and sym not in out:
                out.append(sym)
        return tuple(out) or (self.venues[venue].symbol,)

    def venue_markets(self, venue: str) -> tuple[str, ...]:
        """The names of the markets with a leg on ``venue``."""
        return tuple(m.name for m in self.markets) if venue in (self.primary, self.hedge) else ()

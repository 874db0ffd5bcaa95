"""Settings of a GRVT session (:class:`GrvtSettings`) and the account summary a hedge bot reads
(:class:`GrvtAccountSummary`, ``POST /full/v1/account_summary``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from ...domain import BadValue, to_decimal
from ...protocols.grvt import GrvtProtocolError
from .._base import SessionTimeouts
from .._wsdirect import DEFAULT_PRIVATE_WS, PRIVATE_WS_CLIENTS


@dataclass(frozen=True, slots=True)
class GrvtSettings:
    """Settings of one GRVT session. ``repr`` never shows ``api_key`` or ``private_key``.

    Attributes:
        edge_url (str): auth host base URL (``https://edge.grvt.io``; https://api-docs.grvt.io/: Authentication).
        market_data_url (str): market-data REST base URL (``https://market-data.grvt.io``).
        trades_url (str): trade-data REST base URL (``https://trades.grvt.io``).
        market_data_ws_url (str): market-data JSON-RPC WebSocket URL (``wss://market-data.grvt.io/ws/full``).
        trades_ws_url (str): trade-data JSON-RPC WebSocket URL (``wss://trades.grvt.io/ws/full``).
        api_key (str): API key id (secret).
        private_key (str): the API key's signer, 64 hex digits (secret).
        sub_account_id (str): trading sub-account, uint64 decimal string.
        chain_id (int): EIP-712 chain id: 325 prod, 326 testnet, 327 staging/dev.
        symbols (tuple[str, ...]): instruments to trade (``"BTC_USDT_Perp"``).
        name (str): configured venue name (domain objects and errors carry it).
        heartbeat_interval_s (float), heartbeat_timeout_s (float): WS ping period and pong deadline.
        private_stream_budget_s (float): the private stream down longer than this reports the session down
            (``session_down``: the run halts every market on the venue); orders are cancelled by the venue's
            cancel-on-disconnect, not by a watchdog.
        cod_countdown_ms (int): cancel-on-disconnect countdown, 1000..300000 ms; 0 leaves COD off.
        cod_refresh_s (float): COD refresh period (must be well below the countdown).
        event_capacity (int): per-symbol private event channel capacity.
        order_expiry_s (float): signature expiration of each order, seconds from now (GTT orders die then).
        reconnect_min_s (float), reconnect_max_s (float): WS reconnect backoff bounds (jittered).
        book_delta_rate_ms (int): ``v1.book.d`` rate: 50, 100, 500 or 1000 (market_data_streams: ``v1.book.d``).
        connect_timeout_s (float): TCP/TLS connect bound of a REST request.
        rest_timeout_s (float): read/write/pool bound of a REST request.
        order_ack_timeout_s (float): wait for a WS ``create_order`` answer before UnknownOutcome.
        subscribe_timeout_s (float): wait for a subscribe answer before reconnecting.
        snapshot_timeout_s (float): a (re)connected book must sync within this, else reconnect.
        open_timeout_s (float): bound of :func:`open_grvt_venue`'s start (login, instruments, books, stream).
        close_timeout_s (float): bound of the shielded cleanup on close.
        cancel_ttl_ms (int): ``time_to_live_ms`` of cancels by client order id (0..5000; trading API: Cancel Order).
        read_attempts (int): tries of an idempotent read on rate limits and transport errors.
        backoff_min_s (float), backoff_max_s (float): retry backoff of idempotent reads.
        cookie_refresh_margin_s (float): log in again this long before the cookie expires.
        reconcile_margin_s (float): after a private-stream drop, fills are queried from the last venue
            time seen before the drop minus this margin.
        size_step (str): lot of the Instrument: ``"min_size"`` (ccxt 4.5.90 ``parse_market``: amount
            precision is min_size) or ``"base_decimals"`` (``10**-base_decimals``).
        private_ws (str): the trades socket's WebSocket client (the private stream and the ``v1/create_order``
            RPCs): ``"wsproto"`` (``venues/_wsdirect.py``, read in the reader's task) or ``"trio-websocket"``;
            the market-data feed is always trio-websocket.
    """

    edge_url: str
    market_data_url: str
    trades_url: str
    market_data_ws_url: str
    trades_ws_url: str
    api_key: str = field(repr=False)
    private_key: str = field(repr=False)
    sub_account_id: str
    chain_id: int
    symbols: tuple[str, ...]
    name: str = "grvt"
    heartbeat_interval_s: float = 1.0
    heartbeat_timeout_s: float = 1.5
    private_stream_budget_s: float = 3.0
    cod_countdown_ms: int = 15000
    cod_refresh_s: float = 5.0
    event_capacity: int = 256
    order_expiry_s: float = 300.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0
    book_delta_rate_ms: int = 100
    connect_timeout_s: float = 3.0
    rest_timeout_s: float = 5.0
    order_ack_timeout_s: float = 3.0
    subscribe_timeout_s: float = 3.0
    snapshot_timeout_s: float = 5.0
    open_timeout_s: float = 20.0
    close_timeout_s: float = 3.0
    cancel_ttl_ms: int = 1000
    read_attempts: int = 4
    backoff_min_s: float = 0.2
    backoff_max_s: float = 5.0
    cookie_refresh_margin_s: float = 60.0
    reconcile_margin_s: float = 10.0
    size_step: str = "min_size"
    private_ws: str = DEFAULT_PRIVATE_WS

    def __post_init__(self) -> None:
        for attr in ("edge_url", "market_data_url", "trades_url", "market_data_ws_url", "trades_ws_url"):
            url = getattr(self, attr)
            if not isinstance(url, str) or "://" not in url:
                raise BadValue(f"GrvtSettings.{attr} must be an absolute URL")
        if not isinstance(self.api_key, str) or not self.api_key:
            raise BadValue("GrvtSettings.api_key must be a non-empty string")
        if not isinstance(self.private_key, str) or not self.private_key:
            raise BadValue("GrvtSettings.private_key must be a non-empty string")
        sub = self.sub_account_id
        if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit() or int(sub) >= 2**64:
            raise BadValue("GrvtSettings.sub_account_id must be a uint64 decimal string")
        if self.chain_id not in (325, 326, 327):
            raise BadValue(f"GrvtSettings.chain_id {self.chain_id!r} is not 325, 326 or 327")
        if (
            not isinstance(self.symbols, tuple)
            or not self.symbols
            or not all(isinstance(s, str) and s for s in self.symbols)
        ):
            raise BadValue("GrvtSettings.symbols must be a non-empty tuple of symbols")
        if self.cod_countdown_ms != 0 and not 1000 <= self.cod_countdown_ms <= 300_000:
            raise BadValue("GrvtSettings.cod_countdown_ms must be 0 or in [1000, 300000]")
        if self.cod_countdown_ms and not 0 < self.cod_refresh_s * 1000 < self.cod_countdown_ms:
            raise BadValue("GrvtSettings.cod_refresh_s must be > 0 and below the COD countdown")
        if self.book_delta_rate_ms not in (50, 100, 500, 1000):
            raise BadValue("GrvtSettings.book_delta_rate_ms must be 50, 100, 500 or 1000")
        if not 0 <= self.cancel_ttl_ms <= 5000:
            raise BadValue("GrvtSettings.cancel_ttl_ms must be in [0, 5000]")
        if self.private_ws not in PRIVATE_WS_CLIENTS:
            raise BadValue(f"GrvtSettings.private_ws must be one of {', '.join(PRIVATE_WS_CLIENTS)}")
        if self.size_step not in ("min_size", "base_decimals"):
            raise BadValue("GrvtSettings.size_step must be 'min_size' or 'base_decimals'")
        if self.event_capacity < 1 or self.read_attempts < 1:
            raise BadValue("GrvtSettings.event_capacity and read_attempts must be >= 1")
        if not 0 < self.order_expiry_s <= 30 * 24 * 3600:
            raise BadValue("GrvtSettings.order_expiry_s must be in (0, 30 days]")
        for attr in (
            "heartbeat_interval_s", "heartbeat_timeout_s", "reconnect_min_s", "reconnect_max_s",
            "connect_timeout_s", "rest_timeout_s", "order_ack_timeout_s", "subscribe_timeout_s",
            "snapshot_timeout_s", "open_timeout_s", "close_timeout_s", "backoff_min_s", "backoff_max_s",
        ):  # fmt: skip
            v = getattr(self, attr)
            if not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise BadValue(f"GrvtSettings.{attr} must be a finite number > 0")

    @classmethod
    def for_single_host(cls, rest: str, ws: str, **kw: Any) -> GrvtSettings:
        """Settings for a server that serves every GRVT host on one address (the wire simulator).

        Args:
            rest: the one REST base URL (``http://127.0.0.1:PORT``) for edge, market-data and trades.
            ws: the one ``/ws/full`` URL for market-data and trades WebSockets.
            **kw: every other field (``api_key``, ``private_key``, ``sub_account_id``, ``chain_id``,
                ``symbols``, ...).

        Raises:
            BadValue: as the constructor.
        """
        return cls(edge_url=rest, market_data_url=rest, trades_url=rest, market_data_ws_url=ws, trades_ws_url=ws, **kw)

    def with_timeouts(self, t: SessionTimeouts) -> GrvtSettings:
        """These settings with the session budgets ``t`` (``[venues.<name>.timeouts]``). GRVT arms
        cancel-on-disconnect, so ``t.private_stream_budget_s`` only bounds how long the private stream may be down
        before the session reports itself down (``session_down``).

        Raises:
            BadValue: a budget out of range.
        """
        return replace(self, connect_timeout_s=t.connect_s, rest_timeout_s=t.request_s, close_timeout_s=t.close_s,
                       heartbeat_interval_s=t.heartbeat_s, heartbeat_timeout_s=t.heartbeat_deadline_s,
                       private_stream_budget_s=t.private_stream_budget_s)  # fmt: skip

    def secrets(self) -> tuple[str, ...]:
        """The configured credentials, for log redaction: the API key and the private key (as given and
        in its bare lower-case hex form)."""
        pk = self.private_key
        bare = pk[2:] if pk[:2] in ("0x", "0X") else pk
        out = [self.api_key, pk, bare, bare.lower(), "0x" + bare.lower()]
        return tuple(dict.fromkeys(s for s in out if s))


@dataclass(frozen=True, slots=True)
class GrvtAccountSummary:
    """The parts of ``account_summary`` (trading API: Sub Account Summary) a hedge bot checks, in ``settle_currency``
    units.

    Attributes:
        settle_currency (str): ``"USDT"``.
        total_equity (Decimal), available_balance (Decimal), initial_margin (Decimal),
        maintenance_margin (Decimal), unrealized_pnl (Decimal): as the venue reports them.
        event_time_ns (int): venue time of the summary, ns.
    """

    settle_currency: str
    total_equity: Decimal
    available_balance: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    unrealized_pnl: Decimal
    event_time_ns: int


def parse_account_summary(result: Any, *, venue: str = "grvt") -> GrvtAccountSummary:
    """Parse the ``result`` of ``POST /full/v1/account_summary`` (trading API: Sub Account Summary; a real capture is
    ``tests/fixtures/grvt/server_conformance.json``).

    Raises:
        GrvtProtocolError: not an object, a missing field, a non-decimal or non-finite amount.
    """
    if not isinstance(result, dict):
        raise GrvtProtocolError("account_summary: expected an object", venue=venue)

    def dec(name: str) -> Decimal:
        value = result.get(name)
        if not isinstance(value, str):
            raise GrvtProtocolError(f"account_summary.{name}: expected a decimal string", venue=venue)
        try:
            return to_decimal(value, what=f"account_summary.{name}")
        except BadValue as exc:
            raise GrvtProtocolError(str(exc), venue=venue) from None

    currency = result.get("settle_currency", "")
    et = result.get("event_time", "0")
    if not isinstance(currency, str) or not isinstance(et, str | int) or not str(et).isdigit():
        raise GrvtProtocolError("account_summary: bad settle_currency or event_time", venue=venue)
    return GrvtAccountSummary(
        settle_currency=currency,
        total_equity=dec("total_equity"),
        available_balance=dec("available_balance"),
        initial_margin=dec("initial_margin"),
        maintenance_margin=dec("maintenance_margin"),
        unrealized_pnl=dec("unrealized_pnl"),
        event_time_ns=int(et),
    )

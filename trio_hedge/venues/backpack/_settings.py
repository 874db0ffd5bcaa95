"""Settings of a Backpack session (:class:`BackpackSettings`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from ...domain import BadValue
from ...protocols.backpack import MAX_WINDOW_MS
from .._base import SessionTimeouts
from .._wsdirect import DEFAULT_PRIVATE_WS, PRIVATE_WS_CLIENTS


@dataclass(frozen=True, slots=True)
class BackpackSettings:
    """Settings of one Backpack venue session.

    Attributes:
        rest_url (str): REST base URL (``https://api.backpack.exchange``; the simulator's ``http://127.0.0.1:P``).
        ws_url (str): WebSocket URL (``wss://ws.backpack.exchange``; the simulator's ``ws://127.0.0.1:P``).
        api_key (str): base64 ED25519 verifying key (``X-API-Key``). Secret: not in the repr.
        api_secret (str): base64 ED25519 seed. Secret: not in the repr.
        symbols (tuple[str, ...]): markets to trade (``"SOL_USDC_PERP"``...).
        name (str): venue name in events, errors and logs.
        window_ms (int): ``X-Window`` of signed requests, ms (1..60000; https://docs.backpack.exchange/:
        Authentication).
        heartbeat_interval_s (float), heartbeat_timeout_s (float): WS ping period and pong deadline, seconds.
        private_stream_budget_s (float): private stream (or its heartbeat) silent longer than this, seconds ->
            cancel resting orders over REST (module docstring).
        event_capacity (int): per-symbol private event channel capacity, events.
        reconnect_min_s (float), reconnect_max_s (float): reconnect backoff bounds, seconds.
        request_budget_s (float): the adapter's own deadline on one HTTP exchange and on one WebSocket opening
            handshake, seconds (a state-changing request past it is :class:`UnknownOutcome`; a peer that resets
            the connection mid-handshake is otherwise only noticed by trio-websocket's connect timeout).
            Callers' deadlines apply on top.
        connect_budget_s (float | None): bound of opening a connection (a WebSocket handshake; httpx's connect
            phase gets half of it), seconds; None: ``request_budget_s``.
        close_budget_s (float): bound of the shielded cleanup when the session closes, seconds.
        read_attempts (int): tries of a read-only request on a transport failure, a 5xx or a rate limit (1: a
            read surfaces its first failure, and the engine's retry policy decides).
        private_ws (str): the private account stream's WebSocket client: ``"wsproto"`` (``venues/_wsdirect.py``,
            read in the stream's task) or ``"trio-websocket"``; the public feed is always trio-websocket.

    Raises:
        BadValue: a field out of range (the message never contains a secret).
    """

    rest_url: str
    ws_url: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    symbols: tuple[str, ...]
    name: str = "backpack"
    window_ms: int = 5000
    heartbeat_interval_s: float = 1.0
    heartbeat_timeout_s: float = 1.5
    private_stream_budget_s: float = 3.0
    event_capacity: int = 256
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0
    request_budget_s: float = 5.0
    read_attempts: int = 1
    connect_budget_s: float | None = None
    close_budget_s: float = 2.0
    private_ws: str = DEFAULT_PRIVATE_WS

    def __post_init__(self) -> None:
        symbols = self.symbols
        if not isinstance(symbols, tuple) or not symbols or not all(isinstance(s, str) and s for s in symbols):
            raise BadValue(f"{self.name}: symbols must be a non-empty tuple of symbol names")
        if len(set(self.symbols)) != len(self.symbols):
            raise BadValue(f"{self.name}: a symbol is listed twice")
        window = self.window_ms
        if isinstance(window, bool) or not isinstance(window, int) or not 0 < window <= MAX_WINDOW_MS:
            raise BadValue(f"{self.name}: window_ms must be an int in 1..{MAX_WINDOW_MS}")
        for what in ("heartbeat_interval_s", "heartbeat_timeout_s", "private_stream_budget_s", "reconnect_min_s",
                     "reconnect_max_s", "request_budget_s", "connect_budget_s", "close_budget_s"):
            value = self.connect_s if what == "connect_budget_s" else getattr(self, what)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise BadValue(f"{self.name}: {what} must be a finite number > 0")
        if self.heartbeat_interval_s >= self.private_stream_budget_s:
            raise BadValue(f"{self.name}: heartbeat_interval_s must be shorter than private_stream_budget_s")
        if self.reconnect_min_s > self.reconnect_max_s:
            raise BadValue(f"{self.name}: reconnect_min_s must not exceed reconnect_max_s")
        for what in ("event_capacity", "read_attempts"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BadValue(f"{self.name}: {what} must be an int >= 1")
        if self.private_ws not in PRIVATE_WS_CLIENTS:
            raise BadValue(f"{self.name}: private_ws must be one of {', '.join(PRIVATE_WS_CLIENTS)}")
        if not isinstance(self.api_key, str) or not isinstance(self.api_secret, str):
            raise BadValue(f"{self.name}: api_key and api_secret must be strings")

    def secrets(self) -> tuple[str, ...]:
        """The values to redact from logs: ``(api_key, api_secret)`` (the venues layer never imports the app)."""
        return (self.api_key, self.api_secret)

    @property
    def connect_s(self) -> float:
        """The effective connect budget, seconds."""
        return self.request_budget_s if self.connect_budget_s is None else self.connect_budget_s

    def with_timeouts(self, t: SessionTimeouts) -> BackpackSettings:
        """These settings with the session budgets ``t`` (``[venues.<name>.timeouts]``).

        Raises:
            BadValue: a budget out of range (e.g. the heartbeat not shorter than the private-stream budget).
        """
        return replace(self, connect_budget_s=t.connect_s, request_budget_s=t.request_s, close_budget_s=t.close_s,
                       heartbeat_interval_s=t.heartbeat_s, heartbeat_timeout_s=t.heartbeat_deadline_s,
                       private_stream_budget_s=t.private_stream_budget_s)  # fmt: skip

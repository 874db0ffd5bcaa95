"""The settings of one ccxt venue session (:class:`CcxtSettings`), the per-exchange tables the adapter reads
(which exchanges reject a post-only synchronously, read account-wide, fetch by client order id), the streams it can
replace with REST polling, and the URLs of the embedded wire simulators."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .._base import SessionTimeouts

HOLD_S = 0.25
"""How long an order update that counts fills not yet delivered waits for them on the trade stream, seconds."""

BOOK_DEPTH = 50
"""Levels per side copied out of ccxt's order book on each update."""

SYNC_POST_ONLY_REJECT = frozenset({"backpack"})
"""ccxt exchanges that refuse a crossing post-only order in the answer to ``create_order`` (capability
``post_only_reject_sync``); elsewhere it may be acked, then rejected on the stream."""

POLL_SHARE = 0.25
"""The share of an exchange's published request rate (``1000 / rateLimit`` per second) that REST polling may spend
by default (``CcxtSettings.poll_rate_per_s`` overrides it)."""

ACCOUNT_WIDE_READS = frozenset({"backpack"})
"""ccxt exchanges whose ``fetch_open_orders`` and ``fetch_my_trades`` read every symbol of the account in one call
when given no symbol (Backpack: ``GET /api/v1/orders`` and ``GET /wapi/v1/history/fills`` take ``symbol`` as an
optional filter, https://docs.backpack.exchange/#tag/Order/operation/get_open_orders and
https://docs.backpack.exchange/#tag/History/operation/get_fills). The order poll's pass then costs the same REST
calls for any number of symbols; elsewhere it reads symbol by symbol."""

POLLABLE = {"watchOrderBook": "book_stream", "watchOrders": "order_stream", "watchMyTrades": "fill_stream"}
"""ccxt.pro's stream methods the adapter can replace with REST polling, and the capability each stands for."""

CLIENT_ID_FETCH = frozenset({"grvt"})
"""ccxt exchanges whose ``fetch_order`` takes our ``clientOrderId`` param; the others are asked by the venue id
from the ack or, when the ack was lost, found among the open and recent orders."""


@dataclass(frozen=True, slots=True)
class CcxtSettings:
    """One ccxt venue session.

    Attributes:
        name (str): the configured venue name. ccxt_id (str): the ccxt exchange id (``ccxt.exchanges``).
        symbols (tuple[str, ...]): the symbols traded, as configured (ccxt's unified symbol or the market id).
        config (dict): the ccxt client's constructor config (credentials, ``options``: ``ccxt_options``).
        urls (dict): replaces the client's ``urls["api"]`` (the wire simulators); empty keeps ccxt's.
        event_capacity (int): per-symbol private channel capacity.
        timeouts (SessionTimeouts): budgets (``request_s`` per ccxt call; ``heartbeat_s + heartbeat_deadline_s``
            is the staleness budget of a book; ``private_stream_budget_s`` the watchdog's).
        poll (frozenset[str]): streams to replace with REST polling even where ccxt has them (keys of
            :data:`POLLABLE`: a stream known not to deliver); those ccxt lacks are polled anyway.
        poll_interval_s (float | None): the polls' period, seconds; None: ``timeouts.heartbeat_s``.
        poll_rate_per_s (float | None): the most REST calls per second the polls may spend; None:
            :data:`POLL_SHARE` of the exchange's published rate.
    """

    name: str
    ccxt_id: str
    symbols: tuple[str, ...]
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    urls: dict[str, Any] = field(default_factory=dict)
    event_capacity: int = 256
    timeouts: SessionTimeouts = field(default_factory=SessionTimeouts)
    poll: frozenset[str] = frozenset()
    poll_interval_s: float | None = None
    poll_rate_per_s: float | None = None

    def __post_init__(self) -> None:
        unknown = set(self.poll) - set(POLLABLE)
        if unknown:
            raise ValueError(f"cannot poll {sorted(unknown)}: only {sorted(POLLABLE)}")

    def with_timeouts(self, timeouts: SessionTimeouts) -> CcxtSettings:
        return replace(self, timeouts=timeouts)

    def secrets(self) -> list[str]:
        """Credential values (registered for redaction)."""
        return [v for k, v in self.config.items() if isinstance(v, str) and k != "options" and v]

    @property
    def stale_s(self) -> float:
        return self.timeouts.heartbeat_s + self.timeouts.heartbeat_deadline_s


def simulator_urls(ccxt_id: str, rest: str, ws_market_data: str, ws_private: str) -> dict[str, Any]:
    """ccxt's ``urls["api"]`` for the embedded wire simulator of ``ccxt_id`` (``backpack``, ``grvt``): only the
    URLs change (the keys are ccxt's own: ``ccxt/backpack.py``, ``ccxt/grvt.py``, ``ccxt/pro/*.py``).

    Raises:
        KeyError: no wire simulator speaks ``ccxt_id``.
    """
    if ccxt_id == "backpack":
        return {"public": rest, "private": rest, "ws": {"public": ws_market_data, "private": ws_private}}
    if ccxt_id == "grvt":
        base = rest.rstrip("/") + "/"
        return {"privateEdge": base, "privateTrading": base, "publicMarket": base,
                "ws": {"publicMarket": ws_market_data, "privateTrading": ws_private}}
    raise KeyError(f"no wire simulator for the ccxt exchange {ccxt_id!r} (backpack and grvt have one)")


__all__ = [
    "ACCOUNT_WIDE_READS",
    "BOOK_DEPTH",
    "CLIENT_ID_FETCH",
    "HOLD_S",
    "POLLABLE",
    "POLL_SHARE",
    "SYNC_POST_ONLY_REJECT",
    "CcxtSettings",
    "simulator_urls",
]

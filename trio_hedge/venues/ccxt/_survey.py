"""Which ccxt exchanges have what the bot needs, read offline from ccxt's static class attributes (``has``,
``features``, ``requiredCredentials``: https://docs.ccxt.com/#/README?id=exchange-properties): constructing a ccxt
client opens no connection, and nothing here calls a method that would.

What the bot needs of a venue (the ``Venue`` interface, ``venues/_base.py``): perpetual swaps, limit orders that are
post-only and IOC, cancel, positions, an order-book stream; an order stream or its REST fallback (statuses polled),
a trade stream or its REST fallback (fills read over REST when an order update shows more filled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ccxt.pro


@dataclass(frozen=True, slots=True)
class ExchangeFit:
    """One ccxt exchange against the bot's needs.

    Attributes:
        ccxt_id (str): the id. credentials (tuple[str, ...]): ccxt's ``requiredCredentials`` that are required.
        lacks (tuple[str, ...]): needs it does not declare (the bot cannot trade it while any is missing).
        fallbacks (tuple[str, ...]): streams it lacks that the adapter replaces over REST (slower).
        unknown (tuple[str, ...]): needs its ``features`` do not say either way (check before trading).
    """

    ccxt_id: str
    credentials: tuple[str, ...]
    lacks: tuple[str, ...] = field(default_factory=tuple)
    fallbacks: tuple[str, ...] = field(default_factory=tuple)
    unknown: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fits(self) -> bool:
        return not self.lacks


def _tif(client: Any) -> dict[str, Any] | None:
    swap = (client.features or {}).get("swap") or {}
    for kind in ("linear", "inverse"):
        create = (swap.get(kind) or {}).get("createOrder") if isinstance(swap.get(kind), dict) else None
        if isinstance(create, dict) and isinstance(create.get("timeInForce"), dict):
            return dict(create["timeInForce"])
    return None


def assess(ccxt_id: str) -> ExchangeFit:
    """The fit of ccxt.pro exchange ``ccxt_id`` (offline). Raises AttributeError for an unknown id."""
    client = getattr(ccxt.pro, ccxt_id)()
    has = client.has
    lacks: list[str] = []
    fallbacks: list[str] = []
    unknown: list[str] = []
    for flag, need in (("swap", "perpetual swaps"), ("createOrder", "createOrder"), ("cancelOrder", "cancelOrder"),
                       ("fetchPositions", "fetchPositions"), ("watchOrderBook", "an order-book stream")):
        if not has.get(flag):
            lacks.append(need)
    tif = _tif(client)
    for key, need in (("PO", "post-only orders"), ("IOC", "IOC orders")):
        if tif is None:
            if not (key == "PO" and has.get("createPostOnlyOrder")):
                unknown.append(need)
        elif not tif.get(key):
            lacks.append(need)
    if not has.get("watchOrders"):
        if has.get("fetchOrder") or has.get("fetchOpenOrders"):
            fallbacks.append("orders polled over REST (no watchOrders)")
        else:
            lacks.append("an order stream or fetchOrder")
    if not has.get("watchMyTrades"):
        if has.get("fetchMyTrades"):
            fallbacks.append("fills read over REST (no watchMyTrades)")
        else:
            lacks.append("a trade stream or fetchMyTrades")
    if not has.get("cancelAllOrders"):
        fallbacks.append("cancel all as one cancel per open order")
    creds = tuple(k for k, v in client.requiredCredentials.items() if v)
    return ExchangeFit(ccxt_id, creds, tuple(lacks), tuple(fallbacks), tuple(unknown))


def survey() -> list[ExchangeFit]:
    """Every ccxt.pro exchange, assessed (offline), in ccxt's order."""
    return [assess(x) for x in ccxt.pro.exchanges]

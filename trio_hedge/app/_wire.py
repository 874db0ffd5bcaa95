"""Venue sessions for the main job and the ``sim`` command: which implementation serves each configured venue.

- ``kind = "sim"``: the in-process simulator venue (no wire; fast tests).
- ``kind = "grvt"`` / ``"backpack"`` with ``endpoint = "sim"``: the embedded wire-protocol simulator is
  started on an ephemeral loopback port and the real adapter connects to it over HTTP and WebSocket.
- ``kind = "ccxt"``: ccxt's client of the exchange ``ccxt_id`` (``venues/ccxt/``); with ``endpoint = "sim"`` pointed
  at the embedded wire simulator of that exchange (only the client's URLs change).
- ``endpoint = "live"``: the real adapter connects to the real venue.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any

import trio
from loguru import logger

from ..sim import SimExchange, SimVenueSettings, open_sim_venue
from ..venues import Venue
from ._config import Config, VenueConfig
from ._logging import register_secret


def protocol_of(vc: VenueConfig) -> str:
    """The wire protocol a simulated venue speaks in the ``sim`` command: its kind, or for ``kind = "sim"``
    its name when that names a protocol (``grvt``/``backpack``)."""
    if vc.kind in ("grvt", "backpack"):
        return vc.kind
    if vc.kind == "ccxt" and vc.ccxt is not None and vc.ccxt.ccxt_id in ("grvt", "backpack"):
        return vc.ccxt.ccxt_id
    return vc.name if vc.name in ("grvt", "backpack") else ""


async def start_wire_server(
    nursery: trio.Nursery, exchange: SimExchange, vc: VenueConfig, *, host: str = "127.0.0.1", port: int = 0,
    protocol: str | None = None,
) -> Any:
    """Start the wire-protocol simulator for ``vc`` in ``nursery``; return its info (URLs, credentials)."""
    proto = protocol or protocol_of(vc)
    if proto == "grvt":
        from ..sim._grvt_server import serve_grvt

        info = await nursery.start(lambda task_status: serve_grvt(exchange, vc.name, host=host, port=port,
                                                                  task_status=task_status))
        register_secret(info.api_key)
        register_secret(info.private_key)
    elif proto == "backpack":
        from ..sim._backpack_server import serve_backpack

        info = await nursery.start(lambda task_status: serve_backpack(exchange, vc.name, host=host, port=port,
                                                                      task_status=task_status))
        register_secret(info.api_secret)
    else:
        raise ValueError(f"venue {vc.name}: no wire protocol for kind {vc.kind!r}")
    return info


async def open_venues(
    config: Config, exchange: SimExchange | None, servers: trio.Nursery, stack: AsyncExitStack
) -> dict[str, Venue]:
    """Open a session for every configured venue (entered on ``stack``; wire servers run in ``servers``)."""
    venues: dict[str, Venue] = {}
    for name, vc in config.venues.items():
        log = logger.bind(tag="MAIN")
        if vc.kind == "sim":
            assert exchange is not None
            venues[name] = await stack.enter_async_context(
                open_sim_venue(exchange, name, SimVenueSettings(event_capacity=config.event_capacity))
            )
            continue
        if vc.kind == "grvt":
            from ..venues.grvt._adapter import GrvtSettings, open_grvt_venue

            if vc.endpoint == "sim":
                assert exchange is not None
                info = await start_wire_server(servers, exchange, vc)
                gs = GrvtSettings.for_single_host(
                    info.rest, info.ws, api_key=info.api_key, private_key=info.private_key,
                    sub_account_id=info.sub_account_id, chain_id=info.chain_id, symbols=config.traded_symbols(name),
                    name=name,
                    event_capacity=config.event_capacity,
                )
                log.info("{}: GRVT wire simulator at {} / {}", name, info.rest, info.ws)
            else:
                assert vc.live is not None
                u = vc.live.urls
                gs = GrvtSettings(
                    edge_url=u["edge_url"], market_data_url=u["market_data_url"], trades_url=u["trades_url"],
                    market_data_ws_url=u["market_data_ws_url"], trades_ws_url=u["trades_ws_url"],
                    api_key=vc.live.api_key, private_key=vc.live.secret, sub_account_id=vc.live.sub_account_id,
                    chain_id=vc.live.chain_id, symbols=config.traded_symbols(name), name=name,
                    event_capacity=config.event_capacity,
                )
            gs = replace(gs.with_timeouts(vc.timeouts), private_ws=vc.private_ws)
            for secret in gs.secrets():
                register_secret(secret)
            venues[name] = await stack.enter_async_context(open_grvt_venue(gs))
        elif vc.kind == "backpack":
            from ..venues.backpack._adapter import BackpackSettings, open_backpack_venue

            if vc.endpoint == "sim":
                assert exchange is not None
                info = await start_wire_server(servers, exchange, vc)
                bs = BackpackSettings(rest_url=info.rest, ws_url=info.ws, api_key=info.api_key,
                                      api_secret=info.api_secret, symbols=config.traded_symbols(name), name=name,
                                      event_capacity=config.event_capacity)
                log.info("{}: Backpack wire simulator at {} / {}", name, info.rest, info.ws)
            else:
                assert vc.live is not None
                bs = BackpackSettings(rest_url=vc.live.urls["rest_url"], ws_url=vc.live.urls["ws_url"],
                                      api_key=vc.live.api_key, api_secret=vc.live.secret,
                                      symbols=config.traded_symbols(name), name=name,
                                      event_capacity=config.event_capacity)
            bs = replace(bs.with_timeouts(vc.timeouts), private_ws=vc.private_ws)
            for secret in bs.secrets():
                register_secret(secret)
            venues[name] = await stack.enter_async_context(open_backpack_venue(bs))
        elif vc.kind == "ccxt":
            venues[name] = await stack.enter_async_context(await _ccxt_session(config, vc, exchange, servers))
        else:  # pragma: no cover - the config loader refuses other kinds
            raise ValueError(vc.kind)
        secrets = getattr(venues[name], "secrets", None)
        if callable(secrets):
            for secret in secrets():
                register_secret(secret)
    return venues


async def _ccxt_session(config: Config, vc: VenueConfig, exchange: SimExchange | None, servers: trio.Nursery) -> Any:
    """The ``open_ccxt_venue`` context of a ``kind = "ccxt"`` venue: on the embedded wire simulator of its exchange
    (its URLs and test credentials) or on the exchange itself (ccxt's URLs, the configured credentials)."""
    from ..venues.ccxt import CcxtSettings, open_ccxt_venue, simulator_urls

    assert vc.ccxt is not None
    cc = vc.ccxt
    config_: dict[str, Any] = {"options": dict(cc.options)} if cc.options else {}
    urls: dict[str, Any] = {}
    if vc.endpoint == "sim":
        assert exchange is not None
        info = await start_wire_server(servers, exchange, vc)
        if cc.ccxt_id == "grvt":
            urls = simulator_urls("grvt", info.rest, info.ws_market_data, info.ws_trades)
            config_ = {"privateKey": "0x" + info.private_key,
                       "options": {"accountId": info.sub_account_id, "builderFee": False, **cc.options}}
        else:
            urls = simulator_urls(cc.ccxt_id, info.rest, info.ws, info.ws)
            config_ = {"apiKey": info.api_key, "secret": info.api_secret, **config_}
        logger.bind(tag="MAIN").info("{}: ccxt {} on its wire simulator at {}", vc.name, cc.ccxt_id, info.rest)
    else:
        config_.update(cc.credentials)
    settings = CcxtSettings(vc.name, cc.ccxt_id, config.traded_symbols(vc.name), config_, urls, config.event_capacity,
                            vc.timeouts, poll=frozenset(cc.poll))  # fmt: skip
    for secret in settings.secrets():
        register_secret(secret)
    return open_ccxt_venue(settings)

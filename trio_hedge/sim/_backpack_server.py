"""Backpack Exchange wire-protocol simulator: one simulated venue of a :class:`SimExchange`, served over real
loopback HTTP and WebSocket so that the Backpack adapter (and ccxt) can talk to it as to the real venue.

Wire formats: the Backpack API docs (https://docs.backpack.exchange/, from their OpenAPI 1.0 document, whose
``Streams`` tag is the WebSocket documentation), backpack-exchange/bpx-api-client @dc5d8b1
(https://github.com/backpack-exchange/bpx-api-client) and ccxt 4.5.90; the JSON shapes (keys and JSON types)
follow the real captured responses in ``tests/fixtures/backpack/`` (``captured.json``, ``captured_ticker.json``,
``ws_order_update_examples.json``; origins in ``tests/fixtures/SOURCES.md``). Citations below use the names of
the protocol package's docstring (:mod:`trio_hedge.protocols.backpack`: "Backpack REST docs", "Backpack WS
docs"). Signing and its verification are
:mod:`trio_hedge.protocols.backpack` (``_signing``); request parsing reuses the same package.
Claims marked [I] are inferences where no source fixes the venue's behaviour.

Endpoints (one Starlette app served by :func:`~trio_hedge.sim._asgi.serve_asgi`, HTTP and WebSocket on one port):

* Public REST: ``GET /api/v1/markets`` (``?marketType=``), ``/api/v1/market?symbol=``, ``/api/v1/depth?symbol=
  [&limit=]``, ``/api/v1/ticker?symbol=``, ``/api/v1/tickers``, ``/api/v1/assets`` and ``/api/v1/securities``
  (the last two so that ccxt's ``load_markets`` works).
* Signed REST (``X-API-Key``/``X-Signature``/``X-Timestamp``/``X-Window``, ED25519 over the sorted signing string,
  timestamp within the window of the wall clock): ``POST /api/v1/order`` (orderExecute), ``GET /api/v1/order``
  (orderQuery), ``DELETE /api/v1/order`` (orderCancel), ``GET /api/v1/orders`` (orderQueryAll), ``DELETE
  /api/v1/orders`` (orderCancelAll), ``GET /api/v1/position`` (positionQuery), ``GET /wapi/v1/history/fills``
  (fillHistoryQueryAll), ``GET /wapi/v1/history/orders`` (orderHistoryQueryAll). Not served: batch orders,
  trigger/TP/SL orders, ``quoteQuantity`` market orders (``NOT_IMPLEMENTED``), balances and collateral (the
  simulator keeps no account equity).
* WebSocket at ``/`` (the real endpoint is the bare host ``wss://ws.backpack.exchange``): ``SUBSCRIBE`` /
  ``UNSUBSCRIBE`` of ``depth.<symbol>`` (``depth.<200|600|1000>ms.<symbol>`` are served like the realtime
  stream), ``bookTicker.<symbol>``, and the signed ``account.orderUpdate[.<symbol>]`` /
  ``account.positionUpdate[.<symbol>]`` (and ``account.rfqUpdate[.<symbol>]``, accepted and
  silent: no RFQ markets). Frames are ``{"stream": <name as subscribed>, "data": {...}}``; no ack
  is sent for a subscription [I]; errors are ``{"id": <the message's id or null>, "error": {"code", "message"}}``
  with 4006 "Invalid stream" (captured), 4000 for a malformed message and 4001 for a refused signature [I].
  The server sends a WebSocket Ping every ``ping_interval_s`` (60 s on the real venue).

Errors follow the venue: HTTP 4xx with ``{"code": <ApiErrorCode>, "message": ...}``; payload and parameter parse
failures are the venue's plain-text 400 (``parse request payload error: ...``, ``failed to parse parameter
`x`: ...``; captured in bpx-api-client issue #49 and ccxt's ``backpack.py`` comments); a handler failure is a
500 ``SERVER_ERROR`` JSON body, never a traceback. Choices where the venue's answer is not documented [I]:

* signature refused: 400 ``INVALID_SIGNATURE``; missing/unknown key, bad window, stale or future timestamp:
  401 ``UNAUTHORIZED``;
* a post-only order that would take: 400 ``INVALID_ORDER`` "Order would immediately match and take" (the REST
  order object has no ``expiryReason``, so an ``Expired`` answer could not say why); a reduce-only order that
  would not reduce: 400 ``INVALID_ORDER`` "Reduce only order not reduced". Neither creates an order;
* off-tick price: ``INVALID_PRICE``; off-step, zero or below-minimum quantity: ``INVALID_QUANTITY``; below the
  market's minimum notional: ``INVALID_ORDER``; a limit price beyond the published ``minMultiplier`` /
  ``maxMultiplier`` band around the book mid: ``INVALID_PRICE`` "Price is too far from the last active price"
  (message captured); a live ``clientId`` reused: ``INVALID_CLIENT_REQUEST`` "Duplicate client id";
* cancel of an unknown or no longer open order: 400 ``INVALID_CLIENT_REQUEST`` "Order not found" (the answer a
  public hummingbot-based ``backpack_perpetual`` connector matches on); ``GET /api/v1/order`` of such an
  order: 404 ``RESOURCE_NOT_FOUND`` (Backpack REST docs);
* over the optional rate limit (token bucket, burst one second's worth): 429 ``TOO_MANY_REQUESTS``;
* the simulated book unavailable (feed killed by fault injection, or the venue book being rebuilt): REST depth
  and ticker 503 ``MAINTENANCE``; an order 400 ``TRADING_PAUSED``; depth WebSocket subscribers are closed
  (code 1011) and may reconnect.

Orders: the engine's IOC/market remainder, FOK and reduce-only cap are answered and streamed ``Expired`` with
the OpenAPI ``OrderExpiryReason`` (``ImmediateOrCancel``, ``InsufficientLiquidity`` for a market order,
``FillOrKill``, ``ReduceOnlyNotReduced``; the same PascalCase text in the stream's ``R`` [I]). Ids are numeric and
unique across symbols: order ids strings; trade and position ids strings in REST (``tradeId``, ``positionId``)
and numbers in the stream (``t``, ``i``), as captured. REST ``clientId`` and ``createdAt`` are strings and
``reduceOnly`` is ``null`` unless set, as captured; stream ``E``/``T`` are microsecond strings as in the newest
captures (the docs show numbers; every parser here accepts both), ``c`` is a number, ``t`` is ``null`` except on
fills, ``Q`` (price x quantity) is sent for limit orders only. A market order's ``quoteQuantity`` is its executed
quote quantity [I].

Depth: each market's book is served by a hub started on demand (first REST depth/ticker request or WebSocket
subscription). The hub applies the exchange's market-data batches to its own :class:`OrderBook`, numbering
updates itself: one depth frame per batch with ``U`` = first and ``u`` = last update id of the batch, always
``U == previous u + 1``; a replacement snapshot from the exchange becomes a delta (the levels that differ). REST
``lastUpdateId`` is the hub book's id, read between batches, so it always equals the ``u`` of a frame (or the
initial id). ``bookTicker`` is sent when the inside bid or ask changes, with ``u`` = the depth update id. The
REST ticker has no public trades to summarise: its prices are book mids seen by the hub; volumes and trade
count are ``0`` [I].

Timestamps: venue times (``createdAt``, ``E``, ``T``, fill ``timestamp``, depth ``timestamp``) are the simulated
venue clock :meth:`SimExchange.now_ns` (recording time); only the signature freshness check uses the wall clock,
as clients sign with theirs. Private events leave at the exchange's ``deliver_at``; requests are delayed by
``SimSettings.latency_s`` on the way in.

Secrets: the server keeps only the API key (the public key); a generated seed is returned in
:class:`BackpackSimInfo` and never logged or shown in a repr.

Code: this module serves; the venue's parts are in ``sim/_backpack/`` (``_model`` the simulated venue's
tunables, its order record and how engine states read as Backpack statuses, ``_errors`` its error answers,
``_state`` connections, depth hubs and the venue state, ``_rest`` the REST routes, ``_stream`` the private stream
and the WebSocket endpoint), on the shared machinery of ``sim/_wire/`` (connection outbox, book mirror,
rate-limit and latency middleware). Every wire format, both the replies sent and the requests read, is
:mod:`trio_hedge.protocols.backpack`'s (``format_*`` / ``parse_*`` per message family); this package holds the
venue's state and behaviour only.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from functools import partial

import nacl.signing
import trio
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from ..domain import BadValue
from ..protocols.backpack import BackpackSigner
from ._asgi import serve_asgi
from ._backpack._model import DEFAULT_PING_INTERVAL_S
from ._backpack._rest import _BackpackRest
from ._backpack._stream import _BackpackStreams
from ._exchange import SimExchange
from ._wire import GateMiddleware

__all__ = ["BackpackSimInfo", "serve_backpack"]

# ---------------------------------------------------------------------------------------------- public API


@dataclass(frozen=True, slots=True)
class BackpackSimInfo:
    """Where a running Backpack simulator listens and the credentials it accepts.

    Attributes:
        rest (str): REST base URL, ``http://127.0.0.1:PORT`` (the real venue: ``https://api.backpack.exchange``).
        ws (str): WebSocket URL, ``ws://127.0.0.1:PORT/``: the stream endpoint is the root path, as on the real
            venue (``wss://ws.backpack.exchange``); it shares the REST port.
        api_key (str): base64 ED25519 verifying key; Backpack's API key IS the public key (Backpack docs:
            signing). Not in the repr.
        api_secret (str): base64 32-byte ED25519 seed, or ``""`` when the server was given only the key. Not in
            the repr.
    """

    rest: str
    ws: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)

    def to_json(self) -> dict[str, object]:
        """The four fields as a JSON-ready dict (credentials included: write it only where a client reads it)."""
        return {"rest": self.rest, "ws": self.ws, "api_key": self.api_key, "api_secret": self.api_secret}


async def serve_backpack(
    exchange: SimExchange,
    venue: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    api_secret: str | None = None,
    rate_limit_per_s: float | None = None,
    ping_interval_s: float = DEFAULT_PING_INTERVAL_S,
    task_status: trio.TaskStatus[BackpackSimInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the simulated venue ``venue`` of ``exchange`` with Backpack's REST and WebSocket protocol, until
    cancelled (start it with ``await nursery.start(serve_backpack, exchange, "backpack")``).

    It takes the venue's account stream (:meth:`SimExchange.take_account_stream`: one server per venue) and fans
    the events out to every authenticated private subscriber; market data is subscribed per symbol on demand.
    See the module docstring for the protocol served.

    Args:
        exchange: the running simulated exchange.
        venue: the simulated venue to serve (``"backpack"`` in the default config).
        host: loopback address to bind (``127.0.0.1``, ``::1`` or ``localhost``).
        port: TCP port; 0 picks a free one (reported in the :class:`BackpackSimInfo`).
        api_key: the accepted API key (base64 verifying key). With ``api_secret`` it must be that secret's key.
        api_secret: base64 ED25519 seed of the account; when both are None a fresh key pair is generated.
        rate_limit_per_s: REST requests per second (token bucket, burst of one second), None for no limit.
        ping_interval_s: seconds between server Pings on each WebSocket connection, > 0.
        task_status: receives the :class:`BackpackSimInfo` once the socket listens.

    Raises:
        BadValue: a non-loopback host, an unknown venue, a malformed key or secret, a key that does not match the
            secret, a non-positive rate or ping interval.
        RuntimeError: the venue's account stream was already taken.
        OSError: the address cannot be bound.
    """
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise BadValue(f"backpack sim: refusing to bind {host[:60]!r}; loopback only")
    if rate_limit_per_s is not None and not (math.isfinite(rate_limit_per_s) and rate_limit_per_s > 0):
        raise BadValue(f"backpack sim: rate_limit_per_s={rate_limit_per_s!r} must be a finite number > 0")
    if not (math.isfinite(ping_interval_s) and ping_interval_s > 0):
        raise BadValue(f"backpack sim: ping_interval_s={ping_interval_s!r} must be a finite number > 0")
    instruments = exchange.instruments(venue)
    if not instruments:
        raise BadValue(f"backpack sim: the exchange has no venue {venue[:40]!r}")
    public_key, secret = _resolve_keys(api_key, api_secret)
    server = _BackpackServer(exchange, venue, instruments, public_key, rate_limit_per_s)
    account = exchange.take_account_stream(venue)
    async with trio.open_nursery() as nursery:
        server.nursery = nursery
        await nursery.start(server.run_account_stream, account)
        bound = await nursery.start(
            partial(serve_asgi, server.asgi_app(), host=host, port=port, websocket_ping_interval_s=ping_interval_s)
        )
        server.log.info("serving {} on {} ({} markets)", venue, bound.http_url, len(instruments))
        task_status.started(BackpackSimInfo(bound.http_url, bound.ws_url + "/", public_key, secret))


def _resolve_keys(api_key: str | None, api_secret: str | None) -> tuple[str, str]:
    """(verifying key, seed) from what was given; generates a pair when neither was. Raises BadValue."""
    if api_secret is not None:
        signer = BackpackSigner(api_secret)
        if api_key is not None and api_key.strip() != signer.api_key:
            raise BadValue("backpack sim: api_key is not the public key of api_secret (values withheld)")
        return signer.api_key, api_secret
    if api_key is not None:
        try:
            raw = base64.b64decode(api_key.strip(), validate=True)
        except ValueError:
            raise BadValue("backpack sim: api_key is not base64 (value withheld)") from None
        if len(raw) != 32:
            raise BadValue(f"backpack sim: api_key must be a 32-byte key, got {len(raw)} bytes")
        return api_key.strip(), ""
    seed = nacl.signing.SigningKey.generate()
    secret = base64.b64encode(bytes(seed)).decode("ascii")
    return BackpackSigner(secret).api_key, secret


class _BackpackServer(_BackpackRest, _BackpackStreams):
    """One served venue: its state (:class:`_BackpackState`), REST routes and streams. Built by
    :func:`serve_backpack`, which sets :attr:`nursery`."""

    def asgi_app(self) -> GateMiddleware:
        """One Starlette app (the REST routes, the WebSocket at ``/``) behind the rate limit and latency middleware."""
        return GateMiddleware(Starlette(routes=[*self._routes(), WebSocketRoute("/", self._ws_endpoint)]), self.gate)

"""GRVT wire-protocol simulator: one simulated venue of a :class:`~trio_hedge.sim.SimExchange`, served over
loopback HTTP and WebSocket in GRVT's own formats, so real GRVT clients (our adapter, grvt-pysdk, ccxt)
cannot tell it from the venue.

Formats: the GRVT API docs (https://api-docs.grvt.io/: login, the REST routes, the WebSocket streams and
JSON-RPC, the error codes; generated from https://github.com/gravity-technologies/api-spec @ eed18e5, whose
``src/codegen/apispec.json`` gives every struct, enum and per-route error code), grvt-pysdk 0.2.1
(https://github.com/gravity-technologies/grvt-pysdk: order signing, cookie handling), ccxt 4.5.90 (``grvt.py``,
``pro/grvt.py``), and the captured bodies and frames in ``tests/fixtures/grvt/`` (origins in
``tests/fixtures/SOURCES.md``). Citations below use the names of the protocol package's docstring
(:mod:`trio_hedge.protocols.grvt`: "GRVT docs: <route>", "GRVT WS docs"). Every JSON shape is produced by that
codec; the shapes it has no formatter for (login body, ticker, account summaries, ``v1.cancel`` feed) are built
here.

One base URL serves every GRVT host (edge/auth, market-data, trades), like a reverse proxy in front of them:

* ``POST /auth/api_key/login`` ``{"api_key"}`` and ``POST /auth/wallet/login`` (EIP-712 ``WalletLogin``, what
  ccxt uses) -> ``Set-Cookie: gravity=<token>; Expires=<"%a, %d %b %Y %H:%M:%S GMT">; Path=/; HttpOnly`` and
  ``X-Grvt-Account-Id`` (GRVT docs: login). No ``Secure`` attribute: the simulator speaks plain HTTP, where cookie jars
  drop Secure cookies. Sessions last one day (help.grvt.io).
* ``POST /full/v1/<route>``: market data (``instruments``, ``all_instruments``, ``instrument``, ``currency``,
  ``book``, ``ticker``, ``mini``) are public; trading and account routes (``create_order``, ``cancel_order``,
  ``cancel_all_orders``, ``cancel_on_disconnect``, ``order``, ``open_orders``, ``order_history``,
  ``positions``, ``fill_history``, ``account_summary``, ``aggregated_account_summary``, ``get_sub_accounts``)
  need ``Cookie: gravity=…`` and ``X-Grvt-Account-Id``. Bodies must be JSON objects sent with
  ``Content-Type: application/json`` (the venue answers 1003 otherwise, ccxt ``grvt.sign`` comment).
  Answers: ``{"result": …}`` or ``{"code","message","status"}`` with the HTTP status of the code table (GRVT docs: error
  codes).
* ``/ws/full``: JSON-RPC 2.0 ``subscribe``/``unsubscribe`` and ``v1/<route>`` (any route above; the result is
  the whole REST body, GRVT WS docs: JSON-RPC). ``/ws`` speaks the legacy subscribe format (GRVT WS docs: subscribe). A
  WebSocket upgrade that carries a ``gravity`` cookie that is not a live session (or lacks the account-id header) is
  refused with HTTP 401 (help.grvt.io); without a cookie the connection serves public streams only, and private streams
  and trading methods answer error 1000.

Streams (GRVT WS docs: streams):

* ``v1.book.s`` ``{instrument}@{rate}-{depth}``: the top ``depth`` levels, sequence 0, every ``rate`` ms while
  the book changes.
* ``v1.book.d`` ``{instrument}@{rate}``: a full snapshot (sequence 0), then one delta per replay batch with
  only the changed levels (size ``"0"`` removes a level). Deltas are numbered by a per-instrument gateway
  counter: ``sequence_number`` = previous + 1, ``prev_sequence_number`` = the previous delta's number. The
  subscribe result's ``first_sequence_number`` is the number of the first delta the subscriber will get and
  ``latest_sequence_number`` the one before it (so ``snapshot_seq = first - 1``). The rate is validated but
  deltas are sent per replay batch, not coalesced per ``rate``.
* ``v1.order``, ``v1.state``, ``v1.fill``, ``v1.position`` with selector ``{sub_account_id}``,
  ``{sub_account_id}-{instrument}`` or ``{sub_account_id}-{kind}-{base}-{quote}``; ``v1.cancel`` with
  ``{sub_account_id}``. Numbered per subscription from 1 (``prev`` = the previous number);
  ``v1.position`` first sends the open positions as snapshots numbered 0.
* A subscriber whose outgoing buffer fills up (``OUTBOX_CAPACITY`` frames) is disconnected (close 1008), as
  venues drop slow consumers; when the exchange kills the feed (fault injection) every connection subscribed
  to that instrument's book is closed (1011) and new book subscriptions answer 1002.

Orders (GRVT docs: create_order; grvt-pysdk signing): the EIP-712 signature is verified (``recover_order_signer``; a
signer that differs from the wire's ``signature.signer`` is 2002, a consistent signature by another key 2000, malformed
v/r/s 2005/2006/2007, an expired signature 2001, more than 30 days ahead 2008, a ``signature.chain_id`` other than
the venue's 1012); then the field rules (one leg 2042, order book TIF 2030, post-only only with GTT 2032,
a market order with a limit price 2020, a limit order without one 2021, min size 2062, size off the lot grid
2065, price off the tick 2064, min notional 2066, reduce-only 2400/2401/2402, a live duplicate
``client_order_id`` 2012, an unknown instrument 2061). An accepted order is submitted to the matching engine as an
:class:`~trio_hedge.domain.OrderRequest` whose ``client_order_id`` is the wire ``client_order_id`` and acked
as GRVT does: the order echoed with ``order_id "0x00"`` and state ``PENDING``; outcomes follow on the streams
(post-only crossing -> ``REJECTED``/``FAIL_POST_ONLY``, IOC remainder -> ``CANCELLED``/``IOC_CANCEL``...).
Venue order ids are 128-bit hex strings ``0x01010105…``.

Cancels (GRVT docs: cancel_order, apispec ``ApiCancelOrderRequest`` / ``ApiCancelOnDisconnectRequest``): by ``order_id``
or ``client_order_id`` (reason ``CLIENT_CANCEL``; ``cancel_all_orders``: ``CLIENT_BULK_CANCEL``); a cancel by
``client_order_id`` of an order not seen yet stays armed for ``time_to_live_ms`` (rounded down to 100 ms,
capped at 5000, default ``DEFAULT_CANCEL_TTL_MS``) and kills that order on arrival (acked, then
``CANCELLED``, never in the book); unused, it expires with a ``v1.cancel`` ``EXPIRED`` event (a second cancel
inside the window: ``DROPPED_DUPLICATE``). ``cancel_on_disconnect`` ``countdown_time`` ms (above 1000: armed,
rounded down to the second; 0-1000: disarmed; above 300000: 6000) cancels every open order with reason
``CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED`` unless refreshed in time.

Deviations (the real venue's exact behaviour is unknown or not modelled): a ``client_order_id`` already used
by a finished order of the same instrument is acked and then ``REJECTED`` with ``OVERLAPPING_CLIENT_ORDER_ID``
(the matching engine never reuses an id); margin, funding, trigger orders, builder fees, lite encodings
(``/lite/v1``, ``/ws/lite``) and the ticker/mini/trade/candle streams are not modelled; a GTT order does not
expire with its signature.

Time: venue timestamps (``event_time``, ``create_time``, fills) are the exchange's replay clock
(:meth:`SimExchange.now_ns`); cookie and signature expiries are wall-clock (clients compare them with
``time.time``). Countdowns (cancel-on-disconnect, cancel TTL) and stream rates run on trio time. Every
request, response and stream event waits the exchange's one-way ``latency_s``.

Code: this module serves; the venue's parts are in ``sim/_grvt/`` (``_common`` constants, the error and field
helpers, ``_state`` records, connections, book hubs and the venue state, ``_auth`` logins, ``_rest`` the routes,
``_stream`` the WebSocket endpoints, subscriptions, private event pipeline and countdowns), on the shared machinery
of ``sim/_wire/`` (connection outbox, book mirror, rate-limit and latency middleware).
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass, field
from functools import partial

import trio
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from ..domain import BadValue
from ..protocols.grvt import GrvtSigner
from ._asgi import serve_asgi
from ._exchange import SimExchange
from ._grvt._common import _BASE62, _SECP256K1_N, _UINT64_MAX
from ._grvt._stream import _GrvtStreams
from ._wire import GateMiddleware

__all__ = ["GrvtSimInfo", "make_test_credentials", "serve_grvt"]


# ---------------------------------------------------------------------------------------------- public API
@dataclass(frozen=True, slots=True)
class GrvtSimInfo:
    """Where a running GRVT simulator listens and the credentials it accepts.

    Attributes:
        rest (str): base URL of every REST host (edge/auth, market-data, trades): ``http://127.0.0.1:PORT``.
        ws (str): JSON-RPC WebSocket URL: ``ws://127.0.0.1:PORT/ws/full`` (legacy format: ``…/ws``).
        ws_market_data (str), ws_trades (str): the same JSON-RPC endpoint under two more paths
            (``/market-data/ws/full``, ``/trades/ws/full``), as the real venue has two hosts
            (``market-data.grvt.io``, ``trades.grvt.io``): a client that keys its connections by URL (ccxt.pro)
            opens the trading stream with its auth cookie on a connection of its own.
        api_key (str): the API key ``/auth/api_key/login`` accepts (secret: not in repr).
        private_key (str): hex secp256k1 key whose address must sign orders (secret: not in repr).
        sub_account_id (str): the trading sub-account id (uint64 decimal string).
        chain_id (int): EIP-712 domain chain id orders are verified against (325 prod, 326 testnet).
    """

    rest: str
    ws: str
    api_key: str = field(repr=False)
    private_key: str = field(repr=False)
    sub_account_id: str
    chain_id: int
    ws_market_data: str = ""
    ws_trades: str = ""

    def to_json(self) -> dict[str, object]:
        """The fields as a JSON-able dict (for the ``sim`` command's JSON line; it holds the secrets)."""
        return {
            "rest": self.rest,
            "ws": self.ws,
            "ws_market_data": self.ws_market_data,
            "ws_trades": self.ws_trades,
            "api_key": self.api_key,
            "private_key": self.private_key,
            "sub_account_id": self.sub_account_id,
            "chain_id": self.chain_id,
        }


def make_test_credentials(seed: int | None = None) -> tuple[str, str, str]:
    """Fresh simulator credentials: ``(api_key, private_key_hex, sub_account_id)``.

    The API key is 27 base-62 characters like GRVT key ids (``2WYgf9fKibj9wUB1mMb9BpMgFZn``, docs overview);
    the private key 64 hex digits (a valid secp256k1 secret); the sub-account id a 16-digit uint64 string.

    Args:
        seed: a seed for reproducible credentials (tests); None draws from the OS (``secrets``).
    """
    rng: random.Random = random.Random(seed) if seed is not None else secrets.SystemRandom()
    api_key = "".join(rng.choice(_BASE62) for _ in range(27))
    while True:
        k = rng.getrandbits(256)
        if 0 < k < _SECP256K1_N:
            break
    sub_account_id = str(rng.randrange(10**15, 2**53))
    return api_key, f"{k:064x}", sub_account_id


async def serve_grvt(
    exchange: SimExchange,
    venue: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    private_key: str | None = None,
    sub_account_id: str | None = None,
    chain_id: int = 325,
    rate_limit_per_s: float | None = None,
    ping_interval_s: float | None = None,
    task_status: trio.TaskStatus[GrvtSimInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``exchange``'s simulated venue ``venue`` in GRVT's wire protocol until cancelled.

    Takes the venue's private account stream (one taker per venue) and fans its events out to every
    authenticated private subscriber; subscribes to an instrument's market data when a client first asks
    for its book stream. Start it with ``info = await nursery.start(serve_grvt, exchange, "grvt")``.

    Args:
        exchange: the running simulated exchange.
        venue: the venue name in ``exchange`` (e.g. ``"grvt"``).
        host, port: where to listen (port 0 = ephemeral); loopback only.
        api_key, private_key, sub_account_id: the credentials to accept; any left None is drawn by
            :func:`make_test_credentials`. ``private_key``'s address is the only signer accepted on orders
            and wallet logins.
        chain_id: EIP-712 chain id (325 prod, 326 testnet, 327 staging/dev).
        rate_limit_per_s: when set, a token bucket of this rate (burst: one second's worth, at least 1)
            over every REST request and WebSocket ``v1/…`` call; over it the venue answers 1006 / HTTP 429.
        ping_interval_s: seconds between WebSocket Pings hypercorn sends on every connection (its own
            ``websocket_ping_interval``); None (the default) sends none: GRVT's docs describe no server ping.

    Raises:
        KeyError: ``venue`` is not a venue of ``exchange``.
        RuntimeError: the venue's account stream was already taken.
        BadValue: a malformed private key or sub-account id, an unknown chain id, a rate or ping interval that
            is not > 0.
        OSError: the address cannot be bound.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise BadValue(f"the GRVT simulator serves loopback only, not {host!r}")
    if chain_id not in (325, 326, 327):
        raise BadValue(f"unknown GRVT chain id {chain_id!r} (325, 326 or 327)")
    if rate_limit_per_s is not None and not (isinstance(rate_limit_per_s, (int, float)) and rate_limit_per_s > 0):
        raise BadValue("rate_limit_per_s must be a number > 0")
    if ping_interval_s is not None and not (math.isfinite(ping_interval_s) and ping_interval_s > 0):
        raise BadValue("ping_interval_s must be a finite number > 0")
    d_key, d_pk, d_sub = make_test_credentials()
    api_key = api_key if api_key is not None else d_key
    private_key = private_key if private_key is not None else d_pk
    sub_account_id = sub_account_id if sub_account_id is not None else d_sub
    if not (sub_account_id.isascii() and sub_account_id.isdigit() and int(sub_account_id) <= _UINT64_MAX):
        raise BadValue("sub_account_id must be a uint64 decimal string")
    if not api_key:
        raise BadValue("api_key must not be empty")
    signer = GrvtSigner(private_key)
    instruments = exchange.instruments(venue)
    if not instruments:
        raise KeyError(venue)
    account_rx = exchange.take_account_stream(venue)
    sim = _GrvtSim(
        exchange,
        venue,
        instruments,
        api_key=api_key,
        signer_address=signer.address,
        sub_account_id=sub_account_id,
        chain_id=chain_id,
        rate_limit_per_s=rate_limit_per_s,
    )
    del signer
    async with trio.open_nursery() as nursery:
        sim.nursery = nursery
        nursery.start_soon(sim.forward_account_stream, account_rx)
        nursery.start_soon(sim.pump_events)
        nursery.start_soon(sim.cod_watchdog)
        nursery.start_soon(sim.ttl_watchdog)
        bound = await nursery.start(
            partial(serve_asgi, sim.asgi_app(), host=host, port=port, websocket_ping_interval_s=ping_interval_s)
        )
        sim.log.info("GRVT simulator for {} listening on {}", venue, bound.http_url)
        task_status.started(
            GrvtSimInfo(
                rest=bound.http_url,
                ws=f"{bound.ws_url}/ws/full",
                api_key=api_key,
                private_key=private_key,
                sub_account_id=sub_account_id,
                chain_id=chain_id,
                ws_market_data=f"{bound.ws_url}/market-data/ws/full",
                ws_trades=f"{bound.ws_url}/trades/ws/full",
            )
        )


class _GrvtSim(_GrvtStreams):
    """The served venue: its state (:class:`_GrvtState`), logins, routes and streams (see the module docstring)."""

    def asgi_app(self) -> GateMiddleware:
        """One Starlette app (the WebSocket paths, every HTTP path) behind the rate limit and latency middleware."""
        return GateMiddleware(
            Starlette(
                routes=[
                    WebSocketRoute("/ws/full", partial(self.ws_endpoint, legacy=False)),
                    WebSocketRoute("/market-data/ws/full", partial(self.ws_endpoint, legacy=False)),
                    WebSocketRoute("/trades/ws/full", partial(self.ws_endpoint, legacy=False)),
                    WebSocketRoute("/ws", partial(self.ws_endpoint, legacy=True)),
                    Route(
                        "/{path:path}", self.http_endpoint, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
                    ),
                ]
            ),
            self.gate,
        )

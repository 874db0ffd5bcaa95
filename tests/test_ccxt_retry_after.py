"""A ccxt call's ``Retry-After`` is read from its own response (``venues/ccxt/_session.py``
``capture_response_headers``), not from ccxt's ``last_response_headers`` (one per client: the answer of whichever
concurrent request came last). Against a loopback HTTP fake in its own thread, so it answers while the Trio thread
is held: the rate-limited call's answer comes first, another call's plain answer after it, and only then does the
Trio side run again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trio

from trio_hedge.domain import RateLimited
from trio_hedge.venues.ccxt import CcxtSettings, simulator_urls
from trio_hedge.venues.ccxt._adapter import CcxtVenue, make_client
from trio_hedge.venues.ccxt._bridge import open_asyncio_bridge

CAPTURED = json.loads((Path(__file__).parent / "fixtures" / "backpack" / "captured.json").read_text())
LIMITED, PLAIN = "SOL_USDC_PERP", "SOL_USDC"
LIMITED_DELAY_S, PLAIN_DELAY_S = 0.2, 0.4
"""When each answer comes after its request, seconds: the rate-limited one first, both within the hold."""
HOLD_S = 1.0
"""How long the Trio thread is held while both answers arrive on the asyncio side."""


class _Handler(BaseHTTPRequestHandler):
    received: list[str] = []  # request paths, in order

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.received.append(self.path)
        if f"symbol={LIMITED}" in self.path:
            time.sleep(LIMITED_DELAY_S)
            status, body, headers = 429, b"Too Many Requests", {"Retry-After": "7"}
        else:
            time.sleep(PLAIN_DELAY_S)
            status, body, headers = 200, b"[]", {"Content-Type": "application/json"}
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _fake_backpack() -> Iterator[str]:
    _Handler.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_a_rate_limited_call_reads_its_own_retry_after_under_concurrent_calls() -> None:
    with _fake_backpack() as rest:
        settings = CcxtSettings("backpack", "backpack", (LIMITED, PLAIN),
                                {"apiKey": "key", "secret": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
                                simulator_urls("backpack", rest, "ws://127.0.0.1:9/", "ws://127.0.0.1:9/"))  # fmt: skip
        client = make_client(settings)
        client.set_markets(client.parse_markets(CAPTURED["rest"]["markets"]["body"]))
        async with open_asyncio_bridge(close_s=2.0) as bridge:
            bridge.add_closer(client.close)
            venue = CcxtVenue(settings, bridge, client)
            limited: list[BaseException] = []
            plain: list[object] = []

            async def read_limited() -> None:
                with pytest.raises(RateLimited) as caught:
                    await venue.open_orders(LIMITED)
                limited.append(caught.value)

            async def read_plain() -> None:
                plain.append(await venue.open_orders(PLAIN))

            with trio.fail_after(10):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(read_limited)
                    nursery.start_soon(read_plain)
                    while len(_Handler.received) < 2:  # noqa: ASYNC110 (another thread's state)
                        await trio.sleep(0.005)
                    time.sleep(HOLD_S)  # noqa: ASYNC251 (the Trio thread held on purpose: both answers land meanwhile)
            assert client.last_response_headers.get("Retry-After") is None  # the plain answer was the client's last
            assert plain == [[]]
            assert isinstance(limited[0], RateLimited) and limited[0].retry_after_s == 7.0

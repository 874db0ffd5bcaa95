"""The ccxt venue's private-stream watchdog (``venues/ccxt/_subscriptions.py`` ``_private_down_reason``): its sign of
life is the private subscription's own connection answering ccxt.pro's pings (every ``keepAlive``, set to a third of
``private_stream_budget_s``), not any open WebSocket of the client. Against the GRVT wire simulator on loopback,
through the fault proxy in front of its trades WebSocket (the contract suite's ``ccxt:grvt`` kind)."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from tests.contract.conftest import CCXT_FAST, KINDS, poll
from trio_hedge.engine import session_down

BUDGET_S = CCXT_FAST.private_stream_budget_s
KEEPALIVE_S = BUDGET_S / 3
"""ccxt.pro's ping period on the session's connections (``private_keepalive_ms``)."""


async def test_an_idle_session_stays_up_on_pongs_alone(tmp_path: Path) -> None:
    """No order activity for twice the budget: no private frame comes, the pongs of its connection keep it up."""
    async with KINDS["ccxt:grvt"](tmp_path) as kit:
        venue = kit.venue
        with trio.move_on_after(2 * BUDGET_S):
            while True:
                assert session_down(venue) is None
                await trio.sleep(0.1)
        assert venue._private_down_reason(time.time() * 1000) is None  # type: ignore[attr-defined]


async def test_a_silent_private_connection_reports_the_session_down_while_the_book_flows(tmp_path: Path) -> None:
    """The trades connection stops answering (no frame, no pong; new connections refused) while the market-data
    connection goes on: the session is down within the budget plus ccxt.pro's two missed pongs (and one probe
    period), though a WebSocket of the client (the book's) stays open and its book valid; up again once the
    trades connection can reconnect. Before the probe read the subscription's own connection, an open client
    (GRVT's keepAlive is 300 s: the silent one stayed open) kept the watchdog quiet."""
    async with KINDS["ccxt:grvt"](tmp_path) as kit:
        venue, sym = kit.venue, kit.symbol
        trades = kit.control.trades  # type: ignore[attr-defined]
        await poll(lambda: bool(trades.connections(lambda c: c.is_websocket)))
        trades.refuse()
        try:
            for conn in trades.connections():
                conn.blackhole(True)
            silent_at = trio.current_time()
            # the book still flows: the market-data connection is untouched
            with trio.fail_after(BUDGET_S + 2 * KEEPALIVE_S + KEEPALIVE_S + 1.5):
                while session_down(venue) is None:
                    assert venue.book(sym).valid
                    await trio.sleep(0.05)
            assert trio.current_time() - silent_at >= BUDGET_S  # not before its budget
            assert "private stream" in str(session_down(venue))
        finally:
            trades.refuse(False)
        await poll(lambda: session_down(venue) is None, within_s=BUDGET_S + 3.0)


async def test_a_socket_error_on_a_subscription_send_resubscribes_instead_of_ending_the_session(
        tmp_path: Path) -> None:
    """ccxt.pro lets a socket's error through unwrapped when it sends a subscription on a connection that is
    closing (aiohttp's ClientConnectionResetError, a ConnectionResetError; its own ConnectionError when already
    closed): seen in a contract run whose trades connection was reset. The watch loops take it as a lost
    connection and subscribe again; before, it escaped the loop and ended the whole venue session. Here the
    first two subscription sends of the session fail so."""
    from ccxt.async_support.base.ws.client import Client

    original = Client.send
    failures = [0]

    async def send(self: Client, message: object) -> object:
        if failures[0] < 2:
            failures[0] += 1
            raise ConnectionResetError("Cannot write to closing transport")
        return await original(self, message)

    Client.send = send  # type: ignore[method-assign]
    try:
        async with KINDS["ccxt:grvt"](tmp_path) as kit:
            venue, sym = kit.venue, kit.symbol
            await poll(lambda: venue.book(sym).valid, within_s=10.0)
            assert failures[0] == 2
            await poll(lambda: session_down(venue) is None, within_s=BUDGET_S + 3.0)
    finally:
        Client.send = original  # type: ignore[method-assign]

"""ccxt.pro wakes a ``watch_*`` caller through one future per message hash and drops a wake-up that finds nobody
waiting (``Client.resolve`` in ``ccxt/async_support/base/ws/client.py``); the ccxt venue keeps such wake-ups
(``venues/ccxt/_subscriptions.py`` ``_keep_wakeups``), so an order's last update is never left unseen in ccxt's cache.
Offline: a client connection object is made, never connected."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.pro

from trio_hedge.venues.ccxt._subscriptions import _keep_wakeups


def _resolve_then_watch(messages: list[str]) -> tuple[Any, bool]:
    """Resolve ``messages`` on one hash with no watch pending, then take the next watch's future: (its result if it
    is done, else None; whether the watch after that is done too)."""

    async def run() -> tuple[Any, bool]:
        x = ccxt.pro.backpack()
        _keep_wakeups(x)
        try:
            c = x.client("ws://127.0.0.1:9/")
            for m in messages:
                c.resolve([m], "orders")
            first = c.future("orders")
            second = c.future("orders")
            return (first.result() if first.done() else None), second.done()
        finally:
            await x.close()

    return asyncio.run(run())


def test_a_wake_up_nobody_waited_for_is_kept_for_the_next_watch_once() -> None:
    assert _resolve_then_watch(["fill"]) == (["fill"], False)


def test_two_wake_ups_before_the_next_watch_wake_it_once() -> None:
    """The IOC case: its fill and its expiry arrive back to back, both before the next ``watch_orders``; the next
    watch returns (and reads ccxt's cache, which holds both). ccxt's own resolve deleted the kept future here."""
    assert _resolve_then_watch(["fill", "expired"]) == (["fill"], False)

"""Helpers for the operator-tool tests: a short in-process run that leaves a journal, and a loopback HTTP
receiver that records what it is sent (for the alerts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from trio_hedge.app import load_config, run_bot
from trio_hedge.app._run import RunResult
from trio_hedge.sim._asgi import serve_asgi

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS = ["venues.backpack.kind=sim", "venues.grvt.kind=sim", 'engine.markets=["BTC"]']
"""In-process venues, the BTC market alone (these tests were written for one market; tests/test_markets.py has
the default run's two)."""


async def short_run(jpath: Path, cycles: int = 4, extra: tuple[str, ...] = (), **kwargs: Any) -> RunResult:
    """A run of ``cycles`` cycles on the in-process venues with its journal at ``jpath`` (call it under the
    autojump clock). In ``roundtrip`` mode, so each cycle is one journal cycle row (the operator tools' tests
    count them; inventory mode journals each opening and closing leg as its own row)."""
    config = load_config(REPO / "config.toml", [*IN_PROCESS, f"engine.cycles={cycles}", "engine.cycle_mode=roundtrip",
                                                *extra])
    return await run_bot(config, journal_path=jpath, **kwargs)


@dataclass
class Receiver:
    """What the loopback receiver got: ``(path, JSON body)`` per request; ``url`` its base URL.
    ``fail_first`` requests are answered 500, then 200; ``delay_s`` makes every answer that late."""

    url: str = ""
    got: list[tuple[str, Any]] = field(default_factory=list)
    fail_first: int = 0
    delay_s: float = 0.0
    arrived: trio.Event = field(default_factory=trio.Event)


@asynccontextmanager
async def open_receiver(fail_first: int = 0, delay_s: float = 0.0) -> AsyncIterator[Receiver]:
    """A webhook / Telegram Bot API stand-in on 127.0.0.1 (hypercorn + Starlette), recording every POST."""
    rec = Receiver(fail_first=fail_first, delay_s=delay_s)

    async def hook(request: Request) -> JSONResponse:
        body = await request.json()
        rec.got.append((request.url.path, body))
        rec.arrived.set()
        if rec.delay_s:
            await trio.sleep(rec.delay_s)
        if len(rec.got) <= rec.fail_first:
            return JSONResponse({"ok": False}, status_code=500)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(serve_asgi, app)
        rec.url = bound.http_url
        yield rec
        nursery.cancel_scope.cancel()

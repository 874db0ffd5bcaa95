"""Serve an ASGI app (Starlette) on loopback with hypercorn's trio worker.

The simulator's wire-protocol servers use this: a well-kept HTTP/1.1 + WebSocket stack running on the
same trio loop as the simulated exchange, not a hand-written HTTP server.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve


@dataclass(frozen=True, slots=True)
class Bound:
    """Where a server listens: ``host``, ``port`` and ``http_url`` (``http://host:port``)."""

    host: str
    port: int

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


async def serve_asgi(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    graceful_timeout_s: float = 1.0,
    websocket_ping_interval_s: float | None = None,
    task_status: trio.TaskStatus[Bound] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until cancelled. ``port=0`` binds an ephemeral port; ``task_status.started`` reports
    the bound address once the socket listens (use ``await nursery.start(serve_asgi, app)``).
    ``websocket_ping_interval_s``: hypercorn sends a WebSocket Ping on every connection this often (its own
    ``websocket_ping_interval``); None sends none.

    Raises:
        OSError: the address cannot be bound.
    """
    config = HypercornConfig()
    # Bind the listening socket here and hand hypercorn its descriptor: hypercorn's own bind path
    # (hypercorn/config.py ``_create_sockets``) leaves the socket open when ``bind`` fails (a busy port).
    addr = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted connections
        sock.bind((addr, port))
    except OSError:
        sock.close()
        raise
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the descriptor from here
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = graceful_timeout_s
    config.keep_alive_timeout = 30.0
    config.websocket_ping_interval = websocket_ping_interval_s

    async def started(*, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(app, config, task_status=task_status, mode="asgi")

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(started)
        bound_host, bound_port = binds[0].rsplit("://", 1)[1].rsplit(":", 1)
        task_status.started(Bound(bound_host.strip("[]"), int(bound_port)))


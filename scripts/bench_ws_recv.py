"""Benchmark: a WebSocket frame's wait from the server's write to the consumer task having the message, for
trio-websocket (``venues/_ws.py`` ``open_ws``: its reader task and channel) against the direct wsproto client
(``venues/_wsdirect.py`` ``open_ws_direct``: read in the consumer's task), over ``ws://`` and ``wss://``.

The server is another process (plain blocking sockets, no Trio): after the upgrade it writes ``--frames`` text
frames of ~400 bytes (the size of a Backpack order update), one every ``--gap-us`` (with +-50 % jitter), each
carrying ``time.perf_counter_ns()`` taken just before its ``send`` (CLOCK_MONOTONIC: one clock for both
processes), then a Close frame. The client stamps the message when ``get_message`` returns it and records the
difference. Two loads on the client's event loop: ``idle`` (only the consumer) and ``load`` (``--load-tasks``
tasks each doing ``--busy-us`` of busy work then a checkpoint, forever: the book feed's pattern at a high
rate). Runs are interleaved (every variant once per round, ``--rounds`` rounds) so drift on a shared machine
spreads over all of them.

Prints one line per (load, variant): p50/p90/p99/max in microseconds; the LAST line is
``ws_recv_us load_p50_twsk=<> load_p50_direct=<> load_p99_twsk=<> load_p99_direct=<> idle_p50_twsk=<>
idle_p50_direct=<>`` over ``ws://``.

Usage: ``python scripts/bench_ws_recv.py [--frames 3000] [--gap-us 1000] [--rounds 2] [--load-tasks 4]
[--busy-us 50] [--no-tls]``
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import random
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
_STAMP_AT = 6  # '{"t":"' then 19 digits
_PAYLOAD = ('{"t":"' + "0" * 19 + '","stream":"account.orderUpdate","data":{"e":"orderFill","E":1694687692980000,'
            '"s":"BTC_USDC_PERP","c":"123456789","S":"Bid","o":"LIMIT","f":"GTC","q":"0.05","Q":"0",'
            '"p":"26000.5","P":"0","B":"0","a":"0","b":"0","j":"0","T":1694687692989999,"i":"11815754679",'
            '"X":"PartiallyFilled","Z":"0.01","z":"0.01","L":"26000.5","l":"0.01","m":true,"t":123456,'
            '"n":"0.0026","N":"USDC","V":"RejectTaker","y":"orderFill padding to ~400 bytes ........"}}')


# ---------------------------------------------------------------------------------------------- server process
def _serve(port_file: str, cert: str | None, key: str | None) -> None:
    """Accept connections one after another; each: upgrade, N stamped frames (N, gap from the path), Close."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    ctx = None
    if cert and key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
    Path(port_file).write_text(str(lsock.getsockname()[1]))
    while True:
        raw, _ = lsock.accept()
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn: Any = ctx.wrap_socket(raw, server_side=True) if ctx else raw
        try:
            _serve_one(conn)
        except OSError:
            pass
        finally:
            conn.close()


def _serve_one(conn: Any) -> None:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            return
        head += chunk
    lines = head.split(b"\r\n")
    path = lines[0].split(b" ")[1].decode()
    key = next(v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:]) if k.lower() == b"sec-websocket-key")
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    query = dict(p.split("=") for p in path.partition("?")[2].split("&"))
    n, gap_ns = int(query["n"]), int(query["gap_us"]) * 1000
    payload = bytearray(_PAYLOAD.encode())
    frame = bytearray(b"\x81\x7e" + len(payload).to_bytes(2, "big")) + payload
    at = 4 + _STAMP_AT
    time.sleep(0.2)  # the client's consumer is waiting
    nxt = time.perf_counter_ns()
    for _ in range(n):
        nxt += int(gap_ns * (0.5 + random.random()))
        while (now := time.perf_counter_ns()) < nxt:
            if nxt - now > 200_000:
                time.sleep((nxt - now - 100_000) / 1e9)
        frame[at:at + 19] = b"%019d" % time.perf_counter_ns()
        conn.sendall(frame)
    conn.sendall(b"\x88\x02\x03\xe8")  # Close 1000
    conn.settimeout(2.0)
    with_timeout_drain(conn)


def with_timeout_drain(conn: Any) -> None:
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------- client
async def _consume(opener: Callable[[], AbstractAsyncContextManager[Any]], out: array) -> None:
    import trio
    from trio_websocket import ConnectionClosed

    now = time.perf_counter_ns
    async with opener() as ws:
        try:
            while True:
                msg = await ws.get_message()
                t = now()
                out.append(t - int(msg[_STAMP_AT:_STAMP_AT + 19]))
        except ConnectionClosed:
            pass
    await trio.lowlevel.checkpoint()


async def _busy(busy_ns: int) -> None:
    import trio

    now = time.perf_counter_ns
    while True:
        end = now() + busy_ns
        while now() < end:
            pass
        await trio.lowlevel.checkpoint()


async def _run_one(opener: Callable[[], AbstractAsyncContextManager[Any]], load_tasks: int, busy_us: int) -> array:
    import trio

    out = array("q")
    async with trio.open_nursery() as nursery:
        for _ in range(load_tasks):
            nursery.start_soon(_busy, busy_us * 1000)
        await _consume(opener, out)
        nursery.cancel_scope.cancel()
    return out


def _pct(xs: list[int], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))] / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--gap-us", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--load-tasks", type=int, default=4)
    ap.add_argument("--busy-us", type=int, default=50)
    ap.add_argument("--no-tls", action="store_true")
    ap.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        port_file, cert, key = args.serve
        _serve(port_file, cert or None, key or None)
        return

    import trio
    import trustme

    from trio_hedge.venues._ws import open_ws
    from trio_hedge.venues._wsdirect import open_ws_direct

    tmp = Path(tempfile.mkdtemp(prefix="bench_ws_"))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp / "cert.pem"))
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    procs, ports = [], {}
    for scheme, files in (("ws", ("", "")), ("wss", (str(tmp / "cert.pem"), str(tmp / "cert.pem")))):
        if scheme == "wss" and args.no_tls:
            continue
        pf = tmp / f"{scheme}.port"
        procs.append(subprocess.Popen([sys.executable, __file__, "--serve", str(pf), *files]))
        for _ in range(200):
            if pf.exists() and pf.read_text():
                break
            time.sleep(0.05)
        ports[scheme] = int(pf.read_text())

    def opener(kind: str, scheme: str) -> Callable[[], AbstractAsyncContextManager[Any]]:
        url = f"{scheme}://127.0.0.1:{ports[scheme]}/bench?n={args.frames}&gap_us={args.gap_us}"
        ctx = client_ctx if scheme == "wss" else None
        if kind == "twsk":
            return lambda: open_ws(url, ssl_context=ctx)
        return lambda: open_ws_direct(url, ssl_context=ctx)

    variants = [(kind, scheme) for scheme in ports for kind in ("twsk", "direct")]
    loads = {"idle": 0, "load": args.load_tasks}
    results: dict[tuple[str, str, str], list[int]] = {}
    try:
        for rnd in range(args.rounds):
            order = [(lo, v) for lo in loads for v in variants]
            if rnd % 2:
                order.reverse()
            for load, (kind, scheme) in order:
                got = trio.run(_run_one, opener(kind, scheme), loads[load], args.busy_us)
                results.setdefault((load, kind, scheme), []).extend(got)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    summary: dict[str, float] = {}
    print(f"frames={args.frames} x rounds={args.rounds}, gap {args.gap_us} us +-50%, load: {args.load_tasks} tasks "
          f"x {args.busy_us} us busy + checkpoint; machine cpus={os.cpu_count()}")
    print(f"{'load':<5} {'client':<7} {'url':<4} {'n':>6} {'p50_us':>8} {'p90_us':>8} {'p99_us':>9} {'max_us':>9}")
    for (load, kind, scheme), xs in results.items():
        xs.sort()
        p50, p99 = _pct(xs, 0.5), _pct(xs, 0.99)
        print(f"{load:<5} {kind:<7} {scheme:<4} {len(xs):>6} {p50:>8.1f} {_pct(xs, 0.9):>8.1f} {p99:>9.1f} "
              f"{xs[-1] / 1000:>9.1f}  mean {statistics.fmean(xs) / 1000:.1f}")
        if scheme == "ws":
            summary[f"{load}_p50_{kind}"] = p50
            summary[f"{load}_p99_{kind}"] = p99
    print("ws_recv_us " + " ".join(f"{k}={v:.1f}" for k, v in sorted(summary.items())))


if __name__ == "__main__":
    main()

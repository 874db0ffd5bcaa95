"""Shared by the scripts that run the bot against the standalone simulator in another process
(``scripts/chaos_kill9.py``, ``scripts/bench_tick_to_trade.py``).

* :func:`start_sim`: start ``python -m trio_hedge sim`` (``trio_hedge/app/_simcmd.py``) as a subprocess and read
  its one JSON line (each venue's loopback REST/WS URLs and the simulator's test credentials), bounded.
* :func:`point_config_at_sim`: turn a config tree (the shipped ``config.toml`` as a dict) into one whose two
  venues are ``endpoint = "live"`` on those URLs, with the credentials in one 0600 ``secrets_file`` per venue
  (so no secret is ever written into the config itself).
* :func:`to_toml`, :func:`write_private`, :func:`stop_process`: a minimal TOML writer for the config's shape,
  a 0600 file writer, and a bounded child stop.

Everything binds and connects on 127.0.0.1 only (the simulator's URLs are checked).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RECORDING_S = 345.0
"""Length of the shipped recordings (trio_hedge/data/SOURCES.md): the sim's data lasts 345 / speed seconds."""


class SimProcError(Exception):
    """The standalone simulator could not be started or its line could not be read."""


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string of printable text is a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(tree: dict[str, Any]) -> str:
    """A minimal TOML writer for the config's shape: tables of scalars (and arrays of scalars), nested tables,
    arrays of tables."""
    out: list[str] = []

    def tables(v: Any) -> bool:
        return isinstance(v, dict) or (isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v))

    def table(prefix: str, node: dict[str, Any]) -> None:
        scalars = {k: v for k, v in node.items() if not tables(v)}
        if scalars or not prefix:
            if prefix:
                out.append(f"[{prefix}]")
            out.extend(f"{k} = {_toml_value(v)}" for k, v in scalars.items())
            out.append("")
        for k, v in node.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                table(key, v)
            elif tables(v):
                for item in v:
                    out.append(f"[[{key}]]")
                    out.extend(f"{ik} = {_toml_value(iv)}" for ik, iv in item.items())
                    out.append("")

    table("", tree)
    return "\n".join(out)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (created so: never readable by others, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)


def point_config_at_sim(tree: dict[str, Any], sim: dict[str, Any], secrets_dir: Path) -> None:
    """Point ``tree``'s backpack and grvt venues at the simulator ``sim`` (its JSON line), in place.

    Both become ``endpoint = "live"`` on the simulator's loopback URLs; the credentials go to
    ``secrets_dir/<venue>.secrets.toml`` (mode 0600), named by ``secrets_file``.
    """
    bp, gr = sim["backpack"], sim["grvt"]
    bp_secrets, gr_secrets = secrets_dir / "backpack.secrets.toml", secrets_dir / "grvt.secrets.toml"
    write_private(bp_secrets, to_toml({"api_key": bp["api_key"], "api_secret": bp["api_secret"]}))
    write_private(gr_secrets, to_toml({"api_key": gr["api_key"], "private_key": gr["private_key"]}))
    tree["venues"]["backpack"].update(endpoint="live", rest_url=bp["rest"], ws_url=bp["ws"],
                                      secrets_file=str(bp_secrets))
    tree["venues"]["grvt"].update(endpoint="live", edge_url=gr["rest"], market_data_url=gr["rest"],
                                  trades_url=gr["rest"], market_data_ws_url=gr["ws"], trades_ws_url=gr["ws"],
                                  sub_account_id=str(gr["sub_account_id"]), chain_id=int(gr["chain_id"]),
                                  secrets_file=str(gr_secrets))


def stop_process(
    proc: subprocess.Popen[bytes] | None, name: str, sig: int, wait_s: float,
    log: Callable[[str], None] | None = None,
) -> None:
    """Send ``sig``, wait up to ``wait_s``, then SIGKILL (the process only: it is our child)."""
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        say(f"{name} did not stop within {wait_s}s: SIGKILL")
        proc.kill()
    except Exception as exc:
        say(f"cleanup: {name}: {type(exc).__name__}: {exc}")


def start_sim(
    err_path: Path, speed: float, linger_s: float, deadline_s: float = 60.0, extra_args: list[str] | None = None,
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start ``python -m trio_hedge sim`` on the shipped ``config.toml`` and read its JSON line (bounded).

    Args:
        err_path: where the simulator's stderr goes.
        speed: replay speed multiple; linger_s: how long it serves after its data ends.
        deadline_s: how long to wait for the line.
        extra_args: more command-line arguments (e.g. ``["--set", "sim.latency_s=0"]``).

    Returns:
        (process, line): the child (its own session) and its parsed line.

    Raises:
        SimProcError: no line within ``deadline_s``, the child exited, the line is unreadable, or a URL is
            not on 127.0.0.1 (the child is stopped first).
    """
    err = open(err_path, "wb")  # noqa: SIM115 - closed with the process's lifetime
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_hedge", "sim", "--config", str(REPO / "config.toml"), "--speed", str(speed),
         "--linger-s", str(linger_s), *(extra_args or [])],
        cwd=REPO, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    end = time.monotonic() + deadline_s
    try:
        while b"\n" not in buf:
            left = end - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                raise SimProcError(f"the simulator did not print its JSON line (exit {proc.poll()}); see {err.name}")
            if sel.select(timeout=min(left, 1.0)):
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    raise SimProcError(f"the simulator closed stdout (exit {proc.wait(5)}); see {err.name}")
                buf += chunk
    except BaseException:
        stop_process(proc, "simulator", signal.SIGINT, 10)
        raise
    finally:
        sel.close()
    try:
        info = json.loads(buf.split(b"\n", 1)[0])
        for venue in ("backpack", "grvt"):
            for url in (info[venue]["rest"], info[venue]["ws"]):
                if "//127.0.0.1:" not in url:
                    raise SimProcError(f"the simulator is not on loopback: {url}")
    except (ValueError, KeyError, TypeError) as exc:
        stop_process(proc, "simulator", signal.SIGINT, 10)
        raise SimProcError(f"unreadable simulator line: {type(exc).__name__}") from None
    except SimProcError:
        stop_process(proc, "simulator", signal.SIGINT, 10)
        raise
    return proc, info

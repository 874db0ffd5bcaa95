"""The run report in a real browser: headless Chromium (Debian's ``chromium``) loads ``report.html`` from a
file URL with the network cut off, no console error or uncaught exception is reported, every chart is drawn
(plotly's ``.main-svg`` layers), and a full-page screenshot is written; its path is printed in the test
output (``artifacts/report-screenshot.png`` in the repo, or ``$TRIO_HEDGE_ARTIFACTS``).

The browser is driven over the Chrome DevTools Protocol (https://chromedevtools.github.io/devtools-protocol/)
with trio-websocket: ``Runtime.consoleAPICalled`` (type ``error``), ``Runtime.exceptionThrown`` and
``Log.entryAdded`` (level ``error``) are the console errors; ``Page.captureScreenshot`` the screenshot.
Without a ``chromium`` binary the test is skipped with the reason, except under CI (``CI`` set), where
``.ci/run`` installs it and a missing browser fails the test.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import open_websocket_url

from trio_hedge.app._reportcmd import write_report

from .opsupport import REPO, short_run

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1400,1000",
                  "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]  # no network for the page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _Cdp:
    """A minimal DevTools-protocol session over one page's WebSocket: ``call`` waits for its answer and
    keeps every event that arrives meanwhile in ``events``."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        i = next(self.ids)
        await self.ws.send_message(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.get_message())
            if msg.get("id") == i:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    async def wait_event(self, method: str) -> dict[str, Any]:
        while True:
            for e in self.events:
                if e.get("method") == method:
                    return e
            self.events.append(json.loads(await self.ws.get_message()))

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: " + p["entry"].get("text", ""))
        return out


async def _devtools_port(proc: trio.Process, stderr_lines: list[str]) -> int:
    assert proc.stderr is not None
    buf = b""
    async for chunk in proc.stderr:
        buf += chunk
        m = re.search(rb"DevTools listening on ws://[^:]+:(\d+)/", buf)
        if m:
            stderr_lines.append(buf.decode(errors="replace"))
            return int(m.group(1))
    raise AssertionError("chromium exited before it listened: " + buf.decode(errors="replace")[-2000:])


async def _quick_run(jpath: Path) -> None:
    result = await short_run(jpath, cycles=4)
    assert result.exit_code == 0, result.exit_reason


def test_report_loads_in_headless_chromium_without_console_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chromium = _chromium()
    if chromium is None:
        assert not os.environ.get("CI"), "CI must run the browser test: .ci/run installs Debian's chromium"
        pytest.skip("no chromium binary (apt-get install -y chromium): the browser test did not run")
    trio.run(_quick_run, tmp_path / "j.sqlite", clock=trio.testing.MockClock(autojump_threshold=0))
    page = write_report(tmp_path / "j.sqlite", tmp_path / "report")
    artifacts = Path(os.environ.get("TRIO_HEDGE_ARTIFACTS", REPO / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report-screenshot.png"
    png, errors, plotted = trio.run(_load_in_chromium, chromium, page.resolve().as_uri(), tmp_path)
    shot.write_bytes(base64.b64decode(png["data"]))
    with capsys.disabled():
        print(f"\nreport screenshot: {shot}")
    assert errors == [], errors
    assert plotted >= 4, f"only {plotted} charts drawn"
    assert shot.stat().st_size > 10_000


async def _load_in_chromium(chromium: str, page_url: str, tmp_path: Path) -> tuple[dict[str, Any], list[str], int]:
    stderr_lines: list[str] = []
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", "about:blank"]
    async with trio.open_nursery() as nursery:
        proc: trio.Process = await nursery.start(
            partial(trio.run_process, cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False))
        try:
            with trio.fail_after(60):
                port = await _devtools_port(proc, stderr_lines)
                nursery.start_soon(_drain, proc)
                async with httpx.AsyncClient() as client:
                    targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
                ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
                async with open_websocket_url(ws_url, message_queue_size=10_000,
                                              max_message_size=64 * 1024 * 1024) as ws:
                    cdp = _Cdp(ws)
                    for domain in ("Page", "Runtime", "Log"):
                        await cdp.call(f"{domain}.enable")
                    await cdp.call("Page.navigate", url=page_url)
                    await cdp.wait_event("Page.loadEventFired")
                    with trio.move_on_after(20):  # plotly draws on load; wait for the charts' SVG (asserted below)
                        while True:
                            r = await cdp.call("Runtime.evaluate", returnByValue=True, expression=(
                                "document.querySelectorAll('.js-plotly-plot .main-svg').length"))
                            if int(r["result"].get("value") or 0) >= 4:
                                break
                            await trio.sleep(0.1)
                    r = await cdp.call("Runtime.evaluate", returnByValue=True, expression=(
                        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight, "
                        "[...document.querySelectorAll('.js-plotly-plot')].filter("
                        "p => p.querySelector('.main-svg') && p.getBoundingClientRect().height > 100).length]"))
                    width, height, plotted = r["result"]["value"]
                    await trio.sleep(0.5)  # late console errors, if any
                    png = await cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                         clip={"x": 0, "y": 0, "width": width, "height": min(height, 6000),
                                               "scale": 1})
                    errors = cdp.errors()
        finally:
            proc.terminate()
    return png, errors, plotted


async def _drain(proc: trio.Process) -> None:
    assert proc.stderr is not None
    async for _ in proc.stderr:  # keep chromium's stderr pipe from filling up
        pass
